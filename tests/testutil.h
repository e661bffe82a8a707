/* Helpers shared by the check suites. */
#ifndef SAMPLER_TESTUTIL_H
#define SAMPLER_TESTUTIL_H

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <sampler.h>

#include "sysutil.h"

/* Every suite, one per module; check_main.c runs them all (or those named in
 * the environment variable CK_RUN_SUITE, as check itself supports). */
Suite *version_suite(void);
Suite *lifecycle_suite(void);
Suite *registry_suite(void);
Suite *attribution_suite(void);
Suite *pause_suite(void);
Suite *signal_suite(void);
Suite *buffer_suite(void);
Suite *walker_suite(void);
Suite *fork_suite(void);
Suite *badinput_suite(void);
Suite *unwind_suite(void);
Suite *faults_suite(void);
Suite *profile_suite(void);
Suite *hostile_suite(void);
Suite *modules_suite(void);

/* Assert a libsampler call returned `want` and print both names if not. */
#define ck_assert_sampler(call, want)                                                   \
    do {                                                                                \
        int ck_rc_ = (call);                                                            \
        int ck_want_ = (want);                                                          \
        ck_assert_msg(ck_rc_ == ck_want_, "%s returned %s (%d), expected %s: %s", #call, \
                      sampler_err_name(ck_rc_), ck_rc_, sampler_err_name(ck_want_),     \
                      sampler_strerror(ck_rc_));                                        \
    } while (0)

/* Install `action` (SA_SIGINFO) or else `handler` for SIGPROF, with
 * SA_RESTART; fails the test if sigaction fails. */
void tu_set_sigprof(void (*handler)(int), void (*action)(int, siginfo_t *, void *));
/* A default config with the given interval; fails the test if init fails. */
void tu_config(sampler_config *cfg, uint64_t interval_ns);
/* Start with tu_config(interval); fails the test if start fails. */
void tu_start(uint64_t interval_ns);
/* Read the stats; fails the test on error. */
sampler_stats tu_stats(void);

/* Drain everything into per-tid weight sums. */
typedef struct tu_tally {
    int n;
    pid_t tid[64];
    uint64_t weight[64];
    uint64_t samples[64];
    uint64_t total_weight;
    uint64_t total_samples;
    uint64_t max_time_ns; /* newest sample time */
} tu_tally;
void tu_drain_tally(tu_tally *t);
uint64_t tu_tally_weight(const tu_tally *t, pid_t tid);

/* A watchdog for one phase of a test that must end in bounded time: unless
 * tu_watchdog_stop() is called within `seconds`, a thread prints `what` to
 * stderr and aborts the test process (check reports signal 6), so a deadlock
 * fails the test with a message instead of only check's timeout. */
typedef struct tu_watchdog {
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    double seconds;
    const char *what;
} tu_watchdog;
void tu_watchdog_start(tu_watchdog *w, double seconds, const char *what);
void tu_watchdog_stop(tu_watchdog *w);

/* ---- bounds sized for a loaded machine and for sanitizers ---------------------- *
 *
 * CI runs on 2 cores that may be busy with other work, and the sanitizer builds
 * run 2-3x (ASan) to 5-15x (TSan) slower. A wait or a loop bounded by a fixed
 * wall-clock time or a fixed count of slow operations then fails or times out
 * although nothing is wrong. So:
 *  - a wait for samples is bounded by the CPU time the sampled threads burnt
 *    (samples come per CPU time: a slow build or a crowded machine makes the
 *    wait longer, never the bound tighter), with a wall-clock backstop that
 *    stretches with check's timeouts (CK_TIMEOUT_MULTIPLIER);
 *  - a loop of costly rounds (fork, start/stop) ends early once a time budget
 *    is spent, after a minimum number of rounds: each round it does is fully
 *    checked, and the test prints how many it did. */

/* check's CK_TIMEOUT_MULTIPLIER (CI sets 4 for the sanitizer and valgrind
 * runs), or 1 when unset: the factor check applies to every case's timeout. */
double tu_timeout_factor(void);

