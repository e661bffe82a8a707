/*
 * lifecycle suite: start/stop/pause/resume state machine, every wrong-state
 * error code, and many start/stop cycles under load with no leaked signal,
 * registry entry or timer.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Every call that needs a started sampler says so before start. */
START_TEST(calls_before_start_return_enotstarted)
{
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_STOPPED);
    ck_assert_sampler(sampler_pause(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_resume(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_stop(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_thread_register(NULL), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_thread_register_tid(tu_gettid(), NULL), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_register_all_threads(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_thread_unregister(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_thread_unregister_tid(tu_gettid()), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_reap_threads(), SAMPLER_ENOTSTARTED);
    /* None of them changed the state. */
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_STOPPED);
    ck_assert_uint_eq(tu_stats().threads, 0);
}
END_TEST

/* sampler_state() follows start/pause/resume/stop, and each wrong-state call
 * returns its own code without changing the state. */
START_TEST(state_machine_and_wrong_state_codes)
{
    sampler_config cfg;
    tu_config(&cfg, 1000000);

    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_sampler(sampler_start(&cfg), SAMPLER_ESTARTED);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_sampler(sampler_resume(), SAMPLER_ENOTPAUSED);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);

    ck_assert_sampler(sampler_pause(), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_PAUSED);
    ck_assert_sampler(sampler_pause(), SAMPLER_EPAUSED);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_PAUSED);
    ck_assert_sampler(sampler_start(&cfg), SAMPLER_ESTARTED); /* paused is started */
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_PAUSED);

    ck_assert_sampler(sampler_resume(), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_sampler(sampler_resume(), SAMPLER_ENOTPAUSED);

    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_STOPPED);
    ck_assert_sampler(sampler_stop(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_pause(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_resume(), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_thread_register(NULL), SAMPLER_ENOTSTARTED);
    ck_assert_sampler(sampler_reap_threads(), SAMPLER_ENOTSTARTED);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_STOPPED);

    /* Start works again after stop. */
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* Stop straight from the paused state: allowed, ends STOPPED, and a new
 * start begins unpaused. */
START_TEST(stop_while_paused)
{
    int base_timers = tu_count_timers();
    tu_start(1000000);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_int_eq(tu_count_timers(), base_timers + 1);
    ck_assert_sampler(sampler_pause(), 0);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_STOPPED);
    ck_assert_uint_eq(tu_stats().threads, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);

    tu_start(1000000);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    ck_assert_sampler(sampler_resume(), SAMPLER_ENOTPAUSED);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* Stop leaves the previous SIGPROF disposition in place (SIG_DFL here). */
START_TEST(stop_restores_previous_disposition)
{
    struct sigaction before, during, after;
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &before), 0);
    ck_assert(before.sa_handler == SIG_DFL);
    tu_start(1000000);
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &during), 0);
    ck_assert(during.sa_flags & SA_SIGINFO);
    ck_assert(during.sa_flags & SA_RESTART);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &after), 0);
    ck_assert(after.sa_handler == SIG_DFL);
    ck_assert(!(after.sa_flags & SA_SIGINFO));
}
END_TEST

/* ---- many start/stop cycles under load ------------------------------------- */

#define CYCLE_THREADS 4
#define CYCLES 1000          /* at most; times SAMPLER_TEST_SCALE: see tu_scaled() */
#define CYCLES_MIN 50        /* at least, however slow the machine */
#define CYCLES_BUDGET_S 30.0 /* more than CYCLES_MIN only while within this */
#define CYCLE_INTERVAL_NS 100000ULL /* 100 µs of CPU */

typedef struct cycle_ctx {
    _Atomic int go;         /* cycle number the workers should register for */
    _Atomic int registered; /* registrations done, over all cycles */
    _Atomic int reg_errors; /* registrations that did not return 0 */
    _Atomic int last_error;
    _Atomic int quit;
} cycle_ctx;

/* A worker burns CPU all the time; whenever a new cycle starts it registers
 * itself again (the previous registration ended with the previous stop). */
static void *cycle_worker(void *arg)
{
    cycle_ctx *c = arg;
    int seen = 0;
    while (!atomic_load(&c->quit)) {
        int go = atomic_load(&c->go);
        if (go != seen) {
            seen = go;
            int rc = sampler_thread_register(c);
            if (rc != 0) {
                atomic_fetch_add(&c->reg_errors, 1);
                atomic_store(&c->last_error, rc);
            }
            atomic_fetch_add(&c->registered, 1);
        }
        tu_burn_cpu_ns(20000);
    }
    return NULL;
}

