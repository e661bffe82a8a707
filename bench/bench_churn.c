/*
 * Part 6: thread churn. 10,000 short threads, each registered for sampling
 * as it starts, at a 1 ms interval (1 kHz) on the CPU clock.
 *
 * The churn program (this file, run as `bench_churn --child MODE ITERS`)
 * creates the threads in batches of BATCH with default attributes, joins each
 * batch, and repeats until NTHREADS have run; every thread burns a fixed
 * number of loop iterations (calibrated once by the driver to ~BURN_US of CPU
 * time, the same count for every variant). It reports the wall time and the
 * process CPU time (all threads, CLOCK_PROCESS_CPUTIME_ID) from before the
 * first pthread_create() to after the last pthread_join().
 *
 * Variants, each a fresh process (fork + exec of this program), so that none
 * leaves state behind for another:
 *   unprofiled   the churn program alone: the baseline;
 *   preload      the churn program under run/libsampler-preload.so, as
 *                `sampler-run -F 1000 -o FILE -- prog` runs it (LD_PRELOAD and
 *                SAMPLER_RUN_INTERVAL_NS=1000000; sampler-run itself only sets
 *                the environment and execs): its pthread_create hook registers
 *                every new thread, the library's key destructor unregisters it
 *                at exit; the module's collector drains every 20 ms;
 *   in-process   libsampler linked in: sampler_start() (1 ms), the main
 *                thread registered, each churn thread calls
 *                sampler_thread_register(NULL) first and relies on the
 *                automatic cleanup at thread exit, as sampler.h documents;
 *   in-process + unregister
 *                the same, each thread calling sampler_thread_unregister()
 *                before it returns (for comparison).
 * Rounds run every variant once, in an order rotated round by round; ratios
 * are per round against the unprofiled run of the same round; median
 * (min-max) over the rounds. The driver also times each process as a whole
 * (fork to exit, rusage CPU), which adds exec, the preload module's start and
 * the writing of its profile.
 *
 * The number of samples, threads and dropped samples each profiled run saw
 * comes from the module's summary line (preload) or sampler_get_stats() and
 * sampler_drain() (in-process).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return x < y ? -1 : x > y;
}

/* Path of the built preload module (bench/Makefile.am passes it). */
#ifndef BENCH_PRELOAD
#define BENCH_PRELOAD ""
#endif

enum { NTHREADS = 10000, BATCH = 32, ROUNDS = 7, MIN_ROUNDS = 5 };
static const uint64_t INTERVAL_NS = 1000000ULL; /* 1 kHz */
static const double BURN_US = 75.0;
/* Stop adding rounds (after MIN_ROUNDS) once the bench has run this long. */
static const double TIME_BUDGET_S = 70.0;
static const double TARGET = 1.3;

enum mode { M_PLAIN, M_PRELOAD, M_SELF, M_SELF_UNREG, NMODES };
static const char *const mode_arg[NMODES] = {"plain", "preload", "self", "self-unreg"};
static const char *const mode_name[NMODES] = {"unprofiled", "preload", "in-process",
                                              "in-process+unreg"};

/* ---- the churn program (child) ---------------------------------------------- */

static volatile double sink;
static long burn_iters;
static enum mode child_mode;
static atomic_uint reg_failures;
static atomic_int first_reg_error;

static void burn(long iters)
{
    double x = 0;
    for (long i = 0; i < iters; i++)
        x += (double)i * 0.5;
    sink = x;
}

static void *churn_thread(void *p)
{
    (void)p;
    int registered = 0;
    if (child_mode == M_SELF || child_mode == M_SELF_UNREG) {
        int rc = sampler_thread_register(NULL);
        if (rc == 0)
            registered = 1;
        else {
            atomic_fetch_add(&reg_failures, 1);
            int zero = 0;
            atomic_compare_exchange_strong(&first_reg_error, &zero, rc);
        }
    }
    burn(burn_iters);
    if (registered && child_mode == M_SELF_UNREG)
        BENCH_OK(sampler_thread_unregister());
    return NULL;
}

typedef struct drain_acc {
    pid_t *tids; /* of the churn threads' samples */
    size_t n, cap;
    pid_t main_tid;
    uint64_t main_weight, churn_weight;
} drain_acc;

