/*
 * buffer suite: the lock-free sample buffer. When it is full new samples are
 * dropped and counted (never blocking the handler); every accepted signal ends
 * as exactly one stored or one dropped sample; draining hands samples over
 * oldest first, frees their room, and honours `max` and an early stop.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define BF_WAIT_LIMIT_NS 30000000000ULL

typedef struct bf_worker {
    pthread_t th;
    sem_t ready;
    atomic_int stop;
    atomic_int done; /* got out of its burn loop */
    int reg_rc;
    pid_t tid;
} bf_worker;

static void *bf_burner(void *p)
{
    bf_worker *w = p;
    w->tid = tu_gettid();
    w->reg_rc = sampler_thread_register(w);
    sem_post(&w->ready);
    while (!atomic_load(&w->stop))
        tu_burn_cpu_ns(1000000);
    atomic_store(&w->done, 1);
    return NULL;
}

static void bf_spawn(bf_worker *w)
{
    memset(w, 0, sizeof *w);
    ck_assert_int_eq(sem_init(&w->ready, 0, 0), 0);
    ck_assert_int_eq(pthread_create(&w->th, NULL, bf_burner, w), 0);
    ck_assert_int_eq(sem_wait(&w->ready), 0);
    ck_assert_sampler(w->reg_rc, 0);
}

static void bf_join(bf_worker *w)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    sem_destroy(&w->ready);
}

static void bf_nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static void bf_start(uint64_t interval_ns, size_t capacity)
{
    sampler_config cfg;
    tu_config(&cfg, interval_ns);
    cfg.buffer_capacity = capacity;
    ck_assert_sampler(sampler_start(&cfg), 0);
}

/* What was drained, checked sample by sample. */
typedef struct bf_scan {
    bf_worker *w[2];
    int nw;
    int max_depth;
    uint64_t n, weight, bad, out_of_order, last_time;
    bool ordered; /* one producer: times must not go backwards */
} bf_scan;

static int bf_scan_cb(const sampler_sample *s, void *arg)
{
    bf_scan *c = arg;
    c->n++;
    c->weight += s->weight;
    bool known = false;
    for (int i = 0; i < c->nw; i++)
        known |= s->tid == c->w[i]->tid && s->thread_arg == c->w[i];
    if (!known || s->weight < 1 || s->depth < 1 || s->depth > c->max_depth ||
        s->pcs == NULL || s->pcs[0] == 0)
        c->bad++;
    if (c->ordered && s->time_ns < c->last_time)
        c->out_of_order++;
    c->last_time = s->time_ns;
    return 0;
}

static void bf_drain_all(bf_scan *c)
{
    ck_assert_sampler(tu_drain_all(bf_scan_cb, c), 0);
}

/* capacity asked -> capacity held (a power of two >= 2) */
static const size_t bf_caps[][2] = {{1, 2}, {3, 4}, {4, 4}, {5, 8}};

/* Wait until the stats counter `field` reaches `n` (30 s of wall time at most). */
#define bf_wait(field, n)                                                                \
    tu_wait_stat(field, (n), CLOCK_PROCESS_CPUTIME_ID, UINT64_MAX, BF_WAIT_LIMIT_NS / 1e9)

/* Undrained, a tiny buffer (capacity 1, 3, 4, 5) holds exactly its capacity
 * rounded up to a power of two; everything else is dropped and counted with
 * its weight; samples + dropped == signals; the burning thread keeps running
 * and finishes (the handler never waits for room); draining afterwards yields
 * exactly the stored samples with the stored weight. */
START_TEST(full_buffer_drops_and_counts)
{
    size_t ask = bf_caps[_i][0], holds = bf_caps[_i][1];
    bf_start(2000000ULL, ask);
    bf_worker w;
    bf_spawn(&w);
    bf_wait(signals, holds + 8); /* the buffer overflowed a while ago */
    bf_join(&w);
    int done = atomic_load(&w.done);
    ck_assert_msg(done, "the burning thread did not finish its work");
    ck_assert_sampler(sampler_stop(), 0);

    sampler_stats st = tu_stats();
    ck_assert_msg(st.samples == holds,
                  "capacity %zu: %llu samples stored, expected %zu (signals %llu)", ask,
                  (unsigned long long)st.samples, holds, (unsigned long long)st.signals);
    ck_assert_msg(st.dropped > 0, "capacity %zu: nothing dropped out of %llu signals", ask,
                  (unsigned long long)st.signals);
    ck_assert_uint_eq(st.samples + st.dropped, st.signals);
    ck_assert_uint_ge(st.dropped_weight, st.dropped);
    ck_assert_uint_eq(st.weight + st.dropped_weight, st.signals + st.overruns);

    bf_scan c = {.w = {&w}, .nw = 1, .max_depth = 64, .ordered = true};
    bf_drain_all(&c);
    ck_assert_uint_eq(c.n, holds);
    ck_assert_uint_eq(c.weight, st.weight);
    ck_assert_uint_eq(c.bad, 0);
    ck_assert_uint_eq(c.out_of_order, 0);
}
END_TEST

