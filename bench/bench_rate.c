/*
 * bench_rate: what the smallest interval costs the sampled thread.
 *
 * One thread does a fixed amount of work (a loop of arithmetic, no system
 * calls) and we time it in wall-clock time: unsampled (the baseline), then
 * sampled at SAMPLER_INTERVAL_MIN_NS and at 1 ms, in CPU-clock and wall-clock
 * mode. The slowdown ratio is what the handler costs at that rate: a signal
 * round trip plus the walk per sample. Rounds interleave the cases, so a
 * noisy neighbour slows all alike; each figure is the median over rounds
 * (min-max beside it).
 *
 * The figure is what SAMPLER_INTERVAL_MIN_NS (100 µs) costs at worst: in
 * wall-clock mode every expiry is a high-resolution timer interrupt plus a
 * signal (measured here, in a VM: 55-65 µs of the thread's wall time per
 * sample, so the work runs 2.2-2.8x slower at 100 µs and livelocks near
 * 50 µs; 1.03-1.08x at 1 ms). The CPU clock is checked only at the scheduler
 * tick, so it stays near 1.0 at any interval.
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_SCALE (work multiplier,
 * default 1), BENCH_TABLE (see bench_util.h).
 */
#include "bench_util.h"

static volatile uint64_t bench_sink;

/* About 100 ms of CPU on this machine at scale 1. */
static void bench_work(uint64_t iters)
{
    uint64_t x = 1;
    for (uint64_t i = 0; i < iters; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    bench_sink = x;
}

typedef struct rate_case {
    const char *name;
    int sampled;
    sampler_clock clock;
    uint64_t interval_ns;
    double secs[64];
    double samples[64];
} rate_case;

static double bench_run(rate_case *c, uint64_t iters)
{
    if (c->sampled) {
        sampler_config cfg;
        BENCH_OK(sampler_config_init(&cfg, sizeof cfg));
        cfg.interval_ns = c->interval_ns;
        cfg.clock = c->clock;
        BENCH_OK(sampler_start(&cfg));
        BENCH_OK(sampler_thread_register(NULL));
    }
    uint64_t t0 = bench_now();
    bench_work(iters);
    uint64_t t1 = bench_now();
    if (c->sampled)
        BENCH_OK(sampler_stop());
    return (double)(t1 - t0) / 1e9;
}

int main(void)
{
    int rounds = 5;
    double scale = 1.0;
    const char *e = getenv("BENCH_ROUNDS");
    if (e != NULL && atoi(e) > 0)
        rounds = atoi(e) > 64 ? 64 : atoi(e);
    e = getenv("BENCH_SCALE");
    if (e != NULL && atof(e) > 0)
        scale = atof(e);
    uint64_t iters = (uint64_t)(100e6 * scale);

    rate_case cases[] = {
        {"unsampled", 0, SAMPLER_CLOCK_CPU, 0, {0}, {0}},
        {"wall, 100 us", 1, SAMPLER_CLOCK_WALL, SAMPLER_INTERVAL_MIN_NS, {0}, {0}},
        {"wall, 1 ms", 1, SAMPLER_CLOCK_WALL, 1000000, {0}, {0}},
        {"cpu, 100 us", 1, SAMPLER_CLOCK_CPU, SAMPLER_INTERVAL_MIN_NS, {0}, {0}},
    };
    enum { NC = sizeof cases / sizeof cases[0] };

    bench_work(iters / 4); /* warm up */
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NC; i++) {
            cases[i].secs[r] = bench_run(&cases[i], iters);
            sampler_stats st;
            BENCH_OK(sampler_get_stats(&st, sizeof st));
            cases[i].samples[r] = cases[i].sampled ? (double)st.samples : 0;
        }
    }

    printf("bench_rate: %llu iterations of work, %d rounds, SAMPLER_INTERVAL_MIN_NS = %llu ns\n",
           (unsigned long long)iters, rounds, (unsigned long long)SAMPLER_INTERVAL_MIN_NS);
    printf("%-14s %-26s %-26s %s\n", "case", "work time s (min-max)", "slowdown vs unsampled",
           "samples");
    char b1[64], b2[64];
    double base_copy[64];
    memcpy(base_copy, cases[0].secs, sizeof base_copy);
    double base_med = bench_summarize(base_copy, rounds).med;
    for (int i = 0; i < NC; i++) {
        bench_summary ratio = bench_ratio(cases[i].secs, cases[0].secs, rounds);
        double secs_copy[64], samp_copy[64];
        memcpy(secs_copy, cases[i].secs, sizeof secs_copy);
        memcpy(samp_copy, cases[i].samples, sizeof samp_copy);
        bench_summary t = bench_summarize(secs_copy, rounds);
        bench_summary n = bench_summarize(samp_copy, rounds);
        printf("%-14s %-26s %-26s %.0f\n", cases[i].name, bench_fmt(b1, sizeof b1, t, 3),
               bench_fmt(b2, sizeof b2, ratio, 3), n.med);
        if (i == 1) {
            /* The per-sample cost the slowdown implies. */
            double extra = (t.med - base_med) * 1e9;
            if (n.med > 0)
                printf("%-14s %.2f us per sample (extra wall time / samples)\n", "",
                       extra / n.med / 1e3);
            bench_table_row("rate", "work slowdown, wall clock at the minimum interval (100 us)",
                            b2, "same work unsampled", b2, "<= 4 (no livelock)",
                            bench_verdict(ratio.med, 0, 4));
        }
    }
    return 0;
}
