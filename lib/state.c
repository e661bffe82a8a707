/*
 * Global state and the lifecycle: start, stop (the shutdown sequence of
 * docs/ARCHITECTURE.md), pause, resume, and the fork child's reset.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

sampler__global sampler__g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .drain_lock = PTHREAD_MUTEX_INITIALIZER,
};

_Thread_local int sampler__in_drain;
/* sampler_get_interval_ns(): written under g.lock at start, read anywhere. */
static _Atomic uint64_t sampler__last_interval_ns;
uint8_t sampler__tag;

static pthread_once_t sampler__once = PTHREAD_ONCE_INIT;

/* fork() from a drain callback: this thread holds drain_lock, and another
 * thread may hold g.lock waiting for drain_lock (sampler_start), so prepare
 * takes no lock then, and the child drops what it cannot trust. */
static _Thread_local bool sampler__fork_unlocked;

/* Only the registry lock is held across fork: the child throws the buffer
 * away and re-initialises drain_lock. */
static void sampler__atfork_prepare(void)
{
    sampler__fork_unlocked = sampler__in_drain != 0;
    if (!sampler__fork_unlocked)
        pthread_mutex_lock(&sampler__g.lock);
}

static void sampler__atfork_parent(void)
{
    if (!sampler__fork_unlocked)
        pthread_mutex_unlock(&sampler__g.lock);
}

/* The child has no timers and one thread. Put it in a clean stopped state. */
static void sampler__atfork_child(void)
{
    sampler__global *g = &sampler__g;
    sampler__forget_tid();
    /* One thread now: whoever held g.lock in the parent is not here. */
    pthread_mutex_init(&g->lock, NULL);
    if (atomic_load(&g->state) != SAMPLER__STOPPED) {
        atomic_store(&g->state, SAMPLER__STOPPING);
        sampler__signal_restore_if_ours(g->signo);
    }
    sampler__buffer *b = atomic_exchange(&g->buf, NULL);
    if (sampler__fork_unlocked) {
        /* Forked from a drain callback: the registry may have been half-way
         * through a change in another thread, so forget it without walking
         * it (its memory stays in this child); the drain under way still
         * reads `b` and releases drain_lock when the callback returns. */
        sampler__registry_forget();
        sampler__fork_unlocked = false;
    } else {
        pthread_mutex_init(&g->drain_lock, NULL);
        sampler__registry_after_fork();
        sampler__maps_collect(true);
        sampler__buffer_free(b);
    }
    memset(&g->ctr, 0, sizeof g->ctr);
    atomic_store(&g->paused, 0);
    atomic_store(&g->inflight, 0);
    atomic_store(&g->state, SAMPLER__STOPPED);
}

static void sampler__init_once(void)
{
    pthread_atfork(sampler__atfork_prepare, sampler__atfork_parent, sampler__atfork_child);
    uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed ^= (uint64_t)ts.tv_nsec << 17 ^ (uint64_t)ts.tv_sec;
    seed ^= (uint64_t)(uintptr_t)&sampler__g; /* differs between copies (ASLR) */
    atomic_store(&sampler__g.rng, seed);
    /* A tag and a first generation of our own: see sampler__token_make(). */
    do
        sampler__tag = (uint8_t)sampler__random(256);
    while (sampler__tag == 0);
    sampler__g.next_gen = (uint32_t)sampler__random(UINT32_MAX);
    sampler__registry_init();
}

/* The caller's cancellation state while it holds g.lock (the lock is not
 * recursive, so one per thread suffices). */
static _Thread_local int sampler__cancel_state;

int sampler__lock(void)
{
    if (sampler__in_drain || sampler__in_handler)
        return SAMPLER_EBUSY;
    /* Registering reads /proc (open, read: cancellation points) under the
     * lock; a pthread_cancel() acted on there would leave the lock held and
     * hang every later call and every fork(). Cancellation waits until the
     * call returns instead. */
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_once(&sampler__once, sampler__init_once);
    pthread_mutex_lock(&sampler__g.lock);
    sampler__cancel_state = old;
    return 0;
}

void sampler__unlock(void)
{
    int old = sampler__cancel_state;
    pthread_mutex_unlock(&sampler__g.lock);
    pthread_setcancelstate(old, NULL);
}

int sampler__check_running(void)
{
    return atomic_load(&sampler__g.state) == SAMPLER__RUNNING ? 0 : SAMPLER_ENOTSTARTED;
}

