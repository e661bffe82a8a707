#!/usr/bin/env bash
# Repeat check suites N times in a build directory, optionally beside a CPU
# hog, and count the runs that passed: a way to show that a test's bounds
# hold on a loaded machine (docs/TESTING.md, "Repeating suites").
#
#   tests/repeat.sh [-n RUNS] [-H RUNS_WITH_HOG] [-j HOG_PROCS] BUILD_DIR SUITE[:CASE]...
#
#   SUITE:CASE runs one test case of a suite (CK_RUN_SUITE, CK_RUN_CASE), e.g.
#   faults:fork; a plain SUITE runs all of it.
#
#   -n RUNS   runs in all (default 20)
#   -H K      the first K runs beside a CPU hog (default: half of RUNS)
#   -j P      the hog's busy processes (default: nproc)
#
# The sanitizer settings follow from the build (configure's --enable-sanitizer,
# read from BUILD_DIR/config.log), the same as .ci/run uses:
#   address: ASAN_OPTIONS, UBSAN_OPTIONS, CK_TIMEOUT_MULTIPLIER=4
#   thread:  TSAN_OPTIONS, CK_TIMEOUT_MULTIPLIER=4, SAMPLER_TEST_SCALE=0.1
# A variable already set in the environment wins. Each run's output goes to
# $REPEAT_LOGS (default: a new directory under /tmp); the console gets one
# line per run and suite (check's closing line, failures, the tests' own
# count lines) and a summary. Exit status: 0 if every run passed.
set -euo pipefail

runs=20
hog_runs=
hog_procs=$(nproc)
while getopts "n:H:j:h" opt; do
    case $opt in
    n) runs=$OPTARG ;;
    H) hog_runs=$OPTARG ;;
    j) hog_procs=$OPTARG ;;
    *)
        sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -lt 2 ]; then
    echo "usage: $0 [-n RUNS] [-H RUNS_WITH_HOG] [-j HOG_PROCS] BUILD_DIR SUITE[:CASE]..." >&2
    exit 2
fi
build=$(cd "$1" && pwd)
shift
suites=("$@")
hog_runs=${hog_runs:-$((runs / 2))}
runner="$build/tests/check_sampler"
[ -x "$runner" ] || make -C "$build/tests" check_sampler >/dev/null
logs=${REPEAT_LOGS:-$(mktemp -d /tmp/repeat.XXXXXX)}
mkdir -p "$logs"

san=$(sed -n "s/.*--enable-sanitizer=\([a-z,]*\).*/\1/p" "$build/config.log" | head -n 1)
case ",$san," in
*,thread,*)
    export TSAN_OPTIONS=${TSAN_OPTIONS-"halt_on_error=1 second_deadlock_stack=1"}
    export SAMPLER_TEST_SCALE=${SAMPLER_TEST_SCALE-0.1}
    export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER-4}
    ;;
*,address,* | *,undefined,*)
    export ASAN_OPTIONS=${ASAN_OPTIONS-detect_leaks=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS-print_stacktrace=1:halt_on_error=1}
    export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER-4}
    ;;
esac

# The hog: busy shell loops in their own process group, stopped on exit.
hog_pid=
hog_start() {
    [ -z "$hog_pid" ] || return 0
    set -m
    (
        for _ in $(seq "$hog_procs"); do
            while :; do :; done &
        done
        wait
    ) &
    hog_pid=$!
    set +m
}
hog_stop() {
    [ -n "$hog_pid" ] || return 0
    kill -- -"$hog_pid" 2>/dev/null || true
    wait "$hog_pid" 2>/dev/null || true
    hog_pid=
}
trap hog_stop EXIT
trap 'exit 130' INT TERM

echo "repeat: $runs runs ($hog_runs beside a $hog_procs-process CPU hog) of ${suites[*]}" \
    "in $build (sanitizer: ${san:-none}); logs in $logs"
passed=0
failed=0
t_all=$(date +%s)
for i in $(seq "$runs"); do
    if [ "$i" -le "$hog_runs" ]; then
        hog_start
        load=hog
    else
        hog_stop
        load=idle
    fi
    ok=1
    for s in "${suites[@]}"; do
        log="$logs/run$i-${s/:/-}.log"
        t0=$(date +%s)
        rc=0
        case $s in
        *:*) CK_RUN_SUITE=${s%%:*} CK_RUN_CASE=${s#*:} "$runner" >"$log" 2>&1 || rc=$? ;;
        *) CK_RUN_SUITE=$s "$runner" >"$log" 2>&1 || rc=$? ;;
        esac
        line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1 || true)
        printf 'run %2d %-4s %-10s %4ss  %s\n' "$i" "$load" "$s" $(($(date +%s) - t0)) \
            "${line:-no result (exit $rc)}"
        grep -E '^(lifecycle|fork|walker): |^faults: [0-9]+ forks' "$log" | sed 's/^/            /' || true
        if [ "$rc" != 0 ]; then
            ok=0
            grep -E ':[EF]:' "$log" | sed 's/^/            /' || tail -n 5 "$log"
        fi
    done
    if [ "$ok" = 1 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
hog_stop
echo "repeat: $passed of $runs runs passed, $failed failed, in $(($(date +%s) - t_all)) s"
[ "$failed" = 0 ]
