/*
 * Part 1: what one sample costs the sampled thread, at stack depth 5, 30, 100.
 *
 * Method A (the figure to quote): synchronous delivery at a known depth.
 *   A recursive noinline function (built -fno-omit-frame-pointer) reaches
 *   depth D and then, N times in a row, queues a signal to its own thread with
 *   rt_tgsigqueueinfo(2) and si_code = SI_TIMER. The kernel lets a thread send
 *   itself any negative si_code, so the siginfo looks exactly like the one
 *   the thread's POSIX timer would produce: SI_TIMER, si_overrun 0 and the
 *   slot's token in si_value. The signal is delivered on the return from that
 *   very system call, so every delivery interrupts the thread at depth D and
 *   N deliveries take N x (syscall + signal delivery + handler + sigreturn).
 *     floor:      an empty SA_SIGINFO handler (it only counts), same path;
 *     libsampler: sampler_start() + sampler_thread_register(), same path, so
 *                 the library's handler validates the token, walks the stack
 *                 with the frame-pointer walker and stores the sample.
 *   Both are timed with the thread's CPU clock (preemption by other processes
 *   is not counted), rounds alternate floor/libsampler, and the stats must
 *   show exactly N new samples per pass (nothing dropped or refused).
 *   Each libsampler round makes two passes into a buffer of N samples: the
 *   first writes every cell for the first time (the buffer's pages are not
 *   touched at start, so each page faults once, in the handler; printed as
 *   "first pass"); the second, the figure, writes the same cells again, as
 *   every run does once it has taken more samples than the buffer holds.
 *   This is white-box in one place: the token is read from the library's slot
 *   table (lib/internal.h), which a bench linked with the static library can
 *   do; nothing in the handler path is changed.
 *
 * Part 1c repeats method A through descend_nofp, built -fomit-frame-pointer,
 *   with the FP walker and with sampler_walk_libunwind() (when built with
 *   libunwind), and prints the libunwind ratio at depth 30.
 *
 * Method B (cross-check through real timers): a fixed CPU-bound workload at
 *   depth D is run (1) with no timer, (2) with a bare per-thread timer
 *   (timer_create CLOCK_MONOTONIC, SIGEV_THREAD_ID to itself, every 100 us)
 *   into the empty handler, and (3) under libsampler in SAMPLER_CLOCK_WALL
 *   mode at the same 100 us (SAMPLER_INTERVAL_MIN_NS, the smallest interval
 *   the library accepts). Cost per signal = (CPU time of the run - CPU time
 *   without timer) / handler runs. Wall-clock timers are used because a
 *   CPU-clock timer fires at most CONFIG_HZ (250) times a second. The interval
 *   is well above the cost of one timer signal (else every run saturates and
 *   the "cost" just equals the interval). This figure includes the timer
 *   interrupt and re-arming, which method A does not have, and it is noisier
 *   (about +-0.5 us): it shows what a real timer signal costs here, and that
 *   libsampler's share of it is small; method A resolves that share.
 */
#include "internal.h" /* first: config.h sets the feature macros */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_util.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

enum {
    A_DELIVERIES = 16384, /* per round; the buffer holds them all */
    A_ROUNDS = 9,
    B_ROUNDS = 7,
    MAX_DEPTH = 128, /* sampler_config::max_depth: depth 100 is walked in full */
};
static const uint64_t B_INTERVAL_NS = 100000;  /* 100 us: SAMPLER_INTERVAL_MIN_NS */
static const uint64_t B_WORK_ITERS = 60000000; /* ~70 ms of CPU without timer */
static const int DEPTHS[] = {5, 30, 100};

static volatile sig_atomic_t floor_count;

static void empty_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    floor_count++;
}

static void install_empty_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = empty_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    BENCH_SYS(sigaction(SIGPROF, &sa, NULL));
}

/* ---- reaching a known stack depth ------------------------------------------ */

typedef uint64_t (*leaf_fn)(void *arg);

/* One real frame per level: the volatile read after the call keeps GCC from
 * turning the recursion into a loop or a tail call. */
static __attribute__((noinline)) uint64_t descend(int depth, leaf_fn fn, void *arg)
{
    volatile int keep = depth;
    if (depth <= 1)
        return fn(arg);
    uint64_t r = descend(depth - 1, fn, arg);
    return r + (uint64_t)keep;
}

/* The same without frame pointers (Part 1c): code as distributions build it,
 * which the FP walker cannot follow and the libunwind walker can. */
typedef uint64_t (*descend_fn)(int depth, leaf_fn fn, void *arg);
static __attribute__((noinline, optimize("omit-frame-pointer"))) uint64_t
descend_nofp(int depth, leaf_fn fn, void *arg)
{
    volatile int keep = depth;
    if (depth <= 1)
        return fn(arg);
    uint64_t r = descend_nofp(depth - 1, fn, arg);
    return r + (uint64_t)keep;
}

