#!/bin/sh
# sampler-run on mt_work (4 threads burning CPU 1:2:3:4): every worker thread
# appears in the folded output as its own root, its stacks go through its own
# work<i> function, and its share of the samples matches its share of the CPU
# time the program measured itself within 0.05.
. "${srcdir:-.}/testlib.sh"

"$RUN" -F 1000 -o "$T/mt.folded" -- "$MT_WORK" -n 4 -u 100 -c "$T/mt.cpu" \
    > "$T/stdout" 2> "$T/stderr" || fail "sampler-run mt_work exited $?: $(cat "$T/stderr")"
cat "$T/stderr"
grep -q '^sampler-run: pid [0-9]*: [0-9]* samples .* -> .*mt.folded (folded)$' "$T/stderr" ||
    fail "no summary line on stderr"
test -s "$T/mt.folded" || fail "empty profile"
test -s "$T/mt.cpu" || fail "mt_work wrote no CPU times"

folded_thread_weights "$T/mt.folded" > "$T/threads"
cat "$T/threads"
# Compare shares among the workers.
awk -F'\t' -v cpufile="$T/mt.cpu" '
    BEGIN {
        while ((getline l < cpufile) > 0) {
            split(l, a, " ")
            if (a[1] ~ /^work/) { cpu[a[1]] = a[3]; tid[a[1]] = a[2]; cputot += a[3]; n++ }
        }
    }
    { w[$1] = $2 }
    END {
        bad = 0
        for (name in cpu) { root = name " (" tid[name] ")"; wtot += w[root] }
        if (n != 4) { print "expected 4 workers in the CPU file, got " n; exit 1 }
        if (wtot == 0) { print "no samples from the workers"; exit 1 }
        for (name in cpu) {
            root = name " (" tid[name] ")"
            if (!(root in w)) { print "thread " root " is missing from the profile"; bad = 1; continue }
            ps = w[root] / wtot; cs = cpu[name] / cputot; d = ps - cs
            if (d < 0) d = -d
            printf "%s: profile share %.3f, CPU share %.3f, diff %.3f\n", root, ps, cs, d
            if (d > 0.05) bad = 1
        }
        exit bad
    }' "$T/threads" || fail "thread shares do not match the measured CPU times"

# Each worker's samples are (mostly) in its own function, rooted at its thread.
for i in 0 1 2 3; do
    total=$(grep "^work$i (" "$T/mt.folded" | awk '{s += $NF} END {print s + 0}')
    own=$(grep "^work$i (" "$T/mt.folded" | grep ";work$i[; ]" | awk '{s += $NF} END {print s + 0}')
    echo "work$i: $own of $total in work$i()"
    test "$own" -gt 0 && test $((own * 2)) -gt "$total" ||
        fail "work$i: fewer than half of its samples are in work$i()"
done
exit 0
