"""cffi build script for ``_sampler``, the out-of-line API-mode module under
the ``sampler`` package.

It links libsampler-profile and libsampler (the core). Two ways to find them:

* **Installed** (the default, used by ``pip install``): ask
  ``pkg-config --static --cflags --libs libsampler-profile`` (which requires
  libsampler) for the flags, as pynacl and coincurve do. Set
  ``PKG_CONFIG_PATH`` if libsampler-profile.pc is not on pkg-config's path.
* **Build tree** (used by ``make``): set ``SAMPLER_TOP_BUILDDIR`` (and
  ``SAMPLER_TOP_SRCDIR`` for a VPATH build). The flags still come from
  ``pkg-config --static``, on the uninstalled ``.pc`` files of the build
  tree with ``libdir``/``includedir`` pointed at ``lib/.libs`` and
  ``include/`` (and ``profile/.libs`` added), so the just-built PIC archives
  are linked instead of installed copies.

Run it directly to build the extension into a directory::

    python3 sampler_build.py [OUTDIR]
"""
import os
import shlex
import subprocess
import sys

from cffi import FFI

CDEF = r"""
/* ---- sampler.h: the part of the API the binding uses ---- */
typedef int... pid_t;

unsigned int sampler_version(void);
const char *sampler_version_string(void);
const char *sampler_strerror(int err);
const char *sampler_err_name(int err);

typedef struct sampler_walk_ctx {
    const void *ucontext;
    pid_t tid;
    void *thread_arg;
    uintptr_t stack_lo;
    uintptr_t stack_hi;
} sampler_walk_ctx;
typedef int (*sampler_walker_fn)(const sampler_walk_ctx *ctx, uintptr_t *pcs,
                                 int max_depth, void *walker_arg);
int sampler_walk_fp(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                    void *walker_arg);

typedef enum sampler_clock { SAMPLER_CLOCK_CPU = 0, SAMPLER_CLOCK_WALL = 1 } sampler_clock;
#define SAMPLER_MAX_DEPTH ...
#define SAMPLER_BUFFER_MAX ...
#define SAMPLER_DEFAULT_INTERVAL_NS ...
#define SAMPLER_INTERVAL_MIN_NS ...
#define SAMPLER_INTERVAL_MAX_NS ...
#define SAMPLER_EINVAL ...

typedef struct sampler_config {
    size_t size;
    uint64_t interval_ns;
    sampler_clock clock;
    int signo;
    sampler_walker_fn walker;
    void *walker_arg;
    int max_depth;
    size_t buffer_capacity;
    ...;
} sampler_config;
int sampler_config_init(sampler_config *cfg, size_t size);

int sampler_start(const sampler_config *cfg);
int sampler_stop(void);
int sampler_pause(void);
int sampler_resume(void);
int sampler_state(void);

int sampler_thread_register(void *thread_arg);
int sampler_thread_register_tid(pid_t tid, void *thread_arg);
int sampler_register_all_threads(void);
int sampler_thread_unregister(void);
int sampler_thread_unregister_tid(pid_t tid);
int sampler_reap_threads(void);

typedef struct sampler_stats {
    size_t size;
    uint64_t signals;
    uint64_t samples;
    uint64_t weight;
    uint64_t overruns;
    uint64_t dropped;
    uint64_t dropped_weight;
    uint64_t paused;
    uint64_t foreign;
    uint64_t stale;
    uint64_t timer_failures;
    uint64_t threads;
    uint64_t reaped;
    uint64_t delayed;
    uint64_t delayed_weight;
    uint64_t handler_replaced;
    ...;
} sampler_stats;
int sampler_get_stats(sampler_stats *out, size_t size);

typedef struct sampler_sample {
    pid_t tid;
    int depth;
    uint64_t time_ns;
    uint64_t weight;
    void *thread_arg;
    const uintptr_t *pcs;
    uint64_t delayed_weight;
} sampler_sample;

/* ---- sampler/profile.h: aggregation, symbols, folded/pprof/SVG writers ---- */
typedef struct sampler_profile sampler_profile;
#define SAMPLER_PROFILE_HAVE_LIBDW ...
#define SAMPLER_PROFILE_HAVE_PPROF ...
#define SAMPLER_PROFILE_THREADS ...
#define SAMPLER_PROFILE_ADDRESSES ...
unsigned int sampler_profile_features(void);
typedef struct sampler_profile_options {
    size_t size;
    uint64_t interval_ns;
    ...;
} sampler_profile_options;
int sampler_profile_options_init(sampler_profile_options *opt, size_t size);
int sampler_profile_new(sampler_profile **out, const sampler_profile_options *opt);
void sampler_profile_free(sampler_profile *profile);
int sampler_profile_add(sampler_profile *profile, const sampler_sample *sample);
int sampler_profile_drain(sampler_profile *profile);
int sampler_profile_reset(sampler_profile *profile);
typedef struct sampler_profile_totals {
    size_t size;
    uint64_t samples;
    uint64_t weight;
    uint64_t stacks;
    uint64_t threads;
    uint64_t interval_ns;
    ...;
} sampler_profile_totals;
int sampler_profile_get_totals(sampler_profile *profile, sampler_profile_totals *out,
                               size_t size);
int sampler_profile_collector_start(sampler_profile *profile, unsigned int period_ms);
int sampler_profile_collector_stop(sampler_profile *profile);
int sampler_profile_write_folded_path(sampler_profile *profile, const char *path,
                                      unsigned int flags);
int sampler_profile_write_pprof(sampler_profile *profile, const char *path);
int sampler_profile_write_svg(sampler_profile *profile, const char *path, unsigned int flags);
int sampler_profile_set_thread_name(sampler_profile *profile, pid_t tid, const char *name);
typedef struct sampler_profile_format {
    const char *name;
    const char *extension;
    const char *description;
    int available;
    ...;
} sampler_profile_format;
const sampler_profile_format *sampler_profile_format_at(size_t index);
const sampler_profile_format *sampler_profile_format_find(const char *name);
const sampler_profile_format *sampler_profile_format_for_path(const char *path);
int sampler_profile_write(sampler_profile *profile, const char *path, const char *format,
                          unsigned int flags);

/* ---- helpers defined in set_source below ---- */
typedef struct pysampler_buf {
    uint64_t *words;   /* per sample: tid, time_ns, weight, thread_arg, depth, pcs... */
    size_t len;
    size_t cap;
    int oom;
    sampler_profile *profile; /* if not NULL, each sample is also added to it */
    int add_err;              /* first sampler_profile_add() error, or 0 */
} pysampler_buf;
int pysampler_drain(pysampler_buf *buf, size_t max);
void pysampler_buf_free(pysampler_buf *buf);

/* ---- <dlfcn.h>: symbolization ---- */
typedef struct {
    const char *dli_fname;
    void *dli_fbase;
    const char *dli_sname;
    void *dli_saddr;
} Dl_info;
int dladdr(const void *addr, Dl_info *info);
"""

