/*
 * The host comes first: what a hostile or careless program does to the
 * sampler must not hang, kill or mislead it (issue "A profiler must never
 * hurt its host"). Each test here failed before its fix:
 *
 *   cancel_*                 pthread_cancel inside a management call
 *   handler_replaced_*       the program installs its own handler after start
 *   interval_*               the smallest interval the handler can sustain
 *   blocked_signal_*         a thread that blocks the signal while it works
 *   buffer_*                 the buffer's byte bound, not touched at start
 *   sigpending_*             RLIMIT_SIGPENDING headroom for the program
 *   walker_management_*      management calls from inside the handler
 */
#define _GNU_SOURCE
#include "testutil.h"


#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- cancellation ---------------------------------------------------------- */

typedef struct hs_victim {
    pid_t target;       /* a thread to register by tid */
    _Atomic long loops; /* management calls made */
} hs_victim;

static void *hs_victim_main(void *arg)
{
    hs_victim *v = arg;
    for (;;) {
        /* Both read /proc under the library lock: open, read and opendir are
         * cancellation points. */
        sampler_register_all_threads();
        sampler_thread_unregister_tid(v->target);
        sampler_thread_register_tid(v->target, NULL);
        sampler_thread_unregister_tid(v->target);
        atomic_fetch_add(&v->loops, 1);
        pthread_testcancel();
    }
    return NULL;
}

/* A thread cancelled while it registers threads: later calls and fork() must
 * not hang on a lock it left held (before the fix: 3 of 3 hung). */
START_TEST(cancel_inside_registration_leaves_no_lock)
{
    tu_start(1000000);
    hs_victim v = {.target = tu_gettid()};
    tu_watchdog w;
    tu_watchdog_start(&w, 20, "cancel: a later call or fork hung (lock left held)");
    for (int round = 0; round < 8; round++) {
        long before = atomic_load(&v.loops);
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, hs_victim_main, &v), 0);
        /* Let it get into its calls (bounded by work done, not time). */
        for (int i = 0; i < 2000 && atomic_load(&v.loops) < before + 2; i++)
            tu_nap_us(500);
        ck_assert_int_eq(pthread_cancel(th), 0);
        void *res;
        ck_assert_int_eq(pthread_join(th, &res), 0);
        ck_assert_ptr_eq(res, PTHREAD_CANCELED);
        /* Every later call works, and so does fork (the atfork handler). */
        sampler_stats st = tu_stats();
        (void)st;
        int rc = sampler_thread_register(NULL);
        ck_assert_msg(rc == 0 || rc == SAMPLER_EREGISTERED, "register: %s",
                      sampler_err_name(rc));
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(sampler_state() == SAMPLER_STATE_STOPPED ? 0 : 3);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_sampler(sampler_stop(), 0);
    tu_watchdog_stop(&w);
}
END_TEST

/* ---- a handler installed after start --------------------------------------- */

static _Atomic long hs_own_calls, hs_own_timer_calls;

static void hs_own_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    atomic_fetch_add(&hs_own_calls, 1);
    if (si->si_code != SI_TIMER)
        atomic_fetch_add(&hs_own_timer_calls, 1); /* setitimer's: SI_KERNEL */
}

static bool hs_action_is(void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction cur;
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &cur), 0);
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == fn;
}

/* The program takes SIGPROF after start with its own handler and
 * setitimer(ITIMER_PROF): the sampler notices (stats), and stop leaves the
 * program's handler in place, so its own timer does not kill it (before: stop
 * restored SIG_DFL and the process died of SIGPROF, exit 155 in a shell). */
