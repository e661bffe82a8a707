/* The loaded objects over time, so that a pc is named after the object it
 * was in when it was sampled, not after whatever is mapped there when the
 * profile is written (a library unloaded and another loaded at its address).
 *
 * glibc's dl_iterate_phdr() reports two counters, dlpi_adds and dlpi_subs,
 * that grow with every object loaded and unloaded. The profile reads them
 * (one object of dl_iterate_phdr: cheap) when a sample newer than its last
 * look arrives, and when they changed it takes a new set: every object with
 * its path, place and GNU build id (read from the PT_NOTE in memory, no file
 * opened). Each set keeps the CLOCK_MONOTONIC times of its first and latest
 * look. A stack is stored with the sets it is resolved against: one set when
 * the sample's time falls between two looks that saw it, else the sets of
 * the looks just before and just after (the objects changed in between, and
 * the sample sat in the sampler's buffer meanwhile). The rules that turn
 * such a pair into one object, or into "cannot tell", are in
 * sampler__mods_resolve(). Consumer side only; never in a signal handler. */
#include "internal.h"

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

typedef ElfW(Phdr) sampler__phdr;
typedef ElfW(Nhdr) sampler__nhdr;

/* Sets beyond this many that no stack needs are dropped (oldest first). */
#define SAMPLER__MODSETS_KEEP 16

/* ---- one look at the loaded objects ---------------------------------------- */

typedef struct sampler__rawmod {
    bool main;
    uintptr_t base, lo, hi;
    struct sampler__mseg exec[4];
    int nexec;
    unsigned char build_id[SAMPLER__BUILD_ID_MAX];
    size_t build_id_len;
    char *path;
} sampler__rawmod;

typedef struct sampler__snap {
    uint64_t adds, subs;
    uint64_t t_lo, t_hi;
    sampler__rawmod *mods;
    size_t n, cap;
    size_t seen; /* objects reported so far (the first is the program) */
    bool oom;
} sampler__snap;

/* The process's first look (at load time, by a constructor) and what every
 * look needs: page size, the program's path, the vDSO's address. */
static pthread_once_t sampler__mods_once = PTHREAD_ONCE_INIT;
static sampler__snap sampler__first;
static char sampler__exe[PATH_MAX];
static uintptr_t sampler__vdso;
static uintptr_t sampler__page = 4096;

static uint64_t sampler__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool sampler__has_counters(size_t size)
{
    return size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(unsigned long long);
}

/* The GNU build id from a PT_NOTE segment in memory (inside a PT_LOAD). */
static void sampler__note_build_id(const struct dl_phdr_info *info,
                                   const sampler__phdr *note, sampler__rawmod *r)
{
    bool mapped = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const sampler__phdr *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && note->p_vaddr >= ph->p_vaddr &&
            note->p_vaddr + note->p_filesz <= ph->p_vaddr + ph->p_filesz)
            mapped = true;
    }
    if (!mapped)
        return;
    size_t align = note->p_align == 8 ? 8 : 4;
    const unsigned char *p = (const unsigned char *)(info->dlpi_addr + note->p_vaddr);
    const unsigned char *end = p + note->p_filesz;
    while ((size_t)(end - p) >= sizeof(sampler__nhdr)) {
        sampler__nhdr nh;
        memcpy(&nh, p, sizeof nh);
        size_t namesz = (nh.n_namesz + align - 1) & ~(align - 1);
        size_t descsz = (nh.n_descsz + align - 1) & ~(align - 1);
        const unsigned char *name = p + sizeof nh;
        if ((size_t)(end - name) < namesz || (size_t)(end - name) - namesz < descsz)
            return;
        const unsigned char *desc = name + namesz;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp(name, "GNU", 4) == 0 && nh.n_descsz > 0 &&
            nh.n_descsz <= SAMPLER__BUILD_ID_MAX) {
            memcpy(r->build_id, desc, nh.n_descsz);
            r->build_id_len = nh.n_descsz;
            return;
        }
        p = desc + descsz;
    }
}

