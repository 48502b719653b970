/*
 * exec.c - the tasks a node runs.  See exec.h.
 */
#include "exec.h"

#include "idindex.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- the id index (idindex.h) ---- */

static const char *slot_key(const void *ctx, uint32_t slot)
{
    return ((const dx_exec *)ctx)->slots[slot].id;
}

static dx_idindex index_of(const dx_exec *x)
{
    dx_idindex i = {(uint32_t *)x->index, DX_EXEC_HASH - 1, slot_key, x};
    return i;
}

static int find(const dx_exec *x, const char *id)
{
    dx_idindex i = index_of(x);
    return (int)dx_idx_find(&i, id);
}

static void index_add(dx_exec *x, const char *id, int slot)
{
    dx_idindex i = index_of(x);
    dx_idx_add(&i, id, (uint32_t)slot);
}

static void index_del(dx_exec *x, const char *id)
{
    dx_idindex i = index_of(x);
    dx_idx_del(&i, id);
}

/* ---- slots ---- */

static bool timed(const dx_slot *sl)
{
    return sl->st == DX_SLOT_PERIOD ||
           (sl->st == DX_SLOT_RUNNING && sl->kind == DX_TASK_SLEEP);
}


void dx_exec_init(dx_exec *x, uint16_t self, uint32_t workers, dx_pool *pool)
{
    x->self = self;
    x->workers = workers ? workers : 1;
    x->pool = pool;
    x->next_due = INT64_MAX;
    x->n_free = 0;       /* slots come from `high` first, then this list */
    x->high = 0;
}

static void slot_free(dx_exec *x, int s)
{
    dx_slot *sl = &x->slots[s];
    if (sl->mem != NULL)
        (void)dx_pool_free(x->pool, sl->mem);
    x->n_timed -= timed(sl) ? 1u : 0u;
    if (sl->st == DX_SLOT_QUEUED)
        x->n_queued--;
    else if (sl->st == DX_SLOT_RUNNING)
        x->n_running--;
    index_del(x, sl->id);
    memset(sl, 0, sizeof *sl);
    x->free_list[x->n_free++] = (uint16_t)s;
}

static void enqueue(dx_exec *x, int s);

/* Moves a slot to a new state, keeping the counters and the queue. */
static void set_state(dx_exec *x, dx_slot *sl, dx_slot_state st)
{
    x->n_timed -= timed(sl) ? 1u : 0u;
    if (sl->st == DX_SLOT_QUEUED)
        x->n_queued--;
    else if (sl->st == DX_SLOT_RUNNING)
        x->n_running--;
    sl->st = st;
    if (st == DX_SLOT_QUEUED) {
        x->n_queued++;
        sl->seq = ++x->next_seq;
        enqueue(x, (int)(sl - x->slots));
    } else if (st == DX_SLOT_RUNNING) {
        x->n_running++;
    }
    if (timed(sl)) {
        x->n_timed++;
        if (sl->due_ms < x->next_due)
            x->next_due = sl->due_ms;
    }
}

/* ---- reports ---- */

/* Queues a report item for the next flush (dropping only non-finals when
 * the queue is full: finals are also kept as unacked and sent again). */
static void pend(dx_exec *x, const dx_report_item *item)
{
    if (x->pend_n == DX_EXEC_PEND) {
        x->dropped_reports++;
        return;
    }
    x->pend[(x->pend_head + x->pend_n++) % DX_EXEC_PEND] = *item;
}

