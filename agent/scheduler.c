/*
 * scheduler.c - placement and work stealing.  See scheduler.h for the model, the
 * cost formula and its weights.
 */
#include "scheduler.h"

#include <inttypes.h>
#include <string.h>

static uint64_t sat_add64(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static const dx_sched_node *find(const dx_sched_node *nodes, size_t n,
                                 uint16_t id)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i].id == id)
            return &nodes[i];
    return NULL;
}

/* Memory the node can give one more task now, in kB. */
static uint64_t room_kb(const dx_sched_node *node)
{
    uint64_t block = node->mem_largest_kb < node->pool_kb
                         ? node->mem_largest_kb : node->pool_kb;
    return block > node->placed_mem_kb ? block - node->placed_mem_kb : 0;
}

/* Tasks assigned to the node and not started, as far as the leader knows. */
static uint64_t backlog(const dx_sched_node *node)
{
    return (uint64_t)node->queued + node->placed;
}

static bool has_free_worker(const dx_sched_node *node)
{
    uint64_t workers = node->workers != 0 ? node->workers : 1;
    return (uint64_t)node->running + backlog(node) < workers;
}

/* Alive and taking new work. */
static bool is_open(const dx_sched_node *node)
{
    return node->alive && !node->draining;
}

/* Pin and device: the parts of eligibility that do not change with load. */
static bool matches(const dx_sched_node *node, const dx_task_spec *t)
{
    if (t->node != 0 && node->id != t->node)
        return false;
    return t->device[0] == '\0' || dx_sched_has_device(node, t->device);
}

bool dx_sched_has_device(const dx_sched_node *node, const char *dev)
{
    for (size_t i = 0; i < node->n_devices; i++)
        if (strcmp(node->devices[i], dev) == 0)
            return true;
    return false;
}

bool dx_sched_is_eligible(const dx_sched_node *node, const dx_task_spec *t)
{
    return is_open(node) && matches(node, t) && t->mem_kb <= node->pool_kb;
}

bool dx_sched_has_room(const dx_sched_node *node, const dx_task_spec *t)
{
    return t->mem_kb <= room_kb(node);
}

double dx_sched_cost(const dx_sched_node *node, const dx_task_spec *t)
{
    double workers = node->workers != 0 ? (double)node->workers : 1.0;
    /* In double: three 32-bit counts cannot overflow it. */
    double load = (double)node->running + (double)node->queued +
                  (double)node->placed + 1.0;
    uint32_t cpu = node->cpu_pct < 100 ? node->cpu_pct : 100;
    double mem = 1.0;

    if (node->pool_kb != 0) {
        uint64_t room = room_kb(node);
        uint64_t left = room > t->mem_kb ? room - t->mem_kb : 0;
        mem = 1.0 - (double)left / (double)node->pool_kb;
    }
    return DX_SCHED_W_QUEUE * load / workers +
           DX_SCHED_W_CPU * (double)cpu / 100.0 + DX_SCHED_W_MEM * mem;
}

void dx_sched_note_placed(dx_sched_node *node, const dx_task_spec *t)
{
    if (node->placed != UINT32_MAX)
        node->placed++;
    node->placed_mem_kb = sat_add64(node->placed_mem_kb, t->mem_kb);
}

int dx_sched_admit(const dx_sched_node *nodes, size_t n,
                   const dx_task_spec *t, dx_diag *d)
{
    const bool dev = t->device[0] != '\0';
    size_t candidates = 0;
    uint64_t biggest = 0;

    if (t->node != 0) {
        const dx_sched_node *pin = find(nodes, n, t->node);
        if (pin == NULL)
            return dx_diag_set(d, DX_ENOTFOUND, "node %u is not a member",
                               (unsigned)t->node);
        if (dev && !dx_sched_has_device(pin, t->device))
            return dx_diag_set(d, DX_ENOTFOUND, "node %u has no device '%s'",
                               (unsigned)t->node, t->device);
        if (t->mem_kb > pin->pool_kb)
            return dx_diag_set(d, DX_ERANGE,
                               "task needs %" PRIu32 " kB, node %u's pool is %"
                               PRIu64 " kB",
                               t->mem_kb, (unsigned)t->node, pin->pool_kb);
        return 0;
    }

    for (size_t i = 0; i < n; i++) {
        if (!matches(&nodes[i], t))
            continue;
        candidates++;
        if (nodes[i].pool_kb > biggest)
            biggest = nodes[i].pool_kb;
    }
    if (candidates == 0)
        return dev ? dx_diag_set(d, DX_ENOTFOUND, "no node has device '%s'",
                                 t->device)
                   : dx_diag_set(d, DX_ENOTFOUND, "the cluster has no member");
    if (t->mem_kb > biggest)
        return dev ? dx_diag_set(d, DX_ERANGE,
                                 "task needs %" PRIu32 " kB, more than the "
                                 "pool of every node with device '%s' (at "
                                 "most %" PRIu64 " kB)",
                                 t->mem_kb, t->device, biggest)
                   : dx_diag_set(d, DX_ERANGE,
                                 "task needs %" PRIu32 " kB, more than every "
                                 "node's pool (the largest is %" PRIu64
                                 " kB)",
                                 t->mem_kb, biggest);
    return 0;
}