/* Draining frees room: with capacity 4 and a drain every millisecond while a
 * thread burns, far more than 4 samples (here 24) pass through the buffer over
 * time, all come out oldest first, and drained + dropped == signals. */
START_TEST(drain_frees_room_and_keeps_order)
{
    bf_start(2000000ULL, 4);
    bf_worker w;
    bf_spawn(&w);
    bf_scan c = {.w = {&w}, .nw = 1, .max_depth = 64, .ordered = true};
    uint64_t deadline = tu_now_ns() + BF_WAIT_LIMIT_NS;
    while (c.n < 24) {
        ck_assert_msg(tu_now_ns() < deadline, "only %llu samples drained in 30 s",
                      (unsigned long long)c.n);
        bf_drain_all(&c);
        bf_nap();
    }
    bf_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
    bf_drain_all(&c);

    sampler_stats st = tu_stats();
    ck_assert_uint_eq(c.n, st.samples);
    ck_assert_uint_eq(c.weight, st.weight);
    ck_assert_uint_eq(st.samples + st.dropped, st.signals);
    ck_assert_uint_eq(c.bad, 0);
    ck_assert_uint_eq(c.out_of_order, 0);
}
END_TEST

typedef struct bf_stopper {
    int seen, stop_at;
    uint64_t last_time, out_of_order;
} bf_stopper;

static int bf_stop_cb(const sampler_sample *s, void *arg)
{
    bf_stopper *b = arg;
    if (s->time_ns < b->last_time)
        b->out_of_order++;
    b->last_time = s->time_ns;
    return ++b->seen == b->stop_at;
}

/* sampler_drain(max = 3) hands over 3; a callback returning non-zero stops the
 * drain after that sample; the rest comes out in order, then nothing. */
START_TEST(drain_honours_max_and_early_stop)
{
    bf_start(4000000ULL, 64);
    bf_worker w;
    bf_spawn(&w);
    bf_wait(samples, 8);
    bf_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
    uint64_t stored = tu_stats().samples;
    ck_assert_uint_ge(stored, 8);

    bf_stopper b = {.stop_at = -1};
    ck_assert_int_eq(sampler_drain(bf_stop_cb, &b, 3), 3);
    ck_assert_int_eq(b.seen, 3);
    b.stop_at = 4; /* the 4th sample in all stops this call */
    ck_assert_int_eq(sampler_drain(bf_stop_cb, &b, 0), 1);
    b.stop_at = -1;
    ck_assert_int_eq(sampler_drain(bf_stop_cb, &b, 0), (int)(stored - 4));
    ck_assert_int_eq(sampler_drain(bf_stop_cb, &b, 0), 0);
    ck_assert_uint_eq(b.out_of_order, 0);
}
END_TEST

/* Two producers at 1 ms on an 8-sample buffer while the main thread drains
 * concurrently: every sample read is whole (its thread's tid and arg, weight
 * >= 1, a pc), and drained + dropped == signals, drained weight == stats. */
START_TEST(two_producers_with_concurrent_drain)
{
    bf_start(1000000ULL, 8);
    bf_worker w[2];
    bf_spawn(&w[0]);
    bf_spawn(&w[1]);
    bf_scan c = {.w = {&w[0], &w[1]}, .nw = 2, .max_depth = 64};
    uint64_t deadline = tu_now_ns() + BF_WAIT_LIMIT_NS;
    while (c.n < 48) {
        ck_assert_msg(tu_now_ns() < deadline, "only %llu samples drained in 30 s",
                      (unsigned long long)c.n);
        bf_drain_all(&c);
        bf_nap();
    }
    bf_join(&w[0]);
    bf_join(&w[1]);
    ck_assert_sampler(sampler_stop(), 0);
    bf_drain_all(&c);

    sampler_stats st = tu_stats();
    ck_assert_uint_eq(c.bad, 0);
    ck_assert_uint_eq(c.n, st.samples);
    ck_assert_uint_eq(c.weight, st.weight);
    ck_assert_uint_eq(st.samples + st.dropped, st.signals);
    ck_assert_uint_eq(st.weight + st.dropped_weight, st.signals + st.overruns);
}
END_TEST

Suite *buffer_suite(void)
{
    Suite *s = suite_create("buffer");
    TCase *tc = tcase_create("buffer");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, full_buffer_drops_and_counts, 0,
                        (int)(sizeof bf_caps / sizeof bf_caps[0]));
    tcase_add_test(tc, drain_frees_room_and_keeps_order);
    tcase_add_test(tc, drain_honours_max_and_early_stop);
    tcase_add_test(tc, two_producers_with_concurrent_drain);
    suite_add_tcase(s, tc);
    return s;
}
