/* Profiles: aggregation of samples by (thread, stack), per-thread info, the
 * symbol cache. Consumer side only: nothing here runs in a signal handler.
 * Which loaded object each pc was in is profile_modules.c's. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Thread_local int sampler__profile_oom;

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

uint64_t sampler__profile_interval(sampler_profile *p)
{
    if (p->interval_ns == 0)
        p->interval_ns = sampler_get_interval_ns();
    return p->interval_ns != 0 ? p->interval_ns : SAMPLER_DEFAULT_INTERVAL_NS;
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
    p->interval_ns = o.interval_ns != 0 ? o.interval_ns : sampler_get_interval_ns();
    p->interval_given = o.interval_ns != 0;
    p->start_realtime_ns = sampler__clock_ns(CLOCK_REALTIME);
    p->start_mono_ns = sampler__clock_ns(CLOCK_MONOTONIC);
    if (sampler__mods_init(p) < 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return SAMPLER_ENOMEM;
    }
    if (sampler__collector_init(p) < 0) {
        sampler__mods_free(p);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return SAMPLER_ENOMEM;
    }
    *out = p;
    return 0;
}

/* Drop the samples; keep_names: keep the names a client gave threads. */
static void sampler__profile_clear(sampler_profile *p, bool keep_names)
{
    sampler__pstack *st, *stmp;
    HASH_ITER(hh, p->stacks, st, stmp) {
        HASH_DEL(p->stacks, st);
        if (st->var != &st->var1)
            free(st->var);
        free(st);
    }
    sampler__pthread *t, *ttmp;
    HASH_ITER(hh, p->threads, t, ttmp) {
        /* cppcheck-suppress uninitvar ; HASH_ITER sets t (cppcheck misses it) */
        if (keep_names && t->named) {
            t->sampled = false;
            t->samples = t->weight = 0;
            continue;
        }
        HASH_DEL(p->threads, t);
        free(t);
    }
    p->samples = p->weight = p->nstacks = p->nthreads = p->nvariants = 0;
    sampler__mods_unref_all(p);
}

static void sampler__frames_clear(sampler_profile *p)
{
    sampler__frame *f, *tmp;
    HASH_ITER(hh, p->frames, f, tmp) {
        HASH_DEL(p->frames, f);
        free(f->name);
        free(f->func);
        free(f->file);
        free(f);
    }
    if (p->sym != NULL)
        sampler__sym_close(p->sym);
    p->sym = NULL;
    sampler__mods_free(p); /* after the frames, which point at its modules */
}

void sampler_profile_free(sampler_profile *p)
{
    if (p == NULL)
        return;
    sampler__collector_fini(p); /* stops the collector (final drain) first */
    sampler__profile_clear(p, false);
    sampler__frames_clear(p);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int sampler_profile_reset(sampler_profile *p)
{
    if (p == NULL)
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->lock);
    sampler__profile_clear(p, true);
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

/* The entry of tid, made (named from /proc unless `named`) if new. */
static sampler__pthread *sampler__thread_entry(sampler_profile *p, pid_t tid, bool named)
{
    sampler__pthread *t = sampler__profile_thread(p, tid);
    if (t != NULL)
        return t;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->tid = tid;
    if (!named) {
        sampler__thread_name(tid, t->name, sizeof t->name);
        snprintf(t->label, sizeof t->label, "%s (%d)", t->name, (int)tid);
    }
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
    return t;
}

/* The entry of a sampled thread (counted in nthreads from its first sample). */
static sampler__pthread *sampler__thread_get(sampler_profile *p, pid_t tid)
{
    sampler__pthread *t = sampler__thread_entry(p, tid, false);
    if (t != NULL && !t->sampled) {
        t->sampled = true;
        p->nthreads++;
    }
    return t;
}

int sampler_profile_set_thread_name(sampler_profile *p, pid_t tid, const char *name)
{
    if (p == NULL || tid <= 0 || name == NULL)
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->lock);
    sampler__pthread *t = sampler__thread_entry(p, tid, true);
    if (t != NULL) {
        snprintf(t->name, sizeof t->name, "%s", name);
        for (char *c = t->name; *c != '\0'; c++) /* usable in folded stacks */
            if (*c == ';' || (unsigned char)*c < 0x20)
                *c = '_';
        snprintf(t->label, sizeof t->label, "%s (%d)", t->name, (int)tid);
        t->named = true;
    }
    pthread_mutex_unlock(&p->lock);
    return t != NULL ? 0 : SAMPLER_ENOMEM;
}

