/*
 * walker suite: the built-in frame-pointer walker gives back a known call
 * chain in order and stays inside the stack bounds it is given; a user walker
 * gets the interrupted context, the thread's tid, registration argument,
 * plausible stack bounds and its walker_arg, and its return value is clamped
 * (negative or > max_depth: depth 0, the sample is kept).
 *
 * The chain test needs dladdr() to name wk_chain_a/b/c: they are non-static
 * and the test binary is linked with -rdynamic.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define WK_INTERVAL_NS 4000000ULL
/* A wait for n samples fails once the sampled thread burnt this much CPU
 * without them (about 10x what n samples need), or after the backstop. */
#define WK_WAIT_CPU_NS(n) (1000000000ULL + 10 * (n)*WK_INTERVAL_NS)
#define WK_WAIT_BACKSTOP_S 30.0
#define WK_CHAIN_SAMPLES 40

#if defined(__clang__)
#define WK_NOINLINE __attribute__((noinline))
#else
#define WK_NOINLINE __attribute__((noinline, noclone))
#endif

/* ---- a known chain: a -> b -> c, c burns ------------------------------------------ */

void wk_chain_a(uint64_t ns);
void wk_chain_b(uint64_t ns);
void wk_chain_c(uint64_t ns);
uint64_t wk_chain_clock(void);

static _Thread_local volatile uint64_t wk_sink; /* per thread: no race between burners */
static volatile int wk_after; /* work after each call: no tail calls */

/* c's only callee: the thread's CPU clock (clock_gettime: libc, the vDSO, and
 * in a sanitizer build its interceptor). A sample can land in it. */
WK_NOINLINE uint64_t wk_chain_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* c burns in registers and reads the clock only every 2^20 steps (about 1 ms):
 * the time outside its own code stays well under 1% in every build. Read
 * every 50,000 steps (about 70 µs), the clock held 3% of the samples in the
 * normal build and 5 to 12% under TSan, whose clock_gettime interceptor is
 * slow and runs the deferred handler itself; from inside TSan's runtime
 * (no frame pointers) the chain cannot be walked. */
WK_NOINLINE void wk_chain_c(uint64_t ns)
{
    uint64_t end = wk_chain_clock() + ns;
    uint64_t x = wk_sink;
    do {
        for (int i = 0; i < (1 << 20); i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        wk_sink = x;
    } while (wk_chain_clock() < end);
}

WK_NOINLINE void wk_chain_b(uint64_t ns)
{
    wk_chain_c(ns);
    wk_after++;
}

WK_NOINLINE void wk_chain_a(uint64_t ns)
{
    wk_chain_b(ns);
    wk_after++;
}

static struct {
    void *thread_arg;      /* expected */
    atomic_int tid;        /* expected */
    int max_depth;         /* expected */
    int ret;               /* what the walker returns */
    int fill;              /* how many pcs it writes (<= max_depth) */
    atomic_int calls, no_ucontext, wrong_tid, not_self, wrong_arg, wrong_walker_arg,
        wrong_max, sp_outside;
    atomic_uintptr_t lo, hi;
} wk_uw;

/* ---- a worker thread --------------------------------------------------------------- */

typedef struct wk_worker {
    pthread_t th;
    sem_t ready, go;
    atomic_int stop;
    bool self_register;
    bool chain; /* burn in a -> b -> c (else in tu_burn_cpu_ns) until stop */
    int reg_rc;
    pid_t tid;
    uintptr_t local_addr; /* address of a local variable of the thread */
} wk_worker;

static void *wk_thread(void *p)
{
    wk_worker *w = p;
    volatile int local = 0;
    w->local_addr = (uintptr_t)&local;
    w->tid = tu_gettid();
    atomic_store(&wk_uw.tid, w->tid); /* before any signal can reach a user walker */
    if (w->self_register)
        w->reg_rc = sampler_thread_register(w);
    sem_post(&w->ready);
    sem_wait(&w->go);
    while (!atomic_load(&w->stop)) {
        if (w->chain)
            wk_chain_a(2000000);
        else
            tu_burn_cpu_ns(1000000);
    }
    local++;
    return NULL;
}

static void wk_spawn(wk_worker *w, bool self_register, bool chain)
{
    memset(w, 0, sizeof *w);
    w->self_register = self_register;
    w->chain = chain;
    ck_assert_int_eq(sem_init(&w->ready, 0, 0), 0);
    ck_assert_int_eq(sem_init(&w->go, 0, 0), 0);
    ck_assert_int_eq(pthread_create(&w->th, NULL, wk_thread, w), 0);
    ck_assert_int_eq(sem_wait(&w->ready), 0);
    if (self_register)
        ck_assert_sampler(w->reg_rc, 0);
    else
        ck_assert_sampler(sampler_thread_register_tid(w->tid, w), 0);
}

static void wk_go(wk_worker *w)
{
    sem_post(&w->go);
}

static void wk_join(wk_worker *w)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    sem_destroy(&w->ready);
    sem_destroy(&w->go);
}

