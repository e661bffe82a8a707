/*
 * threads.c - a tour of libsampler in one program.
 *
 * N worker threads each burn a different amount of CPU in their own hot
 * function (thread k does k "units" of work per round). Every worker
 * registers itself with the sampler, passing a small struct that names it as
 * `thread_arg`; the library hands that pointer back with every sample, so the
 * consumer knows which worker a sample belongs to without any lookup.
 *
 * The main thread is the consumer: every 50 ms it calls sampler_drain() and
 * aggregates the samples
 *   - per thread (sample count and weight), and
 *   - per function, by symbolizing program counters with dladdr():
 *       "self"      = weight of samples whose innermost frame is in it,
 *       "inclusive" = weight of samples with it anywhere on the stack.
 *
 * At the end it compares each thread's share of the sampled weight with its
 * share of the CPU time the kernel measured (CLOCK_THREAD_CPUTIME_ID): the two
 * should agree within a few percentage points.
 *
 * Build notes for your own programs:
 *   - the built-in walker follows frame pointers: compile the code you want
 *     to see in stacks with -fno-omit-frame-pointer;
 *   - dladdr() only sees symbols in the dynamic symbol table: link the
 *     executable with -rdynamic, and give the functions you want named
 *     external linkage (static functions show up as "[threads]").
 *
 * Usage: threads [-n threads] [-i interval_us] [-t seconds]
 * Exit status: 0 on success, 1 on a libsampler error, 2 on bad usage.
 */
#define _GNU_SOURCE /* dladdr(), pthread_setname_np() */
#include <sampler.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

/*
 * A leaf function (one that calls nothing) may get no frame record even with
 * -fno-omit-frame-pointer (GCC 12 on x86_64 omits it when the leaf needs no
 * stack, whatever -mno-omit-leaf-frame-pointer says). A sample that lands in
 * such a leaf still has the right innermost pc, but the frame chain starts at
 * the leaf's caller's record, so the caller itself is missing from the stack.
 * Asking for the frame address makes the compiler build the record. Hot leaf
 * functions of your own usually need no such care: self time stays correct,
 * only the inclusive time of the direct caller is understated.
 */
#define KEEP_FRAME() __asm__ volatile("" : : "r"(__builtin_frame_address(0)))

/* ------------------------------------------------------------------------ */
/* The workload                                                              */

/*
 * The hot functions. They are deliberately not static: with -rdynamic,
 * non-static functions land in the dynamic symbol table, which is what
 * dladdr() reads. Each one does a little arithmetic of its own and calls
 * shared_kernel() for the rest, so the report can show "self" (innermost
 * frame) and "inclusive" (anywhere on the stack) weights that differ.
 */
uint64_t shared_kernel(uint64_t x, int n);
uint64_t hot_alpha(uint64_t x, int n);
uint64_t hot_bravo(uint64_t x, int n);
uint64_t hot_charlie(uint64_t x, int n);
uint64_t hot_delta(uint64_t x, int n);
uint64_t hot_echo(uint64_t x, int n);
uint64_t hot_foxtrot(uint64_t x, int n);
uint64_t hot_golf(uint64_t x, int n);
uint64_t hot_hotel(uint64_t x, int n);

NOINLINE uint64_t shared_kernel(uint64_t x, int n)
{
    KEEP_FRAME();
    for (int i = 0; i < n; i++)
        x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL + (uint64_t)i;
    return x;
}

/* A hot function: 3/4 of its work inline (self), 1/4 in shared_kernel(). */
#define DEFINE_HOT(name, mul, add)                                                      \
    NOINLINE uint64_t name(uint64_t x, int n)                                          \
    {                                                                                   \
        for (int i = 0; i < 3 * n; i++)                                                 \
            x = x * (mul) + (add);                                                      \
        x = shared_kernel(x, n);                                                        \
        __asm__ volatile("" : "+r"(x)); /* keep the compiler from folding the loop */ \
        return x;                                                                       \
    }

