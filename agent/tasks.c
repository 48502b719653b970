/*
 * tasks.c - the task table, the leader's decisions and the followers'
 * replica.  See tasks.h.
 */
#include "tasks.h"

#include "idindex.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- the table, indexed by id (idindex.h) ---- */

static const char *task_key(const void *ctx, uint32_t k)
{
    return ((const dx_tasks *)ctx)->t[k].id;
}

static dx_idindex index_of(const dx_tasks *ts)
{
    dx_idindex i = {(uint32_t *)ts->index, DX_TASKS_HASH - 1, task_key, ts};
    return i;
}

void dx_tasks_init(dx_tasks *ts, uint16_t self, int64_t ttl_ms)
{
    ts->self = self;
    ts->ttl_ms = ttl_ms;
    /* Entries are taken from the high-water mark first, then reused from
     * the free list: an idle table touches none of its memory. */
    ts->n_free = 0;
    ts->high = 0;
}

static int find(const dx_tasks *ts, const char *id)
{
    dx_idindex i = index_of(ts);
    return (int)dx_idx_find(&i, id);
}

dx_task *dx_tasks_get(dx_tasks *ts, const char *id)
{
    int i = find(ts, id);
    return i >= 0 ? &ts->t[i] : NULL;
}

static int alloc_task(dx_tasks *ts, const char *id)
{
    uint32_t k;
    if (ts->n_free > 0)
        k = ts->free_list[--ts->n_free];
    else if (ts->high < DX_TASKS_MAX)
        k = ts->high++;
    else
        return -1;
    memset(&ts->t[k], 0, sizeof ts->t[k]);
    snprintf(ts->t[k].id, sizeof ts->t[k].id, "%s", id);
    {
        dx_idindex i = index_of(ts);
        dx_idx_add(&i, ts->t[k].id, k);
    }
    ts->n_used++;
    return (int)k;
}

static void free_task(dx_tasks *ts, uint32_t k)
{
    dx_idindex i = index_of(ts);
    dx_idx_del(&i, ts->t[k].id);
    memset(&ts->t[k], 0, sizeof ts->t[k]);
    ts->free_list[ts->n_free++] = k;
    ts->n_used--;
}

static bool final(dx_task_state s)
{
    return s == DX_TS_DONE || s == DX_TS_FAILED || s == DX_TS_CANCELLED;
}

/* The spec fields of a task (its id stays). */
static void set_spec(dx_task *t, const dx_task_spec *s)
{
    t->kind = s->kind;
    t->ms = s->ms;
    t->mem_kb = s->mem_kb;
    t->every_ms = s->every_ms;
    t->pin = s->node;
    snprintf(t->device, sizeof t->device, "%s", s->device);
    t->value = s->value;
    t->has_value = s->has_value;
}

/* ---- outputs: records, items, notes ---- */

static void ring_push(uint32_t *ring, size_t *head, size_t *n, uint32_t v)
{
    if (*n == DX_TASKS_MAX)
        return;        /* cannot happen: one entry per task and ring */
    ring[(*head + *n) % DX_TASKS_MAX] = v;
    (*n)++;
}

static void due_push(dx_due_ring *r, uint32_t k, int64_t at)
{
    if (r->n == DX_TASKS_MAX)
        return;        /* cannot happen: about one entry per task and ring */
    r->e[(r->head + r->n) % DX_TASKS_MAX] = (dx_task_due){k, at};
    r->n++;
}

/* The record of task k must be written: at once when final, else after
 * the delay of its state, counted from its first pending change.  A task
 * already pending keeps the earlier of the two times. */
static void dirty(dx_tasks *ts, uint32_t k, int64_t now)
{
    dx_task *t = &ts->t[k];
    bool slow = t->state == DX_TS_ASSIGNED;
    int64_t since = t->dirty_since != 0 ? t->dirty_since : now > 0 ? now : 1;
    int64_t at = since + (slow ? DX_ASSIGNED_DELAY_MS : DX_RECORD_DELAY_MS);

    if (final(t->state) || t->expire) {
        ring_push(ts->urgent, &ts->urgent_head, &ts->n_urgent, k);
    } else {
        if (t->dirty_since != 0 && t->due <= at)
            return;
        due_push(slow ? &ts->slow : &ts->later, k, at);
        t->due = at;
    }
    t->dirty_since = since;
}