static uintptr_t sampler__page_down(uintptr_t a)
{
    return a & ~(sampler__page - 1);
}

static uintptr_t sampler__page_up(uintptr_t a)
{
    return (a + sampler__page - 1) & ~(sampler__page - 1);
}

/* dl_iterate_phdr: every object (runs under the loader's lock; allocates,
 * which that allows). */
static int sampler__snap_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    sampler__snap *s = arg;
    if (sampler__has_counters(size)) {
        s->adds = info->dlpi_adds;
        s->subs = info->dlpi_subs;
    }
    bool first = s->seen++ == 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        sampler__rawmod *m = realloc(s->mods, cap * sizeof *m);
        if (m == NULL) {
            s->oom = true;
            return 1;
        }
        s->mods = m;
        s->cap = cap;
    }
    sampler__rawmod *r = &s->mods[s->n];
    memset(r, 0, sizeof *r);
    r->base = info->dlpi_addr;
    r->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const sampler__phdr *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE && r->build_id_len == 0)
            sampler__note_build_id(info, ph, r);
        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < r->lo)
            r->lo = a;
        if (a + ph->p_memsz > r->hi)
            r->hi = a + ph->p_memsz;
        if ((ph->p_flags & PF_X) && r->nexec < 4) {
            struct sampler__mseg *e = &r->exec[r->nexec++];
            e->start = sampler__page_down(a);
            e->end = sampler__page_up(a + ph->p_memsz);
            e->offset = sampler__page_down(ph->p_offset);
        }
    }
    if (r->lo >= r->hi)
        return 0; /* nothing mapped */
    r->lo = sampler__page_down(r->lo);
    const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";
    r->main = first; /* the loader reports the program first */
    if (r->main && name[0] == '\0')
        name = sampler__exe[0] != '\0' ? sampler__exe : "[main]";
    else if (sampler__vdso != 0 && r->lo == sampler__vdso)
        name = "[vdso]";
    else if (name[0] == '\0')
        name = "[unnamed]";
    r->path = strdup(name);
    if (r->path == NULL) {
        s->oom = true;
        return 1;
    }
    s->n++;
    return 0;
}

static void sampler__snap_free(sampler__snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->mods[i].path);
    free(s->mods);
    memset(s, 0, sizeof *s);
}

/* Every loaded object now, with the counters. 0 or SAMPLER_ENOMEM. */
static int sampler__snap_take(sampler__snap *s)
{
    memset(s, 0, sizeof *s);
    s->t_lo = sampler__mono_ns();
    dl_iterate_phdr(sampler__snap_cb, s);
    s->t_hi = sampler__mono_ns();
    if (s->oom) {
        sampler__snap_free(s);
        return SAMPLER_ENOMEM;
    }
    return 0;
}

typedef struct sampler__dl_counts {
    uint64_t adds, subs;
} sampler__dl_counts;

static int sampler__count_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    sampler__dl_counts *c = arg;
    if (sampler__has_counters(size)) {
        c->adds = info->dlpi_adds;
        c->subs = info->dlpi_subs;
    }
    return 1; /* the first object is enough */
}

static sampler__dl_counts sampler__dl_counters(void)
{
    sampler__dl_counts c = {0, 0};
    dl_iterate_phdr(sampler__count_cb, &c);
    return c;
}

static void sampler__mods_once_fn(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg > 0)
        sampler__page = (uintptr_t)pg;
    ssize_t n = readlink("/proc/self/exe", sampler__exe, sizeof sampler__exe - 1);
    sampler__exe[n > 0 ? n : 0] = '\0';
    sampler__vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (sampler__snap_take(&sampler__first) < 0)
        memset(&sampler__first, 0, sizeof sampler__first);
}

/* The first look as early as the library is loaded: samples taken before a
 * profile was made are then resolved against the objects of that time. */
__attribute__((constructor)) static void sampler__mods_ctor(void)
{
    pthread_once(&sampler__mods_once, sampler__mods_once_fn);
}

