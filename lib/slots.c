/*
 * The slot table and the busy protocol. Slots live in chunks that are never
 * moved and only freed after stop (no handler in flight), so the handler can
 * look a slot up by index without a lock (sampler__slot_get). Management
 * (under g.lock) hands slots out and takes them back through a free list, and
 * holds a slot against the handler with its busy flag before it changes or
 * tears it down (docs/ARCHITECTURE.md, "The slot table" and "The busy flag").
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>

sampler__slot *sampler__slot_get(uint32_t idx)
{
    if (idx >= SAMPLER__MAX_SLOTS)
        return NULL;
    sampler__slot *chunk = atomic_load(&sampler__g.chunks[idx >> SAMPLER__CHUNK_SHIFT]);
    return chunk ? &chunk[idx & (SAMPLER__CHUNK_SLOTS - 1)] : NULL;
}

sampler__slot *sampler__slot_alloc(void)
{
    sampler__global *g = &sampler__g;
    sampler__slot *s = g->free_list;
    if (s != NULL) {
        g->free_list = s->next_free;
        s->next_free = NULL;
        return s;
    }
    if (g->nslots >= SAMPLER__MAX_SLOTS)
        return NULL;
    uint32_t idx = g->nslots;
    uint32_t c = idx >> SAMPLER__CHUNK_SHIFT;
    sampler__slot *chunk = atomic_load(&g->chunks[c]);
    if (chunk == NULL) {
        chunk = calloc(SAMPLER__CHUNK_SLOTS, sizeof *chunk);
        if (chunk == NULL)
            return NULL;
        for (uint32_t i = 0; i < SAMPLER__CHUNK_SLOTS; i++)
            chunk[i].idx = (c << SAMPLER__CHUNK_SHIFT) | i;
        atomic_store(&g->chunks[c], chunk);
    }
    g->nslots++;
    return &chunk[idx & (SAMPLER__CHUNK_SLOTS - 1)];
}

void sampler__slot_release(sampler__slot *s)
{
    s->tid = 0;
    s->thread_arg = NULL;
    s->stack_lo = s->stack_hi = 0;
    s->self = false;
    s->started = 0;
    atomic_store(&s->disarmed, 0);
    s->next_free = sampler__g.free_list;
    sampler__g.free_list = s;
}

/* Hold a slot against the handler: wait out a handler using it. While held,
 * a handler for this slot counts its signal stale and leaves. */
void sampler__slot_hold(sampler__slot *s)
{
    int idle;
    for (unsigned spins = 0;; spins++) {
        idle = SAMPLER__SLOT_IDLE;
        if (atomic_compare_exchange_weak(&s->busy, &idle, SAMPLER__SLOT_DYING))
            break;
        if (spins > 64)
            sched_yield();
    }
}

void sampler__slot_unhold(sampler__slot *s)
{
    atomic_store(&s->busy, SAMPLER__SLOT_IDLE);
}

/* Take a slot away from the handler: hold it, then invalidate its token.
 * Afterwards no handler touches the slot's fields. */
void sampler__slot_seize(sampler__slot *s)
{
    sampler__slot_hold(s);
    atomic_store(&s->gen, 0);
    sampler__slot_unhold(s);
}

/* Under lock, stopped and no handler in flight: free the slot storage. */
void sampler__slots_free(void)
{
    sampler__global *g = &sampler__g;
    for (uint32_t c = 0; c < SAMPLER__MAX_CHUNKS; c++) {
        sampler__slot *chunk = atomic_exchange(&g->chunks[c], NULL);
        if (chunk == NULL)
            break;
        free(chunk);
    }
    g->free_list = NULL;
    g->nslots = 0;
}

/* In a fork child forked from a drain callback: drop the table without
 * reading it (its memory stays in the child). */
void sampler__slots_forget(void)
{
    sampler__global *g = &sampler__g;
    for (uint32_t c = 0; c < SAMPLER__MAX_CHUNKS; c++)
        atomic_store(&g->chunks[c], NULL);
    g->free_list = NULL;
    g->nslots = 0;
}