static int on_sample(const sampler_sample *s, void *arg)
{
    drain_acc *a = arg;
    if (s->tid == a->main_tid) {
        a->main_weight += s->weight;
        return 0;
    }
    a->churn_weight += s->weight;
    if (a->n < a->cap)
        a->tids[a->n++] = s->tid;
    return 0;
}

/* Distinct values in v[0..n) (sorted in place). */
static long long count_distinct(pid_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_pid);
    long long d = 0;
    for (size_t i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    return d;
}

static int child_main(enum mode m, long iters)
{
    child_mode = m;
    burn_iters = iters;
    int self = m == M_SELF || m == M_SELF_UNREG;
    if (self) {
        sampler_config cfg;
        BENCH_OK(sampler_config_init(&cfg, sizeof cfg));
        cfg.interval_ns = INTERVAL_NS;
        BENCH_OK(sampler_start(&cfg));
        BENCH_OK(sampler_thread_register(NULL));
    }

    pthread_t th[BATCH];
    uint64_t t0 = bench_now(), c0 = bench_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int done = 0; done < NTHREADS;) {
        int n = NTHREADS - done < BATCH ? NTHREADS - done : BATCH;
        for (int i = 0; i < n; i++) {
            int err = pthread_create(&th[i], NULL, churn_thread, NULL);
            if (err != 0)
                BENCH_DIE("pthread_create: %s", strerror(err));
        }
        for (int i = 0; i < n; i++)
            BENCH_SYS(pthread_join(th[i], NULL));
        done += n;
    }
    uint64_t t1 = bench_now(), c1 = bench_ns(CLOCK_PROCESS_CPUTIME_ID);

    long long samples = -1, weight = -1, threads = -1, dropped = -1, overruns = -1,
              tfail = -1, main_w = -1, churn_w = -1, churn_threads = -1;
    if (self) {
        BENCH_OK(sampler_stop());
        sampler_stats st;
        BENCH_OK(sampler_get_stats(&st, sizeof st));
        drain_acc a = {NULL, 0, (size_t)st.samples, getpid(), 0, 0};
        a.tids = malloc((a.cap ? a.cap : 1) * sizeof *a.tids);
        if (a.tids == NULL)
            BENCH_DIE("out of memory");
        BENCH_OK(sampler_drain(on_sample, &a, 0));
        churn_threads = count_distinct(a.tids, a.n);
        threads = churn_threads + (a.main_weight > 0);
        main_w = (long long)a.main_weight;
        churn_w = (long long)a.churn_weight;
        free(a.tids);
        samples = (long long)st.samples;
        weight = (long long)st.weight;
        dropped = (long long)st.dropped;
        overruns = (long long)st.overruns;
        tfail = (long long)st.timer_failures;
        if (atomic_load(&reg_failures) > 0)
            fprintf(stderr, "bench_churn: %u threads could not register (first: %s)\n",
                    atomic_load(&reg_failures), sampler_err_name(atomic_load(&first_reg_error)));
    }
    printf("churn-result %llu %llu %lld %lld %lld %lld %lld %lld %u %lld %lld %lld\n",
           (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0), samples, weight,
           threads, dropped, overruns, tfail, atomic_load(&reg_failures), main_w, churn_w,
           churn_threads);
    fflush(stdout);
    return 0;
}

/* ---- the driver ---------------------------------------------------------------- */

typedef struct run_result {
    double wall_ms, cpu_ms;       /* churn window, from the child */
    double proc_ms, proc_cpu_ms;  /* the whole process, fork to exit */
    double samples, weight_ms, threads, dropped, overruns, tfail, regfail;
    double main_ms, churn_ms, churn_threads; /* weight as CPU ms, split by thread */
} run_result;

static char self_exe[4096];
static char preload_path[4096];
static char out_path[4096];

/* Split the weight of the preload module's folded profile (roots are
 * "name (tid)") into the main thread's (tid == pid) and the churn threads';
 * as CPU ms. */