/* ---- sets and module records ---------------------------------------------------- */

static sampler__module *sampler__intern(sampler__mods *m, const sampler__rawmod *r)
{
    size_t plen = strlen(r->path) + 1;
    size_t keylen = 3 * sizeof(uintptr_t) + 1 + r->build_id_len + plen;
    unsigned char *key = malloc(keylen);
    if (key == NULL)
        return NULL;
    unsigned char *k = key;
    memcpy(k, &r->base, sizeof r->base);
    k += sizeof r->base;
    memcpy(k, &r->lo, sizeof r->lo);
    k += sizeof r->lo;
    memcpy(k, &r->hi, sizeof r->hi);
    k += sizeof r->hi;
    *k++ = (unsigned char)r->build_id_len;
    memcpy(k, r->build_id, r->build_id_len);
    k += r->build_id_len;
    memcpy(k, r->path, plen);
    sampler__module *rec;
    HASH_FIND(hh, m->modules, key, keylen, rec);
    if (rec != NULL) {
        free(key);
        return rec;
    }
    rec = calloc(1, sizeof *rec);
    char *path = strdup(r->path);
    if (rec == NULL || path == NULL) {
        free(rec);
        free(path);
        free(key);
        return NULL;
    }
    rec->id = m->next_module++;
    rec->main = r->main;
    rec->base = r->base;
    rec->lo = r->lo;
    rec->hi = r->hi;
    memcpy(rec->exec, r->exec, sizeof rec->exec);
    rec->nexec = r->nexec;
    memcpy(rec->build_id, r->build_id, r->build_id_len);
    rec->build_id_len = r->build_id_len;
    rec->path = path;
    rec->key = key;
    rec->keylen = keylen;
    sampler__profile_oom = 0;
    HASH_ADD_KEYPTR(hh, m->modules, rec->key, rec->keylen, rec);
    if (sampler__profile_oom) {
        sampler__module *chk;
        HASH_FIND(hh, m->modules, key, keylen, chk);
        if (chk == NULL) {
            free(path);
            free(key);
            free(rec);
            return NULL;
        }
    }
    return rec;
}