/* ---- method A ---------------------------------------------------------------- */

typedef struct a_arg {
    uint64_t token; /* si_value of the forged SI_TIMER signal */
    int n;
    uint64_t cpu_ns; /* out */
} a_arg;

static __attribute__((noinline)) uint64_t a_leaf(void *p)
{
    a_arg *a = p;
    pid_t pid = getpid(), tid = bench_gettid();
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGPROF;
    si.si_code = SI_TIMER;
    si.si_value.sival_ptr = (void *)(uintptr_t)a->token;
    uint64_t t0 = bench_cpu();
    for (int i = 0; i < a->n; i++)
        if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, SIGPROF, &si) != 0)
            BENCH_DIE("rt_tgsigqueueinfo: %s", strerror(errno));
    a->cpu_ns = bench_cpu() - t0;
    return 0;
}

/* The calling thread's token, read from the slot table (white-box). */
static uint64_t own_token(void)
{
    pid_t me = bench_gettid();
    for (uint32_t i = 0; i < sampler__g.nslots; i++) {
        const sampler__slot *s = sampler__slot_get(i);
        uint32_t gen = s ? atomic_load(&s->gen) : 0;
        if (gen != 0 && s->tid == me)
            return sampler__token_make(s->idx, gen);
    }
    BENCH_DIE("own slot not found");
}

static double frames_sum;
static int frames_n;
static int count_frames(const sampler_sample *s, void *arg)
{
    (void)arg;
    frames_sum += s->depth;
    frames_n++;
    return 0;
}

static int discard(const sampler_sample *s, void *arg)
{
    (void)s;
    (void)arg;
    return 0;
}

#define COST_SECTION "per-sample cost: us of thread CPU per sample (Part 1)"

/* One table row of method A: A_ROUNDS rounds alternating floor/libsampler at
 * `depth` frames of `desc`, with `walker`. Prints the row and adds it to the
 * summary table as `what` with `target` (max ratio; 0: none); the median
 * ratio goes to *ratio_out when given. */
static void a_row(int depth, sampler_walker_fn walker, descend_fn desc, double *ratio_out,
                  const char *what, double target)
{
    double fl[A_ROUNDS], lib[A_ROUNDS], extra[A_ROUNDS], first[A_ROUNDS];
    frames_sum = 0;
    frames_n = 0;
    for (int r = 0; r < A_ROUNDS; r++) {
        /* floor */
        install_empty_handler();
        floor_count = 0;
        a_arg a = {.token = 0, .n = A_DELIVERIES};
        desc(depth, a_leaf, &a);
        if (floor_count != A_DELIVERIES)
            BENCH_DIE("floor: %d of %d signals handled", (int)floor_count, A_DELIVERIES);
        fl[r] = (double)a.cpu_ns / 1000.0 / A_DELIVERIES;

        /* libsampler (sampler_stop puts the empty handler back) */
        sampler_config cfg;
        BENCH_OK(sampler_config_init(&cfg, sizeof cfg));
        cfg.interval_ns = 3600000000000ULL; /* the real timer never fires */
        cfg.max_depth = MAX_DEPTH;
        cfg.buffer_capacity = A_DELIVERIES;
        cfg.walker = walker;
        BENCH_OK(sampler_start(&cfg));
        BENCH_OK(sampler_thread_register(NULL));
        a.token = own_token();
        /* First pass: every cell is written for the first time, so each new
         * page of the buffer (never touched at start) faults once. */
        desc(depth, a_leaf, &a);
        first[r] = (double)a.cpu_ns / 1000.0 / A_DELIVERIES;
        BENCH_OK(sampler_drain(discard, NULL, 0));
        /* Second pass, the figure: the same cells again, as in any run
         * longer than one buffer's worth of samples. */
        desc(depth, a_leaf, &a);
        sampler_stats st;
        BENCH_OK(sampler_get_stats(&st, sizeof st));
        if (st.samples != 2 * A_DELIVERIES || st.dropped != 0)
            BENCH_DIE("libsampler: %llu samples, %llu dropped, %llu stale of %d",
                      (unsigned long long)st.samples, (unsigned long long)st.dropped,
                      (unsigned long long)st.stale, 2 * A_DELIVERIES);
        BENCH_OK(sampler_stop());
        BENCH_OK(sampler_drain(count_frames, NULL, 0));
        lib[r] = (double)a.cpu_ns / 1000.0 / A_DELIVERIES;
        extra[r] = lib[r] - fl[r];
    }
    char b1[64], b2[64], b3[64], b4[64];
    bench_summary rs = bench_ratio(lib, fl, A_ROUNDS);
    bench_summary fs = bench_summarize(fl, A_ROUNDS);
    bench_summary ls = bench_summarize(lib, A_ROUNDS);
    bench_summary es = bench_summarize(extra, A_ROUNDS);
    bench_summary ps = bench_summarize(first, A_ROUNDS);
    printf("  %-5d %-6.0f %-24s %-24s %-8.2f %-18s %s\n", depth,
           frames_n ? frames_sum / frames_n : 0.0, bench_fmt(b1, sizeof b1, fs, 2),
           bench_fmt(b2, sizeof b2, ls, 2), es.med, bench_fmt(b4, sizeof b4, rs, 2),
           bench_fmt(b3, sizeof b3, ps, 2));
    if (ratio_out != NULL)
        *ratio_out = rs.med;
    char fig[128], base[64], tgt[32];
    snprintf(fig, sizeof fig, "%s, depth %d (%.0f frames kept)", what, depth,
             frames_n ? frames_sum / frames_n : 0.0);
    snprintf(base, sizeof base, "empty handler %.2f us", fs.med);
    snprintf(tgt, sizeof tgt, "<= %.1fx", target);
    bench_table_row(COST_SECTION, fig, b2, base, b4, target > 0 ? tgt : "",
                    target > 0 ? bench_verdict(rs.med, 0, target) : "");
    if (target > 0 && depth == 30) {
        /* The first pass through a fresh buffer, for the quoted rows. */
        bench_summary prs = bench_ratio(first, fl, A_ROUNDS);
        snprintf(fig, sizeof fig, "%s, depth %d, first pass (buffer pages fault)", what, depth);
        bench_table_row(COST_SECTION, fig, b3, base, bench_fmt(b4, sizeof b4, prs, 2), "", "");
    }
}