DEFINE_HOT(hot_alpha, 6364136223846793005ULL, 1442695040888963407ULL)
DEFINE_HOT(hot_bravo, 2862933555777941757ULL, 3037000493ULL)
DEFINE_HOT(hot_charlie, 3935559000370003845ULL, 2691343689449507681ULL)
DEFINE_HOT(hot_delta, 3202034522624059733ULL, 4354685564936845319ULL)
DEFINE_HOT(hot_echo, 2685821657736338717ULL, 1181783497276652981ULL)
DEFINE_HOT(hot_foxtrot, 1181783497276652981ULL, 7046029254386353131ULL)
DEFINE_HOT(hot_golf, 7664345821815920749ULL, 1ULL)
DEFINE_HOT(hot_hotel, 1103515245ULL, 12345ULL)

typedef uint64_t (*hot_fn)(uint64_t, int);
static const struct {
    const char *name;
    hot_fn fn;
} hot_table[] = {
    {"hot_alpha", hot_alpha}, {"hot_bravo", hot_bravo},     {"hot_charlie", hot_charlie},
    {"hot_delta", hot_delta}, {"hot_echo", hot_echo},       {"hot_foxtrot", hot_foxtrot},
    {"hot_golf", hot_golf},   {"hot_hotel", hot_hotel},
};
#define N_HOT (sizeof hot_table / sizeof hot_table[0])

/* Iterations per call of a hot function: a few tens of microseconds. */
#define CHUNK 8192
/* Each worker runs in rounds of about ROUND_NS wall time: it burns its CPU
 * budget for the round, then sleeps for the rest of it. */
#define ROUND_NS 10000000ULL

/*
 * What a worker registers as its `thread_arg`. The sampler stores the pointer
 * with every sample of this thread, and the drain callback casts it back. It
 * must stay valid until the last sample carrying it has been drained: here it
 * lives in an array that outlives the sampler.
 */
typedef struct worker {
    char name[16];      /* "worker-3" */
    int index;          /* 1..N: does `index` units of work per round */
    const char *func;   /* the name of its hot function */
    hot_fn hot;         /* its hot function */
    uint64_t budget_ns; /* CPU time to burn per round */
    pthread_t thread;
    pid_t tid;
    int reg_err;        /* result of sampler_thread_register() */
    int unreg_err;      /* result of sampler_thread_unregister() */
    uint64_t cpu_ns;    /* CPU time used while registered */
    uint64_t sink;      /* keeps the work observable */
    /* Filled by the consumer (main thread) only. */
    uint64_t samples, weight;
} worker;

static atomic_bool stop_flag;
static pthread_barrier_t start_barrier;

static uint64_t clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Burn `budget_ns` of this thread's CPU time in the worker's hot function.
 * Not static, so that it has a name in the report (worker_main() is static:
 * it shows up as "[threads]"). */
uint64_t run_round(worker *w, uint64_t x);
NOINLINE uint64_t run_round(worker *w, uint64_t x)
{
    uint64_t end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + w->budget_ns;
    do
        x = w->hot(x, CHUNK);
    while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end);
    return x;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->tid = (pid_t)syscall(SYS_gettid);
    pthread_setname_np(pthread_self(), w->name);

    /*
     * Register the calling thread: from now on its own POSIX timer ticks on
     * its CPU clock and every expiry becomes a sample taken on this thread.
     * `w` comes back as sample->thread_arg (and as ctx->thread_arg in a
     * custom walker).
     */
    w->reg_err = sampler_thread_register(w);
    uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    pthread_barrier_wait(&start_barrier);

    uint64_t x = (uint64_t)w->index;
    unsigned seed = (unsigned)w->tid;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        x = run_round(w, x);
        /*
         * Then sleep for the rest of the round, give or take 50%. The jitter
         * matters: the kernel checks CPU-clock timers only at the scheduler
         * tick (every 4 ms at HZ=250), and only for the thread running at
         * that tick. A thread that wakes on a fixed period can phase-lock
         * with the tick, run only between ticks, and then never be sampled.
         * Real workloads are rarely that regular; a demo must not be.
         */
        uint64_t rest = ROUND_NS > w->budget_ns ? ROUND_NS - w->budget_ns : 0;
        uint64_t nap = rest / 2 + rest * (uint64_t)(rand_r(&seed) % 1024) / 1024;
        struct timespec ts = {(time_t)(nap / 1000000000ULL), (long)(nap % 1000000000ULL)};
        while (nanosleep(&ts, &ts) == EINTR)
            ;
    }

    /*
     * Unregistering is optional: a thread that registered itself has its
     * timer deleted automatically when it exits. We do it explicitly so the
     * CPU time we compare against covers exactly the sampled window.
     */
    w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    if (w->reg_err == 0)
        w->unreg_err = sampler_thread_unregister();
    w->sink = x;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The consumer: aggregate samples per thread and per function               */

