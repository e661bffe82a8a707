/*
 * The registry: which threads are sampled, and the registration API. A
 * uthash map tid -> slot, under one mutex (g.lock), used by management calls
 * only; the slots themselves are slots.c's, the /proc readers procfs.c's and
 * the timers (with the CPU-mode liveness test) timers.c's.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_key_t sampler__key;
int sampler__hash_oom;

static void sampler__key_dtor(void *value);

/* Once per process, from sampler__lock(): before any key use. */
void sampler__registry_init(void)
{
    pthread_key_create(&sampler__key, sampler__key_dtor);
}

/* The calling thread's tid, kept per thread: gettid is a system call (about
 * 0.2 us here, a tenth of a whole registration). A fork child's one thread
 * has a new tid: sampler__atfork_child() calls sampler__forget_tid(). */
static _Thread_local pid_t sampler__tid_cache;

static pid_t sampler__gettid(void)
{
    pid_t tid = sampler__tid_cache;
    if (tid == 0)
        sampler__tid_cache = tid = (pid_t)syscall(SYS_gettid);
    return tid;
}

void sampler__forget_tid(void)
{
    sampler__tid_cache = 0;
}

/* Under lock: unregister one slot and delete its timer. */
static void sampler__teardown(sampler__slot *s)
{
    sampler__slot_seize(s);
    sampler__timer_delete(s);
    HASH_DEL(sampler__g.by_tid, s);
    sampler__g.nthreads--;
    sampler__slot_release(s);
}

static uint32_t sampler__next_gen(void)
{
    if (++sampler__g.next_gen == 0)
        ++sampler__g.next_gen;
    return sampler__g.next_gen;
}

/* Under lock: create the slot and its timer for `tid` and start sampling it. */
static int sampler__add(pid_t tid, bool self, void *thread_arg, unsigned long long started,
                        uintptr_t stack_lo, uintptr_t stack_hi, uint64_t *token_out)
{
    sampler__global *g = &sampler__g;
    sampler__slot *s = sampler__slot_alloc();
    if (s == NULL)
        return SAMPLER_ENOMEM;
    uint32_t gen = sampler__next_gen();
    uint64_t tok = sampler__token_make(s->idx, gen);
    s->tid = tid;
    s->self = self;
    s->started = started;
    s->thread_arg = thread_arg;
    s->stack_lo = stack_lo;
    s->stack_hi = stack_hi;
    int rc = g->nthreads >= g->timer_budget ? SAMPLER_ETIMERLIMIT
                                            : sampler__timer_create(s, tok, self);
    if (rc < 0) {
        if (rc == SAMPLER_ETIMERLIMIT)
            atomic_fetch_add(&g->ctr.timer_failures, 1);
        sampler__slot_release(s);
        return rc;
    }
    sampler__hash_oom = 0;
    HASH_ADD(hh, g->by_tid, tid, sizeof(pid_t), s);
    if (sampler__hash_oom) {
        sampler__timer_delete(s);
        sampler__slot_release(s);
        return SAMPLER_ENOMEM;
    }
    g->nthreads++;
    /* Publish: from here on the handler accepts this token. */
    atomic_store(&s->gen, gen);
    if (atomic_load(&g->paused)) {
        atomic_store(&s->disarmed, 1); /* resume arms it */
    } else if (sampler__timer_arm(s) < 0) {
        sampler__teardown(s);
        return SAMPLER_ESYSTEM;
    }
    if (token_out)
        *token_out = tok;
    return 0;
}

/* Is the thread of this entry still the one that registered? */
static bool sampler__thread_alive(sampler__slot *s)
{
    if (sampler__g.cfg.clock == SAMPLER_CLOCK_CPU)
        return !sampler__timer_task_gone(s);
    /* Wall mode: CLOCK_MONOTONIC timers are not bound to a task. */
    if (s->self) {
        /* Normally removed by the key destructor at exit; one gone without it
         * (raw exit) is found by the kernel. */
        return syscall(SYS_tgkill, getpid(), s->tid, 0) == 0 || errno != ESRCH;
    }
    unsigned long long st;
    int rc = sampler__thread_started(s->tid, &st);
    if (rc == SAMPLER_ENOTHREAD)
        return false;
    /* rc < 0: cannot tell (out of file descriptors?): keep it */
    return rc < 0 || st == s->started;
}

/* Under lock: drop entries of threads that exited. */
static int sampler__reap(void)
{
    sampler__slot *s, *tmp;
    int n = 0;
    HASH_ITER(hh, sampler__g.by_tid, s, tmp)
    {
        /* cppcheck-suppress uninitvar ; HASH_ITER (uthash, unseen by cppcheck) sets s */
        if (!sampler__thread_alive(s)) {
            sampler__teardown(s);
            atomic_fetch_add(&sampler__g.ctr.reaped, 1);
            n++;
        }
    }
    return n;
}