static void method_a(void)
{
    printf(
        "Part 1a. Per-sample cost, synchronous delivery at a known depth\n"
        "  %d deliveries per round (rt_tgsigqueueinfo to self, SI_TIMER + token),\n"
        "  %d rounds alternating floor/libsampler, thread CPU time; median (min-max).\n"
        "  floor = empty SA_SIGINFO handler; libsampler = its handler + FP walk + "
        "store,\n"
        "  into cells already written once; first pass = the same into a fresh buffer\n"
        "  (its pages fault once each: they are not touched at start).\n\n",
        A_DELIVERIES, A_ROUNDS);
    printf("  %-5s %-6s %-24s %-24s %-8s %-18s %s\n", "depth", "frames", "floor us/signal",
           "libsampler us/sample", "extra us", "ratio (per round)", "first pass us/sample");
    for (size_t d = 0; d < sizeof DEPTHS / sizeof DEPTHS[0]; d++)
        a_row(DEPTHS[d], sampler_walk_fp, descend, NULL, "FP walker", 1.1);
    printf("\n");
}

/* ---- method A on code without frame pointers (Part 1c) ---------------------- */

static void method_c(void)
{
    printf("Part 1c. As 1a, through code built -fomit-frame-pointer (descend_nofp):\n"
           "  the FP walker loses the chain there; the libunwind walker\n"
           "  (sampler_walk_libunwind, unw_backtrace with its per-thread cache) does not.\n"
           "  frames = mean frames stored per sample.\n\n");
    printf("  %-5s %-6s %-24s %-24s %-8s %-18s %s\n", "depth", "frames", "floor us/signal",
           "libsampler us/sample", "extra us", "ratio (per round)", "first pass us/sample");
    printf("  FP walker:\n");
    for (size_t d = 0; d < sizeof DEPTHS / sizeof DEPTHS[0]; d++)
        a_row(DEPTHS[d], sampler_walk_fp, descend_nofp, NULL,
              "FP walker, code without frame pointers", 0);
    if (!sampler_walk_libunwind_available()) {
        printf("  libunwind walker: not built (configure found no libunwind)\n\n");
        return;
    }
    printf("  libunwind walker:\n");
    double ratio30 = 0;
    for (size_t d = 0; d < sizeof DEPTHS / sizeof DEPTHS[0]; d++)
        a_row(DEPTHS[d], sampler_walk_libunwind, descend_nofp,
              DEPTHS[d] == 30 ? &ratio30 : NULL, "libunwind walker, code without FP",
              DEPTHS[d] == 30 ? 1.3 : 0);
    printf("  libunwind at depth 30: %.2fx the floor (target <= 1.30x)\n\n", ratio30);
}

/* ---- method B ---------------------------------------------------------------- */

typedef struct b_arg {
    uint64_t cpu_ns; /* out */
    uint64_t sink;
} b_arg;

