#!/bin/sh
# sampler-run on a program no one here wrote: xz -T2 (Debian xz-utils)
# compressing 24 MiB of generated text. xz and liblzma are built without frame
# pointers, but the innermost frame of each sample is still right: most of
# the CPU time must be in liblzma (function names where its symbols are
# known, lzma_*, else liblzma.so+0xOFFSET), on at least two worker threads.
. "${srcdir:-.}/testlib.sh"

XZ=${XZ:-}
test -n "$XZ" || XZ=$(command -v xz) || skip "xz not found (Debian: xz-utils)"
test -x "$XZ" || skip "xz not found (Debian: xz-utils)"
ldd "$XZ" | grep -q liblzma || skip "$XZ is not linked with a shared liblzma"

"$GENDATA" 24 > "$T/data" || fail "gendata failed"
"$RUN" -F 1000 -o "$T/xz.folded" -- "$XZ" -T2 -0 --block-size=4MiB -c "$T/data" \
    > "$T/data.xz" 2> "$T/stderr" || fail "sampler-run xz exited $?: $(cat "$T/stderr")"
cat "$T/stderr"
grep -q '^sampler-run: pid [0-9]*: .* -> .*xz.folded (folded)$' "$T/stderr" ||
    fail "no summary line on stderr (xz closes its stderr at exit: the module keeps a copy)"
"$XZ" -dc "$T/data.xz" | cmp -s - "$T/data" || fail "xz output does not round-trip"

folded_leaf_weights "$T/xz.folded" > "$T/leaves"
head -n 10 "$T/leaves"
total=$(awk '{s += $1} END {print s + 0}' "$T/leaves")
lzma=$(awk -F'\t' '$2 ~ /lzma/ {s += $1} END {print s + 0}' "$T/leaves")
echo "leaf weight in liblzma: $lzma of $total"
test "$total" -gt 0 || fail "empty profile"
test $((lzma * 2)) -gt "$total" || fail "less than half of the samples are in liblzma"

# Threads whose samples are mostly in liblzma: xz's two workers.
workers=$(awk '{ w = $NF; line = $0; sub(/ [0-9]+$/, "", line); n = split(line, f, ";");
                 t[f[1]] += w; if (f[n] ~ /lzma/) l[f[1]] += w }
               END { for (r in t) if (l[r] * 2 > t[r]) c++; print c + 0 }' "$T/xz.folded")
echo "threads mostly in liblzma: $workers"
test "$workers" -ge 2 || fail "expected xz's 2 worker threads in liblzma, found $workers"
exit 0
