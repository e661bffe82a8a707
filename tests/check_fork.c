/*
 * fork suite: a child forked while the parent samples starts clean and
 * stopped (no timers, no registrations, zero stats, no parent samples, the
 * previous handler back), can sample on its own, and the parent keeps
 * sampling. The child reports through its exit status (one code per check).
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Waits for samples are bounded by the CPU the sampled threads burnt
 * (WAIT_CPU_NS: samples at 1 ms need a few ms each, ticks included), with a
 * wall-clock backstop (WAIT_BACKSTOP_S, stretched by CK_TIMEOUT_MULTIPLIER)
 * for threads that get no CPU at all. */
#define WAIT_CPU_NS 2000000000ULL
#define WAIT_BACKSTOP_S 20.0

/* Exit codes of the child's checks (0 = all good). */
enum {
    CHILD_OK = 0,
    CHILD_STATE = 10,      /* state not STOPPED after fork */
    CHILD_STATS,           /* stats not zero */
    CHILD_TIMERS,          /* a timer was inherited */
    CHILD_OLD_SAMPLES,     /* the parent's unread samples were drained in the child */
    CHILD_DISPOSITION,     /* SIGPROF handler not restored to SIG_DFL */
    CHILD_START,           /* sampler_start failed */
    CHILD_REGISTER,        /* sampler_thread_register failed */
    CHILD_NO_SAMPLES,      /* no sample after burning a long time */
    CHILD_FOREIGN_SAMPLE,  /* a sample with another tid */
    CHILD_STOP,            /* sampler_stop failed */
    CHILD_STOPPED_TIMERS,  /* timers left after stop */
    CHILD_STATE_RUNNING,   /* state not RUNNING after start */
};

static int fk_count_cb(const sampler_sample *s, void *arg)
{
    uint64_t *n = arg; /* n[0]: own tid, n[1]: other tids */
    n[s->tid == tu_gettid() ? 0 : 1]++;
    return 0;
}

/* Everything the child checks right after fork(); returns an exit code.
 * `check_drain` is 0 for a child forked inside a drain callback: that child
 * is still inside the callback, where sampler_drain() is EBUSY by design. */
static int fk_child_is_clean(int check_drain)
{
    if (sampler_state() != SAMPLER_STATE_STOPPED)
        return CHILD_STATE;
    sampler_stats st;
    if (sampler_get_stats(&st, sizeof st) != 0 || st.threads != 0 || st.signals != 0 ||
        st.samples != 0 || st.weight != 0)
        return CHILD_STATS;
    if (tu_count_timers() != 0)
        return CHILD_TIMERS;
    uint64_t n[2] = {0, 0};
    if (check_drain && sampler_drain(fk_count_cb, n, 0) != 0)
        return CHILD_OLD_SAMPLES;
    struct sigaction sa;
    if (sigaction(SIGPROF, NULL, &sa) != 0 || (sa.sa_flags & SA_SIGINFO) ||
        sa.sa_handler != SIG_DFL)
        return CHILD_DISPOSITION;
    return CHILD_OK;
}

/* The child samples itself from scratch: start, register, burn, see samples
 * of its own tid only, stop with no timer left. */
static int fk_child_samples(void)
{
    sampler_config cfg;
    if (sampler_config_init(&cfg, sizeof cfg) != 0)
        return CHILD_START;
    cfg.interval_ns = 1000000;
    if (sampler_start(&cfg) != 0)
        return CHILD_START;
    if (sampler_state() != SAMPLER_STATE_RUNNING)
        return CHILD_STATE_RUNNING;
    if (sampler_thread_register(NULL) != 0)
        return CHILD_REGISTER;
    uint64_t n[2] = {0, 0};
    /* Bounded: up to 10 s of CPU in 10 ms steps. */
    for (int i = 0; i < 1000 && n[0] < 3; i++) {
        tu_burn_cpu_ns(10000000);
        if (sampler_drain(fk_count_cb, n, 0) < 0)
            return CHILD_NO_SAMPLES;
    }
    if (n[0] < 3)
        return CHILD_NO_SAMPLES;
    if (n[1] != 0)
        return CHILD_FOREIGN_SAMPLE;
    if (sampler_stop() != 0)
        return CHILD_STOP;
    if (tu_count_timers() != 0)
        return CHILD_STOPPED_TIMERS;
    return CHILD_OK;
}

static int fk_child_main(void)
{
    int rc = fk_child_is_clean(1);
    if (rc == CHILD_OK)
        rc = fk_child_samples();
    return rc;
}

/* Fork, run fk_child_main() in the child, and assert it exited 0. */
static void fk_fork_and_check(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fk_child_main());
    int status;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    ck_assert_int_eq(w, pid);
    ck_assert_msg(WIFEXITED(status), "child died (signal %d)",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_msg(WEXITSTATUS(status) == 0, "child check failed with code %d",
                  WEXITSTATUS(status));
}

