/*
 * Part 2: the cost of registering and unregistering a thread.
 *
 * measured:  sampler_thread_register(NULL) + sampler_thread_unregister(), N
 *            times in a row on the calling thread (sampler running, CPU clock);
 * baseline:  what that fundamentally needs, N times in the same thread:
 *            timer_create(CLOCK_THREAD_CPUTIME_ID, SIGEV_THREAD_ID to itself)
 *            + timer_settime(interval) + timer_delete.
 * Rounds alternate baseline/measured; wall time of the N pairs (thread CPU
 * time would miss nothing here, but /proc reads may sleep); median (min-max).
 *
 * Rows:
 *   worker thread  the calling thread is a pthread (the usual case);
 *   main thread    the process's initial thread: glibc's pthread_getattr_np(),
 *                  which registration calls to learn the stack bounds, reads
 *                  /proc/self/maps for the initial thread;
 *   by tid         sampler_thread_register_tid(tid) +
 *                  sampler_thread_unregister_tid(tid) of an idle worker, from
 *                  the main thread, against the same three calls on the
 *                  worker's CPU clock (pthread_getcpuclockid).
 * The interval is 1 s, so no timer fires during the short registration.
 *
 * Floor of the by-tid row: the three timer calls plus one read of
 * /proc/self/task/TID/stat (open + read + close), measured as a second
 * baseline. sampler_thread_register_tid needs the thread's start time to know
 * whether its /proc/self/maps snapshot holds the thread's stack (the handler's
 * stack walker must never get bounds past the end of a stack), and no system
 * call gives another thread's start time (a pidfd costs as much). Both ratios
 * are printed; the summary table sets the target against the floor.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_util.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

enum { N = 2000, ROUNDS = 9 };
static const uint64_t INTERVAL_NS = 1000000000ULL;

static void bare_cycle(clockid_t clk, pid_t tid)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_notify_thread_id = tid;
    timer_t t;
    BENCH_SYS(timer_create(clk, &sev, &t));
    struct itimerspec its = {
        .it_interval = {.tv_sec = 1, .tv_nsec = 0},
        .it_value = {.tv_sec = 0, .tv_nsec = 500000000},
    };
    BENCH_SYS(timer_settime(t, 0, &its, NULL));
    BENCH_SYS(timer_delete(t));
}

static void start_sampler(void)
{
    sampler_config cfg;
    BENCH_OK(sampler_config_init(&cfg, sizeof cfg));
    cfg.interval_ns = INTERVAL_NS;
    BENCH_OK(sampler_start(&cfg));
}

typedef struct row {
    double base[ROUNDS], lib[ROUNDS];
    double floor[ROUNDS]; /* by tid: base + the /proc stat read */
} row;

/* Both self-registration rows: runs on the thread being registered. */
static void measure_self(row *out)
{
    pid_t me = bench_gettid();
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = bench_now();
        for (int i = 0; i < N; i++)
            bare_cycle(CLOCK_THREAD_CPUTIME_ID, me);
        out->base[r] = (double)(bench_now() - t0) / 1000.0 / N;

        start_sampler();
        t0 = bench_now();
        for (int i = 0; i < N; i++) {
            BENCH_OK(sampler_thread_register(NULL));
            BENCH_OK(sampler_thread_unregister());
        }
        out->lib[r] = (double)(bench_now() - t0) / 1000.0 / N;
        BENCH_OK(sampler_stop());
    }
}

static void *worker_measure(void *p)
{
    measure_self(p);
    return NULL;
}

/* An idle thread to be registered by tid. */
static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static int idle_quit;
static pid_t idle_tid;

static void *idle_thread(void *p)
{
    (void)p;
    pthread_mutex_lock(&idle_mu);
    idle_tid = bench_gettid();
    pthread_cond_broadcast(&idle_cv);
    while (!idle_quit)
        pthread_cond_wait(&idle_cv, &idle_mu);
    pthread_mutex_unlock(&idle_mu);
    return NULL;
}