/* splitmix64 over an atomic counter: lock-free, async-signal-safe. */
uint64_t sampler__random(uint64_t bound)
{
    uint64_t z = atomic_fetch_add(&sampler__g.rng, 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return bound ? z % bound : 0;
}

/* Wait until no handler run is in flight. Handlers never block, so this ends. */
void sampler__wait_no_handler(void)
{
    for (unsigned spins = 0; atomic_load(&sampler__g.inflight) != 0; spins++) {
        if (spins < 64)
            continue;
        sched_yield();
    }
}

int sampler_start(const sampler_config *cfg)
{
    sampler__global *g = &sampler__g;
    sampler_config c;
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    if (atomic_load(&g->state) != SAMPLER__STOPPED) {
        rc = SAMPLER_ESTARTED;
        goto out;
    }
    rc = sampler__config_check(cfg, &c);
    if (rc < 0)
        goto out;

    sampler__buffer *nb = sampler__buffer_new(c.buffer_capacity, c.max_depth);
    if (nb == NULL) {
        rc = SAMPLER_ENOMEM;
        goto out;
    }
    /* A handler that began before the last stop finished could still hold the
     * old buffer only while it is counted in flight. */
    sampler__wait_no_handler();
    pthread_mutex_lock(&g->drain_lock);
    sampler__buffer *old = atomic_exchange(&g->buf, nb);
    pthread_mutex_unlock(&g->drain_lock);
    sampler__buffer_free(old);

    sampler__walker_prepare(c.walker);
    memset(&g->ctr, 0, sizeof g->ctr);
    atomic_store(&g->handler_replaced, 0);
    g->cfg = c;
    atomic_store(&sampler__last_interval_ns, c.interval_ns);
    g->signo = c.signo;
    /* The longest scheduler tick Linux has (HZ=100): an on-time CPU-timer
     * signal carries at most this many overruns (signal.c). */
    g->max_overrun = c.clock == SAMPLER_CLOCK_CPU
                         ? (10000000ULL + c.interval_ns - 1) / c.interval_ns
                         : UINT64_MAX;
    g->timer_budget = sampler__timer_budget();
    atomic_store(&g->paused, 0);
    atomic_store(&g->state, SAMPLER__RUNNING);
    rc = sampler__signal_install(c.signo);
    if (rc < 0)
        atomic_store(&g->state, SAMPLER__STOPPED);
out:
    sampler__unlock();
    return rc;
}

int sampler_stop(void)
{
    sampler__global *g = &sampler__g;
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    if (atomic_load(&g->state) != SAMPLER__RUNNING) {
        sampler__unlock();
        return SAMPLER_ENOTSTARTED;
    }
    /* 1. From here on a handler that starts only drops. */
    atomic_store(&g->state, SAMPLER__STOPPING);
    /* 2. Disarm and delete every timer (waits out a handler holding a slot). */
    sampler__registry_clear();
    /* 3. SIG_IGN discards every pending instance in every thread; no new handler
     *    run can begin. If the program has put its own action in our place,
     *    that action stays (and no run of ours can begin either). */
    bool ours = sampler__signal_ignore(g->signo);
    /* 4. Wait for handler runs already under way. */
    sampler__wait_no_handler();
    /* 5. Restore the previous disposition (only over our SIG_IGN); free slot
     *    storage. */
    if (ours)
        sampler__signal_restore(g->signo);
    sampler__registry_free();
    sampler__maps_collect(true);
    atomic_store(&g->paused, 0);
    atomic_store(&g->state, SAMPLER__STOPPED);
    sampler__unlock();
    return 0;
}

int sampler_pause(void)
{
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0 && atomic_exchange(&sampler__g.paused, 1) != 0)
        rc = SAMPLER_EPAUSED;
    sampler__unlock();
    return rc;
}

int sampler_resume(void)
{
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0) {
        if (atomic_load(&sampler__g.paused) == 0)
            rc = SAMPLER_ENOTPAUSED;
        else
            rc = sampler__registry_resume();
    }
    sampler__unlock();
    return rc;
}

int sampler_state(void)
{
    int st = atomic_load(&sampler__g.state);
    if (st != SAMPLER__RUNNING)
        return SAMPLER_STATE_STOPPED;
    return atomic_load(&sampler__g.paused) ? SAMPLER_STATE_PAUSED : SAMPLER_STATE_RUNNING;
}

int sampler_get_stats(sampler_stats *out, size_t size)
{
    if (out == NULL)
        return SAMPLER_EINVAL;
    size_t v1 = offsetof(sampler_stats, reaped) + sizeof(uint64_t);
    if (size < v1)
        return SAMPLER_ESTRUCTSIZE;
    const sampler__counters *c = &sampler__g.ctr;
    sampler_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    st.signals = atomic_load(&c->signals);
    st.samples = atomic_load(&c->samples);
    st.weight = atomic_load(&c->weight);
    st.overruns = atomic_load(&c->overruns);
    st.dropped = atomic_load(&c->dropped);
    st.dropped_weight = atomic_load(&c->dropped_weight);
    st.paused = atomic_load(&c->paused);
    st.foreign = atomic_load(&c->foreign);
    st.stale = atomic_load(&c->stale);
    st.timer_failures = atomic_load(&c->timer_failures);
    st.reaped = atomic_load(&c->reaped);
    st.delayed = atomic_load(&c->delayed);
    st.delayed_weight = atomic_load(&c->delayed_weight);
    /* Under the lock, so a stop's SIG_IGN window is not taken for a
     * replacement (from a drain callback the check is left to stop). */
    if (sampler__lock() == 0) {
        if (atomic_load(&sampler__g.state) == SAMPLER__RUNNING &&
            !sampler__signal_is_ours(sampler__g.signo))
            atomic_store(&sampler__g.handler_replaced, 1);
        sampler__unlock();
    }
    st.handler_replaced = (uint64_t)atomic_load(&sampler__g.handler_replaced);
    st.threads = atomic_load(&sampler__g.nthreads);
    if (size > sizeof st) {
        memset(out, 0, size);
        memcpy(out, &st, sizeof st);
    } else {
        memcpy(out, &st, size);
    }
    out->size = size < sizeof st ? size : sizeof st;
    return 0;
}

int sampler_in_drain_callback(void)
{
    return sampler__in_drain != 0;
}

uint64_t sampler_get_interval_ns(void)
{
    return atomic_load(&sampler__last_interval_ns);
}