/* ---- a busy registered thread in the parent --------------------------------- */

typedef struct busy {
    pthread_t th;
    _Atomic pid_t tid;
    _Atomic int quit;
    _Atomic int rc;
} busy;

static void *busy_main(void *arg)
{
    busy *b = arg;
    atomic_store(&b->rc, sampler_thread_register(b));
    atomic_store(&b->tid, tu_gettid());
    while (!atomic_load(&b->quit))
        tu_burn_cpu_ns(1000000);
    return NULL;
}

static void busy_start(busy *b)
{
    memset(b, 0, sizeof *b);
    ck_assert_int_eq(pthread_create(&b->th, NULL, busy_main, b), 0);
    tu_budget bu;
    tu_budget_start(&bu, CLOCK_PROCESS_CPUTIME_ID, UINT64_MAX, WAIT_BACKSTOP_S);
    while (atomic_load(&b->tid) == 0) {
        ck_assert(!tu_budget_spent(&bu));
        tu_nap_us(200);
    }
    ck_assert_sampler(atomic_load(&b->rc), 0);
}

static void busy_stop(busy *b)
{
    atomic_store(&b->quit, 1);
    ck_assert_int_eq(pthread_join(b->th, NULL), 0);
}

static int fk_tid_cb(const sampler_sample *s, void *arg)
{
    uint64_t *n = arg; /* n[0]: tid to count (in), n[1]: its samples */
    if (s->tid == (pid_t)n[0])
        n[1]++;
    return 0;
}

/* Wait until at least `want` samples, counted without draining; bounded by
 * the CPU the busy thread `b` burnt meanwhile. */
#define fk_wait_stored_samples(b, want)                                                  \
    tu_wait_stat(samples, (want), tu_thread_clock((b)->th), WAIT_CPU_NS, WAIT_BACKSTOP_S)

/* Wait until busy thread `b` has `want` new samples in the buffer; bounded
 * by the CPU it burnt meanwhile. */
static void fk_wait_samples_of(const busy *b, uint64_t want)
{
    pid_t tid = atomic_load(&b->tid);
    uint64_t n[2] = {(uint64_t)tid, 0};
    tu_budget bu;
    tu_budget_start(&bu, tu_thread_clock(b->th), WAIT_CPU_NS, WAIT_BACKSTOP_S);
    for (;;) {
        ck_assert_int_ge(sampler_drain(fk_tid_cb, n, 0), 0);
        if (n[1] >= want)
            return;
        ck_assert_msg(
            !tu_budget_spent(&bu),
            "thread %d: %llu samples, want %llu, after %.0f ms of its CPU (%.1f s)",
            (int)tid, (unsigned long long)n[1], (unsigned long long)want,
            (double)tu_budget_cpu_used(&bu) / 1e6, tu_budget_wall_used(&bu));
        tu_nap_us(1000);
    }
}

/* The parent samples a busy thread and has unread samples; the child starts
 * clean and samples itself; the parent keeps sampling the busy thread. */
START_TEST(fork_while_sampling)
{
    static busy b;
    int base_timers = tu_count_timers();
    tu_start(1000000);
    busy_start(&b);
    fk_wait_stored_samples(&b, 3); /* sampling is live and samples sit unread */

    fk_fork_and_check();

    /* The parent is unaffected: still registered and sampled. */
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);
    fk_wait_samples_of(&b, 1); /* drains the old ones */
    fk_wait_samples_of(&b, 3); /* new ones after the fork */
    busy_stop(&b);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
}
END_TEST

/* The thread that forks is itself registered and being sampled at 100 µs
 * (signals arriving around fork). The child still starts clean, and its
 * leftover per-thread registration does not make it "already registered". */