static void item(dx_tasks *ts, uint16_t node, dx_assign_op op,
                 const char *id, uint32_t attempt)
{
    dx_task_item *it;
    if (ts->n_items == DX_ITEMS_MAX)
        return;        /* the core flushes long before; resends cover it */
    it = &ts->items[ts->n_items++];
    it->node = node;
    it->op = op;
    it->attempt = attempt;
    {
        /* id may live in the same table: memmove, not snprintf. */
        size_t n = strnlen(id, DX_TASK_ID_MAX);
        memmove(it->id, id, n);
        it->id[n] = '\0';
    }
}

static void note(dx_tasks *ts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(dx_tasks *ts, const char *fmt, ...)
{
    va_list ap;
    if (ts->n_notes == sizeof ts->notes / sizeof ts->notes[0])
        return;
    va_start(ap, fmt);
    vsnprintf(ts->notes[ts->n_notes++], sizeof ts->notes[0], fmt, ap);
    va_end(ap);
}

static void spec_of(const dx_task *t, dx_task_spec *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", t->id);
    s->kind = t->kind;
    s->ms = t->ms;
    s->mem_kb = t->mem_kb;
    s->node = t->pin;
    s->every_ms = t->every_ms;
    snprintf(s->device, sizeof s->device, "%s", t->device);
    s->value = t->value;
    s->has_value = t->has_value;
}

void dx_tasks_record_of(const dx_task *t, dx_task_record *rec)
{
    memset(rec, 0, sizeof *rec);
    spec_of(t, &rec->spec);
    rec->state = t->state;
    rec->node = t->node;
    rec->attempt = t->attempt;
    rec->term = t->term;
    rec->submitted_ms = t->submitted_ms;
    rec->started_ms = t->started_ms;
    rec->finished_ms = t->finished_ms;
    rec->runs = t->runs;
    snprintf(rec->result, sizeof rec->result, "%s", t->result);
}

/* ---- placement ---- */

static void wait_for_room(dx_tasks *ts, uint32_t k)
{
    if (!ts->t[k].waiting) {
        ts->t[k].waiting = true;
        ring_push(ts->wait, &ts->wait_head, &ts->n_wait, k);
    }
}

/* Places task k (a new attempt) or leaves it waiting; true when placed. */
static bool place(dx_tasks *ts, uint32_t k, dx_sched_node *nodes, size_t n,
                  uint64_t term, int64_t now)
{
    dx_task *t = &ts->t[k];
    dx_task_spec s;
    uint16_t node = 0;

    spec_of(t, &s);
    t->term = term;
    if (dx_sched_place(nodes, n, &s, &node) != 0) {
        bool changed = t->state != DX_TS_QUEUED || t->node != 0;
        t->state = DX_TS_QUEUED;
        t->node = 0;
        wait_for_room(ts, k);
        if (changed)
            dirty(ts, k, now);   /* a waiting task is written once */
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (nodes[i].id == node)
            dx_sched_note_placed(&nodes[i], &s);
    t->state = DX_TS_ASSIGNED;
    t->node = node;
    t->attempt++;
    t->releasing = false;
    t->assigned_mono = now;
    item(ts, node, DX_ASSIGN_RUN, t->id, t->attempt);
    dirty(ts, k, now);
    return true;
}

static void finish(dx_tasks *ts, uint32_t k, dx_task_state st,
                   const char *result, int64_t now, int64_t wall)
{
    dx_task *t = &ts->t[k];
    t->state = st;
    t->finished_ms = wall;
    t->finished_mono = now;
    if (result != NULL)
        dx_text_copy(t->result, sizeof t->result, result);
    dirty(ts, k, now);
}

int dx_tasks_submit(dx_tasks *ts, const dx_task_spec *spec,
                    dx_sched_node *nodes, size_t n, uint64_t term,
                    int64_t now, int64_t wall, char *id_out, size_t idcap,
                    dx_diag *d)
{
    char id[DX_TASK_ID_MAX + 1];
    dx_task *t;
    int k, rc;

    ts->last_wall = wall;
    if (spec->id[0] != '\0' && find(ts, spec->id) >= 0) {
        snprintf(id_out, idcap, "%s", spec->id);   /* idempotent */
        return 0;
    }
    if ((rc = dx_sched_admit(nodes, n, spec, d)) != 0)
        return rc;
    if (spec->id[0] != '\0') {
        snprintf(id, sizeof id, "%s", spec->id);
    } else {
        do
            snprintf(id, sizeof id, "t%" PRIu64 "-%" PRIu64, term,
                     ++ts->next_name);
        while (find(ts, id) >= 0);
    }
    if ((k = alloc_task(ts, id)) < 0)
        return dx_diag_set(d, DX_EFULL, "the leader holds %d tasks already; "
                           "try again when some have finished",
                           DX_TASKS_MAX);
    t = &ts->t[k];
    set_spec(t, spec);
    t->submitted_ms = wall;
    (void)place(ts, (uint32_t)k, nodes, n, term, now);
    snprintf(id_out, idcap, "%s", id);
    return 0;
}

int dx_tasks_cancel(dx_tasks *ts, const char *id, int64_t now, int64_t wall)
{
    int k = find(ts, id);
    dx_task *t;
    ts->last_wall = wall;
    if (k < 0)
        return DX_ENOTFOUND;
    t = &ts->t[k];
    if (final(t->state) || t->cancel)
        return 0;
    t->cancel = true;
    if (t->node == 0)
        finish(ts, (uint32_t)k, DX_TS_CANCELLED, "cancelled before it was "
               "placed", now, wall);
    else
        item(ts, t->node, DX_ASSIGN_CANCEL, t->id, t->attempt);
    return 0;
}

/* A task of a lost node (or a released one) goes round again. */
static void replace(dx_tasks *ts, uint32_t k, dx_sched_node *nodes, size_t n,
                    uint64_t term, int64_t now, const char *why)
{
    dx_task *t = &ts->t[k];
    uint16_t from = t->node;
    if (t->cancel) {
        finish(ts, k, DX_TS_CANCELLED, "cancelled", now, ts->last_wall);
        return;
    }
    if (place(ts, k, nodes, n, term, now))
        note(ts, "%s Task %s from Node %u to Node %u (attempt %u)", why,
             t->id, from, t->node, t->attempt);
    else
        note(ts, "%s Task %s from Node %u: waiting for a node with room", why,
             t->id, from);
}

void dx_tasks_on_report(dx_tasks *ts, const dx_msg_report *r,
                        dx_sched_node *nodes, size_t n, uint64_t term,
                        int64_t now, int64_t wall)
{
    ts->last_wall = wall;
    for (size_t i = 0; i < r->n; i++) {
        const dx_report_item *it = &r->items[i];
        bool is_final = it->state == DX_REP_DONE ||
                        it->state == DX_REP_FAILED ||
                        it->state == DX_REP_CANCELLED ||
                        it->state == DX_REP_RELEASED;
        int k = find(ts, it->id);
        dx_task *t = k >= 0 ? &ts->t[k] : NULL;
        bool current = t != NULL && t->node == r->node &&
                       t->attempt == it->attempt;

        if (t == NULL || final(t->state)) {
            /* Unknown, or finished already: acknowledge finals, and stop
             * a duplicate run of a task that completed elsewhere. */
            if (is_final)
                item(ts, r->node, DX_ASSIGN_ACK, it->id, it->attempt);
            else if (t != NULL)
                item(ts, r->node, DX_ASSIGN_CANCEL, it->id, it->attempt);
            continue;
        }
        if (r->sync)
            t->seen_sync = t->seen_sync || current;
        switch (it->state) {
        case DX_REP_QUEUED:
        case DX_REP_RUNNING:
            if (!current) {
                /* A stale attempt still held by that node. */
                if (t->node != r->node || it->attempt < t->attempt)
                    item(ts, r->node, DX_ASSIGN_CANCEL, t->id, it->attempt);
                break;
            }
            t->assigned_mono = now;          /* the node has it */
            if (it->state == DX_REP_RUNNING) {
                t->state = DX_TS_RUNNING;
                t->started_ms = it->started_ms;
                t->runs = it->runs;
                if (it->result[0])
                    dx_text_copy(t->result, sizeof t->result, it->result);
                dirty(ts, (uint32_t)k, now);
            }
            break;
        case DX_REP_DONE:
        case DX_REP_FAILED:
            /* The first final report wins, whichever attempt made it. */
            if (!current && t->node != 0 && t->node != r->node)
                item(ts, t->node, DX_ASSIGN_CANCEL, t->id, t->attempt);
            t->node = r->node;
            t->attempt = it->attempt;
            t->started_ms = it->started_ms;
            t->runs = it->runs;
            finish(ts, (uint32_t)k,
                   it->state == DX_REP_DONE ? DX_TS_DONE : DX_TS_FAILED,
                   it->result, now, it->finished_ms ? it->finished_ms : wall);
            item(ts, r->node, DX_ASSIGN_ACK, t->id, it->attempt);
            break;
        case DX_REP_CANCELLED:
            item(ts, r->node, DX_ASSIGN_ACK, t->id, it->attempt);
            if (!current)
                break;
            if (t->cancel)
                finish(ts, (uint32_t)k, DX_TS_CANCELLED, "cancelled", now,
                       wall);
            else
                replace(ts, (uint32_t)k, nodes, n, term, now, "[Recovery]");
            break;
        case DX_REP_RELEASED:
            item(ts, r->node, DX_ASSIGN_ACK, t->id, it->attempt);
            if (current)
                replace(ts, (uint32_t)k, nodes, n, term, now,
                        "[Work Stealing] moved");
            break;
        }
    }
    if (r->sync && r->last) {
        /* Tasks this node should hold from an earlier leader but does not
         * list: their assignment was lost; place them again. */
        for (uint32_t k = 0; k < ts->high; k++) {
            dx_task *t = &ts->t[k];
            if (t->id[0] == '\0' || t->node != r->node)
                continue;
            if (!final(t->state) && !t->seen_sync && t->term < term)
                replace(ts, k, nodes, n, term, now, "[Recovery] Re-routing");
            t->seen_sync = false;
        }
    }
}

void dx_tasks_on_node_down(dx_tasks *ts, uint16_t node,
                           dx_sched_node *nodes, size_t n, uint64_t term,
                           int64_t now)
{
    for (uint32_t k = 0; k < ts->high; k++) {
        dx_task *t = &ts->t[k];
        if (t->id[0] != '\0' && t->node == node && !final(t->state))
            replace(ts, k, nodes, n, term, now, "[Recovery] Re-routing");
    }
}

static bool node_alive(const dx_sched_node *nodes, size_t n, uint16_t id)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i].id == id)
            return nodes[i].alive;
    return false;
}

