/* The background collector: a thread that drains the sampler's buffer into a
 * profile every period, so a long run loses nothing to a full buffer; and the
 * fork handlers that keep every profile usable in a fork child. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* ---- fork -------------------------------------------------------------------
 *
 * The child of fork() has one thread. A collector thread of the parent is not
 * there, but the copies of its condition variable and of the profile's locks
 * are, in the state the parent's threads left them: a collector waiting on the
 * condition variable is counted in it, so pthread_cond_destroy() in the child
 * (sampler_profile_free()) waited forever for a waiter that does not exist;
 * a lock held by a parent's thread at the fork would never be released. So
 * every live profile is on one list, and the handlers:
 *
 *  - prepare: take the list lock, then each profile's `clock` and `lock`, so
 *    no other thread is half-way through a change of a profile when the
 *    process is copied (a fork() waits for a profile write under way in
 *    another thread to end: writers hold `lock` while they build the output);
 *  - parent: release them;
 *  - child: re-initialise each condition variable, mark each collector
 *    stopped (the child's sampler_profile_collector_stop() returns
 *    SAMPLER_ENOTCOLLECTING and joins nothing; collector_start() starts one of
 *    the child's own), and release the locks.
 *
 * Lock order: list lock, then per profile `clock`, then `lock`. No other code
 * holds two of these at once (`clock` is never held with `lock`).
 *
 * Order with the core's handlers (lib/state.c), whose prepare takes the
 * sampler's lock: ours must run after it, i.e. be registered before it
 * (prepare handlers run in the reverse order of registration). Otherwise a
 * fork could hold a profile lock and wait for the sampler's lock, held by
 * sampler_start() waiting for the drain lock, held by a drain callback
 * waiting for that profile lock (test_fork_handler_order). The core registers
 * at its first management call, so ours are registered by a constructor, at
 * load time (priority 101: before the default constructors of the same
 * program or module, such as the preload module's). */

static pthread_mutex_t sampler__profiles_lock = PTHREAD_MUTEX_INITIALIZER;
static sampler_profile *sampler__profiles; /* live profiles (fork_next list) */
static pthread_once_t sampler__profiles_once = PTHREAD_ONCE_INIT;
static int sampler__profiles_atfork_err;

static void sampler__profiles_prepare(void)
{
    pthread_mutex_lock(&sampler__profiles_lock);
    for (sampler_profile *p = sampler__profiles; p != NULL; p = p->fork_next) {
        pthread_mutex_lock(&p->clock);
        pthread_mutex_lock(&p->lock);
    }
}

static void sampler__profiles_parent(void)
{
    for (sampler_profile *p = sampler__profiles; p != NULL; p = p->fork_next) {
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_unlock(&p->clock);
    }
    pthread_mutex_unlock(&sampler__profiles_lock);
}

static void sampler__cond_init(sampler_profile *p)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void sampler__profiles_child(void)
{
    for (sampler_profile *p = sampler__profiles; p != NULL; p = p->fork_next) {
        /* the parent's waiters are not in this process: a fresh one */
        sampler__cond_init(p);
        p->collecting = false;
        p->stopping = false;
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_unlock(&p->clock);
    }
    pthread_mutex_unlock(&sampler__profiles_lock);
}

static void sampler__profiles_init_once(void)
{
    sampler__profiles_atfork_err = pthread_atfork(
        sampler__profiles_prepare, sampler__profiles_parent, sampler__profiles_child);
}

__attribute__((constructor(101))) static void sampler__profiles_ctor(void)
{
    pthread_once(&sampler__profiles_once, sampler__profiles_init_once);
}