SOURCE = r"""
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, Dl_info */
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sampler.h>
#include <sampler/profile.h>

typedef struct pysampler_buf {
    uint64_t *words;
    size_t len;
    size_t cap;
    int oom;
    sampler_profile *profile;
    int add_err;
} pysampler_buf;

/* Drain callback: copy each sample into one flat array of words, so the
 * drain runs without calling back into Python (and without the GIL), and
 * add it to buf->profile when there is one (Sampler's C profile). */
static int pysampler_collect(const sampler_sample *s, void *arg)
{
    pysampler_buf *b = arg;
    if (b->profile != NULL) {
        int rc = sampler_profile_add(b->profile, s);
        if (rc < 0 && b->add_err == 0)
            b->add_err = rc;
    }
    int depth = s->depth > 0 ? s->depth : 0;
    size_t need = b->len + 6 + (size_t)depth;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint64_t *w = realloc(b->words, cap * sizeof *w);
        if (w == NULL) {
            b->oom = 1;
            return 1; /* stop; this one sample is lost */
        }
        b->words = w;
        b->cap = cap;
    }
    uint64_t *w = b->words + b->len;
    w[0] = (uint64_t)(int64_t)s->tid;
    w[1] = s->time_ns;
    w[2] = s->weight;
    w[3] = (uint64_t)(uintptr_t)s->thread_arg;
    w[4] = (uint64_t)depth;
    w[5] = s->delayed_weight;
    for (int i = 0; i < depth; i++)
        w[6 + i] = (uint64_t)s->pcs[i];
    b->len = need;
    return 0;
}

static int pysampler_drain(pysampler_buf *buf, size_t max)
{
    return sampler_drain(pysampler_collect, buf, max);
}

static void pysampler_buf_free(pysampler_buf *buf)
{
    free(buf->words);
    buf->words = NULL;
    buf->len = buf->cap = 0;
}
"""


