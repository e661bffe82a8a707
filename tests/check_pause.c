/*
 * pause suite: sampler_pause() stops samples at once, the timers of paused
 * threads go quiet (each fires at most once and disarms itself), and
 * sampler_resume() brings samples back without a backlog.
 *
 * Worker threads burn CPU until told to stop; the main thread watches their
 * CPU clocks (pthread_getcpuclockid) and waits, with a generous wall-clock
 * limit, until they have burnt a given amount. Nothing asserts wall-clock speed.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define PZ_INTERVAL_NS 4000000ULL       /* 4 ms: the tick, no overruns to speak of */
#define PZ_WAIT_LIMIT_NS 30000000000ULL /* give up waiting after 30 s of wall time */

typedef struct pz_worker {
    pthread_t th;
    sem_t ready;
    atomic_int stop;
    int reg_rc;
    pid_t tid;
    clockid_t cpu_clock;
    uint64_t final_cpu; /* its CPU time when it stopped burning */
} pz_worker;

static void *pz_burner(void *p)
{
    pz_worker *w = p;
    w->tid = tu_gettid();
    w->reg_rc = sampler_thread_register(w);
    sem_post(&w->ready);
    while (!atomic_load(&w->stop))
        tu_burn_cpu_ns(1000000);
    w->final_cpu = tu_thread_cpu_ns();
    return NULL;
}

/* Start a worker that registers itself and burns CPU until pz_join(). */
static void pz_spawn(pz_worker *w)
{
    memset(w, 0, sizeof *w);
    ck_assert_int_eq(sem_init(&w->ready, 0, 0), 0);
    ck_assert_int_eq(pthread_create(&w->th, NULL, pz_burner, w), 0);
    ck_assert_int_eq(sem_wait(&w->ready), 0);
    ck_assert_int_eq(pthread_getcpuclockid(w->th, &w->cpu_clock), 0);
    ck_assert_sampler(w->reg_rc, 0);
}

static void pz_join(pz_worker *w)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    sem_destroy(&w->ready);
}

