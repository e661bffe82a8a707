/* Profiles: aggregation of samples by (thread, stack), per-thread info, the
 * symbol cache. Consumer side only: nothing here runs in a signal handler. */
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Thread_local int sampler__profile_oom;

#define SAMPLER__DEFAULT_INTERVAL_NS 10000000ULL

unsigned int sampler_profile_features(void)
{
    unsigned int f = sampler__sym_features();
#ifdef HAVE_PPROF
    f |= SAMPLER_PROFILE_HAVE_PPROF;
#endif
    return f;
}

int sampler_profile_options_init(sampler_profile_options *opt, size_t size)
{
    if (opt == NULL)
        return SAMPLER_EINVAL;
    size_t v1 = offsetof(sampler_profile_options, interval_ns) + sizeof opt->interval_ns;
    if (size < v1)
        return SAMPLER_ESTRUCTSIZE;
    memset(opt, 0, size < sizeof *opt ? size : sizeof *opt);
    opt->size = size;
    return 0;
}

static uint64_t sampler__clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The running (or last) sampler's interval, 0 if it never ran. cfg is set
 * before the handler is installed and not changed until the next start. */
static uint64_t sampler__sampler_interval(void)
{
    return sampler__g.cfg.interval_ns;
}

uint64_t sampler__profile_interval(sampler_profile *p)
{
    if (p->interval_ns == 0)
        p->interval_ns = sampler__sampler_interval();
    return p->interval_ns != 0 ? p->interval_ns : SAMPLER__DEFAULT_INTERVAL_NS;
}

int sampler_profile_new(sampler_profile **out, const sampler_profile_options *opt)
{
    if (out == NULL)
        return SAMPLER_EINVAL;
    *out = NULL;
    sampler_profile_options o;
    sampler_profile_options_init(&o, sizeof o);
    if (opt != NULL) {
        size_t v1 = offsetof(sampler_profile_options, interval_ns) + sizeof o.interval_ns;
        if (opt->size < v1)
            return SAMPLER_ESTRUCTSIZE;
        if (opt->size > sizeof o) {
            /* a newer header: its extra fields must be at their defaults (0) */
            const unsigned char *b = (const unsigned char *)opt;
            for (size_t i = sizeof o; i < opt->size; i++)
                if (b[i] != 0)
                    return SAMPLER_ESTRUCTSIZE;
        }
        memcpy(&o, opt, opt->size < sizeof o ? opt->size : sizeof o);
    }
    sampler_profile *p = calloc(1, sizeof *p);
    if (p == NULL)
        return SAMPLER_ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    p->interval_ns = o.interval_ns != 0 ? o.interval_ns : sampler__sampler_interval();
    p->interval_given = o.interval_ns != 0;
    p->start_realtime_ns = sampler__clock_ns(CLOCK_REALTIME);
    p->start_mono_ns = sampler__clock_ns(CLOCK_MONOTONIC);
    if (sampler__collector_init(p) < 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return SAMPLER_ENOMEM;
    }
    *out = p;
    return 0;
}

static void sampler__profile_clear(sampler_profile *p)
{
    sampler__pstack *st, *stmp;
    HASH_ITER(hh, p->stacks, st, stmp) {
        HASH_DEL(p->stacks, st);
        free(st);
    }
    sampler__pthread *t, *ttmp;
    HASH_ITER(hh, p->threads, t, ttmp) {
        HASH_DEL(p->threads, t);
        free(t);
    }
    p->samples = p->weight = p->nstacks = p->nthreads = 0;
}

static void sampler__frames_clear(sampler_profile *p)
{
    sampler__frame *f, *tmp;
    HASH_ITER(hh, p->frames, f, tmp) {
        HASH_DEL(p->frames, f);
        free(f->name);
        free(f->func);
        free(f->file);
        free(f->module);
        free(f);
    }
    if (p->sym != NULL)
        sampler__sym_close(p->sym);
    p->sym = NULL;
}