static void report(dx_exec *x, const char *id, uint32_t attempt,
                   dx_report_state state, int64_t started, int64_t finished,
                   uint64_t runs, const char *result)
{
    dx_report_item it;
    bool final = state != DX_REP_RUNNING && state != DX_REP_QUEUED;

    memset(&it, 0, sizeof it);
    dx_text_copy(it.id, sizeof it.id, id);
    it.attempt = attempt;
    it.state = state;
    it.started_ms = started;
    it.finished_ms = finished;
    it.runs = runs;
    dx_text_copy(it.result, sizeof it.result, result ? result : "");
    if (final && x->n_unacked < DX_EXEC_MAX) {
        dx_unacked *u = &x->unacked[x->n_unacked++];
        if (x->n_unacked == 1)
            x->resend_at = x->now + DX_EXEC_RESEND_MS;
        dx_text_copy(u->id, sizeof u->id, id);
        u->attempt = attempt;
        u->state = state;
        u->started_ms = started;
        u->finished_ms = finished;
        u->runs = runs;
        dx_text_copy(u->result, sizeof u->result, it.result);
    }
    pend(x, &it);
}

/* The report item of an unacked final. */
static void item_of(const dx_unacked *u, dx_report_item *it)
{
    memset(it, 0, sizeof *it);
    dx_text_copy(it->id, sizeof it->id, u->id);
    it->attempt = u->attempt;
    it->state = u->state;
    it->started_ms = u->started_ms;
    it->finished_ms = u->finished_ms;
    it->runs = u->runs;
    dx_text_copy(it->result, sizeof it->result, u->result);
}

static void report_slot(dx_exec *x, const dx_slot *sl, dx_report_state st,
                        int64_t wall, const char *result)
{
    bool final = st != DX_REP_RUNNING && st != DX_REP_QUEUED;
    report(x, sl->id, sl->attempt, st, sl->started_wall,
           final ? wall : 0, sl->runs, result);
}

/* Ends the current run of a slot: periodic tasks go round again. */
static void finish(dx_exec *x, int s, int rc, const char *text, int64_t now,
                   int64_t wall)
{
    dx_slot *sl = &x->slots[s];
    char buf[DX_EXEC_RESULT_MAX];

    if (sl->mem != NULL) {
        (void)dx_pool_free(x->pool, sl->mem);
        sl->mem = NULL;
    }
    if (sl->on_worker) {
        sl->on_worker = false;
        x->busy--;
    }
    if (sl->cancel || rc == DX_ESTATE) {
        report_slot(x, sl, DX_REP_CANCELLED, wall, "cancelled");
        slot_free(x, s);
        return;
    }
    if (sl->every_ms > 0) {
        sl->runs++;
        if (rc != 0)
            snprintf(buf, sizeof buf, "run %" PRIu64 " failed: %s", sl->runs,
                     text);
        else
            snprintf(buf, sizeof buf, "%s", text);
        report_slot(x, sl, DX_REP_RUNNING, wall, buf);
        /* Keep the rhythm from this run's start (due_ms, or for a sleep
         * the end of its sleep minus its length), or run at once when late. */
        {
            int64_t start = sl->kind == DX_TASK_SLEEP ? sl->due_ms - sl->ms
                                                      : sl->due_ms;
            sl->due_ms = start + sl->every_ms > now ? start + sl->every_ms
                                                    : now;
        }
        set_state(x, sl, DX_SLOT_PERIOD);
        return;
    }
    report_slot(x, sl, rc == 0 ? DX_REP_DONE : DX_REP_FAILED, wall, text);
    slot_free(x, s);
}

