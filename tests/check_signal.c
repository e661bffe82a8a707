/*
 * signal suite: signals that are not the sampler's own timer signals go to the
 * handler installed before sampler_start() and are counted as foreign, never
 * as samples; sampler_stop() restores that handler; a stray SIGPROF does not
 * kill a program whose SIGPROF was SIG_DFL. And RLIMIT_SIGPENDING: a thread
 * that cannot get a timer is refused with SAMPLER_ETIMERLIMIT while the
 * threads registered before keep being sampled.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SG_INTERVAL_NS 4000000ULL
#define SG_WAIT_LIMIT_NS 10000000000ULL

/* ---- the program's own SIGPROF handler ---------------------------------------- */

static atomic_int sg_count;       /* deliveries to our handler */
static atomic_int sg_last_code;   /* si_code of the last one (SA_SIGINFO handler) */
static atomic_intptr_t sg_last_value;

static void sg_info_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (sig != SIGPROF)
        return;
    atomic_store(&sg_last_code, si->si_code);
    atomic_store(&sg_last_value, (intptr_t)si->si_value.sival_ptr);
    atomic_fetch_add(&sg_count, 1);
}

static void sg_plain_handler(int sig)
{
    if (sig == SIGPROF)
        atomic_fetch_add(&sg_count, 1);
}

static int sg_get_count(void)
{
    return atomic_load(&sg_count);
}

static int sg_get_code(void)
{
    return atomic_load(&sg_last_code);
}

static uintptr_t sg_get_value(void)
{
    return (uintptr_t)atomic_load(&sg_last_value);
}

static struct sigaction sg_get_action(void)
{
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &sa), 0);
    return sa;
}

static void sg_nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Wait (bounded) until our handler has run `n` times in all. */
static void sg_wait_count(int n)
{
    uint64_t deadline = tu_now_ns() + SG_WAIT_LIMIT_NS;
    while (sg_get_count() < n) {
        ck_assert_msg(tu_now_ns() < deadline, "our handler ran %d times, expected %d",
                      sg_get_count(), n);
        sg_nap();
    }
}

/* Wait until the stats counter `field` reaches `n` (10 s of wall time at most). */
#define sg_wait(field, n)                                                                \
    tu_wait_stat(field, (n), CLOCK_PROCESS_CPUTIME_ID, UINT64_MAX, SG_WAIT_LIMIT_NS / 1e9)
#define sg_wait_foreign(n) sg_wait(foreign, n)
#define sg_wait_samples(n) sg_wait(samples, n)

/* ---- a burning worker, sampled while we send foreign signals elsewhere ---------- */

typedef struct sg_worker {
    pthread_t th;
    sem_t ready, go;
    atomic_int stop;
    bool self_register;
    int reg_rc;
    pid_t tid;
} sg_worker;

static void *sg_burner(void *p)
{
    sg_worker *w = p;
    w->tid = tu_gettid();
    if (w->self_register)
        w->reg_rc = sampler_thread_register(w);
    sem_post(&w->ready);
    sem_wait(&w->go);
    while (!atomic_load(&w->stop))
        tu_burn_cpu_ns(1000000);
    return NULL;
}

static void sg_spawn(sg_worker *w, bool self_register, bool go)
{
    memset(w, 0, sizeof *w);
    w->self_register = self_register;
    ck_assert_int_eq(sem_init(&w->ready, 0, 0), 0);
    ck_assert_int_eq(sem_init(&w->go, 0, 0), 0);
    ck_assert_int_eq(pthread_create(&w->th, NULL, sg_burner, w), 0);
    ck_assert_int_eq(sem_wait(&w->ready), 0);
    if (self_register)
        ck_assert_sampler(w->reg_rc, 0);
    if (go)
        sem_post(&w->go);
}

static void sg_join(sg_worker *w)
{
    atomic_store(&w->stop, 1);
    sem_post(&w->go);
    pthread_join(w->th, NULL);
    sem_destroy(&w->ready);
    sem_destroy(&w->go);
}

typedef struct sg_scan {
    pid_t tid;
    uint64_t n, weight, other_tid, after, n_after;
} sg_scan;

static int sg_scan_cb(const sampler_sample *s, void *arg)
{
    sg_scan *c = arg;
    c->n++;
    c->weight += s->weight;
    if (s->tid != c->tid)
        c->other_tid++;
    if (s->time_ns > c->after)
        c->n_after++;
    return 0;
}

static void sg_drain(sg_scan *c)
{
    ck_assert_sampler(tu_drain_all(sg_scan_cb, c), 0);
}