void dx_tasks_on_leader(dx_tasks *ts, dx_sched_node *nodes, size_t n,
                        uint64_t term, int64_t now)
{
    ts->n_items = 0;
    ts->n_wait = 0;
    for (uint32_t k = 0; k < ts->high; k++) {
        dx_task *t = &ts->t[k];
        if (t->id[0] == '\0')
            continue;
        t->waiting = false;
        t->seen_sync = false;
        if (final(t->state)) {
            if (t->finished_mono == 0)
                t->finished_mono = now;   /* expire from now on */
            continue;
        }
        if (t->node == 0)
            (void)place(ts, k, nodes, n, term, now);
        else if (!node_alive(nodes, n, t->node))
            replace(ts, k, nodes, n, term, now, "[Recovery] Re-routing");
    }
}

/* Work stealing: move queued tasks from the most to the least loaded. */
static void steal(dx_tasks *ts, const dx_sched_node *live, size_t n,
                  uint64_t term, int64_t now)
{
    dx_sched_move mv;
    uint32_t moved = 0;
    dx_sched_node *to = NULL;
    dx_sched_node nodes[DX_MAX_NODES];

    /* On a copy: the leader's own view of each queue (assigned, not yet
     * running) replaces the heartbeat's for this decision only. */
    if (n > DX_MAX_NODES)
        n = DX_MAX_NODES;
    memcpy(nodes, live, n * sizeof nodes[0]);
    for (size_t i = 0; i < n; i++) {
        nodes[i].queued = 0;
        nodes[i].placed = 0;
    }
    for (uint32_t k = 0; k < ts->high; k++) {
        const dx_task *t = &ts->t[k];
        if (t->id[0] == '\0' || t->state != DX_TS_ASSIGNED || t->releasing)
            continue;
        for (size_t i = 0; i < n; i++)
            if (nodes[i].id == t->node)
                nodes[i].queued++;
    }
    if (!dx_sched_should_steal(nodes, n, DX_STEAL_THRESHOLD, &mv))
        return;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].id == mv.to)
            to = &nodes[i];
    /* Newest first: they have waited least, and the oldest are likeliest
     * to start before the release arrives. */
    for (uint32_t k = ts->high; k-- > 0 && moved < mv.count;) {
        dx_task *t = &ts->t[k];
        dx_task_spec s;
        if (t->id[0] == '\0' || t->state != DX_TS_ASSIGNED ||
            t->node != mv.from || t->releasing || t->cancel)
            continue;
        spec_of(t, &s);
        if (to != NULL && (!dx_sched_is_eligible(to, &s) ||
                           !dx_sched_has_room(to, &s)))
            continue;     /* pinned, a device it lacks, or no room there */
        if (to != NULL)
            dx_sched_note_placed(to, &s);
        t->releasing = true;
        item(ts, t->node, DX_ASSIGN_RELEASE, t->id, t->attempt);
        moved++;
    }
    (void)term, (void)now;
}

