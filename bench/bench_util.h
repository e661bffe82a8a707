/*
 * Small helpers shared by the bench programs: clocks, medians over rounds,
 * and a die-on-error macro. Header-only so each program stays one file.
 *
 * Every figure the benches print is the median of several rounds, with the
 * min-max over the rounds beside it, and is set against a baseline measured
 * in the same run, interleaved round by round with the measured case, so that
 * a noisy neighbour on this shared machine slows both alike.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sampler.h>

#define BENCH_DIE(...)                                                                   \
    do {                                                                                 \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                  \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        exit(1);                                                                         \
    } while (0)

/* A libsampler call that must succeed (returns >= 0). */
#define BENCH_OK(call)                                                                   \
    do {                                                                                 \
        int bench_rc_ = (call);                                                          \
        if (bench_rc_ < 0)                                                               \
            BENCH_DIE("%s: %s (%s)", #call, sampler_err_name(bench_rc_),                 \
                      sampler_strerror(bench_rc_));                                      \
    } while (0)

/* A system call that must succeed (returns 0). */
#define BENCH_SYS(call)                                                                  \
    do {                                                                                 \
        if ((call) != 0)                                                                 \
            BENCH_DIE("%s: %s", #call, strerror(errno));                                 \
    } while (0)

static inline uint64_t bench_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline pid_t bench_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* What sampler_thread_register_tid must read for a thread: its start time
 * in /proc/self/task/TID/stat (open + read + close). */
static inline void bench_read_stat(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
        BENCH_DIE("%s: %s", path, strerror(errno));
    close(fd);
}

/* Wall time (monotonic). */
static inline uint64_t bench_now(void)
{
    return bench_ns(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread: excludes the time this thread sat preempted
 * by another process, which is most of the noise on a shared machine. */
static inline uint64_t bench_cpu(void)
{
    return bench_ns(CLOCK_THREAD_CPUTIME_ID);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, min and max of v[0..n) (v is sorted in place). */
typedef struct bench_summary {
    double med, min, max;
} bench_summary;

static inline bench_summary bench_summarize(double *v, int n)
{
    bench_summary s = {0, 0, 0};
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

/* Ratio of medians, and a ratio per round (measured / baseline of the same
 * round) summarised the same way: the per-round ratio cancels slow drifts. */
static inline bench_summary bench_ratio(const double *num, const double *den, int n)
{
    double r[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        r[i] = den[i] > 0 ? num[i] / den[i] : 0;
    return bench_summarize(r, n);
}

/* "12.34 (11.90-13.02)" into buf. */
static inline const char *bench_fmt(char *buf, size_t len, bench_summary s, int prec)
{
    snprintf(buf, len, "%.*f (%.*f-%.*f)", prec, s.med, prec, s.min, prec, s.max);
    return buf;
}

/* ---- make bench's summary table --------------------------------------------
 * Each program prints its long report on stdout and, when $BENCH_TABLE names
 * a file, appends its headline figures to it as rows of one table that
 * `make bench` prints at the end (bench/table.sh). A row is one line of
 * tab-separated fields:
 *
 *   section  figure  value  baseline  ratio  target  verdict
 *
 * value and ratio are "median (min-max)" strings; baseline names what the
 * ratio divides by; target is the goal from issue 6 ("" when none); verdict
 * is "ok", "MISSED" or "" (no target). Fields must not contain tabs. */
static inline void bench_table_row(const char *section, const char *figure,
                                   const char *value, const char *baseline,
                                   const char *ratio, const char *target,
                                   const char *verdict)
{
    const char *path = getenv("BENCH_TABLE");
    if (path == NULL || *path == '\0')
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        BENCH_DIE("cannot append to BENCH_TABLE=%s: %s", path, strerror(errno));
    fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", section, figure, value, baseline, ratio,
            target, verdict);
    fclose(f);
}

/* "ok" when lo <= x <= hi, else "MISSED". */
static inline const char *bench_verdict(double x, double lo, double hi)
{
    return x >= lo && x <= hi ? "ok" : "MISSED";
}

#endif /* BENCH_UTIL_H */