/* Foreign SIGPROFs (tgkill, sigqueue with a token-like value, kill) sent while
 * a thread is sampled reach our SA_SIGINFO handler one by one with their own
 * si_code and value, are counted in stats.foreign, and never become samples;
 * our handler never sees the sampler's timer signals; sampler_stop() puts our
 * handler back (sigaction shows it, and it gets the next SIGPROF directly). */
START_TEST(foreign_signals_reach_previous_handler)
{
    tu_set_sigprof(NULL, sg_info_handler);
    tu_start(SG_INTERVAL_NS);
    struct sigaction during = sg_get_action();
    ck_assert_msg(!((during.sa_flags & SA_SIGINFO) && during.sa_sigaction == sg_info_handler),
                  "sampler_start() did not install its own handler");

    sg_worker w;
    sg_spawn(&w, true, true);
    sg_wait_samples(3);
    ck_assert_msg(sg_get_count() == 0, "the sampler's own signals reached our handler");

    pid_t me = tu_gettid(); /* not registered */
    int sent = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tu_tgkill(me, SIGPROF), 0);
        sg_wait_count(++sent);
        ck_assert_int_eq(sg_get_code(), SI_TKILL);
    }
    /* A value that looks like a sampler token still is not a timer signal. */
    uintptr_t fake = ((uintptr_t)0xA5 << 56) | ((uintptr_t)1 << 24);
    union sigval v = {.sival_ptr = (void *)fake};
    ck_assert_int_eq(sigqueue(getpid(), SIGPROF, v), 0);
    sg_wait_count(++sent);
    ck_assert_int_eq(sg_get_code(), SI_QUEUE);
    ck_assert_msg(sg_get_value() == fake, "sigqueue value changed");
    ck_assert_int_eq(kill(getpid(), SIGPROF), 0);
    sg_wait_count(++sent);
    ck_assert_int_eq(sg_get_code(), SI_USER);

    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.foreign, (uint64_t)sent);
    sg_join(&w);
    ck_assert_sampler(sampler_stop(), 0);

    st = tu_stats();
    ck_assert_uint_eq(st.foreign, (uint64_t)sent);
    ck_assert_int_eq(sg_get_count(), sent);
    ck_assert_uint_eq(st.signals, st.samples + st.dropped);
    sg_scan c = {.tid = w.tid};
    sg_drain(&c);
    ck_assert_uint_gt(c.n, 0);
    ck_assert_uint_eq(c.n, st.samples);
    ck_assert_msg(c.other_tid == 0, "%llu samples of a thread that was not registered",
                  (unsigned long long)c.other_tid);

    struct sigaction after = sg_get_action();
    ck_assert_msg((after.sa_flags & SA_SIGINFO) && after.sa_sigaction == sg_info_handler,
                  "sampler_stop() did not restore our handler");
    ck_assert_int_eq(tu_tgkill(me, SIGPROF), 0);
    sg_wait_count(++sent);
    ck_assert_uint_eq(tu_stats().foreign, st.foreign);
}
END_TEST

/* A previous handler without SA_SIGINFO is called too, and restored. */
START_TEST(foreign_signals_reach_plain_handler)
{
    tu_set_sigprof(sg_plain_handler, NULL);
    tu_start(SG_INTERVAL_NS);
    pid_t me = tu_gettid(); /* not registered: no timer signal can merge with ours */
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(tu_tgkill(me, SIGPROF), 0);
        sg_wait_count(i);
    }
    ck_assert_uint_eq(tu_stats().foreign, 3);
    ck_assert_sampler(sampler_stop(), 0);
    struct sigaction after = sg_get_action();
    ck_assert_msg(!(after.sa_flags & SA_SIGINFO) && after.sa_handler == sg_plain_handler,
                  "sampler_stop() did not restore the plain handler");
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.foreign, 3);
    ck_assert_uint_eq(st.signals, st.samples + st.dropped);
}
END_TEST

/* Timer signals that are not the sampler's (a setitimer(ITIMER_PROF) timer and
 * the program's own POSIX timer on SIGPROF, both SI_TIMER-like) go to our
 * handler, every one of them, while the sampler's own keep making samples. */
