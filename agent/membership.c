/*
 * membership.c - the membership table and its two failure detectors.
 * See membership.h for the model.
 */
#include "membership.h"

#include <string.h>

void dx_members_init(dx_members *ms, uint16_t self, int64_t timeout_ms)
{
    /* The table is large and mostly unused: clear only the header, entries
     * are initialised when first used. */
    ms->self = self;
    ms->timeout_ms = timeout_ms;
    ms->n = 0;
}

static dx_member *find(dx_members *ms, uint16_t id)
{
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].id == id)
            return &ms->m[i];
    return NULL;
}

const dx_member *dx_members_get(const dx_members *ms, uint16_t id)
{
    return find((dx_members *)ms, id);
}

static dx_member *find_or_add(dx_members *ms, uint16_t id)
{
    dx_member *m = find(ms, id);
    if (m != NULL)
        return m;
    if (ms->n == DX_MAX_NODES)
        return NULL;
    m = &ms->m[ms->n++];
    memset(m, 0, sizeof *m);
    m->id = id;
    return m;
}

bool dx_members_is_alive(const dx_members *ms, uint16_t id)
{
    const dx_member *m = dx_members_get(ms, id);
    return m != NULL && m->state == DX_MEMBER_ONLINE;
}

uint16_t dx_members_highest_alive(const dx_members *ms)
{
    uint16_t best = 0;
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].state == DX_MEMBER_ONLINE && ms->m[i].id > best)
            best = ms->m[i].id;
    return best;
}

size_t dx_members_count_alive(const dx_members *ms)
{
    size_t n = 0;
    for (size_t i = 0; i < ms->n; i++)
        n += ms->m[i].state == DX_MEMBER_ONLINE;
    return n;
}

/* Moves m to a new state and describes the change; counts flaps. */
static int change(dx_member *m, dx_member_state to, dx_member_why why,
                  int64_t now, dx_member_change *chg)
{
    bool rejoined = m->state == DX_MEMBER_ONLINE && to == DX_MEMBER_ONLINE;
    bool was_flapping = m->flapping;

    if (now - m->flap_window_ms > DX_FLAP_WINDOW_MS) {
        m->flap_window_ms = now;
        m->flaps = 0;
        /* Quiet again only after a whole window without a change. */
        if (now - m->since_ms > DX_FLAP_WINDOW_MS)
            m->flapping = false;
    }
    if (m->state != DX_MEMBER_UNKNOWN && ++m->flaps > DX_FLAP_LIMIT)
        m->flapping = true;

    chg->id = m->id;
    chg->from = m->state;
    chg->to = to;
    chg->why = why;
    chg->epoch = m->epoch;
    chg->rejoined = rejoined;
    chg->quiet = m->flapping;
    chg->flap_start = m->flapping && !was_flapping;
    m->state = to;
    m->why = why;
    m->since_ms = now;
    return 1;
}

int dx_members_on_state(dx_members *ms, uint16_t topic_id,
                        const dx_msg_state *st, int64_t now,
                        dx_member_change *chg)
{
    dx_member *m;

    if (st->id != topic_id)
        return DX_EINVAL;
    if ((m = find_or_add(ms, topic_id)) == NULL)
        return DX_EFULL;

    if (st->state == DX_WIRE_ONLINE) {
        bool fresh = st->epoch > m->epoch || m->state == DX_MEMBER_UNKNOWN;
        if (st->epoch < m->epoch)
            return 0;                      /* an old birth */
        if (!fresh && m->state != DX_MEMBER_ONLINE)
            return 0;                      /* that epoch has died already */
        m->epoch = st->epoch;
        m->heartbeat_ms = st->heartbeat_ms;
        m->pool_kb = st->pool_kb;
        memcpy(m->name, st->name, sizeof m->name);
        m->n_devices = st->n_devices;
        memcpy(m->devices, st->devices, sizeof m->devices);
        if (!fresh)
            return 0;   /* the birth of an epoch a heartbeat announced */
        m->seq = 0;
        m->last_seen_ms = now;
        return change(m, DX_MEMBER_ONLINE, DX_WHY_NONE, now, chg);
    }

    /* A death: a will ("crash") or a goodbye. */
    if (st->epoch < m->epoch)
        return 0;                          /* older than the last birth */
    if (st->epoch == m->epoch && (m->state == DX_MEMBER_FAILED ||
                                  m->state == DX_MEMBER_OFFLINE)) {
        /* Already dead in this epoch (perhaps by timeout): record the
         * better reason without announcing a second death. */
        if (m->why == DX_WHY_TIMEOUT && strcmp(st->reason, "shutdown") != 0)
            m->why = DX_WHY_WILL;
        return 0;
    }
    m->epoch = st->epoch;
    if (strcmp(st->reason, "shutdown") == 0)
        return change(m, DX_MEMBER_OFFLINE, DX_WHY_SHUTDOWN, now, chg);
    return change(m, DX_MEMBER_FAILED, DX_WHY_WILL, now, chg);
}

