/*
 * stress_churn: thread churn. Rounds of short-lived threads that register
 * themselves (sampler_thread_register) at a 1 ms interval, burn a little CPU
 * and exit without unregistering, while another thread drains continuously.
 *
 * --full: 100 rounds x 50 threads per run, 20 runs in a row; short (make
 * check): 10 rounds x 50 threads, 2 runs. Each run is a child process watched
 * by this one, so a crash or a hang in one run is counted (and fails the
 * program) instead of ending it: the report says how many runs passed,
 * failed, crashed and hung.
 *
 * In every run: each thread's registration returns 0; after each round's
 * threads are joined the registry is empty (their key destructors deleted
 * their timers) and /proc/self/timers is at its baseline; every drained
 * sample carries the thread_arg its own thread registered with (the record
 * names the tid); after stop: threads == 0, timers back to baseline,
 * signals == samples + dropped, and samples were taken.
 */
#define _GNU_SOURCE
#include "stress_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INTERVAL_NS 1000000ULL
#define THREADS_PER_ROUND 50
#define MAX_ROUNDS 1000

typedef struct churn_rec {
    _Atomic pid_t tid;
    _Atomic int rc;
    uint32_t burn_us;
} churn_rec;

static churn_rec *recs; /* rounds x THREADS_PER_ROUND, never freed while sampling */
static long nrounds;

static void *churn_main(void *arg)
{
    churn_rec *r = arg;
    atomic_store(&r->tid, tu_gettid());
    atomic_store(&r->rc, sampler_thread_register(r));
    tu_burn_cpu_ns((uint64_t)r->burn_us * 1000);
    return NULL; /* no unregister: the key destructor must clean up */
}

/* ---- the drainer ------------------------------------------------------------- */

static _Atomic int drain_quit;
static _Atomic uint64_t drained, drain_calls, bad_arg, zero_depth;

static int drain_cb(const sampler_sample *s, void *arg)
{
    (void)arg;
    atomic_fetch_add(&drained, 1);
    const churn_rec *r = s->thread_arg;
    bool in_table = r >= recs && r < recs + nrounds * THREADS_PER_ROUND;
    if (!in_table || atomic_load(&r->tid) != s->tid)
        atomic_fetch_add(&bad_arg, 1);
    if (s->depth < 1)
        atomic_fetch_add(&zero_depth, 1);
    return 0;
}

static void *drainer_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&drain_quit)) {
        ST_COUNT_OR(sampler_drain(drain_cb, NULL, 64), 0);
        atomic_fetch_add(&drain_calls, 1);
        tu_nap_us(200);
    }
    return NULL;
}

/* ---- one run (in a child process) ------------------------------------------------ */