/* Whether the sets (a, b) name every pc of st as v's sets do. */
static bool sampler__pvar_same(const sampler__pstack *st, const sampler__pvar *v,
                               sampler__modset *a, sampler__modset *b)
{
    for (int i = 0; i < st->depth; i++) {
        uintptr_t pc = SAMPLER__PSTACK_PCS(st)[i];
        uintptr_t addr = (i > 0 && pc > 0) ? pc - 1 : pc;
        if (sampler__mods_resolve(a, b, addr) != sampler__mods_resolve(v->ma, v->mb, addr))
            return false;
    }
    return true;
}

static bool sampler__pvar_is(const sampler__pvar *v, uint32_t ida, uint32_t idb)
{
    return ((v->ma != NULL ? v->ma->id : 0) == ida && v->mb->id == idb) ||
           (v->alias_a == ida && v->alias_b == idb);
}

/* The variant of st whose samples are named against (a, b): one that was,
 * or one whose sets name every pc the same, else a new one. */
static sampler__pvar *sampler__pvar_get(sampler_profile *p, sampler__pstack *st,
                                        sampler__modset *a, sampler__modset *b)
{
    uint32_t ida = a != NULL ? a->id : 0, idb = b->id;
    if (sampler__pvar_is(&st->var[st->last], ida, idb))
        return &st->var[st->last];
    for (int i = 0; i < st->nvar; i++)
        if (sampler__pvar_is(&st->var[i], ida, idb)) {
            st->last = i;
            return &st->var[i];
        }
    for (int i = 0; i < st->nvar; i++)
        if (sampler__pvar_same(st, &st->var[i], a, b)) {
            st->var[i].alias_a = ida;
            st->var[i].alias_b = idb;
            st->last = i;
            return &st->var[i];
        }
    sampler__pvar *nv = malloc((size_t)(st->nvar + 1) * sizeof *nv);
    if (nv == NULL)
        return NULL;
    memcpy(nv, st->var, (size_t)st->nvar * sizeof *nv);
    if (st->var != &st->var1)
        free(st->var);
    st->var = nv;
    sampler__pvar *v = &nv[st->nvar];
    memset(v, 0, sizeof *v);
    v->ma = a;
    v->mb = b;
    if (a != NULL)
        a->refs++;
    b->refs++;
    st->last = st->nvar++;
    p->nvariants++;
    return v;
}

static const sampler__frame *sampler__client_frame(sampler_profile *p,
                                                   const sampler__pstack *st, int i);

/* nsamples: 1 for a sample, 0 for the delayed part of one (its weight only). */
static int sampler__profile_add_locked(sampler_profile *p, const sampler_sample *s,
                                       uint64_t nsamples)
{
    /* the loaded objects the pcs are to be named in (profile_modules.c) */
    sampler__modset *ma, *mb;
    if (sampler__mods_sets(p, s->time_ns, &ma, &mb) < 0)
        return SAMPLER_ENOMEM;
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
        st->var = &st->var1;
        st->nvar = 1;
        st->var1.ma = ma;
        st->var1.mb = mb;
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
        p->nvariants++;
        if (ma != NULL)
            ma->refs++;
        mb->refs++;
    }
    sampler__pvar *v = sampler__pvar_get(p, st, ma, mb);
    if (v == NULL)
        return SAMPLER_ENOMEM;
    v->samples += nsamples;
    v->weight += s->weight;
    st->samples += nsamples;
    st->weight += s->weight;
    t->samples += nsamples;
    t->weight += s->weight;
    p->samples += nsamples;
    p->weight += s->weight;
    /* a client's frames are named now, while what they stand for exists */
    for (int i = 0; i < st->depth; i++)
        if (sampler__word_is_client(SAMPLER__PSTACK_PCS(st)[i]) &&
            sampler__client_frame(p, st, i) == NULL)
            return SAMPLER_ENOMEM;
    return 0;
}

