/*
 * sampler_config: its defaults (sampler_config_init) and its checks
 * (sampler__config_check, for sampler_start), and the size check every struct
 * that carries its size goes through.
 */
#include "internal.h"

#include <stddef.h>
#include <string.h>

/* The smallest struct any released header had: every field up to buffer_capacity. */
#define SAMPLER__CONFIG_V1_SIZE                                                        \
    (offsetof(sampler_config, buffer_capacity) + sizeof(size_t))

int sampler__struct_size_check(const void *p, size_t size, size_t min, size_t known)
{
    if (size < min)
        return SAMPLER_ESTRUCTSIZE;
    /* A newer header: fine as long as the fields we do not know are unset. */
    const unsigned char *b = p;
    for (size_t i = known; i < size; i++)
        if (b[i] != 0)
            return SAMPLER_ESTRUCTSIZE;
    return 0;
}

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

int sampler__config_check(const sampler_config *cfg, sampler_config *out)
{
    if (cfg == NULL)
        return SAMPLER_EINVAL;
    int rc =
        sampler__struct_size_check(cfg, cfg->size, SAMPLER__CONFIG_V1_SIZE, sizeof *out);
    if (rc < 0)
        return rc;
    sampler_config_init(out, sizeof *out);
    memcpy(out, cfg, cfg->size < sizeof *out ? cfg->size : sizeof *out);
    out->size = sizeof *out;
    if (out->interval_ns < SAMPLER_INTERVAL_MIN_NS || out->interval_ns > SAMPLER_INTERVAL_MAX_NS)
        return SAMPLER_EINVAL;
    if (out->clock != SAMPLER_CLOCK_CPU && out->clock != SAMPLER_CLOCK_WALL)
        return SAMPLER_EINVAL;
    if (out->max_depth < 1 || out->max_depth > SAMPLER_MAX_DEPTH)
        return SAMPLER_EINVAL;
    if (out->buffer_capacity < 1 || out->buffer_capacity > SAMPLER_BUFFER_MAX ||
        sampler__buffer_bytes(out->buffer_capacity, out->max_depth) > SAMPLER_BUFFER_MAX_BYTES)
        return SAMPLER_EINVAL;
    if (!sampler__signo_valid(out->signo))
        return SAMPLER_ESIGNAL;
    if (out->walker == NULL)
        out->walker = sampler_walk_fp;
    return 0;
}
