/*
 * attribution suite: every sample lands on the thread that burnt the CPU, in
 * proportion to the CPU it burnt, and weights (1 + overruns) keep the totals
 * exact even above the scheduler tick rate (CONFIG_HZ=250 here: 4 ms).
 *
 * Two threads run distinct noinline functions for 0.3 s and 0.9 s of their own
 * CPU time (CLOCK_THREAD_CPUTIME_ID). Only thread CPU time is compared, never
 * wall-clock time, so a busy machine slows the tests down but does not change
 * what they measure.
 *
 * The kernel reports a CPU timer's expirations at a tick that finds the thread
 * running; on a crowded machine that can be many intervals late, and whatever
 * is still unreported when the thread unregisters is lost. So each thread's CPU
 * time is measured up to its last sample: a walker (wrapping sampler_walk_fp)
 * records the thread's CPU clock in the handler, and each thread burns on after
 * its quota until one more sample has come in.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ATTR_LIGHT_NS 300000000ULL /* 0.3 s of CPU */
#define ATTR_HEAVY_NS 900000000ULL /* 0.9 s of CPU: 3x the light thread */

/* Per thread: both workers burn at once and must not race on one sink. */
static _Thread_local volatile uint64_t attr_sink;

/* The burn loop sits inside each work function, so the interrupted pc (the
 * first entry of a sample) lies in that function, not in a shared helper. */
#define ATTR_BURN(ns)                                                                  \
    do {                                                                               \
        uint64_t end_ = tu_thread_cpu_ns() + (ns);                                     \
        uint64_t x_ = attr_sink;                                                       \
        do {                                                                           \
            for (int i_ = 0; i_ < 20000; i_++)                                         \
                x_ = x_ * 6364136223846793005ULL + 1442695040888963407ULL;             \
            attr_sink = x_;                                                            \
        } while (tu_thread_cpu_ns() < end_);                                           \
    } while (0)

/* Non-static with default visibility (the test binary links with -rdynamic)
 * so that dladdr() names them. */
void attr_work_light(uint64_t ns);
void attr_work_heavy(uint64_t ns);

__attribute__((noinline)) void attr_work_light(uint64_t ns)
{
    ATTR_BURN(ns);
}

__attribute__((noinline)) void attr_work_heavy(uint64_t ns)
{
    ATTR_BURN(ns);
}

typedef struct attr_worker {
    pthread_t th;
    pthread_barrier_t *ready, *start;
    bool self_register; /* else the main thread registers it by tid */
    void (*work)(uint64_t);
    uint64_t burn_ns;
    pid_t tid;
    int reg_rc, unreg_rc;
    uint64_t cpu_ns; /* own CPU time from just before register to the last sample */
    bool no_last_sample; /* no sample came after the quota */
    /* set by attr_walker in the handler, on this thread */
    _Atomic uint64_t last_sample_cpu;
    atomic_uint nsig;
    /* filled while draining */
    uint64_t weight, samples, own_fn, other_fn, bad_arg;
} attr_worker;

/* The default walker, plus: note this thread's CPU time at each sample.
 * Async-signal-safe (clock_gettime and atomics). */
static int attr_walker(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                       void *walker_arg)
{
    int n = sampler_walk_fp(ctx, pcs, max_depth, walker_arg);
    attr_worker *w = ctx->thread_arg;
    if (w != NULL) {
        atomic_store(&w->last_sample_cpu, tu_thread_cpu_ns());
        atomic_fetch_add(&w->nsig, 1);
    }
    return n;
}

static void *attr_thread(void *p)
{
    attr_worker *w = p;
    w->tid = tu_gettid();
    uint64_t c0 = tu_thread_cpu_ns();
    if (w->self_register)
        w->reg_rc = sampler_thread_register(w);
    pthread_barrier_wait(w->ready);
    pthread_barrier_wait(w->start); /* both registered: burn side by side */
    if (w->reg_rc == 0) {
        w->work(w->burn_ns);
        /* Burn on (in the same function) until the kernel has reported the
         * quota: one more sample. Bounded by 30 s of wall time. */
        unsigned n0 = atomic_load(&w->nsig);
        uint64_t deadline = tu_now_ns() + 30000000000ULL;
        while (atomic_load(&w->nsig) == n0 && tu_now_ns() < deadline)
            w->work(1000000);
        w->no_last_sample = atomic_load(&w->nsig) == n0;
    }
    w->unreg_rc = sampler_thread_unregister();
    w->cpu_ns = atomic_load(&w->last_sample_cpu) - c0;
    return NULL;
}

