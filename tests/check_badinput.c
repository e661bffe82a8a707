/*
 * badinput suite: every documented argument error returns its code, leaves
 * the sampler as it was (a failed start stays STOPPED and a good start works
 * afterwards), and never crashes.
 */
#include "testutil.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LIMIT_NS 20000000000ULL

/* sampler_start(cfg) fails with `want`, the state stays STOPPED, no handler
 * was installed, and a good config starts (and stops) afterwards. */
static void bi_start_fails(const sampler_config *cfg, int want, const char *what)
{
    struct sigaction before, after;
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &before), 0);
    int rc = sampler_start(cfg);
    ck_assert_msg(rc == want, "%s: sampler_start returned %s, expected %s", what,
                  sampler_err_name(rc), sampler_err_name(want));
    ck_assert_msg(sampler_state() == SAMPLER_STATE_STOPPED, "%s: state %d after failed start",
                  what, sampler_state());
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &after), 0);
    ck_assert_msg(after.sa_handler == before.sa_handler && after.sa_flags == before.sa_flags,
                  "%s: failed start changed the SIGPROF disposition", what);
    ck_assert_sampler(sampler_stop(), SAMPLER_ENOTSTARTED);

    sampler_config good;
    tu_config(&good, 1000000);
    ck_assert_sampler(sampler_start(&good), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_sampler(sampler_stop(), 0);
}

START_TEST(config_init_bad_args)
{
    sampler_config cfg;
    ck_assert_sampler(sampler_config_init(NULL, sizeof cfg), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_config_init(&cfg, 0), SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_config_init(&cfg, sizeof(size_t)), SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_config_init(&cfg, sizeof cfg), 0);
    ck_assert_uint_eq(cfg.size, sizeof cfg);
}
END_TEST

/* NULL config, and a config whose size was never set. */
START_TEST(start_null_and_unsized_config)
{
    bi_start_fails(NULL, SAMPLER_EINVAL, "NULL config");

    sampler_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.interval_ns = 1000000;
    cfg.max_depth = 64;
    cfg.buffer_capacity = 1024;
    cfg.signo = SIGPROF;
    bi_start_fails(&cfg, SAMPLER_ESTRUCTSIZE, "size 0");
    cfg.size = sizeof(size_t);
    bi_start_fails(&cfg, SAMPLER_ESTRUCTSIZE, "size too small");
}
END_TEST

/* A config from a "newer header": bigger than ours is accepted only when the
 * fields we do not know are zero. */
