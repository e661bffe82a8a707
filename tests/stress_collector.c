/*
 * stress_collector: a long-run soak of the background collector. 8 busy
 * threads sampled at 1 kHz (interval 1 ms, CPU clock) with the default buffer
 * capacity, drained into a profile by its collector thread every 50 ms, for a
 * fixed time: --seconds N, else $STRESS_COLLECTOR_SECONDS, else 3 s (short
 * mode) or 600 s (--full / STRESS_FULL=1, as `make stress` runs it).
 *
 * Not part of `make check` (only `make stress` runs it).
 *
 * Asserted at the end (after sampler_stop() and the collector's final drain):
 * nothing was dropped (stats.dropped == 0), the profile holds every stored
 * sample (totals.samples == stats.samples, totals.weight == stats.weight),
 * every accepted signal was stored (signals == samples + dropped), and the
 * profile has a stack for every worker thread. Printed: samples, weight,
 * dropped, overruns, duration, and the workers' CPU time beside weight × 1 ms.
 */
#define _GNU_SOURCE
#include "stress_util.h"

#include <sampler/profile.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 8
#define INTERVAL_NS 1000000ULL /* 1 kHz */
#define PERIOD_MS 50

static _Atomic int quit;
static _Atomic int ready;
static _Atomic uint64_t cpu_ns[NTHREADS];

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    ST_RC(sampler_thread_register(NULL), 0);
    atomic_fetch_add(&ready, 1);
    uint64_t c0 = tu_thread_cpu_ns();
    while (!atomic_load(&quit)) {
        tu_burn_cpu_ns(1000000);
        st_beat(me, "burn");
    }
    /* Unregister before the final CPU reading: no sample after it. */
    ST_RC(sampler_thread_unregister(), 0, SAMPLER_ENOTSTARTED);
    atomic_store(&cpu_ns[me], tu_thread_cpu_ns() - c0);
    st_beat_done(me);
    return NULL;
}

int main(int argc, char **argv)
{
    st_init("stress_collector", argc, argv, 60, 900);
    const char *env = getenv("STRESS_COLLECTOR_SECONDS");
    long dflt = env != NULL && *env != '\0' ? strtol(env, NULL, 0) : (st_full() ? 600 : 3);
    long seconds = st_arg_long("seconds", dflt);
    ST_CHECK(seconds >= 1 && seconds <= 86400, "--seconds %ld: out of range", seconds);
    alarm((unsigned)seconds + 120); /* replaces st_init's limit: the run's own length */
    st_watchdog_start();
    st_beats_watch(10.0);
    int baseline = tu_count_timers();
    ST_CHECK(baseline >= 0, "cannot read /proc/self/timers");

    sampler_config cfg;
    ST_RC(sampler_config_init(&cfg, sizeof cfg), 0);
    cfg.interval_ns = INTERVAL_NS;
    cfg.clock = SAMPLER_CLOCK_CPU;
    /* buffer_capacity: the default */
    size_t capacity = cfg.buffer_capacity;
    ST_RC(sampler_start(&cfg), 0);

    sampler_profile *prof = NULL;
    ST_RC(sampler_profile_new(&prof, NULL), 0);
    ST_RC(sampler_profile_collector_start(prof, PERIOD_MS), 0);

    pthread_t th[NTHREADS];
    uint64_t t0 = tu_now_ns();
    for (int i = 0; i < NTHREADS; i++)
        ST_CHECK(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0, "create");
    while (atomic_load(&ready) < NTHREADS)
        tu_nap_us(1000);

    /* Progress every 10 s, so a long run shows it is alive. */
    uint64_t end = t0 + (uint64_t)seconds * 1000000000ULL, next = t0 + 10000000000ULL;
    while (tu_now_ns() < end) {
        tu_nap_us(100000);
        if (tu_now_ns() >= next) {
            next += 10000000000ULL;
            sampler_stats st = st_stats();
            sampler_profile_totals tot;
            ST_RC(sampler_profile_get_totals(prof, &tot, sizeof tot), 0);
            printf("stress_collector: %5.0f s: samples %llu, dropped %llu, in profile %llu\n",
                   (double)(tu_now_ns() - t0) / 1e9, (unsigned long long)st.samples,
                   (unsigned long long)st.dropped, (unsigned long long)tot.samples);
            fflush(stdout);
            ST_CHECK(st.dropped == 0, "%llu samples dropped after %.0f s",
                     (unsigned long long)st.dropped, (double)(tu_now_ns() - t0) / 1e9);
        }
    }
    atomic_store(&quit, 1);
    st_phase(30, "joining the workers");
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    double duration = (double)(tu_now_ns() - t0) / 1e9;
    st_phase(30, "stop and final drain");
    ST_RC(sampler_stop(), 0);
    ST_RC(sampler_profile_collector_stop(prof), 0);
    st_phase_end();
    st_check_stopped(baseline, "stop");

    sampler_stats st = st_stats();
    sampler_profile_totals tot;
    ST_RC(sampler_profile_get_totals(prof, &tot, sizeof tot), 0);
    uint64_t cpu = 0;
    for (int i = 0; i < NTHREADS; i++)
        cpu += atomic_load(&cpu_ns[i]);

    printf("stress_collector: %d threads, interval %llu ns (CPU clock), collector every %d ms, "
           "buffer capacity %zu (default)\n",
           NTHREADS, (unsigned long long)INTERVAL_NS, PERIOD_MS, capacity);
    printf("stress_collector: duration %.1f s; stats: signals %llu, samples %llu, weight %llu, "
           "overruns %llu, dropped %llu (weight %llu), stale %llu, timer failures %llu\n",
           duration, (unsigned long long)st.signals, (unsigned long long)st.samples,
           (unsigned long long)st.weight, (unsigned long long)st.overruns,
           (unsigned long long)st.dropped, (unsigned long long)st.dropped_weight,
           (unsigned long long)st.stale, (unsigned long long)st.timer_failures);
    printf("stress_collector: profile: samples %llu, weight %llu, stacks %llu, threads %llu\n",
           (unsigned long long)tot.samples, (unsigned long long)tot.weight,
           (unsigned long long)tot.stacks, (unsigned long long)tot.threads);
    printf("stress_collector: workers' CPU %.1f s, weight x interval %.1f s (%.1f%%), "
           "%.0f samples/s\n",
           (double)cpu / 1e9, (double)st.weight * INTERVAL_NS / 1e9,
           cpu ? 100.0 * (double)st.weight * INTERVAL_NS / (double)cpu : 0.0,
           (double)st.samples / duration);

    ST_CHECK(st.samples > 0, "no samples");
    ST_CHECK(st.dropped == 0, "%llu samples dropped (weight %llu)",
             (unsigned long long)st.dropped, (unsigned long long)st.dropped_weight);
    ST_CHECK(st.signals == st.samples + st.dropped, "signals %llu != samples + dropped",
             (unsigned long long)st.signals);
    ST_CHECK(tot.samples == st.samples, "profile samples %llu != stats samples %llu",
             (unsigned long long)tot.samples, (unsigned long long)st.samples);
    ST_CHECK(tot.weight == st.weight + st.delayed_weight,
             "profile weight %llu != stats weight %llu + delayed %llu",
             (unsigned long long)tot.weight, (unsigned long long)st.weight,
             (unsigned long long)st.delayed_weight);
    ST_CHECK(tot.threads == NTHREADS, "profile has %llu threads, expected %d",
             (unsigned long long)tot.threads, NTHREADS);
    sampler_profile_free(prof);
    printf("stress_collector: PASS\n");
    return 0;
}