typedef struct attr_drain {
    attr_worker *w[2];
    uint64_t stray;      /* samples of a thread that is neither worker */
    uint64_t max_weight; /* largest single weight seen */
    uint64_t total_weight, total_samples;
} attr_drain;

/* Which worker function, if any, the pc lies in. */
static int attr_fn_of(uintptr_t pc)
{
    Dl_info info;
    if (pc == 0 || dladdr((void *)pc, &info) == 0 || info.dli_saddr == NULL)
        return -1;
    if (info.dli_saddr == (void *)attr_work_light)
        return 0;
    if (info.dli_saddr == (void *)attr_work_heavy)
        return 1;
    return -1;
}

static int attr_drain_cb(const sampler_sample *s, void *arg)
{
    attr_drain *d = arg;
    d->total_weight += s->weight;
    d->total_samples++;
    if (s->weight > d->max_weight)
        d->max_weight = s->weight;
    int k = d->w[0]->tid == s->tid ? 0 : d->w[1]->tid == s->tid ? 1 : -1;
    if (k < 0) {
        d->stray++;
        return 0;
    }
    attr_worker *w = d->w[k];
    w->weight += s->weight;
    w->samples++;
    if (s->thread_arg != w)
        w->bad_arg++;
    bool own = false, other = false;
    for (int i = 0; i < s->depth; i++) {
        int f = attr_fn_of(s->pcs[i]);
        own |= f == k;
        other |= f == 1 - k;
    }
    w->own_fn += own;
    w->other_fn += other;
    return 0;
}

