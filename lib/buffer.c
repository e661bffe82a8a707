/*
 * The sample buffer: a bounded multi-producer queue of fixed-size records
 * (after D. Vyukov's bounded MPMC queue). Producers are signal handlers on any
 * number of threads at once: they claim a cell with one compare-and-swap and
 * never wait; when the buffer is full the sample is dropped and counted.
 * The single consumer is sampler_drain(), serialised by g.drain_lock.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct sampler__cell {
    _Atomic size_t seq; /* == pos: free for the producer of pos; pos + 1: ready */
    pid_t tid;
    int depth;
    uint64_t time_ns;
    uint64_t weight;
    void *thread_arg;
    uintptr_t pcs[];
} sampler__cell;

struct sampler__buffer {
    _Alignas(64) _Atomic size_t head; /* next position to claim (producers) */
    _Alignas(64) size_t tail;         /* next position to read (consumer) */
    size_t mask;
    size_t stride;
    int max_depth;
    _Alignas(64) unsigned char cells[];
};

static sampler__cell *sampler__cell_at(sampler__buffer *b, size_t pos)
{
    return (sampler__cell *)(void *)(b->cells + (pos & b->mask) * b->stride);
}

sampler__buffer *sampler__buffer_new(size_t capacity, int max_depth)
{
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    size_t stride = sizeof(sampler__cell) + (size_t)max_depth * sizeof(uintptr_t);
    stride = (stride + 63) & ~(size_t)63;
    sampler__buffer *b = aligned_alloc(64, sizeof *b + cap * stride);
    if (b == NULL)
        return NULL;
    memset(b, 0, sizeof *b);
    b->mask = cap - 1;
    b->stride = stride;
    b->max_depth = max_depth;
    atomic_store(&b->head, 0);
    b->tail = 0;
    for (size_t i = 0; i < cap; i++)
        atomic_store(&sampler__cell_at(b, i)->seq, i);
    return b;
}

void sampler__buffer_free(sampler__buffer *b)
{
    free(b);
}

uintptr_t *sampler__buffer_reserve(sampler__buffer *b, void **rec)
{
    size_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    for (;;) {
        sampler__cell *c = sampler__cell_at(b, pos);
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&b->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *rec = c;
                return c->pcs;
            }
        } else if (dif < 0) {
            return NULL; /* full: the consumer has not freed this cell yet */
        } else {
            pos = atomic_load_explicit(&b->head, memory_order_relaxed);
        }
    }
}

void sampler__buffer_commit(sampler__buffer *b, void *rec, pid_t tid, uint64_t time_ns,
                            uint64_t weight, void *thread_arg, int depth)
{
    sampler__cell *c = rec;
    c->tid = tid;
    c->depth = depth;
    c->time_ns = time_ns;
    c->weight = weight;
    c->thread_arg = thread_arg;
    (void)b;
    /* A claimed cell's seq still equals its position: pos + 1 marks it ready. */
    size_t pos = atomic_load_explicit(&c->seq, memory_order_relaxed);
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
}

int sampler_drain(sampler_sample_fn fn, void *arg, size_t max)
{
    if (fn == NULL)
        return SAMPLER_EINVAL;
    if (sampler__in_drain)
        return SAMPLER_EBUSY;
    pthread_mutex_lock(&sampler__g.drain_lock);
    sampler__buffer *b = atomic_load(&sampler__g.buf);
    int n = 0;
    if (b != NULL) {
        sampler__in_drain = 1;
        while ((max == 0 || (size_t)n < max) && n < INT32_MAX) {
            size_t pos = b->tail;
            sampler__cell *c = sampler__cell_at(b, pos);
            if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + 1)
                break; /* empty, or the next sample is still being written */
            sampler_sample s = {
                .tid = c->tid,
                .depth = c->depth,
                .time_ns = c->time_ns,
                .weight = c->weight,
                .thread_arg = c->thread_arg,
                .pcs = c->pcs,
            };
            int stop = fn(&s, arg);
            b->tail = pos + 1;
            atomic_store_explicit(&c->seq, pos + b->mask + 1, memory_order_release);
            n++;
            if (stop)
                break;
        }
        sampler__in_drain = 0;
    }
    pthread_mutex_unlock(&sampler__g.drain_lock);
    return n;
}
