/*
 * The signal path: the handler, and installing/restoring it.
 *
 * The handler is the only code that runs on a sampled thread. It obeys
 * docs/ARCHITECTURE.md "Handler rules": async-signal-safe calls only, no
 * locks, no allocation, errno saved and restored, no memory that management
 * can free is touched unless the run is counted in g.inflight and the state
 * was RUNNING after that, and a slot is only used while holding its busy flag.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Pass a signal that is not ours to the handler installed before us. */
static void sampler__chain(const struct sigaction *old, int sig, siginfo_t *si, void *uc)
{
    /* SIG_DFL or SIG_IGN before us (with or without SA_SIGINFO in the flags):
     * the signal is dropped (it is counted as foreign). Acting on SIG_DFL
     * would kill the process for a stray SIGPROF. */
    if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN)
        return;
    if (old->sa_flags & SA_SIGINFO)
        old->sa_sigaction(sig, si, uc);
    else
        old->sa_handler(sig);
}

/* Counters are only summed: relaxed adds suffice (a reader after stop is
 * ordered by the in-flight wait). */
static inline void sampler__count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Paused: quiet this thread's timer; whoever clears `disarmed` re-arms it. */
static void sampler__on_paused(sampler__global *g, sampler__slot *s)
{
    sampler__timer_disarm(s);
    atomic_store(&s->disarmed, 1);
    /* A resume that ran between our gate check and the store above has already
     * scanned this slot: re-arm ourselves. The exchange makes exactly one of
     * us (resume or this handler) re-arm. */
    if (atomic_load(&g->paused) == 0 && atomic_exchange(&s->disarmed, 0) != 0)
        sampler__timer_arm(s);
    sampler__count(&g->ctr.paused, 1);
}

/* Stack bounds of a thread registered by tid: the mapping that holds its
 * stack pointer, looked up again whenever the stack pointer leaves the bounds
 * found before (a coroutine or signal stack); unknown bounds stay 0. */
static void sampler__find_stack(sampler__global *g, sampler__slot *s, uintptr_t sp)
{
    if (s->stack_hi != 0 && sp >= s->stack_lo && sp < s->stack_hi)
        return;
    const sampler__maps *m = atomic_load(&g->maps);
    const sampler__range *r = m ? sampler__maps_find(m, sp) : NULL;
    s->stack_lo = r ? r->lo : 0;
    s->stack_hi = r ? r->hi : 0;
}

static uintptr_t sampler__context_sp(const void *ucontext)
{
    uintptr_t pc, fp, sp;
    sampler__context_regs(ucontext, &pc, &fp, &sp); /* sp 0 where unknown */
    return sp;
}

_Thread_local int sampler__in_handler __attribute__((tls_model("initial-exec")));

static void sampler__take_sample(sampler__global *g, sampler__slot *s, const siginfo_t *si,
                                 void *uc, uint64_t now)
{
    uint64_t overrun = (uint64_t)(si->si_overrun > 0 ? si->si_overrun : 0);
    uint64_t weight = 1 + overrun;
    sampler__count(&g->ctr.signals, 1);
    if (overrun > 0)
        sampler__count(&g->ctr.overruns, overrun);
    /* CPU clock: a signal delivered as the thread unblocks it, carrying more
     * than a tick's worth of overruns (g->max_overrun), waited while the
     * thread ran with it blocked. That time was not spent in the unblocking
     * call we interrupt now, so it is kept apart (ARCHITECTURE.md "Late
     * signals"). */
    uint64_t delayed = 0;
    if (overrun > g->max_overrun && sampler__context_unblocking(uc)) {
        delayed = overrun - g->max_overrun;
        weight -= delayed;
    }

    sampler__buffer *b = atomic_load(&g->buf);
    void *rec;
    uintptr_t *pcs = sampler__buffer_reserve(b, &rec);
    if (pcs == NULL) {
        sampler__count(&g->ctr.dropped, 1);
        sampler__count(&g->ctr.dropped_weight, weight + delayed);
        return;
    }
    if (!s->self)
        sampler__find_stack(g, s, sampler__context_sp(uc));
    sampler_walk_ctx ctx = {
        .ucontext = uc,
        .tid = s->tid,
        .thread_arg = s->thread_arg,
        .stack_lo = s->stack_lo,
        .stack_hi = s->stack_hi,
    };
    int max = g->cfg.max_depth;
    sampler__in_handler = 1; /* a walker's management call gets SAMPLER_EBUSY */
    int depth = g->cfg.walker(&ctx, pcs, max, g->cfg.walker_arg);
    sampler__in_handler = 0;
    if (depth < 0 || depth > max)
        depth = 0;
    sampler__record r = {
        .tid = s->tid,
        .depth = depth,
        .time_ns = now,
        .weight = weight,
        .delayed_weight = delayed,
        .thread_arg = s->thread_arg,
    };
    sampler__buffer_commit(b, rec, &r);
    sampler__count(&g->ctr.samples, 1);
    sampler__count(&g->ctr.weight, weight);
    if (delayed > 0) {
        sampler__count(&g->ctr.delayed, 1);
        sampler__count(&g->ctr.delayed_weight, delayed);
    }
}

