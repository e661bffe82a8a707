/*
 * stress_cycles: start/stop cycles with 8 busy threads sampled at a 100 µs
 * interval (1000 cycles with --full, 100 in the short mode run by make check).
 *
 * Each cycle starts the sampler, registers the workers in one of three ways
 * (by tid from this thread, sampler_register_all_threads(), and half of the
 * workers registering themselves as soon as they see the new cycle, racing
 * with the stop), lets them burn, sometimes drains, pauses and resumes in the
 * middle, and stops. After every stop: the registry is empty
 * (stats.threads == 0), /proc/self/timers is back to its count before the
 * first start, and signals == samples + dropped. Every drained sample names
 * one of our threads and has depth >= 1. Every tenth cycle uses a two-sample
 * buffer, so drops happen and are accounted for.
 */
#define _GNU_SOURCE
#include "stress_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define NWORKERS 8
#define NSELF 4 /* workers NSELF..NWORKERS-1 register themselves */
#define INTERVAL_NS 100000ULL
#define STOP_LIMIT_S 10.0

typedef struct worker {
    int idx;
    pthread_t th;
    _Atomic pid_t tid;
    _Atomic int quit;
    _Atomic uint64_t self_ok, self_late; /* registered / refused (stopped or taken) */
} worker;

static worker workers[NWORKERS];
static _Atomic unsigned epoch; /* bumped after each start */
static pid_t main_tid;

static void *worker_main(void *arg)
{
    worker *w = arg;
    atomic_store(&w->tid, tu_gettid());
    unsigned seen = 0;
    while (!atomic_load(&w->quit)) {
        if (w->idx >= NSELF && atomic_load(&epoch) != seen) {
            seen = atomic_load(&epoch);
            /* Races with this cycle's register_all (EREGISTERED) and stop
             * (ENOTSTARTED); anything else is a bug. */
            int rc = ST_RC(sampler_thread_register(w), 0, SAMPLER_EREGISTERED,
                           SAMPLER_ENOTSTARTED);
            if (rc == 0)
                atomic_fetch_add(&w->self_ok, 1);
            else
                atomic_fetch_add(&w->self_late, 1);
        }
        tu_burn_cpu_ns(200000);
    }
    return NULL;
}

typedef struct tally {
    uint64_t samples, bad_tid, zero_depth;
} tally;

static bool known_tid(pid_t tid)
{
    if (tid == main_tid || tid == st_watchdog_tid())
        return true;
    for (int i = 0; i < NWORKERS; i++)
        if (atomic_load(&workers[i].tid) == tid)
            return true;
    return false;
}

static int tally_cb(const sampler_sample *s, void *arg)
{
    tally *t = arg;
    t->samples++;
    if (!known_tid(s->tid))
        t->bad_tid++;
    if (s->depth < 1)
        t->zero_depth++;
    return 0;
}