/* Wait until n samples are stored, bounded by the CPU the worker burnt (a
 * loaded machine or a sanitizer build makes the wait longer, not the test
 * fail). */
static void wk_wait_samples(uint64_t n, const wk_worker *w)
{
    tu_wait_stat(samples, n, tu_thread_clock(w->th), WK_WAIT_CPU_NS(n),
                 WK_WAIT_BACKSTOP_S);
}

static void wk_start(sampler_walker_fn walker, void *walker_arg, int max_depth)
{
    sampler_config cfg;
    tu_config(&cfg, WK_INTERVAL_NS);
    cfg.walker = walker;
    cfg.walker_arg = walker_arg;
    if (max_depth > 0)
        cfg.max_depth = max_depth;
    ck_assert_sampler(sampler_start(&cfg), 0);
}

/* ---- the FP walker on a real signal ---------------------------------------------- */

static const void *wk_sym(uintptr_t pc)
{
    Dl_info info;
    if (pc == 0 || dladdr((void *)pc, &info) == 0)
        return NULL;
    return info.dli_saddr;
}

/* A pc inside c's clock read: in wk_chain_clock, or in another object than
 * this program (libc, the vDSO, a sanitizer runtime: c calls nothing else). */
static bool wk_in_clock_read(uintptr_t pc)
{
    Dl_info info, self;
    if (pc == 0 || dladdr((void *)pc, &info) == 0 ||
        dladdr((void *)(uintptr_t)wk_chain_c, &self) == 0)
        return false;
    return info.dli_saddr == (void *)(uintptr_t)wk_chain_clock ||
           info.dli_fbase != self.dli_fbase;
}

/* "name+off" of a pc, for messages. */
static void wk_pc_name(uintptr_t pc, char *buf, size_t len)
{
    Dl_info info;
    if (pc != 0 && dladdr((void *)pc, &info) != 0 && info.dli_sname != NULL)
        snprintf(buf, len, "%s+%#lx", info.dli_sname,
                 (unsigned long)(pc - (uintptr_t)info.dli_saddr));
    else if (pc != 0 && dladdr((void *)pc, &info) != 0 && info.dli_fname != NULL)
        snprintf(buf, len, "%s:%#lx", info.dli_fname, (unsigned long)pc);
    else
        snprintf(buf, len, "%#lx", (unsigned long)pc);
}

typedef struct wk_chain_scan {
    pid_t tid;
    uint64_t n, in_order, reversed, pc_in_c, pc_in_clock;
    char odd[3][160]; /* the leaf frames of the first samples not in c */
    int n_odd;
} wk_chain_scan;

