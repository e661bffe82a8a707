/*
 * libsampler-preload.so: profile an unmodified, dynamically linked program.
 *
 * Loaded with LD_PRELOAD (sampler-run sets it up). In its constructor it
 * reads the SAMPLER_RUN_* environment (run/sampler_run.h), starts the
 * sampler, makes every new thread register itself (pthread_create is
 * interposed: the new thread runs a trampoline that calls
 * sampler_thread_register() before the program's start routine), then
 * registers the threads that already exist, and starts a collector thread
 * that drains samples into a profile. At exit (a destructor, which runs after
 * the program's atexit handlers) it stops the sampler, writes the profile and
 * prints one summary line to stderr.
 *
 * A bad SAMPLER_RUN_* value, or a sampler that cannot start, is reported on
 * stderr and the program runs unprofiled: the module never makes the program
 * fail.
 *
 * _exit() and _Exit() are interposed too (dash, for one, ends with _exit()):
 * called by the profiled process itself they write the profile first. Not in
 * a vfork or fork child that is not profiled (its pid differs). Caveat: a
 * program that calls _exit() from a signal handler that interrupted malloc()
 * or stdio could hang there, as writing a file is not async-signal-safe.
 *
 * Not covered: a process killed by a signal (SIGKILL, SIGSEGV, an unhandled
 * SIGINT or SIGTERM) or that replaces itself with execve() writes no profile.
 */
#include <config.h>

#include "sampler_run.h"

#include <sampler.h>
#include <sampler/profile.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PFX "sampler-run: "
#define EXPORT __attribute__((visibility("default")))

/* Drain every 20 ms into the profile: the default buffer (16384 samples)
 * then holds one period for ~800 threads sampled at 1 kHz. */
#define COLLECT_PERIOD_MS 20

typedef void (*exit_fn)(int);
typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                                 void *);

static struct {
    atomic_int active;   /* this process is being profiled: hook new threads */
    atomic_int finished; /* the profile was written (or given up) */
    atomic_int naming;   /* threads naming themselves in the profile now */
    pid_t pid;           /* the process that owns the profile */
    int follow_fork;
    int quiet;
    int collector; /* the collector thread runs */
    int err_fd; /* stderr as it was at start: programs such as xz close theirs */
    const sampler_profile_format *format;
    char base[PATH_MAX];      /* output file as configured (absolute) */
    char path[PATH_MAX + 24]; /* output file of this process */
    sampler_config cfg;
    sampler_profile *prof;
} g;

static _Atomic(pthread_create_fn) real_pthread_create;
static exit_fn real__exit, real__Exit;
/* Set around the creation of our own collector thread: it is not sampled. */
static __thread int tl_bypass;

static pthread_create_fn sampler_run_real_create(void)
{
    pthread_create_fn fn = atomic_load(&real_pthread_create);
    if (fn == NULL) {
        fn = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real_pthread_create, fn);
    }
    return fn;
}

/* ------------------------------------------------------------------------ */
/* Thread hook */

struct sampler_run_tramp {
    void *(*fn)(void *);
    void *arg;
};

/* As a thread ends (return or pthread_exit): its name, while it can still be
 * read, for samples drained after it is gone. */
static void sampler_run_thread_ends(void *unused)
{
    (void)unused;
    char name[17] = "";
    atomic_fetch_add(&g.naming, 1); /* the profile is not freed meanwhile */
    if (atomic_load(&g.active) && g.prof != NULL && prctl(PR_GET_NAME, name) == 0)
        sampler_profile_set_thread_name(g.prof, (pid_t)syscall(SYS_gettid), name);
    atomic_fetch_sub(&g.naming, 1);
}

