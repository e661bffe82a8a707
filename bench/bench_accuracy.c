/*
 * Part 4 (accuracy) and Part 5 (overhead) of make bench: libsampler against
 * gperftools' CPU profiler, in the same run, on the workload in
 * bench_workload.c (N threads, four distinct functions with CPU work 1:2:3:4).
 *
 * Every measurement is one fresh process (bench_workload for libsampler and
 * for the unprofiled baseline, bench_workload_gperf for gperftools, whose
 * mode and rate are read from the environment at static initialisation).
 * Rounds interleave the profilers, so a noisy neighbour hits all alike.
 *
 * Accuracy, per (threads, rate, profiler), median (min-max) over the rounds:
 *   capture ratio   = sample weight in the four functions x the profiler's
 *                     own period / their measured CPU time (1.00 is exact);
 *   max share error = max over the functions of |weight share - CPU share|.
 * Overhead: process CPU time and wall time of a fixed amount of work at
 * 1 kHz, profiled / unprofiled, the ratio taken per round.
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_SCALE (work multiplier,
 * default 1; make bench-quick uses less), BENCH_TABLE (summary rows).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

extern char **environ;

#define MAX_ROUNDS 64

static char dir[PATH_MAX]; /* where the bench binaries are */
static int rounds = 5;
static double scale = 1.0;
static double ns_per_iter;

/* ---- running one child -------------------------------------------------------- */

typedef struct result {
    double capture, max_err, samples, weight, other, period_ns, work_cpu_ns;
    double proc_cpu_ns, wall_ns, dropped, overruns;
} result;

static double field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        BENCH_DIE("no %s in: %s", key, line);
    return strtod(p + strlen(pat), NULL);
}

/* Run DIR/prog with argv and extra environment entries (NULL-terminated);
 * return the line that starts with `tag`. The child's stderr goes to a file
 * shown only when it fails (gperftools prints a line per profile there). */
static void run_child(const char *prog, char *const args[], char *const extra_env[],
                      const char *tag, char *line, size_t len)
{
    char path[PATH_MAX + 64], errpath[] = "/tmp/bench_accuracy_err_XXXXXX";
    snprintf(path, sizeof path, "%s/%s", dir, prog);
    int errfd = mkstemp(errpath);
    if (errfd < 0)
        BENCH_DIE("mkstemp: %s", strerror(errno));
    int pfd[2];
    BENCH_SYS(pipe(pfd));

    /* environ without the gperftools variables, plus extra_env */
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **envp = calloc(n + 8, sizeof *envp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CPUPROFILE", 10) != 0)
            envp[m++] = environ[i];
    for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL && i < 6; i++)
        envp[m++] = extra_env[i];
    envp[m] = NULL;

    char *argv[16];
    int argc = 0;
    argv[argc++] = path;
    for (int i = 0; args[i] != NULL && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, envp);
    if (rc != 0)
        BENCH_DIE("cannot run %s: %s", path, strerror(rc));
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(pfd[1]);

    FILE *out = fdopen(pfd[0], "r");
    char buf[1024];
    int found = 0;
    while (fgets(buf, sizeof buf, out) != NULL)
        if (!found && strncmp(buf, tag, strlen(tag)) == 0) {
            snprintf(line, len, "%s", buf);
            found = 1;
        }
    fclose(out);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!found || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_accuracy: %s", path);
        for (int i = 1; i < argc; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, " failed (status %d); its stderr:\n", status);
        FILE *e = fopen(errpath, "r");
        while (e != NULL && fgets(buf, sizeof buf, e) != NULL)
            fputs(buf, stderr);
        if (e != NULL)
            fclose(e);
        unlink(errpath);
        exit(1);
    }
    close(errfd);
    unlink(errpath);
}

/* ---- profilers ---------------------------------------------------------------- */

typedef struct profiler {
    const char *name;  /* as printed */
    const char *prog;  /* binary */
    const char *mode;  /* its MODE argument */
    int per_thread;    /* gperftools: CPUPROFILE_PER_THREAD_TIMERS */
    int gperf;
} profiler;

