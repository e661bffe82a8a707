/*
 * /proc readers for the registry: the threads of this process
 * (/proc/self/task) and a thread's start time (/proc/self/task/TID/stat).
 * Management paths only (open, read: never in the handler). The
 * /proc/self/maps snapshots are maps.c's.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Start time of a thread of this process, from /proc (field 22 of stat). */
int sampler__thread_started(pid_t tid, unsigned long long *started)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? SAMPLER_ENOTHREAD : SAMPLER_ESYSTEM;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return SAMPLER_ENOTHREAD;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip to the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return SAMPLER_ESYSTEM;
    p++;
    /* After ')' come fields 3..; start time is field 22, i.e. the 20th here. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return SAMPLER_ESYSTEM;
    }
    *started = strtoull(p + 1, NULL, 10);
    return 0;
}

/* The thread ids in /proc/self/task, in a malloc'd array. */
int sampler__list_tasks(pid_t **out, size_t *count)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return SAMPLER_ESYSTEM;
    size_t n = 0, cap = 64;
    pid_t *tids = malloc(cap * sizeof *tids);
    struct dirent *de;
    while (tids != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        if (n == cap) {
            pid_t *bigger = realloc(tids, 2 * cap * sizeof *tids);
            if (bigger == NULL) {
                free(tids);
                tids = NULL;
                break;
            }
            tids = bigger;
            cap *= 2;
        }
        /* cppcheck-suppress nullPointerRedundantCheck ; tids != NULL in the loop body */
        tids[n++] = (pid_t)atoi(de->d_name);
    }
    closedir(d);
    if (tids == NULL)
        return SAMPLER_ENOMEM;
    *out = tids;
    *count = n;
    return 0;
}