/* The calling thread's stack bounds. pthread_getattr_np() reads
 * /proc/self/maps for the main thread and asks for the CPU affinity for every
 * thread, so the answer is kept per thread: a thread's stack never moves. */
static void sampler__self_bounds(uintptr_t *lo, uintptr_t *hi)
{
    static _Thread_local uintptr_t cached_lo, cached_hi;
    if (cached_hi == 0) {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                cached_lo = (uintptr_t)addr;
                cached_hi = (uintptr_t)addr + size;
            }
            pthread_attr_destroy(&attr);
        }
    }
    *lo = cached_lo;
    *hi = cached_hi;
}

/* Under lock: is the calling thread registered through its key? */
static sampler__slot *sampler__self_slot(void)
{
    void *v = pthread_getspecific(sampler__key);
    if (v == NULL)
        return NULL;
    uint64_t tok = (uint64_t)(uintptr_t)v;
    sampler__slot *s = sampler__slot_get(sampler__token_idx(tok));
    if (s == NULL || atomic_load(&s->gen) != sampler__token_gen(tok))
        return NULL;
    return s;
}

/* Under lock, running: register the calling thread. */
static int sampler__register_self(void *thread_arg)
{
    pid_t tid = sampler__gettid();
    if (sampler__self_slot() != NULL)
        return SAMPLER_EREGISTERED;
    sampler__slot *old;
    HASH_FIND(hh, sampler__g.by_tid, &tid, sizeof(pid_t), old);
    if (old != NULL) {
        /* Registered by tid from another thread (then it is us: refuse), or
         * a stale entry of an exited thread whose tid the kernel gave to us
         * (a self entry of ours would have matched our key above). */
        if (!old->self && sampler__thread_alive(old))
            return SAMPLER_EREGISTERED;
        sampler__teardown(old);
        atomic_fetch_add(&sampler__g.ctr.reaped, 1);
    }
    uintptr_t lo, hi;
    sampler__self_bounds(&lo, &hi);
    uint64_t tok;
    int rc = sampler__add(tid, true, thread_arg, 0, lo, hi, &tok);
    if (rc == 0)
        pthread_setspecific(sampler__key, (void *)(uintptr_t)tok);
    return rc;
}

/* Under lock, running: register another thread of ours by tid.
 *
 * The start time (/proc/self/task/TID/stat, three system calls and most of
 * the cost of this function) is read only where it is used: in wall mode it
 * is the thread's identity, and with `refresh_maps` it says whether the maps
 * snapshot already holds the thread's stack. In CPU mode the timer is the
 * identity (sampler__timer_task_gone), and sampler_register_all_threads()
 * (refresh_maps false) takes its snapshot after listing the threads, so it
 * holds every listed thread's stack. timer_create() itself refuses a tid that
 * is gone or not a thread of this process (SAMPLER_ENOTHREAD). */
static int sampler__register_other(pid_t tid, void *thread_arg, bool refresh_maps)
{
    unsigned long long started = 0;
    int rc;
    if (refresh_maps || sampler__g.cfg.clock != SAMPLER_CLOCK_CPU) {
        rc = sampler__thread_started(tid, &started);
        if (rc < 0)
            return rc;
    }
    sampler__slot *old;
    HASH_FIND(hh, sampler__g.by_tid, &tid, sizeof(pid_t), old);
    if (old != NULL) {
        if (sampler__thread_alive(old))
            return SAMPLER_EREGISTERED;
        /* The tid was reused: the entry belongs to a thread that exited. */
        sampler__teardown(old);
        atomic_fetch_add(&sampler__g.ctr.reaped, 1);
    }
    if (refresh_maps && !sampler__maps_covers(started)) {
        rc = sampler__maps_refresh();
        if (rc < 0)
            return rc;
    }
    rc = sampler__add(tid, false, thread_arg, started, 0, 0, NULL);
    if (rc == SAMPLER_ESYSTEM && sampler__thread_started(tid, &started) < 0)
        rc = SAMPLER_ENOTHREAD; /* it exited meanwhile */
    return rc;
}

int sampler_thread_register(void *thread_arg)
{
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0)
        sampler__walker_prepare(sampler__g.cfg.walker);
    if (rc == 0)
        rc = sampler__register_self(thread_arg);
    sampler__unlock();
    return rc;
}

int sampler_thread_register_tid(pid_t tid, void *thread_arg)
{
    if (tid <= 0)
        return SAMPLER_EINVAL;
    if (tid == sampler__gettid())
        return sampler_thread_register(thread_arg);
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0)
        rc = sampler__register_other(tid, thread_arg, true);
    sampler__unlock();
    return rc;
}