static int run_once(int run, uint32_t seed)
{
    uint32_t rng = seed;
    st_watchdog_start();
    int baseline = tu_count_timers();
    ST_CHECK(baseline >= 0, "cannot read /proc/self/timers");
    recs = calloc((size_t)nrounds * THREADS_PER_ROUND, sizeof *recs);
    ST_CHECK(recs != NULL, "out of memory");

    sampler_config cfg;
    ST_RC(sampler_config_init(&cfg, sizeof cfg), 0);
    cfg.interval_ns = INTERVAL_NS;
    cfg.buffer_capacity = 4096;
    ST_RC(sampler_start(&cfg), 0);
    pthread_t drainer;
    ST_CHECK(pthread_create(&drainer, NULL, drainer_main, NULL) == 0, "pthread_create");

    uint64_t t0 = tu_now_ns();
    for (long r = 0; r < nrounds; r++) {
        st_phase(30, "run %d round %ld", run, r);
        pthread_t th[THREADS_PER_ROUND];
        churn_rec *rr = &recs[r * THREADS_PER_ROUND];
        for (int i = 0; i < THREADS_PER_ROUND; i++) {
            rr[i].burn_us = 100 + st_rand(&rng) % 2000; /* 0.1 to 2.1 ms of CPU */
            int e = pthread_create(&th[i], NULL, churn_main, &rr[i]);
            ST_CHECK(e == 0, "pthread_create: %s", strerror(e));
        }
        for (int i = 0; i < THREADS_PER_ROUND; i++)
            ST_CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
        for (int i = 0; i < THREADS_PER_ROUND; i++)
            ST_CHECK(atomic_load(&rr[i].rc) == 0, "round %ld thread %d: register: %s", r, i,
                     sampler_err_name(atomic_load(&rr[i].rc)));
        sampler_stats st = st_stats();
        ST_CHECK(st.threads == 0, "round %ld: %llu threads still registered after join", r,
                 (unsigned long long)st.threads);
        int timers = tu_count_timers();
        ST_CHECK(timers == baseline, "round %ld: %d timers after join, baseline %d", r,
                 timers, baseline);
    }
    st_phase(30, "run %d: stop", run);
    atomic_store(&drain_quit, 1);
    pthread_join(drainer, NULL);
    ST_RC(sampler_stop(), 0);
    st_check_stopped(baseline, "after stop");
    int n = tu_drain_all(drain_cb, NULL);
    ST_CHECK(n == 0, "drain after stop returned %d", n);
    st_phase_end();
    sampler_stats st = st_stats();
    printf("stress_churn: run %d: %ld rounds x %d threads in %.2f s: signals %llu = samples "
           "%llu + dropped %llu (weight %llu, stale %llu); drained %llu in %llu drain calls\n",
           run, nrounds, THREADS_PER_ROUND, (double)(tu_now_ns() - t0) / 1e9,
           (unsigned long long)st.signals, (unsigned long long)st.samples,
           (unsigned long long)st.dropped, (unsigned long long)st.weight,
           (unsigned long long)st.stale, (unsigned long long)atomic_load(&drained),
           (unsigned long long)atomic_load(&drain_calls));
    ST_CHECK(atomic_load(&drained) == st.samples, "drained %llu, stored %llu",
             (unsigned long long)atomic_load(&drained), (unsigned long long)st.samples);
    ST_CHECK(atomic_load(&bad_arg) == 0, "%llu samples with another thread's thread_arg",
             (unsigned long long)atomic_load(&bad_arg));
    ST_CHECK(atomic_load(&zero_depth) == 0, "%llu samples without frames",
             (unsigned long long)atomic_load(&zero_depth));
    ST_CHECK(st.samples > 0, "no samples from %ld short-lived threads",
             nrounds * THREADS_PER_ROUND);
    return 0;
}

int main(int argc, char **argv)
{
    st_init("stress_churn", argc, argv, 300, 3600);
    nrounds = st_arg_long("rounds", st_full() ? 100 : 10);
    long runs = st_arg_long("runs", st_full() ? 20 : 2);
    double run_limit_s = (double)st_arg_long("run-limit", 300);
    if (nrounds < 1 || nrounds > MAX_ROUNDS)
        nrounds = 10;
    long ok = 0, failed = 0, crashed = 0, hung = 0;
    uint64_t t0 = tu_now_ns();
    for (long run = 0; run < runs; run++) {
        uint32_t seed = st_seed() + (uint32_t)run * 7919u;
        pid_t pid = fork();
        ST_CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            _exit(run_once((int)run, seed));
        /* Bounded wait: a run that outlives run_limit_s is a hang. */
        int status = 0;
        pid_t w = tu_waitpid_within(pid, run_limit_s, &status);
        if (w == 0) {
            hung++;
            printf("stress_churn: run %ld: HANG (killed after %.0f s)\n", run, run_limit_s);
        } else if (WIFSIGNALED(status)) {
            crashed++;
            printf("stress_churn: run %ld: CRASH (signal %d)\n", run, WTERMSIG(status));
        } else if (WEXITSTATUS(status) == ST_EXIT_HANG) {
            hung++;
        } else if (WEXITSTATUS(status) != 0) {
            failed++;
        } else {
            ok++;
        }
    }
    printf("stress_churn: %ld runs in %.1f s: %ld passed, %ld failed, %ld crashed, %ld "
           "hung\n",
           runs, (double)(tu_now_ns() - t0) / 1e9, ok, failed, crashed, hung);
    if (ok != runs)
        return ST_EXIT_FAIL;
    printf("stress_churn: PASS\n");
    return 0;
}