static void *sampler_run_trampoline(void *p)
{
    struct sampler_run_tramp t = *(struct sampler_run_tramp *)p;
    free(p);
    if (atomic_load(&g.active) && sampler_thread_register(NULL) == 0) {
        /* Programs such as xz (liblzma) create their workers with every
         * signal blocked, so that signals go to the main thread. The
         * sampler's signal must get through to be sampled; the worker's
         * other signals stay blocked. */
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, g.cfg.signo);
        pthread_sigmask(SIG_UNBLOCK, &ours, NULL);
    }
    void *ret;
    pthread_cleanup_push(sampler_run_thread_ends, NULL);
    ret = t.fn(t.arg);
    pthread_cleanup_pop(1);
    return ret;
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start_routine)(void *), void *arg)
{
    pthread_create_fn real = sampler_run_real_create();
    if (real == NULL)
        return EAGAIN;
    if (tl_bypass || !atomic_load(&g.active))
        return real(thread, attr, start_routine, arg);
    struct sampler_run_tramp *t = malloc(sizeof *t);
    if (t == NULL)
        return real(thread, attr, start_routine, arg);
    t->fn = start_routine;
    t->arg = arg;
    int err = real(thread, attr, sampler_run_trampoline, t);
    if (err != 0)
        free(t);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Environment */

static int sampler_run_env_flag(const char *name, int *out)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0' || strcmp(v, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (strcmp(v, "1") == 0) {
        *out = 1;
        return 0;
    }
    fprintf(stderr, PFX "%s='%s' must be 0 or 1; running unprofiled\n", name, v);
    return -1;
}

/* Remove this module from LD_PRELOAD, so that programs the profiled process
 * runs are not profiled (unless SAMPLER_RUN_FOLLOW_FORK=1). */
static void sampler_run_drop_preload(void)
{
    const char *v = getenv("LD_PRELOAD");
    if (v == NULL)
        return;
    Dl_info info;
    const char *self = NULL;
    if (dladdr((void *)sampler_run_drop_preload, &info) != 0)
        self = info.dli_fname;
    size_t n = strlen(v);
    char *copy = strdup(v), *out = malloc(n + 1);
    if (copy == NULL || out == NULL) {
        free(copy);
        free(out);
        return;
    }
    out[0] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(copy, " :", &save); tok != NULL; tok = strtok_r(NULL, " :", &save)) {
        const char *slash = strrchr(tok, '/');
        const char *base = slash ? slash + 1 : tok;
        if ((self != NULL && strcmp(tok, self) == 0) || strcmp(base, SAMPLER_RUN_MODULE) == 0)
            continue;
        if (out[0] != '\0')
            strcat(out, ":");
        strcat(out, tok);
    }
    if (out[0] == '\0')
        unsetenv("LD_PRELOAD");
    else
        setenv("LD_PRELOAD", out, 1);
    free(copy);
    free(out);
}

/* Read SAMPLER_RUN_*; 0 on success, -1 (message printed) on a bad value. */
static int sampler_run_read_env(void)
{
    sampler_config_init(&g.cfg, sizeof g.cfg);

    const char *v = getenv(SAMPLER_RUN_ENV_INTERVAL);
    if (v != NULL && *v != '\0') {
        char *end;
        errno = 0;
        unsigned long long ns = strtoull(v, &end, 10);
        if (errno != 0 || *end != '\0' || v[0] == '-' || ns < SAMPLER_INTERVAL_MIN_NS ||
            ns > SAMPLER_INTERVAL_MAX_NS) {
            fprintf(stderr,
                    PFX "%s='%s' is not a number of nanoseconds in [%llu, %llu]; running "
                        "unprofiled\n",
                    SAMPLER_RUN_ENV_INTERVAL, v, (unsigned long long)SAMPLER_INTERVAL_MIN_NS,
                    (unsigned long long)SAMPLER_INTERVAL_MAX_NS);
            return -1;
        }
        g.cfg.interval_ns = ns;
    }

    v = getenv(SAMPLER_RUN_ENV_BUFFER);
    if (v != NULL && *v != '\0') {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno != 0 || *end != '\0' || v[0] == '-' || n < 1 || n > SAMPLER_BUFFER_MAX) {
            fprintf(stderr,
                    PFX "%s='%s' is not a number of samples in [1, %u]; running unprofiled\n",
                    SAMPLER_RUN_ENV_BUFFER, v, (unsigned)SAMPLER_BUFFER_MAX);
            return -1;
        }
        g.cfg.buffer_capacity = (size_t)n;
    }

    v = getenv(SAMPLER_RUN_ENV_CLOCK);
    if (v == NULL || *v == '\0' || strcmp(v, "cpu") == 0)
        g.cfg.clock = SAMPLER_CLOCK_CPU;
    else if (strcmp(v, "wall") == 0)
        g.cfg.clock = SAMPLER_CLOCK_WALL;
    else {
        fprintf(stderr, PFX "%s='%s' must be cpu or wall; running unprofiled\n",
                SAMPLER_RUN_ENV_CLOCK, v);
        return -1;
    }

    v = getenv(SAMPLER_RUN_ENV_SIGNAL);
    if (v != NULL && *v != '\0') {
        int signo = sampler_run_parse_signal(v);
        if (signo < 0) {
            fprintf(stderr,
                    PFX "%s='%s' must be PROF, VTALRM, ALRM, USR1, USR2 or RTMIN+N; running "
                        "unprofiled\n",
                    SAMPLER_RUN_ENV_SIGNAL, v);
            return -1;
        }
        g.cfg.signo = signo;
    }

    v = getenv(SAMPLER_RUN_ENV_WALKER);
