/*
 * Per-thread POSIX timers: one timer per registered thread, on that thread's
 * CPU clock (or CLOCK_MONOTONIC in wall mode), delivering the signal to that
 * thread alone (SIGEV_THREAD_ID) with the slot's token as its value.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* The kernel's per-thread CPU clock id for `tid` (CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED). */
static clockid_t sampler__thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

int sampler__timer_create(sampler__slot *s, uint64_t token, bool self)
{
    const sampler__global *g = &sampler__g;
    clockid_t clk;
    if (g->cfg.clock == SAMPLER_CLOCK_WALL)
        clk = CLOCK_MONOTONIC;
    else
        clk = self ? CLOCK_THREAD_CPUTIME_ID : sampler__thread_cpu_clock(s->tid);

    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g->signo;
    sev.sigev_value.sival_ptr = (void *)(uintptr_t)token;
    sev.sigev_notify_thread_id = s->tid;
    if (timer_create(clk, &sev, &s->timer) == 0)
        return 0;
    switch (errno) {
    case EAGAIN:
        return SAMPLER_ETIMERLIMIT;
    case ENOMEM:
        return SAMPLER_ENOMEM;
    case EINVAL:
    case ESRCH:
        return SAMPLER_ENOTHREAD; /* the thread is gone (or not ours) */
    default:
        return SAMPLER_ESYSTEM;
    }
}

/* Arm with the full interval; the first expiry is random in (0, interval] so
 * that threads shorter than an interval are sampled in proportion.
 * timer_settime is async-signal-safe: the handler calls this too. */
int sampler__timer_arm(const sampler__slot *s)
{
    uint64_t iv = sampler__g.cfg.interval_ns;
    uint64_t first = 1 + sampler__random(iv);
    struct itimerspec its = {
        .it_interval = {.tv_sec = (time_t)(iv / 1000000000ULL),
                        .tv_nsec = (long)(iv % 1000000000ULL)},
        .it_value = {.tv_sec = (time_t)(first / 1000000000ULL),
                     .tv_nsec = (long)(first % 1000000000ULL)},
    };
    return timer_settime(s->timer, 0, &its, NULL) == 0 ? 0 : SAMPLER_ESYSTEM;
}

void sampler__timer_disarm(const sampler__slot *s)
{
    static const struct itimerspec zero;
    timer_settime(s->timer, 0, &zero, NULL);
}

void sampler__timer_delete(sampler__slot *s)
{
    timer_delete(s->timer);
}

/* CPU mode: is the task the slot's timer was created for gone? A CPU-clock
 * timer is bound to its task (the kernel's struct pid), not to the tid
 * number, so this is exact even when the tid was reused: while the task lives
 * an armed timer reports time left, and timer_settime() on a timer whose task
 * has been reaped fails with ESRCH. One system call for a live armed timer,
 * two otherwise; no /proc read.
 *
 * The slot is held for the settime, so no handler is between disarming its
 * timer (pause) and marking it disarmed. A slot marked disarmed gets a disarm
 * again (no change); an unmarked one is re-armed, which is the state it is
 * supposed to be in (a timer that fired while paused and not yet handled
 * reads 1 ns, never zero). */
bool sampler__timer_task_gone(sampler__slot *s)
{
    struct itimerspec cur;
    if (timer_gettime(s->timer, &cur) == 0 &&
        (cur.it_value.tv_sec != 0 || cur.it_value.tv_nsec != 0))
        return false;
    sampler__slot_hold(s);
    int rc;
    if (atomic_load(&s->disarmed) != 0) {
        static const struct itimerspec zero;
        rc = timer_settime(s->timer, 0, &zero, NULL) == 0 ? 0 : SAMPLER_ESYSTEM;
    } else {
        rc = sampler__timer_arm(s);
    }
    bool gone = rc < 0 && errno == ESRCH;
    sampler__slot_unhold(s);
    return gone;
}

/* Each POSIX timer holds one entry of the per-user RLIMIT_SIGPENDING for its
 * signal, the same entries the program's sigqueue() and queued real-time
 * signals need. A run leaves an eighth of the limit (at least 4, at most half
 * of it) to the program; past that, registration returns
 * SAMPLER_ETIMERLIMIT. The limit is per user and other processes of the user
 * count too: the kernel's own EAGAIN is still handled. */
uint64_t sampler__timer_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_SIGPENDING, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return UINT64_MAX;
    uint64_t lim = (uint64_t)rl.rlim_cur;
    uint64_t reserve = lim / 8 < 4 ? 4 : lim / 8;
    if (reserve > lim / 2)
        reserve = lim / 2;
    return lim - reserve;
}
