/* Configuration defaults. Checking happens in sampler_start() (state.c). */
#include "internal.h"

#include <stddef.h>
#include <string.h>

/* The smallest struct any released header had: every field up to buffer_capacity. */
#define SAMPLER__CONFIG_V1_SIZE                                                        \
    (offsetof(sampler_config, buffer_capacity) + sizeof(size_t))

int sampler_config_init(sampler_config *cfg, size_t size)
{
    if (cfg == NULL)
        return SAMPLER_EINVAL;
    if (size < SAMPLER__CONFIG_V1_SIZE)
        return SAMPLER_ESTRUCTSIZE;
    sampler_config def;
    memset(&def, 0, sizeof def);
    def.size = size < sizeof def ? size : sizeof def;
    def.interval_ns = SAMPLER_DEFAULT_INTERVAL_NS;
    def.clock = SAMPLER_CLOCK_CPU;
    def.signo = SIGPROF;
    def.walker = sampler_walk_fp;
    def.walker_arg = NULL;
    def.max_depth = 64;
    def.buffer_capacity = 16384;
    memset(cfg, 0, size);
    memcpy(cfg, &def, def.size);
    cfg->size = size;
    return 0;
}