#ifdef SAMPLER_RUN_HAVE_UNWIND_API
    if ((v == NULL || *v == '\0') && sampler_walk_libunwind_available())
        v = "libunwind"; /* the module alone: the CLI's default */
#endif
    if (v == NULL || *v == '\0' || strcmp(v, "fp") == 0)
        g.cfg.walker = sampler_walk_fp;
    else if (strcmp(v, "libunwind") == 0) {
#ifdef SAMPLER_RUN_HAVE_UNWIND_API
        if (!sampler_walk_libunwind_available()) {
            fprintf(stderr,
                    PFX "%s=libunwind: libsampler was built without libunwind "
                        "(install libunwind-dev and reconfigure); running unprofiled\n",
                    SAMPLER_RUN_ENV_WALKER);
            return -1;
        }
        g.cfg.walker = sampler_walk_libunwind;
#else
        fprintf(stderr,
                PFX "%s=libunwind: this libsampler has no libunwind walker; running "
                    "unprofiled\n",
                SAMPLER_RUN_ENV_WALKER);
        return -1;
#endif
    } else {
        fprintf(stderr, PFX "%s='%s' must be fp or libunwind; running unprofiled\n",
                SAMPLER_RUN_ENV_WALKER, v);
        return -1;
    }

    v = getenv(SAMPLER_RUN_ENV_FORMAT);
    g.format = sampler_profile_format_find(v == NULL || *v == '\0'
                                               ? SAMPLER_PROFILE_DEFAULT_FORMAT
                                               : v);
    if (g.format == NULL) {
        fprintf(stderr, PFX "%s='%s' must be a format name (", SAMPLER_RUN_ENV_FORMAT, v);
        for (size_t i = 0; sampler_profile_format_at(i) != NULL; i++)
            fprintf(stderr, "%s%s", i ? ", " : "", sampler_profile_format_at(i)->name);
        fprintf(stderr, "); running unprofiled\n");
        return -1;
    }
    if (!g.format->available) {
        fprintf(stderr,
                PFX "%s=%s: this libsampler cannot write it (built without what it needs); "
                    "running unprofiled\n",
                SAMPLER_RUN_ENV_FORMAT, v);
        return -1;
    }
    const char *ext = g.format->extension;

    if (sampler_run_env_flag(SAMPLER_RUN_ENV_QUIET, &g.quiet) < 0)
        return -1;

    v = getenv(SAMPLER_RUN_ENV_OUTPUT);
    char name[PATH_MAX];
    if (v == NULL || *v == '\0')
        snprintf(name, sizeof name, "sampler%s", ext);
    else if (strlen(v) >= sizeof name) {
        fprintf(stderr, PFX "%s is too long; running unprofiled\n", SAMPLER_RUN_ENV_OUTPUT);
        return -1;
    } else
        strcpy(name, v);
    if (name[0] == '/')
        strcpy(g.base, name);
    else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL ||
            (size_t)snprintf(g.base, sizeof g.base, "%s/%s", cwd, name) >= sizeof g.base) {
            fprintf(stderr, PFX "cannot make '%s' an absolute path; running unprofiled\n",
                    name);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Start and finish */

/* Start profiling this process (also in a fork child); 0 or -1 (reported). */
static int sampler_run_start(void)
{
    g.pid = getpid();
    if (g.follow_fork)
        snprintf(g.path, sizeof g.path, "%s.%ld", g.base, (long)g.pid);
    else
        snprintf(g.path, sizeof g.path, "%s", g.base);

    /* Fail now, not after the run, when the file cannot be written. */
    int fd = open(g.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, PFX "cannot write '%s': %s; running unprofiled\n", g.path,
                strerror(errno));
        return -1;
    }
    close(fd);

    int rc = sampler_start(&g.cfg);
    if (rc < 0) {
        fprintf(stderr, PFX "cannot start the sampler: %s; running unprofiled\n",
                sampler_strerror(rc));
        return -1;
    }
    sampler_profile_options opt;
    sampler_profile_options_init(&opt, sizeof opt);
    opt.interval_ns = g.cfg.interval_ns;
    rc = sampler_profile_new(&g.prof, &opt);
    if (rc < 0) {
        fprintf(stderr, PFX "cannot make a profile: %s; running unprofiled\n",
                sampler_strerror(rc));
        sampler_stop();
        return -1;
    }
    atomic_store(&g.finished, 0);
    /* Hook new threads first, then enumerate the existing ones: none slips
     * through (a thread both hooked and enumerated is registered once). */
    atomic_store(&g.active, 1);
    /* This thread (main, or the forking thread in a child) registers itself:
     * the libunwind walker prepares a self-registered thread outside the
     * handler. */
    (void)sampler_thread_register(NULL);
    rc = sampler_register_all_threads();
    if (rc < 0)
        fprintf(stderr, PFX "registering threads: %s (profiling goes on)\n",
                sampler_strerror(rc));
    /* The collector thread blocks every signal and is created after the
     * enumeration and around the hook: it is never sampled. */
    tl_bypass = 1;
    rc = sampler_profile_collector_start(g.prof, COLLECT_PERIOD_MS);
    tl_bypass = 0;
    g.collector = rc == 0;
    if (rc < 0)
        fprintf(stderr, PFX "no collector thread (%s): samples beyond the buffer are lost\n",
                sampler_strerror(rc));
    return 0;
}