static int sampler__mod_cmp(const void *x, const void *y)
{
    const sampler__module *a = *(sampler__module *const *)x;
    const sampler__module *b = *(sampler__module *const *)y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static sampler__modset *sampler__set_new(sampler__mods *m, const sampler__snap *s)
{
    sampler__modset *set = calloc(1, sizeof *set);
    sampler__modarr *arr = malloc(sizeof *arr + (s->n ? s->n : 1) * sizeof arr->m[0]);
    if (set == NULL || arr == NULL)
        goto oom;
    for (size_t i = 0; i < s->n; i++) {
        arr->m[i] = sampler__intern(m, &s->mods[i]);
        if (arr->m[i] == NULL)
            goto oom;
    }
    arr->n = s->n;
    arr->refs = 1;
    qsort(arr->m, arr->n, sizeof arr->m[0], sampler__mod_cmp);
    /* a library loaded and unloaded again and again: share the list with
     * a recent set that has the same (records are interned: same pointers) */
    int k = 0;
    for (sampler__modset *o = m->latest; o != NULL && k < 4; o = o->older, k++)
        if (o->n == arr->n && memcmp(o->mods, arr->m, arr->n * sizeof arr->m[0]) == 0) {
            free(arr);
            arr = o->arr;
            arr->refs++;
            break;
        }
    set->arr = arr;
    set->mods = arr->m;
    set->n = arr->n;
    set->id = m->next_set++;
    set->adds = s->adds;
    set->subs = s->subs;
    set->first_hi = s->t_hi;
    set->last_lo = s->t_lo;
    return set;
oom:
    free(set);
    free(arr);
    return NULL;
}

static void sampler__set_free(sampler__modset *set)
{
    if (--set->arr->refs == 0)
        free(set->arr);
    free(set);
}

/* Drop sets no stack needs, oldest first, until `keep` are left; the first
 * and the latest stay. Resolution stays right without them: a sample whose
 * sets were dropped is resolved against the ones around, a wider window. */
static void sampler__mods_gc(sampler__mods *m, size_t keep)
{
    sampler__modset *s = m->oldest->newer;
    while (s != NULL && s != m->latest && m->nsets > keep) {
        sampler__modset *next = s->newer;
        if (s->refs == 0 && next != NULL) { /* next: s is not the latest */
            s->older->newer = s->newer;
            s->newer->older = s->older;
            sampler__set_free(s);
            m->nsets--;
        }
        s = next;
    }
}

static void sampler__mods_push(sampler__mods *m, sampler__modset *set)
{
    set->older = m->latest;
    m->latest->newer = set;
    m->latest = set;
    m->nsets++;
    sampler__mods_gc(m, SAMPLER__MODSETS_KEEP);
}

int sampler__mods_init(sampler_profile *p)
{
    pthread_once(&sampler__mods_once, sampler__mods_once_fn);
    sampler__mods *m = &p->mods;
    memset(m, 0, sizeof *m);
    m->next_set = 1;
    m->next_module = 1;
    sampler__modset *set;
    if (sampler__first.n > 0) {
        set = sampler__set_new(m, &sampler__first);
    } else {
        sampler__snap s;
        if (sampler__snap_take(&s) < 0)
            return SAMPLER_ENOMEM;
        set = sampler__set_new(m, &s);
        sampler__snap_free(&s);
    }
    if (set == NULL) {
        sampler__mods_free(p);
        return SAMPLER_ENOMEM;
    }
    m->oldest = m->latest = set;
    m->nsets = 1;
    if (sampler__mods_observe(p) < 0) {
        sampler__mods_free(p);
        return SAMPLER_ENOMEM;
    }
    return 0;
}

void sampler__mods_free(sampler_profile *p)
{
    sampler__mods *m = &p->mods;
    sampler__modset *s = m->oldest;
    while (s != NULL) {
        sampler__modset *next = s->newer;
        sampler__set_free(s);
        s = next;
    }
    sampler__module *mod, *tmp;
    HASH_ITER(hh, m->modules, mod, tmp) {
        HASH_DEL(m->modules, mod);
        sampler__sym_module_free(mod);
        free(mod->path);
        free(mod->key);
        free(mod);
    }
    memset(m, 0, sizeof *m);
}

void sampler__mods_unref_all(sampler_profile *p)
{
    sampler__mods *m = &p->mods;
    if (m->oldest == NULL)
        return;
    for (sampler__modset *s = m->oldest; s != NULL; s = s->newer)
        s->refs = 0;
    sampler__mods_gc(m, 2);
}

int sampler__mods_observe(sampler_profile *p)
{
    sampler__mods *m = &p->mods;
    /* one clock read, before the counters: all that a look that saw no
     * change needs (last_lo); a new set gets both sides (first_hi) */
    uint64_t t = sampler__mono_ns();
    sampler__dl_counts c = sampler__dl_counters();
    sampler__modset *l = m->latest;
    if (c.adds == l->adds && c.subs == l->subs) {
        l->last_lo = t;
        return 0;
    }
    sampler__snap s;
    if (sampler__snap_take(&s) < 0)
        return SAMPLER_ENOMEM;
    if (s.adds == l->adds && s.subs == l->subs) {
        /* changed back? cannot happen: the counters only grow */
        l->last_lo = s.t_lo;
        sampler__snap_free(&s);
        return 0;
    }
    sampler__modset *set = sampler__set_new(m, &s);
    sampler__snap_free(&s);
    if (set == NULL)
        return SAMPLER_ENOMEM;
    sampler__mods_push(m, set);
    return 0;
}

bool sampler__mods_unchanged(sampler_profile *p)
{
    sampler__dl_counts c = sampler__dl_counters();
    return c.adds == p->mods.latest->adds && c.subs == p->mods.latest->subs;
}

int sampler__mods_classify(sampler_profile *p, uint64_t t, sampler__modset **a,
                           sampler__modset **b)
{
    sampler__mods *m = &p->mods;
    if (t > m->latest->last_lo) {
        /* taken after the latest look (so far the usual case only for the
         * first sample of a drain): look again */
        int rc = sampler__mods_observe(p);
        if (rc < 0)
            return rc;
        if (t > m->latest->last_lo) /* a time not yet come: not from the sampler */
            t = m->latest->last_lo;
    }
    /* b: the oldest set looked at (last) at or after t; a: the newest set
     * looked at (first) at or before t. Looks are in time order, so a is
     * never newer than b, and a == b means the objects were those of a. */
    sampler__modset *sa = NULL, *sb = m->latest;
    for (sampler__modset *s = m->latest; s != NULL; s = s->older) {
        if (s->last_lo >= t)
            sb = s;
        if (s->first_hi <= t) {
            sa = s;
            break;
        }
    }
    *a = sa;
    *b = sb;
    return 0;
}

/* ---- which module a pc was in ------------------------------------------------ */

static sampler__module *sampler__set_find(const sampler__modset *s, uintptr_t addr)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < s->mods[mid]->lo)
            hi = mid;
        else if (addr >= s->mods[mid]->hi)
            lo = mid + 1;
        else
            return s->mods[mid];
    }
    return NULL;
}