void sampler_profile_free(sampler_profile *p)
{
    if (p == NULL)
        return;
    sampler__collector_fini(p); /* stops the collector (final drain) first */
    sampler__profile_clear(p);
    sampler__frames_clear(p);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int sampler_profile_reset(sampler_profile *p)
{
    if (p == NULL)
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->lock);
    sampler__profile_clear(p);
    p->start_realtime_ns = sampler__clock_ns(CLOCK_REALTIME);
    p->start_mono_ns = sampler__clock_ns(CLOCK_MONOTONIC);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* The thread's name, read in the consumer (never in the handler). */
static void sampler__thread_name(pid_t tid, char *name, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = -1;
    if (fd >= 0) {
        do
            n = read(fd, name, size - 1);
        while (n < 0 && errno == EINTR);
        close(fd);
    }
    if (n <= 0) {
        snprintf(name, size, "[exited]");
        return;
    }
    name[n] = '\0';
    char *nl = strchr(name, '\n');
    if (nl != NULL)
        *nl = '\0';
    /* keep the name usable in folded stacks */
    for (char *c = name; *c != '\0'; c++)
        if (*c == ';' || (unsigned char)*c < 0x20)
            *c = '_';
}

sampler__pthread *sampler__profile_thread(sampler_profile *p, pid_t tid)
{
    sampler__pthread *t;
    HASH_FIND(hh, p->threads, &tid, sizeof tid, t);
    return t;
}

static sampler__pthread *sampler__thread_get(sampler_profile *p, pid_t tid)
{
    sampler__pthread *t = sampler__profile_thread(p, tid);
    if (t != NULL)
        return t;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->tid = tid;
    sampler__thread_name(tid, t->name, sizeof t->name);
    snprintf(t->label, sizeof t->label, "%s (%d)", t->name, (int)tid);
    sampler__profile_oom = 0;
    HASH_ADD(hh, p->threads, tid, sizeof t->tid, t);
    if (sampler__profile_oom) {
        sampler__pthread *chk;
        HASH_FIND(hh, p->threads, &tid, sizeof tid, chk);
        if (chk == NULL) {
            free(t);
            return NULL;
        }
    }
    p->nthreads++;
    return t;
}

static int sampler__profile_add_locked(sampler_profile *p, const sampler_sample *s)
{
    size_t keylen = (2 + (size_t)s->depth) * sizeof(uintptr_t);
    uintptr_t keybuf[2 + SAMPLER_MAX_DEPTH];
    keybuf[0] = (uintptr_t)(uint32_t)s->tid;
    keybuf[1] = (uintptr_t)s->depth;
    if (s->depth > 0)
        memcpy(keybuf + 2, s->pcs, (size_t)s->depth * sizeof(uintptr_t));

    sampler__pthread *t = sampler__thread_get(p, s->tid);
    if (t == NULL)
        return SAMPLER_ENOMEM;

    sampler__pstack *st;
    HASH_FIND(hh, p->stacks, keybuf, keylen, st);
    if (st == NULL) {
        st = calloc(1, sizeof *st + keylen);
        if (st == NULL)
            return SAMPLER_ENOMEM;
        st->tid = s->tid;
        st->depth = s->depth;
        st->keylen = keylen;
        memcpy(st->key, keybuf, keylen);
        sampler__profile_oom = 0;
        HASH_ADD_KEYPTR(hh, p->stacks, st->key, st->keylen, st);
        if (sampler__profile_oom) {
            sampler__pstack *chk;
            HASH_FIND(hh, p->stacks, keybuf, keylen, chk);
            if (chk == NULL) {
                free(st);
                return SAMPLER_ENOMEM;
            }
        }
        p->nstacks++;
    }
    st->samples++;
    st->weight += s->weight;
    t->samples++;
    t->weight += s->weight;
    p->samples++;
    p->weight += s->weight;
    return 0;
}

int sampler_profile_add(sampler_profile *p, const sampler_sample *s)
{
    if (p == NULL || s == NULL || s->depth < 0 || s->depth > SAMPLER_MAX_DEPTH ||
        (s->depth > 0 && s->pcs == NULL))
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->lock);
    int rc = sampler__profile_add_locked(p, s);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int sampler_profile_sample_fn(const sampler_sample *s, void *arg)
{
    return sampler_profile_add((sampler_profile *)arg, s) < 0;
}

typedef struct sampler__drain_ctx {
    sampler_profile *p;
    int rc;
} sampler__drain_ctx;

static int sampler__drain_one(const sampler_sample *s, void *arg)
{
    sampler__drain_ctx *c = arg;
    c->rc = sampler_profile_add(c->p, s);
    return c->rc < 0;
}

int sampler_profile_drain(sampler_profile *p)
{
    if (p == NULL)
        return SAMPLER_EINVAL;
    /* No profile lock around sampler_drain(): the callback takes it per
     * sample, so a concurrent drain holding the drain lock cannot deadlock
     * with us. */
    pthread_mutex_lock(&p->lock);
    if (p->interval_ns == 0)
        p->interval_ns = sampler__sampler_interval();
    pthread_mutex_unlock(&p->lock);
    sampler__drain_ctx c = {p, 0};
    int n = sampler_drain(sampler__drain_one, &c, 0);
    if (n >= 0 && c.rc < 0)
        return c.rc;
    return n;
}

int sampler_profile_get_totals(sampler_profile *p, sampler_profile_totals *out, size_t size)
{
    if (p == NULL || out == NULL)
        return SAMPLER_EINVAL;
    if (size < sizeof *out)
        return SAMPLER_ESTRUCTSIZE;
    pthread_mutex_lock(&p->lock);
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->samples = p->samples;
    out->weight = p->weight;
    out->stacks = p->nstacks;
    out->threads = p->nthreads;
    out->interval_ns = sampler__profile_interval(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---- symbol cache ---------------------------------------------------------- */

static char *sampler__strdup_clean(const char *s)
{
    char *d = strdup(s);
    if (d != NULL)
        for (char *c = d; *c != '\0'; c++)
            if (*c == ';' || *c == '\n' || *c == '\r')
                *c = '_';
    return d;
}

const sampler__frame *sampler__profile_frame(sampler_profile *p, uintptr_t pc, int i)
{
    uintptr_t addr = (i > 0 && pc > 0) ? pc - 1 : pc;
    sampler__frame *f;
    HASH_FIND(hh, p->frames, &addr, sizeof addr, f);
    if (f != NULL)
        return f;
    if (p->sym == NULL)
        p->sym = sampler__sym_open(); /* may stay NULL: names become [unknown] */
    sampler__sym_result r = {0};
    if (p->sym != NULL && sampler__sym_lookup(p->sym, addr, &r) < 0)
        return NULL;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        goto oom;
    f->addr = addr;
    f->func = r.func;
    f->file = r.file;
    f->line = r.line;
    f->module = r.module;
    r.func = r.file = r.module = NULL;
    char buf[64];
    if (f->func != NULL) {
        f->name = sampler__strdup_clean(f->func);
    } else if (f->module != NULL) {
        const char *base = strrchr(f->module, '/');
        base = base != NULL ? base + 1 : f->module;
        size_t n = strlen(base) + 32;
        f->name = malloc(n);
        if (f->name != NULL) {
            snprintf(f->name, n, "%s+0x%" PRIxPTR, base, addr - r.module_start);
            for (char *c = f->name; *c != '\0'; c++)
                if (*c == ';' || *c == ' ' || *c == '\n')
                    *c = '_';
        }
    } else {
        snprintf(buf, sizeof buf, "[unknown]");
        f->name = strdup(buf);
    }
    if (f->name == NULL)
        goto oom;
    sampler__profile_oom = 0;
    HASH_ADD(hh, p->frames, addr, sizeof f->addr, f);
    if (sampler__profile_oom) {
        sampler__frame *chk;
        HASH_FIND(hh, p->frames, &addr, sizeof addr, chk);
        if (chk == NULL)
            goto oom;
    }
    return f;
oom:
    if (f != NULL) {
        free(f->name);
        free(f->func);
        free(f->file);
        free(f->module);
        free(f);
    }
    free(r.func);
    free(r.file);
    free(r.module);
    return NULL;
}