static const profiler PROFILERS[] = {
    {"libsampler", "bench_workload", "fp", 0, 0},
    {"gperftools setitimer", "bench_workload_gperf", "gperf", 0, 1},
    {"gperftools per-thread", "bench_workload_gperf", "gperf", 1, 1},
};
#define NPROF ((int)(sizeof PROFILERS / sizeof PROFILERS[0]))

static int have_gperf;

static result run_one(const profiler *p, int threads, long hz, double ms_per_thread)
{
    /* Work per thread: 10 units (1+2+3+4). */
    uint64_t iters = (uint64_t)(ms_per_thread * scale * 1e6 / 10.0 / ns_per_iter);
    if (iters < 1000)
        iters = 1000;
    char a_threads[16], a_hz[24], a_iters[32];
    snprintf(a_threads, sizeof a_threads, "%d", threads);
    snprintf(a_hz, sizeof a_hz, "%ld", hz);
    snprintf(a_iters, sizeof a_iters, "%llu", (unsigned long long)iters);
    char *args[] = {(char *)p->mode, a_threads, a_hz, a_iters, NULL};
    char e_freq[48];
    snprintf(e_freq, sizeof e_freq, "CPUPROFILE_FREQUENCY=%ld", hz);
    char *env[] = {e_freq, p->per_thread ? "CPUPROFILE_PER_THREAD_TIMERS=1" : NULL, NULL};
    char line[1024];
    run_child(p->prog, args, p->gperf ? env : NULL, "RESULT", line, sizeof line);
    result r;
    r.capture = field(line, "capture");
    r.max_err = field(line, "max_err");
    r.samples = field(line, "samples");
    r.weight = field(line, "weight");
    r.other = field(line, "other");
    r.period_ns = field(line, "period_ns");
    r.work_cpu_ns = field(line, "work_cpu_ns");
    r.proc_cpu_ns = field(line, "proc_cpu_ns");
    r.wall_ns = field(line, "wall_ns");
    r.dropped = field(line, "dropped");
    r.overruns = field(line, "overruns");
    return r;
}

/* ---- Part 4: accuracy --------------------------------------------------------- */

static const int THREADS[] = {1, 2, 8, 64};
static const long RATES[] = {100, 1000, 10000};
#define NTHREADS ((int)(sizeof THREADS / sizeof THREADS[0]))
#define NRATES ((int)(sizeof RATES / sizeof RATES[0]))

/* CPU per thread (ms). The kernel checks CPU timers at its ticks (4 ms at
 * HZ=250), so every function change inside a thread moves up to a tick of
 * weight to the next function, and a thread's last partial tick is never
 * sampled: about 2 ms per change and per thread on average, for every
 * CPU-timer profiler. The share error at 8 threads and the capture ratio at
 * 64 threads are only as small as these lengths make them (docs/PERFORMANCE.md). */
static double ms_per_thread(int threads)
{
    return threads <= 8 ? 1000.0 : 300.0;
}

static const char *rate_name(long hz)
{
    return hz == 100 ? "100 Hz" : hz == 1000 ? "1 kHz" : "10 kHz";
}

