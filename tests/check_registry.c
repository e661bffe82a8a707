/*
 * registry suite: who gets sampled. Self registration at scale, registration
 * by tid (the signal reaches the named thread), register_all, reclaiming
 * threads that exit without unregistering, and the registration error codes.
 */
#define _GNU_SOURCE /* unshare(), CLONE_NEWPID */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LIMIT_NS 20000000000ULL /* generous bound for every wait: 20 s */

/* Is `tid` still listed in /proc/self/task (exited threads linger briefly
 * after pthread_join returns)? */
static int rg_task_exists(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)tid);
    return access(path, F_OK) == 0;
}

/* Bounded wait until the kernel has released thread `tid`. */
static void rg_wait_task_gone(pid_t tid)
{
    uint64_t deadline = tu_now_ns() + WAIT_LIMIT_NS;
    while (rg_task_exists(tid)) {
        ck_assert_msg(tu_now_ns() < deadline, "thread %d still in /proc/self/task", (int)tid);
        tu_nap_us(200);
    }
}

static int rg_count_tasks(void)
{
    FILE *p = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(p);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, p) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(p);
    return n;
}

/* ---- a worker that can be told to burn, and reports its tid ---------------- */

typedef struct worker {
    pthread_t th;
    _Atomic pid_t tid;
    _Atomic int burn; /* 1: burn CPU; 0: wait */
    _Atomic int quit;
    sem_t started;    /* posted once tid is set */
    sem_t release;    /* posted to let an idle worker exit */
    int self_register;
    int self_rc;
    /* filled by the drain callback */
    uint64_t samples;
    uint64_t bad_arg;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    atomic_store(&w->tid, tu_gettid());
    if (w->self_register)
        w->self_rc = sampler_thread_register(w);
    sem_post(&w->started);
    while (!atomic_load(&w->quit)) {
        if (atomic_load(&w->burn))
            tu_burn_cpu_ns(1000000);
        else
            tu_nap_us(500);
    }
    return NULL;
}

static void worker_start(worker *w, int burn, int self_register)
{
    memset(w, 0, sizeof *w);
    atomic_store(&w->burn, burn);
    w->self_register = self_register;
    ck_assert_int_eq(sem_init(&w->started, 0, 0), 0);
    ck_assert_int_eq(sem_init(&w->release, 0, 0), 0);
    ck_assert_int_eq(pthread_create(&w->th, NULL, worker_main, w), 0);
    ck_assert_int_eq(sem_wait(&w->started), 0);
}

static void worker_stop(worker *w)
{
    atomic_store(&w->quit, 1);
    ck_assert_int_eq(pthread_join(w->th, NULL), 0);
    sem_destroy(&w->started);
    sem_destroy(&w->release);
}

/* Drain into an array of workers, matching samples by tid. */
typedef struct by_tid_tally {
    worker *w;
    int n;
    uint64_t other;     /* samples of a thread not in w[] */
    pid_t other_tid;
    void *expect_arg[8]; /* per worker: expected thread_arg */
} by_tid_tally;

static int by_tid_cb(const sampler_sample *s, void *arg)
{
    by_tid_tally *t = arg;
    for (int i = 0; i < t->n; i++) {
        if (s->tid == atomic_load(&t->w[i].tid)) {
            t->w[i].samples++;
            if (s->thread_arg != t->expect_arg[i])
                t->w[i].bad_arg++;
            return 0;
        }
    }
    t->other++;
    t->other_tid = s->tid;
    return 0;
}

static void by_tid_drain(by_tid_tally *t)
{
    ck_assert_sampler(tu_drain_all(by_tid_cb, t), 0);
}

/* Bounded wait until every worker in the tally has >= `want` samples. */
static void by_tid_wait_samples(by_tid_tally *t, uint64_t want)
{
    uint64_t deadline = tu_now_ns() + WAIT_LIMIT_NS;
    for (;;) {
        by_tid_drain(t);
        int missing = -1;
        for (int i = 0; i < t->n && missing < 0; i++)
            if (t->w[i].samples < want)
                missing = i;
        if (missing < 0)
            return;
        ck_assert_msg(tu_now_ns() < deadline, "thread %d got %llu samples, want %llu",
                      (int)atomic_load(&t->w[missing].tid),
                      (unsigned long long)t->w[missing].samples, (unsigned long long)want);
        tu_nap_us(2000);
    }
}

/* ---- 1000 threads at once ---------------------------------------------------- */

