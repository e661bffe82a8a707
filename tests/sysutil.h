/* Helpers without check: shared by the check suites (through testutil.h)
 * and the stress programs (through stress_util.h), which do not link check. */
#ifndef SAMPLER_SYSUTIL_H
#define SAMPLER_SYSUTIL_H

#include <stdint.h>
#include <sys/types.h>

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

#endif /* SAMPLER_SYSUTIL_H */