void dx_tasks_tick(dx_tasks *ts, dx_sched_node *nodes, size_t n,
                   uint64_t term, int64_t now)
{
    size_t tries = now >= ts->wait_at ? (ts->n_wait < 256 ? ts->n_wait : 256)
                                      : 0;

    /* Waiting tasks, in order, a few times a second (loads change with
     * heartbeats); those that still fit nowhere go back. */
    if (tries > 0)
        ts->wait_at = now + DX_WAIT_RETRY_MS;
    for (size_t i = 0; i < tries; i++) {
        uint32_t k = ts->wait[ts->wait_head];
        dx_task *t = &ts->t[k];
        ts->wait_head = (ts->wait_head + 1) % DX_TASKS_MAX;
        ts->n_wait--;
        if (!t->waiting || t->id[0] == '\0')
            continue;
        t->waiting = false;
        if (t->state != DX_TS_QUEUED || t->cancel)
            continue;
        (void)place(ts, k, nodes, n, term, now);
    }
    if (now >= ts->steal_at) {
        ts->steal_at = now + DX_STEAL_EVERY_MS;
        steal(ts, nodes, n, term, now);
    }
    /* Expiry: a slice of the table per tick. */
    for (int i = 0; i < 512 && ts->high > 0; i++) {
        dx_task *t;
        if (ts->sweep >= ts->high)
            ts->sweep = 0;
        t = &ts->t[ts->sweep];
        if (t->id[0] != '\0' && final(t->state) && !t->expire &&
            t->finished_mono != 0 && now - t->finished_mono >= ts->ttl_ms) {
            t->expire = true;
            dirty(ts, ts->sweep, now);
        } else if (t->id[0] != '\0' && t->state == DX_TS_ASSIGNED &&
                   !t->releasing && t->node != 0 &&
                   now - t->assigned_mono >= DX_RUN_RESEND_MS) {
            /* No word from the node: the assignment may have been lost.
             * The same attempt again is harmless (a duplicate is ignored);
             * a node that holds it answers with its state. */
            t->assigned_mono = now;
            item(ts, t->node, DX_ASSIGN_RUN, t->id, t->attempt);
        }
        ts->sweep++;
    }
}

