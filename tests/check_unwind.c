/*
 * unwind suite: the libunwind walker (sampler_walk_libunwind()).
 *
 * A chain un_nofp_a -> un_nofp_b -> un_nofp_c built with -fomit-frame-pointer
 * (unwind_nofp.c) is seen complete, in order, by the libunwind walker, and
 * cut short by the frame-pointer walker (the control: it shows the chain
 * really has no frame records). The walker keeps the frames from the
 * interrupted pc on and falls back to that pc alone when the pc is not on
 * the walked stack. A thread registered by tid (its libunwind cache made in
 * the handler) is walked too.
 *
 * Built without libunwind, only the stub is checked: it reports itself
 * unavailable and records the interrupted pc.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "unwind_nofp.h"

#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>

#define UN_INTERVAL_NS 4000000ULL     /* one sample per 4 ms of CPU */
#define UN_WANT 20                    /* samples inside the chain */
#define UN_LIMIT_NS 20000000000ULL    /* give up after 20 s */

#if defined(__x86_64__)
#define UN_SET_PC(uc, v) ((uc)->uc_mcontext.gregs[REG_RIP] = (greg_t)(v))
#elif defined(__aarch64__)
#define UN_SET_PC(uc, v) ((uc)->uc_mcontext.pc = (v))
#endif

/* The function a program counter lies in, by its dynamic symbol; frames
 * after the first are return addresses, so look one byte back. */
static const char *un_name(const sampler_sample *s, int i)
{
    Dl_info info;
    uintptr_t pc = s->pcs[i] - (i > 0 ? 1 : 0);
    if (dladdr((void *)pc, &info) == 0 || info.dli_sname == NULL)
        return "";
    return info.dli_sname;
}

typedef struct un_count {
    int all;      /* samples */
    int in_chain; /* samples with un_nofp_c in their stack */
    int complete; /* ... and un_nofp_b, un_nofp_a after it, in that order */
    int a_and_b;  /* ... with both un_nofp_a and un_nofp_b anywhere */
    char example[256];
} un_count;

static int un_classify(const sampler_sample *s, void *arg)
{
    un_count *c = arg;
    int ia = -1, ib = -1, ic = -1;
    for (int i = 0; i < s->depth; i++) {
        const char *n = un_name(s, i);
        if (ic < 0 && strcmp(n, "un_nofp_c") == 0)
            ic = i;
        else if (ib < 0 && strcmp(n, "un_nofp_b") == 0)
            ib = i;
        else if (ia < 0 && strcmp(n, "un_nofp_a") == 0)
            ia = i;
    }
    c->all++;
    if (ic < 0)
        return 0;
    c->in_chain++;
    if (ib > ic && ia > ib)
        c->complete++;
    else if (c->example[0] == '\0') {
        size_t off = 0;
        for (int i = 0; i < s->depth && i < 8 && off < sizeof c->example - 40; i++)
            off += (size_t)snprintf(c->example + off, sizeof c->example - off, "%s;",
                                    un_name(s, i)[0] ? un_name(s, i) : "?");
    }
    if (ia >= 0 && ib >= 0)
        c->a_and_b++;
    return 0;
}

/* Run the chain on the calling thread (registered) until UN_WANT samples
 * landed in it. */
static void un_run_chain(un_count *c)
{
    volatile int stop = 0;
    uint64_t t0 = tu_now_ns();
    while (c->in_chain < UN_WANT && tu_now_ns() - t0 < UN_LIMIT_NS) {
        un_nofp_a(50000000ULL, &stop);
        ck_assert_int_ge(sampler_drain(un_classify, c, 0), 0);
    }
}

static void un_start(sampler_walker_fn walker)
{
    sampler_config cfg;
    tu_config(&cfg, UN_INTERVAL_NS);
    cfg.walker = walker;
    cfg.max_depth = 64;
    ck_assert_sampler(sampler_start(&cfg), 0);
}

START_TEST(test_libunwind_chain_complete)
{
    un_count c = {0};
    un_start(sampler_walk_libunwind);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    un_run_chain(&c);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_ge(sampler_drain(un_classify, &c, 0), 0);
    ck_assert_msg(c.in_chain >= UN_WANT, "only %d of %d samples in the chain", c.in_chain,
                  c.all);
    /* Every walk through the chain is complete: c, b, a in order. */
    ck_assert_msg(c.complete == c.in_chain,
                  "%d of %d samples in un_nofp_c lack b or a (e.g. %s)",
                  c.in_chain - c.complete, c.in_chain, c.example);
}
END_TEST

START_TEST(test_fp_chain_truncated)
{
    un_count c = {0};
    un_start(sampler_walk_fp);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    un_run_chain(&c);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_ge(sampler_drain(un_classify, &c, 0), 0);
    ck_assert_msg(c.in_chain >= UN_WANT, "only %d of %d samples in the chain", c.in_chain,
                  c.all);
    /* Without frame records b and a cannot both be found. */
    ck_assert_msg(c.a_and_b == 0, "%d of %d FP walks found both a and b", c.a_and_b,
                  c.in_chain);
}
END_TEST

/* ---- a thread registered by tid: its libunwind cache is made in the handler -- */