static void part4(void)
{
    printf("Part 4. Accuracy: N threads, each running four distinct functions with CPU\n"
           "  work 1:2:3:4 (measured per function with the thread's CPU clock);\n"
           "  %d rounds, profilers interleaved, one process per run; median (min-max).\n"
           "  capture = weight in the functions x period / their CPU time;\n"
           "  err = max over the functions |weight share - CPU share|.\n"
           "  gperftools caps its rate at 4000 Hz (its own period is used for capture);\n"
           "  per-thread mode: CPUPROFILE_PER_THREAD_TIMERS=1, each thread calls\n"
           "  ProfilerRegisterThread().\n\n",
           rounds);
    if (!have_gperf)
        printf("  gperftools: not built (configure did not find libprofiler and\n"
               "  gperftools/profiler.h: apt-get install libgoogle-perftools-dev)\n\n");
    printf("  %-8s %-7s %-22s %-24s %-26s %s\n", "threads", "rate", "profiler", "capture",
           "max share err", "signals (weight)");
    for (int t = 0; t < NTHREADS; t++)
        for (int h = 0; h < NRATES; h++) {
            double cap[NPROF][MAX_ROUNDS], err[NPROF][MAX_ROUNDS], sig[NPROF][MAX_ROUNDS],
                wt[NPROF][MAX_ROUNDS], drop[NPROF] = {0};
            for (int r = 0; r < rounds; r++)
                for (int p = 0; p < NPROF; p++) {
                    if (PROFILERS[p].gperf && !have_gperf)
                        continue;
                    result res =
                        run_one(&PROFILERS[p], THREADS[t], RATES[h], ms_per_thread(THREADS[t]));
                    cap[p][r] = res.capture;
                    err[p][r] = res.max_err;
                    sig[p][r] = res.samples;
                    wt[p][r] = res.weight;
                    drop[p] += res.dropped;
                }
            for (int p = 0; p < NPROF; p++) {
                if (PROFILERS[p].gperf && !have_gperf)
                    continue;
                bench_summary c = bench_summarize(cap[p], rounds);
                bench_summary e = bench_summarize(err[p], rounds);
                bench_summary s = bench_summarize(sig[p], rounds);
                bench_summary w = bench_summarize(wt[p], rounds);
                char b1[64], b2[64], fig[96], val[80], rat[80], tgt[64];
                printf("  %-8d %-7s %-22s %-24s %-26s %.0f (%.0f)%s\n", THREADS[t],
                       rate_name(RATES[h]), PROFILERS[p].name, bench_fmt(b1, sizeof b1, c, 3),
                       bench_fmt(b2, sizeof b2, e, 4), s.med, w.med,
                       drop[p] > 0 ? "  DROPPED SAMPLES" : "");
                snprintf(fig, sizeof fig, "N=%d, %s, %s", THREADS[t], rate_name(RATES[h]),
                         PROFILERS[p].name);
                snprintf(val, sizeof val, "err %s", bench_fmt(b1, sizeof b1, e, 4));
                snprintf(rat, sizeof rat, "%s", bench_fmt(b2, sizeof b2, c, 3));
                const char *verdict = "";
                tgt[0] = '\0';
                if (!PROFILERS[p].gperf) {
                    int ok = c.med >= 0.99 && c.med <= 1.01 && drop[p] == 0;
                    snprintf(tgt, sizeof tgt, "capture 1.00+-0.01%s",
                             THREADS[t] == 8 ? ", err <= 0.002" : "");
                    if (THREADS[t] == 8)
                        ok = ok && e.med <= 0.002;
                    verdict = ok ? "ok" : "MISSED";
                }
                bench_table_row("accuracy: value = max share error, ratio = capture "
                                "(weight x period / measured CPU)",
                                fig, val, "measured CPU", rat, tgt, verdict);
            }
            fflush(stdout);
        }
    printf("\n");
}

/* ---- Part 5: overhead --------------------------------------------------------- */

