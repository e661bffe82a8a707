/*
 * modules suite: a library unloaded (dlclose) and replaced by another at the
 * same address never lends the other's function names to samples it did not
 * take. Two shared libraries built from tests/modlib.c, tm_liba.so and
 * tm_libb.so, hold the same code under different names (tm_a_burn,
 * tm_b_burn), so every pc of A falls on the same instruction of B when B is
 * loaded where A was (glibc reuses the address; a test that sees otherwise
 * says "skipped" and checks nothing).
 *
 * Names a sample in A may get, by what the profile knows (docs/ARCHITECTURE.md,
 * "Modules"): `tm_a_burn` (libdw reads the unloaded file, build id checked),
 * `tm_liba.so+0xOFFSET` (dladdr backend: A is gone), or `[unknown]` when the
 * sample may have been taken before or after the swap. Never `tm_b_burn`.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sampler/profile.h>

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SAMPLER_TEST_PPROF
#include <zlib.h>

#include "sampler_pprof.pb-c.h"
#endif

#ifndef TM_LIBDIR
#error "tests/Makefile.am sets TM_LIBDIR: where tm_liba.so and tm_libb.so are"
#endif

#define TM_INTERVAL_NS 1000000ULL
#define TM_BURN_NS 300000000ULL /* CPU time burnt in a library per case */

/* ---- the two libraries ------------------------------------------------------- */

typedef uint64_t (*tm_burn_fn)(uint64_t iters);

typedef struct tm_lib {
    char which; /* 'a' or 'b' */
    char path[512];
    char func[16]; /* tm_a_burn */
    void *h;
    tm_burn_fn fn;
    uintptr_t fn_addr;
    uintptr_t base;             /* lowest address of the library (dladdr's dli_fbase) */
    uintptr_t text_lo, text_hi; /* its executable segment */
} tm_lib;

static int tm_text_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    tm_lib *l = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (l->fn_addr >= lo && l->fn_addr < hi) {
            l->text_lo = lo;
            l->text_hi = hi;
            return 1;
        }
    }
    return 0;
}

static void tm_open(tm_lib *l, char which)
{
    memset(l, 0, sizeof *l);
    l->which = which;
    snprintf(l->path, sizeof l->path, "%s/tm_lib%c.so", TM_LIBDIR, which);
    snprintf(l->func, sizeof l->func, "tm_%c_burn", which);
    l->h = dlopen(l->path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(l->h != NULL, "dlopen %s: %s", l->path, dlerror());
    void *sym = dlsym(l->h, l->func);
    ck_assert_msg(sym != NULL, "dlsym %s: %s", l->func, dlerror());
    memcpy(&l->fn, &sym, sizeof l->fn);
    l->fn_addr = (uintptr_t)sym;
    Dl_info info;
    ck_assert_int_ne(dladdr(sym, &info), 0);
    l->base = (uintptr_t)info.dli_fbase;
    dl_iterate_phdr(tm_text_cb, l);
    ck_assert_msg(l->text_lo < l->text_hi, "no text segment for %s", l->func);
}

static void tm_close(tm_lib *l)
{
    ck_assert_int_eq(dlclose(l->h), 0);
    l->h = NULL;
    void *again = dlopen(l->path, RTLD_NOW | RTLD_NOLOAD);
    ck_assert_msg(again == NULL, "%s is still loaded after dlclose", l->path);
}

/* Did B land where A was? Prints and returns false if not (the caller skips). */
static bool tm_reused(const char *test, const tm_lib *a, const tm_lib *b)
{
    bool overlap = b->text_lo < a->text_hi && a->text_lo < b->text_hi;
    fprintf(stderr,
            "modules: %s: A's text %#" PRIxPTR "-%#" PRIxPTR ", B's %#" PRIxPTR
            "-%#" PRIxPTR ", %s at %#" PRIxPTR ", %s at %#" PRIxPTR "%s\n",
            test, a->text_lo, a->text_hi, b->text_lo, b->text_hi, a->func, a->fn_addr,
            b->func, b->fn_addr,
            overlap ? "" : ": B was not loaded over A's old address: skipped");
    return overlap;
}

/* Burn `cpu_ns` of this thread's CPU time in l's function (the leaf), in
 * chunks of about a millisecond; drain into p after each chunk unless NULL. */
static void tm_burn(const tm_lib *l, uint64_t cpu_ns, sampler_profile *p)
{
    uint64_t end = tu_thread_cpu_ns() + cpu_ns;
    uint64_t deadline = tu_now_ns() + 60000000000ULL;
    do {
        l->fn(300000);
        if (p != NULL)
            ck_assert_int_ge(sampler_profile_drain(p), 0);
    } while (tu_thread_cpu_ns() < end && tu_now_ns() < deadline);
    ck_assert_msg(tu_thread_cpu_ns() >= end,
                  "could not burn %" PRIu64 " ms of CPU in 60 s", cpu_ns / 1000000);
}

static void tm_sample_start(void)
{
    tu_start(TM_INTERVAL_NS);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
}

/* Open A, sample it into a new profile (drained while it burns), stop the
 * sampler and drain what is left: A stays loaded. */
static sampler_profile *tm_profile_of_a(tm_lib *a)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    tm_open(a, 'a');
    tm_sample_start();
    tm_burn(a, TM_BURN_NS, p);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_ge(sampler_profile_drain(p), 0);
    return p;
}

