/*
 * The workload behind Part 4 (accuracy) and Part 5 (overhead) of make bench:
 * one process, N threads, each running four distinct functions one after the
 * other with CPU work in the ratio 1:2:3:4, under one profiler or none.
 * bench_accuracy runs this program once per round and configuration, each
 * time in a fresh process, and reads the one RESULT line it prints.
 *
 * Built twice from this file: bench_workload links libsampler;
 * bench_workload_gperf (-DBENCH_WITH_GPERF) links gperftools' libprofiler
 * instead, so that the two profilers never share a process (gperftools arms
 * its timer and takes SIGPROF at static initialisation, before main).
 *
 *   bench_workload calibrate
 *       prints "CALIBRATE ns_per_iter=X" (thread CPU time per loop iteration)
 *   bench_workload MODE THREADS HZ ITERS_PER_UNIT
 *       MODE: none, fp (libsampler, frame-pointer walker), libunwind
 *       (libsampler, libunwind walker); bench_workload_gperf: none, gperf
 *       (gperftools reads CPUPROFILE_FREQUENCY, CPUPROFILE_PER_THREAD_TIMERS
 *       from the environment, which bench_accuracy sets).
 *
 * Ground truth: each thread reads its own CPU clock before and after each
 * function, so the CPU time of every function is measured, not assumed.
 * Samples are attributed by their innermost pc (the interrupted instruction),
 * looked up with dladdr (the program is linked with -rdynamic); the work
 * functions call nothing, so a sample in one of them has its pc inside it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_WITH_GPERF
#include <gperftools/profiler.h>
#else
#include <sampler.h>
#endif

#define NFN 4
#define MAX_THREADS 1024

/* Four distinct loops (different constants, so identical-code folding cannot
 * merge them), none calling anything. noipa keeps them out of every
 * interprocedural optimisation. Each iteration is a dependent xorshift step,
 * about the same cost in every function. */
#define BENCH_WORK_FN(k, a, b, c)                                                        \
    __attribute__((noinline, noipa)) uint64_t bench_work_##k(uint64_t n, uint64_t x)    \
    {                                                                                    \
        for (uint64_t i = 0; i < n; i++) {                                               \
            x ^= x << (a);                                                               \
            x ^= x >> (b);                                                               \
            x ^= x << (c);                                                               \
        }                                                                                \
        return x;                                                                        \
    }
uint64_t bench_work_0(uint64_t n, uint64_t x);
uint64_t bench_work_1(uint64_t n, uint64_t x);
uint64_t bench_work_2(uint64_t n, uint64_t x);
uint64_t bench_work_3(uint64_t n, uint64_t x);
BENCH_WORK_FN(0, 13, 7, 17)
BENCH_WORK_FN(1, 11, 19, 9)
BENCH_WORK_FN(2, 5, 27, 25)
BENCH_WORK_FN(3, 21, 35, 4)

typedef uint64_t (*work_fn)(uint64_t, uint64_t);
static const work_fn WORK[NFN] = {bench_work_0, bench_work_1, bench_work_2, bench_work_3};

#define DIE(...)                                                                         \
    do {                                                                                 \
        fprintf(stderr, "bench_workload: " __VA_ARGS__);                                 \
        fputc('\n', stderr);                                                             \
        exit(1);                                                                         \
    } while (0)

