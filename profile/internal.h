/*
 * Internal declarations of libsampler-profile (the consumer side: it never
 * runs in a signal handler, and it uses only the public API of libsampler).
 * Nothing here is API.
 *
 *   profile.c           aggregation by (thread, stack), threads, symbol cache
 *   modules.c           the loaded objects over time: which one a pc was in
 *   collector.c         background drain thread
 *   folded.c            folded-stacks writer and the name-stack helpers
 *   svg.c               SVG flame graph writer
 *   speedscope.c        speedscope JSON writer
 *   pprof.c             pprof writer (protobuf-c code generated at build time)
 *   sym_dw.c            symbolizer backend: elfutils libdw (--with-libdw)
 *   sym_dladdr.c        symbolizer backend: dladdr() (when libdw is absent)
 */
#ifndef SAMPLER_PROFILE_INTERNAL_H
#define SAMPLER_PROFILE_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* uthash must not exit() the host process when out of memory: HASH_ADD then
 * leaves the element out and flags it, per thread. */
extern _Thread_local int sampler__profile_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (sampler__profile_oom = 1)
#include <uthash.h>

/* The profile library uses only the public API of the core. */
#include <sampler/profile.h>

/* ---- loaded objects over time (profile_modules.c) ----------------------- */

#define SAMPLER__BUILD_ID_MAX 64

/* One loaded object as the dynamic loader reported it, by identity: the same
 * file (path, build id) at the same place. Records are interned per profile
 * and live as long as it; never changed once made. */
typedef struct sampler__module {
    UT_hash_handle hh;      /* key: key[0 .. keylen) (identity bytes) */
    uint32_t id;            /* per profile, from 1 */
    bool main;              /* the program itself */
    uintptr_t base;         /* load bias (dlpi_addr) */
    uintptr_t lo, hi;       /* its PT_LOAD segments, lo rounded down to a page */
    struct sampler__mseg {  /* executable segments (pprof mappings), page-rounded */
        uintptr_t start, end, offset;
    } exec[4];
    int nexec;
    unsigned char build_id[SAMPLER__BUILD_ID_MAX]; /* NT_GNU_BUILD_ID, from memory */
    size_t build_id_len;    /* 0: none */
    char *path;             /* file name; the program's from /proc/self/exe; "[vdso]" */
    void *sym;              /* the backend's handle on the file when unloaded, or NULL */
    bool sym_tried;         /* sym was attempted (NULL: could not be opened) */
    size_t keylen;
    unsigned char *key;
} sampler__module;

/* The set of loaded objects the profile saw between two changes of glibc's
 * dlpi_adds/dlpi_subs counters, with CLOCK_MONOTONIC times: its first look
 * had read the counters by first_hi, its latest look had not read them
 * before last_lo. Samples taken in [first_hi, last_lo] were taken with
 * these objects loaded. */
typedef struct sampler__modarr { /* a sorted module list, shared by equal sets */
    size_t refs, n;
    sampler__module *m[];
} sampler__modarr;

typedef struct sampler__modset {
    struct sampler__modset *older, *newer;
    uint32_t id;             /* per profile, increasing, from 1 */
    uint64_t adds, subs;     /* dlpi_adds, dlpi_subs */
    uint64_t first_hi, last_lo;
    size_t n;
    sampler__module **mods;  /* sorted by lo (arr->m) */
    sampler__modarr *arr;
    uint64_t refs;           /* stack variants resolved against it */
    uint32_t churn_a;        /* sampler__mods_churn(a, this) was computed for a->id */
    bool churn;
} sampler__modset;

/* A profile's view of the loaded objects. */
typedef struct sampler__mods {
    sampler__modset *oldest, *latest; /* oldest: the process-wide first look */
    size_t nsets;
    uint32_t next_set;
    sampler__module *modules; /* uthash by identity */
    uint32_t next_module;
    uint32_t sym_set;         /* the set the live symbolizer matches (0: none) */
} sampler__mods;

/* The module a pc was in could not be told (the loaded objects changed
 * around the time of the sample): such frames are named [unknown]. */
#define SAMPLER__MODULE_UNKNOWN ((const sampler__module *)(uintptr_t)1)

/* Set up p->mods (the first look, shared by the process, and one now).
 * 0 or SAMPLER_ENOMEM. */
int sampler__mods_init(sampler_profile *p);
/* Free everything in p->mods (the profile's lock is not needed: no other user). */
void sampler__mods_free(sampler_profile *p);
/* Under p->lock, after the stacks were freed: forget their references and
 * the sets nothing needs any more. */
void sampler__mods_unref_all(sampler_profile *p);
/* Under p->lock: the sets a sample taken at time_ns is resolved against (*a
 * == *b when the loaded objects were certainly those of one set; *a may be
 * NULL: before anything the profile saw). 0 or SAMPLER_ENOMEM. The common
 * case is inline: sampler__mods_sets(). */
