/*
 * Test program for sampler-run: N worker threads, each in its own noinline
 * function, burn CPU in the ratio 1:2:...:N. Knows nothing of libsampler.
 *
 *   mt_work [-n THREADS] [-u UNIT_MS] [-c CPUFILE]
 *
 * Each worker names itself "work<i>" and burns i*UNIT_MS of its own CPU time
 * (CLOCK_THREAD_CPUTIME_ID). With -c, the program writes one line per thread
 * to CPUFILE at the end: `name tid cpu_ns` (the main thread as "main"), read
 * at the end of each thread's work, for comparison with the profile.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAXT 16

struct worker {
    int index;
    uint64_t burn_ns;
    pid_t tid;
    uint64_t cpu_ns;
    pthread_t thread;
};

static volatile uint64_t sink;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define WORK_FN(n)                                                                      \
    __attribute__((noinline)) static void work##n(uint64_t until)                      \
    {                                                                                   \
        uint64_t x = n;                                                                 \
        while (thread_cpu_ns() < until)                                                 \
            for (int i = 0; i < 20000; i++)                                             \
                x = x * 6364136223846793005u + 1442695040888963407u;                    \
        sink += x;                                                                      \
    }
WORK_FN(0)
WORK_FN(1)
WORK_FN(2)
WORK_FN(3)
WORK_FN(4)
WORK_FN(5)
WORK_FN(6)
WORK_FN(7)

static void (*const work_fns[8])(uint64_t) = {work0, work1, work2, work3,
                                              work4, work5, work6, work7};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "work%d", w->index);
    pthread_setname_np(pthread_self(), name);
    w->tid = (pid_t)syscall(SYS_gettid);
    work_fns[w->index % 8](thread_cpu_ns() + w->burn_ns);
    w->cpu_ns = thread_cpu_ns();
    return NULL;
}

int main(int argc, char **argv)
{
    int n = 4, unit_ms = 100, c;
    const char *cpufile = NULL;
    while ((c = getopt(argc, argv, "n:u:c:")) != -1) {
        switch (c) {
        case 'n':
            n = atoi(optarg);
            break;
        case 'u':
            unit_ms = atoi(optarg);
            break;
        case 'c':
            cpufile = optarg;
            break;
        default:
            fprintf(stderr, "usage: mt_work [-n THREADS] [-u UNIT_MS] [-c CPUFILE]\n");
            return 2;
        }
    }
    if (n < 1 || n > MAXT || unit_ms < 1) {
        fprintf(stderr, "mt_work: -n 1..%d, -u >= 1\n", MAXT);
        return 2;
    }
    struct worker w[MAXT];
    for (int i = 0; i < n; i++) {
        w[i].index = i;
        w[i].burn_ns = (uint64_t)(i + 1) * (uint64_t)unit_ms * 1000000u;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "mt_work: pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(w[i].thread, NULL);
    if (cpufile != NULL) {
        FILE *f = fopen(cpufile, "w");
        if (f == NULL) {
            perror(cpufile);
            return 1;
        }
        fprintf(f, "main %ld %llu\n", (long)getpid(), (unsigned long long)thread_cpu_ns());
        for (int i = 0; i < n; i++)
            fprintf(f, "work%d %ld %llu\n", i, (long)w[i].tid,
                    (unsigned long long)w[i].cpu_ns);
        fclose(f);
    }
    printf("mt_work: %d threads done\n", n);
    return 0;
}