/* ---- folded output --------------------------------------------------------------- */

static char *tm_folded(sampler_profile *p, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_sampler(sampler_profile_write_folded(p, f, flags), 0);
    fclose(f);
    return buf;
}

/* Weight of the lines whose leaf is `name` (ending in '*': starts with it),
 * or, with name NULL, whose leaf is an address in [lo, hi). */
static uint64_t tm_leaf_weight(const char *text, const char *name, uintptr_t lo,
                               uintptr_t hi)
{
    uint64_t w = 0;
    for (const char *line = text; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "folded output: unterminated line");
        const char *sp = nl;
        while (sp > line && sp[-1] != ' ')
            sp--;
        ck_assert_msg(sp > line + 1, "folded line without weight: %.*s", (int)(nl - line),
                      line);
        const char *leaf = sp - 1;
        while (leaf > line && leaf[-1] != ';')
            leaf--;
        size_t len = (size_t)(sp - 1 - leaf);
        uint64_t lw = strtoull(sp, NULL, 10);
        if (name == NULL) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), leaf);
            uintptr_t pc = (uintptr_t)strtoull(buf, NULL, 16);
            if (pc >= lo && pc < hi)
                w += lw;
        } else {
            size_t nlen = strlen(name);
            bool prefix = nlen > 0 && name[nlen - 1] == '*';
            if (prefix ? len >= nlen - 1 && strncmp(leaf, name, nlen - 1) == 0
                       : len == nlen && strncmp(leaf, name, nlen) == 0)
                w += lw;
        }
        line = nl + 1;
    }
    return w;
}

/* The name A's samples get when A is gone and nothing else is in doubt:
 * libdw reads A's file; dladdr only knows loaded objects. */
static const char *tm_gone_name(void)
{
    return (sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW) ? "tm_a_burn"
                                                                     : "tm_liba.so+0x*";
}

/* ---- pprof: per location, the name next to its address ----------------------------- */

#ifdef SAMPLER_TEST_PPROF
static SamplerPprof__Profile *tm_read_pprof(sampler_profile *p)
{
    char path[] = "/tmp/sampler-modules-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_sampler(sampler_profile_write_pprof(p, path), 0);
    size_t n;
    uint8_t *buf = tu_gunzip_file(path, &n);
    unlink(path);
    SamplerPprof__Profile *pr = sampler__pprof__profile__unpack(NULL, n, buf);
    free(buf);
    ck_assert_ptr_nonnull(pr);
    return pr;
}

static bool tm_name_ok(const char *name, const char *const *allowed)
{
    for (; *allowed != NULL; allowed++) {
        size_t n = strlen(*allowed);
        if ((*allowed)[n - 1] == '*' ? strncmp(name, *allowed, n - 1) == 0
                                     : strcmp(name, *allowed) == 0)
            return true;
    }
    return false;
}
#endif

/* In the pprof output: no function is named `forbidden`; every location in
 * [lo, hi) is named one of `allowed` (NULL-terminated; '*' ends a prefix),
 * and its mapping (if any) is not a file named `bad_map`; the samples whose
 * leaf is there weigh `want`. Nothing without pprof. */