START_TEST(handler_replaced_after_start_is_noticed_and_kept)
{
    tu_start(10000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_uint_eq(tu_stats().handler_replaced, 0);

    tu_set_sigprof(NULL, hs_own_handler);
    struct itimerval it = {.it_interval = {0, 10000}, .it_value = {0, 10000}};
    ck_assert_int_eq(setitimer(ITIMER_PROF, &it, NULL), 0);
    for (int i = 0; i < 1000 && atomic_load(&hs_own_timer_calls) < 5; i++)
        tu_burn_cpu_ns(2000000);
    ck_assert_int_ge(atomic_load(&hs_own_timer_calls), 5);
    ck_assert_uint_eq(tu_stats().handler_replaced, 1);

    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_msg(hs_action_is(hs_own_handler), "stop replaced the program's handler");
    ck_assert_uint_eq(tu_stats().handler_replaced, 1);
    /* The program's timer goes on reaching the program's handler. */
    long seen = atomic_load(&hs_own_timer_calls);
    for (int i = 0; i < 1000 && atomic_load(&hs_own_timer_calls) < seen + 5; i++)
        tu_burn_cpu_ns(2000000);
    ck_assert_int_ge(atomic_load(&hs_own_timer_calls), seen + 5);

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    signal(SIGPROF, SIG_IGN);
}
END_TEST

/* Installed before start, the program's handler is chained and restored as
 * before; handler_replaced stays 0. */
START_TEST(handler_installed_before_start_is_not_replaced)
{
    tu_set_sigprof(NULL, hs_own_handler);
    tu_start(10000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_uint_eq(tu_stats().handler_replaced, 0);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert(hs_action_is(hs_own_handler));
    ck_assert_uint_eq(tu_stats().handler_replaced, 0);
    signal(SIGPROF, SIG_IGN);
}
END_TEST

/* ---- the smallest interval ------------------------------------------------- */

/* Below SAMPLER_INTERVAL_MIN_NS the handler cannot keep up (wall clock at
 * 5 µs: 300 ms of work took 7 min 49 s): refused for every clock. */
START_TEST(interval_below_minimum_is_refused)
{
    static const uint64_t bad[] = {1000, 5000, 20000, SAMPLER_INTERVAL_MIN_NS - 1};
    static const sampler_clock clocks[] = {SAMPLER_CLOCK_CPU, SAMPLER_CLOCK_WALL};
    ck_assert_uint_ge(SAMPLER_INTERVAL_MIN_NS, 100000);
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            sampler_config cfg;
            tu_config(&cfg, bad[i]);
            cfg.clock = clocks[c];
            ck_assert_sampler(sampler_start(&cfg), SAMPLER_EINVAL);
        }
    }
}
END_TEST

/* At the minimum, wall-clock sampling of a busy thread stays usable: the
 * work ends and is sampled (the test's timeout bounds it). */
START_TEST(interval_minimum_wall_clock_is_usable)
{
    sampler_config cfg;
    tu_config(&cfg, SAMPLER_INTERVAL_MIN_NS);
    cfg.clock = SAMPLER_CLOCK_WALL;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_burn_cpu_ns(100000000);
    ck_assert_sampler(sampler_stop(), 0);
    sampler_stats st = tu_stats();
    ck_assert_uint_gt(st.samples, 10);
}
END_TEST

/* ---- a thread that blocks the signal --------------------------------------- */

typedef struct hs_delay_tally {
    uint64_t weight, delayed, max_delayed, weight_of_max;
} hs_delay_tally;

static int hs_delay_fn(const sampler_sample *s, void *arg)
{
    hs_delay_tally *t = arg;
    t->weight += s->weight;
    t->delayed += s->delayed_weight;
    if (s->delayed_weight > t->max_delayed) {
        t->max_delayed = s->delayed_weight;
        t->weight_of_max = s->weight;
    }
    return 0;
}

/* 300 ms of CPU with SIGPROF blocked, then unblocked: the one late signal
 * must not charge those 30 intervals to the stack it interrupts (the unblock
 * call). Its weight beyond one tick's worth is delayed_weight (before: weight
 * 30 on pthread_sigmask). */
START_TEST(blocked_signal_weight_is_kept_apart)
{
    const uint64_t iv = 10000000; /* 10 ms: at most 1 overrun per on-time signal */
    tu_start(iv);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
    tu_burn_cpu_ns(300000000);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    tu_burn_cpu_ns(1000000); /* under TSan the held signal runs at a libc call */
    ck_assert_sampler(sampler_stop(), 0);

    hs_delay_tally t = {0};
    ck_assert_int_ge(sampler_drain(hs_delay_fn, &t, 0), 1);
    sampler_stats st = tu_stats();
    /* 30 intervals passed while blocked; one tick's worth may count as
     * on time (at most 2 with HZ >= 100 at 10 ms). */
    ck_assert_msg(t.max_delayed >= 20, "delayed weight %llu of ~30",
                  (unsigned long long)t.max_delayed);
    ck_assert_uint_le(t.weight_of_max, 2);
    ck_assert_uint_ge(st.delayed, 1);
    ck_assert_uint_eq(st.delayed_weight, t.delayed);
    ck_assert_uint_eq(st.weight, t.weight);
}
END_TEST

/* On-time signals carry no delayed weight: a thread that never blocks the
 * signal has all its weight on its stacks. */
