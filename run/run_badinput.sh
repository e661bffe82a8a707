#!/bin/sh
# Bad options make sampler-run say what is wrong and exit 2 without running
# anything; bad SAMPLER_RUN_* values seen by the preload module make it say
# so and let the program run unprofiled, exiting 0.
. "${srcdir:-.}/testlib.sh"

expect_usage() { # expected-message-regex args...
    re=$1
    shift
    "$RUN" "$@" -- "$MT_WORK" -n 1 -u 1 > "$T/out" 2> "$T/err"
    rc=$?
    test $rc -eq 2 || fail "sampler-run $*: exit $rc, expected 2"
    grep -q -- "$re" "$T/err" || fail "sampler-run $*: message '$(cat "$T/err")' lacks /$re/"
    test ! -s "$T/out" || fail "sampler-run $*: the program ran"
}
expect_usage "-F 'abc': not a frequency" -F abc
expect_usage "-F '0': not a frequency" -F 0
expect_usage "-F '2000000': not a frequency" -F 2000000
expect_usage "-F '20000': not a frequency in Hz between 1/3600 and 10000" -F 20000
expect_usage "-i '50us': not an interval between 100us" -i 50us
expect_usage "-i '5parsecs': not an interval" -i 5parsecs
expect_usage "give -F or -i once" -F 100 -i 10ms
# the format names as --help's table lists them, "a, b or c"
names=$("$RUN" --help | awk '/^ +[a-z]+ +\.[a-z.]+( |$)/ { n[++k] = $1 }
    END { for (i = 1; i <= k; i++) printf "%s%s", n[i], i == k ? "" : i == k - 1 ? " or " : ", " }')
case "$names" in folded,*" or "*) ;; *) fail "--help lists no format table: '$names'" ;; esac
expect_usage "--format 'json': use $names\$" --format json
expect_usage "--walker 'dwarf': use fp or libunwind" --walker dwarf
expect_usage "--clock 'tsc': use cpu or wall" --clock tsc
expect_usage "--signal 'INT': use PROF, VTALRM, ALRM, USR1, USR2 or RTMIN+N" --signal INT
expect_usage "--signal '9': use PROF" --signal 9
expect_usage "--signal 'RTMIN+x': use PROF" -s RTMIN+x
expect_usage "--buffer '0': not a number of samples" --buffer 0
expect_usage "--buffer 'many': not a number of samples" -b many
expect_usage "--buffer '4194305': not a number of samples between 1 and 4194304" --buffer 4194305
expect_usage "unknown option '--bogus'" --bogus
"$RUN" -o > /dev/null 2> "$T/err"
test $? -eq 2 && grep -q "option '-o' needs a value" "$T/err" || fail "-o without a value"
"$RUN" > /dev/null 2> "$T/err"
test $? -eq 2 && grep -q "no command to run" "$T/err" || fail "no command: expected exit 2"
"$RUN" --help | grep -q '^Usage: sampler-run' || fail "--help"
"$RUN" --version | grep -q '^sampler-run (libsampler) [0-9]' || fail "--version"

# --walker libunwind: works when built in, else a clear refusal.
"$RUN" -q --walker libunwind -o "$T/u.folded" -- "$MT_WORK" -n 1 -u 20 > "$T/out" 2> "$T/err"
rc=$?
if [ $rc -eq 2 ]; then
    grep -q "without the libunwind walker" "$T/err" || fail "libunwind refusal unclear: $(cat "$T/err")"
else
    test $rc -eq 0 && test -s "$T/u.folded" || fail "--walker libunwind: exit $rc $(cat "$T/err")"
fi

# The preload module with bad environment values: message, unprofiled, exit 0.
MODULE="$builddir/.libs/libsampler-preload.so"
test -f "$MODULE" || MODULE="$builddir/libsampler-preload.so"
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")
expect_unprofiled() { # expected-message-regex VAR=value...
    re=$1
    shift
    rm -f "$T/env.folded"
    env LD_PRELOAD="$MODULE" SAMPLER_RUN_OUTPUT="$T/env.folded" "$@" \
        "$MT_WORK" -n 1 -u 1 > "$T/out" 2> "$T/err"
    rc=$?
    test $rc -eq 0 || fail "$*: the program exited $rc"
    grep -q "mt_work: 1 threads done" "$T/out" || fail "$*: the program did not run"
    grep -q -- "$re" "$T/err" || fail "$*: message '$(cat "$T/err")' lacks /$re/"
    grep -q "running unprofiled" "$T/err" || fail "$*: does not say it runs unprofiled"
    test ! -e "$T/env.folded" || fail "$*: a profile was written"
}
expect_unprofiled "SAMPLER_RUN_INTERVAL_NS='fast' is not a number" SAMPLER_RUN_INTERVAL_NS=fast
expect_unprofiled "SAMPLER_RUN_INTERVAL_NS='10' is not a number" SAMPLER_RUN_INTERVAL_NS=10
expect_unprofiled "SAMPLER_RUN_INTERVAL_NS='-5' is not" SAMPLER_RUN_INTERVAL_NS=-5
expect_unprofiled "SAMPLER_RUN_FORMAT='xml' must be" SAMPLER_RUN_FORMAT=xml
expect_unprofiled "SAMPLER_RUN_WALKER='x' must be" SAMPLER_RUN_WALKER=x
expect_unprofiled "SAMPLER_RUN_CLOCK='tsc' must be" SAMPLER_RUN_CLOCK=tsc
expect_unprofiled "SAMPLER_RUN_SIGNAL='SEGV' must be" SAMPLER_RUN_SIGNAL=SEGV
expect_unprofiled "SAMPLER_RUN_BUFFER='0' is not a number of samples" SAMPLER_RUN_BUFFER=0
expect_unprofiled "SAMPLER_RUN_BUFFER='1k' is not" SAMPLER_RUN_BUFFER=1k
expect_unprofiled "SAMPLER_RUN_FOLLOW_FORK='yes' must be 0 or 1" SAMPLER_RUN_FOLLOW_FORK=yes
expect_unprofiled "SAMPLER_RUN_QUIET='2' must be 0 or 1" SAMPLER_RUN_QUIET=2
rm -f "$T/env.folded"
expect_unprofiled "cannot write '/nonexistent-dir/x.folded'" SAMPLER_RUN_OUTPUT=/nonexistent-dir/x.folded

# And with good values the module alone (no CLI) profiles.
env LD_PRELOAD="$MODULE" SAMPLER_RUN_OUTPUT="$T/env.folded" SAMPLER_RUN_INTERVAL_NS=1000000 \
    "$MT_WORK" -n 1 -u 30 > /dev/null 2> "$T/err" || fail "module alone: exit $?"
grep -q '^work0 (' "$T/env.folded" || fail "module alone: no work0 in the profile"
exit 0
