/*
 * gendata: write N MiB of deterministic, compressible pseudo-text to stdout
 * (words from a fixed-seed generator), input for the `xz -T2` test of
 * sampler-run. Usage: gendata MIB
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const words[] = {
    "sampler", "thread", "timer",  "signal", "stack", "frame",   "profile", "kernel",
    "clock",   "tick",   "weight", "buffer", "drain", "collect", "symbol",  "folded",
    "pprof",   "flame",  "graph",  "lzma",   "match", "finder",  "encoder", "block",
    "the",     "a",      "of",     "and",    "to",    "in",      "is",      "it",
};

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 0;
    if (argc != 2 || mib < 1 || mib > 4096) {
        fprintf(stderr, "usage: gendata MIB (1..4096)\n");
        return 2;
    }
    uint64_t x = 0x9e3779b97f4a7c15u, left = (uint64_t)mib << 20;
    char line[256];
    while (left > 0) {
        int n = 0;
        while (n < 180) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const char *w = words[(x >> 20) % (sizeof words / sizeof *words)];
            while (*w)
                line[n++] = *w++;
            line[n++] = (x >> 40) % 11 == 0 ? ',' : ' ';
            if ((x >> 50) % 97 == 0)
                n += snprintf(line + n, sizeof line - (size_t)n, "%u ", (unsigned)(x >> 33) % 100000);
        }
        line[n++] = '\n';
        size_t k = (uint64_t)n < left ? (size_t)n : (size_t)left;
        if (fwrite(line, 1, k, stdout) != k)
            return 1;
        left -= k;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