START_TEST(blocked_signal_none_when_never_blocked)
{
    tu_start(10000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_burn_cpu_ns(200000000);
    ck_assert_sampler(sampler_stop(), 0);
    hs_delay_tally t = {0};
    sampler_drain(hs_delay_fn, &t, 0);
    ck_assert_uint_ge(t.weight, 10);
    ck_assert_uint_eq(t.delayed, 0);
    ck_assert_uint_eq(tu_stats().delayed, 0);
}
END_TEST

/* ---- the buffer ------------------------------------------------------------ */

static long hs_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    long size = 0, resident = 0;
    ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The buffer is bounded in bytes (2^22 samples of 64 frames would be 2.4 GB),
 * and a large one costs no memory at start (before: 2.3 GB resident and 31 s
 * in sampler_start()). */
START_TEST(buffer_bounded_by_bytes_and_not_touched_at_start)
{
    sampler_config cfg;
    tu_config(&cfg, 10000000);
    cfg.buffer_capacity = SAMPLER_BUFFER_MAX;
    cfg.max_depth = 64;
    ck_assert_sampler(sampler_start(&cfg), SAMPLER_EINVAL);
    cfg.max_depth = SAMPLER_MAX_DEPTH;
    cfg.buffer_capacity = 65536;
    ck_assert_sampler(sampler_start(&cfg), SAMPLER_EINVAL); /* 65536 x 4160 B */

    /* The largest accepted: 2^22 one-frame samples, 256 MiB. */
    cfg.max_depth = 1;
    cfg.buffer_capacity = SAMPLER_BUFFER_MAX;
    long before = hs_rss_kb();
    ck_assert_sampler(sampler_start(&cfg), 0);
    long grown = hs_rss_kb() - before;
    ck_assert_msg(grown < 8 * 1024, "sampler_start made %ld KiB resident", grown);
    /* It still works: samples are stored and read back. */
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_burn_cpu_ns(60000000);
    ck_assert_sampler(sampler_stop(), 0);
    tu_tally t = {0};
    tu_drain_tally(&t);
    ck_assert_uint_ge(t.total_samples, 1);
    ck_assert_uint_eq(t.total_samples, tu_stats().samples);
}
END_TEST

/* ---- RLIMIT_SIGPENDING ------------------------------------------------------ */

typedef struct hs_parked {
    sem_t *quit;
    _Atomic int rc; /* its own registration's result; 1 until it registered */
} hs_parked;

/* Registers itself (no /proc read: the uid change below makes the process
 * non-dumpable), says how it went, waits to be told to exit. */
static void *hs_park(void *arg)
{
    hs_parked *p = arg;
    atomic_store(&p->rc, sampler_thread_register(NULL));
    while (sem_wait(p->quit) != 0)
        ;
    return NULL;
}

/* In a child with RLIMIT_SIGPENDING 8 under a user of its own (the limit is
 * per user): the sampler keeps part of it for the program, whose sigqueue()
 * then still works (before: the timers took all 8 and 4 of 4 sigqueue calls
 * failed with EAGAIN). Exit code: 0 ok, 1..9 what failed. */
static int hs_sigpending_child(void)
{
    struct rlimit rl = {8, 8};
    if (setrlimit(RLIMIT_SIGPENDING, &rl) != 0)
        return 1;
    if (setgid(61234) != 0 || setuid(61234) != 0)
        return 2;
    /* Every thread blocks the program's signal: it stays queued. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sampler_config cfg;
    sampler_config_init(&cfg, sizeof cfg);
    if (sampler_start(&cfg) != 0)
        return 3;
    enum { N = 8 };
    pthread_t th[N];
    hs_parked park[N];
    sem_t quit;
    sem_init(&quit, 0, 0);
    int registered = 0, limited = 0;
    if (sampler_thread_register(NULL) == 0)
        registered++;
    for (int i = 0; i < N; i++) {
        park[i].quit = &quit;
        atomic_store(&park[i].rc, 1);
        if (pthread_create(&th[i], NULL, hs_park, &park[i]) != 0)
            return 4;
        while (atomic_load(&park[i].rc) == 1)
            sched_yield();
        int rc = atomic_load(&park[i].rc);
        if (rc == 0)
            registered++;
        else if (rc == SAMPLER_ETIMERLIMIT)
            limited++;
        else
            return 20 - rc; /* 21.. : which SAMPLER_E* code */
    }
    sampler_stats st;
    st.size = sizeof st;
    sampler_get_stats(&st, sizeof st);
    if (limited == 0 || st.timer_failures != (uint64_t)limited || registered < 1)
        return 6;
    /* The program's own queued signals: the reserve (4 of 8) is theirs. */
    for (int i = 0; i < 4; i++) {
        union sigval v = {.sival_int = i};
        if (sigqueue(getpid(), SIGRTMIN, v) != 0)
            return 7;
    }
    for (int i = 0; i < N; i++)
        sem_post(&quit);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    return sampler_stop() == 0 ? 0 : 8;
}