static int wk_chain_cb(const sampler_sample *s, void *arg)
{
    wk_chain_scan *c = arg;
    if (s->tid != c->tid)
        return 0;
    c->n++;
    int ic = -1, ib = -1, ia = -1;
    for (int i = 0; i < s->depth; i++) {
        const void *f = wk_sym(s->pcs[i]);
        if (f == (const void *)wk_chain_c && ic < 0)
            ic = i;
        else if (f == (const void *)wk_chain_b && ib < 0)
            ib = i;
        else if (f == (const void *)wk_chain_a && ia < 0)
            ia = i;
    }
    if (ic >= 0 && ib > ic && ia > ib)
        c->in_order++;
    if ((ib >= 0 && ic > ib) || (ia >= 0 && ib > ia))
        c->reversed++;
    /* The interrupted pc comes first: in c, or in c's clock read with c
     * right after the clock read's frames (at most 4: wk_chain_clock, a
     * sanitizer's interceptor, libc, the vDSO). */
    bool leaf_ok = ic == 0;
    if (ic > 0 && ic <= 4) {
        leaf_ok = true;
        for (int i = 0; i < ic; i++)
            leaf_ok = leaf_ok && wk_in_clock_read(s->pcs[i]);
        c->pc_in_clock += leaf_ok;
    }
    if (leaf_ok) {
        c->pc_in_c++;
    } else if (c->n_odd < 3) {
        char *o = c->odd[c->n_odd++];
        size_t len = sizeof c->odd[0], used = 0;
        o[0] = '\0';
        for (int i = 0; i < s->depth && i < 3 && used + 1 < len; i++) {
            char name[64];
            wk_pc_name(s->pcs[i], name, sizeof name);
            used += (size_t)snprintf(o + used, len - used, "%s%s", i ? " < " : "", name);
        }
    }
    return 0;
}

/* The default walker on a thread running a -> b -> c (c burning) until 40
 * samples are in: the samples' pcs hold c, b, a in that order (innermost
 * first) in nearly every sample, and never in another order; the first pc is
 * the interrupted one, in c or in c's clock read (clock_gettime is a syscall
 * here, and a signal that comes due during it is delivered as it returns).
 * The rest (at most 10%: the glue of a, b and the thread's loop, the clock
 * read under TSan, where the chain cannot be walked) is well under 1%. Loop 0: the thread
 * registers itself (bounds from pthread_getattr_np); loop 1: it is registered by tid
 * (bounds found from /proc/self/maps on its first sample). */
START_TEST(fp_walker_returns_known_chain)
{
    wk_start(NULL, NULL, 0);
    wk_worker w;
    wk_spawn(&w, _i == 0, true);
    wk_go(&w);
    wk_wait_samples(WK_CHAIN_SAMPLES, &w);
    wk_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
    wk_chain_scan c = {.tid = w.tid};
    ck_assert_sampler(tu_drain_all(wk_chain_cb, &c), 0);
    printf(
        "walker: chain (%s): %llu samples, %llu in order, leaf in c %llu, in its clock "
        "read %llu\n",
        _i == 0 ? "self" : "by tid", (unsigned long long)c.n,
        (unsigned long long)c.in_order, (unsigned long long)(c.pc_in_c - c.pc_in_clock),
        (unsigned long long)c.pc_in_clock);
    ck_assert_uint_ge(c.n, WK_CHAIN_SAMPLES);
    ck_assert_msg(c.in_order * 10 >= c.n * 9, "c, b, a in order in %llu of %llu samples",
                  (unsigned long long)c.in_order, (unsigned long long)c.n);
    ck_assert_msg(
        c.pc_in_c * 10 >= c.n * 9,
        "pc in c (or its clock read) in %llu of %llu samples; others: [%s] [%s] [%s]",
        (unsigned long long)c.pc_in_c, (unsigned long long)c.n, c.odd[0], c.odd[1],
        c.odd[2]);
    /* And c itself is the leaf in most: nothing is put before the
     * interrupted pc (the clock read is at most a few % of the samples). */
    ck_assert_msg(
        (c.pc_in_c - c.pc_in_clock) * 2 >= c.n, "pc in c itself in %llu of %llu samples",
        (unsigned long long)(c.pc_in_c - c.pc_in_clock), (unsigned long long)c.n);
    ck_assert_uint_eq(c.reversed, 0);
}
END_TEST

