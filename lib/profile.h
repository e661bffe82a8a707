/*
 * Internal declarations of the profile part (consumer side; never runs in a
 * signal handler). Nothing here is API.
 *
 *   profile.c           aggregation by (thread, stack), threads, symbol cache
 *   profile_collector.c background drain thread
 *   profile_folded.c    folded-stacks writer and the name-stack helpers
 *   profile_svg.c       SVG flame graph writer
 *   profile_pprof.c     pprof writer (protobuf-c code generated at build time)
 *   sym_dw.c            symbolizer backend: elfutils libdw (--with-libdw)
 *   sym_dladdr.c        symbolizer backend: dladdr() (when libdw is absent)
 */
#ifndef SAMPLER_PROFILE_INTERNAL_H
#define SAMPLER_PROFILE_INTERNAL_H

#include "internal.h"

#include <stdio.h>

/* uthash out of memory in the profile code: flag it per thread (the
 * registry's sampler__hash_oom is for code under the sampler's lock). */
extern _Thread_local int sampler__profile_oom;
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(obj) (sampler__profile_oom = 1)

/* ---- symbolizer backends (one of sym_dw.c, sym_dladdr.c) ---------------- */

typedef struct sampler__symbolizer sampler__symbolizer;

/* What a backend finds for one address. Strings are malloc'd (or NULL) and
 * owned by the caller afterwards. */
typedef struct sampler__sym_result {
    char *func;   /* function name, NULL if unknown */
    char *file;   /* source file, NULL if unknown */
    int line;     /* source line, 0 if unknown */
    char *module; /* module path (or name), NULL if the address is in none */
    uintptr_t module_start; /* lowest address of the module: module+0x(addr - start) */
} sampler__sym_result;

sampler__symbolizer *sampler__sym_open(void);
void sampler__sym_close(sampler__symbolizer *s);
/* Look up `addr` (pc, or pc - 1 for a return address). 0 or SAMPLER_ENOMEM. */
int sampler__sym_lookup(sampler__symbolizer *s, uintptr_t addr, sampler__sym_result *out);
/* The GNU build id (lowercase hex, malloc'd) of the module holding `addr`,
 * or NULL if unknown. */
char *sampler__sym_build_id(sampler__symbolizer *s, uintptr_t addr);
/* SAMPLER_PROFILE_HAVE_LIBDW or 0 */
unsigned int sampler__sym_features(void);

/* ---- the profile ---------------------------------------------------------- */

/* One distinct (thread, stack). key[] = tid, depth, pcs[depth] (uthash key). */
typedef struct sampler__pstack {
    UT_hash_handle hh;
    uint64_t samples;
    uint64_t weight;
    pid_t tid;
    int depth;
    size_t keylen; /* bytes of key[] */
    uintptr_t key[];
} sampler__pstack;
#define SAMPLER__PSTACK_PCS(st) ((st)->key + 2)

typedef struct sampler__pthread {
    UT_hash_handle hh; /* key: tid */
    pid_t tid;
    uint64_t samples, weight;
    char name[64];
    char label[96]; /* "name (tid)" */
} sampler__pthread;

/* A symbolized address (cache entry). */
typedef struct sampler__frame {
    UT_hash_handle hh; /* key: addr */
    uintptr_t addr;    /* looked-up address (pc, or pc - 1) */
    char *name;        /* display name: func, module+0xoff or [unknown]; never NULL */
    char *func;        /* NULL if unknown */
    char *file;        /* NULL if unknown */
    int line;
    char *module;      /* NULL if unknown */
} sampler__frame;

struct sampler_profile {
    pthread_mutex_t lock;
    sampler__pstack *stacks; /* uthash head */
    sampler__pthread *threads;
    uint64_t samples, weight, nstacks, nthreads;
    uint64_t interval_ns;
    bool interval_given;
    uint64_t start_realtime_ns; /* when made or reset (pprof time_nanos) */
    uint64_t start_mono_ns;

    /* symbol cache (under lock) */
    sampler__symbolizer *sym;
    sampler__frame *frames;

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

/* Under profile->lock: the frame for pcs[i] of a stack (i > 0: pc - 1).
 * NULL only when out of memory. */
const sampler__frame *sampler__profile_frame(sampler_profile *p, uintptr_t pc, int i);
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
