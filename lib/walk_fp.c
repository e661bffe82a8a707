/*
 * The frame-pointer walker. Runs in the signal handler: reads only the
 * interrupted thread's own stack, inside its bounds.
 */
#include "internal.h"

int sampler_walk_fp(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                    void *walker_arg)
{
    (void)walker_arg;
    if (ctx == NULL || ctx->ucontext == NULL || pcs == NULL || max_depth < 1)
        return 0;
    uintptr_t pc, fp, sp;
    if (!sampler__context_regs(ctx->ucontext, &pc, &fp, &sp))
        return 0;
    int n = 0;
    pcs[n++] = pc;
    if (ctx->stack_hi == 0)
        return n; /* bounds unknown: never read memory we cannot vouch for */
    uintptr_t lo = sp > ctx->stack_lo ? sp : ctx->stack_lo;
    uintptr_t hi = ctx->stack_hi;
    /* A frame record is two words: [fp] = caller's fp, [fp + 8] = return address. */
    while (n < max_depth) {
        if (fp < lo || fp >= hi || hi - fp < 2 * sizeof(uintptr_t) ||
            (fp & (sizeof(uintptr_t) - 1)))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t ret = frame[1];
        if (ret == 0)
            break;
        pcs[n++] = ret;
        uintptr_t next = frame[0];
        if (next <= fp)
            break; /* frames must move strictly up the stack */
        fp = next;
    }
    return n;
}