int sampler__mods_classify(sampler_profile *p, uint64_t time_ns, sampler__modset **a,
                           sampler__modset **b);
/* Under p->lock: the module `addr` of a stack resolved against (a, b) was in;
 * NULL when in none, SAMPLER__MODULE_UNKNOWN when that cannot be told. */
const sampler__module *sampler__mods_resolve(const sampler__modset *a, sampler__modset *b,
                                             uintptr_t addr);
/* Under p->lock: whether m is loaded now as far as the latest look knows. */
bool sampler__mods_loaded(sampler_profile *p, const sampler__module *m);
/* Under p->lock: look at the loaded objects now (a new set if they changed).
 * 0 or SAMPLER_ENOMEM. */
int sampler__mods_observe(sampler_profile *p);
/* Whether the loader's counters still equal those of the latest set (a
 * cheap read: one object of dl_iterate_phdr). */
bool sampler__mods_unchanged(sampler_profile *p);

/* ---- symbolizer backends (one of sym_dw.c, sym_dladdr.c) ---------------- */

typedef struct sampler__symbolizer sampler__symbolizer;

/* What a backend finds for one address. Strings are malloc'd (or NULL) and
 * owned by the caller afterwards. */
typedef struct sampler__sym_result {
    char *func;   /* function name, NULL if unknown */
    char *file;   /* source file, NULL if unknown */
    int line;     /* source line, 0 if unknown */
    /* func unknown: the start of the function that holds the address, from
     * the unwind tables (sampler__fn_start), or 0 if unknown */
    uintptr_t fn_start;
} sampler__sym_result;

sampler__symbolizer *sampler__sym_open(void);
void sampler__sym_close(sampler__symbolizer *s);
/* Make the live symbolizer see the objects loaded now (libdw: report the
 * process again; dladdr: nothing to do). 0, or -1 if that failed. */
int sampler__sym_refresh(sampler__symbolizer *s);
/* Look up `addr` (pc, or pc - 1 for a return address) in module m.
 * live: m is loaded now and the live symbolizer matches the loaded objects
 * (sampler__sym_refresh() since the last change); otherwise the backend
 * reads m's file if it can prove it is the same (build id), or names nothing.
 * A result found live that does not belong to m (another build id, another
 * base) is dropped. 0 or SAMPLER_ENOMEM. */
int sampler__sym_lookup(sampler__symbolizer *s, sampler__module *m, uintptr_t addr,
                        bool live, sampler__sym_result *out);
/* The start of the function that holds addr, in an object loaded now, from
 * its unwind tables (.eh_frame_hdr's table of FDEs, through libunwind's
 * unw_get_proc_info_by_ip): what names a pc in stripped code by its
 * function. 0 if unknown or built without libunwind. */
uintptr_t sampler__fn_start(uintptr_t addr);
/* Free m->sym (the backend's handle on m's file). */
void sampler__sym_module_free(sampler__module *m);
/* SAMPLER_PROFILE_HAVE_LIBDW or 0 */
unsigned int sampler__sym_features(void);

/* ---- the profile ---------------------------------------------------------- */

/* The samples of a stack whose pcs are named against the same module sets
 * (sampler__mods_classify). A stack has one variant unless its pcs were in
 * memory whose library changed: samples whose sets name every pc the same
 * share a variant (alias: the latest such other pair, by set ids). */
typedef struct sampler__pvar {
    sampler__modset *ma, *mb; /* ma NULL: before the first look */
    uint32_t alias_a, alias_b;
    uint64_t samples, weight;
} sampler__pvar;

/* One distinct (thread, stack). key[] = tid, depth, pcs[depth] (uthash key). */
typedef struct sampler__pstack {
    UT_hash_handle hh;
    uint64_t samples;
    uint64_t weight;
    pid_t tid;
    int depth;
    int nvar, last;      /* variants, the one used last */
    sampler__pvar *var;  /* &var1, or malloc'd when more than one */
    sampler__pvar var1;
    size_t keylen;       /* bytes of key[] */
    uintptr_t key[];
} sampler__pstack;
/* The one-frame stack that holds a sample's delayed_weight (a late signal's
 * intervals spent with the signal blocked): never a code address. */
#define SAMPLER__PC_DELAYED ((uintptr_t)1)
#define SAMPLER__PSTACK_PCS(st) ((st)->key + 2)

/* A word of a client's own frame (sampler.h, "Frames of a client's own
 * kind"), or one carrying more of its payload (never a frame by itself). */
static inline bool sampler__word_is_client(uintptr_t w)
{
    unsigned int k = SAMPLER_FRAME_KIND(w);
    return k >= SAMPLER_FRAME_KIND_MIN && k <= SAMPLER_FRAME_KIND_MAX;
}
static inline bool sampler__word_is_extra(uintptr_t w)
{
    return SAMPLER_FRAME_KIND(w) == SAMPLER_FRAME_KIND_EXTRA;
}

