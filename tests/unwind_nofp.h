/* The -fomit-frame-pointer call chain of the unwind suite (unwind_nofp.c). */
#ifndef SAMPLER_UNWIND_NOFP_H
#define SAMPLER_UNWIND_NOFP_H

#include <stdint.h>

/* a calls b calls c; c burns up to `ns` of this thread's CPU time, or until
 * *stop becomes non-zero. */
void un_nofp_a(uint64_t ns, volatile int *stop);
void un_nofp_b(uint64_t ns, volatile int *stop);
void un_nofp_c(uint64_t ns, volatile int *stop);

#endif
