#!/bin/sh
# An install under another prefix works: the installed libsampler.pc and
# libsampler-profile.pc name that prefix (and the core's lists none of the
# profile library's dependencies), examples/pkgconfig's program builds against it with
# `pkg-config --static --cflags --libs libsampler` and runs, and the installed
# sampler-run finds the preload module installed beside it (not the one of the
# build tree, nor one in the configured pkglibdir) and profiles a program.
#
#   make check (no RUN_INSTALL_PREFIX): this build, installed with a prefix
#     given at make time (`make install prefix=T/p2`), checked, uninstalled
#     (nothing may be left); then installed with DESTDIR, where sampler-run
#     must find its module under DESTDIR.
#   RUN_INSTALL_PREFIX=P make check TESTS=run_install.sh: check an install the
#     caller made in P (CI: a build configured with --prefix=P, `make
#     install`).
#   RUN_INSTALL_PIP=yes (either way): also pip-install bindings/python into a
#     venv against the prefix's libsampler-profile.pc and use it.
#
# Run from run/'s Makefile (TESTS_ENVIRONMENT gives the directories, MAKE,
# CC, PKG_CONFIG and PYTHON).
. "${srcdir:-.}/testlib.sh"

MAKE=${MAKE:-make}
# The makes run here are not part of the make that runs this test: not its
# jobserver, nor its command-line variables (TESTS=...).
unset MAKEFLAGS MFLAGS
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
CC=${CC:-cc}
top_srcdir=$(cd "${top_srcdir:?}" && pwd)
top_builddir=$(cd "${top_builddir:?}" && pwd)

# A program that burns ~300 ms of its own CPU time in burn(), then prints
# where the preload module mapped into it comes from.
cat > "$T/burn.c" <<'EOF'
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile unsigned long sink;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void burn(void)
{
    double end = cpu_s() + 0.3;
    while (cpu_s() < end)
        for (int i = 0; i < 10000; i++)
            sink = sink * 6364136223846793005UL + 1;
}

int main(void)
{
    burn();
    char line[4096];
    FILE *f = fopen("/proc/self/maps", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *path = strchr(line, '/');
        if (path != NULL && strstr(path, "libsampler-preload.so") != NULL) {
            printf("module %s", path);
            break;
        }
    }
    return 0;
}
EOF
"$CC" -O1 -fno-omit-frame-pointer -o "$T/burn" "$T/burn.c" || fail "cannot build burn.c"

# quietly LOG CMD...: run CMD with its output in $T/LOG; on failure show it.
quietly() {
    log=$T/$1
    shift
    "$@" > "$log" 2>&1 || {
        rc=$?
        tail -n 30 "$log" >&2
        fail "$* exited $rc"
    }
}

# check_run BINDIR EXPECTED_MODULE_DIR: BINDIR/sampler-run profiles burn with
# the module from EXPECTED_MODULE_DIR.
check_run() {
    out=$T/run.folded
    rm -f "$out"
    want=$(cd "$2" && pwd -P) || fail "no directory $2"
    (unset SAMPLER_RUN_PRELOAD; cd "$T" &&
        "$1/sampler-run" -F 1000 -o "$out" -- "$T/burn" > "$T/run.out" 2> "$T/run.err") ||
        fail "$1/sampler-run exited $?: $(cat "$T/run.err")"
    cat "$T/run.err"
    grep -q "^module $want/libsampler-preload.so\$" "$T/run.out" ||
        fail "$1/sampler-run did not use the module in $2: $(cat "$T/run.out")"
    grep -q '^sampler-run: pid [0-9]*: [1-9][0-9]* samples' "$T/run.err" ||
        fail "$1/sampler-run: no summary line with samples"
    test -s "$out" || fail "$1/sampler-run: empty profile"
    awk '{ s += $NF } END { exit !(s > 0) }' "$out" || fail "$1/sampler-run: no weight in $out"
}

