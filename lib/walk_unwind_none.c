/*
 * sampler_walk_libunwind() when libsampler was built without libunwind
 * (configure --without-libunwind, or libunwind-dev missing): it records only
 * the interrupted program counter, and sampler_walk_libunwind_available()
 * says 0, so a caller can fall back to another walker.
 */
#include "internal.h"

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
    uintptr_t pc, fp, sp;
    if (!sampler__context_regs(ctx->ucontext, &pc, &fp, &sp))
        return 0;
    pcs[0] = pc;
    return 1;
}