def _pkg_config(args, env=None):
    cmd = [os.environ.get("PKG_CONFIG", "pkg-config")] + args
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    except FileNotFoundError:
        sys.exit("sampler_build.py: pkg-config not found (Debian: apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        sys.exit(
            "sampler_build.py: %s failed:\n%s\nInstall libsampler (make install) and, if "
            "libsampler-profile.pc is not on pkg-config's path, set PKG_CONFIG_PATH "
            "(e.g. /usr/local/lib/pkgconfig)." % (" ".join(cmd), e.stderr.strip())
        )
    return shlex.split(out.stdout)


def _flags():
    """Compiler and linker arguments from ``pkg-config --static``."""
    builddir = os.environ.get("SAMPLER_TOP_BUILDDIR")
    env = None
    args = ["--static", "--cflags", "--libs"]
    extra_include = []
    if builddir:
        builddir = os.path.abspath(builddir)
        srcdir = os.path.abspath(os.environ.get("SAMPLER_TOP_SRCDIR", builddir))
        env = dict(os.environ)
        # Only the build tree's uninstalled libsampler.pc.
        env["PKG_CONFIG_LIBDIR"] = builddir
        env["PKG_CONFIG_PATH"] = ""
        args += [
            "--define-variable=libdir=" + os.path.join(builddir, "lib", ".libs"),
            "--define-variable=includedir=" + os.path.join(srcdir, "include"),
        ]
        # Generated header (include/sampler/version.h) lives in the build dir.
        extra_include.append(os.path.join(builddir, "include"))
        # The two archives of the build tree sit in two folders (the .pc
        # files of an install name one libdir).
        library_dirs_first = [os.path.join(builddir, "profile", ".libs")]
    else:
        library_dirs_first = []
    include_dirs, library_dirs, libraries, cflags, ldflags = (
        list(extra_include), list(library_dirs_first), [], [], [])
    for tok in _pkg_config(args + ["libsampler-profile"], env):
        if tok.startswith("-I"):
            include_dirs.append(tok[2:])
        elif tok.startswith("-L"):
            library_dirs.append(tok[2:])
        elif tok.startswith("-l"):
            libraries.append(tok[2:])
        elif tok == "-pthread":
            cflags.append(tok)
            ldflags.append(tok)
        else:
            ldflags.append(tok)
    # The static link order matters: libsampler-profile, then libsampler, then
    # what they use.
    for lib in ("sampler", "sampler-profile"):
        if lib in libraries:
            libraries.remove(lib)
        libraries.insert(0, lib)
    if "dl" not in libraries:
        libraries.append("dl")  # dladdr (in libc since glibc 2.34; harmless before)
    return dict(
        include_dirs=include_dirs,
        library_dirs=library_dirs,
        libraries=libraries,
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("_sampler", SOURCE, **_flags())

if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(outdir, exist_ok=True)
    ffibuilder.compile(tmpdir=outdir, verbose=bool(os.environ.get("V") == "1"))