# check_prefix PREFIX: pkg-config, the example program, sampler-run.
check_prefix() {
    p=$1
    pcdir=$p/lib/pkgconfig
    test -f "$pcdir/libsampler.pc" || fail "no $pcdir/libsampler.pc"
    got=$(PKG_CONFIG_PATH=$pcdir "$PKG_CONFIG" --variable=prefix libsampler)
    test "$got" = "$p" || fail "$pcdir/libsampler.pc says prefix=$got, not $p"
    echo "$pcdir/libsampler.pc:"
    sed 's/^/    /' "$pcdir/libsampler.pc"
    test -f "$pcdir/libsampler-profile.pc" || fail "no $pcdir/libsampler-profile.pc"
    got=$(PKG_CONFIG_PATH=$pcdir "$PKG_CONFIG" --variable=prefix libsampler-profile)
    test "$got" = "$p" || fail "$pcdir/libsampler-profile.pc says prefix=$got, not $p"
    # Static: the profile library's flags bring the core after it.
    libs=$(PKG_CONFIG_PATH=$pcdir "$PKG_CONFIG" --static --libs libsampler-profile)
    case " $libs " in
    *" -lsampler-profile "*" -lsampler "*) ;;
    *) fail "pkg-config --static --libs libsampler-profile: '$libs' (want -lsampler-profile before -lsampler)" ;;
    esac
    case " $(PKG_CONFIG_PATH=$pcdir "$PKG_CONFIG" --static --libs libsampler) " in
    *" -ldw "* | *" -lprotobuf-c "* | *" -lz "*) fail "libsampler.pc lists a profile dependency" ;;
    esac
    rm -rf "$T/hello" && mkdir -p "$T/hello"
    quietly hello.log env PKG_CONFIG_PATH="$pcdir" "$MAKE" -C "$T/hello" \
        -f "$top_srcdir/examples/pkgconfig/Makefile" srcdir="$top_srcdir/examples/pkgconfig" \
        PKG_CONFIG="$PKG_CONFIG" CC="$CC" all run
    grep -q -- "-I$p/include" "$T/hello.log" || fail "pkgconfig_hello not built with -I$p/include"
    grep -q -- "-L$p/lib" "$T/hello.log" || fail "pkgconfig_hello not linked with -L$p/lib"
    grep '^[0-9]* samples' "$T/hello.log"
    check_run "$p/bin" "$p/lib/libsampler"
    if [ "${RUN_INSTALL_PIP:-}" = yes ]; then
        pip_prefix "$p"
    fi
}

# pip_prefix PREFIX: the Python binding, built by pip against PREFIX.
pip_prefix() {
    p=$1
    py=${PYTHON:-/usr/bin/python3}
    "$py" -c 'import venv, ensurepip, cffi' 2> /dev/null ||
        fail "pip check: $py lacks venv, ensurepip or cffi (Debian: python3-venv python3-cffi)"
    quietly venv.log "$py" -m venv --system-site-packages "$T/venv"
    # pip builds in the source directory: build a copy (the tree may be read-only).
    rm -rf "$T/pysrc" && cp -R "$top_srcdir/bindings/python" "$T/pysrc" && chmod -R u+w "$T/pysrc"
    quietly pip.log env PKG_CONFIG_PATH="$p/lib/pkgconfig" "$T/venv/bin/pip" install \
        --no-build-isolation --no-index --no-cache-dir "$T/pysrc"
    (cd "$T" && "$T/venv/bin/python" -c '
import sys, sampler
assert sampler.__file__.startswith(sys.prefix), sampler.__file__
with sampler.profile(interval=0.004) as prof:
    x = 0
    for i in range(3000000):
        x += i
st = prof.stats()
print("pip-installed binding:", sampler.__file__, st)
assert st.samples > 0, st
') || fail "the pip-installed binding does not work"
}

if [ -n "${RUN_INSTALL_PREFIX:-}" ]; then
    p=$(cd "$RUN_INSTALL_PREFIX" && pwd) || fail "no directory $RUN_INSTALL_PREFIX"
    check_prefix "$p"
    exit 0
fi

# Make-time prefix: only when the configured directories are the usual ones
# under the prefix (then `prefix=` given to make moves them all; otherwise
# this would install outside T).
test "$bindir" = "$prefix/bin" && test "$libdir" = "$prefix/lib" &&
    test "$includedir" = "$prefix/include" ||
    skip "bindir $bindir, libdir $libdir or includedir $includedir is not the usual one under $prefix"
p2=$T/p2
quietly install-p2.log "$MAKE" -C "$top_builddir" install prefix="$p2"
check_prefix "$p2"
quietly uninstall-p2.log "$MAKE" -C "$top_builddir" uninstall prefix="$p2"
left=$(find "$p2" -type f)
test -z "$left" || fail "make uninstall prefix=$p2 left: $left"

# DESTDIR: the files go under DESTDIR$prefix; sampler-run finds its module there.
stage=$T/stage
quietly install-stage.log "$MAKE" -C "$top_builddir" install DESTDIR="$stage"
check_run "$stage$bindir" "$stage$pkglibdir"
rm -rf "$stage" "$T/hello"
exit 0