typedef struct func_stat {
    const void *start; /* symbol start address (the key), or the object's base */
    char name[64];
    uint64_t self, incl;
} func_stat;

/* pc -> index into funcs[]: dladdr() is not cheap, so remember each pc. */
typedef struct pc_slot {
    uintptr_t pc; /* 0 = empty */
    int func;
} pc_slot;

typedef struct profile {
    worker *workers;
    int nworkers;
    uint64_t samples, weight;
    uint64_t unknown_thread; /* samples whose thread_arg is not a worker */
    uint64_t no_frames;      /* samples the walker gave no pcs for */
    func_stat *funcs;
    int nfuncs, capfuncs;
    pc_slot *pcs;
    size_t pccap, pcused;
    const char *exe; /* the executable's path as dladdr() reports it */
    int oom;
} profile;

static size_t pc_hash(uintptr_t pc, size_t cap)
{
    return (size_t)((pc * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

static int pc_grow(profile *p)
{
    size_t ncap = p->pccap ? p->pccap * 2 : 1024;
    pc_slot *n = calloc(ncap, sizeof *n);
    if (n == NULL)
        return -1;
    for (size_t i = 0; i < p->pccap; i++) {
        if (p->pcs[i].pc == 0)
            continue;
        size_t h = pc_hash(p->pcs[i].pc, ncap);
        while (n[h].pc != 0)
            h = (h + 1) & (ncap - 1);
        n[h] = p->pcs[i];
    }
    free(p->pcs);
    p->pcs = n;
    p->pccap = ncap;
    return 0;
}

/* The function index for `key` (a symbol or object start), added if new. */
static int func_index(profile *p, const void *key, const char *name)
{
    for (int i = 0; i < p->nfuncs; i++)
        if (p->funcs[i].start == key)
            return i;
    if (p->nfuncs == p->capfuncs) {
        int ncap = p->capfuncs ? p->capfuncs * 2 : 64;
        func_stat *n = realloc(p->funcs, (size_t)ncap * sizeof *n);
        if (n == NULL)
            return -1;
        p->funcs = n;
        p->capfuncs = ncap;
    }
    func_stat *f = &p->funcs[p->nfuncs];
    memset(f, 0, sizeof *f);
    f->start = key;
    snprintf(f->name, sizeof f->name, "%s", name);
    return p->nfuncs++;
}

/*
 * Symbolize one pc with dladdr(). For caller frames the walker reports return
 * addresses, which point just past the call instruction - possibly already
 * into the next function - so look up pc - 1 for them.
 */
static int symbolize(profile *p, uintptr_t pc)
{
    if (p->pcused * 2 >= p->pccap && pc_grow(p) != 0)
        return -1;
    size_t h = pc_hash(pc, p->pccap);
    while (p->pcs[h].pc != 0) {
        if (p->pcs[h].pc == pc)
            return p->pcs[h].func;
        h = (h + 1) & (p->pccap - 1);
    }
    Dl_info info;
    int f;
    if (dladdr((void *)pc, &info) != 0 && info.dli_sname != NULL) {
        char name[64];
        const char *base = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        if (info.dli_fname == NULL || (p->exe && strcmp(info.dli_fname, p->exe) == 0))
            snprintf(name, sizeof name, "%s", info.dli_sname);
        else /* in a shared library (or the vDSO): say which */
            snprintf(name, sizeof name, "%s (%s)", info.dli_sname,
                     base ? base + 1 : info.dli_fname);
        f = func_index(p, info.dli_saddr, name);
    } else if (info.dli_fname != NULL && info.dli_fbase != NULL) {
        /* No symbol (a static function, or a stripped library): name the object. */
        const char *base = strrchr(info.dli_fname, '/');
        char name[64];
        snprintf(name, sizeof name, "[%s]", base ? base + 1 : info.dli_fname);
        f = func_index(p, info.dli_fbase, name);
    } else {
        f = func_index(p, NULL, "[unknown]");
    }
    if (f < 0)
        return -1;
    p->pcs[h].pc = pc;
    p->pcs[h].func = f;
    p->pcused++;
    return f;
}

/*
 * The drain callback: called once per sample, in the thread that called
 * sampler_drain(), oldest sample first. sample->pcs is only valid during the
 * call, so copy whatever you need. Calling sampler_* management functions from
 * here returns SAMPLER_EBUSY.
 */
static int on_sample(const sampler_sample *s, void *arg)
{
    profile *p = arg;
    p->samples++;
    p->weight += s->weight; /* weight = 1 + timer overruns: intervals of CPU */

    worker *w = s->thread_arg;
    if (w != NULL && w >= p->workers && w < p->workers + p->nworkers) {
        w->samples++;
        w->weight += s->weight;
    } else {
        p->unknown_thread++;
    }

    if (s->depth < 1) {
        p->no_frames++;
        return 0;
    }
    /* Functions on this stack, each once (so recursion is not counted twice). */
    int seen[SAMPLER_MAX_DEPTH];
    int nseen = 0;
    for (int d = 0; d < s->depth; d++) {
        /* pcs[0] is the interrupted pc itself; the rest are return addresses. */
        int f = symbolize(p, d == 0 ? s->pcs[0] : s->pcs[d] - 1);
        if (f < 0) {
            p->oom = 1;
            return 1; /* stop draining; main() reports it */
        }
        if (d == 0)
            p->funcs[f].self += s->weight;
        int dup = 0;
        for (int i = 0; i < nseen && !dup; i++)
            dup = seen[i] == f;
        if (!dup) {
            seen[nseen++] = f;
            p->funcs[f].incl += s->weight;
        }
    }
    return 0;
}

static int by_self_desc(const void *a, const void *b)
{
    const func_stat *x = a, *y = b;
    if (x->self != y->self)
        return x->self < y->self ? 1 : -1;
    return x->incl < y->incl ? 1 : x->incl > y->incl ? -1 : 0;
}

/* ------------------------------------------------------------------------ */

static int check(int rc, const char *what)
{
    if (rc < 0)
        fprintf(stderr, "threads: %s: %s (%s)\n", what, sampler_strerror(rc),
                sampler_err_name(rc));
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: threads [-n threads (1-64)] [-i interval_us] [-t seconds]\n");
}

int main(int argc, char **argv)
{
    int nthreads = 4;
    long interval_us = 1000;
    double seconds = 2.0;
    int opt;
    while ((opt = getopt(argc, argv, "n:i:t:h")) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'n':
            nthreads = (int)strtol(optarg, &end, 10);
            break;
        case 'i':
            interval_us = strtol(optarg, &end, 10);
            break;
        case 't':
            seconds = strtod(optarg, &end);
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
        if (end == optarg || *end != '\0') {
            usage();
            return 2;
        }
    }
    if (optind != argc || nthreads < 1 || nthreads > 64 || interval_us < 1 ||
        interval_us > 1000000 || !(seconds > 0 && seconds <= 3600)) {
        usage();
        return 2;
    }

    /* A header/library mismatch is worth catching early. */
    if (sampler_version() != SAMPLER_VERSION_HEX) {
        fprintf(stderr, "threads: header %s but library %s\n", SAMPLER_VERSION_STRING,
                sampler_version_string());
        return 1;
    }

    /*
     * Spread the CPU so that thread k gets k units: unit = total / (1+..+N),
     * with a total of about half of the machine's CPUs (so the threads do not
     * fight over cores), and no thread above 90% of a core.
     */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    double total = 0.5 * (double)(ncpu < nthreads ? ncpu : nthreads);
    double unit = total / (nthreads * (nthreads + 1) / 2.0);
    if (unit * nthreads > 0.9)
        unit = 0.9 / nthreads;

    worker *workers = calloc((size_t)nthreads, sizeof *workers);
    if (workers == NULL) {
        perror("threads");
        return 1;
    }
    for (int k = 0; k < nthreads; k++) {
        worker *w = &workers[k];
        w->index = k + 1;
        snprintf(w->name, sizeof w->name, "worker-%d", k + 1);
        w->func = hot_table[k % N_HOT].name;
        w->hot = hot_table[k % N_HOT].fn;
        w->budget_ns = (uint64_t)(unit * (k + 1) * (double)ROUND_NS);
    }

    /*
     * 1. Configure and start. Always start from sampler_config_init(): it
     *    sets every field to its default and records the struct size, so this
     *    program keeps working with later library versions.
     */
    sampler_config cfg;
    if (check(sampler_config_init(&cfg, sizeof cfg), "sampler_config_init") < 0)
        return 1;
    cfg.interval_ns = (uint64_t)interval_us * 1000; /* one sample per interval of CPU */
    cfg.clock = SAMPLER_CLOCK_CPU;                   /* the default; WALL also samples idle threads */
    cfg.max_depth = 32;
    if (check(sampler_start(&cfg), "sampler_start") < 0)
        return 1;

    printf("libsampler %s: %d worker threads, %.1f s, interval %ld us (CPU clock), %ld CPUs\n",
           sampler_version_string(), nthreads, seconds, interval_us, ncpu);

    /* 2. Start the workers; each registers itself (see worker_main). */
    pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads + 1);
    int created = 0;
    for (; created < nthreads; created++)
        if (pthread_create(&workers[created].thread, NULL, worker_main, &workers[created]) != 0)
            break;
    if (created < nthreads) {
        fprintf(stderr, "threads: pthread_create failed\n");
        return 1; /* the barrier would never open */
    }
    pthread_barrier_wait(&start_barrier);

    int failed = 0;
    for (int k = 0; k < nthreads; k++)
        if (check(workers[k].reg_err, "sampler_thread_register") < 0)
            failed = 1;

    /*
     * 3. Drain while the workers run. The buffer has a fixed capacity
     *    (cfg.buffer_capacity samples); a consumer that falls behind loses
     *    samples, counted as "dropped" in the stats. Draining every 50 ms keeps
     *    it nearly empty.
     */
    profile prof = {.workers = workers, .nworkers = nthreads};
    Dl_info self_info;
    if (dladdr((void *)main, &self_info) != 0)
        prof.exe = self_info.dli_fname;
    uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + (uint64_t)(seconds * 1e9);
    while (!failed && clock_ns(CLOCK_MONOTONIC) < deadline && !prof.oom) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        if (check(sampler_drain(on_sample, &prof, 0), "sampler_drain") < 0)
            failed = 1;
    }

    atomic_store(&stop_flag, true);
    for (int k = 0; k < nthreads; k++)
        pthread_join(workers[k].thread, NULL);
    for (int k = 0; k < nthreads; k++)
        if (check(workers[k].unreg_err, "sampler_thread_unregister") < 0)
            failed = 1;

    /*
     * 4. Stop, then drain what is left: samples stay readable after
     *    sampler_stop() until the next sampler_start(). Stop waits for any
     *    signal handler still running, so nothing arrives after it.
     */
    if (check(sampler_stop(), "sampler_stop") < 0)
        failed = 1;
    if (check(sampler_drain(on_sample, &prof, 0), "sampler_drain") < 0)
        failed = 1;
    if (prof.oom) {
        fprintf(stderr, "threads: out of memory while symbolizing\n");
        failed = 1;
    }

    sampler_stats st;
    if (check(sampler_get_stats(&st, sizeof st), "sampler_get_stats") < 0)
        failed = 1;

    /* 5. Report. */
    uint64_t cpu_total = 0;
    for (int k = 0; k < nthreads; k++)
        cpu_total += workers[k].cpu_ns;
    double ms_per_weight = (double)cfg.interval_ns / 1e6;

    printf("\n%-10s %7s  %-12s %7s %7s %9s %9s %8s %7s %7s\n", "thread", "tid", "function",
           "samples", "weight", "~cpu ms", "cpu ms", "sample%", "cpu%", "diff");
    double max_diff = 0;
    for (int k = 0; k < nthreads; k++) {
        const worker *w = &workers[k];
        double sshare = prof.weight ? 100.0 * (double)w->weight / (double)prof.weight : 0;
        double cshare = cpu_total ? 100.0 * (double)w->cpu_ns / (double)cpu_total : 0;
        double diff = sshare - cshare;
        if (diff < 0 ? -diff > max_diff : diff > max_diff)
            max_diff = diff < 0 ? -diff : diff;
        printf("%-10s %7d  %-12s %7llu %7llu %9.1f %9.1f %7.1f%% %6.1f%% %+6.1f\n", w->name,
               (int)w->tid, w->func, (unsigned long long)w->samples,
               (unsigned long long)w->weight, (double)w->weight * ms_per_weight,
               (double)w->cpu_ns / 1e6, sshare, cshare, diff);
    }
    printf("%-10s %7s  %-12s %7llu %7llu %9.1f %9.1f\n", "total", "", "",
           (unsigned long long)prof.samples, (unsigned long long)prof.weight,
           (double)prof.weight * ms_per_weight, (double)cpu_total / 1e6);
    printf("(~cpu ms = weight x interval; sample%%/cpu%% = share of sampled weight / of "
           "measured CPU time; largest |diff| %.1f points)\n",
           max_diff);
    if (prof.unknown_thread || prof.no_frames)
        printf("(%llu samples from unknown threads, %llu without frames)\n",
               (unsigned long long)prof.unknown_thread, (unsigned long long)prof.no_frames);

    if (prof.nfuncs > 0) {
        qsort(prof.funcs, (size_t)prof.nfuncs, sizeof *prof.funcs, by_self_desc);
        int top = prof.nfuncs < 12 ? prof.nfuncs : 12;
        printf("\ntop functions by self weight (self = innermost frame, incl = anywhere on "
               "the stack)\n");
        printf("%-34s %8s %7s %8s %7s\n", "function", "self", "self%", "incl", "incl%");
        for (int i = 0; i < top; i++) {
            const func_stat *f = &prof.funcs[i];
            printf("%-34s %8llu %6.1f%% %8llu %6.1f%%\n", f->name,
                   (unsigned long long)f->self,
                   prof.weight ? 100.0 * (double)f->self / (double)prof.weight : 0,
                   (unsigned long long)f->incl,
                   prof.weight ? 100.0 * (double)f->incl / (double)prof.weight : 0);
        }
    }

    printf("\nstats: signals %llu, samples %llu, weight %llu, overruns %llu, dropped %llu, "
           "paused %llu, foreign %llu, stale %llu, timer_failures %llu\n",
           (unsigned long long)st.signals, (unsigned long long)st.samples,
           (unsigned long long)st.weight, (unsigned long long)st.overruns,
           (unsigned long long)st.dropped, (unsigned long long)st.paused,
           (unsigned long long)st.foreign, (unsigned long long)st.stale,
           (unsigned long long)st.timer_failures);
    /* Once stopped, every accepted signal is either a stored or a dropped sample. */
    if (st.signals != st.samples + st.dropped || st.samples != prof.samples) {
        fprintf(stderr, "threads: inconsistent counts: signals %llu != samples %llu + "
                        "dropped %llu, or drained %llu\n",
                (unsigned long long)st.signals, (unsigned long long)st.samples,
                (unsigned long long)st.dropped, (unsigned long long)prof.samples);
        failed = 1;
    }

    uint64_t sink = 0;
    for (int k = 0; k < nthreads; k++)
        sink ^= workers[k].sink;
    if (sink == 42) /* practically never: just keeps the work observable */
        printf("(lucky)\n");
    free(prof.funcs);
    free(prof.pcs);
    free(workers);
    pthread_barrier_destroy(&start_barrier);
    return failed ? 1 : 0;
}
