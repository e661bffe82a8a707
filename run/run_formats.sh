#!/bin/sh
# sampler-run's other outputs and modes: SVG, every format of the table by
# name and by extension, the default file name, wall clock, --follow-fork (one file per
# process), the exit status passed through, and a program that ends with
# _exit() (dash does).
. "${srcdir:-.}/testlib.sh"

# SVG by --format and by extension.
"$RUN" -F 1000 --format svg -o "$T/a.svg" -- "$MT_WORK" -n 2 -u 50 > /dev/null 2> "$T/err" ||
    fail "svg run exited $?: $(cat "$T/err")"
grep -q '<svg' "$T/a.svg" || fail "a.svg is not an SVG"
grep -q 'work1' "$T/a.svg" || fail "a.svg lacks work1"
"$RUN" -F 1000 -o "$T/b.svg" -- "$MT_WORK" -n 1 -u 30 > /dev/null 2> "$T/err" || fail "b.svg run"
grep -q '<svg' "$T/b.svg" || fail "format not taken from the .svg extension"
grep -q '(svg)$' "$T/err" || fail "summary does not say svg"
# The SVG's root counts what the summary line counts: the weight (timer
# intervals; with overruns more than the samples), and the same seconds.
sum=$(sed -n 's/^sampler-run: pid [0-9]*: [0-9]* samples (weight \([0-9]*\), \([0-9.]*\) s CPU).*/\1 \2/p' "$T/err")
test -n "$sum" || fail "summary has no weight: $(cat "$T/err")"
root=$(sed -n 's/.*<title>all (weight \([0-9]*\), \([0-9.]*\) s, 100.00%)<.*/\1 \2/p' "$T/b.svg")
test "$root" = "$sum" || fail "the SVG's root says '$root', the summary '$sum'"
echo "summary and SVG root: weight and seconds $sum"

# Every format of the library's table (as --help lists it: "  NAME .EXT
# description", the description on the next line after a long name or
# extension): written by name, and chosen by its extension alone.
"$RUN" --help > "$T/help" || fail "--help failed"
awk '/^ +[a-z]+ +\.[a-z.]+( |$)/' "$T/help" > "$T/formats"
test "$(wc -l < "$T/formats")" -ge 3 || fail "--help lists no format table: $(cat "$T/help")"
while read -r name ext rest; do
    case "$rest" in *"[not built in]"*) echo "format $name: not built in"; continue ;; esac
    "$RUN" -F 1000 -f "$name" -o "$T/byname.out" -- "$MT_WORK" -n 1 -u 30 > /dev/null 2> "$T/err" ||
        fail "--format $name: exit $?: $(cat "$T/err")"
    test -s "$T/byname.out" || fail "--format $name wrote nothing"
    grep -q "($name)\$" "$T/err" || fail "--format $name: summary: $(cat "$T/err")"
    "$RUN" -F 1000 -o "$T/byext$ext" -- "$MT_WORK" -n 1 -u 30 > /dev/null 2> "$T/err" ||
        fail "-o x$ext: exit $?: $(cat "$T/err")"
    grep -q "($name)\$" "$T/err" || fail "-o x$ext did not pick $name: $(cat "$T/err")"
    echo "format $name ($ext): by name and by extension"
done < "$T/formats"

