#!/bin/sh
# Samples dropped because the sample buffer was full are reported at exit
# (count, weight, time missing, and what to change), also with -q; a run
# that dropped nothing says nothing about drops.
. "${srcdir:-.}/testlib.sh"

# A two-sample buffer and wall-clock timers at 1 kHz on 5 threads (the main
# thread, idle in pthread_join, too): about 100 signals per 20 ms drain
# period whatever the machine's load, so the buffer overflows.
"$RUN" -F 1000 --clock wall --buffer 2 -o "$T/d.folded" -- "$MT_WORK" -n 4 -u 100 \
    > /dev/null 2> "$T/err" || fail "drop run exited $?: $(cat "$T/err")"
cat "$T/err"
grep -q '^sampler-run: pid [0-9]*: [0-9]* samples (.*), .* -> ' "$T/err" ||
    fail "drop run: no summary line"
grep -q '^sampler-run: pid [0-9]*: [1-9][0-9]* samples dropped (weight [1-9][0-9]*, [0-9.]* s wall missing from the profile): the sample buffer (2 samples) filled up .*; use a bigger --buffer or a longer interval' "$T/err" ||
    fail "drop run: no line saying how many samples were dropped, their weight and what to do"
test -s "$T/d.folded" || fail "drop run: no profile"

# -q keeps the summary line quiet, not the drops.
"$RUN" -q -F 1000 --clock wall -b 2 -o "$T/q.folded" -- "$MT_WORK" -n 2 -u 50 \
    > /dev/null 2> "$T/err" || fail "quiet drop run exited $?: $(cat "$T/err")"
test "$(wc -l < "$T/err")" -eq 1 || fail "-q with drops: expected only the drop line: $(cat "$T/err")"
grep -q 'samples dropped (weight ' "$T/err" || fail "-q hid the drops: $(cat "$T/err")"

# The default buffer (16384 samples) at 100 Hz on 3 threads: nothing dropped,
# and the summary does not mention drops.
"$RUN" -F 100 -o "$T/n.folded" -- "$MT_WORK" -n 2 -u 50 > /dev/null 2> "$T/err" ||
    fail "plain run exited $?: $(cat "$T/err")"
cat "$T/err"
grep -q '^sampler-run: pid [0-9]*: [1-9][0-9]* samples (' "$T/err" || fail "plain run: no summary line"
grep -q ' dropped' "$T/err" && fail "plain run: drops mentioned although none happened"
exit 0
