/*
 * The libunwind walker (built only when configure found libunwind; the stub
 * for the other case is walk_unwind_none.c). Runs in the signal handler.
 *
 * unw_backtrace() starts in this function, so it walks the handler's own
 * frames and the kernel's signal frame first: we find the interrupted pc (from
 * the ucontext) in what it returns and keep the frames from there on. The
 * safety analysis of libunwind 1.6 in a handler, and what the guard below is
 * for, is in docs/ARCHITECTURE.md "libunwind walker".
 */
#include "internal.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <link.h>
#include <sys/auxv.h>
#include <ucontext.h>

/* Frames above the interrupted one: this walker, the sampler's handler
 * (sampler__take_sample may be inlined into it or not) and the kernel's
 * sigreturn trampoline, plus room for a user's chained walker. */
#define SAMPLER__UNWIND_EXTRA 16

/* Code ranges where the interrupted thread may hold the dynamic loader's
 * lock in a state a re-entrant dl_iterate_phdr cannot handle, or may be in
 * the middle of updating libunwind's per-thread cache. A sample that lands
 * there records just the interrupted pc. Written once before the handler
 * can use it; published by the release store of the count. */
#define SAMPLER__GUARD_MAX 16
static struct {
    uintptr_t lo, hi;
} sampler__guard[SAMPLER__GUARD_MAX];
static _Atomic int sampler__nguard;
static _Atomic bool sampler__unwind_ready; /* set after the guard is written */
static pthread_once_t sampler__unwind_once = PTHREAD_ONCE_INIT;

static void sampler__guard_add(uintptr_t lo, uintptr_t hi, int *n)
{
    if (lo < hi && *n < SAMPLER__GUARD_MAX) {
        sampler__guard[*n].lo = lo;
        sampler__guard[*n].hi = hi;
        (*n)++;
    }
}

/* The extent of one function, from its ELF symbol (dladdr1 gives st_size). */
static void sampler__guard_fn(void *fn, int *n)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (fn == NULL || dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) == 0 ||
        sym == NULL || info.dli_saddr == NULL)
        return;
    uintptr_t lo = (uintptr_t)info.dli_saddr;
    sampler__guard_add(lo, lo + (sym->st_size ? sym->st_size : 1), n);
}

typedef struct sampler__guard_scan {
    uintptr_t ldso_base; /* AT_BASE: the dynamic loader's load address */
    uintptr_t unwind_fn; /* an address inside libunwind */
    uintptr_t self_fn;   /* an address inside libsampler */
    int *n;
} sampler__guard_scan;

/* Executable segments of the dynamic loader, and of libunwind when it is a
 * shared object of its own (statically linked, it shares our object and
 * cannot be told apart this way). */
static int sampler__guard_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
    sampler__guard_scan *sc = arg;
    (void)size;
    bool is_ldso = sc->ldso_base != 0 && info->dlpi_addr == sc->ldso_base;
    bool has_unw = false, has_self = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        has_unw |= sc->unwind_fn >= lo && sc->unwind_fn < hi;
        has_self |= sc->self_fn >= lo && sc->self_fn < hi;
    }
    if (!is_ldso && !(has_unw && !has_self))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            sampler__guard_add(lo, lo + ph->p_memsz, sc->n);
        }
    }
    return 0;
}

static void sampler__unwind_init_once(void)
{
    int n = 0;
    sampler__guard_scan sc = {
        .ldso_base = (uintptr_t)getauxval(AT_BASE),
        .unwind_fn = (uintptr_t)(void *)unw_backtrace,
        .self_fn = (uintptr_t)(void *)sampler_walk_libunwind,
        .n = &n,
    };
    dl_iterate_phdr(sampler__guard_phdr, &sc);
    /* libc's halves of the loader lock (a recursive pthread mutex): between
     * taking the lock word and recording the owner, re-entry would block on
     * ourselves. */
    sampler__guard_fn((void *)dl_iterate_phdr, &n);
    sampler__guard_fn(dlsym(RTLD_DEFAULT, "pthread_mutex_lock"), &n);
    sampler__guard_fn(dlsym(RTLD_DEFAULT, "pthread_mutex_unlock"), &n);
    sampler__guard_fn(dlvsym(RTLD_DEFAULT, "__lll_lock_wait", "GLIBC_PRIVATE"), &n);
    sampler__guard_fn(dlsym(RTLD_DEFAULT, "dlopen"), &n);
    sampler__guard_fn(dlsym(RTLD_DEFAULT, "dlclose"), &n);
    atomic_store_explicit(&sampler__nguard, n, memory_order_release);
    atomic_store_explicit(&sampler__unwind_ready, true, memory_order_release);
}

/* Called from sampler_start() (the thread that starts) and from
 * sampler_thread_register() (each thread that registers itself) before the
 * thread can receive a sample: one unw_backtrace() in a normal context does
 * libunwind's one-time set-up (tdep_init, the pthread_once and key of the
 * trace cache) and allocates this thread's trace cache and TLS. */
void sampler__unwind_prepare(sampler_walker_fn walker)
{
    if (walker != sampler_walk_libunwind)
        return;
    pthread_once(&sampler__unwind_once, sampler__unwind_init_once);
    void *buf[SAMPLER__UNWIND_EXTRA];
    (void)unw_backtrace(buf, SAMPLER__UNWIND_EXTRA);
}

static bool sampler__guarded(uintptr_t pc)
{
    int n = atomic_load_explicit(&sampler__nguard, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (pc >= sampler__guard[i].lo && pc < sampler__guard[i].hi)
            return true;
    return false;
}

int sampler_walk_libunwind_available(void)
{
    return 1;
}

int sampler_walk_libunwind(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                           void *walker_arg)
{
    (void)walker_arg;
    if (ctx == NULL || ctx->ucontext == NULL || pcs == NULL || max_depth < 1)
        return 0;
    uintptr_t pc, fp, sp;
    if (!sampler__context_regs(ctx->ucontext, &pc, &fp, &sp))
        return 0;
    pcs[0] = pc;
    /* Not prepared (no sampler_start() with this walker: libunwind's
     * one-time set-up would run here), or interrupted where a walk is unsafe. */
    if (!atomic_load_explicit(&sampler__unwind_ready, memory_order_acquire) ||
        sampler__guarded(pc))
        return 1;

    int cap = (max_depth > SAMPLER_MAX_DEPTH ? SAMPLER_MAX_DEPTH : max_depth) +
              SAMPLER__UNWIND_EXTRA;
    void *buf[SAMPLER_MAX_DEPTH + SAMPLER__UNWIND_EXTRA];
    int n = unw_backtrace(buf, cap);
    /* The signal frame's pc is reported exactly (no return-address
     * adjustment); everything before it is ours. */
    for (int i = 0; i < n && i < SAMPLER__UNWIND_EXTRA; i++) {
        if ((uintptr_t)buf[i] != pc)
            continue;
        int m = n - i;
        if (m > max_depth)
            m = max_depth;
        for (int k = 1; k < m; k++)
            pcs[k] = (uintptr_t)buf[i + k];
        return m;
    }
    return 1; /* the walk did not get through the signal frame */
}