START_TEST(fork_from_sampled_thread)
{
    int base_timers = tu_count_timers();
    tu_start(100000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    for (int i = 0; i < 20; i++) {
        /* Burn so that this thread's timer is firing when fork() runs. */
        uint64_t s0 = tu_stats().signals;
        tu_budget bu;
        tu_budget_start(&bu, CLOCK_THREAD_CPUTIME_ID, WAIT_CPU_NS, WAIT_BACKSTOP_S);
        while (tu_stats().signals == s0) {
            ck_assert_msg(!tu_budget_spent(&bu),
                          "fork %d: no signal after %.0f ms of CPU", i,
                          (double)tu_budget_cpu_used(&bu) / 1e6);
            tu_burn_cpu_ns(200000);
        }
        fk_fork_and_check();
    }
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
}
END_TEST

/* A child of a paused sampler is stopped, not paused, and a start in the
 * child begins unpaused. */
START_TEST(fork_while_paused)
{
    static busy b;
    tu_start(1000000);
    busy_start(&b);
    ck_assert_sampler(sampler_pause(), 0);
    fk_fork_and_check(); /* checks STOPPED, then start -> RUNNING, samples */
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_PAUSED);
    ck_assert_sampler(sampler_resume(), 0);
    uint64_t before = tu_stats().samples;
    fk_wait_stored_samples(&b, before + 1);
    busy_stop(&b);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* Many quick forks while four threads are sampled at 100 µs: each child is
 * clean (checks only, no sampling of its own), none dies of a signal.
 *
 * Up to FORKS forks, at least FORKS_MIN, and more only within FORKS_BUDGET_S
 * seconds: a fork's cost is out of the test's hands (at 4987dd2 the child
 * frees the parent's 9.4 MB buffer: about 1 s a fork under TSan on a busy
 * machine), and the four busy threads leave little CPU to the forking one.
 * Every fork done is checked in full; the count is printed. */
#define FORKS 200
#define FORKS_MIN 20
#define FORKS_BUDGET_S 15.0

static int fk_quick_child(void)
{
    return fk_child_is_clean(1);
}

START_TEST(many_forks_under_load)
{
    static busy b[4];
    tu_start(100000);
    for (int i = 0; i < 4; i++)
        busy_start(&b[i]);
    tu_rounds r;
    for (tu_rounds_init(&r, FORKS, FORKS_MIN, FORKS_BUDGET_S); tu_rounds_next(&r);) {
        const int i = r.done;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(fk_quick_child());
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "fork %d: child died (signal %d)", i,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        ck_assert_msg(WEXITSTATUS(status) == 0, "fork %d: child check failed with code %d", i,
                      WEXITSTATUS(status));
    }
    printf("fork: %d forks (of %d) in %.1f s, every child clean\n", r.done, r.max,
           tu_rounds_secs(&r));
    ck_assert_uint_eq(tu_stats().threads, 4);
    ck_assert_uint_gt(tu_stats().signals, 0);
    for (int i = 0; i < 4; i++)
        busy_stop(&b[i]);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* ---- fork from inside a drain callback ------------------------------------ */

typedef struct drain_fork {
    sem_t done;
    int callbacks;
    int fork_errno;
    int child_status;
    int drained;
} drain_fork;

/* A consumer callback that forks (say, to run a symbolizer). The child
 * checks it is clean and exits; the callback waits for it. */
static int fk_fork_in_cb(const sampler_sample *s, void *arg)
{
    drain_fork *d = arg;
    (void)s;
    d->callbacks++;
    pid_t pid = fork();
    if (pid < 0) {
        d->fork_errno = errno;
        return 1;
    }
    if (pid == 0)
        _exit(fk_child_is_clean(0));
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    d->child_status = status;
    return 1;
}

static void *fk_drain_fork_thread(void *arg)
{
    drain_fork *d = arg;
    d->drained = sampler_drain(fk_fork_in_cb, d, 0);
    sem_post(&d->done);
    return NULL;
}

/* fork() called inside a sampler_drain() callback returns in both processes
 * (it must not wait for the drain lock the calling thread itself holds), and
 * the child is clean. Bounded: the drain runs in a helper thread and the test
 * waits at most 10 s for it. */
START_TEST(fork_inside_drain_callback)
{
    static drain_fork d;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(sem_init(&d.done, 0, 0), 0);
    tu_start(1000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_wait_stat(samples, 1, CLOCK_THREAD_CPUTIME_ID, WAIT_CPU_NS, WAIT_BACKSTOP_S);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fk_drain_fork_thread, &d), 0);
    /* 10 s, stretched like check's timeouts: the child frees the parent's
     * buffer, slow under the sanitizers. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const int limit_s = (int)(10 * tu_timeout_factor());
    until.tv_sec += limit_s;
    int rc;
    while ((rc = sem_timedwait(&d.done, &until)) < 0 && errno == EINTR)
        ;
    ck_assert_msg(rc == 0,
                  "fork() inside a sampler_drain() callback did not return within %d s "
                  "(deadlock on the drain lock in the atfork handler?)",
                  limit_s);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(d.drained, 1);
    ck_assert_int_eq(d.callbacks, 1);
    ck_assert_int_eq(d.fork_errno, 0);
    ck_assert_msg(WIFEXITED(d.child_status) && WEXITSTATUS(d.child_status) == 0,
                  "child status 0x%x", d.child_status);
    /* The parent still works. */
    ck_assert_sampler(sampler_thread_unregister(), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

Suite *fork_suite(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = tcase_create("fork");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fork_while_sampling);
    tcase_add_test(tc, fork_from_sampled_thread);
    tcase_add_test(tc, fork_while_paused);
    tcase_add_test(tc, many_forks_under_load);
    tcase_add_test(tc, fork_inside_drain_callback);
    suite_add_tcase(s, tc);
    return s;
}