START_TEST(foreign_timers_pass_through)
{
    tu_set_sigprof(NULL, sg_info_handler);
    tu_start(SG_INTERVAL_NS);
    sg_worker w;
    sg_spawn(&w, true, true);

    /* setitimer: process CPU time, 5 ms */
    struct itimerval it = {{0, 5000}, {0, 5000}};
    ck_assert_int_eq(setitimer(ITIMER_PROF, &it, NULL), 0);
    sg_wait_count(10);
    struct itimerval off;
    memset(&off, 0, sizeof off);
    ck_assert_int_eq(setitimer(ITIMER_PROF, &off, NULL), 0);

    /* the program's own POSIX timer: SI_TIMER with a value that is not a token */
    static int cookie;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_ptr = &cookie;
    timer_t t;
    ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, &sev, &t), 0);
    struct itimerspec its = {{0, 5000000}, {0, 5000000}};
    ck_assert_int_eq(timer_settime(t, 0, &its, NULL), 0);
    int before = sg_get_count();
    sg_wait_count(before + 5);
    ck_assert_int_eq(timer_delete(t), 0);
    ck_assert_int_eq(sg_get_code(), SI_TIMER);
    ck_assert_ptr_eq((void *)sg_get_value(), &cookie);

    /* Let anything still pending arrive, then compare both counts. */
    for (int i = 0; i < 20; i++)
        sg_nap();
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.foreign, (uint64_t)sg_get_count());
    ck_assert_uint_gt(st.samples, 0);
    sg_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
    st = tu_stats();
    ck_assert_uint_eq(st.signals, st.samples + st.dropped);
    sg_scan c = {.tid = w.tid};
    sg_drain(&c);
    ck_assert_uint_eq(c.other_tid, 0);
}
END_TEST

/* With SIGPROF at SIG_DFL (loop 0) or SIG_IGN (loop 1) before start, stray
 * SIGPROFs during sampling neither kill the process nor become samples: they
 * are counted as foreign; sampler_stop() restores the old disposition. */
START_TEST(stray_sigprof_with_default_disposition_is_harmless)
{
    void (*old)(int) = _i == 0 ? SIG_DFL : SIG_IGN;
    tu_set_sigprof(old, NULL);
    tu_start(SG_INTERVAL_NS);
    sg_worker w;
    sg_spawn(&w, true, true);
    sg_wait_samples(2);

    pid_t me = tu_gettid();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tu_tgkill(me, SIGPROF), 0);
    ck_assert_int_eq(kill(getpid(), SIGPROF), 0);
    sg_wait_foreign(4); /* we are still alive */
    uint64_t s0 = tu_stats().samples;
    sg_wait_samples(s0 + 2); /* and the sampler still samples */

    sg_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.foreign, 4);
    ck_assert_uint_eq(st.signals, st.samples + st.dropped);
    sg_scan c = {.tid = w.tid};
    sg_drain(&c);
    ck_assert_uint_eq(c.other_tid, 0);
    struct sigaction after = sg_get_action();
    ck_assert_msg(!(after.sa_flags & SA_SIGINFO) && after.sa_handler == old,
                  "sampler_stop() did not restore %s", _i == 0 ? "SIG_DFL" : "SIG_IGN");
}
END_TEST

/* ---- RLIMIT_SIGPENDING ------------------------------------------------------------ */

/* Queued signals and POSIX timers the user has now ("SigQ: cur/max"). */
static long sg_sigq_current(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    long cur = -1, max = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "SigQ: %ld/%ld", &cur, &max) == 2)
            break;
    fclose(f);
    ck_assert_int_ge(cur, 0);
    return cur;
}

/* Lower RLIMIT_SIGPENDING to what the user already has plus `room`. It counts
 * every process of the user, so read the current use just before. */
static struct rlimit sg_saved_limit;
static bool sg_limit_saved;

static void sg_limit_room(long room)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_SIGPENDING, &rl), 0);
    if (!sg_limit_saved) {
        sg_saved_limit = rl;
        sg_limit_saved = true;
    }
    rlim_t lim = (rlim_t)(sg_sigq_current() + room);
    ck_assert_msg(rl.rlim_max == RLIM_INFINITY || lim <= rl.rlim_max,
                  "hard RLIMIT_SIGPENDING %llu is below the current use",
                  (unsigned long long)rl.rlim_max);
    rl.rlim_cur = lim; /* the soft limit is the one the kernel checks */
    ck_assert_msg(setrlimit(RLIMIT_SIGPENDING, &rl) == 0, "setrlimit: %s", strerror(errno));
}

/* Put the limit back before the test ends: check itself calls timer_create()
 * in the test process after the test function returns (to pick the clock it
 * reports the test's duration with). */
static void sg_limit_restore(void)
{
    if (sg_limit_saved)
        ck_assert_int_eq(setrlimit(RLIMIT_SIGPENDING, &sg_saved_limit), 0);
}

#define SG_IDLE 8