static void part5(void)
{
    const int threads = 8;
    const long hz = 1000;
    const double ms = 500.0;
    static const profiler NONE = {"unprofiled", "bench_workload", "none", 0, 0};
    static const profiler LIBUNWIND = {"libsampler, libunwind walker", "bench_workload",
                                       "libunwind", 0, 0};
    const profiler *variants[] = {&PROFILERS[0], &LIBUNWIND, &PROFILERS[1], &PROFILERS[2]};
    const int nvar = 4;
    double base_cpu[MAX_ROUNDS], base_wall[MAX_ROUNDS];
    double cpu[4][MAX_ROUNDS], wall[4][MAX_ROUNDS];
    int have_unwind = sampler_walk_libunwind_available();
    printf("Part 5. Overhead: %d threads, %.0f ms of CPU work each, %ld Hz; process CPU\n"
           "  time and wall time profiled / unprofiled, the ratio taken per round\n"
           "  (%d rounds, variants interleaved, one process per run); median (min-max).\n\n",
           threads, ms * scale, hz, rounds);
    for (int r = 0; r < rounds; r++) {
        result b = run_one(&NONE, threads, hz, ms);
        base_cpu[r] = b.proc_cpu_ns;
        base_wall[r] = b.wall_ns;
        for (int v = 0; v < nvar; v++) {
            if ((variants[v]->gperf && !have_gperf) || (v == 1 && !have_unwind))
                continue;
            result res = run_one(variants[v], threads, hz, ms);
            cpu[v][r] = res.proc_cpu_ns;
            wall[v][r] = res.wall_ns;
        }
    }
    char b1[64], b2[64], b3[64];
    bench_summary bc = bench_summarize(base_cpu, rounds);
    bench_summary bw = bench_summarize(base_wall, rounds);
    printf("  %-30s %-24s %-24s %-22s %s\n", "profiler", "CPU ms", "CPU ratio", "wall ms",
           "wall ratio");
    bench_summary bcm = {bc.med / 1e6, bc.min / 1e6, bc.max / 1e6};
    bench_summary bwm = {bw.med / 1e6, bw.min / 1e6, bw.max / 1e6};
    printf("  %-30s %-24s %-24s %-22s %s\n", "unprofiled", bench_fmt(b1, sizeof b1, bcm, 1),
           "1", bench_fmt(b2, sizeof b2, bwm, 1), "1");
    for (int v = 0; v < nvar; v++) {
        if ((variants[v]->gperf && !have_gperf) || (v == 1 && !have_unwind))
            continue;
        double c_ms[MAX_ROUNDS], w_ms[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) {
            c_ms[r] = cpu[v][r] / 1e6;
            w_ms[r] = wall[v][r] / 1e6;
        }
        bench_summary rc = bench_ratio(cpu[v], base_cpu, rounds);
        bench_summary rw = bench_ratio(wall[v], base_wall, rounds);
        bench_summary sc = bench_summarize(c_ms, rounds);
        bench_summary sw = bench_summarize(w_ms, rounds);
        char b4[64];
        const char *name = v == 0 ? "libsampler (FP walker)" : variants[v]->name;
        printf("  %-30s %-24s %-24s %-22s %s\n", name, bench_fmt(b1, sizeof b1, sc, 1),
               bench_fmt(b2, sizeof b2, rc, 3), bench_fmt(b3, sizeof b3, sw, 1),
               bench_fmt(b4, sizeof b4, rw, 3));
        char fig[96];
        snprintf(fig, sizeof fig, "%s: process CPU", name);
        bench_table_row("overhead: 8 threads x 500 ms CPU at 1 kHz, ms", fig,
                        bench_fmt(b1, sizeof b1, sc, 1), "unprofiled", b2, "", "");
        snprintf(fig, sizeof fig, "%s: wall", name);
        bench_table_row("overhead: 8 threads x 500 ms CPU at 1 kHz, ms", fig,
                        bench_fmt(b1, sizeof b1, sw, 1), "unprofiled", b4, "", "");
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *e = getenv("BENCH_ROUNDS");
    if (e != NULL && atoi(e) > 0)
        rounds = atoi(e) > MAX_ROUNDS ? MAX_ROUNDS : atoi(e);
    e = getenv("BENCH_SCALE");
    if (e != NULL && strtod(e, NULL) > 0)
        scale = strtod(e, NULL);
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        BENCH_DIE("readlink /proc/self/exe: %s", strerror(errno));
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
#ifdef BENCH_HAVE_GPERF
    have_gperf = 1;
#endif
    char line[256];
    char *args[] = {"calibrate", NULL};
    run_child("bench_workload", args, NULL, "CALIBRATE", line, sizeof line);
    ns_per_iter = field(line, "ns_per_iter");
    part4();
    part5();
    return 0;
}
