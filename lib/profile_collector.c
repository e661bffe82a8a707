/* The background collector: a thread that drains the sampler's buffer into a
 * profile every period, so a long run loses nothing to a full buffer. */
#include "profile.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

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
    if (sampler__in_drain)
        return SAMPLER_EBUSY; /* joining a thread that waits for our drain lock */
    pthread_mutex_lock(&p->clock);
    if (!p->collecting || p->collector_pid != getpid()) {
        /* not running, or started in the parent before fork() */
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