/* Up to 1000 start/stop cycles while 4 threads burn CPU and are sampled at
 * 100 µs (the count is scaled by SAMPLER_TEST_SCALE: CI's valgrind and TSan
 * runs set it). Each cycle waits until at least one timer signal was handled,
 * then stops while the signals are still coming: a pending SIGPROF leaking
 * past stop would hit SIG_DFL and kill the test. After each stop the registry
 * is empty and the process has no more timers than before.
 *
 * Bounded by work, not by a count that a loaded machine cannot finish in
 * check's timeout: after CYCLES_MIN cycles the loop ends once CYCLES_BUDGET_S
 * seconds have passed (every cycle it runs is checked in full; the count is
 * printed). The wait for a signal fails only once the process burnt a full
 * second of CPU since start without one (4 threads registered at 100 µs: a
 * few ms suffice), so a starved or sanitized process waits longer instead. */
START_TEST(start_stop_cycles_under_load)
{
    static cycle_ctx c;
    memset(&c, 0, sizeof c);
    int base_timers = tu_count_timers();
    ck_assert_int_ge(base_timers, 0);

    pthread_t th[CYCLE_THREADS];
    for (int i = 0; i < CYCLE_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, cycle_worker, &c), 0);

    sampler_config cfg;
    tu_config(&cfg, CYCLE_INTERVAL_NS);
    tu_rounds r;
    uint64_t total_signals = 0, total_samples = 0;
    int cycles_with_signals = 0;
    for (tu_rounds_init(&r, tu_scaled(CYCLES), CYCLES_MIN, CYCLES_BUDGET_S);
         tu_rounds_next(&r);) {
        const int cycle = r.done;
        tu_budget bu;
        ck_assert_sampler(sampler_start(&cfg), 0);
        atomic_store(&c.go, cycle);
        /* Every worker registered for this cycle: they only need to be
         * scheduled once (bounded by the wall-clock backstop). */
        tu_budget_start(&bu, CLOCK_PROCESS_CPUTIME_ID, UINT64_MAX, 10);
        while (atomic_load(&c.registered) < cycle * CYCLE_THREADS) {
            ck_assert_msg(!tu_budget_spent(&bu),
                          "cycle %d: workers did not register in %.1f s", cycle,
                          tu_budget_wall_used(&bu));
            tu_nap_us(50);
        }
        ck_assert_msg(atomic_load(&c.reg_errors) == 0, "cycle %d: register returned %s", cycle,
                      sampler_err_name(atomic_load(&c.last_error)));
        ck_assert_uint_eq(tu_stats().threads, CYCLE_THREADS);
        ck_assert_int_eq(tu_count_timers(), base_timers + CYCLE_THREADS);
        /* This cycle's timers delivered at least one signal. */
        tu_wait_stat(signals, 1, CLOCK_PROCESS_CPUTIME_ID, 1000000000ULL, 30);
        ck_assert_sampler(sampler_stop(), 0);
        ck_assert_int_eq(sampler_state(), SAMPLER_STATE_STOPPED);
        sampler_stats st = tu_stats();
        ck_assert_msg(st.threads == 0, "cycle %d: %llu threads left after stop", cycle,
                      (unsigned long long)st.threads);
        ck_assert_int_eq(tu_count_timers(), base_timers);
        /* Every accepted signal is accounted for once stopped. */
        ck_assert_uint_eq(st.signals, st.samples + st.dropped);
        total_signals += st.signals;
        total_samples += st.samples;
        cycles_with_signals += st.signals > 0;
    }
    atomic_store(&c.quit, 1);
    for (int i = 0; i < CYCLE_THREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    printf(
        "lifecycle: %d start/stop cycles (of %d) in %.1f s, %llu signals, %llu samples\n",
        r.done, r.max, tu_rounds_secs(&r), (unsigned long long)total_signals,
        (unsigned long long)total_samples);
    ck_assert_int_eq(cycles_with_signals, r.done);
    ck_assert_uint_gt(total_signals, 0);
    ck_assert_uint_gt(total_samples, 0);
    ck_assert_int_eq(tu_count_timers(), base_timers);
}
END_TEST

Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("states");
    tcase_add_test(tc, calls_before_start_return_enotstarted);
    tcase_add_test(tc, state_machine_and_wrong_state_codes);
    tcase_add_test(tc, stop_while_paused);
    tcase_add_test(tc, stop_restores_previous_disposition);
    suite_add_tcase(s, tc);

    tc = tcase_create("cycles");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, start_stop_cycles_under_load);
    suite_add_tcase(s, tc);
    return s;
}
