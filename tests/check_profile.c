/*
 * profile suite: the consumer side. Folded and pprof totals equal the weight
 * drained from the sampler; the collector thread loses nothing to a small
 * buffer; known noinline functions of this binary (one of them static: only
 * libdw names it) come out by name; the SVG flame graph is well-formed and
 * names the hottest frame; `go tool pprof -top` reads our pprof file and its
 * top function agrees with the folded output (skipped when `go` is missing).
 * The speedscope file is strict JSON (names with quotes, backslashes,
 * control characters and bytes that are not UTF-8 among them) that follows
 * the file format and holds, per thread, the folded output's stacks.
 * Fork children free, write, reset or collect into the profiles they
 * inherited while the parent's collector runs, and exit 0 in bounded time.
 *
 * The test binary is linked with -rdynamic, so the dladdr() fallback names the
 * non-static functions too.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <sampler/profile.h>

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef SAMPLER_TEST_PPROF
#include <zlib.h>

#include "sampler_pprof.pb-c.h"
#endif

#if defined(__clang__)
#define PF_NOINLINE __attribute__((noinline))
#else
#define PF_NOINLINE __attribute__((noinline, noclone))
#endif

#define PF_INTERVAL_NS 1000000ULL

/* ---- helpers ------------------------------------------------------------------ */

static char pf_dir[64];

static void pf_setup(void)
{
    snprintf(pf_dir, sizeof pf_dir, "/tmp/sampler-profile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(pf_dir));
}

static void pf_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pf_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", pf_dir);
}

static char *pf_path(const char *name)
{
    static char buf[4][128];
    static int i;
    char *p = buf[i++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", pf_dir, name);
    return p;
}

static char *pf_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* Folded output: sum of the weights, and the leaf with the most self weight. */
typedef struct pf_folded {
    uint64_t total;
    int lines;
    char top_leaf[256];
    uint64_t top_weight;
    struct {
        char name[256];
        uint64_t w;
    } leaf[512];
    int nleaf;
} pf_folded;

static void pf_parse_folded(const char *text, pf_folded *out)
{
    memset(out, 0, sizeof *out);
    const char *line = text;
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "folded output: unterminated line");
        const char *sp = nl;
        while (sp > line && sp[-1] != ' ')
            sp--;
        ck_assert_msg(sp > line + 1, "folded line without weight: %.*s", (int)(nl - line), line);
        char *end;
        uint64_t w = strtoull(sp, &end, 10);
        ck_assert_msg(end == nl && w > 0, "bad weight in: %.*s", (int)(nl - line), line);
        out->total += w;
        out->lines++;
        const char *leaf = sp - 1;
        while (leaf > line && leaf[-1] != ';')
            leaf--;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(sp - 1 - leaf), leaf);
        int i;
        for (i = 0; i < out->nleaf; i++)
            if (strcmp(out->leaf[i].name, name) == 0)
                break;
        if (i == out->nleaf) {
            ck_assert_int_lt(out->nleaf, 512);
            snprintf(out->leaf[i].name, sizeof out->leaf[i].name, "%s", name);
            out->nleaf++;
        }
        out->leaf[i].w += w;
        if (out->leaf[i].w > out->top_weight) {
            out->top_weight = out->leaf[i].w;
            snprintf(out->top_leaf, sizeof out->top_leaf, "%s", name);
        }
        line = nl + 1;
    }
}

static uint64_t pf_leaf_weight(const pf_folded *f, const char *name)
{
    for (int i = 0; i < f->nleaf; i++)
        if (strcmp(f->leaf[i].name, name) == 0)
            return f->leaf[i].w;
    return 0;
}

static char *pf_folded_text(sampler_profile *p, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_sampler(sampler_profile_write_folded(p, f, flags), 0);
    fclose(f);
    return buf;
}

/* ---- a live workload: outer -> hot (most CPU) and outer -> cold ---------------- */

void pf_work_outer(uint64_t ns);
void pf_work_hot(uint64_t ns);
void pf_work_cold(uint64_t ns);

static _Thread_local volatile uint64_t pf_sink; /* per thread: no data race (TSan) */
static volatile int pf_after;

static void pf_spin(uint64_t ns)
{
    uint64_t end = tu_thread_cpu_ns() + ns;
    uint64_t x = pf_sink;
    do {
        for (int i = 0; i < 200000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        pf_sink = x;
    } while (tu_thread_cpu_ns() < end);
}

PF_NOINLINE void pf_work_hot(uint64_t ns)
{
    uint64_t end = tu_thread_cpu_ns() + ns;
    uint64_t x = pf_sink;
    do {
        for (int i = 0; i < 200000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        pf_sink = x;
    } while (tu_thread_cpu_ns() < end);
    pf_after++;
}

PF_NOINLINE void pf_work_cold(uint64_t ns)
{
    pf_spin(ns);
    pf_after++;
}

PF_NOINLINE void pf_work_outer(uint64_t ns)
{
    pf_work_hot(ns * 4 / 5);
    pf_after++;
    pf_work_cold(ns / 5);
    pf_after++;
}

typedef struct pf_sum {
    sampler_profile *p;
    uint64_t weight, samples;
} pf_sum;

static int pf_sum_add(const sampler_sample *s, void *arg)
{
    pf_sum *c = arg;
    c->weight += s->weight;
    c->samples++;
    ck_assert_sampler(sampler_profile_add(c->p, s), 0);
    return 0;
}

/* Run the workload sampled on this thread; the profile gets every sample,
 * whose weights are summed independently in *sum. */
static sampler_profile *pf_live_profile(pf_sum *sum, uint64_t burn_ns)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    memset(sum, 0, sizeof *sum);
    sum->p = p;
    tu_start(PF_INTERVAL_NS);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    uint64_t deadline = tu_now_ns() + 30000000000ULL;
    do {
        pf_work_outer(burn_ns);
        ck_assert_int_ge(sampler_drain(pf_sum_add, sum, 0), 0);
    } while (sum->weight < 50 && tu_now_ns() < deadline);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_ge(sampler_drain(pf_sum_add, sum, 0), 0);
    ck_assert_msg(sum->weight >= 50, "only %" PRIu64 " samples in 30 s", sum->weight);
    return p;
}

/* ---- known functions for symbols: outer -> caller -> static leaf ----------------- */

uintptr_t pf_sym_outer(uintptr_t *pcs);
uintptr_t pf_sym_caller(uintptr_t *pcs);

/* static: only the ELF symbol table (libdw) knows this one */
static PF_NOINLINE uintptr_t pf_static_leaf(uintptr_t *pcs)
{
    pcs[1] = (uintptr_t)__builtin_return_address(0); /* inside pf_sym_caller */
    pf_after++;
    return pcs[1];
}

PF_NOINLINE uintptr_t pf_sym_caller(uintptr_t *pcs)
{
    pcs[2] = (uintptr_t)__builtin_return_address(0); /* inside pf_sym_outer */
    uintptr_t r = pf_static_leaf(pcs);
    pf_after++;
    return r;
}

PF_NOINLINE uintptr_t pf_sym_outer(uintptr_t *pcs)
{
    uintptr_t r = pf_sym_caller(pcs);
    pf_after++;
    return r;
}

/* A synthetic stack outer -> caller -> static leaf (innermost first). */
static void pf_sym_stack(uintptr_t pcs[3])
{
    pf_sym_outer(pcs);
    pcs[0] = (uintptr_t)pf_static_leaf + 1;
}

static void pf_add(sampler_profile *p, pid_t tid, const uintptr_t *pcs, int depth,
                   uint64_t weight)
{
    sampler_sample s = {.tid = tid, .depth = depth, .weight = weight, .pcs = pcs};
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(test_folded_totals)
{
    pf_sum sum;
    sampler_profile *p = pf_live_profile(&sum, 20000000);
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.weight, sum.weight);
    ck_assert_uint_eq(t.samples, sum.samples);
    ck_assert_uint_eq(t.threads, 1);
    ck_assert_uint_eq(t.interval_ns, PF_INTERVAL_NS);
    ck_assert_uint_le(t.stacks, t.samples);

    pf_folded f;
    char *text = pf_folded_text(p, 0);
    pf_parse_folded(text, &f);
    ck_assert_uint_eq(f.total, sum.weight);
    ck_assert_msg(strstr(text, "pf_work_outer;pf_work_hot ") != NULL, "no outer;hot in:\n%s",
                  text);
    ck_assert_msg(pf_leaf_weight(&f, "pf_work_hot") > f.total / 2,
                  "pf_work_hot has %" PRIu64 " of %" PRIu64 ":\n%s",
                  pf_leaf_weight(&f, "pf_work_hot"), f.total, text);
    free(text);

    /* rooted at the thread: every line starts with "name (tid);" */
    char root[64];
    char comm[32] = "";
    FILE *cf = fopen("/proc/thread-self/comm", "r");
    ck_assert_ptr_nonnull(cf);
    ck_assert_ptr_nonnull(fgets(comm, sizeof comm, cf));
    fclose(cf);
    comm[strcspn(comm, "\n")] = '\0';
    snprintf(root, sizeof root, "%s (%d);", comm, (int)tu_gettid());
    text = pf_folded_text(p, SAMPLER_PROFILE_THREADS);
    pf_parse_folded(text, &f);
    ck_assert_uint_eq(f.total, sum.weight);
    for (char *l = text; *l != '\0'; l = strchr(l, '\n') + 1)
        ck_assert_msg(strncmp(l, root, strlen(root)) == 0, "line not rooted at %s: %s", root,
                      l);
    free(text);

    /* the path variant writes the same */
    ck_assert_sampler(sampler_profile_write_folded_path(p, pf_path("out.folded"), 0), 0);
    text = pf_slurp(pf_path("out.folded"), NULL);
    pf_parse_folded(text, &f);
    ck_assert_uint_eq(f.total, sum.weight);
    free(text);

    ck_assert_sampler(sampler_profile_reset(p), 0);
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.weight, 0);
    ck_assert_uint_eq(t.stacks, 0);
    sampler_profile_free(p);
}
END_TEST