static void tm_check_pprof(sampler_profile *p, const char *forbidden, uintptr_t lo,
                           uintptr_t hi, const char *const *allowed, const char *bad_map,
                           uint64_t want)
{
#ifdef SAMPLER_TEST_PPROF
    SamplerPprof__Profile *pr = tm_read_pprof(p);
    for (size_t i = 0; i < pr->n_function; i++)
        ck_assert_msg(strcmp(pr->string_table[pr->function[i]->name], forbidden) != 0,
                      "pprof: a function is named %s", forbidden);
    uint64_t w = 0;
    for (size_t i = 0; i < pr->n_sample; i++) {
        SamplerPprof__Sample *s = pr->sample[i];
        if (s->n_location_id == 0)
            continue;
        for (size_t k = 0; k < pr->n_location; k++) {
            const SamplerPprof__Location *loc = pr->location[k];
            if (loc->id != s->location_id[0])
                continue;
            if (loc->address >= lo && loc->address < hi)
                w += (uint64_t)s->value[0];
        }
    }
    for (size_t k = 0; k < pr->n_location; k++) {
        const SamplerPprof__Location *loc = pr->location[k];
        if (loc->address < lo || loc->address >= hi)
            continue;
        ck_assert_uint_eq(loc->n_line, 1);
        const char *name = NULL;
        for (size_t j = 0; j < pr->n_function; j++)
            if (pr->function[j]->id == loc->line[0]->function_id)
                name = pr->string_table[pr->function[j]->name];
        ck_assert_ptr_nonnull(name);
        ck_assert_msg(tm_name_ok(name, allowed),
                      "pprof: location %#" PRIx64 " is named %s", loc->address, name);
        for (size_t j = 0; j < pr->n_mapping; j++)
            if (pr->mapping[j]->id == loc->mapping_id) {
                const char *file = pr->string_table[pr->mapping[j]->filename];
                const char *base = strrchr(file, '/');
                ck_assert_msg(strcmp(base != NULL ? base + 1 : file, bad_map) != 0,
                              "pprof: location %#" PRIx64 " (%s) is in mapping %s",
                              loc->address, name, file);
            }
    }
    ck_assert_uint_eq(w, want);
    sampler__pprof__profile__free_unpacked(pr, NULL);
#else
    (void)p, (void)forbidden, (void)lo, (void)hi, (void)allowed, (void)bad_map,
        (void)want;
#endif
}

/* A's samples must have been taken in A for a case to mean anything (under
 * TSan too: the library is not instrumented, and TSan runs the handler at
 * once there; seen: the same weights as without TSan). */
static void tm_require_samples(const char *test, uint64_t w)
{
    fprintf(stderr, "modules: %s: weight %" PRIu64 " with the leaf in A's text\n", test,
            w);
    ck_assert_msg(w >= 10, "%s: only %" PRIu64 " samples in A's text", test, w);
}

/* ---- tests ------------------------------------------------------------------------ */

/* A's samples are in the profile before A is unloaded: the profile saw A,
 * so they keep A's name (or A's module) after B took A's place. */
START_TEST(test_drained_before_dlclose)
{
    tm_lib a, b;
    sampler_profile *p = tm_profile_of_a(&a);
    tm_close(&a);
    tm_open(&b, 'b');
    if (tm_reused("drained_before_dlclose", &a, &b)) {
        char *addr = tm_folded(p, SAMPLER_PROFILE_ADDRESSES);
        uint64_t wa = tm_leaf_weight(addr, NULL, a.text_lo, a.text_hi);
        tm_require_samples("drained_before_dlclose", wa);
        char *named = tm_folded(p, 0);
        ck_assert_msg(strstr(named, "tm_b_burn") == NULL, "B's function in:\n%s", named);
        ck_assert_msg(tm_leaf_weight(named, tm_gone_name(), 0, 0) == wa,
                      "%s weighs %" PRIu64 ", A's text %" PRIu64 ":\n%s", tm_gone_name(),
                      tm_leaf_weight(named, tm_gone_name(), 0, 0), wa, named);
        const char *allowed[] = {tm_gone_name(), NULL};
        tm_check_pprof(p, "tm_b_burn", a.text_lo, a.text_hi, allowed, "tm_libb.so", wa);
        free(addr);
        free(named);
    }
    tm_close(&b);
    sampler_profile_free(p);
}
END_TEST

/* A's samples are still in the sampler's buffer when A is unloaded and B
 * loaded: the profile cannot tell whether they were taken before or after
 * the swap, so they are `[unknown]` (A's name would also be right; B's never). */