START_TEST(sigpending_reserve_left_to_the_program)
{
    if (geteuid() != 0) {
        fprintf(stderr, "sigpending_reserve_left_to_the_program: needs root "
                        "(a user of its own); not checked\n");
        return;
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(hs_sigpending_child());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child failed at step %d, signal %d (see hs_sigpending_child; "
                  "20 + n: registration returned -n)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
END_TEST

/* ---- management calls from the handler ------------------------------------- */

static _Atomic int hs_walker_rc = 1, hs_walker_drain_rc = 1;

static int hs_ignore_sample(const sampler_sample *s, void *arg)
{
    (void)s;
    (void)arg;
    return 0;
}

static int hs_meddling_walker(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max,
                              void *arg)
{
    (void)arg;
    /* Forbidden in a walker (not async-signal-safe); must say EBUSY rather
     * than take the lock (a deadlock if this thread held it). */
    atomic_store(&hs_walker_rc, sampler_pause());
    atomic_store(&hs_walker_drain_rc, sampler_drain(hs_ignore_sample, NULL, 1));
    return sampler_walk_fp(ctx, pcs, max, NULL);
}

/* The two calls a client library asks the core (libsampler-profile does):
 * the interval a sample's weight counts, and whether it runs inside a drain
 * callback. */
static int hs_in_drain_fn(const sampler_sample *s, void *arg)
{
    (void)s;
    *(int *)arg = sampler_in_drain_callback();
    return 1;
}

START_TEST(client_queries_interval_and_drain_callback)
{
    ck_assert_int_eq(sampler_in_drain_callback(), 0);
    sampler_config cfg;
    ck_assert_sampler(sampler_config_init(&cfg, sizeof cfg), 0);
    cfg.interval_ns = 2000000;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_uint_eq(sampler_get_interval_ns(), 2000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    /* a sample to drain: 2 s of CPU is 1000 intervals */
    tu_wait_stat(samples, 1, CLOCK_THREAD_CPUTIME_ID, 2000000000ULL, 60);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_uint_eq(sampler_get_interval_ns(), 2000000); /* the last one, after stop */
    int inside = -1;
    ck_assert_int_eq(sampler_drain(hs_in_drain_fn, &inside, 1), 1);
    ck_assert_int_eq(inside, 1);
    ck_assert_int_eq(sampler_in_drain_callback(), 0);
    cfg.interval_ns = SAMPLER_INTERVAL_MIN_NS; /* a refused start changes nothing */
    cfg.max_depth = 0;
    ck_assert_sampler(sampler_start(&cfg), SAMPLER_EINVAL);
    ck_assert_uint_eq(sampler_get_interval_ns(), 2000000);
}
END_TEST

START_TEST(walker_management_calls_get_ebusy)
{
    sampler_config cfg;
    tu_config(&cfg, 4000000);
    cfg.walker = hs_meddling_walker;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_wait_stat(samples, 3, CLOCK_THREAD_CPUTIME_ID, 2000000000ULL, 30);
    ck_assert_sampler(atomic_load(&hs_walker_rc), SAMPLER_EBUSY);
    ck_assert_sampler(atomic_load(&hs_walker_drain_rc), SAMPLER_EBUSY);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING); /* not paused */
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

static void hs_teardown(void)
{
    if (sampler_state() != SAMPLER_STATE_STOPPED)
        sampler_stop();
}

Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, NULL, hs_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cancel_inside_registration_leaves_no_lock);
    tcase_add_test(tc, handler_replaced_after_start_is_noticed_and_kept);
    tcase_add_test(tc, handler_installed_before_start_is_not_replaced);
    tcase_add_test(tc, interval_below_minimum_is_refused);
    tcase_add_test(tc, interval_minimum_wall_clock_is_usable);
    tcase_add_test(tc, blocked_signal_weight_is_kept_apart);
    tcase_add_test(tc, blocked_signal_none_when_never_blocked);
    tcase_add_test(tc, buffer_bounded_by_bytes_and_not_touched_at_start);
    tcase_add_test(tc, sigpending_reserve_left_to_the_program);
    tcase_add_test(tc, walker_management_calls_get_ebusy);
    tcase_add_test(tc, client_queries_interval_and_drain_callback);
    suite_add_tcase(s, tc);
    return s;
}