START_TEST(test_aggregation)
{
    /* memory O(distinct stacks): the same stack many times is one entry */
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t a[3] = {0x1000, 0x2000, 0x3000}, b[2] = {0x1000, 0x2000};
    for (int i = 0; i < 1000; i++) {
        pf_add(p, 11, a, 3, 1);
        pf_add(p, 11, b, 2, 2);
        pf_add(p, 12, a, 3, 3);
    }
    pf_add(p, 12, NULL, 0, 5);
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.samples, 3001);
    ck_assert_uint_eq(t.weight, 6005);
    ck_assert_uint_eq(t.stacks, 4);
    ck_assert_uint_eq(t.threads, 2);
    char *text = pf_folded_text(p, SAMPLER_PROFILE_ADDRESSES);
    ck_assert_str_eq(text, "0x2000;0x1000 2000\n" /* sorted, root first */
                           "0x3000;0x2000;0x1000 4000\n"
                           "[no frames] 5\n");
    free(text);
    pf_folded f;
    text = pf_folded_text(p, 0);
    pf_parse_folded(text, &f);
    ck_assert_uint_eq(f.total, 6005);
    free(text);
    sampler_profile_free(p);
}
END_TEST

START_TEST(test_collector)
{
    /* A buffer of 64 samples, 1 ms interval, 600 ms of CPU: without the
     * collector most samples would be dropped. */
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    sampler_config cfg;
    tu_config(&cfg, PF_INTERVAL_NS);
    cfg.buffer_capacity = 64;
    ck_assert_sampler(sampler_start(&cfg), 0);
    ck_assert_sampler(sampler_profile_collector_start(p, 5), 0);
    ck_assert_sampler(sampler_profile_collector_start(p, 5), SAMPLER_ECOLLECTING);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    pf_work_outer(600000000);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_sampler(sampler_profile_collector_stop(p), 0);
    ck_assert_sampler(sampler_profile_collector_stop(p), SAMPLER_ENOTCOLLECTING);
    sampler_stats st = tu_stats();
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_msg(st.weight > 64, "only %" PRIu64 " samples stored", st.weight);
    /* the profile counts a late signal's delayed weight too (its own frame) */
    ck_assert_uint_eq(t.weight, st.weight + st.delayed_weight);
    ck_assert_uint_eq(t.samples, st.samples);
    ck_assert_msg(st.dropped * 20 <= st.samples,
                  "collector too slow: %" PRIu64 " dropped, %" PRIu64 " stored", st.dropped,
                  st.samples);
    /* free() stops a running collector */
    ck_assert_sampler(sampler_profile_collector_start(p, 1000), 0);
    sampler_profile_free(p);
}
END_TEST

START_TEST(test_symbols)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    pf_add(p, tu_gettid(), pcs, 3, 7);
    uintptr_t odd[2] = {(uintptr_t)16, (uintptr_t)getpid + 1}; /* unmapped; in libc */
    pf_add(p, tu_gettid(), odd, 2, 1);
    char *text = pf_folded_text(p, 0);
    bool libdw = (sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW) != 0;
    if (libdw)
        ck_assert_msg(strstr(text, "pf_sym_outer;pf_sym_caller;pf_static_leaf 7\n") != NULL,
                      "libdw: wrong symbols:\n%s", text);
    else
        ck_assert_msg(strstr(text, "pf_sym_outer;pf_sym_caller;") != NULL,
                      "dladdr: wrong symbols:\n%s", text);
    /* the unmapped address is [unknown], the libc one is named */
    const char *u = strstr(text, ";[unknown] 1\n");
    ck_assert_msg(u != NULL, "no [unknown] leaf:\n%s", text);
    ck_assert_msg(strncmp(text, "[unknown]", 9) != 0 && strstr(text, "getpid") != NULL,
                  "libc function not named:\n%s", text);
    free(text);
    sampler_profile_free(p);

    /* Return addresses (frames after the first) are looked up at pc - 1: a
     * call that is the last instruction of a function returns to the first
     * byte of the next one, which must not be named as the caller. The
     * innermost pc is looked up as it is. */
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t edge[2] = {(uintptr_t)pf_sym_caller, (uintptr_t)pf_sym_caller};
    pf_add(p, tu_gettid(), edge, 2, 1);
    text = pf_folded_text(p, 0);
    ck_assert_msg(strncmp(text, "pf_sym_caller;", 14) != 0, "pc - 1 not used:\n%s", text);
    ck_assert_msg(strstr(text, ";pf_sym_caller 1\n") != NULL, "leaf pc moved:\n%s", text);
    free(text);
    sampler_profile_free(p);
}
END_TEST

/* A small XML checker: tags balance, attributes are quoted, entities known;
 * CDATA sections are skipped whole (inside an element). */
static void pf_check_xml(const char *s)
{
    const char *stack[64];
    size_t len[64];
    int depth = 0, roots = 0;
    const char *c = s;
    if (strncmp(c, "<?xml", 5) == 0)
        c = strstr(c, "?>") + 2;
    while (*c != '\0') {
        if (strncmp(c, "<![CDATA[", 9) == 0) {
            ck_assert_msg(depth > 0, "CDATA outside the root element");
            const char *end = strstr(c + 9, "]]>");
            ck_assert_msg(end != NULL, "CDATA not closed at %.20s", c);
            c = end + 3;
            continue;
        }
        ck_assert_msg(strncmp(c, "]]>", 3) != 0, "]]> outside CDATA at %.20s", c);
        if (*c == '&') {
            ck_assert_msg(strncmp(c, "&lt;", 4) == 0 || strncmp(c, "&gt;", 4) == 0 ||
                              strncmp(c, "&amp;", 5) == 0 || strncmp(c, "&quot;", 6) == 0 ||
                              strncmp(c, "&apos;", 6) == 0,
                          "bad entity at %.20s", c);
            c++;
            continue;
        }
        if (*c != '<') {
            ck_assert_msg(*c != '>', "stray > at %.20s", c);
            c++;
            continue;
        }
        const char *end = strchr(c, '>');
        ck_assert_ptr_nonnull(end);
        for (const char *q = c + 1; q < end; q++)
            ck_assert_msg(*q != '<', "< inside a tag at %.40s", c);
        if (c[1] == '/') {
            ck_assert_msg(depth > 0, "close tag without open at %.20s", c);
            depth--;
            ck_assert_msg(strncmp(c + 2, stack[depth], len[depth]) == 0,
                          "mismatched close tag at %.20s", c);
        } else {
            const char *name = c + 1;
            size_t n = strcspn(name, " \t\n/>");
            int quotes = 0;
            for (const char *q = c; q < end; q++)
                quotes += *q == '"';
            ck_assert_msg(quotes % 2 == 0, "unbalanced quotes in %.60s", c);
            if (end[-1] != '/') {
                ck_assert_int_lt(depth, 64);
                if (depth == 0)
                    roots++;
                stack[depth] = name;
                len[depth++] = n;
            } else if (depth == 0) {
                roots++;
            }
        }
        c = end + 1;
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_int_eq(roots, 1);
}

START_TEST(test_svg)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    pf_add(p, tu_gettid(), pcs, 3, 90);
    uintptr_t cold[2] = {(uintptr_t)pf_work_cold + 1, pcs[2]};
    pf_add(p, tu_gettid(), cold, 2, 10);
    uintptr_t weird[1] = {16};
    pf_add(p, tu_gettid(), weird, 1, 1);

    pf_folded f;
    char *text = pf_folded_text(p, SAMPLER_PROFILE_THREADS);
    pf_parse_folded(text, &f);
    free(text);
    ck_assert_uint_eq(f.total, 101);

    ck_assert_sampler(sampler_profile_write_svg(p, pf_path("out.svg"), SAMPLER_PROFILE_THREADS),
                      0);
    char *svg = pf_slurp(pf_path("out.svg"), NULL);
    ck_assert_msg(strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "<svg") != NULL, "not an SVG");
    pf_check_xml(svg);
    char want[300];
    /* weights, as the folded output and sampler-run's summary count them;
     * seconds at the interval (the default, 10 ms: none was given) */
    snprintf(want, sizeof want, "<title>%s (weight 90, 0.900 s, 89.11%%)</title>", f.top_leaf);
    ck_assert_msg(strstr(svg, want) != NULL, "hottest frame %s missing: %s", f.top_leaf, want);
    ck_assert_msg(strstr(svg, "<title>all (weight 101, 1.010 s, 100.00%)</title>") != NULL,
                  "no root frame");
    ck_assert_msg(strstr(svg, " samples") == NULL, "the SVG counts samples");
    ck_assert_msg(strstr(svg, "data-total=\"101\"") != NULL, "no total for the script");
    ck_assert_msg(strstr(svg, ">pf_sym_outer</text>") != NULL, "no text on a wide frame");
    /* interactive: one inline script, its code in CDATA, nothing loaded */
    const char *script = strstr(svg, "<script type=\"text/ecmascript\"><![CDATA[");
    ck_assert_msg(script != NULL, "no inline script in CDATA");
    ck_assert_msg(strstr(script + 1, "<script") == NULL, "more than one script");
    const char *cdata_end = strstr(script, "]]>");
    ck_assert_msg(cdata_end != NULL && strncmp(cdata_end, "]]></script>\n</svg>\n", 20) == 0,
                  "the script does not end the SVG");
    ck_assert_msg(strstr(svg, "href") == NULL && strstr(svg, "http://") ==
                      strstr(svg, "http://www.w3.org/2000/svg"),
                  "an external reference");
    /* a frame's <g> says where it is for the script: start, weight, row */
    snprintf(want, sizeof want, "data-w=\"90\" data-l=\"4\"><title>%s (", f.top_leaf);
    ck_assert_msg(strstr(svg, want) != NULL, "no data for the script: %s", want);
    free(svg);
    sampler_profile_free(p);
}
END_TEST

/* Names are written as the characters XML allows: a thread name cut in the
 * middle of a UTF-8 character (comm holds 15 bytes) or with a control
 * character does not make the file unreadable; '<' and '&' are escaped. */
START_TEST(test_svg_names)
{
    ck_assert_int_eq(pthread_setname_np(pthread_self(), "x\xc3\xa9<&\x7f\xc3"), 0);
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    pf_add(p, tu_gettid(), pcs, 3, 5);
    ck_assert_sampler(sampler_profile_write_svg(p, pf_path("names.svg"), SAMPLER_PROFILE_THREADS),
                      0);
    char *svg = pf_slurp(pf_path("names.svg"), NULL);
    pf_check_xml(svg);
    char want[64];
    snprintf(want, sizeof want, "<title>x\xc3\xa9&lt;&amp;\x7f? (%d) (weight 5,", (int)tu_gettid());
    ck_assert_msg(strstr(svg, want) != NULL, "thread name not as XML wants it: %s", want);
    for (const unsigned char *c = (const unsigned char *)svg; *c != '\0'; c++)
        ck_assert_msg(*c != 0xc3 || (c[1] & 0xc0) == 0x80, "half a character at %.20s", c);
    free(svg);
    sampler_profile_free(p);
}
END_TEST