static void sampler_run_finish(void)
{
    if (!atomic_load(&g.active) || getpid() != g.pid)
        return;
    if (atomic_exchange(&g.finished, 1))
        return;
    atomic_store(&g.active, 0);
    sampler_stop();
    sampler_profile_collector_stop(g.prof); /* joins and drains */
    sampler_profile_drain(g.prof);          /* in case there was no collector */

    int rc = sampler_profile_write(g.prof, g.path, g.format->name, SAMPLER_PROFILE_THREADS);
    int saved = errno;
    FILE *err = g.err_fd >= 0 ? fdopen(g.err_fd, "w") : NULL;
    if (err == NULL)
        err = stderr;
    sampler_stats st;
    sampler_get_stats(&st, sizeof st);
    sampler_profile_totals tot;
    sampler_profile_get_totals(g.prof, &tot, sizeof tot);
    if (rc < 0) {
        fprintf(err, PFX "pid %ld: writing '%s' failed: %s%s%s\n", (long)g.pid, g.path,
                sampler_strerror(rc), rc == SAMPLER_EIO ? ": " : "",
                rc == SAMPLER_EIO ? strerror(saved) : "");
    } else if (!g.quiet) {
        char extra[64] = "";
        if (st.timer_failures > 0)
            snprintf(extra, sizeof extra, ", %llu timer failures",
                     (unsigned long long)st.timer_failures);
        fprintf(err,
                PFX "pid %ld: %llu samples (weight %llu, %.3f s %s), %llu threads, %llu "
                    "overruns%s -> %s (%s)\n",
                (long)g.pid, (unsigned long long)tot.samples, (unsigned long long)tot.weight,
                (double)tot.weight * (double)g.cfg.interval_ns / 1e9,
                g.cfg.clock == SAMPLER_CLOCK_WALL ? "wall" : "CPU",
                (unsigned long long)tot.threads, (unsigned long long)st.overruns, extra,
                g.path, g.format->name);
    }
    /* Samples lost to a full buffer make the profile short of that much time:
     * said even with -q, like a failed write. */
    if (st.dropped > 0) {
        char why[96];
        if (g.collector)
            snprintf(why, sizeof why, "between two drains (every %d ms)", COLLECT_PERIOD_MS);
        else
            snprintf(why, sizeof why, "(no collector thread drained it)");
        fprintf(err,
                PFX "pid %ld: %llu samples dropped (weight %llu, %.3f s %s missing from the "
                    "profile): the sample buffer (%zu samples) filled up %s; use a bigger "
                    "--buffer or a longer interval (-F, -i)\n",
                (long)g.pid, (unsigned long long)st.dropped,
                (unsigned long long)st.dropped_weight,
                (double)st.dropped_weight * (double)g.cfg.interval_ns / 1e9,
                g.cfg.clock == SAMPLER_CLOCK_WALL ? "wall" : "CPU", g.cfg.buffer_capacity,
                why);
    }
    fflush(err);
    /* g.active is 0: no thread starts naming itself now; wait for those that
     * did (a few system calls each) */
    for (int i = 0; atomic_load(&g.naming) > 0 && i < 100000; i++)
        sched_yield();
    if (atomic_load(&g.naming) > 0)
        return; /* a namer is stuck (stopped?): leave the profile to exit */
    sampler_profile_free(g.prof);
    g.prof = NULL;
}