int sampler_profile_add(sampler_profile *p, const sampler_sample *s)
{
    if (p == NULL || s == NULL || s->depth < 0 || s->depth > SAMPLER_MAX_DEPTH ||
        (s->depth > 0 && s->pcs == NULL))
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->lock);
    int rc = sampler__profile_add_locked(p, s, 1);
    if (rc == 0 && s->delayed_weight > 0) {
        /* Intervals the thread ran with the signal blocked: a frame of their
         * own under the thread, not the unblocking call's (ARCHITECTURE.md
         * "Late signals"). */
        static const uintptr_t delayed_pc = SAMPLER__PC_DELAYED;
        sampler_sample d = *s;
        d.depth = 1;
        d.pcs = &delayed_pc;
        d.weight = s->delayed_weight;
        d.delayed_weight = 0;
        rc = sampler__profile_add_locked(p, &d, 0);
    }
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
        p->interval_ns = sampler_get_interval_ns();
    /* a look at the loaded objects, even with nothing to drain: samples
     * taken from here on until the next change are certainly named after
     * the objects loaded now (profile_modules.c) */
    int rc = sampler__mods_observe(p);
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        return rc;
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

/* Look addr up in m: through the live symbolizer when m is loaded now and
 * the symbolizer matches the loaded objects (made to match first: reported
 * again after any change), else from m's file (sampler__sym_lookup). */
static int sampler__profile_lookup(sampler_profile *p, sampler__module *m, uintptr_t addr,
                                   sampler__sym_result *r)
{
    if (p->sym == NULL)
        p->sym = sampler__sym_open(); /* may stay NULL: not loaded ones only */
    for (int tries = 0; tries < 3 && p->sym != NULL && sampler__mods_loaded(p, m); tries++) {
        if (p->mods.sym_set != p->mods.latest->id) {
            /* report again; it matches the latest set if the loader's
             * counters did not move from that set's look until after it */
            uint32_t id = p->mods.latest->id;
            p->mods.sym_set = 0;
            if (sampler__sym_refresh(p->sym) < 0)
                break;
            int rc = sampler__mods_observe(p);
            if (rc < 0)
                return rc;
            if (p->mods.latest->id != id)
                continue; /* changed meanwhile: m may be gone */
            p->mods.sym_set = id;
        }
        int rc = sampler__sym_lookup(p->sym, m, addr, true, r);
        if (rc < 0)
            return rc;
        if (sampler__mods_unchanged(p))
            return 0;
        /* objects came or went during the lookup (dladdr asks the loader
         * now): it may have seen another object; look and try again */
        free(r->func);
        free(r->file);
        memset(r, 0, sizeof *r);
        rc = sampler__mods_observe(p);
        if (rc < 0)
            return rc;
    }
    return sampler__sym_lookup(p->sym, m, addr, false, r);
}

/* Put a named frame into the cache; false when out of memory (f->name NULL,
 * or uthash could not add it). The caller frees f then. */
static bool sampler__frame_insert(sampler_profile *p, sampler__frame *f)
{
    if (f->name == NULL)
        return false;
    sampler__profile_oom = 0;
    HASH_ADD(hh, p->frames, key, sizeof f->key, f);
    if (sampler__profile_oom) {
        sampler__frame *chk;
        HASH_FIND(hh, p->frames, f->key, sizeof f->key, chk);
        if (chk == NULL)
            return false;
    }
    return true;
}

/* The frame of a client's word pcs[i] (and the extra word after it): named
 * by the resolver of its kind the first time the profile sees it. */
static const sampler__frame *sampler__client_frame(sampler_profile *p,
                                                   const sampler__pstack *st, int i)
{
    const uintptr_t *pcs = SAMPLER__PSTACK_PCS(st);
    uintptr_t w = pcs[i];
    uint64_t extra =
        i + 1 < st->depth && sampler__word_is_extra(pcs[i + 1]) ? SAMPLER_FRAME_PAYLOAD(pcs[i + 1]) : 0;
    uintptr_t key[2] = {w, (uintptr_t)extra};
    sampler__frame *f;
    HASH_FIND(hh, p->frames, key, sizeof key, f);
    if (f != NULL)
        return f;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    memcpy(f->key, key, sizeof key);
    f->client = true;
    unsigned int kind = SAMPLER_FRAME_KIND(w);
    uint64_t payload = SAMPLER_FRAME_PAYLOAD(w);
    sampler_frame_info info;
    memset(&info, 0, sizeof info);
    int rc = -1;
    if (p->resolvers[kind].fn != NULL)
        rc = p->resolvers[kind].fn(kind, payload, extra, &info, p->resolvers[kind].arg);
    if (rc >= 0 && (info.name != NULL || info.function != NULL)) {
        f->name = sampler__strdup_clean(info.name != NULL ? info.name : info.function);
        if (info.function != NULL && (f->func = sampler__strdup_clean(info.function)) == NULL)
            goto oom;
        if (info.file != NULL && (f->file = strdup(info.file)) == NULL)
            goto oom;
        f->line = info.line > 0 ? info.line : 0;
    } else {
        char buf[64]; /* no resolver, or it did not know the frame */
        snprintf(buf, sizeof buf, "[kind %u 0x%" PRIx64 "]", kind, payload);
        f->name = strdup(buf);
    }
    if (!sampler__frame_insert(p, f))
        goto oom;
    return f;
oom:
    free(f->name);
    free(f->func);
    free(f->file);
    free(f);
    return NULL;
}