START_TEST(start_config_from_newer_header)
{
    struct {
        sampler_config c;
        uint64_t future_field;
    } big;
    memset(&big, 0, sizeof big);
    ck_assert_sampler(sampler_config_init(&big.c, sizeof big), 0);
    ck_assert_uint_eq(big.c.size, sizeof big);
    big.future_field = 1;
    bi_start_fails(&big.c, SAMPLER_ESTRUCTSIZE, "unknown field set");
    big.future_field = 0;
    ck_assert_sampler(sampler_start(&big.c), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

START_TEST(start_bad_interval)
{
    static const uint64_t bad[] = {0, 1, 999, SAMPLER_INTERVAL_MIN_NS - 1,
                                   SAMPLER_INTERVAL_MAX_NS + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sampler_config cfg;
        tu_config(&cfg, bad[i]);
        char what[64];
        snprintf(what, sizeof what, "interval %llu", (unsigned long long)bad[i]);
        bi_start_fails(&cfg, SAMPLER_EINVAL, what);
    }
    /* The limits themselves are accepted. */
    sampler_config cfg;
    tu_config(&cfg, SAMPLER_INTERVAL_MIN_NS);
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_stop(), 0);
    tu_config(&cfg, SAMPLER_INTERVAL_MAX_NS);
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

START_TEST(start_bad_depth)
{
    static const int bad[] = {0, -1, SAMPLER_MAX_DEPTH + 1, -2147483647 - 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sampler_config cfg;
        tu_config(&cfg, 1000000);
        cfg.max_depth = bad[i];
        char what[64];
        snprintf(what, sizeof what, "max_depth %d", bad[i]);
        bi_start_fails(&cfg, SAMPLER_EINVAL, what);
    }
    sampler_config cfg;
    tu_config(&cfg, 1000000);
    cfg.max_depth = 1;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_stop(), 0);
    cfg.max_depth = SAMPLER_MAX_DEPTH;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

START_TEST(start_bad_capacity)
{
    static const size_t bad[] = {0, (size_t)SAMPLER_BUFFER_MAX + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sampler_config cfg;
        tu_config(&cfg, 1000000);
        cfg.buffer_capacity = bad[i];
        char what[64];
        snprintf(what, sizeof what, "buffer_capacity %zu", bad[i]);
        bi_start_fails(&cfg, SAMPLER_EINVAL, what);
    }
    sampler_config cfg;
    tu_config(&cfg, 1000000);
    cfg.buffer_capacity = 1;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

START_TEST(start_bad_clock)
{
    static const int bad[] = {2, -1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sampler_config cfg;
        tu_config(&cfg, 1000000);
        cfg.clock = (sampler_clock)bad[i];
        char what[64];
        snprintf(what, sizeof what, "clock %d", bad[i]);
        bi_start_fails(&cfg, SAMPLER_EINVAL, what);
    }
}
END_TEST

START_TEST(start_bad_signal)
{
    static const int bad[] = {SIGKILL, SIGSEGV, SIGSTOP, 0, -1, 1000, SIGINT, SIGCHLD};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sampler_config cfg;
        tu_config(&cfg, 1000000);
        cfg.signo = bad[i];
        char what[64];
        snprintf(what, sizeof what, "signo %d", bad[i]);
        bi_start_fails(&cfg, SAMPLER_ESIGNAL, what);
    }
    /* The documented alternatives are accepted. */
    static const int good[] = {SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sampler_config cfg;
        tu_config(&cfg, 1000000);
        cfg.signo = good[i];
        ck_assert_sampler(sampler_start(&cfg), 0);
        ck_assert_sampler(sampler_stop(), 0);
    }
    sampler_config cfg;
    tu_config(&cfg, 1000000);
    cfg.signo = SIGRTMIN + 1;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* ---- bad thread ids ---------------------------------------------------------- */

static void *bi_note_tid(void *arg)
{
    *(pid_t *)arg = tu_gettid();
    return NULL;
}

/* tid <= 0 is EINVAL (in any state); a tid that is not a thread of this
 * process (pid 1, our parent, a thread that has exited) is ENOTHREAD. */
START_TEST(register_bad_tids)
{
    ck_assert_sampler(sampler_thread_register_tid(0, NULL), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_thread_register_tid(-5, NULL), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_thread_unregister_tid(0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_thread_unregister_tid(-5), SAMPLER_EINVAL);

    int base_timers = tu_count_timers();
    tu_start(1000000);
    ck_assert_sampler(sampler_thread_register_tid(0, NULL), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_thread_register_tid(-5, NULL), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_thread_unregister_tid(0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_thread_unregister_tid(-5), SAMPLER_EINVAL);
    if (getpid() != 1)
        ck_assert_sampler(sampler_thread_register_tid(1, NULL), SAMPLER_ENOTHREAD);
    ck_assert_sampler(sampler_thread_register_tid(getppid(), NULL), SAMPLER_ENOTHREAD);

    /* A thread that has exited (and is gone from /proc/self/task). */
    pid_t dead = 0;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, bi_note_tid, &dead), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_gt(dead, 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)dead);
    uint64_t deadline = tu_now_ns() + WAIT_LIMIT_NS;
    while (access(path, F_OK) == 0) {
        ck_assert(tu_now_ns() < deadline);
        tu_nap_us(200);
    }
    ck_assert_sampler(sampler_thread_register_tid(dead, NULL), SAMPLER_ENOTHREAD);

    /* None of it registered anything. */
    ck_assert_uint_eq(tu_stats().threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* ---- drain and stats ----------------------------------------------------------- */

static int bi_count_cb(const sampler_sample *s, void *arg)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

START_TEST(drain_and_stats_bad_args)
{
    ck_assert_sampler(sampler_drain(NULL, NULL, 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_get_stats(NULL, sizeof(sampler_stats)), SAMPLER_EINVAL);
    sampler_stats st;
    ck_assert_sampler(sampler_get_stats(&st, 0), SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_get_stats(&st, sizeof(size_t)), SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_get_stats(&st, offsetof(sampler_stats, reaped)),
                      SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_get_stats(&st, sizeof st), 0);
    ck_assert_uint_eq(st.size, sizeof st);

    /* A bigger struct (newer header): our part filled, the rest zeroed. */
    struct {
        sampler_stats s;
        uint64_t future[4];
    } big;
    memset(&big, 0xff, sizeof big);
    ck_assert_sampler(sampler_get_stats(&big.s, sizeof big), 0);
    ck_assert_uint_eq(big.s.size, sizeof big.s);
    ck_assert_uint_eq(big.s.threads, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(big.future[i], 0);

    /* Running: NULL callback still EINVAL and consumes nothing. */
    tu_start(1000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_wait_stat(samples, 1, CLOCK_THREAD_CPUTIME_ID, UINT64_MAX, WAIT_LIMIT_NS / 1e9);
    ck_assert_sampler(sampler_drain(NULL, NULL, 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_stop(), 0);
    int n = 0;
    ck_assert_int_gt(sampler_drain(bi_count_cb, &n, 0), 0);
    ck_assert_int_gt(n, 0);
}
END_TEST

/* ---- management calls from a drain callback ---------------------------------- */

enum {
    IN_START, IN_STOP, IN_PAUSE, IN_RESUME, IN_REGISTER, IN_REGISTER_TID, IN_REGISTER_ALL,
    IN_UNREGISTER, IN_UNREGISTER_TID, IN_REAP, IN_DRAIN, IN_COUNT
};
static const char *const in_names[IN_COUNT] = {
    "start", "stop", "pause", "resume", "register", "register_tid", "register_all",
    "unregister", "unregister_tid", "reap", "drain"};

typedef struct in_drain {
    int calls;
    int rc[IN_COUNT];
    int state_inside;
} in_drain;

static int bi_manage_cb(const sampler_sample *s, void *arg)
{
    in_drain *d = arg;
    sampler_config cfg;
    sampler_config_init(&cfg, sizeof cfg);
    int n = 0;
    d->calls++;
    d->rc[IN_START] = sampler_start(&cfg);
    d->rc[IN_STOP] = sampler_stop();
    d->rc[IN_PAUSE] = sampler_pause();
    d->rc[IN_RESUME] = sampler_resume();
    d->rc[IN_REGISTER] = sampler_thread_register(NULL);
    d->rc[IN_REGISTER_TID] = sampler_thread_register_tid(s->tid, NULL);
    d->rc[IN_REGISTER_ALL] = sampler_register_all_threads();
    d->rc[IN_UNREGISTER] = sampler_thread_unregister();
    d->rc[IN_UNREGISTER_TID] = sampler_thread_unregister_tid(s->tid);
    d->rc[IN_REAP] = sampler_reap_threads();
    d->rc[IN_DRAIN] = sampler_drain(bi_count_cb, &n, 0);
    d->state_inside = sampler_state();
    return 1; /* one sample is enough */
}

/* Every management call made from inside a drain callback is refused with
 * SAMPLER_EBUSY and changes nothing; the sampler works normally afterwards. */
START_TEST(management_from_drain_callback_is_ebusy)
{
    int base_timers = tu_count_timers();
    tu_start(1000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    tu_wait_stat(samples, 2, CLOCK_THREAD_CPUTIME_ID, UINT64_MAX, WAIT_LIMIT_NS / 1e9);
    in_drain d;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(sampler_drain(bi_manage_cb, &d, 0), 1);
    ck_assert_int_eq(d.calls, 1);
    for (int i = 0; i < IN_COUNT; i++)
        ck_assert_msg(d.rc[i] == SAMPLER_EBUSY, "%s inside drain returned %s, expected EBUSY",
                      in_names[i], sampler_err_name(d.rc[i]));
    ck_assert_int_eq(d.state_inside, SAMPLER_STATE_RUNNING);

    /* Nothing changed: still running, this thread still registered. */
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_uint_eq(tu_stats().threads, 1);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);
    ck_assert_sampler(sampler_thread_register(NULL), SAMPLER_EREGISTERED);
    /* And the calls work again outside the callback. */
    int n = 0;
    ck_assert_int_ge(sampler_drain(bi_count_cb, &n, 0), 1); /* the rest */
    ck_assert_sampler(sampler_pause(), 0);
    ck_assert_sampler(sampler_resume(), 0);
    ck_assert_sampler(sampler_thread_unregister(), 0);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
}
END_TEST

Suite *badinput_suite(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, config_init_bad_args);
    tcase_add_test(tc, start_null_and_unsized_config);
    tcase_add_test(tc, start_config_from_newer_header);
    tcase_add_test(tc, start_bad_interval);
    tcase_add_test(tc, start_bad_depth);
    tcase_add_test(tc, start_bad_capacity);
    tcase_add_test(tc, start_bad_clock);
    tcase_add_test(tc, start_bad_signal);
    suite_add_tcase(s, tc);

    tc = tcase_create("calls");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, register_bad_tids);
    tcase_add_test(tc, drain_and_stats_bad_args);
    tcase_add_test(tc, management_from_drain_callback_is_ebusy);
    suite_add_tcase(s, tc);
    return s;
}
