/* pprof writer: the profile as a gzip'd perftools.profiles.Profile protobuf,
 * packed with protobuf-c code generated at build time from pprof's
 * profile.proto (package renamed to sampler__pprof, see Makefile.am). */
#include "internal.h"

#ifndef HAVE_PPROF

int sampler_profile_write_pprof(sampler_profile *p, const char *path)
{
    if (p == NULL || path == NULL)
        return SAMPLER_EINVAL;
    return SAMPLER_EUNSUPPORTED;
}

#else

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "sampler_pprof.pb-c.h"

/* ---- string table -------------------------------------------------------- */

typedef struct sampler__pstr {
    UT_hash_handle hh; /* key: s */
    char *s;
    int64_t idx;
} sampler__pstr;

typedef struct sampler__pprof_build {
    sampler_profile *p;
    sampler__pstr *strs;
    char **table;
    size_t nstr, capstr;
    bool oom;

    /* mappings: the executable segments of the modules the frames are in
     * (as they were loaded when sampled, not as mapped now) */
    struct sampler__pmap {
        const sampler__module *mod;
        uintptr_t start, end, offset;
        uint64_t id;
    } *maps;
    size_t nmaps, capmaps;

    /* locations and functions, by frame (address and module) and by
     * "name\0file" */
    struct sampler__ploc {
        UT_hash_handle hh;
        const sampler__frame *frame;
        uint64_t id;
    } *locs;
    struct sampler__pfun {
        UT_hash_handle hh;
        char *key;
        size_t keylen;
        uint64_t id;
    } *funs;
} sampler__pprof_build;

static int64_t sampler__str(sampler__pprof_build *b, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    sampler__pstr *e;
    HASH_FIND_STR(b->strs, s, e);
    if (e != NULL)
        return e->idx;
    if (b->nstr == b->capstr) {
        size_t cap = b->capstr ? b->capstr * 2 : 256;
        char **t = realloc(b->table, cap * sizeof *t);
        if (t == NULL) {
            b->oom = true;
            return 0;
        }
        b->table = t;
        b->capstr = cap;
    }
    e = calloc(1, sizeof *e);
    char *copy = strdup(s);
    if (e == NULL || copy == NULL) {
        free(e);
        free(copy);
        b->oom = true;
        return 0;
    }
    e->s = copy;
    e->idx = (int64_t)b->nstr;
    sampler__profile_oom = 0;
    HASH_ADD_KEYPTR(hh, b->strs, e->s, strlen(e->s), e);
    if (sampler__profile_oom) {
        sampler__pstr *chk;
        HASH_FIND_STR(b->strs, s, chk);
        if (chk == NULL) {
            free(copy);
            free(e);
            b->oom = true;
            return 0;
        }
    }
    b->table[b->nstr++] = copy;
    return e->idx;
}

/* ---- mappings ---------------------------------------------------------------- */

/* The mapping (1-based index into b->maps) of frame f's address: the
 * executable segment of its module that holds it. 0 when f has no module,
 * or out of memory (b->oom). */
static uint64_t sampler__pmap_get(sampler__pprof_build *b, const sampler__frame *f)
{
    const sampler__module *m = f->mod;
    if (m == NULL)
        return 0;
    uintptr_t start = m->lo, end = m->hi, offset = 0;
    for (int i = 0; i < m->nexec; i++)
        if (f->addr >= m->exec[i].start && f->addr < m->exec[i].end) {
            start = m->exec[i].start;
            end = m->exec[i].end;
            offset = m->exec[i].offset;
        }
    for (size_t i = 0; i < b->nmaps; i++)
        if (b->maps[i].mod == m && b->maps[i].start == start)
            return i + 1;
    if (b->nmaps == b->capmaps) {
        size_t cap = b->capmaps ? b->capmaps * 2 : 16;
        struct sampler__pmap *n = realloc(b->maps, cap * sizeof *n);
        if (n == NULL) {
            b->oom = true;
            return 0;
        }
        b->maps = n;
        b->capmaps = cap;
    }
    struct sampler__pmap *pm = &b->maps[b->nmaps++];
    memset(pm, 0, sizeof *pm);
    pm->mod = m;
    pm->start = start;
    pm->end = end;
    pm->offset = offset;
    return b->nmaps;
}