/* ---- a user walker ---------------------------------------------------------------- */


static int wk_walker_arg_token;

static uintptr_t wk_ctx_sp(const void *ucontext)
{
#if defined(__x86_64__)
    return (uintptr_t)((const ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((const ucontext_t *)ucontext)->uc_mcontext.sp;
#else
    (void)ucontext;
    return 0;
#endif
}

/* Async-signal-safe: atomics and a raw syscall only. */
static int wk_user_walker(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                          void *walker_arg)
{
    atomic_fetch_add(&wk_uw.calls, 1);
    if (ctx->ucontext == NULL) {
        atomic_fetch_add(&wk_uw.no_ucontext, 1);
    } else {
        uintptr_t sp = wk_ctx_sp(ctx->ucontext);
        if (!(ctx->stack_lo < sp && sp < ctx->stack_hi))
            atomic_fetch_add(&wk_uw.sp_outside, 1);
    }
    if (ctx->tid != atomic_load(&wk_uw.tid))
        atomic_fetch_add(&wk_uw.wrong_tid, 1);
    if (ctx->tid != (pid_t)syscall(SYS_gettid))
        atomic_fetch_add(&wk_uw.not_self, 1);
    if (ctx->thread_arg != wk_uw.thread_arg)
        atomic_fetch_add(&wk_uw.wrong_arg, 1);
    if (walker_arg != &wk_walker_arg_token)
        atomic_fetch_add(&wk_uw.wrong_walker_arg, 1);
    if (max_depth != wk_uw.max_depth)
        atomic_fetch_add(&wk_uw.wrong_max, 1);
    atomic_store(&wk_uw.lo, ctx->stack_lo);
    atomic_store(&wk_uw.hi, ctx->stack_hi);
    for (int i = 0; i < wk_uw.fill && i < max_depth; i++)
        pcs[i] = 0x1000 + (uintptr_t)i;
    return wk_uw.ret;
}

typedef struct wk_uscan {
    pid_t tid;
    void *arg;
    int want_depth;
    uint64_t n, wrong_depth, wrong_pcs, wrong_arg, wrong_tid;
} wk_uscan;

static int wk_uscan_cb(const sampler_sample *s, void *arg)
{
    wk_uscan *c = arg;
    c->n++;
    if (s->tid != c->tid)
        c->wrong_tid++;
    if (s->thread_arg != c->arg)
        c->wrong_arg++;
    if (s->depth != c->want_depth)
        c->wrong_depth++;
    for (int i = 0; i < s->depth && i < c->want_depth; i++)
        if (s->pcs[i] != 0x1000 + (uintptr_t)i) {
            c->wrong_pcs++;
            break;
        }
    return 0;
}

/* Run wk_user_walker (returning `ret` after writing `fill` pcs) on a burning
 * thread until `nsamples` samples are stored; check what it saw and drain. */
static void wk_user_run(bool self_register, int max_depth, int ret, int fill, int want_depth,
                        uint64_t nsamples, wk_worker *w)
{
    memset(&wk_uw, 0, sizeof wk_uw);
    wk_uw.thread_arg = w;
    wk_uw.max_depth = max_depth;
    wk_uw.ret = ret;
    wk_uw.fill = fill;
    wk_start(wk_user_walker, &wk_walker_arg_token, max_depth);
    wk_spawn(w, self_register, false);
    wk_go(w);
    wk_wait_samples(nsamples, w);
    wk_join(w);
    ck_assert_sampler(sampler_stop(), 0);

    int calls = atomic_load(&wk_uw.calls);
    int no_uc = atomic_load(&wk_uw.no_ucontext), bad_tid = atomic_load(&wk_uw.wrong_tid),
        not_self = atomic_load(&wk_uw.not_self), bad_arg = atomic_load(&wk_uw.wrong_arg),
        bad_warg = atomic_load(&wk_uw.wrong_walker_arg), bad_max = atomic_load(&wk_uw.wrong_max);
    ck_assert_int_gt(calls, 0);
    ck_assert_msg(no_uc == 0, "%d of %d walks without a ucontext", no_uc, calls);
    ck_assert_msg(bad_tid == 0, "%d of %d walks with another thread's tid", bad_tid, calls);
    ck_assert_msg(not_self == 0, "%d of %d walks not on the sampled thread", not_self, calls);
    ck_assert_msg(bad_arg == 0, "%d of %d walks with a wrong thread_arg", bad_arg, calls);
    ck_assert_msg(bad_warg == 0, "%d of %d walks with a wrong walker_arg", bad_warg, calls);
    ck_assert_msg(bad_max == 0, "%d of %d walks with a wrong max_depth", bad_max, calls);

    sampler_stats st = tu_stats();
    wk_uscan c = {.tid = w->tid, .arg = w, .want_depth = want_depth};
    ck_assert_sampler(tu_drain_all(wk_uscan_cb, &c), 0);
    /* Every walk became a stored sample, frames or not. */
    ck_assert_uint_eq(st.samples, (uint64_t)calls);
    ck_assert_uint_eq(c.n, st.samples);
    ck_assert_uint_eq(c.wrong_tid, 0);
    ck_assert_uint_eq(c.wrong_arg, 0);
    ck_assert_msg(c.wrong_depth == 0, "walker returned %d (max_depth %d): %llu samples "
                  "without depth %d", ret, max_depth, (unsigned long long)c.wrong_depth,
                  want_depth);
    ck_assert_uint_eq(c.wrong_pcs, 0);
}

/* A user walker gets the interrupted ucontext, the thread's own tid (it runs
 * on that thread), the registration arg, the config's walker_arg and
 * max_depth, and stack bounds that hold both the interrupted stack pointer and
 * a local variable of the thread; what it writes is stored. Loop 0: the thread
 * registered itself; loop 1: registered by tid. */
START_TEST(user_walker_gets_context)
{
    wk_worker w;
    wk_user_run(_i == 0, 8, 3, 3, 3, 5, &w);
    int outside = atomic_load(&wk_uw.sp_outside);
    ck_assert_msg(outside == 0, "%d walks with the stack pointer outside the bounds", outside);
    uintptr_t lo = atomic_load(&wk_uw.lo), hi = atomic_load(&wk_uw.hi);
    ck_assert_msg(lo != 0 && lo < w.local_addr && w.local_addr < hi,
                  "stack bounds [%#lx, %#lx) do not hold a local at %#lx", (unsigned long)lo,
                  (unsigned long)hi, (unsigned long)w.local_addr);
}
END_TEST

/* What a walker returns, and the depth stored (max_depth 4): 0 frames is a
 * sample without frames; 2 and 4 are kept; negative or > max_depth is 0. */
static const int wk_returns[][3] = {
    /* ret, pcs written, depth stored */
    {0, 0, 0}, {2, 2, 2}, {4, 4, 4}, {-1, 2, 0}, {INT_MIN, 0, 0}, {5, 4, 0}, {INT_MAX, 4, 0},
};

START_TEST(user_walker_return_value_is_clamped)
{
    wk_worker w;
    wk_user_run(true, 4, wk_returns[_i][0], wk_returns[_i][1], wk_returns[_i][2], 3, &w);
}
END_TEST

/* A wrapper walker that hides the stack bounds from sampler_walk_fp(): the
 * walker then returns exactly the interrupted pc (depth 1 in every sample). */
static int wk_no_bounds_walker(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                               void *walker_arg)
{
    sampler_walk_ctx c = *ctx;
    c.stack_lo = c.stack_hi = 0;
    return sampler_walk_fp(&c, pcs, max_depth, walker_arg);
}

typedef struct wk_dscan {
    uint64_t n, not_one;
} wk_dscan;

static int wk_dscan_cb(const sampler_sample *s, void *arg)
{
    wk_dscan *c = arg;
    c->n++;
    c->not_one += s->depth != 1 || s->pcs[0] == 0;
    return 0;
}

START_TEST(fp_walker_without_bounds_gives_only_pc)
{
    wk_start(wk_no_bounds_walker, NULL, 0);
    wk_worker w;
    wk_spawn(&w, true, false);
    wk_go(&w);
    wk_wait_samples(5, &w);
    wk_join(&w);
    ck_assert_sampler(sampler_stop(), 0);
    wk_dscan c = {0};
    ck_assert_sampler(tu_drain_all(wk_dscan_cb, &c), 0);
    ck_assert_uint_ge(c.n, 5);
    ck_assert_uint_eq(c.not_one, 0);
}
END_TEST

/* ---- sampler_walk_fp on crafted frames (no signal) --------------------------------- */

#if defined(__x86_64__) || defined(__aarch64__)
#define WK_HAVE_FAKE_CTX 1
static void wk_fake_regs(ucontext_t *uc, uintptr_t pc, uintptr_t fp, uintptr_t sp)
{
    memset(uc, 0, sizeof *uc);
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
    uc->uc_mcontext.gregs[REG_RBP] = (greg_t)fp;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
#else
    uc->uc_mcontext.pc = pc;
    uc->uc_mcontext.regs[29] = fp;
    uc->uc_mcontext.sp = sp;
#endif
}
#endif

#define WK_PC 0x4242UL
#define WK_BAD 0xBADUL /* a return address the walker must never reach */
#define WK_SENTINEL ((uintptr_t)0x5e5e5e5e)

/* A fake stack: 128 words, frame records placed by the tests. */
typedef struct wk_fake {
    uintptr_t mem[128];
    ucontext_t uc;
    sampler_walk_ctx ctx;
    uintptr_t pcs[40];
} wk_fake;

/* Frame record at word `at`: [next frame pointer, return address]. */
static void wk_frame(wk_fake *f, int at, uintptr_t next, uintptr_t ret)
{
    f->mem[at] = next;
    f->mem[at + 1] = ret;
}

static uintptr_t wk_addr(wk_fake *f, int word)
{
    return (uintptr_t)&f->mem[word];
}

/* Bounds [mem[lo], mem[hi]), sp at mem[sp], fp at mem[fp]. */
static void wk_setup(wk_fake *f, int lo, int hi, int sp, uintptr_t fp)
{
    wk_fake_regs(&f->uc, WK_PC, fp, wk_addr(f, sp));
    f->ctx.ucontext = &f->uc;
    f->ctx.tid = tu_gettid();
    f->ctx.stack_lo = wk_addr(f, lo);
    f->ctx.stack_hi = wk_addr(f, hi);
    for (size_t i = 0; i < sizeof f->pcs / sizeof f->pcs[0]; i++)
        f->pcs[i] = WK_SENTINEL;
}

static int wk_walk(wk_fake *f, int max_depth)
{
    return sampler_walk_fp(&f->ctx, f->pcs, max_depth, NULL);
}

static wk_fake wk_f;

static void wk_fake_setup(void)
{
    memset(&wk_f, 0, sizeof wk_f);
}

/* A well-formed chain inside the bounds comes back whole, innermost first,
 * ending at a frame whose next pointer does not go up (here 0). */
START_TEST(walk_fp_follows_crafted_chain)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 10), 0x11);
    wk_frame(f, 10, wk_addr(f, 20), 0x22);
    wk_frame(f, 20, wk_addr(f, 30), 0x33);
    wk_frame(f, 30, 0, 0x44);
    ck_assert_int_eq(wk_walk(f, 32), 5);
    const uintptr_t want[] = {WK_PC, 0x11, 0x22, 0x33, 0x44};
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(f->pcs[i], want[i]);
    ck_assert_uint_eq(f->pcs[5], WK_SENTINEL);
}
END_TEST

