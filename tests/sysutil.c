#include "sysutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t tu_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static uint64_t tu_clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t tu_thread_cpu_ns(void)
{
    return tu_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t tu_process_cpu_ns(void)
{
    return tu_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

uint64_t tu_now_ns(void)
{
    return tu_clock_ns(CLOCK_MONOTONIC);
}

/* Per thread: burning threads must not share (race on) one sink. */
static _Thread_local volatile uint64_t tu_sink;

void tu_burn_cpu_ns(uint64_t ns)
{
    uint64_t end = tu_thread_cpu_ns() + ns;
    uint64_t x = tu_sink;
    do {
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        tu_sink = x;
    } while (tu_thread_cpu_ns() < end);
}

void tu_nap_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int tu_count_timers(void)
{
    FILE *f = fopen("/proc/self/timers", "r");
    if (f == NULL)
        return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "ID:", 3) == 0)
            n++;
    fclose(f);
    return n;
}

int tu_tgkill(pid_t tid, int sig)
{
    return (int)syscall(SYS_tgkill, getpid(), tid, sig);
}

int tu_drain_all(sampler_sample_fn fn, void *arg)
{
    int n;
    while ((n = sampler_drain(fn, arg, 0)) > 0)
        ;
    return n;
}

pid_t tu_waitpid_within(pid_t pid, double limit_s, int *status)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)(limit_s * 1e9);
    long nap_us = 100; /* short children are seen soon, long ones cost few polls */
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got != 0) {
            if (got < 0 && errno == EINTR)
                continue;
            return got;
        }
        if (tu_now_ns() >= deadline)
            break;
        tu_nap_us(nap_us);
        if (nap_us < 5000)
            nap_us *= 2;
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}
