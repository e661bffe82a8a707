/*
 * The sample buffer: a bounded multi-producer queue of fixed-size records
 * (after D. Vyukov's bounded MPMC queue). Producers are signal handlers on any
 * number of threads at once: they claim a cell with one compare-and-swap and
 * never wait; when the buffer is full the sample is dropped and counted.
 * The single consumer is sampler_drain(), serialised by g.drain_lock.
 *
 * The cells live in an anonymous mapping of zero pages that is never touched
 * at start: a page is faulted in by the first handler (or drain) that uses
 * it, so sampler_start() costs one mmap whatever the capacity, and a short
 * run uses only the pages its samples filled. For that, a cell stores its
 * sequence number relative to its index (`seq - index`), so the zero page
 * already says "free for the first producer of this index".
 */
#include "internal.h"

#include <string.h>
#include <sys/mman.h>

typedef struct sampler__cell {
    /* seq - index of this cell; seq == pos: free for the producer of pos;
     * pos + 1: ready for the consumer. Zero (a fresh page): free for pos == index. */
    _Atomic size_t rseq;
    pid_t tid;
    int depth;
    uint64_t time_ns;
    uint64_t weight;
    uint64_t delayed_weight;
    void *thread_arg;
    uintptr_t pcs[];
} sampler__cell;

struct sampler__buffer {
    _Alignas(64) _Atomic size_t head; /* next position to claim (producers) */
    _Alignas(64) size_t tail;         /* next position to read (consumer) */
    size_t mask;
    size_t stride;
    size_t bytes; /* of the whole mapping */
    int max_depth;
    _Alignas(64) unsigned char cells[];
};

static sampler__cell *sampler__cell_at(sampler__buffer *b, size_t pos)
{
    return (sampler__cell *)(void *)(b->cells + (pos & b->mask) * b->stride);
}

/* The sequence number of the cell that holds position `pos`. */
static size_t sampler__seq_load(const sampler__buffer *b, sampler__cell *c, size_t pos,
                                memory_order mo)
{
    return atomic_load_explicit(&c->rseq, mo) + (pos & b->mask);
}

static void sampler__seq_store(const sampler__buffer *b, sampler__cell *c, size_t pos,
                               size_t seq)
{
    atomic_store_explicit(&c->rseq, seq - (pos & b->mask), memory_order_release);
}

size_t sampler__buffer_bytes(size_t capacity, int max_depth)
{
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    size_t stride = sizeof(sampler__cell) + (size_t)max_depth * sizeof(uintptr_t);
    stride = (stride + 63) & ~(size_t)63;
    return cap * stride;
}

sampler__buffer *sampler__buffer_new(size_t capacity, int max_depth)
{
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    size_t stride = sizeof(sampler__cell) + (size_t)max_depth * sizeof(uintptr_t);
    stride = (stride + 63) & ~(size_t)63;
    size_t bytes = sizeof(sampler__buffer) + sampler__buffer_bytes(capacity, max_depth);
    /* Zero pages, faulted in on first use (never here): see the top. */
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    sampler__buffer *b = mem;
    b->mask = cap - 1;
    b->stride = stride;
    b->bytes = bytes;
    b->max_depth = max_depth;
    atomic_store(&b->head, 0);
    b->tail = 0;
    return b;
}

void sampler__buffer_free(sampler__buffer *b)
{
    if (b != NULL)
        munmap(b, b->bytes);
}

uintptr_t *sampler__buffer_reserve(sampler__buffer *b, void **rec)
{
    size_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    for (;;) {
        sampler__cell *c = sampler__cell_at(b, pos);
        size_t seq = sampler__seq_load(b, c, pos, memory_order_acquire);
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

void sampler__buffer_commit(sampler__buffer *b, void *rec, const sampler__record *r)
{
    sampler__cell *c = rec;
    c->tid = r->tid;
    c->depth = r->depth;
    c->time_ns = r->time_ns;
    c->weight = r->weight;
    c->delayed_weight = r->delayed_weight;
    c->thread_arg = r->thread_arg;
    /* A claimed cell's seq still equals its position: pos + 1 marks it ready.
     * The cell's index and the position agree modulo the capacity, so the
     * position is index + rseq. */
    size_t idx = (size_t)((unsigned char *)c - b->cells) / b->stride;
    size_t pos = atomic_load_explicit(&c->rseq, memory_order_relaxed) + idx;
    sampler__seq_store(b, c, pos, pos + 1);
}

int sampler_drain(sampler_sample_fn fn, void *arg, size_t max)
{
    if (fn == NULL)
        return SAMPLER_EINVAL;
    if (sampler__in_drain || sampler__in_handler)
        return SAMPLER_EBUSY;
    /* A callback cancelled at a cancellation point would leave drain_lock
     * held: cancellation waits until the drain returns. */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&sampler__g.drain_lock);
    sampler__buffer *b = atomic_load(&sampler__g.buf);
    int n = 0;
    if (b != NULL) {
        sampler__in_drain = 1;
        while ((max == 0 || (size_t)n < max) && n < INT32_MAX) {
            size_t pos = b->tail;
            sampler__cell *c = sampler__cell_at(b, pos);
            if (sampler__seq_load(b, c, pos, memory_order_acquire) != pos + 1)
                break; /* empty, or the next sample is still being written */
            sampler_sample s = {
                .tid = c->tid,
                .depth = c->depth,
                .time_ns = c->time_ns,
                .weight = c->weight,
                .delayed_weight = c->delayed_weight,
                .thread_arg = c->thread_arg,
                .pcs = c->pcs,
            };
            int stop = fn(&s, arg);
            b->tail = pos + 1;
            sampler__seq_store(b, c, pos, pos + b->mask + 1);
            n++;
            if (stop)
                break;
        }
        sampler__in_drain = 0;
    }
    pthread_mutex_unlock(&sampler__g.drain_lock);
    pthread_setcancelstate(cancel_state, NULL);
    return n;
}