static uint64_t pz_cpu(const pz_worker *w)
{
    struct timespec ts;
    ck_assert_int_eq(clock_gettime(w->cpu_clock, &ts), 0);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void pz_nap(void)
{
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

/* Wait until every worker in w[0..n) has burnt another `ns` of CPU. */
static void pz_wait_cpu(pz_worker *w, int n, uint64_t ns)
{
    uint64_t target[8];
    ck_assert_int_le(n, 8);
    for (int i = 0; i < n; i++)
        target[i] = pz_cpu(&w[i]) + ns;
    uint64_t deadline = tu_now_ns() + PZ_WAIT_LIMIT_NS;
    for (int i = 0; i < n; i++) {
        while (pz_cpu(&w[i]) < target[i]) {
            ck_assert_msg(tu_now_ns() < deadline, "worker %d got too little CPU in 30 s", i);
            pz_nap();
        }
    }
}

/* Wait until the stats counter `field` reaches `n` (30 s of wall time at most). */
#define pz_wait(field, n)                                                                \
    tu_wait_stat(field, (n), CLOCK_PROCESS_CPUTIME_ID, UINT64_MAX, PZ_WAIT_LIMIT_NS / 1e9)
/* Wait until the sampler has stored at least `n` samples in all. */
#define pz_wait_samples(n) pz_wait(samples, n)

/* Drain everything; count samples of `tid` and those stamped after `after`
 * (or before `before`). */
typedef struct pz_scan {
    pid_t tid;
    uint64_t after, before;
    uint64_t n, weight, tid_n, tid_weight, n_after, n_before, newest;
} pz_scan;

static int pz_scan_cb(const sampler_sample *s, void *arg)
{
    pz_scan *c = arg;
    c->n++;
    c->weight += s->weight;
    if (s->tid == c->tid) {
        c->tid_n++;
        c->tid_weight += s->weight;
    }
    if (c->after != 0 && s->time_ns > c->after)
        c->n_after++;
    if (c->before != 0 && s->time_ns < c->before)
        c->n_before++;
    if (s->time_ns > c->newest)
        c->newest = s->time_ns;
    return 0;
}

static void pz_drain(pz_scan *c)
{
    ck_assert_sampler(tu_drain_all(pz_scan_cb, c), 0);
}

/* Wait until stats.paused reaches `n`. */
#define pz_wait_paused(n) pz_wait(paused, n)

/* After sampler_pause() returns, no stored sample is stamped later, though two
 * registered threads keep burning CPU; each thread's timer fires while paused
 * (counted in stats.paused), disarms itself and stays quiet: another 200 ms of
 * CPU per thread adds no sample and (nearly) no paused signal. */
START_TEST(pause_stops_samples_and_quiets_timers)
{
    pz_worker w[2];
    tu_start(PZ_INTERVAL_NS);
    pz_spawn(&w[0]);
    pz_spawn(&w[1]);
    pz_wait_samples(6); /* sampling is live */

    ck_assert_sampler(sampler_pause(), 0);
    uint64_t t0 = tu_now_ns();
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_PAUSED);

    pz_wait_cpu(w, 2, 200000000ULL); /* 50 intervals each */
    pz_wait_paused(2);               /* both timers have fired while paused */
    sampler_stats st1 = tu_stats();
    pz_scan c = {.after = t0};
    pz_drain(&c);
    ck_assert_msg(c.n > 0, "no samples from before the pause");
    ck_assert_msg(c.n_after == 0, "%llu samples stamped after sampler_pause() returned",
                  (unsigned long long)c.n_after);

    pz_wait_cpu(w, 2, 200000000ULL);
    sampler_stats st2 = tu_stats();
    /* One paused signal per thread, two at most (one may have been pending). */
    ck_assert_msg(st2.paused <= 4, "paused = %llu for 2 threads: timers still run",
                  (unsigned long long)st2.paused);
    ck_assert_msg(st2.paused <= st1.paused + 2, "paused grew from %llu to %llu: timers still run",
                  (unsigned long long)st1.paused, (unsigned long long)st2.paused);
    ck_assert_uint_eq(st2.samples, st1.samples);
    ck_assert_uint_eq(st2.signals, st1.signals);
    pz_scan c2 = {0};
    pz_drain(&c2);
    ck_assert_uint_eq(c2.n, 0);

    pz_join(&w[0]);
    pz_join(&w[1]);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* After sampler_resume() samples come again, and they are no backlog of the
 * 400 ms burnt while paused: the weight stored between resume and the next
 * pause is at most the CPU burnt in between / interval (+2). (The kernel may
 * report expirations late, never early, so only the upper bound is tight.) */
START_TEST(resume_brings_samples_back_without_backlog)
{
    pz_worker w;
    tu_start(PZ_INTERVAL_NS);
    pz_spawn(&w);
    pz_wait_samples(3);

    ck_assert_sampler(sampler_pause(), 0);
    pz_wait_cpu(&w, 1, 400000000ULL); /* 100 intervals while paused */
    pz_wait_paused(1);
    pz_scan before = {0};
    pz_drain(&before);
    uint64_t s0 = tu_stats().samples;

    uint64_t c0 = pz_cpu(&w);
    uint64_t tr = tu_now_ns();
    ck_assert_sampler(sampler_resume(), 0);
    ck_assert_int_eq(sampler_state(), SAMPLER_STATE_RUNNING);
    pz_wait_samples(s0 + 1);          /* samples come again */
    pz_wait_cpu(&w, 1, 100000000ULL); /* and 25 intervals more */
    ck_assert_sampler(sampler_pause(), 0);
    uint64_t c1 = pz_cpu(&w);

    pz_scan after = {.tid = w.tid, .before = tr};
    pz_drain(&after);
    uint64_t intervals = (c1 - c0) / PZ_INTERVAL_NS;
    ck_assert_msg(after.n_before == 0, "%llu samples stamped while paused were stored",
                  (unsigned long long)after.n_before);
    ck_assert_uint_ge(after.tid_n, 1);
    ck_assert_msg(after.tid_weight <= intervals + 2,
                  "weight %llu after resume for %llu intervals of CPU: a backlog",
                  (unsigned long long)after.tid_weight, (unsigned long long)intervals);

    pz_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

/* A thread registered while paused gets a disarmed timer: 200 ms of its CPU
 * bring no sample and no paused signal. After resume it is sampled, and only
 * for the CPU it burns after the resume. */
START_TEST(thread_registered_while_paused_waits_for_resume)
{
    pz_worker w;
    tu_start(PZ_INTERVAL_NS);
    ck_assert_sampler(sampler_pause(), 0);
    pz_spawn(&w); /* registers itself while paused */
    ck_assert_uint_eq(tu_stats().threads, 1);

    pz_wait_cpu(&w, 1, 200000000ULL);
    sampler_stats st = tu_stats();
    ck_assert_msg(st.paused == 0, "its timer fired %llu times while paused: it was armed",
                  (unsigned long long)st.paused);
    ck_assert_uint_eq(st.samples, 0);
    ck_assert_uint_eq(st.signals, 0);

    uint64_t c0 = pz_cpu(&w);
    ck_assert_sampler(sampler_resume(), 0);
    pz_wait_samples(1);
    pz_wait_cpu(&w, 1, 100000000ULL);
    pz_join(&w);
    uint64_t c1 = w.final_cpu;
    ck_assert_sampler(sampler_stop(), 0);
    pz_scan c = {.tid = w.tid};
    pz_drain(&c);
    uint64_t intervals = (c1 - c0) / PZ_INTERVAL_NS;
    ck_assert_uint_ge(c.tid_n, 1);
    ck_assert_msg(c.tid_weight <= intervals + 2,
                  "weight %llu for %llu intervals of CPU after resume: the paused CPU counted",
                  (unsigned long long)c.tid_weight, (unsigned long long)intervals);
}
END_TEST

Suite *pause_suite(void)
{
    Suite *s = suite_create("pause");
    TCase *tc = tcase_create("pause");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, pause_stops_samples_and_quiets_timers);
    tcase_add_test(tc, resume_brings_samples_back_without_backlog);
    tcase_add_test(tc, thread_registered_while_paused_waits_for_resume);
    suite_add_tcase(s, tc);
    return s;
}