START_TEST(test_buffered_at_dlclose)
{
    tm_lib a, b;
    tm_open(&a, 'a');
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    tm_sample_start();
    tm_burn(&a, TM_BURN_NS, NULL);
    ck_assert_sampler(sampler_stop(), 0);
    tm_close(&a);
    tm_open(&b, 'b');
    if (tm_reused("buffered_at_dlclose", &a, &b)) {
        ck_assert_int_gt(sampler_profile_drain(p), 0);
        char *addr = tm_folded(p, SAMPLER_PROFILE_ADDRESSES);
        uint64_t wa = tm_leaf_weight(addr, NULL, a.text_lo, a.text_hi);
        tm_require_samples("buffered_at_dlclose", wa);
        char *named = tm_folded(p, 0);
        ck_assert_msg(strstr(named, "tm_b_burn") == NULL, "B's function in:\n%s", named);
        uint64_t ok = tm_leaf_weight(named, "[unknown]", 0, 0) +
                      tm_leaf_weight(named, "tm_a_burn", 0, 0) +
                      tm_leaf_weight(named, "tm_liba.so+0x*", 0, 0);
        ck_assert_msg(ok >= wa, "A's text weighs %" PRIu64 ", its names %" PRIu64 ":\n%s",
                      wa, ok, named);
        const char *allowed[] = {"[unknown]", "tm_a_burn", "tm_liba.so+0x*", NULL};
        tm_check_pprof(p, "tm_b_burn", a.text_lo, a.text_hi, allowed, "tm_libb.so", wa);
        free(addr);
        free(named);
    }
    tm_close(&b);
    sampler_profile_free(p);
}
END_TEST

/* The profile was written (symbols looked up) while A was loaded; then B
 * replaces A and runs: B's samples are B's, A's stay A's. */
START_TEST(test_symbolized_before_swap)
{
    tm_lib a, b;
    sampler_profile *p = tm_profile_of_a(&a);
    char *addr = tm_folded(p, SAMPLER_PROFILE_ADDRESSES);
    uint64_t wa = tm_leaf_weight(addr, NULL, a.text_lo, a.text_hi);
    free(addr);
    char *named = tm_folded(p, 0);
    ck_assert_uint_eq(tm_leaf_weight(named, "tm_a_burn", 0, 0), wa); /* A is loaded */
    free(named);
    tm_close(&a);
    tm_open(&b, 'b');
    if (tm_reused("symbolized_before_swap", &a, &b)) {
        tm_require_samples("symbolized_before_swap (A)", wa);
        /* an empty drain: the profile looks at the loaded objects, so B's
         * samples, all taken later, are certainly B's (without this look the
         * first ones could be either: [unknown]) */
        ck_assert_int_eq(sampler_profile_drain(p), 0);
        tm_sample_start();
        tm_burn(&b, TM_BURN_NS, p);
        ck_assert_sampler(sampler_stop(), 0);
        ck_assert_int_ge(sampler_profile_drain(p), 0);
        addr = tm_folded(p, SAMPLER_PROFILE_ADDRESSES);
        uintptr_t lo = a.text_lo < b.text_lo ? a.text_lo : b.text_lo;
        uintptr_t hi = a.text_hi > b.text_hi ? a.text_hi : b.text_hi;
        uint64_t wab = tm_leaf_weight(addr, NULL, lo, hi);
        tm_require_samples("symbolized_before_swap (A and B)", wab - wa);
        named = tm_folded(p, 0);
        /* A's names were looked up while A was loaded (both backends name
         * it then) and are kept */
        uint64_t na = tm_leaf_weight(named, "tm_a_burn", 0, 0);
        uint64_t nb = tm_leaf_weight(named, "tm_b_burn", 0, 0);
        ck_assert_msg(na == wa && nb == wab - wa,
                      "A: %" PRIu64 " named tm_a_burn (want %" PRIu64 "), B: %" PRIu64
                      " named tm_b_burn (want %" PRIu64 "):\n%s",
                      na, wa, nb, wab - wa, named);
        free(addr);
        free(named);
    }
    tm_close(&b);
    sampler_profile_free(p);
}
END_TEST

/* The same rules with hand-made samples, whose times say when they were
 * taken (no signals: exact). */