/* Unknown bounds (0, 0): exactly one frame, the pc, even though the frame
 * pointer leads to a readable well-formed record. */
START_TEST(walk_fp_unknown_bounds_gives_one_frame)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 10), WK_BAD);
    f->ctx.stack_lo = f->ctx.stack_hi = 0;
    ck_assert_int_eq(wk_walk(f, 32), 1);
    ck_assert_uint_eq(f->pcs[0], WK_PC);
    ck_assert_uint_eq(f->pcs[1], WK_SENTINEL);
}
END_TEST

/* A chain that leaves the bounds (upwards, to a record that looks valid) stops
 * at the last record inside: nothing beyond stack_hi is read. */
START_TEST(walk_fp_stops_when_chain_leaves_bounds)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 20), 0x11);
    wk_frame(f, 20, wk_addr(f, 80), 0x22); /* next is outside */
    wk_frame(f, 80, wk_addr(f, 90), WK_BAD);
    wk_frame(f, 90, 0, WK_BAD);
    ck_assert_int_eq(wk_walk(f, 32), 3);
    ck_assert_uint_eq(f->pcs[2], 0x22);
    ck_assert_uint_eq(f->pcs[3], WK_SENTINEL);
}
END_TEST

/* The last two words below stack_hi hold a valid record; a record that would
 * need the word at stack_hi is refused. */