/* Fixed CPU work at the leaf: an LCG the compiler cannot fold. */
static __attribute__((noinline)) uint64_t b_leaf(void *p)
{
    b_arg *b = p;
    uint64_t x = 88172645463325252ULL;
    uint64_t t0 = bench_cpu();
    for (uint64_t i = 0; i < B_WORK_ITERS; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        __asm__ volatile("" : "+r"(x));
    }
    b->cpu_ns = bench_cpu() - t0;
    b->sink = x;
    return x;
}

static timer_t bare_timer_start(uint64_t iv)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_notify_thread_id = bench_gettid();
    timer_t t;
    BENCH_SYS(timer_create(CLOCK_MONOTONIC, &sev, &t));
    struct itimerspec its = {
        .it_interval = {.tv_sec = 0, .tv_nsec = (long)iv},
        .it_value = {.tv_sec = 0, .tv_nsec = (long)iv},
    };
    BENCH_SYS(timer_settime(t, 0, &its, NULL));
    return t;
}

static void method_b(void)
{
    printf("Part 1b. Cross-check through real timers (wall-clock timers every %llu us)\n"
           "  fixed work (~70 ms CPU) at depth D: without timer, with a bare timer into\n"
           "  the empty handler (floor), under libsampler SAMPLER_CLOCK_WALL;\n"
           "  cost = (CPU time - CPU time without timer) / handler runs; %d rounds.\n\n",
           (unsigned long long)(B_INTERVAL_NS / 1000), B_ROUNDS);
    printf("  %-5s %-8s %-24s %-24s %-8s %s\n", "depth", "signals", "floor us/signal",
           "libsampler us/sample", "extra us", "ratio (per round)");
    for (size_t d = 0; d < sizeof DEPTHS / sizeof DEPTHS[0]; d++) {
        int depth = DEPTHS[d];
        double fl[B_ROUNDS], lib[B_ROUNDS], extra[B_ROUNDS], nsig[B_ROUNDS];
        for (int r = 0; r < B_ROUNDS; r++) {
            b_arg b;
            install_empty_handler();
            descend(depth, b_leaf, &b);
            uint64_t base = b.cpu_ns;

            floor_count = 0;
            timer_t t = bare_timer_start(B_INTERVAL_NS);
            descend(depth, b_leaf, &b);
            BENCH_SYS(timer_delete(t));
            int nf = floor_count;
            fl[r] = nf ? ((double)b.cpu_ns - (double)base) / 1000.0 / nf : 0;

            sampler_config cfg;
            BENCH_OK(sampler_config_init(&cfg, sizeof cfg));
            cfg.interval_ns = B_INTERVAL_NS;
            cfg.clock = SAMPLER_CLOCK_WALL;
            cfg.max_depth = MAX_DEPTH;
            cfg.buffer_capacity = 1u << 15;
            BENCH_OK(sampler_start(&cfg));
            BENCH_OK(sampler_thread_register(NULL));
            descend(depth, b_leaf, &b);
            BENCH_OK(sampler_stop());
            sampler_stats st;
            BENCH_OK(sampler_get_stats(&st, sizeof st));
            BENCH_OK(sampler_drain(discard, NULL, 0));
            if (st.dropped != 0)
                BENCH_DIE("method B: %llu samples dropped",
                          (unsigned long long)st.dropped);
            lib[r] = st.signals
                         ? ((double)b.cpu_ns - (double)base) / 1000.0 / (double)st.signals
                         : 0;
            extra[r] = lib[r] - fl[r];
            nsig[r] = (double)st.signals;
        }
        char b1[64], b2[64], b4[64];
        bench_summary rs = bench_ratio(lib, fl, B_ROUNDS);
        bench_summary fs = bench_summarize(fl, B_ROUNDS);
        bench_summary ls = bench_summarize(lib, B_ROUNDS);
        bench_summary es = bench_summarize(extra, B_ROUNDS);
        bench_summary ns = bench_summarize(nsig, B_ROUNDS);
        printf("  %-5d %-8.0f %-24s %-24s %-8.2f %s\n", depth, ns.med,
               bench_fmt(b1, sizeof b1, fs, 2), bench_fmt(b2, sizeof b2, ls, 2), es.med,
               bench_fmt(b4, sizeof b4, rs, 2));
        char fig[96], base[64];
        snprintf(fig, sizeof fig, "FP walker, depth %d, real %llu us wall timer", depth,
                 (unsigned long long)(B_INTERVAL_NS / 1000));
        snprintf(base, sizeof base, "bare timer %.2f us", fs.med);
        bench_table_row(COST_SECTION, fig, b2, base, b4, "", "");
    }
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    method_a();
    method_c();
    method_b();
    return 0;
}