/* A wait bounded by work done. tu_budget_start(): the wait may last until the
 * CPU clock `clk` (a thread's, from pthread_getcpuclockid(), or
 * CLOCK_PROCESS_CPUTIME_ID) advanced `cpu_ns` (UINT64_MAX: no CPU bound), or,
 * as a backstop for threads that get no CPU at all, `wall_s` seconds passed;
 * both are stretched by tu_timeout_factor(). tu_budget_spent() is true once
 * either is used up. */
typedef struct tu_budget {
    clockid_t clk;
    uint64_t cpu0, cpu_ns;
    uint64_t wall0, wall_ns;
} tu_budget;
void tu_budget_start(tu_budget *b, clockid_t clk, uint64_t cpu_ns, double wall_s);
int tu_budget_spent(const tu_budget *b);
/* CPU time (ns) of the budget's clock, and wall time (s), used so far. */
uint64_t tu_budget_cpu_used(const tu_budget *b);
double tu_budget_wall_used(const tu_budget *b);
/* The CPU clock of thread `th`; fails the test if it has none. */
clockid_t tu_thread_clock(pthread_t th);

/* A loop of costly rounds: up to `max`, ending early once `min` (<= max) are
 * done and `budget_s` seconds (not stretched: a slow build does fewer rounds)
 * passed since tu_rounds_init(). Use as
 *     for (tu_rounds_init(&r, max, min, s); tu_rounds_next(&r);)
 *         ... round r.done (1-based) ...
 */
typedef struct tu_rounds {
    int max, min, done;
    uint64_t t0, end;
} tu_rounds;
void tu_rounds_init(tu_rounds *r, int max, int min, double budget_s);
int tu_rounds_next(tu_rounds *r);
/* Seconds since tu_rounds_init(). */
double tu_rounds_secs(const tu_rounds *r);

/* Wait until the stats counter `field` (samples, signals, foreign, paused,
 * ...) of sampler_get_stats() reaches `n`; returns the value seen. Bounded
 * like tu_budget_start(clk, cpu_ns, wall_s): when both are spent first, fails
 * the test naming the counter and the caller's file:line. Between looks the
 * caller naps 1 ms, or, when `clk` is CLOCK_THREAD_CPUTIME_ID (the caller is
 * the thread being sampled), burns 2 ms of its CPU. A wait that only needs
 * scheduling passes CLOCK_PROCESS_CPUTIME_ID, UINT64_MAX (no CPU bound). */
#define tu_wait_stat(field, n, clk, cpu_ns, wall_s)                                      \
    ((void)sizeof(                                                                       \
         char[sizeof(((sampler_stats *)0)->field) == sizeof(uint64_t) ? 1 : -1]),        \
     tu_wait_stat_at(__FILE__, __LINE__, offsetof(sampler_stats, field), #field, (n),    \
                     (clk), (cpu_ns), (wall_s)))
uint64_t tu_wait_stat_at(const char *file, int line, size_t offset, const char *name,
                         uint64_t n, clockid_t clk, uint64_t cpu_ns, double wall_s);

#ifdef SAMPLER_TEST_PPROF
/* The whole gunzip'd content of the gzip file at `path` (malloc'd, *len
 * bytes); fails the test if it cannot be opened or read. */
uint8_t *tu_gunzip_file(const char *path, size_t *len);
#endif

/* Repetition counts scaled by the environment variable SAMPLER_TEST_SCALE (a
 * factor, e.g. 0.02): CI sets it for the valgrind run, where threads are
 * serialized and every instruction is emulated. Unset: `n` itself, so the
 * normal build and the sanitizer builds run the full counts. Never below 1. */
int tu_scaled(int n);

/* TU_TSAN is 1 in a ThreadSanitizer build. TSan's own signal handler only
 * queues a signal and runs ours at the thread's next libc call (interceptor)
 * or blocking point, and keeps one pending instance per signal number, so
 * timer signals arrive late and several can fold into one: tests relax counts
 * and shares there, each with a comment (docs/TESTING.md lists them). */
#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif
#ifndef TU_TSAN
#define TU_TSAN 0
#endif

#endif
