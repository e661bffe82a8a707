/*
 * A known call chain un_nofp_a -> un_nofp_b -> un_nofp_c, built with
 * -fomit-frame-pointer (tests/Makefile.am: its own convenience library), for
 * the unwind suite: the libunwind walker must see all three, the
 * frame-pointer walker cannot. Non-static so that dladdr() names them (the
 * test binary is linked with -rdynamic).
 */
#include "unwind_nofp.h"

#include <time.h>

static _Thread_local volatile uint64_t un_sink; /* per thread: no data race (TSan) */
static volatile int un_after; /* work after each call: no tail calls */

static uint64_t un_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) void un_nofp_c(uint64_t ns, volatile int *stop)
{
    uint64_t end = un_cpu_ns() + ns;
    uint64_t x = un_sink;
    do {
        for (int i = 0; i < 200000; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            __asm__ volatile("" : "+r"(x));
        }
        un_sink = x;
    } while (!*stop && un_cpu_ns() < end);
}

__attribute__((noinline)) void un_nofp_b(uint64_t ns, volatile int *stop)
{
    un_nofp_c(ns, stop);
    un_after++;
}

__attribute__((noinline)) void un_nofp_a(uint64_t ns, volatile int *stop)
{
    un_nofp_b(ns, stop);
    un_after++;
}
