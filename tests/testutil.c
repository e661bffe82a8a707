#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifdef SAMPLER_TEST_PPROF
#include <zlib.h>
#endif

void tu_set_sigprof(void (*handler)(int), void (*action)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (action != NULL) {
        sa.sa_sigaction = action;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
    } else {
        sa.sa_handler = handler;
        sa.sa_flags = SA_RESTART;
    }
    ck_assert_int_eq(sigaction(SIGPROF, &sa, NULL), 0);
}

void tu_config(sampler_config *cfg, uint64_t interval_ns)
{
    ck_assert_sampler(sampler_config_init(cfg, sizeof *cfg), 0);
    cfg->interval_ns = interval_ns;
}

void tu_start(uint64_t interval_ns)
{
    sampler_config cfg;
    tu_config(&cfg, interval_ns);
    ck_assert_sampler(sampler_start(&cfg), 0);
}

sampler_stats tu_stats(void)
{
    sampler_stats st;
    ck_assert_sampler(sampler_get_stats(&st, sizeof st), 0);
    return st;
}

static int tu_tally_cb(const sampler_sample *s, void *arg)
{
    tu_tally *t = arg;
    int i;
    for (i = 0; i < t->n; i++)
        if (t->tid[i] == s->tid)
            break;
    if (i == t->n && t->n < 64) {
        t->tid[i] = s->tid;
        t->n++;
    }
    if (i < 64) {
        t->weight[i] += s->weight;
        t->samples[i]++;
    }
    t->total_weight += s->weight;
    t->total_samples++;
    if (s->time_ns > t->max_time_ns)
        t->max_time_ns = s->time_ns;
    return 0;
}

void tu_drain_tally(tu_tally *t)
{
    ck_assert_sampler(tu_drain_all(tu_tally_cb, t), 0);
}

uint64_t tu_tally_weight(const tu_tally *t, pid_t tid)
{
    for (int i = 0; i < t->n; i++)
        if (t->tid[i] == tid)
            return t->weight[i];
    return 0;
}

static void *tu_watchdog_main(void *arg)
{
    tu_watchdog *w = arg;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)(w->seconds * 1e9);
    deadline.tv_sec += (time_t)(ns / 1000000000ULL);
    deadline.tv_nsec = (long)(ns % 1000000000ULL);
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (!w->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
    if (!w->done) {
        fprintf(stderr, "watchdog: %s did not finish within %.0f s (deadlock?)\n", w->what,
                w->seconds);
        abort();
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void tu_watchdog_start(tu_watchdog *w, double seconds, const char *what)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->lock, NULL);
    w->done = 0;
    w->seconds = seconds;
    w->what = what;
    ck_assert_int_eq(pthread_create(&w->th, NULL, tu_watchdog_main, w), 0);
}

void tu_watchdog_stop(tu_watchdog *w)
{
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

int tu_scaled(int n)
{
    const char *env = getenv("SAMPLER_TEST_SCALE");
    if (env == NULL || *env == '\0')
        return n;
    char *end;
    double f = strtod(env, &end);
    ck_assert_msg(*end == '\0' && f > 0, "SAMPLER_TEST_SCALE=%s: want a factor > 0", env);
    double v = (double)n * f + 0.5;
    return v < 1 ? 1 : v > 1e9 ? 1000000000 : (int)v;
}

double tu_timeout_factor(void)
{
    const char *env = getenv("CK_TIMEOUT_MULTIPLIER");
    if (env == NULL || *env == '\0')
        return 1;
    char *end;
    double f = strtod(env, &end);
    return *end == '\0' && f >= 1 ? f : 1;
}

static uint64_t tu_clock_read(clockid_t clk)
{
    struct timespec ts;
    ck_assert_int_eq(clock_gettime(clk, &ts), 0);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void tu_budget_start(tu_budget *b, clockid_t clk, uint64_t cpu_ns, double wall_s)
{
    b->clk = clk;
    b->cpu0 = tu_clock_read(clk);
    /* Both stretch like check's timeouts: under valgrind (CI sets 4 there
     * too) signals reach the threads late even per CPU second. */
    double f = tu_timeout_factor(), cpu = (double)cpu_ns * f;
    b->cpu_ns = cpu_ns == UINT64_MAX || cpu >= 1.8e19 ? UINT64_MAX : (uint64_t)cpu;
    b->wall0 = tu_now_ns();
    b->wall_ns = (uint64_t)(wall_s * f * 1e9);
}

uint64_t tu_budget_cpu_used(const tu_budget *b)
{
    return tu_clock_read(b->clk) - b->cpu0;
}

double tu_budget_wall_used(const tu_budget *b)
{
    return (double)(tu_now_ns() - b->wall0) / 1e9;
}

int tu_budget_spent(const tu_budget *b)
{
    return tu_budget_cpu_used(b) >= b->cpu_ns || tu_now_ns() - b->wall0 >= b->wall_ns;
}

clockid_t tu_thread_clock(pthread_t th)
{
    clockid_t clk;
    ck_assert_int_eq(pthread_getcpuclockid(th, &clk), 0);
    return clk;
}

void tu_rounds_init(tu_rounds *r, int max, int min, double budget_s)
{
    r->max = max;
    r->min = min < max ? min : max;
    r->done = 0;
    r->t0 = tu_now_ns();
    r->end = r->t0 + (uint64_t)(budget_s * 1e9);
}

int tu_rounds_next(tu_rounds *r)
{
    if (r->done >= r->max || (r->done >= r->min && tu_now_ns() >= r->end))
        return 0;
    r->done++;
    return 1;
}

double tu_rounds_secs(const tu_rounds *r)
{
    return (double)(tu_now_ns() - r->t0) / 1e9;
}

uint64_t tu_wait_stat_at(const char *file, int line, size_t offset, const char *name,
                         uint64_t n, clockid_t clk, uint64_t cpu_ns, double wall_s)
{
    tu_budget bu;
    tu_budget_start(&bu, clk, cpu_ns, wall_s);
    for (;;) {
        sampler_stats st = tu_stats();
        uint64_t got;
        memcpy(&got, (const char *)&st + offset, sizeof got);
        if (got >= n)
            return got;
        ck_assert_msg(!tu_budget_spent(&bu),
                      "%s:%d: stats.%s is %llu, want %llu, after %.0f ms of CPU (%.1f s)",
                      file, line, name, (unsigned long long)got, (unsigned long long)n,
                      (double)tu_budget_cpu_used(&bu) / 1e6, tu_budget_wall_used(&bu));
        if (clk == CLOCK_THREAD_CPUTIME_ID)
            tu_burn_cpu_ns(2000000);
        else
            tu_nap_us(1000);
    }
}

#ifdef SAMPLER_TEST_PPROF
uint8_t *tu_gunzip_file(const char *path, size_t *len)
{
    gzFile gz = gzopen(path, "rb");
    ck_assert_msg(gz != NULL, "gzopen %s failed", path);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    int r;
    while ((r = gzread(gz, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) {
            buf = realloc(buf, cap *= 2);
            ck_assert_ptr_nonnull(buf);
        }
    }
    ck_assert_msg(r == 0, "gzread %s failed", path);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    *len = n;
    return buf;
}
#endif