#define SCALE_THREADS 1000
#define SCALE_INTERVAL_NS 1000000ULL
#define SCALE_MAX_ROUNDS 200

typedef struct scale_thread {
    pthread_t th;
    pid_t tid;
    int reg_rc;
    int unreg_rc;
    uint64_t samples;  /* by drain, matched through thread_arg */
    uint64_t mismatch; /* samples whose tid is not this thread's */
} scale_thread;

typedef struct scale_ctx {
    pthread_barrier_t bar; /* SCALE_THREADS + main */
    _Atomic int done;
    scale_thread t[SCALE_THREADS];
} scale_ctx;

static scale_ctx *scale;

static void *scale_main(void *arg)
{
    scale_thread *me = arg;
    me->tid = tu_gettid();
    pthread_barrier_wait(&scale->bar); /* all created: register together */
    me->reg_rc = sampler_thread_register(me);
    pthread_barrier_wait(&scale->bar); /* registered: main checks stats */
    for (;;) {
        pthread_barrier_wait(&scale->bar); /* round starts (main set done, samples) */
        if (atomic_load(&scale->done))
            break;
        if (me->samples == 0)
            tu_burn_cpu_ns(3 * SCALE_INTERVAL_NS);
        pthread_barrier_wait(&scale->bar); /* round ends: main drains */
    }
    me->unreg_rc = sampler_thread_unregister();
    pthread_barrier_wait(&scale->bar); /* unregistered: main checks stats */
    return NULL;
}

static int scale_cb(const sampler_sample *s, void *arg)
{
    int *unknown = arg;
    scale_thread *t = s->thread_arg;
    if (t < &scale->t[0] || t >= &scale->t[SCALE_THREADS]) {
        (*unknown)++;
        return 0;
    }
    t->samples++;
    if (s->tid != t->tid)
        t->mismatch++;
    return 0;
}

/* 1000 threads register concurrently; the registry holds all of them; each
 * one is sampled (burning more CPU in later rounds only while it has no
 * sample yet) and each sample carries its own tid and thread_arg; all
 * unregister and the registry and timers are back to where they started. */
START_TEST(thousand_threads_register_and_are_sampled)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_SIGPENDING, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * SCALE_THREADS) {
        /* Raise the soft limit if the hard limit allows: one timer per thread. */
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_SIGPENDING, &rl);
        ck_assert_int_eq(getrlimit(RLIMIT_SIGPENDING, &rl), 0);
        ck_assert_msg(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 2 * SCALE_THREADS,
                      "RLIMIT_SIGPENDING %llu is too low for %d timers",
                      (unsigned long long)rl.rlim_cur, SCALE_THREADS);
    }
    scale = calloc(1, sizeof *scale);
    ck_assert_ptr_nonnull(scale);
    int base_timers = tu_count_timers();
    tu_start(SCALE_INTERVAL_NS);
    ck_assert_int_eq(pthread_barrier_init(&scale->bar, NULL, SCALE_THREADS + 1), 0);

    pthread_attr_t attr;
    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, 64 * 1024), 0);
    for (int i = 0; i < SCALE_THREADS; i++) {
        int rc = pthread_create(&scale->t[i].th, &attr, scale_main, &scale->t[i]);
        ck_assert_msg(rc == 0, "pthread_create #%d: %s", i, strerror(rc));
    }
    pthread_attr_destroy(&attr);

    pthread_barrier_wait(&scale->bar); /* go: register */
    pthread_barrier_wait(&scale->bar); /* all registered */
    for (int i = 0; i < SCALE_THREADS; i++)
        ck_assert_msg(scale->t[i].reg_rc == 0, "thread %d: register returned %s", i,
                      sampler_err_name(scale->t[i].reg_rc));
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.threads, SCALE_THREADS);
    ck_assert_uint_eq(st.timer_failures, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers + SCALE_THREADS);

    int unknown = 0, rounds = 0, without = SCALE_THREADS;
    while (without > 0 && rounds < SCALE_MAX_ROUNDS) {
        pthread_barrier_wait(&scale->bar); /* round start */
        pthread_barrier_wait(&scale->bar); /* round end */
        rounds++;
        ck_assert_sampler(tu_drain_all(scale_cb, &unknown), 0);
        without = 0;
        for (int i = 0; i < SCALE_THREADS; i++)
            without += scale->t[i].samples == 0;
    }
    atomic_store(&scale->done, 1);
    pthread_barrier_wait(&scale->bar); /* round start: done */
    pthread_barrier_wait(&scale->bar); /* all unregistered */

    ck_assert_msg(without == 0, "%d of %d threads got no sample in %d rounds", without,
                  SCALE_THREADS, rounds);
    ck_assert_int_eq(unknown, 0);
    for (int i = 0; i < SCALE_THREADS; i++) {
        ck_assert_msg(scale->t[i].mismatch == 0, "thread %d: %llu samples with a wrong tid", i,
                      (unsigned long long)scale->t[i].mismatch);
        ck_assert_msg(scale->t[i].unreg_rc == 0, "thread %d: unregister returned %s", i,
                      sampler_err_name(scale->t[i].unreg_rc));
    }
    st = tu_stats();
    ck_assert_uint_eq(st.threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    ck_assert_uint_eq(st.dropped, 0);

    for (int i = 0; i < SCALE_THREADS; i++)
        ck_assert_int_eq(pthread_join(scale->t[i].th, NULL), 0);
    pthread_barrier_destroy(&scale->bar);
    ck_assert_sampler(sampler_stop(), 0);
    free(scale);
    scale = NULL;
}
END_TEST