static void sampler__handler(int sig, siginfo_t *si, void *uc)
{
    sampler__global *g = &sampler__g;
    int saved_errno = errno;
    /* Count ourselves in before reading anything that stop can free. */
    atomic_fetch_add(&g->inflight, 1);

    uint64_t tok = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    if (si->si_code != SI_TIMER || !sampler__token_ours(tok)) {
        struct sigaction old = g->old_action;
        sampler__count(&g->ctr.foreign, 1);
        atomic_fetch_sub(&g->inflight, 1);
        /* Outside the in-flight count: the old handler may not return. */
        sampler__chain(&old, sig, si, uc);
        errno = saved_errno;
        return;
    }

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;

    sampler__slot *s = NULL;
    if (atomic_load(&g->state) != SAMPLER__RUNNING)
        goto stale;
    s = sampler__slot_get(sampler__token_idx(tok));
    if (s == NULL)
        goto stale;
    int idle = SAMPLER__SLOT_IDLE;
    if (!atomic_compare_exchange_strong(&s->busy, &idle, SAMPLER__SLOT_HANDLER)) {
        s = NULL; /* being torn down */
        goto stale;
    }
    if (atomic_load(&s->gen) != sampler__token_gen(tok))
        goto stale;

    /* The time was read before this gate: a sample stored after sampler_pause()
     * returned always carries an earlier time. */
    if (atomic_load(&g->paused))
        sampler__on_paused(g, s);
    else
        sampler__take_sample(g, s, si, uc, now);
    atomic_store(&s->busy, SAMPLER__SLOT_IDLE);
    goto out;

stale:
    if (s != NULL)
        atomic_store(&s->busy, SAMPLER__SLOT_IDLE);
    sampler__count(&g->ctr.stale, 1);
out:
    atomic_fetch_sub(&g->inflight, 1);
    errno = saved_errno;
}

/* ---- management side --------------------------------------------------------- */

int sampler__signo_valid(int signo)
{
    switch (signo) {
    case SIGPROF:
    case SIGVTALRM:
    case SIGALRM:
    case SIGUSR1:
    case SIGUSR2:
        return 1;
    default:
        return signo >= SIGRTMIN && signo <= SIGRTMAX;
    }
}

int sampler__signal_install(int signo)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sampler__handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* Save the old action before ours can run: the handler reads it. */
    if (sigaction(signo, NULL, &sampler__g.old_action) != 0)
        return SAMPLER_ESYSTEM;
    if (sigaction(signo, &sa, NULL) != 0)
        return SAMPLER_ESYSTEM;
    return 0;
}

static bool sampler__action_is(const struct sigaction *sa, void (*fn)(int, siginfo_t *, void *))
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == fn;
}

bool sampler__signal_is_ours(int signo)
{
    struct sigaction cur;
    if (sigaction(signo, NULL, &cur) != 0)
        return true; /* cannot tell: assume nothing changed */
    return sampler__action_is(&cur, sampler__handler);
}

/* The program may set its own action at any time; sigaction() swaps in one
 * call, so a swap that finds someone else's action puts it straight back
 * (only pending instances of the signal are lost in between). */
bool sampler__signal_ignore(int signo)
{
    struct sigaction sa, prev;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, &prev) != 0)
        return true;
    if (sampler__action_is(&prev, sampler__handler))
        return true;
    sigaction(signo, &prev, NULL);
    atomic_store(&sampler__g.handler_replaced, 1);
    return false;
}

void sampler__signal_restore(int signo)
{
    struct sigaction prev;
    if (sigaction(signo, &sampler__g.old_action, &prev) != 0)
        return;
    /* Someone set an action while it was SIG_IGN (stop's short window): keep it. */
    if (prev.sa_handler != SIG_IGN || (prev.sa_flags & SA_SIGINFO))
        sigaction(signo, &prev, NULL);
}

void sampler__signal_restore_if_ours(int signo)
{
    if (sampler__signal_is_ours(signo))
        sigaction(signo, &sampler__g.old_action, NULL);
    else
        atomic_store(&sampler__g.handler_replaced, 1);
}