int dx_sched_place(const dx_sched_node *nodes, size_t n,
                   const dx_task_spec *t, uint16_t *out)
{
    const dx_sched_node *best = NULL;
    double best_cost = 0.0;
    bool any_eligible = false;

    for (size_t i = 0; i < n; i++) {
        const dx_sched_node *node = &nodes[i];
        double cost;

        if (!dx_sched_is_eligible(node, t))
            continue;
        any_eligible = true;
        if (!dx_sched_has_room(node, t))
            continue;
        cost = dx_sched_cost(node, t);
        /* Same inputs give bit-identical costs, so exact comparison is
         * deterministic; the id breaks ties whatever the array order. */
        if (best == NULL || cost < best_cost ||
            (cost == best_cost && node->id < best->id)) {
            best = node;
            best_cost = cost;
        }
    }
    if (best == NULL)
        return any_eligible ? DX_EFULL : DX_ENOTFOUND;
    *out = best->id;
    return 0;
}

/* The open node with the smallest backlog (lowest id on ties), optionally
 * only among those with a free worker; NULL when none. */
static const dx_sched_node *pick_receiver(const dx_sched_node *nodes,
                                          size_t n, bool need_free_worker)
{
    const dx_sched_node *best = NULL;

    for (size_t i = 0; i < n; i++) {
        const dx_sched_node *node = &nodes[i];
        if (!is_open(node) || (need_free_worker && !has_free_worker(node)))
            continue;
        if (best == NULL || backlog(node) < backlog(best) ||
            (backlog(node) == backlog(best) && node->id < best->id))
            best = node;
    }
    return best;
}

/* The live node with the largest nonzero backlog among the draining ones
 * (draining true) or the open ones (false), lowest id on ties; or NULL. */
static const dx_sched_node *pick_donor(const dx_sched_node *nodes, size_t n,
                                       bool draining)
{
    const dx_sched_node *best = NULL;

    for (size_t i = 0; i < n; i++) {
        const dx_sched_node *node = &nodes[i];
        if (!node->alive || node->draining != draining || backlog(node) == 0)
            continue;
        if (best == NULL || backlog(node) > backlog(best) ||
            (backlog(node) == backlog(best) && node->id < best->id))
            best = node;
    }
    return best;
}

static uint32_t clamp32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

bool dx_sched_should_steal(const dx_sched_node *nodes, size_t n,
                           uint32_t threshold, dx_sched_move *mv)
{
    const dx_sched_node *donor = pick_donor(nodes, n, true);
    const dx_sched_node *recv;
    uint64_t gap;

    /* A draining node's queue must leave whatever the others carry: the
     * receiver need not have a free worker, only be open. */
    if (donor != NULL) {
        recv = pick_receiver(nodes, n, false);
        if (recv == NULL)
            return false;
        mv->from = donor->id;
        mv->to = recv->id;
        mv->count = clamp32(backlog(donor));
        mv->drain = true;
        return true;
    }

    donor = pick_donor(nodes, n, false);
    recv = pick_receiver(nodes, n, true);
    if (donor == NULL || recv == NULL || backlog(donor) <= backlog(recv))
        return false;
    gap = backlog(donor) - backlog(recv);
    if (gap <= threshold)
        return false;
    mv->from = donor->id;
    mv->to = recv->id;
    mv->count = clamp32(gap / 2 != 0 ? gap / 2 : 1);
    mv->drain = false;
    return true;
}
