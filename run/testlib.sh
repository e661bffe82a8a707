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

# A browser test's missing piece: skip (77), or fail where
# SAMPLER_REQUIRE_BROWSER_TESTS=1 (CI) says the test must run.
missing() {
    if [ "${SAMPLER_REQUIRE_BROWSER_TESTS:-}" = 1 ]; then
        fail "$* (SAMPLER_REQUIRE_BROWSER_TESTS=1)"
    fi
    skip "$*"
}

# CHROMIUM: the browser to drive ($CHROMIUM if set, else chromium on PATH).
find_chromium() {
    CHROMIUM=${CHROMIUM:-}
    if test -z "$CHROMIUM"; then
        for c in chromium chromium-browser google-chrome; do
            CHROMIUM=$(command -v "$c" 2> /dev/null) && break
            CHROMIUM=
        done
    fi
    test -n "$CHROMIUM" && test -x "$CHROMIUM" ||
        missing "chromium not found (Debian: apt-get install chromium)"
}