void dx_exec_assign(dx_exec *x, const dx_assign_item *it, int64_t now,
                    int64_t wall, dx_job_req *jobs, size_t cap, size_t *njobs)
{
    x->now = now;
    int s = find(x, it->spec.id);
    dx_slot *sl = s >= 0 ? &x->slots[s] : NULL;

    switch (it->op) {
    case DX_ASSIGN_RUN: {
        size_t cap_kb = x->pool ? dx_pool_capacity(x->pool) / 1024 : 0;
        if (sl != NULL) {
            if (it->attempt > sl->attempt)
                sl->attempt = it->attempt;  /* placed here again */
            /* A duplicate (a resend): say where it stands. */
            report_slot(x, sl, sl->st == DX_SLOT_QUEUED ? DX_REP_QUEUED
                                                         : DX_REP_RUNNING,
                        wall, "");
            return;
        }
        if (it->spec.mem_kb > cap_kb) {
            char why[DX_EXEC_RESULT_MAX];
            snprintf(why, sizeof why, "needs %u KiB of memory, node %u has "
                     "a pool of %zu KiB", it->spec.mem_kb, x->self, cap_kb);
            report(x, it->spec.id, it->attempt, DX_REP_FAILED, 0, wall, 0,
                   why);
            return;
        }
        if (x->n_free == 0 && x->high == DX_EXEC_MAX) {
            report(x, it->spec.id, it->attempt, DX_REP_RELEASED, 0, wall, 0,
                   "node queue full");
            return;
        }
        s = x->n_free > 0 ? x->free_list[--x->n_free] : (int)x->high++;
        sl = &x->slots[s];
        memset(sl, 0, sizeof *sl);
        dx_text_copy(sl->id, sizeof sl->id, it->spec.id);
        sl->attempt = it->attempt;
        sl->kind = it->spec.kind;
        sl->ms = it->spec.ms;
        sl->mem_kb = it->spec.mem_kb;
        sl->every_ms = it->spec.every_ms;
        snprintf(sl->device, sizeof sl->device, "%s", it->spec.device);
        sl->value = it->spec.value;
        sl->due_ms = now;
        index_add(x, sl->id, s);
        set_state(x, sl, DX_SLOT_QUEUED);
        return;
    }
    case DX_ASSIGN_CANCEL:
        if (sl == NULL) {
            /* Never reached us, or long gone: say so, so it can end. */
            bool known = false;
            for (size_t i = 0; i < x->n_unacked && !known; i++)
                known = strcmp(x->unacked[i].id, it->spec.id) == 0;
            if (!known)
                report(x, it->spec.id, it->attempt ? it->attempt : 1,
                       DX_REP_CANCELLED, 0, wall, 0, "cancelled");
            return;
        }
        if (sl->on_worker) {
            sl->cancel = true;
            if (*njobs < cap) {
                memset(&jobs[*njobs], 0, sizeof jobs[0]);
                jobs[*njobs].cancel = true;
                jobs[(*njobs)++].slot = (uint32_t)s;
            }
            return;
        }
        sl->cancel = true;
        finish(x, s, DX_ESTATE, "cancelled", now, wall);
        return;
    case DX_ASSIGN_RELEASE:
        if (sl == NULL)
            return;
        if (sl->st == DX_SLOT_QUEUED && sl->runs == 0) {
            report_slot(x, sl, DX_REP_RELEASED, wall, "released");
            slot_free(x, s);
        } else {
            report_slot(x, sl, DX_REP_RUNNING, wall, "");
        }
        return;
    case DX_ASSIGN_ACK:
        for (size_t i = 0; i < x->n_unacked; i++)
            if (x->unacked[i].attempt == it->attempt &&
                strcmp(x->unacked[i].id, it->spec.id) == 0) {
                x->unacked[i] = x->unacked[--x->n_unacked];
                break;
            }
        return;
    }
}

void dx_exec_reject(dx_exec *x, const dx_assign_item *it, int64_t wall,
                    const char *why)
{
    report(x, it->spec.id, it->attempt, DX_REP_FAILED, 0, wall, 0, why);
}