static void measure_tid(row *out)
{
    pthread_t th;
    BENCH_SYS(pthread_create(&th, NULL, idle_thread, NULL));
    pthread_mutex_lock(&idle_mu);
    while (idle_tid == 0)
        pthread_cond_wait(&idle_cv, &idle_mu);
    pthread_mutex_unlock(&idle_mu);
    clockid_t clk;
    BENCH_SYS(pthread_getcpuclockid(th, &clk));

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = bench_now();
        for (int i = 0; i < N; i++)
            bare_cycle(clk, idle_tid);
        out->base[r] = (double)(bench_now() - t0) / 1000.0 / N;
        t0 = bench_now();
        for (int i = 0; i < N; i++) {
            bench_read_stat(idle_tid);
            bare_cycle(clk, idle_tid);
        }
        out->floor[r] = (double)(bench_now() - t0) / 1000.0 / N;

        start_sampler();
        t0 = bench_now();
        for (int i = 0; i < N; i++) {
            BENCH_OK(sampler_thread_register_tid(idle_tid, NULL));
            BENCH_OK(sampler_thread_unregister_tid(idle_tid));
        }
        out->lib[r] = (double)(bench_now() - t0) / 1000.0 / N;
        BENCH_OK(sampler_stop());
    }
    pthread_mutex_lock(&idle_mu);
    idle_quit = 1;
    pthread_cond_broadcast(&idle_cv);
    pthread_mutex_unlock(&idle_mu);
    BENCH_SYS(pthread_join(th, NULL));
}

static void print_row(const char *name, row *w, bool by_tid)
{
    char b1[64], b2[64], b3[64];
    bench_summary rs = bench_ratio(w->lib, w->base, ROUNDS);
    bench_summary bs = bench_summarize(w->base, ROUNDS);
    bench_summary ls = bench_summarize(w->lib, ROUNDS);
    printf("  %-14s %-24s %-26s %s\n", name, bench_fmt(b1, sizeof b1, bs, 2),
           bench_fmt(b2, sizeof b2, ls, 2), bench_fmt(b3, sizeof b3, rs, 2));
    const char *bname = "create+settime+delete";
    if (by_tid) {
        /* The floor includes the start-time read (see the top comment). */
        rs = bench_ratio(w->lib, w->floor, ROUNDS);
        bs = bench_summarize(w->floor, ROUNDS);
        printf("  %-14s %-24s %-26s %s\n", "  + stat read",
               bench_fmt(b1, sizeof b1, bs, 2), bench_fmt(b2, sizeof b2, ls, 2),
               bench_fmt(b3, sizeof b3, rs, 2));
        bname = "create+settime+delete+stat";
    }
    char fig[64];
    snprintf(fig, sizeof fig, "reg+unreg %s", name);
    bench_table_row("registry (register + unregister, no other thread registered)", fig,
                    bench_fmt(b2, sizeof b2, ls, 2), bname,
                    bench_fmt(b3, sizeof b3, rs, 2), "<= 1.2x",
                    bench_verdict(rs.med, 0, 1.2));
}

static void ignore_sig(int sig)
{
    (void)sig;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A bare timer could in principle fire: never let SIGPROF kill us. */
    signal(SIGPROF, ignore_sig);

    printf(
        "Part 2. Register + unregister of a thread, %d pairs per round, %d rounds,\n"
        "  wall time per pair in us, median (min-max).\n"
        "  baseline = timer_create(thread CPU clock, SIGEV_THREAD_ID) + timer_settime\n"
        "  + timer_delete; libsampler = sampler_thread_register + _unregister.\n\n",
        N, ROUNDS);
    printf("  %-14s %-24s %-26s %s\n", "caller", "baseline us", "libsampler us",
           "ratio (per round)");

    row worker, mainrow, bytid;
    pthread_t th;
    BENCH_SYS(pthread_create(&th, NULL, worker_measure, &worker));
    BENCH_SYS(pthread_join(th, NULL));
    print_row("worker thread", &worker, false);

    measure_self(&mainrow);
    print_row("main thread", &mainrow, false);

    measure_tid(&bytid);
    print_row("by tid", &bytid, true);
    printf("\n");
    return 0;
}
