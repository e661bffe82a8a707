# Sourced by the run_*.sh tests: paths, a scratch directory, helpers.
set -u
builddir=${builddir:-.}
srcdir=${srcdir:-.}
RUN="$builddir/sampler-run"
MT_WORK="$builddir/mt_work"
GENDATA="$builddir/gendata"
T="$builddir/test-out/$(basename "$0" .sh)"
rm -rf "$T"
mkdir -p "$T"
T=$(cd "$T" && pwd)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
skip() {
    echo "SKIP: $*" >&2
    exit 77
}

# A sanitizer build's preload module needs the sanitizer runtime loaded before
# every other library of the profiled program, which LD_PRELOAD into an
# uninstrumented program cannot give: these tests run in the normal build.
if [ -n "${SANITIZER:-}" ]; then
    skip "sampler-run's preload module is not tested in a sanitizer build"
fi

# Sum of weights per thread root ("name (tid)") of a folded file:
# prints "root<TAB>weight" lines.
folded_thread_weights() {
    awk '{ w = $NF; line = $0; sub(/ [0-9]+$/, "", line); n = index(line, ";");
           root = n ? substr(line, 1, n - 1) : line; t[root] += w }
         END { for (r in t) printf "%s\t%d\n", r, t[r] }' "$1"
}

# Sum of weights per leaf frame (the last frame of each stack), heaviest first.
folded_leaf_weights() {
    awk '{ w = $NF; line = $0; sub(/ [0-9]+$/, "", line); n = split(line, f, ";");
           t[f[n]] += w }
         END { for (l in t) printf "%d\t%s\n", t[l], l }' "$1" | sort -rn
}
