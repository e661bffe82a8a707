/* The table of file formats: every writer of the library, found by name and
 * by file name ending. sampler-run, the preload module and the Python binding
 * list and pick formats from here; adding a format is its writer's file plus
 * one row (CONTRIBUTING.md, "Adding a profile format"). */
#include "internal.h"

#include <string.h>

static int sampler__write_pprof_any(sampler_profile *p, const char *path, unsigned int flags)
{
    (void)flags; /* pprof keeps threads as labels and always names frames */
    return sampler_profile_write_pprof(p, path);
}

typedef struct sampler__format {
    sampler_profile_format pub; /* first: a pointer to it is one to the row */
    int (*write)(sampler_profile *p, const char *path, unsigned int flags);
    const char *also[3]; /* other endings that select it (NULL-terminated) */
} sampler__format;

#ifdef HAVE_PPROF
#define SAMPLER__PPROF_AVAILABLE 1
#else
#define SAMPLER__PPROF_AVAILABLE 0
#endif

/* The first row is the default format. */
static const sampler__format sampler__formats[] = {
    {{"folded", ".folded",
      "folded stacks, a line per stack (flamegraph.pl, inferno)", 1},
     sampler_profile_write_folded_path,
     {NULL}},
    {{"pprof", ".pb.gz", "gzip'd pprof protobuf (go tool pprof, Pyroscope, Parca)",
      SAMPLER__PPROF_AVAILABLE},
     sampler__write_pprof_any,
     {".pprof", ".pb", NULL}},
    {{"svg", ".svg", "SVG flame graph (a web browser)", 1},
     sampler_profile_write_svg,
     {NULL}},
    {{"speedscope", ".speedscope.json", "speedscope JSON, one profile per thread (speedscope)", 1},
     sampler_profile_write_speedscope,
     {NULL}},
};

#define SAMPLER__NFORMATS (sizeof sampler__formats / sizeof sampler__formats[0])

const sampler_profile_format *sampler_profile_format_at(size_t index)
{
    return index < SAMPLER__NFORMATS ? &sampler__formats[index].pub : NULL;
}

const sampler_profile_format *sampler_profile_format_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < SAMPLER__NFORMATS; i++)
        if (strcmp(sampler__formats[i].pub.name, name) == 0)
            return &sampler__formats[i].pub;
    return NULL;
}

const sampler_profile_format *sampler_profile_format_for_path(const char *path)
{
    if (path == NULL)
        return NULL;
    size_t len = strlen(path);
    const sampler_profile_format *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < SAMPLER__NFORMATS; i++) {
        const sampler__format *row = &sampler__formats[i];
        for (size_t k = 0; k <= sizeof row->also / sizeof row->also[0]; k++) {
            const char *ext = k == 0 ? row->pub.extension : row->also[k - 1];
            if (ext == NULL)
                break;
            size_t n = strlen(ext);
            /* the longest ending wins (".speedscope.json" over ".json"); a
             * name that is only the ending (".svg") names no format */
            if (n < len && n > best_len && strcmp(path + len - n, ext) == 0 &&
                path[len - n - 1] != '/') {
                best = &row->pub;
                best_len = n;
            }
        }
    }
    return best;
}

int sampler_profile_write(sampler_profile *p, const char *path, const char *format,
                          unsigned int flags)
{
    if (p == NULL || path == NULL || (flags & ~SAMPLER__PROFILE_FLAGS) != 0)
        return SAMPLER_EINVAL;
    const sampler_profile_format *f;
    if (format != NULL) {
        f = sampler_profile_format_find(format);
        if (f == NULL)
            return SAMPLER_EINVAL;
    } else {
        f = sampler_profile_format_for_path(path);
        if (f == NULL)
            f = &sampler__formats[0].pub;
    }
    if (!f->available)
        return SAMPLER_EUNSUPPORTED;
    const sampler__format *row = (const sampler__format *)(const void *)f;
    return row->write(p, path, flags);
}