int dx_members_on_heartbeat(dx_members *ms, uint16_t topic_id,
                            const dx_msg_heartbeat *hb, int64_t now,
                            dx_member_change *chg)
{
    dx_member *m;

    if (hb->id != topic_id)
        return DX_EINVAL;
    if ((m = find_or_add(ms, topic_id)) == NULL)
        return DX_EFULL;
    if (hb->epoch < m->epoch)
        return 0;
    if (hb->epoch == m->epoch && hb->seq <= m->seq &&
        m->state != DX_MEMBER_UNKNOWN)
        return 0;                          /* duplicate or reordered */

    m->load = hb->load;
    m->has_load = true;
    m->draining = hb->draining;
    m->workers = hb->workers;
    m->rejected = hb->rejected;
    m->leader = hb->leader;
    m->term = hb->term;

    if (hb->epoch > m->epoch) {
        /* A new incarnation whose birth we have not seen yet. */
        m->epoch = hb->epoch;
        m->seq = hb->seq;
        m->last_seen_ms = now;
        return change(m, DX_MEMBER_ONLINE, DX_WHY_NONE, now, chg);
    }
    if (m->state == DX_MEMBER_FAILED && m->why == DX_WHY_TIMEOUT) {
        /* It was only silent (hung, partitioned): same epoch, back. */
        m->seq = hb->seq;
        m->last_seen_ms = now;
        return change(m, DX_MEMBER_ONLINE, DX_WHY_NONE, now, chg);
    }
    if (m->state != DX_MEMBER_ONLINE)
        return 0;      /* a straggler from a node that died in this epoch */
    m->seq = hb->seq;
    m->last_seen_ms = now;
    return 0;
}

size_t dx_members_tick(dx_members *ms, int64_t now, dx_member_change *chg,
                       size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < ms->n && k < cap; i++) {
        dx_member *m = &ms->m[i];
        if (m->id == ms->self || m->state != DX_MEMBER_ONLINE)
            continue;
        if (now - m->last_seen_ms > ms->timeout_ms)
            k += (size_t)change(m, DX_MEMBER_FAILED, DX_WHY_TIMEOUT, now,
                                &chg[k]);
    }
    return k;
}

int64_t dx_members_next_deadline(const dx_members *ms)
{
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < ms->n; i++) {
        const dx_member *m = &ms->m[i];
        if (m->id == ms->self || m->state != DX_MEMBER_ONLINE)
            continue;
        if (m->last_seen_ms + ms->timeout_ms + 1 < best)
            best = m->last_seen_ms + ms->timeout_ms + 1;
    }
    return best;
}

void dx_members_grace(dx_members *ms, int64_t now)
{
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].state == DX_MEMBER_ONLINE)
            ms->m[i].last_seen_ms = now;
}

const char *dx_member_state_name(dx_member_state s)
{
    switch (s) {
    case DX_MEMBER_ONLINE:
        return "online";
    case DX_MEMBER_FAILED:
        return "failed";
    case DX_MEMBER_OFFLINE:
        return "offline";
    default:
        return "unknown";
    }
}

const char *dx_member_why_name(dx_member_why w)
{
    switch (w) {
    case DX_WHY_WILL:
        return "will";
    case DX_WHY_TIMEOUT:
        return "timeout";
    case DX_WHY_SHUTDOWN:
        return "shutdown";
    default:
        return "";
    }
}