#ifdef SAMPLER_TEST_PPROF
static SamplerPprof__Profile *pf_read_pprof(const char *path)
{
    size_t n;
    uint8_t *buf = tu_gunzip_file(path, &n);
    /* the file is gzip: magic 1f 8b */
    size_t rawlen;
    char *raw = pf_slurp(path, &rawlen);
    ck_assert_msg(rawlen > 2 && (uint8_t)raw[0] == 0x1f && (uint8_t)raw[1] == 0x8b,
                  "not gzip");
    free(raw);
    SamplerPprof__Profile *pr = sampler__pprof__profile__unpack(NULL, n, buf);
    free(buf);
    ck_assert_msg(pr != NULL, "protobuf-c could not unpack the profile");
    return pr;
}

static const char *pf_str(const SamplerPprof__Profile *pr, int64_t i)
{
    ck_assert_msg(i >= 0 && (size_t)i < pr->n_string_table, "string index %" PRId64, i);
    return pr->string_table[i];
}

static const SamplerPprof__Function *pf_fun(const SamplerPprof__Profile *pr, uint64_t id)
{
    for (size_t i = 0; i < pr->n_function; i++)
        if (pr->function[i]->id == id)
            return pr->function[i];
    ck_abort_msg("no function %" PRIu64, id);
    return NULL;
}

static const SamplerPprof__Location *pf_loc(const SamplerPprof__Profile *pr, uint64_t id)
{
    for (size_t i = 0; i < pr->n_location; i++)
        if (pr->location[i]->id == id)
            return pr->location[i];
    ck_abort_msg("no location %" PRIu64, id);
    return NULL;
}
#endif

START_TEST(test_pprof)
{
#ifndef SAMPLER_TEST_PPROF
    ck_assert_uint_eq(sampler_profile_features() & SAMPLER_PROFILE_HAVE_PPROF, 0);
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    ck_assert_sampler(sampler_profile_write_pprof(p, pf_path("x.pb.gz")), SAMPLER_EUNSUPPORTED);
    sampler_profile_free(p);
    fprintf(stderr, "profile: pprof not built in; only its absence checked\n");
#else
    ck_assert_uint_ne(sampler_profile_features() & SAMPLER_PROFILE_HAVE_PPROF, 0);
    pf_sum sum;
    sampler_profile *p = pf_live_profile(&sum, 20000000);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    pf_add(p, tu_gettid(), pcs, 3, 5);
    sum.weight += 5;
    ck_assert_sampler(sampler_profile_write_pprof(p, pf_path("cpu.pb.gz")), 0);
    SamplerPprof__Profile *pr = pf_read_pprof(pf_path("cpu.pb.gz"));

    ck_assert_str_eq(pf_str(pr, 0), "");
    ck_assert_uint_eq(pr->n_sample_type, 2);
    ck_assert_str_eq(pf_str(pr, pr->sample_type[0]->type), "samples");
    ck_assert_str_eq(pf_str(pr, pr->sample_type[0]->unit), "count");
    ck_assert_str_eq(pf_str(pr, pr->sample_type[1]->type), "cpu");
    ck_assert_str_eq(pf_str(pr, pr->sample_type[1]->unit), "nanoseconds");
    ck_assert_ptr_nonnull(pr->period_type);
    ck_assert_str_eq(pf_str(pr, pr->period_type->type), "cpu");
    ck_assert_str_eq(pf_str(pr, pr->period_type->unit), "nanoseconds");
    ck_assert_int_eq(pr->period, (int64_t)PF_INTERVAL_NS);

    uint64_t count = 0, ns = 0;
    for (size_t i = 0; i < pr->n_sample; i++) {
        SamplerPprof__Sample *s = pr->sample[i];
        ck_assert_uint_eq(s->n_value, 2);
        count += (uint64_t)s->value[0];
        ns += (uint64_t)s->value[1];
        ck_assert_int_eq(s->value[1], s->value[0] * (int64_t)PF_INTERVAL_NS);
        bool thread = false;
        for (size_t l = 0; l < s->n_label; l++)
            if (strcmp(pf_str(pr, s->label[l]->key), "thread") == 0)
                thread = pf_str(pr, s->label[l]->str)[0] != '\0';
        ck_assert_msg(thread, "sample %zu has no thread label", i);
        for (size_t k = 0; k < s->n_location_id; k++) {
            const SamplerPprof__Location *loc = pf_loc(pr, s->location_id[k]);
            ck_assert_uint_eq(loc->n_line, 1);
            pf_fun(pr, loc->line[0]->function_id);
        }
    }
    ck_assert_uint_eq(count, sum.weight);
    ck_assert_uint_eq(ns, sum.weight * PF_INTERVAL_NS);

    /* functions with file and line (libdw and -g) */
    bool found = false;
    for (size_t i = 0; i < pr->n_location; i++) {
        const SamplerPprof__Location *loc = pr->location[i];
        const SamplerPprof__Function *fn = pf_fun(pr, loc->line[0]->function_id);
        if (strcmp(pf_str(pr, fn->name), "pf_sym_caller") != 0)
            continue;
        found = true;
        ck_assert_uint_ne(loc->mapping_id, 0);
        if (sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW) {
            const char *file = pf_str(pr, fn->filename);
            ck_assert_msg(strstr(file, "check_profile.c") != NULL, "file %s", file);
            ck_assert_int_gt(loc->line[0]->line, 0);
        }
    }
    ck_assert_msg(found, "pf_sym_caller not among the functions");
    /* mappings: the first is this executable, with a build id under libdw */
    ck_assert_uint_gt(pr->n_mapping, 0);
    char exe[4096];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(el, 0);
    exe[el] = '\0';
    ck_assert_str_eq(pf_str(pr, pr->mapping[0]->filename), exe);
    ck_assert(pr->mapping[0]->memory_start < pr->mapping[0]->memory_limit);
    if (sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW)
        ck_assert_uint_ge(strlen(pf_str(pr, pr->mapping[0]->build_id)), 16);
    sampler__pprof__profile__free_unpacked(pr, NULL);
    sampler_profile_free(p);
#endif
}
END_TEST

START_TEST(test_go_pprof)
{
    if (!(sampler_profile_features() & SAMPLER_PROFILE_HAVE_PPROF) ||
        system("command -v go >/dev/null 2>&1") != 0) {
        fprintf(stderr, "profile: go (or pprof support) missing: go tool pprof test skipped\n");
        return;
    }
    pf_sum sum;
    sampler_profile *p = pf_live_profile(&sum, 40000000);
    ck_assert_sampler(sampler_profile_write_pprof(p, pf_path("cpu.pb.gz")), 0);
    pf_folded f;
    char *text = pf_folded_text(p, 0);
    pf_parse_folded(text, &f);
    free(text);

    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && HOME='%s' GOCACHE='%s/gocache' GOPATH='%s/gopath' GOFLAGS=-mod=mod "
             "GOPROXY=off GOTOOLCHAIN=local PPROF_TMPDIR='%s' "
             "go tool pprof -top -nodecount=5 cpu.pb.gz 2>&1",
             pf_dir, pf_dir, pf_dir, pf_dir, pf_dir);
    FILE *out = popen(cmd, "r");
    ck_assert_ptr_nonnull(out);
    char line[1024], top[256] = "", all[8192] = "";
    bool header = false;
    while (fgets(line, sizeof line, out) != NULL) {
        strncat(all, line, sizeof all - strlen(all) - 1);
        if (strstr(line, "flat%") != NULL && strstr(line, "cum%") != NULL) {
            header = true;
            continue;
        }
        if (header && top[0] == '\0') {
            /* "  80ms 80.00% 80.00%  80ms 80.00%  name" */
            char c1[64], c2[64], c3[64], c4[64], c5[64];
            int pos = 0;
            if (sscanf(line, "%63s %63s %63s %63s %63s %n", c1, c2, c3, c4, c5, &pos) == 5) {
                snprintf(top, sizeof top, "%s", line + pos);
                top[strcspn(top, "\n")] = '\0';
            }
        }
    }
    int st = pclose(out);
    ck_assert_msg(st == 0 && header, "go tool pprof failed (%d):\n%s", st, all);
    ck_assert_msg(top[0] != '\0', "no top row:\n%s", all);
    /* the top function's self weight is the largest in the folded output (ties allowed) */
    uint64_t w = pf_leaf_weight(&f, top);
    ck_assert_msg(w == f.top_weight,
                  "pprof top %s (folded %" PRIu64 ") but folded top %s (%" PRIu64 "):\n%s", top,
                  w, f.top_leaf, f.top_weight, all);
    sampler_profile_free(p);
}
END_TEST

START_TEST(test_threads)
{
    /* a named thread shows up as "name (tid)" at the root */
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    char old[32];
    ck_assert_int_eq(pthread_getname_np(pthread_self(), old, sizeof old), 0);
    ck_assert_int_eq(pthread_setname_np(pthread_self(), "pf;worker"), 0);
    uintptr_t pcs[1] = {0x1234};
    pf_add(p, tu_gettid(), pcs, 1, 3);
    pthread_setname_np(pthread_self(), old);
    pf_add(p, tu_gettid(), pcs, 1, 1); /* the name read at first sight stays */
    char *text = pf_folded_text(p, SAMPLER_PROFILE_THREADS | SAMPLER_PROFILE_ADDRESSES);
    char want[64];
    snprintf(want, sizeof want, "pf_worker (%d);0x1234 4\n", (int)tu_gettid());
    ck_assert_str_eq(text, want);
    free(text);
    sampler_profile_free(p);
}
END_TEST