START_TEST(test_sample_times)
{
    sampler_profile *p;
    tm_lib a, b;
    tm_open(&a, 'a');
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pc = a.fn_addr + 8;
    sampler_sample s = {.tid = tu_gettid(), .depth = 1, .pcs = &pc};
    /* taken and added while A is loaded: A's */
    s.time_ns = tu_now_ns();
    s.weight = 1;
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    /* taken before the swap, added after it: A's or B's, the profile cannot tell */
    uint64_t before = tu_now_ns();
    tm_close(&a);
    tm_open(&b, 'b');
    if (b.fn_addr != a.fn_addr) {
        tm_reused("sample_times", &a, &b);
        fprintf(stderr, "modules: sample_times: %s is not where %s was: skipped\n",
                b.func, a.func);
    } else {
        s.time_ns = before;
        s.weight = 2;
        ck_assert_sampler(sampler_profile_add(p, &s), 0);
        /* taken before the profile's first look at the loaded objects (time 0):
         * A was not loaded when the library started, so the pc was in nothing
         * the profile knows of */
        s.time_ns = 0;
        s.weight = 8;
        ck_assert_sampler(sampler_profile_add(p, &s), 0);
        /* taken after the swap: B's */
        s.time_ns = tu_now_ns();
        s.weight = 4;
        ck_assert_sampler(sampler_profile_add(p, &s), 0);
        char *named = tm_folded(p, 0);
        char a_name[64];
        if (sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW)
            snprintf(a_name, sizeof a_name, "tm_a_burn");
        else
            snprintf(a_name, sizeof a_name, "tm_liba.so+0x%" PRIxPTR, pc - a.base);
        ck_assert_msg(tm_leaf_weight(named, a_name, 0, 0) == 1 &&
                          tm_leaf_weight(named, "[unknown]", 0, 0) == 10 &&
                          tm_leaf_weight(named, "tm_b_burn", 0, 0) == 4 &&
                          tm_leaf_weight(named, "*", 0, 0) == 15,
                      "want %s 1, [unknown] 10 (2 + 8), tm_b_burn 4; got:\n%s", a_name,
                      named);
        free(named);
    }
    tm_close(&b);
    sampler_profile_free(p);
}
END_TEST

/* Loading and unloading a library elsewhere does not split the entries of
 * stacks it has nothing to do with (each change would otherwise multiply the
 * profile's memory by the number of stacks). */
START_TEST(test_unrelated_change_keeps_one_entry)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[2] = {(uintptr_t)tm_leaf_weight + 4, (uintptr_t)tm_burn + 4};
    sampler_sample s = {.tid = tu_gettid(), .depth = 2, .pcs = pcs, .weight = 1};
    s.time_ns = tu_now_ns();
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    tm_lib b;
    tm_open(&b, 'b');
    s.time_ns = tu_now_ns(); /* after the dlopen: the profile looks and sees B */
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    tm_close(&b);
    s.time_ns = tu_now_ns(); /* after the dlclose */
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.samples, 3);
    ck_assert_uint_eq(t.stacks, 1);
    char *named = tm_folded(p, 0);
    ck_assert_msg(strchr(named, '\n') == named + strlen(named) - 1 &&
                      tm_leaf_weight(named, "*", 0, 0) == 3,
                  "want one line of weight 3:\n%s", named);
    free(named);
#ifdef SAMPLER_TEST_PPROF
    SamplerPprof__Profile *pr = tm_read_pprof(p);
    ck_assert_uint_eq(pr->n_sample, 1);
    ck_assert_int_eq(pr->sample[0]->value[0], 3);
    sampler__pprof__profile__free_unpacked(pr, NULL);
#endif
    sampler_profile_free(p);
}
END_TEST

/* Stripped code: pcs that no symbol covers are named by the start of the
 * function that holds them (the object's unwind tables), so every pc of one
 * function is one frame, "tm_libs.so+0xSTART" with START the function's
 * offset (from its address, known to the test through tm_fn_addr()). */