int main(int argc, char **argv)
{
    st_init("stress_cycles", argc, argv, 120, 1800);
    long cycles = st_arg_long("cycles", st_full() ? 1000 : 100);
    uint32_t rng = st_seed();
    main_tid = tu_gettid();
    st_watchdog_start();

    int baseline = tu_count_timers();
    ST_CHECK(baseline >= 0, "cannot read /proc/self/timers");
    for (int i = 0; i < NWORKERS; i++) {
        workers[i].idx = i;
        ST_CHECK(pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) == 0,
                 "pthread_create");
    }
    for (int i = 0; i < NWORKERS; i++)
        while (atomic_load(&workers[i].tid) == 0)
            tu_nap_us(100);

    uint64_t t0 = tu_now_ns();
    uint64_t sum_signals = 0, sum_samples = 0, sum_dropped = 0, sum_overruns = 0;
    uint64_t sum_stale = 0, sum_paused = 0, cycles_with_samples = 0, cycles_with_drops = 0;
    uint64_t max_stop_ns = 0, by_tid = 0, by_all = 0;
    tally all = {0};

    for (long c = 0; c < cycles; c++) {
        st_phase(STOP_LIMIT_S * 3, "cycle %ld", c);
        sampler_config cfg;
        ST_RC(sampler_config_init(&cfg, sizeof cfg), 0);
        cfg.interval_ns = INTERVAL_NS;
        cfg.buffer_capacity = c % 10 == 0 ? 2 : 4096;
        ST_RC(sampler_start(&cfg), 0);
        atomic_fetch_add(&epoch, 1);

        if (c % 4 == 0) {
            ST_COUNT_OR(sampler_register_all_threads(), 0);
            by_all++;
        } else {
            for (int i = 0; i < NSELF; i++)
                ST_RC(sampler_thread_register_tid(atomic_load(&workers[i].tid), &workers[i]),
                      0);
            by_tid++;
        }
        if (c % 3 == 0)
            ST_RC(sampler_thread_register(NULL), 0, SAMPLER_EREGISTERED);

        /* Let them burn: until 16 signals or 20 ms, whichever comes first. */
        uint64_t until = tu_now_ns() + 20000000ULL;
        bool paused_once = false;
        while (st_stats().signals < 16 && tu_now_ns() < until) {
            if (c % 5 == 0 && !paused_once && tu_now_ns() + 10000000ULL > until) {
                ST_RC(sampler_pause(), 0);
                tu_nap_us(500);
                ST_RC(sampler_resume(), 0);
                paused_once = true;
            }
            if (c % 2 == 0 && c % 10 != 0) /* the tiny-buffer cycles must drop */
                ST_COUNT_OR(sampler_drain(tally_cb, &all, st_rand(&rng) % 8), 0);
            if (c % 3 == 0)
                tu_burn_cpu_ns(300000);
            else
                tu_nap_us(300);
        }

        uint64_t s0 = tu_now_ns();
        ST_RC(sampler_stop(), 0);
        uint64_t dt = tu_now_ns() - s0;
        if (dt > max_stop_ns)
            max_stop_ns = dt;
        ST_CHECK(dt < (uint64_t)(STOP_LIMIT_S * 1e9), "cycle %ld: stop took %.3f s", c,
                 (double)dt / 1e9);

        char when[48];
        snprintf(when, sizeof when, "cycle %ld", c);
        st_check_stopped(baseline, when);
        sampler_stats st = st_stats();
        int n = tu_drain_all(tally_cb, &all);
        ST_CHECK(n == 0, "drain after stop returned %d", n);
        sum_signals += st.signals;
        sum_samples += st.samples;
        sum_dropped += st.dropped;
        sum_overruns += st.overruns;
        sum_stale += st.stale;
        sum_paused += st.paused;
        cycles_with_samples += st.samples > 0;
        cycles_with_drops += st.dropped > 0;
        if ((c + 1) % 100 == 0)
            printf("stress_cycles: %ld cycles, %llu signals so far\n", c + 1,
                   (unsigned long long)sum_signals);
    }
    st_phase_end();

    for (int i = 0; i < NWORKERS; i++) {
        atomic_store(&workers[i].quit, 1);
        pthread_join(workers[i].th, NULL);
    }
    uint64_t self_ok = 0, self_late = 0;
    for (int i = NSELF; i < NWORKERS; i++) {
        self_ok += atomic_load(&workers[i].self_ok);
        self_late += atomic_load(&workers[i].self_late);
    }
    double secs = (double)(tu_now_ns() - t0) / 1e9;
    printf("stress_cycles: %ld cycles in %.1f s (%ld by tid, %ld register_all); "
           "longest stop %.2f ms\n",
           cycles, secs, (long)by_tid, (long)by_all, (double)max_stop_ns / 1e6);
    printf("stress_cycles: signals %llu = samples %llu + dropped %llu; overruns %llu, "
           "stale %llu, paused %llu\n",
           (unsigned long long)sum_signals, (unsigned long long)sum_samples,
           (unsigned long long)sum_dropped, (unsigned long long)sum_overruns,
           (unsigned long long)sum_stale, (unsigned long long)sum_paused);
    printf("stress_cycles: %llu cycles had samples, %llu had drops; drained %llu samples; "
           "self registrations %llu ok, %llu refused (taken or stopped)\n",
           (unsigned long long)cycles_with_samples, (unsigned long long)cycles_with_drops,
           (unsigned long long)all.samples, (unsigned long long)self_ok,
           (unsigned long long)self_late);
    ST_CHECK(all.samples == sum_samples, "drained %llu samples, stored %llu",
             (unsigned long long)all.samples, (unsigned long long)sum_samples);
    ST_CHECK(all.bad_tid == 0, "%llu samples of unknown threads",
             (unsigned long long)all.bad_tid);
    ST_CHECK(all.zero_depth == 0, "%llu samples without frames",
             (unsigned long long)all.zero_depth);
    ST_CHECK(cycles_with_samples > 0, "no cycle got a sample");
    ST_CHECK(self_ok > 0, "no worker ever registered itself");
    printf("stress_cycles: PASS\n");
    return 0;
}