/* Tries to start one queued slot; false when it must wait. */
static bool start(dx_exec *x, int s, int64_t now, int64_t wall,
                  dx_job_req *jobs, size_t cap, size_t *njobs)
{
    dx_slot *sl = &x->slots[s];
    bool worker = sl->kind == DX_TASK_COMPUTE ||
                  sl->kind == DX_TASK_SENSOR_READ ||
                  sl->kind == DX_TASK_ACTUATOR_SET;
    char buf[DX_EXEC_RESULT_MAX];

    if (worker && (x->busy >= x->workers || *njobs >= cap))
        return false;
    if (sl->mem_kb > 0 &&
        dx_pool_alloc(x->pool, (size_t)sl->mem_kb * 1024u, &sl->mem) != 0)
        return false;
    if (sl->runs == 0)
        sl->started_wall = wall;
    sl->due_ms = sl->kind == DX_TASK_SLEEP ? now + sl->ms : now;
    set_state(x, sl, DX_SLOT_RUNNING);
    switch (sl->kind) {
    case DX_TASK_NOOP:
        finish(x, s, 0, "noop", now, wall);
        return true;
    case DX_TASK_SLEEP:
        break;
    default: {
        dx_job_req *j = &jobs[(*njobs)++];
        memset(j, 0, sizeof *j);
        j->slot = (uint32_t)s;
        j->kind = sl->kind;
        j->ms = sl->ms;
        j->mem = sl->mem;
        j->mem_bytes = (size_t)sl->mem_kb * 1024u;
        snprintf(j->device, sizeof j->device, "%s", sl->device);
        j->value = sl->value;
        sl->on_worker = true;
        x->busy++;
        break;
    }
    }
    if (sl->runs == 0) {
        snprintf(buf, sizeof buf, "started on node %u", x->self);
        report_slot(x, sl, DX_REP_RUNNING, wall, buf);
    }
    return true;
}

/* Drops the queue entries of slots that are no longer queued. */
static void compact(dx_exec *x)
{
    size_t n = x->q_n, cap = sizeof x->q / sizeof x->q[0];
    x->q_n = 0;
    for (size_t k = 0; k < n; k++) {
        size_t from = (x->q_head + k) % cap;
        const dx_slot *sl = &x->slots[x->q[from].slot];
        if (sl->st == DX_SLOT_QUEUED && sl->seq == x->q[from].seq)
            x->q[(x->q_head + x->q_n++) % cap] = x->q[from];
    }
}

static void enqueue(dx_exec *x, int s)
{
    size_t cap = sizeof x->q / sizeof x->q[0];
    if (x->q_n == cap)
        compact(x);          /* at most DX_EXEC_MAX entries are valid */
    x->q[(x->q_head + x->q_n) % cap].slot = (uint16_t)s;
    x->q[(x->q_head + x->q_n) % cap].seq = x->slots[s].seq;
    x->q_n++;
}

void dx_exec_pump(dx_exec *x, int64_t now, int64_t wall, dx_job_req *jobs,
                  size_t cap, size_t *njobs)
{
    x->now = now;
    size_t qcap = sizeof x->q / sizeof x->q[0], n = x->q_n;

    /* One pass in arrival order: start what can start, keep the rest in
     * order, drop entries of slots that left the queue. */
    x->q_n = 0;
    for (size_t k = 0; k < n; k++) {
        size_t from = (x->q_head + k) % qcap;
        uint16_t s = x->q[from].slot;
        uint64_t seq = x->q[from].seq;
        const dx_slot *sl = &x->slots[s];
        if (sl->st != DX_SLOT_QUEUED || sl->seq != seq)
            continue;
        if (start(x, s, now, wall, jobs, cap, njobs))
            continue;
        x->q[(x->q_head + x->q_n++) % qcap] = x->q[from];
    }
    /* (start() never queues: a periodic task waits in PERIOD until tick.) */
}

void dx_exec_job_done(dx_exec *x, uint32_t slot, int rc, const char *text,
                      int64_t now, int64_t wall)
{
    x->now = now;
    if (slot >= DX_EXEC_MAX || x->slots[slot].st != DX_SLOT_RUNNING ||
        !x->slots[slot].on_worker)
        return;                 /* a stale completion */
    finish(x, (int)slot, rc, text, now, wall);
}

