/*
 * Helpers shared by the stress programs (tests/stress_*.c).
 *
 * The stress programs are plain programs, not check suites: each prints what it
 * did (cycles, rounds, counts) and exits 0 (pass), 1 (an invariant failed),
 * 2 (a watchdog fired: something hung) or 77 (skipped). `make check` runs
 * them in their short mode; `make stress` (in tests/) runs them with --full.
 */
#ifndef SAMPLER_STRESS_UTIL_H
#define SAMPLER_STRESS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <sampler.h>

#include "sysutil.h"

#define ST_EXIT_FAIL 1
#define ST_EXIT_HANG 2
#define ST_EXIT_SKIP 77

/* Parse the command line (--full, --seed N; STRESS_FULL=1 in the environment
 * also means --full), print a header, and arm alarm(limit_s) as the last
 * resort against a hang: SIGALRM's default action ends the process. */
void st_init(const char *name, int argc, char **argv, unsigned limit_s_short,
             unsigned limit_s_full);
bool st_full(void);
unsigned st_seed(void);
/* A number from argv given as --NAME N, or `dflt`. */
long st_arg_long(const char *name, long dflt);

/* Print "FAIL file:line: what: message", flush, and _exit(1) (not exit():
 * other threads may hold locks that atexit handlers need). */
__attribute__((noreturn, format(printf, 4, 5))) void st_fail(const char *file, int line,
                                                             const char *what,
                                                             const char *fmt, ...);

#define ST_CHECK(cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond))                                                                     \
            st_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                             \
    } while (0)

/* A libsampler call must return one of the listed codes (0 counts as a code;
 * use ST_RC_COUNT for calls that return a count >= 0). Returns the code. */
int st_rc_in(const char *file, int line, const char *call, int rc, int n, const int *ok);
#define ST_RC(call, ...)                                                                 \
    st_rc_in(__FILE__, __LINE__, #call, (call), (int)(sizeof((int[]){__VA_ARGS__}) /     \
                                                      sizeof(int)),                      \
             (int[]){__VA_ARGS__})
/* A count (>= 0) or one of the listed error codes. */
int st_count_or(const char *file, int line, const char *call, int rc, int n,
                const int *ok);
#define ST_COUNT_OR(call, ...)                                                           \
    st_count_or(__FILE__, __LINE__, #call, (call),                                       \
                (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

/* The watchdog: a thread that ends the process with exit code 2 and a
 * message naming the phase when a phase outlives its deadline. Phases are
 * nested by nothing: each st_phase() replaces the previous one. */
void st_watchdog_start(void);
/* The watchdog thread's tid (0 before it runs): register_all samples it too. */
pid_t st_watchdog_tid(void);
__attribute__((format(printf, 2, 3))) void st_phase(double limit_s, const char *fmt, ...);
void st_phase_end(void);

/* Per-thread heartbeats for long free-running phases: each worker beats after
 * every operation; the watchdog fails the run if a live worker has not beaten
 * for `limit_s` (st_beats_watch). Up to ST_MAX_BEATS workers. */
#define ST_MAX_BEATS 64
void st_beats_watch(double limit_s);
void st_beat(int slot, const char *op);
void st_beat_done(int slot);

/* Small utilities. */
/* xorshift, per caller state */
uint32_t st_rand(uint32_t *state);

/* Stats read or fail. */
sampler_stats st_stats(void);
/* The checks after every sampler_stop(): registry empty, timers back to
 * `timer_baseline`, every accepted signal stored or dropped. */
void st_check_stopped(int timer_baseline, const char *when);

#endif
