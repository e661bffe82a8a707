#define _GNU_SOURCE
#include "stress_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool st_full_mode;
static unsigned st_seed_value;
static int st_argc;
static char **st_argv;
static const char *st_name = "stress";

void st_init(const char *name, int argc, char **argv, unsigned limit_s_short,
             unsigned limit_s_full)
{
    st_name = name;
    st_argc = argc;
    st_argv = argv;
    const char *env = getenv("STRESS_FULL");
    st_full_mode = env != NULL && strcmp(env, "0") != 0 && env[0] != '\0';
    st_seed_value = (unsigned)time(NULL) ^ (unsigned)getpid();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--full") == 0)
            st_full_mode = true;
        else if (strcmp(argv[i], "--short") == 0)
            st_full_mode = false;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            st_seed_value = (unsigned)strtoul(argv[++i], NULL, 0);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned limit = st_full_mode ? limit_s_full : limit_s_short;
    printf("%s: %s mode, seed %u, time limit %u s\n", name, st_full_mode ? "full" : "short",
           st_seed_value, limit);
    alarm(limit);
}

bool st_full(void)
{
    return st_full_mode;
}

unsigned st_seed(void)
{
    return st_seed_value;
}

long st_arg_long(const char *name, long dflt)
{
    for (int i = 1; i + 1 < st_argc; i++)
        if (strncmp(st_argv[i], "--", 2) == 0 && strcmp(st_argv[i] + 2, name) == 0)
            return strtol(st_argv[i + 1], NULL, 0);
    return dflt;
}

void st_fail(const char *file, int line, const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("%s: FAIL %s:%d: %s: %s\n", st_name, file, line, what, msg);
    fflush(stdout);
    _exit(ST_EXIT_FAIL);
}

static bool st_listed(int rc, int n, const int *ok)
{
    for (int i = 0; i < n; i++)
        if (rc == ok[i])
            return true;
    return false;
}

int st_rc_in(const char *file, int line, const char *call, int rc, int n, const int *ok)
{
    if (!st_listed(rc, n, ok))
        st_fail(file, line, call, "returned %s (%d): %s", sampler_err_name(rc), rc,
                sampler_strerror(rc));
    return rc;
}

int st_count_or(const char *file, int line, const char *call, int rc, int n,
                const int *ok)
{
    if (rc < 0 && !st_listed(rc, n, ok))
        st_fail(file, line, call, "returned %s (%d): %s", sampler_err_name(rc), rc,
                sampler_strerror(rc));
    return rc;
}

/* ---- watchdog ---------------------------------------------------------------- */

static pthread_mutex_t st_wd_lock = PTHREAD_MUTEX_INITIALIZER;
static char st_wd_phase[160];
static uint64_t st_wd_deadline; /* 0: no phase */
static uint64_t st_wd_started;
static _Atomic double st_beat_limit_s; /* set by main, read by the watchdog */
static _Atomic uint64_t st_beat_at[ST_MAX_BEATS]; /* 0: not watched */
static const char *_Atomic st_beat_op[ST_MAX_BEATS];

static _Atomic pid_t st_wd_tid;

pid_t st_watchdog_tid(void)
{
    return atomic_load(&st_wd_tid);
}

static void *st_watchdog_main(void *arg)
{
    (void)arg;
    atomic_store(&st_wd_tid, tu_gettid());
    for (;;) {
        tu_nap_us(20000);
        uint64_t now = tu_now_ns();
        pthread_mutex_lock(&st_wd_lock);
        if (st_wd_deadline != 0 && now > st_wd_deadline) {
            printf("%s: HANG: phase \"%s\" still running after %.1f s\n", st_name,
                   st_wd_phase, (double)(now - st_wd_started) / 1e9);
            fflush(stdout);
            _exit(ST_EXIT_HANG);
        }
        pthread_mutex_unlock(&st_wd_lock);
        double beat_limit = atomic_load(&st_beat_limit_s);
        if (beat_limit > 0) {
            for (int i = 0; i < ST_MAX_BEATS; i++) {
                uint64_t at = atomic_load(&st_beat_at[i]);
                if (at != 0 && now > at && (double)(now - at) / 1e9 > beat_limit) {
                    const char *op = atomic_load(&st_beat_op[i]);
                    printf("%s: HANG: worker %d stuck in \"%s\" for %.1f s\n", st_name, i,
                           op ? op : "?", (double)(now - at) / 1e9);
                    fflush(stdout);
                    _exit(ST_EXIT_HANG);
                }
            }
        }
    }
    return NULL;
}

void st_watchdog_start(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, st_watchdog_main, NULL) != 0) {
        printf("%s: cannot start the watchdog thread\n", st_name);
        _exit(ST_EXIT_FAIL);
    }
    pthread_detach(th);
    while (atomic_load(&st_wd_tid) == 0)
        tu_nap_us(100);
}

void st_phase(double limit_s, const char *fmt, ...)
{
    pthread_mutex_lock(&st_wd_lock);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st_wd_phase, sizeof st_wd_phase, fmt, ap);
    va_end(ap);
    st_wd_started = tu_now_ns();
    st_wd_deadline = st_wd_started + (uint64_t)(limit_s * 1e9);
    pthread_mutex_unlock(&st_wd_lock);
}

void st_phase_end(void)
{
    pthread_mutex_lock(&st_wd_lock);
    st_wd_deadline = 0;
    pthread_mutex_unlock(&st_wd_lock);
}

void st_beats_watch(double limit_s)
{
    atomic_store(&st_beat_limit_s, limit_s);
}

void st_beat(int slot, const char *op)
{
    atomic_store(&st_beat_op[slot], op);
    atomic_store(&st_beat_at[slot], tu_now_ns());
}

void st_beat_done(int slot)
{
    atomic_store(&st_beat_at[slot], 0);
}

/* ---- utilities ------------------------------------------------------------------- */

uint32_t st_rand(uint32_t *state)
{
    uint32_t x = *state ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

sampler_stats st_stats(void)
{
    sampler_stats st;
    int rc = sampler_get_stats(&st, sizeof st);
    if (rc != 0)
        st_fail(__FILE__, __LINE__, "sampler_get_stats", "%s", sampler_err_name(rc));
    return st;
}

void st_check_stopped(int timer_baseline, const char *when)
{
    sampler_stats st = st_stats();
    ST_CHECK(sampler_state() == SAMPLER_STATE_STOPPED, "%s: state %d after stop", when,
             sampler_state());
    ST_CHECK(st.threads == 0, "%s: %llu threads registered after stop", when,
             (unsigned long long)st.threads);
    int timers = tu_count_timers();
    ST_CHECK(timers == timer_baseline, "%s: %d timers after stop, baseline %d", when, timers,
             timer_baseline);
    ST_CHECK(st.signals == st.samples + st.dropped,
             "%s: signals %llu != samples %llu + dropped %llu", when,
             (unsigned long long)st.signals, (unsigned long long)st.samples,
             (unsigned long long)st.dropped);
}