static bool sampler__set_has(const sampler__modset *s, const sampler__module *m)
{
    return sampler__set_find(s, m->lo) == m;
}

/* Did objects come and go between a and b that neither shows (loaded and
 * unloaded in between, or unloaded and loaded again)? The counters then
 * moved by more than the difference between the two sets. */
static bool sampler__mods_churn(const sampler__modset *a, sampler__modset *b)
{
    if (b->churn_a == a->id)
        return b->churn;
    uint64_t added = 0, removed = 0;
    for (size_t i = 0; i < b->n; i++)
        added += !sampler__set_has(a, b->mods[i]);
    for (size_t i = 0; i < a->n; i++)
        removed += !sampler__set_has(b, a->mods[i]);
    b->churn_a = a->id;
    b->churn = b->adds - a->adds != added || b->subs - a->subs != removed;
    return b->churn;
}

/*
 * A sample taken at time t between the looks that made a and b (a older):
 * an object does not move while loaded, so
 * - no object was unloaded between a and b (same dlpi_subs): the object
 *   the pc was in is still in b;
 * - none was loaded (same dlpi_adds): it was already in a;
 * - else: if the pc is in the same object in a and b (same path, place and
 *   build id), that one (*); if it is in an object in one of them only, and
 *   no object came and went unseen in between, that one; otherwise it
 *   cannot be told (A unloaded and B loaded at its place, both possible).
 * - a NULL (before the first look): b if nothing was ever unloaded.
 * (*) wrong only if that very object was unloaded, another loaded over its
 * place and sampled, then unloaded, and the first loaded again at the same
 * place, all between two looks.
 */
const sampler__module *sampler__mods_resolve(const sampler__modset *a, sampler__modset *b,
                                             uintptr_t addr)
{
    if (a == b)
        return sampler__set_find(b, addr);
    if (a == NULL)
        return b->subs == 0 ? sampler__set_find(b, addr) : SAMPLER__MODULE_UNKNOWN;
    if (a->subs == b->subs)
        return sampler__set_find(b, addr);
    if (a->adds == b->adds)
        return sampler__set_find(a, addr);
    const sampler__module *ma = sampler__set_find(a, addr);
    const sampler__module *mb = sampler__set_find(b, addr);
    if (ma == mb && ma != NULL)
        return ma;
    if (sampler__mods_churn(a, b))
        return SAMPLER__MODULE_UNKNOWN;
    if (ma == NULL)
        return mb;
    if (mb == NULL)
        return ma;
    return SAMPLER__MODULE_UNKNOWN;
}

bool sampler__mods_loaded(sampler_profile *p, const sampler__module *m)
{
    return sampler__set_has(p->mods.latest, m);
}