static struct {
    sem_t ready, go;
    atomic_int tid;
    volatile int stop;
} un_thr;

static void *un_thread(void *arg)
{
    (void)arg;
    atomic_store(&un_thr.tid, tu_gettid());
    sem_post(&un_thr.ready);
    sem_wait(&un_thr.go);
    while (!un_thr.stop)
        un_nofp_a(50000000ULL, &un_thr.stop);
    return NULL;
}

START_TEST(test_libunwind_by_tid)
{
    un_count c = {0};
    sem_init(&un_thr.ready, 0, 0);
    sem_init(&un_thr.go, 0, 0);
    un_thr.stop = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, un_thread, NULL), 0);
    sem_wait(&un_thr.ready);
    un_start(sampler_walk_libunwind);
    ck_assert_sampler(sampler_thread_register_tid(atomic_load(&un_thr.tid), NULL), 0);
    sem_post(&un_thr.go);
    uint64_t t0 = tu_now_ns();
    while (c.in_chain < UN_WANT && tu_now_ns() - t0 < UN_LIMIT_NS) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        ck_assert_int_ge(sampler_drain(un_classify, &c, 0), 0);
    }
    un_thr.stop = 1;
    pthread_join(t, NULL);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_ge(sampler_drain(un_classify, &c, 0), 0);
    ck_assert_msg(c.in_chain >= UN_WANT, "only %d of %d samples in the chain", c.in_chain,
                  c.all);
    ck_assert_msg(c.complete == c.in_chain,
                  "%d of %d samples in un_nofp_c lack b or a (e.g. %s)",
                  c.in_chain - c.complete, c.in_chain, c.example);
}
END_TEST

/* ---- called directly, outside a handler ---------------------------------- */

/* The walk from here passes our return address: given it as the "interrupted"
 * pc, the walker keeps it and what lies above it. */
static __attribute__((noinline)) int un_walk_from_caller(ucontext_t *uc, uintptr_t *pcs,
                                                         int max, uintptr_t *ra)
{
    *ra = (uintptr_t)__builtin_return_address(0);
    UN_SET_PC(uc, *ra);
    sampler_walk_ctx ctx = {.ucontext = uc, .tid = tu_gettid()};
    int n = sampler_walk_libunwind(&ctx, pcs, max, NULL);
    __asm__ volatile("" ::: "memory"); /* no tail call */
    return n;
}

START_TEST(test_libunwind_trims_and_falls_back)
{
    un_start(sampler_walk_libunwind); /* prepares libunwind on this thread */
    ucontext_t uc;
    ck_assert_int_eq(getcontext(&uc), 0);
    uintptr_t pcs[16], ra = 0;

    int n = un_walk_from_caller(&uc, pcs, 16, &ra);
    ck_assert_int_ge(n, 2);
    ck_assert_msg(pcs[0] == ra, "pcs[0] %#lx, want our return address %#lx",
                  (unsigned long)pcs[0], (unsigned long)ra);
    ck_assert_int_eq(un_walk_from_caller(&uc, pcs, 1, &ra), 1);

    /* A pc that is on no walked frame: that pc alone. */
    UN_SET_PC(&uc, 0x1000);
    sampler_walk_ctx ctx = {.ucontext = &uc, .tid = tu_gettid()};
    ck_assert_int_eq(sampler_walk_libunwind(&ctx, pcs, 16, NULL), 1);
    ck_assert_uint_eq(pcs[0], 0x1000);
    ck_assert_int_eq(sampler_walk_libunwind(NULL, pcs, 16, NULL), 0);
    ck_assert_int_eq(sampler_walk_libunwind(&ctx, pcs, 0, NULL), 0);
    ck_assert_sampler(sampler_stop(), 0);
}
END_TEST

START_TEST(test_stub_records_pc)
{
    ck_assert_int_eq(sampler_walk_libunwind_available(), 0);
    ucontext_t uc;
    ck_assert_int_eq(getcontext(&uc), 0);
    UN_SET_PC(&uc, 0x1000);
    sampler_walk_ctx ctx = {.ucontext = &uc, .tid = tu_gettid()};
    uintptr_t pcs[4];
    ck_assert_int_eq(sampler_walk_libunwind(&ctx, pcs, 4, NULL), 1);
    ck_assert_uint_eq(pcs[0], 0x1000);
}
END_TEST

Suite *unwind_suite(void)
{
    Suite *s = suite_create("unwind");
    TCase *tc = tcase_create("unwind");
    tcase_set_timeout(tc, 60);
    if (sampler_walk_libunwind_available()) {
        /* Under TSan our handler runs later, from TSan's own signal dispatch:
         * unw_backtrace() then starts on TSan's frames and the interrupted
         * pc is not on that stack, so only the direct-call test runs there
         * (docs/TESTING.md). */
        if (!TU_TSAN) {
            tcase_add_test(tc, test_libunwind_chain_complete);
            tcase_add_test(tc, test_fp_chain_truncated);
            tcase_add_test(tc, test_libunwind_by_tid);
        }
        tcase_add_test(tc, test_libunwind_trims_and_falls_back);
    } else {
        tcase_add_test(tc, test_stub_records_pc);
    }
    suite_add_tcase(s, tc);
    return s;
}