START_TEST(test_badinput)
{
    sampler_profile *p = (sampler_profile *)&p;
    ck_assert_sampler(sampler_profile_new(NULL, NULL), SAMPLER_EINVAL);
    sampler_profile_options o;
    ck_assert_sampler(sampler_profile_options_init(NULL, sizeof o), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_options_init(&o, 1), SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_profile_options_init(&o, sizeof o), 0);
    o.size = 1;
    ck_assert_sampler(sampler_profile_new(&p, &o), SAMPLER_ESTRUCTSIZE);
    ck_assert_ptr_null(p);
    ck_assert_sampler(sampler_profile_options_init(&o, sizeof o), 0);
    o.interval_ns = 12345;
    ck_assert_sampler(sampler_profile_new(&p, &o), 0);
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, 4), SAMPLER_ESTRUCTSIZE);
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.interval_ns, 12345);
    sampler_sample s = {.tid = 1, .depth = -1};
    ck_assert_sampler(sampler_profile_add(p, &s), SAMPLER_EINVAL);
    s.depth = 2;
    ck_assert_sampler(sampler_profile_add(p, &s), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_add(p, NULL), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_add(NULL, &s), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write_folded(p, stdout, 0x100), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write_svg(p, pf_path("x.svg"), 0x100), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write_folded_path(p, "/nonexistent/dir/x", 0),
                      SAMPLER_EIO);
    ck_assert_sampler(sampler_profile_write_svg(p, "/nonexistent/dir/x", 0), SAMPLER_EIO);
    if (sampler_profile_features() & SAMPLER_PROFILE_HAVE_PPROF)
        ck_assert_sampler(sampler_profile_write_pprof(p, "/nonexistent/dir/x"), SAMPLER_EIO);
    ck_assert_sampler(sampler_profile_collector_start(p, 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_collector_stop(p), SAMPLER_ENOTCOLLECTING);
    ck_assert_sampler(sampler_profile_drain(NULL), SAMPLER_EINVAL);
    /* drain with the sampler never started: nothing, no error */
    ck_assert_int_eq(sampler_profile_drain(p), 0);
    /* the new codes have names and messages */
    int codes[] = {SAMPLER_EUNSUPPORTED, SAMPLER_EIO, SAMPLER_ECOLLECTING,
                   SAMPLER_ENOTCOLLECTING};
    int want[] = {-15, -16, -17, -18};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(codes[i], want[i]);
        ck_assert_str_ne(sampler_strerror(codes[i]), "unknown error");
        ck_assert_str_ne(sampler_err_name(codes[i]), "SAMPLER_EUNKNOWN");
    }
    sampler_profile_free(p);
    sampler_profile_free(NULL);
}
END_TEST

START_TEST(test_drain_adapter)
{
    /* sampler_profile_drain() and the sampler_sample_fn adapter */
    sampler_profile *p, *q;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    ck_assert_sampler(sampler_profile_new(&q, NULL), 0);
    tu_start(PF_INTERVAL_NS);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    uint64_t deadline = tu_now_ns() + 30000000000ULL;
    sampler_profile_totals tp, tq;
    int round = 0;
    do {
        tu_burn_cpu_ns(20000000);
        if (round++ & 1)
            ck_assert_int_ge(sampler_drain(sampler_profile_sample_fn, q, 0), 0);
        else
            ck_assert_int_ge(sampler_profile_drain(p), 0);
        ck_assert_sampler(sampler_profile_get_totals(p, &tp, sizeof tp), 0);
        ck_assert_sampler(sampler_profile_get_totals(q, &tq, sizeof tq), 0);
    } while ((tp.weight < 10 || tq.weight < 10) && tu_now_ns() < deadline);
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_int_ge(sampler_profile_drain(p), 0);
    sampler_stats st = tu_stats();
    ck_assert_sampler(sampler_profile_get_totals(p, &tp, sizeof tp), 0);
    ck_assert_sampler(sampler_profile_get_totals(q, &tq, sizeof tq), 0);
    ck_assert_uint_gt(tp.weight, 0);
    ck_assert_uint_gt(tq.weight, 0);
    ck_assert_uint_eq(tp.weight + tq.weight, st.weight + st.delayed_weight);
    ck_assert_uint_eq(tp.interval_ns, PF_INTERVAL_NS);
    sampler_profile_free(p);
    sampler_profile_free(q);
}
END_TEST

/* ---- fork while the collector runs ------------------------------------------------ */

/* What a fork child does with the two profiles it inherited: p (whose collector
 * ran in the parent) and q (no collector). */
enum { PF_CHILD_FREE, PF_CHILD_WRITE, PF_CHILD_RESET, PF_CHILD_COLLECT, PF_CHILD_MODES };
static const char *const pf_child_mode[PF_CHILD_MODES] = {"free", "write", "reset",
                                                          "collect"};

/* Sum of the weights of folded text (no check calls: runs in a fork child). */
static uint64_t pf_folded_sum(const char *text)
{
    uint64_t total = 0;
    for (const char *line = text; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            return UINT64_MAX;
        const char *sp = nl;
        while (sp > line && sp[-1] != ' ')
            sp--;
        total += strtoull(sp, NULL, 10);
        line = nl + 1;
    }
    return total;
}

/* The child's side: each step has its own exit code (0: all worked). */
static int pf_fork_child(sampler_profile *p, sampler_profile *q, int mode,
                         uint64_t min_weight)
{
    sampler_profile_totals t;
    /* the collector thread is the parent's: stop has nothing to join here */
    if (sampler_profile_collector_stop(p) != SAMPLER_ENOTCOLLECTING)
        return 10;
    if (sampler_profile_get_totals(p, &t, sizeof t) != 0 || t.weight < min_weight)
        return 11;
    switch (mode) {
    case PF_CHILD_WRITE: {
        /* the parent's samples up to the fork, written whole */
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f == NULL || sampler_profile_write_folded(p, f, SAMPLER_PROFILE_THREADS) != 0)
            return 20;
        fclose(f);
        uint64_t sum = pf_folded_sum(buf);
        free(buf);
        if (sum != t.weight)
            return 21;
        char path[160];
        snprintf(path, sizeof path, "%s/child-%d.svg", pf_dir, (int)getpid());
        if (sampler_profile_write_svg(p, path, SAMPLER_PROFILE_THREADS) != 0)
            return 22;
        snprintf(path, sizeof path, "%s/child-%d.pb.gz", pf_dir, (int)getpid());
        if ((sampler_profile_features() & SAMPLER_PROFILE_HAVE_PPROF) &&
            sampler_profile_write_pprof(p, path) != 0)
            return 23;
        break;
    }
    case PF_CHILD_RESET: {
        if (sampler_profile_reset(p) != 0 ||
            sampler_profile_get_totals(p, &t, sizeof t) != 0 || t.weight != 0)
            return 30;
        uintptr_t pcs[1] = {0x1234};
        sampler_sample s = {.tid = tu_gettid(), .depth = 1, .weight = 2, .pcs = pcs};
        if (sampler_profile_add(p, &s) != 0 ||
            sampler_profile_get_totals(p, &t, sizeof t) != 0 || t.weight != 2)
            return 31;
        /* the child's sampler is stopped, its buffer gone: nothing to drain */
        if (sampler_profile_drain(p) != 0)
            return 32;
        break;
    }
    case PF_CHILD_COLLECT:
        /* A collector of the child's own. Not under TSan, which does not
         * support starting threads after a multi-threaded fork (it makes
         * the child die, see its die_after_fork option). */
        if (TU_TSAN)
            break;
        if (sampler_profile_collector_start(p, 1) != 0)
            return 40;
        if (sampler_profile_collector_start(p, 1) != SAMPLER_ECOLLECTING)
            return 41;
        tu_nap_us(3000);
        if (sampler_profile_collector_stop(p) != 0)
            return 42;
        if (sampler_profile_collector_start(q, 1) != 0)
            return 43;
        break; /* q's collector is stopped by free() */
    default:
        break;
    }
    sampler_profile_free(q);
    sampler_profile_free(p);
    return 0;
}

typedef struct pf_writer {
    sampler_profile *p;
    _Atomic int quit;
    _Atomic int writes;
    _Atomic int rc;
} pf_writer;

/* Writes p over and over, so forks land while a writer holds the profile. */
static void *pf_writer_main(void *arg)
{
    pf_writer *w = arg;
    while (!atomic_load(&w->quit)) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int rc = f == NULL ? SAMPLER_ENOMEM : sampler_profile_write_folded(w->p, f, 0);
        if (f != NULL)
            fclose(f);
        free(buf);
        if (rc != 0)
            atomic_store(&w->rc, rc);
        atomic_fetch_add(&w->writes, 1);
    }
    return NULL;
}

/* Children forked while the parent's collector thread runs (at 1 ms, so it is
 * waiting on its condition variable, or draining with the profile locked) and
 * another thread writes the profile. Each child frees, writes, resets or runs
 * a collector of its own on the profiles it inherited, and must exit 0 within
 * a bounded time: before the fork handlers, free() hung in
 * pthread_cond_destroy() (the collector's wait counted in the copied
 * condition variable). The parent's profile works on and ends with every
 * sample the sampler stored. */
START_TEST(test_fork_while_collecting)
{
    sampler_profile *p, *q, *gone;
    ck_assert_sampler(sampler_profile_new(&gone, NULL), 0);
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    ck_assert_sampler(sampler_profile_new(&q, NULL), 0);
    sampler_profile_free(gone); /* off the list of live profiles */
    uintptr_t pcs[1] = {0x4321};
    pf_add(q, tu_gettid(), pcs, 1, 5);
    tu_start(PF_INTERVAL_NS);
    ck_assert_sampler(sampler_thread_register(NULL), 0);
    ck_assert_sampler(sampler_profile_collector_start(p, 1), 0);
    pf_writer w = {.p = p};
    pthread_t wt;
    ck_assert_int_eq(pthread_create(&wt, NULL, pf_writer_main, &w), 0);

    enum { N = 20 };
    int failed = 0, hung = -1, last_status = 0, last_mode = 0;
    for (int k = 0; k < N && hung < 0; k++) {
        pf_work_outer(2000000);
        sampler_profile_totals t;
        ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
        int mode = k % PF_CHILD_MODES;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(pf_fork_child(p, q, mode, t.weight));
        /* bounded: 30 s for a loaded machine under a sanitizer */
        int status = 0;
        pid_t got = tu_waitpid_within(pid, 30, &status);
        if (got == 0) {
            hung = mode;
            break;
        }
        ck_assert_int_eq(got, pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
            last_status = status;
            last_mode = mode;
        }
    }
    atomic_store(&w.quit, 1);
    pthread_join(wt, NULL);
    ck_assert_msg(hung < 0, "a fork child that %ss the profiles hung",
                  pf_child_mode[hung]);
    ck_assert_msg(
        failed == 0, "%d of %d children failed; last (%s): %s %d", failed, N,
        pf_child_mode[last_mode], WIFSIGNALED(last_status) ? "signal" : "exit code",
        WIFSIGNALED(last_status) ? WTERMSIG(last_status) : WEXITSTATUS(last_status));
    ck_assert_sampler(atomic_load(&w.rc), 0);
    ck_assert_int_gt(atomic_load(&w.writes), 0);

    /* the parent's collector ran on through the forks */
    ck_assert_sampler(sampler_stop(), 0);
    ck_assert_sampler(sampler_profile_collector_stop(p), 0);
    sampler_stats st = tu_stats();
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.weight, st.weight + st.delayed_weight);
    ck_assert_uint_eq(t.samples, st.samples);
    ck_assert_sampler(sampler_profile_get_totals(q, &t, sizeof t), 0);
    ck_assert_uint_eq(t.weight, 5);
    printf("profile: %d fork children (free/write/reset/collect) exited 0; parent wrote "
           "%d times meanwhile, %" PRIu64 " samples\n",
           N, atomic_load(&w.writes), st.samples);
    sampler_profile_free(q);
    sampler_profile_free(p);
}
END_TEST