START_TEST(test_stripped_by_function)
{
    if (!sampler_walk_libunwind_available()) {
        fprintf(stderr, "modules: built without libunwind: stripped code is named per pc\n");
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/tm_libs.so", TM_LIBDIR);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    void *getter = dlsym(h, "tm_fn_addr");
    ck_assert_ptr_nonnull(getter);
    ck_assert_ptr_null(dlsym(h, "tm_s_burn")); /* hidden, and stripped */
    void *(*get)(void);
    memcpy(&get, &getter, sizeof get);
    uintptr_t fn = (uintptr_t)get();
    Dl_info info;
    ck_assert_int_ne(dladdr((void *)fn, &info), 0);
    char want[128];
    snprintf(want, sizeof want, "tm_libs.so+0x%" PRIxPTR, fn - (uintptr_t)info.dli_fbase);

    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    /* three pcs inside the function (it is longer than 12 bytes: a loop) */
    for (int k = 0; k < 3; k++) {
        uintptr_t pcs[1] = {fn + 2 + (uintptr_t)k * 5};
        sampler_sample s = {.tid = tu_gettid(), .depth = 1, .weight = (uint64_t)k + 1,
                            .time_ns = tu_now_ns(), .pcs = pcs};
        ck_assert_sampler(sampler_profile_add(p, &s), 0);
    }
    char *text = tm_folded(p, 0);
    char line[160];
    snprintf(line, sizeof line, "%s 6\n", want);
    ck_assert_msg(strcmp(text, line) == 0, "want one frame '%s' of weight 6, got:\n%s", want,
                  text);
    free(text);
    sampler_profile_free(p);
    dlclose(h);
}
END_TEST

/* Separate debug files: a stripped library whose symbols are in a debug file
 * found by its build id under a -dbgsym-style tree (tests/tm-debug, given as
 * SAMPLER_DEBUGINFO_PATH) is named by function; without the tree, by the
 * library and the function's start. */
static char *tm_stripped_leaf(const char *debug_path, uintptr_t *fn_out, uintptr_t *base_out)
{
    if (debug_path != NULL)
        ck_assert_int_eq(setenv("SAMPLER_DEBUGINFO_PATH", debug_path, 1), 0);
    else
        ck_assert_int_eq(unsetenv("SAMPLER_DEBUGINFO_PATH"), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/tm_libd.so", TM_LIBDIR);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    ck_assert_ptr_null(dlsym(h, "tm_d_burn")); /* hidden, and stripped */
    void *getter = dlsym(h, "tm_fn_addr");
    ck_assert_ptr_nonnull(getter);
    void *(*get)(void);
    memcpy(&get, &getter, sizeof get);
    uintptr_t fn = (uintptr_t)get();
    Dl_info info;
    ck_assert_int_ne(dladdr((void *)fn, &info), 0);
    *fn_out = fn;
    *base_out = (uintptr_t)info.dli_fbase;
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[1] = {fn + 2};
    sampler_sample s = {.tid = tu_gettid(), .depth = 1, .weight = 1, .time_ns = tu_now_ns(),
                        .pcs = pcs};
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    char *text = tm_folded(p, 0);
    sampler_profile_free(p);
    unsetenv("SAMPLER_DEBUGINFO_PATH");
    dlclose(h);
    return text;
}

START_TEST(test_debug_file_by_build_id)
{
    if (!(sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW)) {
        fprintf(stderr, "modules: built without libdw: no separate debug files\n");
        return;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tm-debug", TM_LIBDIR);
    uintptr_t fn, base;
    char *text = tm_stripped_leaf(dir, &fn, &base);
    ck_assert_msg(strcmp(text, "tm_d_burn 1\n") == 0, "with the debug file: %s", text);
    free(text);
    text = tm_stripped_leaf(NULL, &fn, &base);
    char want[128];
    snprintf(want, sizeof want, "tm_libd.so+0x%" PRIxPTR " 1\n", fn - base);
    if (sampler_walk_libunwind_available())
        ck_assert_msg(strcmp(text, want) == 0, "without it: want %s, got %s", want, text);
    else
        ck_assert_msg(strncmp(text, "tm_libd.so+0x", 13) == 0, "without it: %s", text);
    free(text);
}
END_TEST

Suite *modules_suite(void)
{
    Suite *s = suite_create("modules");
    TCase *tc = tcase_create("modules");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_drained_before_dlclose);
    tcase_add_test(tc, test_buffered_at_dlclose);
    tcase_add_test(tc, test_symbolized_before_swap);
    tcase_add_test(tc, test_sample_times);
    tcase_add_test(tc, test_unrelated_change_keeps_one_entry);
    tcase_add_test(tc, test_stripped_by_function);
    tcase_add_test(tc, test_debug_file_by_build_id);
    suite_add_tcase(s, tc);
    return s;
}