/* In a fork child the library has already dropped the parent's timers and
 * samples (its own atfork handler ran first: it was installed earlier, by
 * sampler_start()). The parent's profile is left alone (its lock may have been
 * held by the parent's collector): it leaks in the child. */
static void sampler_run_atfork_child(void)
{
    atomic_store(&g.active, 0);
    g.prof = NULL;
    if (g.follow_fork)
        (void)sampler_run_start();
}

static void sampler_run_finish(void);

/* The real one, or the system call when dlsym() could not find it. */
static _Noreturn void sampler_run_exit_now(exit_fn real, int status)
{
    if (real != NULL)
        real(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

EXPORT _Noreturn void _exit(int status)
{
    sampler_run_finish();
    sampler_run_exit_now(real__exit, status);
}

EXPORT _Noreturn void _Exit(int status)
{
    sampler_run_finish();
    sampler_run_exit_now(real__Exit, status);
}

__attribute__((constructor)) static void sampler_run_init(void)
{
    sampler_run_real_create();
    real__exit = (exit_fn)dlsym(RTLD_NEXT, "_exit");
    real__Exit = (exit_fn)dlsym(RTLD_NEXT, "_Exit");
    g.err_fd = fcntl(2, F_DUPFD_CLOEXEC, 10);
    if (sampler_run_env_flag(SAMPLER_RUN_ENV_FOLLOW_FORK, &g.follow_fork) < 0 ||
        sampler_run_read_env() < 0) {
        sampler_run_drop_preload();
        return;
    }
    if (!g.follow_fork)
        sampler_run_drop_preload();
    if (sampler_run_start() == 0)
        pthread_atfork(NULL, NULL, sampler_run_atfork_child);
}

__attribute__((destructor)) static void sampler_run_fini(void)
{
    sampler_run_finish();
}