START_TEST(walk_fp_respects_top_edge)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 62), 0x11);
    wk_frame(f, 62, wk_addr(f, 63), 0x22); /* mem[62..63]: inside */
    f->mem[64] = WK_BAD;                   /* mem[63..64]: straddles stack_hi */
    ck_assert_int_eq(wk_walk(f, 32), 3);
    ck_assert_uint_eq(f->pcs[2], 0x22);
    ck_assert_uint_eq(f->pcs[3], WK_SENTINEL);
}
END_TEST

/* A frame pointer below the interrupted stack pointer (stale, not a live
 * frame) is not followed, though it is inside [stack_lo, stack_hi). */
START_TEST(walk_fp_ignores_frames_below_sp)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 16, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 20), WK_BAD);
    wk_frame(f, 20, 0, WK_BAD);
    ck_assert_int_eq(wk_walk(f, 32), 1);
    ck_assert_uint_eq(f->pcs[1], WK_SENTINEL);
}
END_TEST

/* A misaligned frame pointer is not followed. */
START_TEST(walk_fp_rejects_misaligned_fp)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4) + 4);
    wk_frame(f, 4, wk_addr(f, 20), WK_BAD);
    wk_frame(f, 5, wk_addr(f, 20), WK_BAD);
    ck_assert_int_eq(wk_walk(f, 32), 1);
    ck_assert_uint_eq(f->pcs[1], WK_SENTINEL);
}
END_TEST