int64_t dx_tasks_next_deadline(const dx_tasks *ts)
{
    int64_t t = ts->steal_at;
    if (ts->n_urgent > 0 || ts->resync_next < ts->resync_end)
        return 0;                   /* items: the core paces them */
    if (ts->n_wait > 0 && ts->wait_at < t)
        t = ts->wait_at;
    if (ts->later.n > 0 && ts->later.e[ts->later.head].at < t)
        t = ts->later.e[ts->later.head].at;
    if (ts->slow.n > 0 && ts->slow.e[ts->slow.head].at < t)
        t = ts->slow.e[ts->slow.head].at;
    return t;
}

/* The delayed ring whose head is due at now (the earlier head first), or
 * NULL. */
static dx_due_ring *due_ring(dx_tasks *ts, int64_t now)
{
    dx_due_ring *r = NULL;
    if (ts->later.n > 0 && ts->later.e[ts->later.head].at <= now)
        r = &ts->later;
    if (ts->slow.n > 0 && ts->slow.e[ts->slow.head].at <= now &&
        (r == NULL || ts->slow.e[ts->slow.head].at < r->e[r->head].at))
        r = &ts->slow;
    return r;
}

bool dx_tasks_take_record(dx_tasks *ts, uint64_t term, int64_t now,
                          dx_task_record *rec, bool *cleared)
{
    for (;;) {
        uint32_t k;
        dx_task *t;
        if (ts->n_urgent > 0) {
            k = ts->urgent[ts->urgent_head];
            ts->urgent_head = (ts->urgent_head + 1) % DX_TASKS_MAX;
            ts->n_urgent--;
        } else {
            dx_due_ring *r = due_ring(ts, now);
            dx_task_due e;
            if (r == NULL)
                return false;
            e = r->e[r->head];
            r->head = (r->head + 1) % DX_TASKS_MAX;
            r->n--;
            k = e.k;
            if (ts->t[k].due != e.at)
                continue;           /* stale: due at another time */
        }
        t = &ts->t[k];
        if (t->id[0] == '\0' || t->dirty_since == 0)
            continue;               /* written already, or gone */
        t->dirty_since = 0;
        t->due = 0;
        if (!t->expire)
            t->term = term;
        dx_tasks_record_of(t, rec);
        *cleared = t->expire;
        if (t->expire)
            free_task(ts, k);
        return true;
    }
}

