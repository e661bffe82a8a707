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
/* the timers' signal: PROF (default), VTALRM, ALRM, USR1, USR2, RTMIN+N, or a
 * number; programs that handle SIGPROF themselves (GNU sort) need another */
#define SAMPLER_RUN_ENV_SIGNAL "SAMPLER_RUN_SIGNAL"
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

/* A signal for the timers by name (PROF, SIGPROF, RTMIN+4, ...) or number:
 * one the library accepts (sampler_config::signo), else -1. Shared by the CLI
 * and the preload module. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
static inline int sampler_run_parse_signal(const char *s)
{
    static const struct {
        const char *name;
        int signo;
    } names[] = {{"PROF", SIGPROF}, {"VTALRM", SIGVTALRM}, {"ALRM", SIGALRM},
                 {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
    if (s == NULL || *s == '\0')
        return -1;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    char *end;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].signo;
    long n;
    if (strncmp(s, "RTMIN", 5) == 0) {
        n = SIGRTMIN;
        if (s[5] == '+') {
            long k = strtol(s + 6, &end, 10);
            if (end == s + 6 || *end != '\0' || k < 0)
                return -1;
            n += k;
        } else if (s[5] != '\0') {
            return -1;
        }
    } else {
        n = strtol(s, &end, 10);
        if (end == s || *end != '\0')
            return -1;
        if (n != SIGPROF && n != SIGVTALRM && n != SIGALRM && n != SIGUSR1 && n != SIGUSR2 &&
            n < SIGRTMIN)
            return -1;
    }
    return n >= 1 && n <= SIGRTMAX ? (int)n : -1;
}

#endif