/* ---- fork while sampler_start() waits for a drain callback ------------------------ */

/* 'S' (or 'D'): the thread sleeps, e.g. blocked on a lock. */
static bool pf_thread_sleeps(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp != NULL && (rp[2] == 'S' || rp[2] == 'D');
}

typedef struct pf_order {
    sampler_profile *p;
    sampler_config cfg;
    _Atomic pid_t s_tid, f_tid;
    _Atomic int in_cb, go, added, start_rc, fork_status;
} pf_order;

/* Drain callback: holds the drain lock while it waits for `go`, then adds
 * every sample to the profile (taking the profile lock). */
static int pf_order_cb(const sampler_sample *s, void *arg)
{
    pf_order *o = arg;
    if (!atomic_exchange(&o->in_cb, 1))
        while (!atomic_load(&o->go))
            tu_nap_us(1000);
    if (sampler_profile_add(o->p, s) == 0)
        atomic_fetch_add(&o->added, 1);
    return 0;
}

static void *pf_order_drain(void *arg)
{
    sampler_drain(pf_order_cb, arg, 0);
    return NULL;
}

static void *pf_order_start(void *arg)
{
    pf_order *o = arg;
    atomic_store(&o->s_tid, tu_gettid());
    atomic_store(&o->start_rc, sampler_start(&o->cfg)); /* waits for the drain lock */
    return NULL;
}

static void *pf_order_fork(void *arg)
{
    pf_order *o = arg;
    atomic_store(&o->f_tid, tu_gettid());
    pid_t pid = fork(); /* the fork handlers wait for the sampler's lock */
    if (pid == 0)
        _exit(0);
    int status = -1;
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    atomic_store(&o->fork_status, status);
    return NULL;
}

/* Wait up to 10 s for a thread to be blocked; 1 if it is. */
static int pf_wait_sleeping(_Atomic pid_t *tid)
{
    uint64_t deadline = tu_now_ns() + 10000000000ULL;
    while (tu_now_ns() < deadline) {
        pid_t t = atomic_load(tid);
        if (t != 0 && pf_thread_sleeps(t))
            return 1;
        tu_nap_us(1000);
    }
    return 0;
}

/* The scenario, in a child process of the test (a deadlock hangs only it):
 * D drains with a callback that holds the drain lock; S calls sampler_start(),
 * which holds the sampler's lock and waits for the drain lock; F forks, and
 * the core's fork handler waits for the sampler's lock. Then D's callback
 * adds its samples to the profile. If the profile's fork handler ran before
 * the core's (it took the profile lock, then waited for the sampler's lock),
 * D waits for F, F for S and S for D. */
static int pf_order_scenario(void)
{
    static pf_order o;
    tu_config(&o.cfg, PF_INTERVAL_NS);
    if (sampler_start(&o.cfg) != 0 || sampler_thread_register(NULL) != 0)
        return 10;
    /* the profile is made after the sampler's first call */
    if (sampler_profile_new(&o.p, NULL) != 0)
        return 11;
    uint64_t deadline = tu_now_ns() + 30000000000ULL;
    while (tu_stats().samples < 3 && tu_now_ns() < deadline)
        tu_burn_cpu_ns(5000000);
    if (sampler_stop() != 0)
        return 12;
    uint64_t stored = tu_stats().samples;
    if (stored < 3)
        return 13;
    pthread_t d, st, f;
    if (pthread_create(&d, NULL, pf_order_drain, &o) != 0)
        return 14;
    while (!atomic_load(&o.in_cb))
        tu_nap_us(1000);
    if (pthread_create(&st, NULL, pf_order_start, &o) != 0)
        return 15;
    if (!pf_wait_sleeping(&o.s_tid))
        return 16;
    if (pthread_create(&f, NULL, pf_order_fork, &o) != 0)
        return 17;
    if (!pf_wait_sleeping(&o.f_tid))
        return 18;
    atomic_store(&o.go, 1);
    pthread_join(d, NULL);
    pthread_join(st, NULL);
    pthread_join(f, NULL);
    if (atomic_load(&o.start_rc) != 0)
        return 19;
    int status = atomic_load(&o.fork_status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 20;
    if ((uint64_t)atomic_load(&o.added) != stored)
        return 21;
    if (sampler_stop() != 0)
        return 22;
    sampler_profile_free(o.p);
    return 0;
}

START_TEST(test_fork_handler_order)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(pf_order_scenario());
    int status = 0;
    pid_t got = tu_waitpid_within(pid, 60, &status);
    if (got == 0) {
        ck_abort_msg("deadlock: fork() while sampler_start() waits for a drain callback "
                     "that waits for the profile lock");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "scenario failed: %s %d",
                  WIFSIGNALED(status) ? "signal" : "step",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}
END_TEST

/* The profile writers show delayed weight as a frame of its own under the
 * thread, and the sample's stack keeps only its on-time weight. */
START_TEST(test_delayed_weight_has_its_own_frame)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[1] = {(uintptr_t)&pf_folded_sum};
    sampler_sample s = {.tid = tu_gettid(), .depth = 1, .time_ns = tu_now_ns(), .weight = 2,
                        .pcs = pcs, .delayed_weight = 28};
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_sampler(sampler_profile_write_folded(p, f, 0), 0);
    fclose(f);
    uint64_t delayed = 0, other = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *sp = strrchr(line, ' ');
        ck_assert_ptr_nonnull(sp);
        uint64_t w = strtoull(sp + 1, NULL, 10);
        if (strstr(line, "[signal delayed]") != NULL)
            delayed += w;
        else
            other += w;
    }
    free(text);
    ck_assert_uint_eq(delayed, 28);
    ck_assert_uint_eq(other, 2);
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.samples, 1); /* one sample, its delayed part is weight */
    ck_assert_uint_eq(t.weight, 30);
    sampler_profile_free(p);
}
END_TEST

static int pf_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- speedscope: a strict JSON reader ---------------------------------------- */

/* A JSON value: o(bject), a(rray), s(tring), n(umber), t(rue), f(alse), z (null). */
typedef struct pf_json {
    char type;
    char *s;    /* a string, decoded (UTF-8, no NUL inside) */
    bool uint;  /* a number written as a plain unsigned integer: u holds it */
    uint64_t u;
    size_t n;   /* members or items */
    char **keys;
    struct pf_json *v;
} pf_json;

typedef struct pf_jp {
    const unsigned char *c, *start;
} pf_jp;

#define PF_JFAIL(jp, what) \
    ck_abort_msg("JSON: %s at offset %td: %.30s", what, (jp)->c - (jp)->start, (jp)->c)

static void pf_jws(pf_jp *jp)
{
    while (*jp->c == ' ' || *jp->c == '\t' || *jp->c == '\n' || *jp->c == '\r')
        jp->c++;
}

static void pf_jput(char **buf, size_t *len, size_t *cap, const void *b, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        ck_assert_ptr_nonnull(*buf);
    }
    memcpy(*buf + *len, b, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static unsigned pf_jhex4(pf_jp *jp)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = *jp->c++;
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= h - '0';
        else if (h >= 'a' && h <= 'f')
            v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F')
            v |= h - 'A' + 10;
        else
            PF_JFAIL(jp, "bad \\u escape");
    }
    return v;
}