# The default walker is libunwind when built in: a single-threaded distro
# program (gzip, no frame pointers) gets whole stacks from its first sample
# (its main thread is prepared before the program runs; it used to be at the
# first pthread_create, so such programs had one-frame stacks).
if "$RUN" -q -w libunwind -o "$T/probe.folded" -- true 2> /dev/null; then
    "$GENDATA" 24 > "$T/gz.in" || fail "gendata failed"
    "$RUN" -F 1000 -o "$T/gz.folded" -- gzip -9 -c "$T/gz.in" > /dev/null 2> "$T/err" ||
        fail "gzip run: $(cat "$T/err")"
    # weight-weighted median of the frames per stack (thread root excluded)
    med=$(awk '{ n = split($0, f, ";"); w = $NF; for (i = 0; i < w; i++) print n - 1 }' \
          "$T/gz.folded" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    echo "gzip under the default walker: median stack depth $med"
    test -n "$med" && test "$med" -ge 3 || fail "gzip: median stack depth '$med' (< 3): $(head -n 3 "$T/gz.folded")"
else
    echo "libunwind walker not built: default walker is fp"
fi

# A program that handles SIGPROF itself (GNU sort: it cleans up and re-raises
# it, so the sampler's timer signals kill it with the default) runs to its end
# and is profiled with another signal.
if command -v sort > /dev/null 2>&1; then
    "$GENDATA" 8 | tr -c 'a-z\n' '\n' > "$T/sort.in"
    "$RUN" -F 1000 -s RTMIN+4 -o "$T/sort.folded" -- sort "$T/sort.in" > "$T/sort.out" 2> "$T/err" ||
        fail "sort with --signal RTMIN+4 exited $?: $(cat "$T/err")"
    sort "$T/sort.in" | cmp -s - "$T/sort.out" || fail "sort's output changed under sampler-run"
    grep -q '^sort (' "$T/sort.folded" || fail "sort: no samples with --signal RTMIN+4"
    echo "sort with --signal RTMIN+4: $(awk '{ w += $NF } END { print w }' "$T/sort.folded") weight"
fi

# Default output name, in the working directory.
(cd "$T" && "$OLDPWD/$RUN" -q -- "$OLDPWD/$MT_WORK" -n 1 -u 30 > /dev/null 2> "$T/err") ||
    fail "default-name run: $(cat "$T/err")"
test -s "$T/sampler.folded" || fail "no sampler.folded in the working directory"
test ! -s "$T/err" || fail "-q still printed: $(cat "$T/err")"

# Wall clock: the main thread, blocked in pthread_join, is sampled too.
"$RUN" -F 1000 --clock wall -o "$T/wall.folded" -- "$MT_WORK" -n 1 -u 100 > /dev/null 2> "$T/err" ||
    fail "wall run: $(cat "$T/err")"
grep -q 's wall)' "$T/err" || fail "summary does not say wall"
grep -q '^mt_work (' "$T/wall.folded" || fail "wall clock: the idle main thread has no samples"

# Exit status is the program's; a missing command is 127.
"$RUN" -q -o "$T/st.folded" -- sh -c 'exit 3' 2> "$T/err"
test $? -eq 3 || fail "exit status not passed through"
"$RUN" -q -o "$T/st.folded" -- "$T/no-such-program" 2> "$T/err"
test $? -eq 127 || fail "missing command: not 127"
grep -q "cannot run" "$T/err" || fail "missing command: no message"

# A shell that ends with _exit(): the profile is written all the same, and
# the child it runs is not profiled (LD_PRELOAD is gone for it).
"$RUN" -F 1000 -o "$T/sh.folded" -- sh -c "\"$MT_WORK\" -n 1 -u 20 > /dev/null; exit 0" 2> "$T/err" ||
    fail "sh run exited $?"
cat "$T/err"
test "$(grep -c '^sampler-run: pid [0-9]*: [0-9]* samples (' "$T/err")" -eq 1 || fail "expected one summary line (the shell's)"
grep -q '^work0' "$T/sh.folded" && fail "the shell's child was profiled without --follow-fork"
test -f "$T/sh.folded" || fail "no profile from a shell"

# --follow-fork: every process writes FILE.PID.
"$RUN" -F 1000 --follow-fork -o "$T/ff.folded" -- sh -c "\"$MT_WORK\" -n 1 -u 50 > /dev/null; \"$MT_WORK\" -n 2 -u 20 > /dev/null" 2> "$T/err" ||
    fail "follow-fork run exited $?"
cat "$T/err"
n=$(ls "$T"/ff.folded.* 2>/dev/null | wc -l)
test "$n" -ge 3 || fail "--follow-fork: expected >= 3 files (shell + 2 children), got $n"
grep -l '^work1 ' "$T"/ff.folded.* > /dev/null || fail "--follow-fork: the 2-thread child has no work1"
test ! -e "$T/ff.folded" || fail "--follow-fork also wrote the plain FILE"
exit 0