void dx_tasks_republish(dx_tasks *ts, int64_t now)
{
    for (uint32_t k = 0; k < ts->high; k++)
        if (ts->t[k].id[0] != '\0' && ts->t[k].dirty_since == 0) {
            /* Through the delayed queue: a reconnect is not urgent. */
            ts->t[k].dirty_since = now > 0 ? now : 1;
            ts->t[k].due = ts->t[k].dirty_since + DX_RECORD_DELAY_MS;
            due_push(&ts->later, k, ts->t[k].due);
        }
}

void dx_tasks_resync(dx_tasks *ts)
{
    ts->resync_next = 0;
    ts->resync_end = ts->high;
}

bool dx_tasks_take_resync(dx_tasks *ts, uint64_t term, dx_task_record *rec)
{
    /* Entries freed (their clear was sent) or reused meanwhile are sent as
     * they are now: a follower only ever gets the current state. */
    while (ts->resync_next < ts->resync_end) {
        const dx_task *t = &ts->t[ts->resync_next++];
        if (t->id[0] != '\0') {
            dx_tasks_record_of(t, rec);
            rec->term = term;
            return true;
        }
    }
    return false;
}

void dx_tasks_on_record(dx_tasks *ts, const char *id,
                        const dx_task_record *rec)
{
    int k = find(ts, id);
    dx_task *t;
    if (rec == NULL) {
        if (k >= 0)
            free_task(ts, (uint32_t)k);
        return;
    }
    if (k < 0 && (k = alloc_task(ts, id)) < 0)
        return;                 /* full: a replica is best effort */
    t = &ts->t[k];
    if (rec->term < t->term)
        return;                 /* older than what we hold */
    t->state = rec->state;
    set_spec(t, &rec->spec);
    t->node = rec->node;
    t->attempt = rec->attempt;
    t->term = rec->term;
    t->submitted_ms = rec->submitted_ms;
    t->started_ms = rec->started_ms;
    t->finished_ms = rec->finished_ms;
    t->runs = rec->runs;
    dx_text_copy(t->result, sizeof t->result, rec->result);
}
