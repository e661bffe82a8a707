/*
 * Snapshots of this process's writable private mappings, from /proc/self/maps.
 * A thread registered by tid was not there to call pthread_getattr_np(), so
 * its handler finds its stack bounds on its first sample: the mapping that
 * holds its stack pointer. Snapshots are immutable once published; an old one
 * is retired and freed only when no handler run is in flight.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int sampler__range_cmp(const void *a, const void *b)
{
    const sampler__range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Now in clock ticks since boot, the unit of a thread's start time in /proc. */
static unsigned long long sampler__boot_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (unsigned long long)ts.tv_sec * (unsigned long long)hz +
           (unsigned long long)ts.tv_nsec / (1000000000ULL / (unsigned long long)hz);
}

static sampler__maps *sampler__maps_read(void)
{
    unsigned long long taken = sampler__boot_ticks();
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return NULL;
    size_t cap = 256, n = 0;
    sampler__maps *m = malloc(sizeof *m + cap * sizeof m->r[0]);
    char line[512];
    while (m != NULL && fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
            continue;
        size_t len = strlen(line);
        /* A line longer than the buffer: skip the rest of it. */
        while (len > 0 && line[len - 1] != '\n' && fgets(line, sizeof line, f) != NULL)
            len = strlen(line);
        if (perms[0] != 'r' || perms[1] != 'w')
            continue;
        if (n == cap) {
            cap *= 2;
            sampler__maps *bigger = realloc(m, sizeof *m + cap * sizeof m->r[0]);
            if (bigger == NULL) {
                free(m);
                m = NULL;
                break;
            }
            m = bigger;
        }
        /* cppcheck-suppress nullPointerRedundantCheck ; m != NULL in the loop body */
        m->r[n].lo = lo;
        /* cppcheck-suppress nullPointerRedundantCheck ; m != NULL in the loop body */
        m->r[n].hi = hi;
        n++;
    }
    fclose(f);
    if (m == NULL)
        return NULL;
    m->n = n;
    m->taken = taken;
    m->next_retired = NULL;
    qsort(m->r, n, sizeof m->r[0], sampler__range_cmp);
    return m;
}

int sampler__maps_refresh(void)
{
    sampler__maps *m = sampler__maps_read();
    if (m == NULL)
        return SAMPLER_ESYSTEM;
    sampler__maps *old = (sampler__maps *)atomic_exchange(&sampler__g.maps, m);
    if (old != NULL) {
        old->next_retired = sampler__g.retired;
        sampler__g.retired = old;
    }
    sampler__maps_collect(false);
    return 0;
}

/* A thread's stack is mapped before the thread starts, so a snapshot begun at
 * least one whole tick after the thread's start holds it. Registering threads
 * by tid one at a time then reads /proc/self/maps only for new threads. */
bool sampler__maps_covers(unsigned long long started)
{
    const sampler__maps *m = atomic_load(&sampler__g.maps);
    return m != NULL && started + 1 < m->taken;
}

/* Free retired snapshots if no handler can hold one (none in flight now: a
 * handler loads the snapshot only after counting itself in). With `all`, also
 * the current one (stopped, no handler in flight). */
void sampler__maps_collect(bool all)
{
    sampler__global *g = &sampler__g;
    if (all) {
        sampler__maps *cur = (sampler__maps *)atomic_exchange(&g->maps, NULL);
        if (cur != NULL) {
            cur->next_retired = g->retired;
            g->retired = cur;
        }
    } else if (atomic_load(&g->inflight) != 0) {
        return;
    }
    while (g->retired != NULL) {
        sampler__maps *next = g->retired->next_retired;
        free(g->retired);
        g->retired = next;
    }
}

/* async-signal-safe: binary search of an immutable snapshot. */
const sampler__range *sampler__maps_find(const sampler__maps *m, uintptr_t addr)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < m->r[mid].lo)
            hi = mid;
        else if (addr >= m->r[mid].hi)
            lo = mid + 1;
        else
            return &m->r[mid];
    }
    return NULL;
}