void dx_exec_tick(dx_exec *x, int64_t now, int64_t wall)
{
    x->now = now;
    char buf[DX_EXEC_RESULT_MAX];

    if (x->n_timed > 0 && now >= x->next_due) {
        x->next_due = INT64_MAX;
        for (int i = 0; i < (int)x->high; i++) {
            dx_slot *sl = &x->slots[i];
            if (!timed(sl))
                continue;
            if (now < sl->due_ms) {
                if (sl->due_ms < x->next_due)
                    x->next_due = sl->due_ms;
            } else if (sl->st == DX_SLOT_RUNNING) {
                snprintf(buf, sizeof buf, "slept %u ms", sl->ms);
                finish(x, i, 0, buf, now, wall);
            } else {
                set_state(x, sl, DX_SLOT_QUEUED);   /* the next run */
            }
        }
    }
    if (x->n_unacked == 0) {
        x->resend_at = now + DX_EXEC_RESEND_MS;
        return;
    }
    if (now < x->resend_at)
        return;
    for (size_t i = 0; i < x->n_unacked && x->pend_n < DX_EXEC_PEND; i++) {
        dx_report_item it;
        item_of(&x->unacked[i], &it);
        pend(x, &it);
    }
    x->resend_at = now + DX_EXEC_RESEND_MS;
}

int64_t dx_exec_next_deadline(const dx_exec *x)
{
    int64_t t = x->n_unacked > 0 ? x->resend_at : INT64_MAX;
    if (x->n_timed > 0 && x->next_due < t)
        t = x->next_due;
    return t;
}

void dx_exec_on_leader(dx_exec *x)
{
    x->need_sync = true;
    x->sync_cursor = 0;        /* a new inventory, from the start */
    x->resend_at = 0;       /* unacked reports go out at the next tick */
}

void dx_exec_set_draining(dx_exec *x, bool on)
{
    x->draining = on;
}

bool dx_exec_has_report(const dx_exec *x)
{
    return x->need_sync || x->pend_n > 0;
}

/* One inventory message: every task this node holds, then the finals the
 * leader has not acknowledged, so the inventory marked "last" is whole. */
static void flush_sync(dx_exec *x, dx_msg_report *r, int *cursor)
{
    int total = (int)x->high + (int)x->n_unacked;
    r->sync = true;
    for (; *cursor < total && r->n < DX_REPORT_MAX; (*cursor)++) {
        dx_report_item *it = &r->items[r->n];
        memset(it, 0, sizeof *it);
        if (*cursor < (int)x->high) {
            const dx_slot *sl = &x->slots[*cursor];
            if (sl->st == DX_SLOT_FREE)
                continue;
            dx_text_copy(it->id, sizeof it->id, sl->id);
            it->attempt = sl->attempt;
            it->state = sl->st == DX_SLOT_QUEUED ? DX_REP_QUEUED
                                                 : DX_REP_RUNNING;
            it->started_ms = sl->started_wall;
            it->runs = sl->runs;
        } else {
            item_of(&x->unacked[*cursor - (int)x->high], it);
        }
        r->n++;
    }
    if (*cursor >= total) {
        r->last = true;
        x->need_sync = false;
        *cursor = 0;
    }
}

bool dx_exec_flush(dx_exec *x, uint64_t term, dx_msg_report *r)
{
    r->node = x->self;
    r->term = term;
    r->sync = false;
    r->last = false;
    r->n = 0;
    if (x->need_sync) {
        flush_sync(x, r, &x->sync_cursor);
        return true;
    }
    while (x->pend_n > 0 && r->n < DX_REPORT_MAX) {
        r->items[r->n++] = x->pend[x->pend_head];
        x->pend_head = (x->pend_head + 1) % DX_EXEC_PEND;
        x->pend_n--;
    }
    return r->n > 0;
}

uint32_t dx_exec_queued(const dx_exec *x)
{
    return x->n_queued;
}

uint32_t dx_exec_running(const dx_exec *x)
{
    return x->n_running;
}