/* A chain that does not go strictly up the stack (a loop to itself, or back
 * down) ends after the record that points back: no endless walk. */
START_TEST(walk_fp_stops_on_loop_or_descent)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 10));
    wk_frame(f, 10, wk_addr(f, 10), 0x11); /* points to itself */
    ck_assert_int_eq(wk_walk(f, 32), 2);
    ck_assert_uint_eq(f->pcs[1], 0x11);
    ck_assert_uint_eq(f->pcs[2], WK_SENTINEL);

    wk_setup(f, 0, 64, 0, wk_addr(f, 10));
    wk_frame(f, 10, wk_addr(f, 20), 0x11);
    wk_frame(f, 20, wk_addr(f, 6), 0x22); /* back down */
    wk_frame(f, 6, wk_addr(f, 10), WK_BAD);
    ck_assert_int_eq(wk_walk(f, 32), 3);
    ck_assert_uint_eq(f->pcs[2], 0x22);
    ck_assert_uint_eq(f->pcs[3], WK_SENTINEL);
}
END_TEST

/* A return address of 0 ends the chain. */
START_TEST(walk_fp_stops_at_zero_return_address)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 10), 0x11);
    wk_frame(f, 10, wk_addr(f, 20), 0);
    wk_frame(f, 20, 0, WK_BAD);
    ck_assert_int_eq(wk_walk(f, 32), 2);
    ck_assert_uint_eq(f->pcs[2], WK_SENTINEL);
}
END_TEST

/* max_depth bounds what is written: a 20-record chain with max_depth 5 gives
 * 5 entries and leaves pcs[5] untouched; max_depth 1 gives the pc only. */
