/*
 * The registry: which threads are sampled. A uthash map tid -> slot, under
 * one mutex (g.lock), used by management calls only. Slots live in chunks
 * that are never moved and only freed after stop (no handler in flight), so
 * the handler can look a slot up by index without a lock.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

sampler__slot *sampler__slot_get(uint32_t idx)
{
    if (idx >= SAMPLER__MAX_SLOTS)
        return NULL;
    sampler__slot *chunk = atomic_load(&sampler__g.chunks[idx >> SAMPLER__CHUNK_SHIFT]);
    return chunk ? &chunk[idx & (SAMPLER__CHUNK_SLOTS - 1)] : NULL;
}

static sampler__slot *sampler__slot_alloc(void)
{
    sampler__global *g = &sampler__g;
    sampler__slot *s = g->free_list;
    if (s != NULL) {
        g->free_list = s->next_free;
        s->next_free = NULL;
        return s;
    }
    if (g->nslots >= SAMPLER__MAX_SLOTS)
        return NULL;
    uint32_t idx = g->nslots;
    uint32_t c = idx >> SAMPLER__CHUNK_SHIFT;
    sampler__slot *chunk = atomic_load(&g->chunks[c]);
    if (chunk == NULL) {
        chunk = calloc(SAMPLER__CHUNK_SLOTS, sizeof *chunk);
        if (chunk == NULL)
            return NULL;
        for (uint32_t i = 0; i < SAMPLER__CHUNK_SLOTS; i++)
            chunk[i].idx = (c << SAMPLER__CHUNK_SHIFT) | i;
        atomic_store(&g->chunks[c], chunk);
    }
    g->nslots++;
    return &chunk[idx & (SAMPLER__CHUNK_SLOTS - 1)];
}

static void sampler__slot_release(sampler__slot *s)
{
    s->tid = 0;
    s->thread_arg = NULL;
    s->stack_lo = s->stack_hi = 0;
    s->self = false;
    s->started = 0;
    atomic_store(&s->disarmed, 0);
    s->next_free = sampler__g.free_list;
    sampler__g.free_list = s;
}

/* Hold a slot against the handler: wait out a handler using it. While held,
 * a handler for this slot counts its signal stale and leaves. */
static void sampler__slot_hold(sampler__slot *s)
{
    int idle;
    for (unsigned spins = 0;; spins++) {
        idle = SAMPLER__SLOT_IDLE;
        if (atomic_compare_exchange_weak(&s->busy, &idle, SAMPLER__SLOT_DYING))
            break;
        if (spins > 64)
            sched_yield();
    }
}

static void sampler__slot_unhold(sampler__slot *s)
{
    atomic_store(&s->busy, SAMPLER__SLOT_IDLE);
}

/* Take a slot away from the handler: hold it, then invalidate its token.
 * Afterwards no handler touches the slot's fields. */
static void sampler__slot_seize(sampler__slot *s)
{
    sampler__slot_hold(s);
    atomic_store(&s->gen, 0);
    sampler__slot_unhold(s);
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

/* Start time of a thread of this process, from /proc (field 22 of stat). */
int sampler__thread_started(pid_t tid, unsigned long long *started)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? SAMPLER_ENOTHREAD : SAMPLER_ESYSTEM;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return SAMPLER_ENOTHREAD;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip to the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return SAMPLER_ESYSTEM;
    p++;
    /* After ')' come fields 3..; start time is field 22, i.e. the 20th here. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return SAMPLER_ESYSTEM;
    }
    *started = strtoull(p + 1, NULL, 10);
    return 0;
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
static bool sampler__timer_task_gone(sampler__slot *s)
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

/* The thread ids in /proc/self/task, in a malloc'd array. */
static int sampler__list_tasks(pid_t **out, size_t *count)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return SAMPLER_ESYSTEM;
    size_t n = 0, cap = 64;
    pid_t *tids = malloc(cap * sizeof *tids);
    struct dirent *de;
    while (tids != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        if (n == cap) {
            pid_t *bigger = realloc(tids, 2 * cap * sizeof *tids);
            if (bigger == NULL) {
                free(tids);
                tids = NULL;
                break;
            }
            tids = bigger;
            cap *= 2;
        }
        /* cppcheck-suppress nullPointerRedundantCheck ; tids != NULL in the loop body */
        tids[n++] = (pid_t)atoi(de->d_name);
    }
    closedir(d);
    if (tids == NULL)
        return SAMPLER_ENOMEM;
    *out = tids;
    *count = n;
    return 0;
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
    if (rc == 0 && sampler__walker_prepare_hook != NULL)
        sampler__walker_prepare_hook(sampler__g.cfg.walker);
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
    sampler__global *g = &sampler__g;
    for (uint32_t c = 0; c < SAMPLER__MAX_CHUNKS; c++) {
        sampler__slot *chunk = atomic_exchange(&g->chunks[c], NULL);
        if (chunk == NULL)
            break;
        free(chunk);
    }
    g->by_tid = NULL;
    g->free_list = NULL;
    g->nslots = 0;
    g->nthreads = 0;
}

/* In a fork child forked from a drain callback: drop the registry without
 * reading it (another thread of the parent may have been changing it). */
void sampler__registry_forget(void)
{
    sampler__global *g = &sampler__g;
    for (uint32_t c = 0; c < SAMPLER__MAX_CHUNKS; c++)
        atomic_store(&g->chunks[c], NULL);
    g->by_tid = NULL;
    g->free_list = NULL;
    g->nslots = 0;
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
