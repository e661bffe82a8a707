/*
 * sampler_walk_libunwind() when libsampler was built without libunwind
 * (configure --without-libunwind, or libunwind-dev missing): it records only
 * the interrupted program counter, and sampler_walk_libunwind_available()
 * says 0, so a caller can fall back to another walker.
 */
#include "internal.h"

#include <ucontext.h>

int sampler_walk_libunwind_available(void)
{
    return 0;
}

int sampler_walk_libunwind(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                           void *walker_arg)
{
    (void)walker_arg;
    if (ctx == NULL || ctx->ucontext == NULL || pcs == NULL || max_depth < 1)
        return 0;
    const ucontext_t *uc = ctx->ucontext;
#if defined(__x86_64__)
    pcs[0] = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pcs[0] = (uintptr_t)uc->uc_mcontext.pc;
#else
    return 0;
#endif
    return 1;
}
