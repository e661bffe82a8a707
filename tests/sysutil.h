/* Helpers without check: shared by the check suites (through testutil.h)
 * and the stress programs (through stress_util.h), which do not link check. */
#ifndef SAMPLER_SYSUTIL_H
#define SAMPLER_SYSUTIL_H

#include <stdint.h>
#include <sys/types.h>

#include <sampler.h>

pid_t tu_gettid(void);
/* CPU time of the calling thread, and of the process, in nanoseconds. */
uint64_t tu_thread_cpu_ns(void);
uint64_t tu_process_cpu_ns(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t tu_now_ns(void);
/* Burn `ns` of this thread's CPU time in a loop the compiler cannot remove. */
void tu_burn_cpu_ns(uint64_t ns);
/* Sleep `us` microseconds (the whole time: resumed after a signal). */
void tu_nap_us(long us);
/* Number of POSIX timers this process has (lines "ID:" in /proc/self/timers). */
int tu_count_timers(void);
/* tgkill(2) to a thread of this process; 0 or -1 (errno). */
int tu_tgkill(pid_t tid, int sig);
/* sampler_drain(fn, arg, 0) until it hands over nothing: 0, or the error the
 * first failing call returned (the samples before it were handed over). */
int tu_drain_all(sampler_sample_fn fn, void *arg);
/* Wait at most `limit_s` seconds (wall clock, as given) for child `pid` to
 * end, polling waitpid(WNOHANG): `pid` with its *status once it ended; 0 if it
 * was still running at the limit (it is then killed with SIGKILL and reaped,
 * and *status is that); -1 if waitpid failed (errno). */
pid_t tu_waitpid_within(pid_t pid, double limit_s, int *status);

#endif /* SAMPLER_SYSUTIL_H */