int sampler__collector_init(sampler_profile *p)
{
    pthread_once(&sampler__profiles_once, sampler__profiles_init_once);
    if (sampler__profiles_atfork_err != 0)
        return SAMPLER_ENOMEM; /* pthread_atfork fails only with ENOMEM */
    pthread_mutex_init(&p->clock, NULL);
    sampler__cond_init(p);
    pthread_mutex_lock(&sampler__profiles_lock);
    p->fork_prev = NULL;
    p->fork_next = sampler__profiles;
    if (sampler__profiles != NULL)
        sampler__profiles->fork_prev = p;
    sampler__profiles = p;
    pthread_mutex_unlock(&sampler__profiles_lock);
    return 0;
}

void sampler__collector_fini(sampler_profile *p)
{
    /* A collector of another process: forked by a call that ran no fork
     * handlers (a raw clone()). Its waiter may be counted in the condition
     * variable, and glibc's pthread_cond_destroy() would wait for it. */
    pthread_mutex_lock(&p->clock);
    bool foreign = p->collecting && p->collector_pid != getpid();
    pthread_mutex_unlock(&p->clock);
    sampler_profile_collector_stop(p);
    pthread_mutex_lock(&sampler__profiles_lock);
    if (p->fork_prev != NULL)
        p->fork_prev->fork_next = p->fork_next;
    else
        sampler__profiles = p->fork_next;
    if (p->fork_next != NULL)
        p->fork_next->fork_prev = p->fork_prev;
    pthread_mutex_unlock(&sampler__profiles_lock);
    if (!foreign)
        pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->clock);
}

/* ---- the collector thread ------------------------------------------------------ */

static void *sampler__collector_main(void *arg)
{
    sampler_profile *p = arg;
    pthread_mutex_lock(&p->clock);
    while (!p->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += p->period_ms / 1000;
        until.tv_nsec += (long)(p->period_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!p->stopping &&
               pthread_cond_timedwait(&p->cond, &p->clock, &until) != ETIMEDOUT)
            ;
        if (p->stopping)
            break;
        pthread_mutex_unlock(&p->clock);
        sampler_profile_drain(p);
        pthread_mutex_lock(&p->clock);
    }
    pthread_mutex_unlock(&p->clock);
    return NULL;
}

int sampler_profile_collector_start(sampler_profile *p, unsigned int period_ms)
{
    if (p == NULL || period_ms < 1 || period_ms > 60000)
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->clock);
    if (p->collecting && p->collector_pid == getpid()) {
        pthread_mutex_unlock(&p->clock);
        return SAMPLER_ECOLLECTING;
    }
    p->collecting = false;
    p->stopping = false;
    p->period_ms = period_ms;
    /* The thread blocks every signal: the sampler's signal never interrupts
     * it, and the program's signals go to its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&p->thread, NULL, sampler__collector_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        pthread_mutex_unlock(&p->clock);
        return err == ENOMEM ? SAMPLER_ENOMEM : SAMPLER_ESYSTEM;
    }
    p->collecting = true;
    p->collector_pid = getpid();
    pthread_mutex_unlock(&p->clock);
    return 0;
}

int sampler_profile_collector_stop(sampler_profile *p)
{
    if (p == NULL)
        return SAMPLER_EINVAL;
    if (sampler_in_drain_callback())
        return SAMPLER_EBUSY; /* joining a thread that waits for our drain lock */
    pthread_mutex_lock(&p->clock);
    if (!p->collecting || p->collector_pid != getpid()) {
        /* not running, or started in the parent before fork() (the fork
         * handlers clear `collecting` in the child; the pid check is for a
         * child made without them, by a raw clone()) */
        p->collecting = false;
        pthread_mutex_unlock(&p->clock);
        return SAMPLER_ENOTCOLLECTING;
    }
    if (p->stopping) { /* another thread is stopping it */
        pthread_mutex_unlock(&p->clock);
        return SAMPLER_ENOTCOLLECTING;
    }
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_t th = p->thread;
    pthread_mutex_unlock(&p->clock);
    pthread_join(th, NULL);
    pthread_mutex_lock(&p->clock);
    p->collecting = false;
    p->stopping = false;
    pthread_mutex_unlock(&p->clock);
    int n = sampler_profile_drain(p);
    return n < 0 ? n : 0;
}
