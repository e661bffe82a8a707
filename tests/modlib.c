/*
 * The modules suite's shared library, built twice (tests/Makefile.am) with
 * TM_BURN = tm_a_burn and tm_b_burn: the same code and, since the two names
 * have the same length, the same layout, so when one is unloaded and the other
 * is loaded at the same address, each pc of one falls on the same instruction
 * of the other.
 */
#include <stdint.h>

#ifndef TM_BURN
#error "build with -DTM_BURN=name"
#endif

#ifdef TM_HIDDEN
/* The stripped variant: TM_BURN is in no symbol table (hidden, and the
 * library is stripped); the test finds it through tm_fn_addr(). */
__attribute__((visibility("hidden")))
#endif
uint64_t TM_BURN(uint64_t iters);

static volatile uint64_t tm_sink;

/* A leaf that only computes: no calls, so the interrupted pc is in here. */
uint64_t TM_BURN(uint64_t iters)
{
    uint64_t x = tm_sink;
    for (uint64_t i = 0; i < iters; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        __asm__ volatile("" : "+r"(x));
    }
    tm_sink = x;
    return x;
}

#ifdef TM_HIDDEN
void *tm_fn_addr(void);
void *tm_fn_addr(void)
{
    return (void *)TM_BURN;
}
#endif