/* ---- by tid ------------------------------------------------------------------ */

/* A thread registered from another thread by tid is sampled on itself: its
 * samples carry its tid and the registration arg, on its own CPU clock (the
 * registering thread only waits, so a timer on the wrong clock or sending to
 * the wrong thread would give no samples for the worker or samples for main). */
START_TEST(register_by_tid_samples_that_thread)
{
    static worker w;
    static int token;
    int base_timers = tu_count_timers();
    tu_start(1000000);
    worker_start(&w, 1, 0);
    pid_t wt = atomic_load(&w.tid);
    ck_assert_int_ne(wt, tu_gettid());
    ck_assert_sampler(sampler_thread_register_tid(wt, &token), 0);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);

    by_tid_tally t = {.w = &w, .n = 1, .expect_arg = {&token}};
    by_tid_wait_samples(&t, 5);
    ck_assert_uint_eq(w.bad_arg, 0);
    ck_assert_msg(t.other == 0, "%llu samples from thread %d (main is %d)",
                  (unsigned long long)t.other, (int)t.other_tid, (int)tu_gettid());

    ck_assert_sampler(sampler_thread_unregister_tid(wt), 0);
    ck_assert_uint_eq(tu_stats().threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    worker_stop(&w);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* register_all picks up threads that existed before start, each is sampled,
 * and a second call finds nothing new. */
START_TEST(register_all_picks_up_existing_threads)
{
    static worker w[3];
    for (int i = 0; i < 3; i++)
        worker_start(&w[i], 1, 0);
    int ntasks = rg_count_tasks();
    ck_assert_int_ge(ntasks, 4); /* main + 3 */
    int base_timers = tu_count_timers();
    tu_start(1000000);

    int n = sampler_register_all_threads();
    ck_assert_msg(n == ntasks, "register_all returned %d (%s), %d threads exist", n,
                  sampler_err_name(n), ntasks);
    ck_assert_uint_eq(tu_stats().threads, (uint64_t)ntasks);
    ck_assert_int_eq(tu_count_timers(), base_timers + ntasks);
    ck_assert_sampler(sampler_register_all_threads(), 0);
    ck_assert_uint_eq(tu_stats().threads, (uint64_t)ntasks);
    /* Already registered, each way. */
    ck_assert_sampler(sampler_thread_register(NULL), SAMPLER_EREGISTERED);
    ck_assert_sampler(sampler_thread_register_tid(atomic_load(&w[0].tid), NULL),
                      SAMPLER_EREGISTERED);

    by_tid_tally t = {.w = w, .n = 3};
    by_tid_wait_samples(&t, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(w[i].bad_arg, 0); /* thread_arg is NULL */

    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_uint_eq(tu_stats().threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    for (int i = 0; i < 3; i++)
        worker_stop(&w[i]);
}
END_TEST

/* ---- threads that exit while registered ------------------------------------ */

typedef struct exit_ctx {
    sem_t registered, go;
    int rc;
    pid_t tid;
} exit_ctx;

static void *self_then_exit(void *arg)
{
    exit_ctx *c = arg;
    c->tid = tu_gettid();
    c->rc = sampler_thread_register(c);
    sem_post(&c->registered);
    sem_wait(&c->go);
    tu_burn_cpu_ns(5000000); /* some samples; then exit still registered */
    return NULL;
}

/* A self-registered thread that exits without unregistering gives back its
 * entry and its timer by itself (no reap call). */
START_TEST(self_registered_thread_exit_is_reclaimed)
{
    static exit_ctx c;
    ck_assert_int_eq(sem_init(&c.registered, 0, 0), 0);
    ck_assert_int_eq(sem_init(&c.go, 0, 0), 0);
    int base_timers = tu_count_timers();
    tu_start(1000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0); /* main stays registered */

    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, self_then_exit, &c), 0);
    sem_wait(&c.registered);
    ck_assert_sampler(c.rc, 0);
    ck_assert_uint_eq(tu_stats().threads, 2);
    ck_assert_int_eq(tu_count_timers(), base_timers + 2);
    sem_post(&c.go);
    ck_assert_int_eq(pthread_join(th, NULL), 0);

    uint64_t deadline = tu_now_ns() + WAIT_LIMIT_NS;
    while (tu_stats().threads != 1 || tu_count_timers() != base_timers + 1) {
        ck_assert_msg(tu_now_ns() < deadline, "exited thread not reclaimed: %llu threads, %d timers",
                      (unsigned long long)tu_stats().threads, tu_count_timers());
        tu_nap_us(1000);
    }
    /* Nothing left for reap to find, and its tid is no longer registered. */
    ck_assert_sampler(sampler_reap_threads(), 0);
    ck_assert_sampler(sampler_thread_unregister_tid(c.tid), SAMPLER_ENOTREGISTERED);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
}
END_TEST

static void *wait_then_exit(void *arg)
{
    exit_ctx *c = arg;
    c->tid = tu_gettid();
    sem_post(&c->registered); /* here: "started" */
    sem_wait(&c->go);
    tu_burn_cpu_ns(5000000);
    return NULL;
}

/* A thread registered by tid that exits is found by sampler_reap_threads():
 * one entry reclaimed, counted in stats.reaped, timer deleted. */
START_TEST(tid_registered_thread_exit_is_reaped)
{
    static exit_ctx c;
    ck_assert_int_eq(sem_init(&c.registered, 0, 0), 0);
    ck_assert_int_eq(sem_init(&c.go, 0, 0), 0);
    int base_timers = tu_count_timers();
    tu_start(1000000);

    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_then_exit, &c), 0);
    sem_wait(&c.registered);
    ck_assert_sampler(sampler_thread_register_tid(c.tid, &c), 0);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);
    ck_assert_sampler(sampler_reap_threads(), 0); /* alive: nothing to reap */
    ck_assert_uint_eq(tu_stats().threads, 1);

    sem_post(&c.go);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    rg_wait_task_gone(c.tid);
    ck_assert_sampler(sampler_reap_threads(), 1);
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.threads, 0);
    ck_assert_uint_eq(st.reaped, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    ck_assert_sampler(sampler_reap_threads(), 0);
    ck_assert_sampler(sampler_thread_unregister_tid(c.tid), SAMPLER_ENOTREGISTERED);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* CPU mode tells a live thread from a gone one by its timer alone (no /proc
 * read): a timer that reads zero is either disarmed by its handler while
 * paused or bound to a task that is gone; timer_settime() then fails with
 * ESRCH only for the latter. Two threads registered by tid burn CPU while
 * paused, so their handlers disarm their timers; one exits. Reaping (still
 * paused) takes exactly the one that exited; the live one is sampled again
 * after resume. register_all registers without reading any start time, and
 * its entries are reaped the same way. */
START_TEST(paused_disarmed_thread_liveness_by_timer)
{
    worker w[2];
    worker_start(&w[0], 1, 0);
    worker_start(&w[1], 1, 0);
    tu_start(1000000);
    pid_t t0 = atomic_load(&w[0].tid), t1 = atomic_load(&w[1].tid);
    ck_assert_sampler(sampler_thread_register_tid(t0, NULL), 0);
    ck_assert_sampler(sampler_thread_register_tid(t1, NULL), 0);
    ck_assert_sampler(sampler_pause(), 0);
    /* Wait for signals while paused, then until none come for 50 ms although
     * both threads burn: their handlers have disarmed both timers. (On a
     * starved machine the wait may end earlier; the checks below hold
     * either way, they then only test the armed path for a thread.) */
    uint64_t deadline = tu_now_ns() + WAIT_LIMIT_NS;
    while (tu_stats().paused < 2) {
        ck_assert_msg(tu_now_ns() < deadline, "no signal while paused");
        tu_nap_us(1000);
    }
    for (uint64_t last = 0, now = tu_stats().paused;
         now != last && tu_now_ns() < deadline; now = tu_stats().paused) {
        last = now;
        tu_nap_us(50000);
    }
    ck_assert_sampler(sampler_reap_threads(), 0); /* both alive */
    worker_stop(&w[1]);
    rg_wait_task_gone(t1);
    ck_assert_sampler(sampler_reap_threads(), 1);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_sampler(sampler_thread_unregister_tid(t1), SAMPLER_ENOTREGISTERED);

    /* The live one was left disarmed by the check: resume re-arms it. */
    tu_tally t;
    memset(&t, 0, sizeof t);
    tu_drain_tally(&t);
    ck_assert_sampler(sampler_resume(), 0);
    deadline = tu_now_ns() + WAIT_LIMIT_NS;
    uint64_t got = 0;
    while (got == 0) {
        ck_assert_msg(tu_now_ns() < deadline, "no sample after resume");
        tu_nap_us(2000);
        tu_drain_tally(&t);
        got = tu_tally_weight(&t, t0);
    }

    /* register_all: the same for entries made without a start time. */
    ck_assert_sampler(sampler_thread_unregister_tid(t0), 0);
    worker_start(&w[1], 0, 0);
    t1 = atomic_load(&w[1].tid);
    int n = sampler_register_all_threads();
    ck_assert_msg(n >= 3, "register_all_threads: %d", n); /* main, w0, w1 */
    ck_assert_sampler(sampler_thread_register_tid(t1, NULL), SAMPLER_EREGISTERED);
    ck_assert_sampler(sampler_reap_threads(), 0);
    worker_stop(&w[1]);
    rg_wait_task_gone(t1);
    ck_assert_sampler(sampler_reap_threads(), 1);
    ck_assert_sampler(sampler_stop(), 0);
    worker_stop(&w[0]);
}
END_TEST

/* ---- registration error codes ---------------------------------------------- */

/* Unregistering what is not registered, and registering twice, each way. */
START_TEST(register_unregister_error_codes)
{
    static worker w;
    tu_start(1000000);
    worker_start(&w, 0, 0);
    pid_t wt = atomic_load(&w.tid);

    ck_assert_sampler(sampler_thread_unregister(), SAMPLER_ENOTREGISTERED);
    ck_assert_sampler(sampler_thread_unregister_tid(wt), SAMPLER_ENOTREGISTERED);
    ck_assert_sampler(sampler_thread_unregister_tid(tu_gettid()), SAMPLER_ENOTREGISTERED);

    /* self, twice; by own tid counts as the same thread */
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_sampler(sampler_thread_register(NULL), SAMPLER_EREGISTERED);
    ck_assert_sampler(sampler_thread_register_tid(tu_gettid(), NULL), SAMPLER_EREGISTERED);
    ck_assert_uint_eq(tu_stats().threads, 1);

    /* another thread by tid, twice */
    ck_assert_sampler(sampler_thread_register_tid(wt, NULL), 0);
    ck_assert_sampler(sampler_thread_register_tid(wt, NULL), SAMPLER_EREGISTERED);
    ck_assert_uint_eq(tu_stats().threads, 2);

    /* unregister each, then again */
    ck_assert_sampler(sampler_thread_unregister_tid(wt), 0);
    ck_assert_sampler(sampler_thread_unregister_tid(wt), SAMPLER_ENOTREGISTERED);
    ck_assert_sampler(sampler_thread_unregister(), 0);
    ck_assert_sampler(sampler_thread_unregister(), SAMPLER_ENOTREGISTERED);
    ck_assert_uint_eq(tu_stats().threads, 0);

    /* registering again after unregistering works */
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_sampler(sampler_thread_register_tid(wt, NULL), 0);
    ck_assert_uint_eq(tu_stats().threads, 2);
    /* self-registered main, unregistered by its tid from the same thread */
    ck_assert_sampler(sampler_thread_unregister_tid(tu_gettid()), 0);
    ck_assert_sampler(sampler_thread_unregister(), SAMPLER_ENOTREGISTERED);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_sampler(sampler_stop(), 0);
    worker_stop(&w);
}
END_TEST

typedef struct self_after_tid {
    sem_t ready, go, done;
    pid_t tid;
    int rc_register, rc_unregister;
} self_after_tid;

static void *self_after_tid_main(void *arg)
{
    self_after_tid *c = arg;
    c->tid = tu_gettid();
    sem_post(&c->ready);
    sem_wait(&c->go);
    c->rc_register = sampler_thread_register(NULL);
    c->rc_unregister = sampler_thread_unregister();
    sem_post(&c->done);
    return NULL;
}

/* A thread registered by tid is registered: its own register call is
 * refused, and its own unregister call removes the by-tid entry. */
START_TEST(self_register_after_by_tid)
{
    static self_after_tid c;
    sem_init(&c.ready, 0, 0);
    sem_init(&c.go, 0, 0);
    sem_init(&c.done, 0, 0);
    int base_timers = tu_count_timers();
    tu_start(1000000);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, self_after_tid_main, &c), 0);
    sem_wait(&c.ready);
    ck_assert_sampler(sampler_thread_register_tid(c.tid, NULL), 0);
    sem_post(&c.go);
    sem_wait(&c.done);
    ck_assert_sampler(c.rc_register, SAMPLER_EREGISTERED);
    ck_assert_sampler(c.rc_unregister, 0);
    ck_assert_uint_eq(tu_stats().threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* A self-registered thread cannot be registered again by tid; another thread
 * can unregister it by tid, and then its own unregister finds nothing and its
 * exit (key destructor with a stale token) removes nothing else. */
START_TEST(by_tid_of_self_registered_thread)
{
    static worker w, other;
    int base_timers = tu_count_timers();
    tu_start(1000000);
    worker_start(&w, 0, 1);
    ck_assert_sampler(w.self_rc, 0);
    pid_t wt = atomic_load(&w.tid);
    ck_assert_sampler(sampler_thread_register_tid(wt, NULL), SAMPLER_EREGISTERED);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_sampler(sampler_thread_unregister_tid(wt), 0);
    ck_assert_uint_eq(tu_stats().threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    /* Someone else takes the freed slot; the old thread's exit leaves it alone. */
    worker_start(&other, 0, 1);
    ck_assert_sampler(other.self_rc, 0);
    ck_assert_uint_eq(tu_stats().threads, 1);
    worker_stop(&w);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);
    ck_assert_sampler(sampler_thread_unregister_tid(atomic_load(&other.tid)), 0);
    worker_stop(&other);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* ---- RLIMIT_SIGPENDING ---------------------------------------------------------- */

/* With RLIMIT_SIGPENDING at 0 no timer can be created: registration says
 * SAMPLER_ETIMERLIMIT, counts it, registers nothing, and the threads already
 * registered keep being sampled. */
START_TEST(timer_limit_is_reported_and_counted)
{
    static worker w;
    struct rlimit saved, zero;
    ck_assert_int_eq(getrlimit(RLIMIT_SIGPENDING, &saved), 0);
    int base_timers = tu_count_timers();
    tu_start(1000000);
    worker_start(&w, 1, 1); /* registered before the limit drops */
    ck_assert_sampler(w.self_rc, 0);

    zero = saved;
    zero.rlim_cur = 0;
    ck_assert_int_eq(setrlimit(RLIMIT_SIGPENDING, &zero), 0);
    int rc_self = sampler_thread_register(NULL);
    int rc_all = sampler_register_all_threads();
    ck_assert_int_eq(setrlimit(RLIMIT_SIGPENDING, &saved), 0);

    ck_assert_sampler(rc_self, SAMPLER_ETIMERLIMIT);
    ck_assert_sampler(rc_all, SAMPLER_ETIMERLIMIT);
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.timer_failures, 2);
    ck_assert_uint_eq(st.threads, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);

    /* The worker is still sampled. */
    by_tid_tally t = {.w = &w, .n = 1, .expect_arg = {&w}};
    by_tid_wait_samples(&t, 3);
    ck_assert_uint_eq(t.other, 0);
    /* With the limit back, registering works. */
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_uint_eq(tu_stats().threads, 2);
    ck_assert_sampler(sampler_stop(), 0);
    worker_stop(&w);
}
END_TEST

/* ---- a reused tid ------------------------------------------------------------------ */

/* Exit codes of the tid-reuse child. */
enum {
    REUSE_OK = 0,
    REUSE_SETUP_FAILED = 77, /* no namespaces here: nothing checked */
    REUSE_START = 10,
    REUSE_FIRST_REGISTER,
    REUSE_NOT_REUSED,      /* could not get the same tid again */
    REUSE_TID_REGISTER,    /* register_tid on the reused tid did not return 0 */
    REUSE_THREADS,         /* stale entry not replaced (threads != 1) */
    REUSE_REAPED,          /* the replaced entry was not counted as reaped */
    REUSE_NO_SAMPLES,      /* the new thread got no samples */
    REUSE_WRONG_ARG,       /* the new thread's samples carry the old arg */
    REUSE_SELF_REGISTER,   /* self-registering on a reused tid failed */
    REUSE_STOP,
};

typedef struct reuse_thread {
    pid_t tid;
    int self_register;
    int rc;
    void *arg;
    pid_t want; /* register itself only when it got this tid (0: any) */
    _Atomic int quit;
    sem_t ready;
} reuse_thread;

static void *reuse_main(void *p)
{
    reuse_thread *r = p;
    r->tid = tu_gettid();
    if (r->self_register && (r->want == 0 || r->tid == r->want))
        r->rc = sampler_thread_register(r->arg);
    sem_post(&r->ready);
    while (!atomic_load(&r->quit))
        tu_burn_cpu_ns(1000000);
    return NULL;
}

/* Next tid the kernel hands out in this (private) pid namespace. */
static int reuse_set_next_tid(pid_t tid)
{
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    if (fd < 0)
        return -1;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", (int)tid - 1);
    int ok = write(fd, buf, (size_t)n) == n;
    close(fd);
    return ok ? 0 : -1;
}

static void reuse_join(reuse_thread *r, pthread_t th)
{
    atomic_store(&r->quit, 1);
    pthread_join(th, NULL);
    while (rg_task_exists(r->tid))
        tu_nap_us(200);
}

/* Start a burning thread whose tid is `want` (0: any). Just after a thread
 * has left /proc the kernel may not have released its tid yet, so a thread
 * that got another tid is joined and the spawn retried (bounded). */
static int reuse_spawn(reuse_thread *r, pthread_t *th, pid_t want)
{
    r->want = want;
    for (int attempt = 0; attempt < 50; attempt++) {
        if (want != 0 && reuse_set_next_tid(want) < 0)
            return -1;
        atomic_store(&r->quit, 0);
        sem_init(&r->ready, 0, 0);
        if (pthread_create(th, NULL, reuse_main, r) != 0)
            return -1;
        sem_wait(&r->ready);
        if (want == 0 || r->tid == want)
            return 0;
        reuse_join(r, *th);
        tu_nap_us(1000);
    }
    return 0; /* the caller sees r->tid != want */
}

static int reuse_tally_cb(const sampler_sample *s, void *arg)
{
    uint64_t *n = arg; /* n[0] = tid, n[1] = samples, n[2] = with another arg, n[3] = arg */
    if (s->tid == (pid_t)n[0]) {
        n[1]++;
        if ((uintptr_t)s->thread_arg != (uintptr_t)n[3])
            n[2]++;
    }
    return 0;
}

static int reuse_discard_cb(const sampler_sample *s, void *arg)
{
    (void)s;
    (void)arg;
    return 0;
}

/* One scenario: thread A is registered by tid and exits; B gets A's tid at
 * once (usually within the same clock tick, so /proc start times are equal)
 * and is registered (by tid if `b_self` is 0, by itself otherwise): the stale
 * entry is replaced, not refused, and B's samples carry B's arg. */
static int reuse_scenario(int b_self)
{
    static int arg_a, arg_b;
    reuse_thread a = {0}, b = {0};
    pthread_t ta, tb;
    sampler_stats st;
    sampler_get_stats(&st, sizeof st);
    uint64_t reaped_before = st.reaped;
    if (reuse_spawn(&a, &ta, 0) < 0)
        return REUSE_SETUP_FAILED;
    if (sampler_thread_register_tid(a.tid, &arg_a) != 0)
        return REUSE_FIRST_REGISTER;
    reuse_join(&a, ta);
    /* A burnt CPU under the same tid: take its samples out first, so that
     * every later sample with this tid is B's. */
    ck_assert_sampler(tu_drain_all(reuse_discard_cb, NULL), 0);
    b.self_register = b_self;
    b.arg = &arg_b;
    if (reuse_spawn(&b, &tb, a.tid) < 0)
        return REUSE_SETUP_FAILED;
    if (b.tid != a.tid)
        return REUSE_NOT_REUSED;
    if (b_self) {
        if (b.rc != 0)
            return REUSE_SELF_REGISTER;
    } else if (sampler_thread_register_tid(b.tid, &arg_b) != 0) {
        return REUSE_TID_REGISTER;
    }
    sampler_get_stats(&st, sizeof st);
    if (st.threads != 1)
        return REUSE_THREADS;
    if (st.reaped != reaped_before + 1)
        return REUSE_REAPED;
    uint64_t n[4] = {(uint64_t)b.tid, 0, 0, (uint64_t)(uintptr_t)&arg_b};
    uint64_t deadline = tu_now_ns() + WAIT_LIMIT_NS;
    while (n[1] < 3 && tu_now_ns() < deadline) {
        tu_nap_us(2000);
        sampler_drain(reuse_tally_cb, n, 0);
    }
    if (n[1] < 3)
        return REUSE_NO_SAMPLES;
    if (n[2] != 0)
        return REUSE_WRONG_ARG;
    reuse_join(&b, tb);
    /* B exited too: take its entry away before the next round. */
    if (b_self == 0 && sampler_reap_threads() != 1)
        return REUSE_THREADS;
    return REUSE_OK;
}

static int reuse_child(int b_self)
{
    /* Own /proc for the new pid namespace, private to a new mount namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return REUSE_SETUP_FAILED;
    sampler_config cfg;
    sampler_config_init(&cfg, sizeof cfg);
    cfg.interval_ns = 1000000;
    if (sampler_start(&cfg) != 0)
        return REUSE_START;
    /* Three rounds: a round whose reuse happens to cross a tick boundary
     * is then not the only evidence. */
    int rc = REUSE_OK;
    for (int round = 0; round < 3 && rc == REUSE_OK; round++)
        rc = reuse_scenario(b_self);
    if (rc == REUSE_OK && sampler_stop() != 0)
        rc = REUSE_STOP;
    return rc;
}

/* Run reuse_child() as pid 1 of a new pid namespace (needs CAP_SYS_ADMIN:
 * it writes that namespace's ns_last_pid to get the same tid again). */
static void reuse_run(int b_self)
{
    pid_t outer = fork();
    ck_assert_int_ge(outer, 0);
    if (outer == 0) {
        if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
            _exit(REUSE_SETUP_FAILED);
        pid_t inner = fork();
        if (inner < 0)
            _exit(REUSE_SETUP_FAILED);
        if (inner == 0)
            _exit(reuse_child(b_self));
        int st;
        if (waitpid(inner, &st, 0) != inner)
            _exit(REUSE_SETUP_FAILED);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    int st;
    ck_assert_int_eq(waitpid(outer, &st, 0), outer);
    ck_assert(WIFEXITED(st));
    if (WEXITSTATUS(st) == REUSE_SETUP_FAILED || WEXITSTATUS(st) == REUSE_NOT_REUSED) {
        fprintf(stderr, "registry: tid-reuse test skipped (%s)\n",
                WEXITSTATUS(st) == REUSE_SETUP_FAILED ? "no pid namespace or ns_last_pid"
                                                      : "the kernel did not reuse the tid");
        return;
    }
    ck_assert_msg(WEXITSTATUS(st) == REUSE_OK, "tid reuse (%s): child exit code %d",
                  b_self ? "self" : "by tid", WEXITSTATUS(st));
}

/* A thread registered by tid exits; the kernel gives its tid to a new thread,
 * which is registered by tid: the stale entry is replaced (counted as reaped),
 * and the samples carry the new registration's arg. */
START_TEST(reused_tid_replaces_stale_entry_by_tid)
{
    reuse_run(0);
}
END_TEST

/* Same, but the new thread registers itself. */
START_TEST(reused_tid_replaces_stale_entry_self)
{
    reuse_run(1);
}
END_TEST

Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("codes");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, register_unregister_error_codes);
    tcase_add_test(tc, self_register_after_by_tid);
    tcase_add_test(tc, by_tid_of_self_registered_thread);
    tcase_add_test(tc, timer_limit_is_reported_and_counted);
    suite_add_tcase(s, tc);

    tc = tcase_create("by_tid");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, register_by_tid_samples_that_thread);
    tcase_add_test(tc, register_all_picks_up_existing_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("thread_exit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, self_registered_thread_exit_is_reclaimed);
    tcase_add_test(tc, tid_registered_thread_exit_is_reaped);
    tcase_add_test(tc, paused_disarmed_thread_liveness_by_timer);
    tcase_add_test(tc, reused_tid_replaces_stale_entry_by_tid);
    tcase_add_test(tc, reused_tid_replaces_stale_entry_self);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, thousand_threads_register_and_are_sampled);
    suite_add_tcase(s, tc);
    return s;
}
