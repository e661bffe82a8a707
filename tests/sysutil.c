#include "sysutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
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