/* With RLIMIT_SIGPENDING at the user's current use, registering one more thread
 * fails with SAMPLER_ETIMERLIMIT (its message names RLIMIT_SIGPENDING) and is
 * counted in stats.timer_failures; the thread registered before keeps being
 * sampled after the failure; once the limit is raised the same thread can be
 * registered. (Other processes of the user may create or delete timers
 * meanwhile, so each attempt sets the limit afresh.) */
START_TEST(timer_limit_refuses_thread_others_keep_sampling)
{
    tu_start(SG_INTERVAL_NS);
    sg_worker burner;
    sg_spawn(&burner, false, false); /* registered by tid, waits to burn */
    sg_worker idle[SG_IDLE];
    for (int i = 0; i < SG_IDLE; i++)
        sg_spawn(&idle[i], false, false);

    uint64_t failures = 0;
    int rc = SAMPLER_ETIMERLIMIT;
    for (int tries = 0; tries < 10 && rc == SAMPLER_ETIMERLIMIT; tries++) {
        sg_limit_room(1); /* room for exactly the burner's timer */
        rc = sampler_thread_register_tid(burner.tid, &burner);
        failures += rc == SAMPLER_ETIMERLIMIT;
    }
    ck_assert_sampler(rc, 0);

    int refused = -1;
    int registered = 1;
    for (int i = 0; i < SG_IDLE; i++) {
        sg_limit_room(0); /* no room */
        rc = sampler_thread_register_tid(idle[i].tid, &idle[i]);
        if (rc == SAMPLER_ETIMERLIMIT) {
            failures++;
            refused = i;
            break;
        }
        ck_assert_sampler(rc, 0); /* someone else freed a timer meanwhile */
        registered++;
    }
    ck_assert_msg(refused >= 0, "RLIMIT_SIGPENDING at current use never refused a timer");
    ck_assert_ptr_nonnull(strstr(sampler_strerror(rc), "RLIMIT_SIGPENDING"));
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.timer_failures, failures);
    ck_assert_uint_eq(st.threads, (uint64_t)registered);

    /* The burner, registered before the failure, is sampled after it. */
    uint64_t t_fail = tu_now_ns();
    sem_post(&burner.go); /* burns until joined */
    sg_wait_samples(10);

    /* The failure is not sticky. */
    sg_limit_room(16);
    ck_assert_sampler(sampler_thread_register_tid(idle[refused].tid, &idle[refused]), 0);
    ck_assert_uint_eq(tu_stats().timer_failures, failures);

    sg_join(&burner);
    for (int i = 0; i < SG_IDLE; i++)
        sg_join(&idle[i]);
    ck_assert_sampler(sampler_stop(), 0);
    sg_scan c = {.tid = burner.tid, .after = t_fail};
    sg_drain(&c);
    ck_assert_msg(c.n_after >= 10, "only %llu samples after the refused registration",
                  (unsigned long long)c.n_after);
    ck_assert_uint_eq(c.other_tid, 0); /* the idle threads burnt nothing */
    sg_limit_restore();
}
END_TEST

/* sampler_register_all_threads() under the limit: returns SAMPLER_ETIMERLIMIT,
 * counts the failure, and keeps the threads it registered before it. */
START_TEST(timer_limit_in_register_all)
{
    tu_start(SG_INTERVAL_NS);
    sg_worker idle[4];
    for (int i = 0; i < 4; i++)
        sg_spawn(&idle[i], false, false);
    sg_limit_room(2); /* 5 threads in the process, room for 2 timers */
    int rc = sampler_register_all_threads();
    ck_assert_sampler(rc, SAMPLER_ETIMERLIMIT);
    sampler_stats st = tu_stats();
    ck_assert_uint_eq(st.timer_failures, 1);
    ck_assert_msg(st.threads >= 1 && st.threads < 5, "%llu threads registered",
                  (unsigned long long)st.threads);
    for (int i = 0; i < 4; i++)
        sg_join(&idle[i]);
    ck_assert_sampler(sampler_stop(), 0);
    sg_limit_restore();
}
END_TEST

Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("foreign");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, foreign_signals_reach_previous_handler);
    tcase_add_test(tc, foreign_signals_reach_plain_handler);
    tcase_add_test(tc, foreign_timers_pass_through);
    tcase_add_loop_test(tc, stray_sigprof_with_default_disposition_is_harmless, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("rlimit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, timer_limit_refuses_thread_others_keep_sampling);
    tcase_add_test(tc, timer_limit_in_register_all);
    suite_add_tcase(s, tc);
    return s;
}