START_TEST(walk_fp_respects_max_depth)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 0));
    for (int i = 0; i < 20; i++)
        wk_frame(f, 2 * i, wk_addr(f, 2 * i + 2), 0x100 + (uintptr_t)i);
    wk_frame(f, 40, 0, 0x100 + 20);
    ck_assert_int_eq(wk_walk(f, 5), 5);
    ck_assert_uint_eq(f->pcs[4], 0x103);
    ck_assert_uint_eq(f->pcs[5], WK_SENTINEL);
    ck_assert_int_eq(wk_walk(f, 1), 1);
    ck_assert_int_eq(wk_walk(f, 40), 22);
}
END_TEST

/* NULL context, NULL ucontext, NULL pcs or max_depth < 1: nothing written. */
START_TEST(walk_fp_rejects_bad_arguments)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    ck_assert_int_eq(sampler_walk_fp(NULL, f->pcs, 8, NULL), 0);
    ck_assert_int_eq(sampler_walk_fp(&f->ctx, NULL, 8, NULL), 0);
    ck_assert_int_eq(sampler_walk_fp(&f->ctx, f->pcs, 0, NULL), 0);
    ck_assert_int_eq(sampler_walk_fp(&f->ctx, f->pcs, -1, NULL), 0);
    f->ctx.ucontext = NULL;
    ck_assert_int_eq(sampler_walk_fp(&f->ctx, f->pcs, 8, NULL), 0);
    ck_assert_uint_eq(f->pcs[0], WK_SENTINEL);
}
END_TEST

/* Bounds too small to hold any frame record ([0, 8)) must not wrap around:
 * the walker may not read a record outside them. */
START_TEST(walk_fp_tiny_bounds_do_not_wrap)
{
    wk_fake *f = &wk_f;
    wk_setup(f, 0, 64, 0, wk_addr(f, 4));
    wk_frame(f, 4, wk_addr(f, 10), WK_BAD);
    wk_fake_regs(&f->uc, WK_PC, wk_addr(f, 4), 0);
    f->ctx.stack_lo = 0;
    f->ctx.stack_hi = 8;
    ck_assert_int_eq(wk_walk(f, 32), 1);
    ck_assert_uint_eq(f->pcs[1], WK_SENTINEL);
}
END_TEST

Suite *walker_suite(void)
{
    Suite *s = suite_create("walker");
    TCase *tc = tcase_create("signal");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, fp_walker_returns_known_chain, 0, 2);
    tcase_add_loop_test(tc, user_walker_gets_context, 0, 2);
    tcase_add_loop_test(tc, user_walker_return_value_is_clamped, 0,
                        (int)(sizeof wk_returns / sizeof wk_returns[0]));
    tcase_add_test(tc, fp_walker_without_bounds_gives_only_pc);
    suite_add_tcase(s, tc);

#ifdef WK_HAVE_FAKE_CTX
    tc = tcase_create("fp_unit");
    tcase_add_checked_fixture(tc, wk_fake_setup, NULL);
    tcase_add_test(tc, walk_fp_follows_crafted_chain);
    tcase_add_test(tc, walk_fp_unknown_bounds_gives_one_frame);
    tcase_add_test(tc, walk_fp_stops_when_chain_leaves_bounds);
    tcase_add_test(tc, walk_fp_respects_top_edge);
    tcase_add_test(tc, walk_fp_ignores_frames_below_sp);
    tcase_add_test(tc, walk_fp_rejects_misaligned_fp);
    tcase_add_test(tc, walk_fp_stops_on_loop_or_descent);
    tcase_add_test(tc, walk_fp_stops_at_zero_return_address);
    tcase_add_test(tc, walk_fp_respects_max_depth);
    tcase_add_test(tc, walk_fp_rejects_bad_arguments);
    tcase_add_test(tc, walk_fp_tiny_bounds_do_not_wrap);
    suite_add_tcase(s, tc);
#endif
    return s;
}