static uint64_t ns_of(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

typedef struct worker {
    pthread_t th;
    uint64_t cpu[NFN]; /* thread CPU ns spent in each function */
    uint64_t sink;
} worker;

static worker workers[MAX_THREADS];
static pthread_barrier_t go;
static uint64_t iters_per_unit;
static const char *mode;

static void *worker_main(void *arg)
{
    worker *w = arg;
#ifdef BENCH_WITH_GPERF
    /* Starts this thread's timer in per-thread mode; in setitimer mode it
     * only notes that timers are shared. */
    ProfilerRegisterThread();
#else
    if (strcmp(mode, "none") != 0) {
        int rc = sampler_thread_register(w);
        if (rc < 0)
            DIE("sampler_thread_register: %s", sampler_strerror(rc));
    }
#endif
    pthread_barrier_wait(&go);
    uint64_t x = (uint64_t)(uintptr_t)w | 1;
    for (int k = 0; k < NFN; k++) {
        uint64_t t0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
        x = WORK[k](iters_per_unit * (uint64_t)(k + 1), x);
        w->cpu[k] = ns_of(CLOCK_THREAD_CPUTIME_ID) - t0;
    }
    w->sink = x;
#ifndef BENCH_WITH_GPERF
    if (strcmp(mode, "none") != 0)
        sampler_thread_unregister();
#endif
    return NULL;
}

/* ---- attribution -------------------------------------------------------------- */

/* Which work function holds pc (0..3), or -1. A small cache: the loops
 * have a handful of distinct pcs. */
static struct {
    uintptr_t pc;
    int fn;
} cache[256];
static int ncache;

static int fn_of(uintptr_t pc)
{
    for (int i = 0; i < ncache; i++)
        if (cache[i].pc == pc)
            return cache[i].fn;
    Dl_info info;
    int fn = -1;
    if (dladdr((void *)pc, &info) != 0 && info.dli_saddr != NULL)
        for (int k = 0; k < NFN; k++)
            if (info.dli_saddr == (void *)WORK[k])
                fn = k;
    if (ncache < (int)(sizeof cache / sizeof cache[0])) {
        cache[ncache].pc = pc;
        cache[ncache].fn = fn;
        ncache++;
    }
    return fn;
}

static double weight_in[NFN]; /* sample weight (intervals) per function */
static double weight_other;
static uint64_t nsamples;

static void attribute(uintptr_t pc, double weight)
{
    int k = fn_of(pc);
    if (k >= 0)
        weight_in[k] += weight;
    else
        weight_other += weight;
    nsamples++;
}

#ifdef BENCH_WITH_GPERF
/* gperftools' legacy CPU profile: machine words; a 5-word header
 * (0, 3, 0, period in us, 0), then records (count, depth, pc[depth]) up to
 * the trailer (0, 1, 0), then the text of /proc/self/maps. pc[0] is the
 * interrupted pc. Returns the period in ns. */
static uint64_t read_gperf_profile(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        DIE("cannot open the gperftools profile %s", path);
    uintptr_t hdr[5];
    if (fread(hdr, sizeof hdr[0], 5, f) != 5 || hdr[0] != 0 || hdr[1] != 3)
        DIE("%s: not a gperftools CPU profile", path);
    uint64_t period_ns = (uint64_t)hdr[3] * 1000;
    for (;;) {
        uintptr_t rec[2];
        if (fread(rec, sizeof rec[0], 2, f) != 2)
            DIE("%s: truncated", path);
        uintptr_t count = rec[0], depth = rec[1];
        if (depth == 0 || depth > 4096)
            DIE("%s: bad record depth %lu", path, (unsigned long)depth);
        uintptr_t pcs[4096];
        if (fread(pcs, sizeof pcs[0], depth, f) != depth)
            DIE("%s: truncated", path);
        if (count == 0 && depth == 1 && pcs[0] == 0)
            break;
        for (uintptr_t i = 0; i < count; i++)
            attribute(pcs[0], 1.0);
    }
    fclose(f);
    return period_ns;
}
#else
static int on_sample(const sampler_sample *s, void *arg)
{
    (void)arg;
    if (s->depth > 0)
        attribute(s->pcs[0], (double)s->weight);
    return 0;
}
#endif

/* ---- main --------------------------------------------------------------------- */

static void calibrate(void)
{
    /* Median of 5 runs of ~50 ms of work_1 on this thread's CPU clock. */
    uint64_t n = 20000000, x = 12345;
    double r[5];
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
        x = bench_work_1(n, x);
        r[i] = (double)(ns_of(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)n;
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (r[j] < r[i]) {
                double t = r[i];
                r[i] = r[j];
                r[j] = t;
            }
    printf("CALIBRATE ns_per_iter=%.6f sink=%llu\n", r[2], (unsigned long long)(x & 1));
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "calibrate") == 0) {
        calibrate();
        return 0;
    }
    if (argc != 5)
        DIE("usage: %s calibrate | MODE THREADS HZ ITERS_PER_UNIT", argv[0]);
    mode = argv[1];
    int nthreads = atoi(argv[2]);
    long hz = atol(argv[3]);
    iters_per_unit = strtoull(argv[4], NULL, 10);
    if (nthreads < 1 || nthreads > MAX_THREADS || hz < 1 || iters_per_unit < 1)
        DIE("bad arguments");
#ifdef BENCH_WITH_GPERF
    int profiled = strcmp(mode, "gperf") == 0;
    if (!profiled && strcmp(mode, "none") != 0)
        DIE("unknown mode %s (none or gperf)", mode);
    char path[] = "/tmp/bench_gperf_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        DIE("mkstemp failed");
    close(fd);
    if (profiled && !ProfilerStart(path))
        DIE("ProfilerStart failed");
#else
    int profiled = strcmp(mode, "none") != 0;
    if (profiled) {
        sampler_config cfg;
        sampler_config_init(&cfg, sizeof cfg);
        cfg.interval_ns = 1000000000ULL / (uint64_t)hz;
        /* Drained once, at the end: room for 64 threads x 2 s at the CPU
         * clock's 250 samples per second, within SAMPLER_BUFFER_MAX_BYTES. */
        cfg.buffer_capacity = 1u << 17;
        if (strcmp(mode, "libunwind") == 0) {
            if (!sampler_walk_libunwind_available())
                DIE("this build has no libunwind walker");
            cfg.walker = sampler_walk_libunwind;
        } else if (strcmp(mode, "fp") != 0) {
            DIE("unknown mode %s (none, fp or libunwind)", mode);
        }
        int rc = sampler_start(&cfg);
        if (rc < 0)
            DIE("sampler_start: %s", sampler_strerror(rc));
    }
#endif
    pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0)
            DIE("pthread_create failed");
    pthread_barrier_wait(&go);
    uint64_t wall0 = ns_of(CLOCK_MONOTONIC);
    uint64_t pcpu0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < nthreads; i++)
        pthread_join(workers[i].th, NULL);
    uint64_t wall = ns_of(CLOCK_MONOTONIC) - wall0;
    uint64_t pcpu = ns_of(CLOCK_PROCESS_CPUTIME_ID) - pcpu0;

    uint64_t period_ns = 1000000000ULL / (uint64_t)hz;
    unsigned long long dropped = 0, overruns = 0;
