/*
 * sampler-run: the environment variables the CLI (run/sampler-run.c) sets for
 * the preload module (run/preload.c). They are the module's whole interface:
 * `LD_PRELOAD=.../libsampler-preload.so SAMPLER_RUN_OUTPUT=... CMD` works
 * without the CLI too. See run/README.md.
 */
#ifndef SAMPLER_RUN_H
#define SAMPLER_RUN_H

/* Profile file; relative names are taken from the working directory at start.
 * With SAMPLER_RUN_FOLLOW_FORK=1 each process writes OUTPUT.PID. */
#define SAMPLER_RUN_ENV_OUTPUT "SAMPLER_RUN_OUTPUT"
/* a format name of libsampler-profile's table (sampler_profile_format_find) */
#define SAMPLER_RUN_ENV_FORMAT "SAMPLER_RUN_FORMAT"
/* nanoseconds between samples, [1000, 3600000000000] */
#define SAMPLER_RUN_ENV_INTERVAL "SAMPLER_RUN_INTERVAL_NS"
/* fp | libunwind */
#define SAMPLER_RUN_ENV_WALKER "SAMPLER_RUN_WALKER"
/* cpu | wall */
#define SAMPLER_RUN_ENV_CLOCK "SAMPLER_RUN_CLOCK"
/* samples the sample buffer holds, [1, SAMPLER_BUFFER_MAX]; empty: the
 * library's default */
#define SAMPLER_RUN_ENV_BUFFER "SAMPLER_RUN_BUFFER"
/* 0 | 1: keep LD_PRELOAD for children and profile forked children */
#define SAMPLER_RUN_ENV_FOLLOW_FORK "SAMPLER_RUN_FOLLOW_FORK"
/* 0 | 1: no summary line at exit */
#define SAMPLER_RUN_ENV_QUIET "SAMPLER_RUN_QUIET"
/* CLI only: the preload module to use instead of the one it finds itself */
#define SAMPLER_RUN_ENV_PRELOAD "SAMPLER_RUN_PRELOAD"

#define SAMPLER_RUN_MODULE "libsampler-preload.so"

#endif
