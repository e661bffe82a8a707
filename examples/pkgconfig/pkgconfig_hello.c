/*
 * pkgconfig_hello.c - the smallest complete libsampler program, built against
 * an installed library:
 *
 *   cc -fno-omit-frame-pointer hello.c $(pkg-config --static --cflags --libs libsampler)
 *
 * It samples its own thread while burning about 200 ms of CPU, then reads the
 * samples back and checks that they add up. Exit status 0 means the installed
 * header, library and .pc file work together.
 */
#define _POSIX_C_SOURCE 200809L
#include <sampler.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Called once per sample by sampler_drain(). */
static int count_sample(const sampler_sample *s, void *arg)
{
    uint64_t *weight = arg;
    *weight += s->weight; /* 1 + timer overruns: how many intervals it stands for */
    return 0;             /* 0 = keep going */
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "pkgconfig_hello: %s: %s\n", what, sampler_strerror(rc));
    return 1;
}

int main(void)
{
    printf("libsampler header %s, library %s\n", SAMPLER_VERSION_STRING,
           sampler_version_string());
    if (sampler_version() != SAMPLER_VERSION_HEX)
        return fail("version", SAMPLER_EINVAL);

    sampler_config cfg;
    int rc = sampler_config_init(&cfg, sizeof cfg); /* defaults + struct size */
    if (rc < 0)
        return fail("sampler_config_init", rc);
    cfg.interval_ns = 4000000; /* a sample per 4 ms of this thread's CPU time */
    if ((rc = sampler_start(&cfg)) < 0)
        return fail("sampler_start", rc);
    if ((rc = sampler_thread_register(NULL)) < 0) /* sample the calling thread */
        return fail("sampler_thread_register", rc);

    volatile uint64_t x = 1;
    uint64_t end = thread_cpu_ns() + 200000000ULL;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;

    if ((rc = sampler_stop()) < 0) /* also unregisters every thread */
        return fail("sampler_stop", rc);
    uint64_t weight = 0;
    int n = sampler_drain(count_sample, &weight, 0); /* readable after stop */
    if (n < 0)
        return fail("sampler_drain", n);

    printf("%d samples, weight %llu (~%llu ms of CPU at 4 ms per interval)\n", n,
           (unsigned long long)weight, (unsigned long long)weight * 4);
    if (n == 0 || weight < 25) {
        fprintf(stderr, "pkgconfig_hello: expected about 50 intervals of samples\n");
        return 1;
    }
    return 0;
}