static char *pf_jstring(pf_jp *jp)
{
    if (*jp->c != '"')
        PF_JFAIL(jp, "string expected");
    jp->c++;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    pf_jput(&buf, &len, &cap, "", 0);
    for (;;) {
        unsigned char c = *jp->c;
        if (c == '"') {
            jp->c++;
            return buf;
        }
        if (c < 0x20)
            PF_JFAIL(jp, c == 0 ? "unterminated string" : "raw control character in a string");
        if (c == '\\') {
            jp->c++;
            char e = (char)*jp->c++;
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *k = e != '\0' ? strchr(from, e) : NULL;
            if (k != NULL) {
                pf_jput(&buf, &len, &cap, &to[k - from], 1);
                continue;
            }
            if (e != 'u')
                PF_JFAIL(jp, "bad escape");
            uint32_t cp = pf_jhex4(jp);
            if (cp >= 0xdc00 && cp <= 0xdfff)
                PF_JFAIL(jp, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (jp->c[0] != '\\' || jp->c[1] != 'u')
                    PF_JFAIL(jp, "lone high surrogate");
                jp->c += 2;
                uint32_t lo = pf_jhex4(jp);
                if (lo < 0xdc00 || lo > 0xdfff)
                    PF_JFAIL(jp, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0)
                PF_JFAIL(jp, "\\u0000 in a name");
            unsigned char u[4];
            size_t n;
            if (cp < 0x80) {
                u[0] = (unsigned char)cp, n = 1;
            } else if (cp < 0x800) {
                u[0] = (unsigned char)(0xc0 | cp >> 6), n = 2;
            } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xe0 | cp >> 12), n = 3;
            } else {
                u[0] = (unsigned char)(0xf0 | cp >> 18), n = 4;
            }
            for (size_t i = 1; i < n; i++)
                u[i] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
            pf_jput(&buf, &len, &cap, u, n);
            continue;
        }
        /* raw UTF-8: the shortest form of a scalar value */
        size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                            : c >= 0xf0 && c <= 0xf4   ? 4
                                                       : 0;
        if (n == 0)
            PF_JFAIL(jp, "invalid UTF-8 lead byte");
        uint32_t cp = n == 1 ? c : c & (0x7f >> n);
        for (size_t i = 1; i < n; i++) {
            if ((jp->c[i] & 0xc0) != 0x80)
                PF_JFAIL(jp, "invalid UTF-8 continuation");
            cp = cp << 6 | (jp->c[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            PF_JFAIL(jp, "invalid UTF-8 sequence");
        pf_jput(&buf, &len, &cap, jp->c, n);
        jp->c += n;
    }
}

static void pf_jvalue(pf_jp *jp, pf_json *out, int depth)
{
    ck_assert_int_lt(depth, 32);
    memset(out, 0, sizeof *out);
    pf_jws(jp);
    unsigned char c = *jp->c;
    if (c == '{' || c == '[') {
        out->type = c == '{' ? 'o' : 'a';
        jp->c++;
        pf_jws(jp);
        if (*jp->c == (c == '{' ? '}' : ']')) {
            jp->c++;
            return;
        }
        for (;;) {
            out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
            ck_assert_ptr_nonnull(out->v);
            if (c == '{') {
                out->keys = realloc(out->keys, (out->n + 1) * sizeof *out->keys);
                ck_assert_ptr_nonnull(out->keys);
                pf_jws(jp);
                out->keys[out->n] = pf_jstring(jp);
                for (size_t i = 0; i < out->n; i++)
                    ck_assert_msg(strcmp(out->keys[i], out->keys[out->n]) != 0,
                                  "JSON: duplicate key %s", out->keys[i]);
                pf_jws(jp);
                if (*jp->c++ != ':')
                    PF_JFAIL(jp, ": expected");
            }
            pf_jvalue(jp, &out->v[out->n++], depth + 1);
            pf_jws(jp);
            if (*jp->c == ',') {
                jp->c++;
                continue;
            }
            if (*jp->c != (c == '{' ? '}' : ']'))
                PF_JFAIL(jp, ", or end expected");
            jp->c++;
            return;
        }
    }
    if (c == '"') {
        out->type = 's';
        out->s = pf_jstring(jp);
        return;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        out->type = 'n';
        const unsigned char *s = jp->c;
        if (*jp->c == '-')
            jp->c++;
        if (*jp->c == '0')
            jp->c++;
        else if (*jp->c >= '1' && *jp->c <= '9')
            while (*jp->c >= '0' && *jp->c <= '9')
                jp->c++;
        else
            PF_JFAIL(jp, "bad number");
        out->uint = *s != '-' && *jp->c != '.' && *jp->c != 'e' && *jp->c != 'E';
        if (*jp->c == '.') {
            jp->c++;
            if (!(*jp->c >= '0' && *jp->c <= '9'))
                PF_JFAIL(jp, "bad fraction");
            while (*jp->c >= '0' && *jp->c <= '9')
                jp->c++;
        }
        if (*jp->c == 'e' || *jp->c == 'E') {
            jp->c++;
            if (*jp->c == '+' || *jp->c == '-')
                jp->c++;
            if (!(*jp->c >= '0' && *jp->c <= '9'))
                PF_JFAIL(jp, "bad exponent");
            while (*jp->c >= '0' && *jp->c <= '9')
                jp->c++;
        }
        if (out->uint) {
            errno = 0;
            out->u = strtoull((const char *)s, NULL, 10);
            ck_assert_msg(errno == 0, "JSON: integer out of range");
        }
        return;
    }
    const char *lit[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (strncmp((const char *)jp->c, lit[i], strlen(lit[i])) == 0) {
            out->type = "tfz"[i];
            jp->c += strlen(lit[i]);
            return;
        }
    PF_JFAIL(jp, "value expected");
}

/* Parse a whole document (nothing but white space after the value). */
static void pf_json_parse(const char *text, pf_json *out)
{
    pf_jp jp = {(const unsigned char *)text, (const unsigned char *)text};
    pf_jvalue(&jp, out, 0);
    pf_jws(&jp);
    if (*jp.c != '\0')
        PF_JFAIL(&jp, "text after the value");
}

static void pf_json_free(pf_json *j)
{
    for (size_t i = 0; i < j->n; i++) {
        pf_json_free(&j->v[i]);
        if (j->keys != NULL)
            free(j->keys[i]);
    }
    free(j->keys);
    free(j->v);
    free(j->s);
}

/* Member `key` of object o, of type `type`; fails the test if missing. */
static const pf_json *pf_jget(const pf_json *o, const char *key, char type)
{
    ck_assert_int_eq(o->type, 'o');
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) {
            ck_assert_msg(o->v[i].type == type, "JSON: %s is a '%c', not '%c'", key,
                          o->v[i].type, type);
            return &o->v[i];
        }
    ck_abort_msg("JSON: no member %s", key);
    return NULL;
}

static uint64_t pf_jget_u(const pf_json *o, const char *key)
{
    const pf_json *v = pf_jget(o, key, 'n');
    ck_assert_msg(v->uint, "JSON: %s is not an unsigned integer", key);
    return v->u;
}

/* A speedscope file, checked against the file format (every required member,
 * frame indices in range, samples and weights of one length, endValue their
 * sum), turned back into folded text ("thread;frame;... weight/interval" per
 * sample, sorted) with the index of the heaviest profile. */
static char *pf_speedscope_folded(const pf_json *doc, uint64_t interval, size_t *heaviest)
{
    ck_assert_str_eq(pf_jget(doc, "$schema", 's')->s,
                     "https://www.speedscope.app/file-format-schema.json");
    ck_assert_msg(strncmp(pf_jget(doc, "exporter", 's')->s, "libsampler ", 11) == 0,
                  "exporter: %s", pf_jget(doc, "exporter", 's')->s);
    pf_jget(doc, "name", 's');
    const pf_json *frames = pf_jget(pf_jget(doc, "shared", 'o'), "frames", 'a');
    for (size_t i = 0; i < frames->n; i++) {
        const char *name = pf_jget(&frames->v[i], "name", 's')->s;
        for (size_t k = 0; k < i; k++) /* one frame per name */
            ck_assert_str_ne(pf_jget(&frames->v[k], "name", 's')->s, name);
    }
    const pf_json *profs = pf_jget(doc, "profiles", 'a');
    char **lines = NULL;
    size_t nlines = 0;
    uint64_t best = 0;
    *heaviest = SIZE_MAX;
    for (size_t i = 0; i < profs->n; i++) {
        const pf_json *pr = &profs->v[i];
        ck_assert_str_eq(pf_jget(pr, "type", 's')->s, "sampled");
        ck_assert_str_eq(pf_jget(pr, "unit", 's')->s, "nanoseconds");
        const char *thread = pf_jget(pr, "name", 's')->s;
        for (size_t k = 0; k < i; k++) /* one profile per thread */
            ck_assert_str_ne(pf_jget(&profs->v[k], "name", 's')->s, thread);
        ck_assert_uint_eq(pf_jget_u(pr, "startValue"), 0);
        const pf_json *samples = pf_jget(pr, "samples", 'a');
        const pf_json *weights = pf_jget(pr, "weights", 'a');
        ck_assert_uint_eq(samples->n, weights->n);
        ck_assert_uint_gt(samples->n, 0);
        uint64_t sum = 0;
        for (size_t s = 0; s < samples->n; s++) {
            ck_assert_int_eq(weights->v[s].type, 'n');
            ck_assert(weights->v[s].uint);
            uint64_t w = weights->v[s].u;
            ck_assert_msg(w > 0 && w % interval == 0, "weight %" PRIu64 " not in intervals", w);
            sum += w;
            const pf_json *st = &samples->v[s];
            ck_assert_int_eq(st->type, 'a');
            ck_assert_uint_gt(st->n, 0);
            char *line = NULL;
            size_t len = 0, cap = 0;
            pf_jput(&line, &len, &cap, thread, strlen(thread));
            for (size_t k = 0; k < st->n; k++) {
                ck_assert_msg(st->v[k].type == 'n' && st->v[k].uint && st->v[k].u < frames->n,
                              "bad frame index in profile %zu", i);
                const char *name = pf_jget(&frames->v[st->v[k].u], "name", 's')->s;
                pf_jput(&line, &len, &cap, ";", 1);
                pf_jput(&line, &len, &cap, name, strlen(name));
            }
            char num[32];
            int nn = snprintf(num, sizeof num, " %" PRIu64 "\n", w / interval);
            pf_jput(&line, &len, &cap, num, (size_t)nn);
            lines = realloc(lines, (nlines + 1) * sizeof *lines);
            ck_assert_ptr_nonnull(lines);
            lines[nlines++] = line;
        }
        ck_assert_uint_eq(pf_jget_u(pr, "endValue"), sum);
        if (*heaviest == SIZE_MAX || sum > best) {
            best = sum;
            *heaviest = i;
        }
    }
    qsort(lines, nlines, sizeof *lines, pf_strcmp_p);
    char *text = NULL;
    size_t len = 0, cap = 0;
    pf_jput(&text, &len, &cap, "", 0);
    for (size_t i = 0; i < nlines; i++) {
        pf_jput(&text, &len, &cap, lines[i], strlen(lines[i]));
        free(lines[i]);
    }
    free(lines);
    return text;
}

/* Bytes 0xfe and 0xff (never in UTF-8) as U+FFFD, the way the speedscope
 * writer writes bytes that are not UTF-8. */
static char *pf_fffd(const char *s)
{
    char *out = malloc(strlen(s) * 3 + 1), *w = out;
    ck_assert_ptr_nonnull(out);
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s >= 0xfe) {
            memcpy(w, "\xef\xbf\xbd", 3);
            w += 3;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return out;
}

/* Folded text with its lines sorted. */
static char *pf_sorted_lines(const char *text)
{
    char *copy = strdup(text);
    ck_assert_ptr_nonnull(copy);
    char **lines = NULL;
    size_t n = 0;
    for (char *l = strtok(copy, "\n"); l != NULL; l = strtok(NULL, "\n")) {
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, pf_strcmp_p);
    char *out = malloc(strlen(text) + 2), *w = out;
    *w = '\0';
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%s\n", lines[i]);
    free(lines);
    free(copy);
    return out;
}

/* A copy of tests' tm_liba.so under a name with a quote, a backslash, a
 * tab, a control character and a byte that is not UTF-8: a pc in its ELF
 * header (no symbol there) is named after the file. */
static void *pf_weird_lib(uintptr_t *base)
{
    size_t len;
    char *src = pf_slurp(TM_LIBDIR "/tm_liba.so", &len);
    const char *path = pf_path("pf\"q\\x\t\x01\xff.so");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(src, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    free(src);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
    struct link_map *lm;
    ck_assert_int_eq(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
    *base = lm->l_addr;
    return h;
}

START_TEST(test_speedscope)
{
    uintptr_t base;
    void *lib = pf_weird_lib(&base);
    sampler_profile_options o;
    ck_assert_sampler(sampler_profile_options_init(&o, sizeof o), 0);
    o.interval_ns = PF_INTERVAL_NS;
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, &o), 0);

    /* this thread, named with a quote, a backslash, a control character (the
     * profile makes it '_'), a byte that is not UTF-8 and an e acute */
    char old[32];
    ck_assert_int_eq(pthread_getname_np(pthread_self(), old, sizeof old), 0);
    ck_assert_int_eq(pthread_setname_np(pthread_self(), "pf\"t\\\x01\xfe\xc3\xa9"), 0);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    sampler_sample s = {.tid = tu_gettid(), .depth = 3, .weight = 90, .pcs = pcs,
                        .time_ns = tu_now_ns()};
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    pthread_setname_np(pthread_self(), old);
    uintptr_t cold[2] = {(uintptr_t)pf_work_cold + 1, pcs[2]};
    pf_add(p, tu_gettid(), cold, 2, 10);
    uintptr_t weird[2] = {base + 0x10, pcs[2]};
    s = (sampler_sample){.tid = tu_gettid(), .depth = 2, .weight = 5, .pcs = weird,
                         .time_ns = tu_now_ns()};
    ck_assert_sampler(sampler_profile_add(p, &s), 0);
    /* a thread that is gone by now ("[exited] (tid)": above the largest pid),
     * lighter, and sorted first */
    pf_add(p, 4194305, cold, 2, 50);
    pf_add(p, 4194305, pcs, 3, 1);

    const char *path = pf_path("out.speedscope.json");
    ck_assert_sampler(sampler_profile_write_speedscope(p, path, 0), 0);
    char *raw = pf_slurp(path, NULL);
    /* the escapes as JSON writes them */
    ck_assert_msg(strstr(raw, "\"pf\\\"t\\\\_\\ufffd\xc3\xa9 (") != NULL,
                  "thread name escaped wrongly:\n%s", raw);
    ck_assert_msg(strstr(raw, "\"pf\\\"q\\\\x\\t\\u0001\\ufffd.so+0x") != NULL,
                  "file name escaped wrongly:\n%s", raw);
    pf_json doc;
    pf_json_parse(raw, &doc);
    size_t heaviest;
    char *back = pf_speedscope_folded(&doc, PF_INTERVAL_NS, &heaviest);
    /* the same stacks, names and weights as the folded writer's */
    char *folded = pf_folded_text(p, SAMPLER_PROFILE_THREADS);
    char *want = pf_fffd(folded);
    char *want_sorted = pf_sorted_lines(want);
    ck_assert_str_eq(back, want_sorted);
    ck_assert_uint_eq(pf_jget(&doc, "profiles", 'a')->n, 2);
    ck_assert_uint_eq(heaviest, 1);
    ck_assert_uint_eq(pf_jget_u(&doc, "activeProfileIndex"), heaviest);
    ck_assert_uint_eq(pf_jget_u(&pf_jget(&doc, "profiles", 'a')->v[1], "endValue"),
                      105 * PF_INTERVAL_NS);
    ck_assert_str_eq(pf_jget(&doc, "name", 's')->s, program_invocation_short_name);
    free(want_sorted);
    free(want);
    free(folded);
    free(back);
    free(raw);
    pf_json_free(&doc);

    /* raw addresses; the threads flag changes nothing */
    ck_assert_sampler(sampler_profile_write_speedscope(
                          p, path, SAMPLER_PROFILE_ADDRESSES | SAMPLER_PROFILE_THREADS),
                      0);
    raw = pf_slurp(path, NULL);
    pf_json_parse(raw, &doc);
    back = pf_speedscope_folded(&doc, PF_INTERVAL_NS, &heaviest);
    folded = pf_folded_text(p, SAMPLER_PROFILE_THREADS | SAMPLER_PROFILE_ADDRESSES);
    want = pf_fffd(folded);
    want_sorted = pf_sorted_lines(want);
    ck_assert_str_eq(back, want_sorted);
    free(want_sorted);
    free(want);
    free(folded);
    free(back);
    free(raw);
    pf_json_free(&doc);

    /* by the file name's ending */
    unlink(path);
    ck_assert_sampler(sampler_profile_write(p, path, NULL, 0), 0);
    raw = pf_slurp(path, NULL);
    pf_json_parse(raw, &doc);
    pf_jget(&doc, "$schema", 's');
    free(raw);
    pf_json_free(&doc);

    /* an empty profile is a file without profiles */
    ck_assert_sampler(sampler_profile_reset(p), 0);
    ck_assert_sampler(sampler_profile_write_speedscope(p, path, 0), 0);
    raw = pf_slurp(path, NULL);
    pf_json_parse(raw, &doc);
    ck_assert_uint_eq(pf_jget(&doc, "profiles", 'a')->n, 0);
    ck_assert_uint_eq(pf_jget(pf_jget(&doc, "shared", 'o'), "frames", 'a')->n, 0);
    free(raw);
    pf_json_free(&doc);

    /* refused */
    ck_assert_sampler(sampler_profile_write_speedscope(NULL, path, 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write_speedscope(p, NULL, 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write_speedscope(p, path, 0x100), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write_speedscope(p, "/nonexistent-dir/x.speedscope.json",
                                                       0),
                      SAMPLER_EIO);
    ck_assert_int_eq(errno, ENOENT);
    if (access("/dev/full", W_OK) == 0) {
        pf_add(p, tu_gettid(), pcs, 3, 1);
        ck_assert_sampler(sampler_profile_write_speedscope(p, "/dev/full", 0), SAMPLER_EIO);
        ck_assert_int_eq(errno, ENOSPC);
    }
    sampler_profile_free(p);
    dlclose(lib);
}
END_TEST

/* One format table: every row is complete and found by its name and its
 * extension; sampler_profile_write() picks the writer by name or by the file
 * name's ending and refuses what it cannot write. */
START_TEST(test_formats)
{
    size_t n = 0;
    for (const sampler_profile_format *f; (f = sampler_profile_format_at(n)) != NULL; n++) {
        ck_assert_msg(f->name[0] != '\0' && f->extension[0] == '.' && f->description[0] != '\0',
                      "row %zu incomplete", n);
        ck_assert_uint_le(strlen(f->description), 56); /* a help line */
        ck_assert_ptr_eq(sampler_profile_format_find(f->name), f);
        char name[64];
        snprintf(name, sizeof name, "dir.x/prof%s", f->extension);
        ck_assert_ptr_eq(sampler_profile_format_for_path(name), f);
        ck_assert_ptr_null(sampler_profile_format_for_path(f->extension)); /* only the ending */
        snprintf(name, sizeof name, "dir/%s", f->extension);
        ck_assert_ptr_null(sampler_profile_format_for_path(name));
    }
    ck_assert_uint_ge(n, 3);
    ck_assert_str_eq(sampler_profile_format_at(0)->name, SAMPLER_PROFILE_DEFAULT_FORMAT);
    ck_assert_ptr_null(sampler_profile_format_at(n));
    ck_assert_ptr_null(sampler_profile_format_find("json"));
    ck_assert_ptr_null(sampler_profile_format_find(NULL));
    ck_assert_ptr_null(sampler_profile_format_for_path("prof.txt"));
    ck_assert_ptr_null(sampler_profile_format_for_path(NULL));
    ck_assert_str_eq(sampler_profile_format_for_path("a.pprof")->name, "pprof");
    ck_assert_str_eq(sampler_profile_format_for_path("a.pb.gz")->name, "pprof");
    ck_assert_str_eq(sampler_profile_format_for_path("a.speedscope.json")->name, "speedscope");
    ck_assert_ptr_null(sampler_profile_format_for_path("a.json"));
    ck_assert_int_eq(sampler_profile_format_find("pprof")->available,
                     (sampler_profile_features() & SAMPLER_PROFILE_HAVE_PPROF) != 0);

    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    pf_add(p, tu_gettid(), pcs, 3, 7);
    /* by ending, by name (over the ending), the default */
    ck_assert_sampler(sampler_profile_write(p, pf_path("a.svg"), NULL, SAMPLER_PROFILE_THREADS),
                      0);
    char *text = pf_slurp(pf_path("a.svg"), NULL);
    ck_assert_msg(strncmp(text, "<?xml", 5) == 0, "a.svg is no SVG");
    free(text);
    ck_assert_sampler(sampler_profile_write(p, pf_path("b.svg"), "folded", 0), 0);
    text = pf_slurp(pf_path("b.svg"), NULL);
    ck_assert_uint_eq(pf_folded_sum(text), 7);
    free(text);
    ck_assert_sampler(sampler_profile_write(p, pf_path("c.txt"), NULL, 0), 0);
    text = pf_slurp(pf_path("c.txt"), NULL);
    ck_assert_uint_eq(pf_folded_sum(text), 7);
    free(text);
    int want = sampler_profile_format_find("pprof")->available ? 0 : SAMPLER_EUNSUPPORTED;
    ck_assert_sampler(sampler_profile_write(p, pf_path("d.pb.gz"), NULL, SAMPLER_PROFILE_THREADS),
                      want);
    if (want == 0) {
        size_t len;
        unsigned char *gz = (unsigned char *)pf_slurp(pf_path("d.pb.gz"), &len);
        ck_assert_msg(len > 2 && gz[0] == 0x1f && gz[1] == 0x8b, "d.pb.gz is not gzip");
        free(gz);
    }
    /* refused */
    ck_assert_sampler(sampler_profile_write(p, pf_path("e"), "json", 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write(p, pf_path("e"), NULL, 0x100), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write(NULL, pf_path("e"), NULL, 0), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_write(p, NULL, NULL, 0), SAMPLER_EINVAL);
    ck_assert_int_eq(access(pf_path("e"), F_OK), -1);
    ck_assert_sampler(sampler_profile_write(p, "/nonexistent-dir/x.folded", NULL, 0),
                      SAMPLER_EIO);
    sampler_profile_free(p);
}
END_TEST

/* Frames of a client's own kind: named by the client's resolver once per
 * distinct (word, extra word), with the extra word's payload; folded and
 * pprof show them between native frames; an unnamed kind is shown as such. */
typedef struct pf_resolver_log {
    int calls;
    uint64_t payload[8], extra[8];
} pf_resolver_log;

static int pf_resolve(unsigned int kind, uint64_t payload, uint64_t extra,
                      sampler_frame_info *info, void *arg)
{
    pf_resolver_log *log = arg;
    ck_assert_uint_eq(kind, 5);
    if (log->calls < 8) {
        log->payload[log->calls] = payload;
        log->extra[log->calls] = extra;
    }
    log->calls++;
    if (payload == 666)
        return -1; /* a frame the client does not know */
    static char name[64], func[32];
    snprintf(func, sizeof func, "toy_fn%" PRIu64, payload);
    snprintf(name, sizeof name, "%s (toy.src:%" PRIu64 ")", func, extra);
    info->name = name;
    info->function = func;
    info->file = "toy.src";
    info->line = (int)extra;
    return 0;
}

START_TEST(test_client_frames)
{
    ck_assert_uint_eq(SAMPLER_FRAME_KIND(SAMPLER_FRAME_MAKE(5, 42)), 5);
    ck_assert_uint_eq(SAMPLER_FRAME_PAYLOAD(SAMPLER_FRAME_MAKE(5, 42)), 42);
    ck_assert_uint_eq(SAMPLER_FRAME_KIND((uintptr_t)&pf_resolve), 0); /* a native pc */
    ck_assert_uint_eq(SAMPLER_FRAME_KIND(~(uintptr_t)0), 0);          /* kernel-like */

    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    pf_resolver_log log = {0};
    ck_assert_sampler(sampler_profile_set_frame_resolver(p, 0, pf_resolve, &log), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_set_frame_resolver(p, SAMPLER_FRAME_KIND_EXTRA, pf_resolve,
                                                         &log),
                      SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_set_frame_resolver(NULL, 5, pf_resolve, &log),
                      SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_set_frame_resolver(p, 5, pf_resolve, &log), 0);

    uintptr_t native[3];
    pf_sym_stack(native); /* leaf pf_static_leaf .. root pf_sym_outer */
    /* innermost first: a toy frame (fn7 at line 12) called from native code
     * called from a toy frame (fn3 at line 40) */
    uintptr_t a[6] = {SAMPLER_FRAME_MAKE(5, 7),  SAMPLER_FRAME_MAKE(SAMPLER_FRAME_KIND_EXTRA, 12),
                      native[1],                 native[2],
                      SAMPLER_FRAME_MAKE(5, 3),  SAMPLER_FRAME_MAKE(SAMPLER_FRAME_KIND_EXTRA, 40)};
    pf_add(p, tu_gettid(), a, 6, 3);
    pf_add(p, tu_gettid(), a, 6, 2); /* the same: no new resolver call */
    ck_assert_int_eq(log.calls, 2);
    ck_assert_uint_eq(log.payload[0], 7);
    ck_assert_uint_eq(log.extra[0], 12);
    ck_assert_uint_eq(log.payload[1], 3);
    ck_assert_uint_eq(log.extra[1], 40);
    /* the same function at another line is another frame; no extra word: 0 */
    uintptr_t b[2] = {SAMPLER_FRAME_MAKE(5, 7), SAMPLER_FRAME_MAKE(6, 1)};
    pf_add(p, tu_gettid(), b, 2, 4);
    uintptr_t c[1] = {SAMPLER_FRAME_MAKE(5, 666)};
    pf_add(p, tu_gettid(), c, 1, 1);
    ck_assert_int_eq(log.calls, 4);
    ck_assert_uint_eq(log.extra[2], 0);

    char *text = pf_folded_text(p, 0);
    /* root first: toy_fn3, the two native frames, toy_fn7 */
    const char *line = strstr(text, "toy_fn3 (toy.src:40);");
    ck_assert_msg(line != NULL && (line == text || line[-1] == '\n'), "no toy root:\n%s", text);
    const char *end = strchr(line, '\n');
    ck_assert_ptr_nonnull(end);
    int semis = 0;
    for (const char *q = line; q < end; q++)
        semis += *q == ';';
    ck_assert_msg(semis == 3 && strncmp(end - strlen(";toy_fn7 (toy.src:12) 5"),
                                        ";toy_fn7 (toy.src:12) 5", 23) == 0,
                  "wrong stack:\n%s", text);
    ck_assert_msg(strstr(line, "[kind") == NULL || strstr(line, "[kind") > end,
                  "a native frame or an extra word shown as a client frame:\n%s", text);
    ck_assert_msg(strstr(text, "[kind 6 0x1];toy_fn7 (toy.src:0) 4") != NULL,
                  "unnamed kind or extra-less frame wrong:\n%s", text);
    ck_assert_msg(strstr(text, "[kind 5 0x29a] 1") != NULL, "unknown frame wrong:\n%s", text);
    ck_assert_uint_eq(pf_folded_sum(text), 10);
    free(text);
    /* addresses: native pcs as numbers, client frames still named */
    text = pf_folded_text(p, SAMPLER_PROFILE_ADDRESSES);
    ck_assert_msg(strstr(text, "toy_fn3 (toy.src:40);0x") != NULL, "%s", text);
    free(text);

#ifdef SAMPLER_TEST_PPROF
    ck_assert_sampler(sampler_profile_write_pprof(p, pf_path("toy.pb.gz")), 0);
    SamplerPprof__Profile *pr = pf_read_pprof(pf_path("toy.pb.gz"));
    int found = 0;
    for (size_t i = 0; i < pr->n_sample; i++) {
        const SamplerPprof__Sample *sm = pr->sample[i];
        if (sm->value[0] != 5)
            continue;
        ck_assert_uint_eq(sm->n_location_id, 4); /* extra words are no locations */
        const SamplerPprof__Location *l = pf_loc(pr, sm->location_id[0]);
        const SamplerPprof__Function *fn = pf_fun(pr, l->line[0]->function_id);
        ck_assert_str_eq(pf_str(pr, fn->name), "toy_fn7"); /* the function, not the display */
        ck_assert_str_eq(pf_str(pr, fn->filename), "toy.src");
        ck_assert_int_eq(l->line[0]->line, 12);
        ck_assert_uint_eq(l->mapping_id, 0);
        found++;
    }
    ck_assert_int_eq(found, 1);
    sampler__pprof__profile__free_unpacked(pr, NULL);
#endif
    sampler_profile_free(p);
}
END_TEST

/* A thread named by the client keeps that name in every writer, also when
 * the thread is gone (no /proc entry) and across a reset; naming alone does
 * not count a thread. */
START_TEST(test_thread_names)
{
    sampler_profile *p;
    ck_assert_sampler(sampler_profile_new(&p, NULL), 0);
    ck_assert_sampler(sampler_profile_set_thread_name(NULL, 5, "x"), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_set_thread_name(p, 0, "x"), SAMPLER_EINVAL);
    ck_assert_sampler(sampler_profile_set_thread_name(p, 5, NULL), SAMPLER_EINVAL);
    /* a tid no thread has (pid_max is at most 2^22): /proc cannot name it */
    pid_t gone = (1 << 22) + 7;
    ck_assert_sampler(sampler_profile_set_thread_name(p, gone, "worker;7\n"), 0);
    sampler_profile_totals t;
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.threads, 0);
    uintptr_t pcs[3];
    pf_sym_stack(pcs);
    pf_add(p, gone, pcs, 3, 4);
    pf_add(p, gone + 1, pcs, 3, 1); /* unnamed and gone */
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.threads, 2);
    char want[64];
    snprintf(want, sizeof want, "worker_7_ (%d);", (int)gone);
    char *text = pf_folded_text(p, SAMPLER_PROFILE_THREADS);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in:\n%s", want, text);
    snprintf(want, sizeof want, "[exited] (%d);", (int)gone + 1);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in:\n%s", want, text);
    free(text);
    ck_assert_sampler(sampler_profile_write_svg(p, pf_path("n.svg"), SAMPLER_PROFILE_THREADS),
                      0);
    text = pf_slurp(pf_path("n.svg"), NULL);
    ck_assert_msg(strstr(text, "worker_7_ (") != NULL, "SVG lacks the thread's name");
    free(text);
#ifdef SAMPLER_TEST_PPROF
    ck_assert_sampler(sampler_profile_write_pprof(p, pf_path("n.pb.gz")), 0);
    SamplerPprof__Profile *pr = pf_read_pprof(pf_path("n.pb.gz"));
    int named = 0;
    for (size_t i = 0; i < pr->n_sample; i++)
        for (size_t l = 0; l < pr->sample[i]->n_label; l++)
            if (strcmp(pf_str(pr, pr->sample[i]->label[l]->key), "thread") == 0 &&
                strcmp(pf_str(pr, pr->sample[i]->label[l]->str), "worker_7_") == 0)
                named++;
    ck_assert_int_eq(named, 1);
    sampler__pprof__profile__free_unpacked(pr, NULL);
#endif
    /* a reset keeps the name, not the samples */
    ck_assert_sampler(sampler_profile_reset(p), 0);
    ck_assert_sampler(sampler_profile_get_totals(p, &t, sizeof t), 0);
    ck_assert_uint_eq(t.threads, 0);
    pf_add(p, gone, pcs, 3, 2);
    text = pf_folded_text(p, SAMPLER_PROFILE_THREADS);
    snprintf(want, sizeof want, "worker_7_ (%d);", (int)gone);
    ck_assert_msg(strstr(text, want) != NULL, "name lost in a reset:\n%s", text);
    free(text);
    sampler_profile_free(p);
}
END_TEST

Suite *profile_suite(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_add_checked_fixture(tc, pf_setup, pf_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_aggregation);
    tcase_add_test(tc, test_folded_totals);
    tcase_add_test(tc, test_collector);
    tcase_add_test(tc, test_symbols);
    tcase_add_test(tc, test_svg);
    tcase_add_test(tc, test_svg_names);
    tcase_add_test(tc, test_pprof);
    tcase_add_test(tc, test_go_pprof);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_badinput);
    tcase_add_test(tc, test_drain_adapter);
    tcase_add_test(tc, test_delayed_weight_has_its_own_frame);
    tcase_add_test(tc, test_formats);
    tcase_add_test(tc, test_client_frames);
    tcase_add_test(tc, test_thread_names);
    tcase_add_test(tc, test_speedscope);
    suite_add_tcase(s, tc);

    tc = tcase_create("fork");
    tcase_add_checked_fixture(tc, pf_setup, pf_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fork_while_collecting);
    tcase_add_test(tc, test_fork_handler_order);
    suite_add_tcase(s, tc);
    return s;
}