typedef struct sampler__pthread {
    UT_hash_handle hh; /* key: tid */
    pid_t tid;
    bool sampled; /* has samples (counted in nthreads); else only named */
    bool named;   /* named by the client (sampler_profile_set_thread_name) */
    uint64_t samples, weight;
    char name[64];
    char label[96]; /* "name (tid)" */
} sampler__pthread;

/* A symbolized address in one module (cache entry). */
typedef struct sampler__frame {
    UT_hash_handle hh; /* key: key[] = addr, module id (0: none, or unknown) */
    uintptr_t key[2];
    uintptr_t addr;    /* looked-up address (pc, or pc - 1) */
    char *name;        /* display name: func, module+0xoff or [unknown]; never NULL */
    char *func;        /* NULL if unknown */
    char *file;        /* NULL if unknown */
    int line;
    const sampler__module *mod; /* NULL if not known (none or unknown) */
    bool client;       /* a client's frame: key[] = word, extra word's payload */
} sampler__frame;

struct sampler_profile {
    pthread_mutex_t lock;
    sampler__pstack *stacks; /* uthash head */
    sampler__pthread *threads;
    uint64_t samples, weight, nstacks, nthreads;
    uint64_t nvariants; /* over all stacks (>= nstacks) */
    uint64_t interval_ns;
    bool interval_given;
    uint64_t start_realtime_ns; /* when made or reset (pprof time_nanos) */
    uint64_t start_mono_ns;

    /* the clients' resolvers, by frame kind (sampler_profile_set_frame_resolver) */
    struct {
        sampler_frame_resolver_fn fn;
        void *arg;
    } resolvers[SAMPLER_FRAME_KIND_MAX + 1];

    /* symbol cache (under lock) */
    sampler__symbolizer *sym;
    sampler__frame *frames;
    sampler__mods mods; /* the loaded objects over time (profile_modules.c) */

    /* collector */
    pthread_mutex_t clock; /* guards the fields below (never held with lock) */
    pthread_cond_t cond;
    pthread_t thread;
    bool collecting;
    bool stopping;
    pid_t collector_pid;
    unsigned int period_ms;

    /* the list of live profiles, for the fork handlers (profile_collector.c) */
    struct sampler_profile *fork_prev, *fork_next;
};

/* profile_collector.c. Set up the collector's lock and condition variable and
 * put the profile on the list of live profiles, whose locks the fork handlers
 * hold across fork() and release (the condition variable: re-initialise) in
 * the child. 0 or SAMPLER_ENOMEM (the fork handlers could not be installed). */
int sampler__collector_init(sampler_profile *p);
/* Stop the collector (as sampler_profile_collector_stop()), take the profile
 * off the list, destroy the collector's lock and condition variable. */
void sampler__collector_fini(sampler_profile *p);

/* Under profile->lock: the frame for pcs[i] of a stack (i > 0: pc - 1), in
 * the module that pc was in when variant v of the stack was sampled. NULL
 * only when out of memory. */
const sampler__frame *sampler__profile_frame(sampler_profile *p, const sampler__pstack *st,
                                             const sampler__pvar *v, int i);
/* Under profile->lock: sampler__mods_classify() with its common case inline
 * (a sample taken between two looks that saw the same objects). */
static inline int sampler__mods_sets(sampler_profile *p, uint64_t time_ns,
                                     sampler__modset **a, sampler__modset **b)
{
    sampler__modset *l = p->mods.latest;
    if (time_ns >= l->first_hi && time_ns <= l->last_lo) {
        *a = *b = l;
        return 0;
    }
    return sampler__mods_classify(p, time_ns, a, b);
}
/* Under profile->lock: the thread entry of tid (NULL if never seen). */
sampler__pthread *sampler__profile_thread(sampler_profile *p, pid_t tid);
/* Under profile->lock: the interval in ns to report. */
uint64_t sampler__profile_interval(sampler_profile *p);

/* ---- name stacks (profile_folded.c): stacks as display names, merged ----- */

typedef struct sampler__nstack {
    UT_hash_handle hh; /* key: text */
    uint64_t weight;
    int n;          /* names */
    char **names;   /* root first; point into text */
    char *text;     /* "root;...;leaf" (NUL-separated copy in names) */
    char *buf;
} sampler__nstack;

/* Build the merged name stacks (root first); takes profile->lock for the
 * build, so the result is the caller's alone (free with nstacks_free). */
int sampler__nstacks_build(sampler_profile *p, unsigned int flags, sampler__nstack **out);
void sampler__nstacks_free(sampler__nstack *head);

#define SAMPLER__PROFILE_FLAGS (SAMPLER_PROFILE_THREADS | SAMPLER_PROFILE_ADDRESSES)

#endif /* SAMPLER_PROFILE_INTERNAL_H */