static void sampler__build_free(sampler__pprof_build *b)
{
    sampler__pstr *s, *stmp;
    HASH_ITER(hh, b->strs, s, stmp) {
        HASH_DEL(b->strs, s);
        free(s);
    }
    for (size_t i = 0; i < b->nstr; i++)
        free(b->table[i]);
    free(b->table);
    free(b->maps);
    struct sampler__ploc *l, *ltmp;
    HASH_ITER(hh, b->locs, l, ltmp) {
        HASH_DEL(b->locs, l);
        free(l);
    }
    struct sampler__pfun *fn, *ftmp;
    HASH_ITER(hh, b->funs, fn, ftmp) {
        HASH_DEL(b->funs, fn);
        free(fn->key);
        free(fn);
    }
}

static uint64_t sampler__clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Pack the profile (under p->lock) into a malloc'd buffer. */
static int sampler__pprof_pack(sampler_profile *p, uint8_t **outbuf, size_t *outlen)
{
    sampler__pprof_build b;
    memset(&b, 0, sizeof b);
    b.p = p;
    b.nstr = 1; /* string_table[0] = "" */
    b.capstr = 256;
    b.table = calloc(b.capstr, sizeof *b.table);
    if (b.table == NULL)
        return SAMPLER_ENOMEM;
    b.table[0] = strdup("");
    if (b.table[0] == NULL)
        b.oom = true;

    /* one sample per stack variant (named against other loaded objects) */
    size_t nst = (size_t)p->nvariants, nframes = 0;
    for (sampler__pstack *st = p->stacks; st != NULL; st = st->hh.next)
        nframes += (size_t)st->depth * (size_t)st->nvar;

    int rc = SAMPLER_ENOMEM;
    SamplerPprof__Sample *samples = calloc(nst ? nst : 1, sizeof *samples);
    SamplerPprof__Sample **sample_v = calloc(nst ? nst : 1, sizeof *sample_v);
    uint64_t *loc_ids = calloc(nframes ? nframes : 1, sizeof *loc_ids);
    int64_t *values = calloc(2 * (nst ? nst : 1), sizeof *values);
    SamplerPprof__Label *labels = calloc(2 * (nst ? nst : 1), sizeof *labels);
    SamplerPprof__Label **label_v = calloc(2 * (nst ? nst : 1), sizeof *label_v);
    SamplerPprof__Location *locs = calloc(nframes ? nframes : 1, sizeof *locs);
    SamplerPprof__Location **loc_v = calloc(nframes ? nframes : 1, sizeof *loc_v);
    SamplerPprof__Line *lines = calloc(nframes ? nframes : 1, sizeof *lines);
    SamplerPprof__Line **line_v = calloc(nframes ? nframes : 1, sizeof *line_v);
    SamplerPprof__Function *funs = calloc(nframes ? nframes : 1, sizeof *funs);
    SamplerPprof__Function **fun_v = calloc(nframes ? nframes : 1, sizeof *fun_v);
    SamplerPprof__Mapping *maps = NULL;
    SamplerPprof__Mapping **map_v = NULL;
    char *key = NULL;
    size_t nlocs = 0, nfuns = 0, nmaps_used = 0;
    if (!samples || !sample_v || !loc_ids || !values || !labels || !label_v || !locs ||
        !loc_v || !lines || !line_v || !funs || !fun_v)
        goto out;

    uint64_t interval = sampler__profile_interval(p);
    int64_t s_thread = sampler__str(&b, "thread");
    int64_t s_tid = sampler__str(&b, "tid");

    size_t si = 0, li = 0;
    for (sampler__pstack *st = p->stacks; st != NULL; st = st->hh.next) {
        for (int vi = 0; vi < st->nvar; vi++, si++) {
            const sampler__pvar *v = &st->var[vi];
            SamplerPprof__Sample *s = &samples[si];
            sampler__pprof__sample__init(s);
            sample_v[si] = s;
            s->location_id = loc_ids + li;
            s->n_location_id = 0;
            for (int i = 0; i < st->depth; i++) {
                if (sampler__word_is_extra(SAMPLER__PSTACK_PCS(st)[i]))
                    continue; /* part of the client frame before it */
                s->n_location_id++;
                const sampler__frame *f = sampler__profile_frame(p, st, v, i);
                if (f == NULL)
                    goto out;
                struct sampler__ploc *pl;
                HASH_FIND(hh, b.locs, &f, sizeof f, pl);
                if (pl == NULL) {
                    /* function, by name and file */
                    const char *file = f->file != NULL ? f->file : "";
                    size_t kl = strlen(f->name) + 1 + strlen(file);
                    free(key);
                    key = malloc(kl + 1);
                    if (key == NULL)
                        goto out;
                    memcpy(key, f->name, strlen(f->name) + 1);
                    memcpy(key + strlen(f->name) + 1, file, strlen(file) + 1);
                    struct sampler__pfun *pf;
                    HASH_FIND(hh, b.funs, key, kl, pf);
                    if (pf == NULL) {
                        pf = calloc(1, sizeof *pf);
                        if (pf == NULL)
                            goto out;
                        pf->key = key;
                        pf->keylen = kl;
                        key = NULL;
                        pf->id = nfuns + 1;
                        sampler__profile_oom = 0;
                        HASH_ADD_KEYPTR(hh, b.funs, pf->key, pf->keylen, pf);
                        if (sampler__profile_oom) {
                            free(pf->key);
                            free(pf);
                            goto out;
                        }
                        SamplerPprof__Function *fn = &funs[nfuns];
                        sampler__pprof__function__init(fn);
                        fn->id = pf->id;
                        /* a client frame's function name, not its display
                         * name (which may carry file:line) */
                        fn->name = sampler__str(&b, f->client && f->func != NULL ? f->func
                                                                                : f->name);
                        fn->system_name = fn->name;
                        fn->filename = sampler__str(&b, f->file);
                        fun_v[nfuns++] = fn;
                    }
                    pl = calloc(1, sizeof *pl);
                    if (pl == NULL)
                        goto out;
                    pl->frame = f;
                    pl->id = nlocs + 1;
                    sampler__profile_oom = 0;
                    HASH_ADD(hh, b.locs, frame, sizeof pl->frame, pl);
                    if (sampler__profile_oom) {
                        free(pl);
                        goto out;
                    }
                    SamplerPprof__Location *loc = &locs[nlocs];
                    sampler__pprof__location__init(loc);
                    loc->id = pl->id;
                    loc->address = f->addr;
                    loc->mapping_id = sampler__pmap_get(&b, f); /* renumbered below */
                    SamplerPprof__Line *ln = &lines[nlocs];
                    sampler__pprof__line__init(ln);
                    ln->function_id = pf->id;
                    ln->line = f->line;
                    line_v[nlocs] = ln;
                    loc->line = &line_v[nlocs];
                    loc->n_line = 1;
                    loc_v[nlocs++] = loc;
                }
                loc_ids[li++] = pl->id;
            }
            s->value = values + 2 * si;
            s->n_value = 2;
            s->value[0] = (int64_t)v->weight;
            s->value[1] = (int64_t)(v->weight * interval);
            SamplerPprof__Label *lt = &labels[2 * si], *ln = &labels[2 * si + 1];
            sampler__pprof__label__init(lt);
            sampler__pprof__label__init(ln);
            sampler__pthread *t = sampler__profile_thread(p, st->tid);
            lt->key = s_thread;
            lt->str = sampler__str(&b, t != NULL ? t->name : "[thread]");
            ln->key = s_tid;
            ln->num = st->tid;
            label_v[2 * si] = lt;
            label_v[2 * si + 1] = ln;
            s->label = &label_v[2 * si];
            s->n_label = 2;
        }
    }

    /* mappings that hold a location; the main executable first (pprof
     * treats the first mapping as the main binary) */
    nmaps_used = b.nmaps;
    maps = calloc(nmaps_used ? nmaps_used : 1, sizeof *maps);
    map_v = calloc(nmaps_used ? nmaps_used : 1, sizeof *map_v);
    if (maps == NULL || map_v == NULL)
        goto out;
    size_t mi = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < b.nmaps; i++) {
            struct sampler__pmap *m = &b.maps[i];
            if (m->mod->main != (pass == 0))
                continue;
            m->id = mi + 1;
            SamplerPprof__Mapping *pm = &maps[mi];
            sampler__pprof__mapping__init(pm);
            pm->id = m->id;
            pm->memory_start = m->start;
            pm->memory_limit = m->end;
            pm->file_offset = m->offset;
            pm->filename = sampler__str(&b, m->mod->path);
            char bid[2 * SAMPLER__BUILD_ID_MAX + 1];
            static const char digits[] = "0123456789abcdef";
            for (size_t k = 0; k < m->mod->build_id_len; k++) {
                bid[2 * k] = digits[m->mod->build_id[k] >> 4];
                bid[2 * k + 1] = digits[m->mod->build_id[k] & 15];
            }
            bid[2 * m->mod->build_id_len] = '\0';
            pm->build_id = sampler__str(&b, bid);
            pm->has_functions = 1;
            pm->has_filenames = (sampler_profile_features() & SAMPLER_PROFILE_HAVE_LIBDW) != 0;
            pm->has_line_numbers = pm->has_filenames;
            map_v[mi++] = pm;
        }
    for (size_t i = 0; i < nlocs; i++)
        if (locs[i].mapping_id != 0)
            locs[i].mapping_id = b.maps[locs[i].mapping_id - 1].id;

    SamplerPprof__ValueType st_samples = SAMPLER__PPROF__VALUE_TYPE__INIT;
    SamplerPprof__ValueType st_cpu = SAMPLER__PPROF__VALUE_TYPE__INIT;
    SamplerPprof__ValueType period_type = SAMPLER__PPROF__VALUE_TYPE__INIT;
    st_samples.type = sampler__str(&b, "samples");
    st_samples.unit = sampler__str(&b, "count");
    st_cpu.type = sampler__str(&b, "cpu");
    st_cpu.unit = sampler__str(&b, "nanoseconds");
    period_type.type = st_cpu.type;
    period_type.unit = st_cpu.unit;
    SamplerPprof__ValueType *types[2] = {&st_samples, &st_cpu};
    if (b.oom)
        goto out;

    SamplerPprof__Profile prof = SAMPLER__PPROF__PROFILE__INIT;
    prof.n_sample_type = 2;
    prof.sample_type = types;
    prof.n_sample = nst;
    prof.sample = sample_v;
    prof.n_mapping = mi;
    prof.mapping = map_v;
    prof.n_location = nlocs;
    prof.location = loc_v;
    prof.n_function = nfuns;
    prof.function = fun_v;
    prof.n_string_table = b.nstr;
    prof.string_table = b.table;
    prof.time_nanos = (int64_t)p->start_realtime_ns;
    prof.duration_nanos = (int64_t)(sampler__clock_ns(CLOCK_MONOTONIC) - p->start_mono_ns);
    prof.period_type = &period_type;
    prof.period = (int64_t)interval;
    prof.default_sample_type = st_cpu.type;

    size_t len = sampler__pprof__profile__get_packed_size(&prof);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        goto out;
    *outlen = sampler__pprof__profile__pack(&prof, buf);
    *outbuf = buf;
    rc = 0;