/* Run both workers at `interval_ns`, drain, and check the shares. */
static void attr_run(uint64_t interval_ns, bool self_register, sampler_stats *st_out,
                     attr_drain *d)
{
    static attr_worker w[2];
    memset(w, 0, sizeof w);
    memset(d, 0, sizeof *d);
    pthread_barrier_t ready, start;
    pthread_barrier_init(&ready, NULL, 3);
    pthread_barrier_init(&start, NULL, 3);
    w[0].work = attr_work_light;
    w[0].burn_ns = ATTR_LIGHT_NS;
    w[1].work = attr_work_heavy;
    w[1].burn_ns = ATTR_HEAVY_NS;

    sampler_config cfg;
    tu_config(&cfg, interval_ns);
    cfg.walker = attr_walker;
    ck_assert_sampler(sampler_start(&cfg), 0);
    for (int i = 0; i < 2; i++) {
        w[i].ready = &ready;
        w[i].start = &start;
        w[i].self_register = self_register;
        ck_assert_int_eq(pthread_create(&w[i].th, NULL, attr_thread, &w[i]), 0);
    }
    pthread_barrier_wait(&ready);
    if (!self_register)
        for (int i = 0; i < 2; i++)
            w[i].reg_rc = sampler_thread_register_tid(w[i].tid, &w[i]);
    pthread_barrier_wait(&start);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i].th, NULL);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&start);
    ck_assert_sampler(w[0].reg_rc, 0);
    ck_assert_sampler(w[1].reg_rc, 0);
    ck_assert_sampler(w[0].unreg_rc, 0);
    ck_assert_sampler(w[1].unreg_rc, 0);
    ck_assert_msg(!w[0].no_last_sample && !w[1].no_last_sample,
                  "no sample in 30 s after a thread's quota");
    ck_assert_sampler(sampler_stop(), 0);

    *st_out = tu_stats();
    d->w[0] = &w[0];
    d->w[1] = &w[1];
    ck_assert_sampler(tu_drain_all(attr_drain_cb, d), 0);

    const sampler_stats *st = st_out;
    /* Bookkeeping: what was drained is what the stats say was stored. */
    ck_assert_uint_eq(st->dropped, 0);
    ck_assert_uint_eq(d->total_samples, st->samples);
    ck_assert_uint_eq(d->total_weight, st->weight);
    ck_assert_uint_eq(st->signals, st->samples);
    ck_assert_uint_eq(st->weight, st->samples + st->overruns);
    ck_assert_uint_eq(d->stray, 0); /* the main thread was never registered */

    /* Attribution: each sample sits on its own thread, with its own arg, in
     * its own function, never in the other thread's. */
    uint64_t total_cpu = w[0].cpu_ns + w[1].cpu_ns;
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(w[i].samples > 0, "worker %d has no samples", i);
        ck_assert_uint_eq(w[i].bad_arg, 0);
        ck_assert_msg(w[i].other_fn == 0,
                      "worker %d: %llu samples show the other thread's function", i,
                      (unsigned long long)w[i].other_fn);
        /* TSan holds a signal until the thread's next libc call, which may
         * come after its function returned (barrier, clock): 7 in 10 there */
        ck_assert_msg(w[i].own_fn * 10 >= w[i].samples * (TU_TSAN ? 7 : 9),
                      "worker %d: only %llu of %llu samples show its own function", i,
                      (unsigned long long)w[i].own_fn, (unsigned long long)w[i].samples);
        ck_assert_msg(w[i].cpu_ns >= w[i].burn_ns, "worker %d burnt too little", i);
    }

    /* Shares: weight share within 0.05 of the measured CPU share. */
    uint64_t total_w = w[0].weight + w[1].weight;
    for (int i = 0; i < 2; i++) {
        double wshare = (double)w[i].weight / (double)total_w;
        double cshare = (double)w[i].cpu_ns / (double)total_cpu;
        ck_assert_msg(wshare > cshare - 0.05 && wshare < cshare + 0.05,
                      "interval %llu ns, worker %d: weight share %.3f (%llu of %llu), CPU "
                      "share %.3f (%.1f of %.1f ms)",
                      (unsigned long long)interval_ns, i, wshare,
                      (unsigned long long)w[i].weight, (unsigned long long)total_w, cshare,
                      w[i].cpu_ns / 1e6, total_cpu / 1e6);
    }
    /* Totals: weight x interval within 10% of the CPU both threads used. */
    double sampled = (double)total_w * (double)interval_ns;
    ck_assert_msg(sampled > 0.9 * (double)total_cpu && sampled < 1.1 * (double)total_cpu,
                  "interval %llu ns: weight %llu x interval = %.1f ms, CPU used %.1f ms",
                  (unsigned long long)interval_ns, (unsigned long long)total_w, sampled / 1e6,
                  total_cpu / 1e6);
}

/* At 5 ms (slower than the 4 ms tick) each thread's weight share matches its
 * CPU share and the weight total matches the CPU used. */
START_TEST(attribution_shares_match_cpu_at_5ms)
{
    sampler_stats st;
    attr_drain d;
    attr_run(5000000ULL, true, &st, &d);
}
END_TEST

/* The same with both threads registered by tid from the main thread: each
 * timer runs on its own thread's CPU clock, not the caller's or the
 * process's (those would give both threads the same share). */
START_TEST(attribution_by_tid_shares_match_cpu_at_5ms)
{
    sampler_stats st;
    attr_drain d;
    attr_run(5000000ULL, false, &st, &d);
}
END_TEST

/* At 1 ms (faster than the tick) the kernel folds expirations into overruns:
 * they are counted in stats.overruns, show up as weights > 1, and the
 * weighted shares and totals still match the CPU used. */
START_TEST(attribution_overruns_keep_totals_at_1ms)
{
    sampler_stats st;
    attr_drain d;
    attr_run(1000000ULL, true, &st, &d);
    ck_assert_msg(st.overruns > 0, "no overruns at 1 ms with a 4 ms tick");
    ck_assert_msg(d.max_weight > 1, "no sample with weight > 1 at 1 ms");
}
END_TEST

Suite *attribution_suite(void)
{
    Suite *s = suite_create("attribution");
    TCase *tc = tcase_create("shares");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, attribution_shares_match_cpu_at_5ms);
    tcase_add_test(tc, attribution_by_tid_shares_match_cpu_at_5ms);
    tcase_add_test(tc, attribution_overruns_keep_totals_at_1ms);
    suite_add_tcase(s, tc);
    return s;
}