int sampler_profile_set_frame_resolver(sampler_profile *p, unsigned int kind,
                                       sampler_frame_resolver_fn fn, void *arg)
{
    if (p == NULL || kind < SAMPLER_FRAME_KIND_MIN || kind > SAMPLER_FRAME_KIND_MAX)
        return SAMPLER_EINVAL;
    pthread_mutex_lock(&p->lock);
    p->resolvers[kind].fn = fn;
    p->resolvers[kind].arg = fn != NULL ? arg : NULL;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

const sampler__frame *sampler__profile_frame(sampler_profile *p, const sampler__pstack *st,
                                             const sampler__pvar *v, int i)
{
    uintptr_t pc = SAMPLER__PSTACK_PCS(st)[i];
    if (sampler__word_is_client(pc))
        return sampler__client_frame(p, st, i);
    uintptr_t addr = (i > 0 && pc > 0) ? pc - 1 : pc;
    bool delayed = i == 0 && pc == SAMPLER__PC_DELAYED;
    const sampler__module *cm =
        delayed ? SAMPLER__MODULE_UNKNOWN : sampler__mods_resolve(v->ma, v->mb, addr);
    sampler__module *m = cm == SAMPLER__MODULE_UNKNOWN ? NULL : (sampler__module *)cm;
    uintptr_t key[2] = {addr, m != NULL ? m->id : 0};
    sampler__frame *f;
    HASH_FIND(hh, p->frames, key, sizeof key, f);
    if (f != NULL)
        return f;
    sampler__sym_result r = {0};
    if (m != NULL && sampler__profile_lookup(p, m, addr, &r) < 0)
        return NULL;
    if (r.func == NULL && m != NULL && sampler__mods_loaded(p, m))
        r.fn_start = sampler__fn_start(addr);
    f = calloc(1, sizeof *f);
    if (f == NULL)
        goto oom;
    memcpy(f->key, key, sizeof key);
    f->addr = addr;
    f->func = r.func;
    f->file = r.file;
    f->line = r.line;
    f->mod = m;
    r.func = r.file = NULL;
    if (delayed) {
        f->name = strdup("[signal delayed]");
    } else if (f->func != NULL) {
        f->name = sampler__strdup_clean(f->func);
    } else if (m != NULL) {
        const char *base = strrchr(m->path, '/');
        base = base != NULL ? base + 1 : m->path;
        size_t n = strlen(base) + 32;
        f->name = malloc(n);
        if (f->name != NULL) {
            /* by the function that holds it (its unwind-table range) where
             * known, so all of a function's pcs are one frame */
            uintptr_t at = r.fn_start != 0 && r.fn_start <= addr ? r.fn_start : addr;
            snprintf(f->name, n, "%s+0x%" PRIxPTR, base, at - m->lo);
            for (char *c = f->name; *c != '\0'; c++)
                if (*c == ';' || *c == ' ' || *c == '\n')
                    *c = '_';
        }
    } else {
        f->name = strdup("[unknown]");
    }
    if (!sampler__frame_insert(p, f))
        goto oom;
    return f;
oom:
    if (f != NULL) {
        free(f->name);
        free(f->func);
        free(f->file);
        free(f);
    }
    free(r.func);
    free(r.file);
    return NULL;
}

#ifdef HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>

uintptr_t sampler__fn_start(uintptr_t addr)
{
    unw_proc_info_t pi;
    memset(&pi, 0, sizeof pi);
    if (unw_get_proc_info_by_ip(unw_local_addr_space, (unw_word_t)addr, &pi, NULL) != 0)
        return 0;
    return pi.start_ip <= addr && addr < pi.end_ip ? (uintptr_t)pi.start_ip : 0;
}
#else
uintptr_t sampler__fn_start(uintptr_t addr)
{
    (void)addr;
    return 0;
}
#endif