#ifdef BENCH_WITH_GPERF
    if (profiled) {
        ProfilerStop();
        period_ns = read_gperf_profile(path);
    }
    unlink(path);
#else
    if (profiled) {
        sampler_stats st;
        sampler_stop();
        sampler_get_stats(&st, sizeof st);
        dropped = (unsigned long long)st.dropped;
        overruns = (unsigned long long)st.overruns;
        if (sampler_drain(on_sample, NULL, 0) < 0)
            DIE("sampler_drain failed");
    }
#endif
    double cpu_in[NFN] = {0}, cpu_sum = 0, w_sum = 0, max_err = 0;
    for (int i = 0; i < nthreads; i++)
        for (int k = 0; k < NFN; k++)
            cpu_in[k] += (double)workers[i].cpu[k];
    for (int k = 0; k < NFN; k++) {
        cpu_sum += cpu_in[k];
        w_sum += weight_in[k];
    }
    for (int k = 0; k < NFN && w_sum > 0; k++) {
        double err = weight_in[k] / w_sum - cpu_in[k] / cpu_sum;
        if (err < 0)
            err = -err;
        if (err > max_err)
            max_err = err;
    }
    double capture = w_sum * (double)period_ns / cpu_sum;
    printf("RESULT capture=%.6f max_err=%.6f samples=%llu weight=%.0f other=%.0f "
           "period_ns=%llu work_cpu_ns=%.0f proc_cpu_ns=%llu wall_ns=%llu dropped=%llu "
           "overruns=%llu\n",
           profiled ? capture : 0.0, profiled ? max_err : 0.0, (unsigned long long)nsamples,
           w_sum, weight_other, (unsigned long long)period_ns, cpu_sum,
           (unsigned long long)pcpu, (unsigned long long)wall, dropped, overruns);
    return 0;
}