static void read_folded(const char *path, pid_t pid, double *main_ms, double *churn_ms,
                        double *churn_threads)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        BENCH_DIE("cannot read the profile %s: %s", path, strerror(errno));
    size_t n = 0, cap = 256;
    pid_t *tids = malloc(cap * sizeof *tids);
    unsigned long long mw = 0, cw = 0;
    char line[8192];
    while (tids != NULL && fgets(line, sizeof line, f) != NULL) {
        char *sp = strrchr(line, ' ');
        if (sp == NULL)
            continue;
        unsigned long long w = strtoull(sp + 1, NULL, 10);
        *sp = '\0';
        char *semi = strchr(line, ';');
        if (semi != NULL)
            *semi = '\0';
        char *par = strrchr(line, '(');
        pid_t tid = par ? (pid_t)atoi(par + 1) : 0;
        if (tid == pid) {
            mw += w;
            continue;
        }
        cw += w;
        if (n == cap) {
            pid_t *bigger = realloc(tids, 2 * cap * sizeof *tids);
            if (bigger == NULL)
                BENCH_DIE("out of memory");
            tids = bigger;
            cap *= 2;
        }
        tids[n++] = tid;
    }
    fclose(f);
    if (tids == NULL)
        BENCH_DIE("out of memory");
    *main_ms = (double)mw * (double)INTERVAL_NS / 1e6;
    *churn_ms = (double)cw * (double)INTERVAL_NS / 1e6;
    *churn_threads = (double)count_distinct(tids, n);
    free(tids);
}

/* Run one churn process; its stdout and stderr come back through a pipe. */
static void run_child(enum mode m, long iters, run_result *r)
{
    int fds[2];
    BENCH_SYS(pipe(fds));
    char iters_s[32];
    snprintf(iters_s, sizeof iters_s, "%ld", iters);
    fflush(stdout);
    fflush(stderr);
    uint64_t t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0)
        BENCH_DIE("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (m == M_PRELOAD) {
            const char *old = getenv("LD_PRELOAD");
            char pre[8192];
            snprintf(pre, sizeof pre, "%s%s%s", preload_path, old && *old ? ":" : "",
                     old && *old ? old : "");
            setenv("LD_PRELOAD", pre, 1);
            char ns[32];
            snprintf(ns, sizeof ns, "%llu", (unsigned long long)INTERVAL_NS);
            setenv("SAMPLER_RUN_INTERVAL_NS", ns, 1);
            setenv("SAMPLER_RUN_OUTPUT", out_path, 1);
            setenv("SAMPLER_RUN_FORMAT", "folded", 1);
            setenv("SAMPLER_RUN_CLOCK", "cpu", 1);
            setenv("SAMPLER_RUN_QUIET", "0", 1);
            unsetenv("SAMPLER_RUN_FOLLOW_FORK");
        }
        char *argv[] = {self_exe, (char *)"--child", (char *)mode_arg[m], iters_s, NULL};
        execv(self_exe, argv);
        fprintf(stderr, "exec %s: %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    char buf[16384];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1) /* keep reading, drop the rest */
            len = sizeof buf - 1 - 1024;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        BENCH_DIE("wait4: %s", strerror(errno));
    uint64_t t1 = bench_now();
    double fold_main = 0, fold_churn = 0, fold_threads = 0;
    if (m == M_PRELOAD) {
        read_folded(out_path, pid, &fold_main, &fold_churn, &fold_threads);
        unlink(out_path);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        BENCH_DIE("churn child (%s) failed (status %#x); its output:\n%s", mode_arg[m],
                  status, buf);

    memset(r, 0, sizeof *r);
    r->proc_ms = (double)(t1 - t0) / 1e6;
    r->proc_cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    int got = 0, got_summary = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned long long w, c;
        long long s, wt, th, dr, ov, tf;
        long long mw, cw, ct;
        unsigned rf;
        double cpu_s;
        if (sscanf(line, "churn-result %llu %llu %lld %lld %lld %lld %lld %lld %u %lld %lld %lld",
                   &w, &c, &s, &wt, &th, &dr, &ov, &tf, &rf, &mw, &cw, &ct) == 12) {
            got = 1;
            r->wall_ms = (double)w / 1e6;
            r->cpu_ms = (double)c / 1e6;
            r->samples = (double)s;
            r->weight_ms = s < 0 ? -1 : (double)wt * (double)INTERVAL_NS / 1e6;
            r->threads = (double)th;
            r->dropped = (double)dr;
            r->overruns = (double)ov;
            r->tfail = (double)tf;
            r->regfail = rf;
            r->main_ms = (double)mw * (double)INTERVAL_NS / 1e6;
            r->churn_ms = (double)cw * (double)INTERVAL_NS / 1e6;
            r->churn_threads = (double)ct;
            if (rf > 0)
                BENCH_DIE("%s: %u threads failed to register:\n%s", mode_arg[m], rf, buf);
        } else if (m == M_PRELOAD &&
                   strstr(line, " samples dropped ") != NULL &&
                   sscanf(line, "sampler-run: pid %*d: %lld samples dropped", &dr) == 1) {
            /* said on its own line, only when samples were dropped */
            r->dropped = (double)dr;
        } else if (m == M_PRELOAD &&
                   sscanf(line,
                          "sampler-run: pid %*d: %lld samples (weight %*u, %lf s CPU), %lld "
                          "threads, %lld overruns",
                          &s, &cpu_s, &th, &ov) == 4) {
            got_summary = 1;
            r->samples = (double)s;
            r->weight_ms = cpu_s * 1e3;
            r->threads = (double)th;
            r->dropped = 0; /* a "samples dropped" line follows when not */
            r->overruns = (double)ov;
            r->tfail = 0; /* ", N timer failures" follows the overruns when N > 0 */
            const char *tfp = strstr(line, "overruns, ");
            if (tfp != NULL)
                r->tfail = atof(tfp + strlen("overruns, "));
        } else if (*line != '\0') {
            fprintf(stderr, "  [%s] %s\n", mode_arg[m], line);
        }
    }
    if (!got)
        BENCH_DIE("churn child (%s) printed no result:\n%s", mode_arg[m], buf);
    if (m == M_PRELOAD) {
        r->main_ms = fold_main;
        r->churn_ms = fold_churn;
        r->churn_threads = fold_threads;
    }
    if (m == M_PRELOAD && !got_summary)
        BENCH_DIE("the preload module printed no summary line (was it loaded?):\n%s", buf);
}