int sampler_register_all_threads(void)
{
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc < 0)
        goto out;
    sampler__reap();
    /* List the threads first, then take the maps snapshot, so that every
     * listed thread's stack is in the snapshot. */
    size_t n = 0;
    pid_t *tids = NULL;
    rc = sampler__list_tasks(&tids, &n);
    if (rc < 0)
        goto out;
    rc = sampler__maps_refresh();
    pid_t me = sampler__gettid();
    int added = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        sampler__slot *old;
        HASH_FIND(hh, sampler__g.by_tid, &tids[i], sizeof(pid_t), old);
        if (old != NULL)
            continue;
        int r = tids[i] == me ? sampler__register_self(NULL)
                              : sampler__register_other(tids[i], NULL, false);
        if (r == 0)
            added++;
        else if (r != SAMPLER_EREGISTERED && r != SAMPLER_ENOTHREAD)
            rc = r; /* EREGISTERED or ENOTHREAD: registered meanwhile, or exited */
    }
    free(tids);
    if (rc >= 0)
        rc = added;
out:
    sampler__unlock();
    return rc;
}

int sampler_thread_unregister(void)
{
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0) {
        sampler__slot *s = sampler__self_slot();
        if (s == NULL) {
            pid_t tid = sampler__gettid();
            HASH_FIND(hh, sampler__g.by_tid, &tid, sizeof(pid_t), s);
        }
        if (s == NULL) {
            rc = SAMPLER_ENOTREGISTERED;
        } else {
            sampler__teardown(s);
            pthread_setspecific(sampler__key, NULL);
        }
    }
    sampler__unlock();
    return rc;
}

int sampler_thread_unregister_tid(pid_t tid)
{
    if (tid <= 0)
        return SAMPLER_EINVAL;
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0) {
        sampler__slot *s;
        HASH_FIND(hh, sampler__g.by_tid, &tid, sizeof(pid_t), s);
        if (s == NULL)
            rc = SAMPLER_ENOTREGISTERED;
        else
            sampler__teardown(s);
    }
    sampler__unlock();
    return rc;
}

int sampler_reap_threads(void)
{
    int rc = sampler__lock();
    if (rc < 0)
        return rc;
    rc = sampler__check_running();
    if (rc == 0)
        rc = sampler__reap();
    sampler__unlock();
    return rc;
}

/* Thread exit of a self-registered thread. */
static void sampler__key_dtor(void *value)
{
    uint64_t tok = (uint64_t)(uintptr_t)value;
    pthread_mutex_lock(&sampler__g.lock);
    if (sampler__check_running() == 0) {
        sampler__slot *s = sampler__slot_get(sampler__token_idx(tok));
        if (s != NULL && atomic_load(&s->gen) == sampler__token_gen(tok))
            sampler__teardown(s);
    }
    pthread_mutex_unlock(&sampler__g.lock);
}

/* Under lock, paused flag set: open the gate, then re-arm the timers that were
 * disarmed while paused. Only those cost a system call. */
int sampler__registry_resume(void)
{
    sampler__global *g = &sampler__g;
    atomic_store(&g->paused, 0);
    for (uint32_t i = 0; i < g->nslots; i++) {
        sampler__slot *s = sampler__slot_get(i);
        if (atomic_load(&s->gen) == 0 || atomic_load(&s->disarmed) == 0)
            continue;
        /* Arming fails only for a thread that exited while paused (its CPU
         * clock is gone): sampler_reap_threads() reclaims it. */
        if (atomic_exchange(&s->disarmed, 0) != 0)
            sampler__timer_arm(s);
    }
    return 0;
}

/* Under lock, state STOPPING: unregister every thread (stop, step 2). Per
 * live slot only what the shutdown needs: seize it from the handler and
 * timer_delete() (which also disarms). The slots are not unlinked from the
 * hash one by one nor put on the free list: registry_free() follows under the
 * same lock and drops the table, so the hash is cleared in one go. Walking the
 * slot table in index order also touches the slots sequentially. */
void sampler__registry_clear(void)
{
    sampler__global *g = &sampler__g;
    for (uint32_t i = 0; i < g->nslots; i++) {
        sampler__slot *s = sampler__slot_get(i);
        if (atomic_load(&s->gen) == 0)
            continue; /* free (or never published) */
        sampler__slot_seize(s);
        sampler__timer_delete(s);
    }
    HASH_CLEAR(hh, g->by_tid);
    g->free_list = NULL;
    g->nthreads = 0;
}

/* Under lock, stopped and no handler in flight: free the slot storage. */
void sampler__registry_free(void)
{
    sampler__slots_free();
    sampler__g.by_tid = NULL;
    sampler__g.nthreads = 0;
}

/* In a fork child forked from a drain callback: drop the registry without
 * reading it (another thread of the parent may have been changing it). */
void sampler__registry_forget(void)
{
    sampler__global *g = &sampler__g;
    sampler__slots_forget();
    g->by_tid = NULL;
    g->nthreads = 0;
    atomic_store(&g->maps, NULL);
    g->retired = NULL;
}

/* In the fork child: the timers were not inherited; forget them. */
void sampler__registry_after_fork(void)
{
    HASH_CLEAR(hh, sampler__g.by_tid);
    sampler__registry_free();
}