out:
    free(key);
    free(samples);
    free(sample_v);
    free(loc_ids);
    free(values);
    free(labels);
    free(label_v);
    free(locs);
    free(loc_v);
    free(lines);
    free(line_v);
    free(funs);
    free(fun_v);
    free(maps);
    free(map_v);
    sampler__build_free(&b);
    return rc;
}

int sampler_profile_write_pprof(sampler_profile *p, const char *path)
{
    if (p == NULL || path == NULL)
        return SAMPLER_EINVAL;
    uint8_t *buf = NULL;
    size_t len = 0;
    pthread_mutex_lock(&p->lock);
    int rc = sampler__pprof_pack(p, &buf, &len);
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        return rc;
    gzFile gz = gzopen(path, "wbe");
    if (gz == NULL) {
        free(buf);
        return SAMPLER_EIO;
    }
    size_t done = 0;
    while (done < len) {
        unsigned int chunk = len - done > (1u << 30) ? (1u << 30) : (unsigned int)(len - done);
        int w = gzwrite(gz, buf + done, chunk);
        if (w <= 0) {
            rc = SAMPLER_EIO;
            break;
        }
        done += (size_t)w;
    }
    if (gzclose(gz) != Z_OK && rc == 0)
        rc = SAMPLER_EIO;
    free(buf);
    return rc;
}

#endif /* HAVE_PPROF */