/* Iterations of burn() for ~BURN_US of this thread's CPU time. */
static long calibrate(void)
{
    const long probe = 2000000;
    double best = 1e30;
    for (int i = 0; i < 7; i++) {
        uint64_t c0 = bench_cpu();
        burn(probe);
        double ns = (double)(bench_cpu() - c0);
        if (ns < best)
            best = ns;
    }
    long iters = (long)(BURN_US * 1000.0 / (best / (double)probe));
    return iters > 0 ? iters : 1;
}

typedef struct series {
    double v[ROUNDS];
} series;

static const char *fmt_ratio(char *buf, size_t len, const double *num, const double *den,
                             int n, bench_summary *out)
{
    bench_summary s = bench_ratio(num, den, n);
    if (out)
        *out = s;
    return bench_fmt(buf, len, s, 2);
}

static const char *fmt_plain(char *buf, size_t len, const double *v, int n, int prec)
{
    double tmp[ROUNDS];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    return bench_fmt(buf, len, bench_summarize(tmp, n), prec);
}

/* One table: each variant's wall and CPU time with its ratios to unprofiled. */
static void print_variants(const series *wall, const series *cpu, const char *cpu_head,
                           int rounds, int have_preload)
{
    char b1[64], b2[64], b3[64], b4[64];
    printf("  %-18s %-24s %-20s %-24s %s\n", "variant", "wall ms", "wall ratio", cpu_head,
           "CPU ratio");
    for (int m = 0; m < NMODES; m++) {
        if (m == M_PRELOAD && !have_preload) {
            printf("  %-18s skipped (libsampler-preload.so not found)\n", mode_name[m]);
            continue;
        }
        fmt_ratio(b2, sizeof b2, wall[m].v, wall[M_PLAIN].v, rounds, NULL);
        fmt_ratio(b4, sizeof b4, cpu[m].v, cpu[M_PLAIN].v, rounds, NULL);
        printf("  %-18s %-24s %-20s %-24s %s\n", mode_name[m],
               fmt_plain(b1, sizeof b1, wall[m].v, rounds, 1), m == M_PLAIN ? "-" : b2,
               fmt_plain(b3, sizeof b3, cpu[m].v, rounds, 1), m == M_PLAIN ? "-" : b4);
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0) {
        for (int m = 0; m < NMODES; m++)
            if (strcmp(argv[2], mode_arg[m]) == 0)
                return child_main((enum mode)m, atol(argv[3]));
        BENCH_DIE("unknown mode '%s'", argv[2]);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        BENCH_DIE("readlink /proc/self/exe: %s", strerror(errno));
    self_exe[n] = '\0';

    /* The preload module: $SAMPLER_RUN_PRELOAD (as sampler-run honours it),
     * else the one in this build tree. */
    const char *pre = getenv("SAMPLER_RUN_PRELOAD");
    if (pre == NULL || *pre == '\0')
        pre = BENCH_PRELOAD;
    int have_preload = *pre != '\0' && access(pre, R_OK) == 0;
    snprintf(preload_path, sizeof preload_path, "%s", pre);
    const char *tmp = getenv("TMPDIR");
    snprintf(out_path, sizeof out_path, "%s/bench_churn.%ld.folded",
             tmp && *tmp ? tmp : "/tmp", (long)getpid());

    long iters = calibrate();
    printf("Part 6. Thread churn: %d short threads (created in batches of %d, then\n"
           "  joined), each burning ~%.0f us of CPU (%ld loop iterations, calibrated once);\n"
           "  profiled at a %.0f ms interval (%.0f Hz, CPU clock). One fresh process per\n"
           "  variant and round, the order rotated round by round; ratios per round against\n"
           "  the unprofiled run of the same round; median (min-max) over the rounds.\n"
           "    unprofiled        the churn program alone (baseline)\n"
           "    preload           under LD_PRELOAD=libsampler-preload.so, as sampler-run -F 1000\n"
           "                      runs it: the pthread_create hook registers each thread\n"
           "    in-process        libsampler linked in, each thread calls\n"
           "                      sampler_thread_register(NULL) and relies on the automatic\n"
           "                      cleanup at exit (as sampler.h documents)\n"
           "    in-process+unreg  the same, with sampler_thread_unregister() before return\n",
           NTHREADS, BATCH, BURN_US, iters, (double)INTERVAL_NS / 1e6, 1e9 / (double)INTERVAL_NS);
    if (have_preload)
        printf("  preload module: %s\n\n", preload_path);
    else
        printf("  preload module: not found (%s): the preload variant is skipped\n\n",
               *pre ? pre : "no path");

    /* BENCH_ROUNDS (make bench-quick: 1) caps the rounds. */
    int max_rounds = ROUNDS, min_rounds = MIN_ROUNDS;
    const char *er = getenv("BENCH_ROUNDS");
    if (er != NULL && atoi(er) > 0 && atoi(er) < ROUNDS)
        max_rounds = atoi(er);
    if (min_rounds > max_rounds)
        min_rounds = max_rounds;
    static run_result res[NMODES][ROUNDS];
    int rounds = 0;
    uint64_t start = bench_now();
    for (int r = 0; r < max_rounds; r++) {
        for (int k = 0; k < NMODES; k++) {
            enum mode m = (enum mode)((r + k) % NMODES);
            if (m == M_PRELOAD && !have_preload)
                continue;
            run_child(m, iters, &res[m][r]);
        }
        rounds = r + 1;
        double el = (double)(bench_now() - start) / 1e9;
        if (rounds >= min_rounds && el * (rounds + 1) / rounds > TIME_BUDGET_S)
            break;
    }

    series wall[NMODES], cpu[NMODES], pwall[NMODES], pcpu[NMODES];
    for (int m = 0; m < NMODES; m++)
        for (int r = 0; r < rounds; r++) {
            wall[m].v[r] = res[m][r].wall_ms;
            cpu[m].v[r] = res[m][r].cpu_ms;
            pwall[m].v[r] = res[m][r].proc_ms;
            pcpu[m].v[r] = res[m][r].proc_cpu_ms;
        }

    char b1[64], b2[64], b3[64], b4[64];
    printf("  Churn window (first pthread_create to last pthread_join), %d rounds:\n", rounds);
    print_variants(wall, cpu, "process CPU ms", rounds, have_preload);

    printf("\n  Whole process (fork to exit as the driver sees it: adds exec, sampler start,\n"
           "  the preload module writing its profile):\n");
    print_variants(pwall, pcpu, "CPU ms (rusage)", rounds, have_preload);

    printf("\n  What the profiler saw per run, median (min-max) over the rounds: samples;\n"
           "  their weight as CPU time (weight x interval), all threads, the main thread\n"
           "  (creates and joins), the churn threads; churn threads with a sample; dropped\n"
           "  samples and timer failures, summed over the rounds. For scale: the churn\n"
           "  threads burn %d x %.0f us = %.0f ms, the whole window's process CPU is above.\n",
           NTHREADS, BURN_US, NTHREADS * BURN_US / 1e3);
    printf("  %-18s %-16s %-16s %-16s %-14s %-14s %s\n", "variant", "samples", "weight ms",
           "main thread ms", "churn thr. ms", "churn thr. n", "dropped/tfail");
    for (int m = 0; m < NMODES; m++) {
        if (m == M_PLAIN || (m == M_PRELOAD && !have_preload))
            continue;
        series s, w, mw, cw, ct;
        double drop = 0, tf = 0;
        for (int r = 0; r < rounds; r++) {
            s.v[r] = res[m][r].samples;
            w.v[r] = res[m][r].weight_ms;
            mw.v[r] = res[m][r].main_ms;
            cw.v[r] = res[m][r].churn_ms;
            ct.v[r] = res[m][r].churn_threads;
            drop += res[m][r].dropped;
            tf += res[m][r].tfail;
        }
        char b5[64], dbuf[48];
        snprintf(dbuf, sizeof dbuf, "%.0f / %.0f", drop, tf);
        printf("  %-18s %-16s %-16s %-16s %-14s %-14s %s\n", mode_name[m],
               fmt_plain(b1, sizeof b1, s.v, rounds, 0), fmt_plain(b2, sizeof b2, w.v, rounds, 0),
               fmt_plain(b3, sizeof b3, mw.v, rounds, 0), fmt_plain(b4, sizeof b4, cw.v, rounds, 0),
               fmt_plain(b5, sizeof b5, ct.v, rounds, 0), dbuf);
    }
    printf("  A CPU-clock timer is checked only at the scheduler tick (every 4 ms at HZ=250),\n"
           "  on the thread then running, and a thread that exits leaves the CPU time since\n"
           "  its last expiry unsampled: a thread that lives ~%.0f us is sampled only when a\n"
           "  tick lands in its short life after its first expiry, so the churn threads'\n"
           "  weight stays far below their CPU time (the main thread's is about right).\n\n",
           BURN_US);

    /* Summary rows. */
    const char *section = "thread churn (10k short threads, 1 kHz)";
    for (int m = M_PRELOAD; m < NMODES; m++) {
        char fig[96], val[64], rat[64];
        int targeted = m == M_PRELOAD || m == M_SELF;
        snprintf(fig, sizeof fig, "%s, churn wall ms", mode_name[m]);
        if (m == M_PRELOAD && !have_preload) {
            bench_table_row(section, fig, "skipped (preload module not found)", "unprofiled",
                            "", "<= 1.3x", "");
            continue;
        }
        fmt_plain(val, sizeof val, wall[m].v, rounds, 1);
        bench_summary rs;
        fmt_ratio(rat, sizeof rat, wall[m].v, wall[M_PLAIN].v, rounds, &rs);
        bench_table_row(section, fig, val, "unprofiled", rat, targeted ? "<= 1.3x" : "",
                        targeted ? bench_verdict(rs.med, 0, TARGET) : "");
        snprintf(fig, sizeof fig, "%s, process CPU ms", mode_name[m]);
        fmt_plain(val, sizeof val, cpu[m].v, rounds, 1);
        fmt_ratio(rat, sizeof rat, cpu[m].v, cpu[M_PLAIN].v, rounds, NULL);
        bench_table_row(section, fig, val, "unprofiled", rat, "", "");
    }
    return 0;
}
