#!/bin/sh
# Side by side with `perf record -g` (issue 11, item 5): profile the same
# unmodified programs with perf and with run/sampler-run and print, for each,
# the top-10 leaf functions of each tool with their shares, the CPU time each
# captured against the process's own CPU time (/usr/bin/time), and the
# weight-weighted median stack depth. `make compare-perf` in bench/ runs it;
# it is not part of `make bench`, `make bench-quick` or `make check`.
#
#   bench/compare_perf.sh [BUILDDIR]      # default: the tree this script is in
#
# Needs perf (root, or perf_event_paranoid low enough for user stacks of
# your own processes), readelf (binutils), xz, gzip, sort, /usr/bin/python3;
# a workload whose program is missing is skipped with a line saying so.
# Environment knobs:
#   PERF                   perf binary (default /usr/bin/perf)
#   COMPARE_HZ             sampling rate of both tools (default 999)
#   COMPARE_MB             MiB of run/gendata text for xz/gzip (default 24)
#   COMPARE_TIMEOUT        seconds allowed per profiled run (default 600)
#   COMPARE_WORKLOADS      subset of "xz gzip python sort"
#   COMPARE_PY_ROUNDS      rounds per thread of the Python program (default 250)
#   COMPARE_KEEP=1         keep the scratch directory (its path is printed)
#
# Names. perf names a pc by its symbol, else `[unknown]` plus the address;
# this script shows such a leaf as `[unknown] FILE+0xADDR` (one row per
# address, as `perf report --sort sym` does). sampler-run names a pc in code
# without symbols by the start of the function that holds it, taken from the
# unwind tables (`FILE+0xSTART`). The second table of each workload maps
# perf's addresses to the same unwind-table ranges (readelf's FDEs), drops
# symbol versions (`@@GLIBC_2.34`) and library versions (perf names the file,
# libz.so.1.2.13; sampler-run the name it was loaded by, libz.so.1) and takes perf's innermost *user* frame
# (sampler-run never sees kernel frames: a signal arrives on the way back to
# user space), so that equal names mean the same function.
set -u

here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-$here/..}" && pwd) || { echo "compare_perf: no build dir ${1:-}" >&2; exit 2; }
PERF=${PERF:-/usr/bin/perf}
HZ=${COMPARE_HZ:-999}
MB=${COMPARE_MB:-24}
TMO=${COMPARE_TIMEOUT:-600}
WORKLOADS=${COMPARE_WORKLOADS:-"xz gzip python sort"}
PY_ROUNDS=${COMPARE_PY_ROUNDS:-250}
RUN=$B/run/sampler-run
GENDATA=$B/run/gendata
TIME=/usr/bin/time

die() { echo "compare_perf: $*" >&2; exit 1; }
test -x "$PERF" || die "$PERF not found (Debian: linux-perf)"
command -v readelf > /dev/null || die "readelf not found (binutils)"
command -v timeout > /dev/null || die "timeout not found (coreutils)"
test -x "$TIME" || die "$TIME not found (Debian: time)"
test -x "$RUN" || die "$RUN not built (make in $B)"
make -s -C "$B/run" gendata mt_work > /dev/null || die "cannot build run/gendata"

T=$(mktemp -d "${TMPDIR:-/tmp}/compare_perf.XXXXXX") || die "mktemp failed"
cleanup() {
    if [ "${COMPARE_KEEP:-0}" = 1 ]; then echo "scratch kept: $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
# Each run is `timeout` in the background: timeout puts the run in its own
# process group (a terminal's ^C does not reach it), so a signal to this
# script is passed on to it (timeout forwards it to the whole run) before
# the scratch directory goes.
cpid=
on_signal() {
    [ -n "$cpid" ] && kill -TERM "$cpid" 2> /dev/null && wait "$cpid"
    exit 130
}
trap on_signal INT TERM HUP
bounded() {
    timeout "$TMO" "$@" &
    cpid=$!
    wait "$cpid"
    brc_=$?
    cpid=
    return $brc_
}

echo "==== compare_perf: perf record -g vs sampler-run, $HZ Hz of CPU time"
echo "     $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs," \
     "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | sort -u | head -n 1)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "     $($PERF --version 2>&1), perf_event_paranoid $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')," \
     "sampler-run $("$RUN" --version 2>&1 | head -n 1)"

# ---- inputs -----------------------------------------------------------------
"$GENDATA" "$MB" > "$T/data" || die "gendata failed"
# sort: one word per line (about 4.5 million short lines for 24 MiB).
tr ' ,' '\n' < "$T/data" > "$T/words" || die "cannot make the sort input"
cat > "$T/work.py" << 'EOF'
# 4 threads, each round: zlib (C, releases the GIL), json (C _json), sha256
# (OpenSSL via _hashlib) and a pure-Python loop (the interpreter).
import hashlib, json, sys, threading, zlib

def pure(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i * i) % 1000003
    words = [str(i * 7919 % 10007) for i in range(n // 10)]
    return acc, len(" ".join(sorted(words)))

def worker(k, rounds, out):
    blob = (("thread %d " % k) + "the quick brown fox jumps over the lazy dog " * 4000).encode()
    doc = {"id": k, "items": [{"n": i, "s": "x" * (i % 50), "f": i / 7.0} for i in range(3000)]}
    h = 0
    for r in range(rounds):
        z = zlib.compress(blob + str(r).encode(), 9)
        d = json.loads(json.dumps(doc))
        h ^= int(hashlib.sha256(z + blob).hexdigest()[:8], 16)
        a, b = pure(20000)
        h ^= a ^ b ^ len(d["items"])
    out[k] = h

rounds = int(sys.argv[1])
out = {}
ts = [threading.Thread(target=worker, args=(k, rounds, out)) for k in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sorted(out.items()))
EOF

# ---- helpers ----------------------------------------------------------------
# "user sys" seconds of the last line /usr/bin/time wrote (it may add a
# "Command terminated by signal" line before it).
cpu_of() {
    awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { u = $1; s = $2 } END { if (u == "") print "-"; else printf "%.2f\n", u + s }' "$1" 2>/dev/null || echo -
}

# perf script -> one line per sample:
#   period<TAB>leaf as perf names it<TAB>user leaf (FILE<TAB>ADDR<TAB>SYM)<TAB>frames<TAB>user frames<TAB>tid
# "leaf as perf names it": the symbol ([k] for kernel), or "[unknown] FILE+0xADDR".
# User frames: frames in a file (perf's `[unknown] ([unknown])` frames, the
# garbage an FP walk finds past code without frame pointers, are not counted).
perf_samples() {
    "$PERF" script -i "$1" -F comm,tid,period,ip,sym,dso 2> "$1.script.err" | awk -F'\t' '
        function base(p) { sub(/.*\//, "", p); return p }
        function flush() {
            if (have) {
                printf "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", period, leaf, ufile, uaddr, usym, nf, nu, tid
            }
            have = 0
        }
        # the header: COMM TID PERIOD; /usr/bin/time (the parent) is left out
        /^[^\t]/ { flush(); n = split($0, h, " "); period = h[n]; tid = h[n - 1]
                   have = (h[1] != "time"); nf = 0; nu = 0
                   leaf = "[no frames]"; ufile = "-"; uaddr = "-"; usym = "-"; next }
        /^\t/ {
            line = $0; sub(/^[\t ]+/, "", line)
            sp = index(line, " "); ip = substr(line, 1, sp - 1); rest = substr(line, sp + 1)
            lp = 0; for (i = length(rest); i > 0; i--) if (substr(rest, i, 1) == "(") { lp = i; break }
            dso = substr(rest, lp + 1, length(rest) - lp - 1); sym = substr(rest, 1, lp - 2)
            kern = (dso ~ /^\[kernel/ || ip ~ /^ffffffff/)
            nf++
            if (nf == 1) {
                if (kern) leaf = "[k] " sym
                else if (sym == "[unknown]") leaf = "[unknown] " (dso == "[unknown]" ? "" : base(dso) "+") "0x" ip
                else leaf = sym
            }
            if (!kern && dso != "[unknown]") {
                nu++
                if (nu == 1) { ufile = dso; uaddr = ip; usym = sym }
            }
            next
        }
        END { flush() }'
}

# FILE<TAB>ADDR pairs (hex, no 0x) on stdin -> FILE<TAB>ADDR<TAB>FILE_BASE+0xSTART
# of the unwind-table range (FDE) that holds ADDR, or +0xADDR when none does.
fde_names() {
    sort -u > "$T/fde.in"
    cut -f1 "$T/fde.in" | sort -u | while read -r f; do
        # perf script prints a user pc as its offset in the file; the FDEs
        # hold link-time addresses; sampler-run's offsets count from the
        # module's lowest mapped page (0x400000 for a non-PIE executable
        # such as Debian's python3.11). The LOAD segments map one to the other.
        readelf -lW "$f" 2>/dev/null |
            awk -v f="$f" '$1 == "LOAD" { printf "%s\tLOAD\t%s\t%s\t%s\n", f, $2, $3, $5 }'
        readelf --debug-dump=frames "$f" 2>/dev/null |
            sed -n 's/.* FDE .*pc=\([0-9a-f]*\)\.\.\([0-9a-f]*\).*/\1 \2/p' |
            while read -r lo hi; do printf '%s\t%s\t%s\n' "$f" "$lo" "$hi"; done
    done > "$T/fde.ranges"
    awk -F'\t' '
        function hex(s,  i, c, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
            for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
            return v }
        function base(p) { sub(/.*\//, "", p); return p }
        FILENAME == ARGV[1] && $2 == "LOAD" {
            k = ++nl[$1]; off[$1, k] = hex($3); va[$1, k] = hex($4); sz[$1, k] = hex($5)
            if (k == 1) lb[$1] = va[$1, k] - va[$1, k] % 4096
            next }
        FILENAME == ARGV[1] { n[$1]++; lo[$1, n[$1]] = hex($2); hi[$1, n[$1]] = hex($3); next }
        { a = hex($2); v = -1
          for (i = 1; i <= nl[$1]; i++)
              if (a >= off[$1, i] && a < off[$1, i] + sz[$1, i]) { v = a - off[$1, i] + va[$1, i]; break }
          s = -1
          if (v >= 0)
              for (i = 1; i <= n[$1]; i++) if (v >= lo[$1, i] && v < hi[$1, i]) { s = lo[$1, i]; break }
          if (s >= 0) printf "%s\t%s\t%s+0x%x\n", $1, $2, base($1), s - lb[$1]
          else printf "%s\t%s\t%s+0x%s (address)\n", $1, $2, base($1), $2 }
    ' "$T/fde.ranges" "$T/fde.in"
}

# weight<TAB>name lines -> name<TAB>share% (summed per name), heaviest first.
shares() {
    awk -F'\t' '{ w[$2] += $1; t += $1 } END { for (n in w) printf "%s\t%.1f\t%.0f\n", n, 100 * w[n] / t, w[n] }' |
        sort -t"$(printf '\t')" -k3,3nr -k1,1 | cut -f1,2
}

# weight<TAB>depth lines -> the weight-weighted median depth.
wmedian() {
    sort -t"$(printf '\t')" -k2,2n | awk -F'\t' '{ w[NR] = $1; d[NR] = $2; t += $1 }
        END { if (t == 0) { print "-"; exit } c = 0
              for (i = 1; i <= NR; i++) { c += w[i]; if (2 * c >= t) { print d[i]; exit } } }'
}

# Two name<TAB>share lists side by side, 10 rows.
side_by_side() {
    awk -F'\t' -v h1="$3" -v h2="$4" '
        FILENAME == ARGV[1] { if (FNR <= 10) { a[FNR] = $1; as[FNR] = $2 } next }
        { if (FNR <= 10) { b[FNR] = $1; bs[FNR] = $2 } }
        END { printf "  %-2s %-44s %6s   %-44s %6s\n", "#", h1, "share", h2, "share"
              for (i = 1; i <= 10; i++) {
                  if (!(i in a) && !(i in b)) break
                  printf "  %-2d %-44s %6s   %-44s %6s\n", i,
                      (i in a) ? substr(a[i], 1, 44) : "", (i in a) ? as[i] "%" : "",
                      (i in b) ? substr(b[i], 1, 44) : "", (i in b) ? bs[i] "%" : "" } }
    ' "$1" "$2"
}

# The union of two name<TAB>share lists, heaviest (either side) first, 10 rows.
joined() {
    awk -F'\t' -v h1="$3" -v h2="$4" '
        FILENAME == ARGV[1] { a[$1] = $2; k[$1] = 1; next }
        { b[$1] = $2; k[$1] = 1 }
        END { for (n in k) { x = (n in a) ? a[n] : 0; y = (n in b) ? b[n] : 0
                             printf "%s\t%s\t%s\t%s\n", (x > y ? x : y), n, ((n in a) ? a[n] : "-"), ((n in b) ? b[n] : "-") } }
    ' "$1" "$2" | sort -t"$(printf '\t')" -k1,1nr -k2,2 | head -n 10 |
    awk -F'\t' -v h1="$3" -v h2="$4" '
        BEGIN { printf "  %-56s %12s %12s %8s\n", "function", h1, h2, "diff" }
        { d = ($3 == "-" || $4 == "-") ? "" : sprintf("%+.1f", $4 - $3)
          printf "  %-56s %12s %12s %8s\n", substr($2, 1, 56), ($3 == "-" ? "-" : $3 "%"), ($4 == "-" ? "-" : $4 "%"), d }'
}

# ---- one workload -----------------------------------------------------------
# compare NAME DESCRIPTION CMD ARGS... (CMD's stdout goes to /dev/null)
compare() {
    name=$1; desc=$2; shift 2
    P=$T/$name
    echo
    echo "==== $name: $desc"
    echo "     command: $*"

    # unprofiled, for the cost of each tool
    bounded "$TIME" -f '%U %S' -o "$P.bare.time" "$@" > /dev/null 2> "$P.bare.err"
    brc=$?
    # perf: /usr/bin/time inside, so its CPU time is the program's alone.
    bounded "$PERF" record -q -F "$HZ" -g -o "$P.data" -- \
        "$TIME" -f '%U %S' -o "$P.perf.time" "$@" > /dev/null 2> "$P.perf.err"
    prc=$?
    # sampler-run execs CMD, so /usr/bin/time outside measures CMD (with the
    # sampler inside it).
    bounded "$TIME" -f '%U %S' -o "$P.sr.time" \
        "$RUN" -F "$HZ" -o "$P.folded" -- "$@" > /dev/null 2> "$P.sr.err"
    src=$?

    # -- perf
    pnote=""
    if [ -s "$P.data" ]; then
        perf_samples "$P.data" > "$P.psamples"
    else
        : > "$P.psamples"
    fi
    psamp=$(wc -l < "$P.psamples")
    if [ "$psamp" -eq 0 ]; then
        pnote="perf recorded no samples (exit $prc): $(tail -n 2 "$P.perf.err" | tr '\n' ' ')"
    fi
    # perf_samples: period leaf ufile uaddr usym frames uframes
    cut -f1,2 "$P.psamples" | shares > "$P.pleaf"
    pus=$(awk -F'\t' '$3 != "-" { u++ } END { printf "%d", u }' "$P.psamples")
    pk=$(awk -F'\t' '{ t += $1 } $2 ~ /^\[k\] / { k += $1 } END { if (t) printf "%.1f", 100 * k / t; else print "-" }' "$P.psamples")
    pcpu=$(awk -F'\t' '{ t += $1 } END { printf "%.2f", t / 1e9 }' "$P.psamples")
    pdep=$(cut -f1,6 "$P.psamples" | wmedian)
    pudep=$(cut -f1,7 "$P.psamples" | wmedian)
    # perf's user leaf, addresses mapped to functions as sampler-run names them
    awk -F'\t' '$3 != "-" && $5 == "[unknown]" { print $3 "\t" $4 }' "$P.psamples" | fde_names > "$P.fde"
    awk -F'\t' '
        FILENAME == ARGV[1] { fn[$1 "\t" $2] = $3; next }
        { if ($3 == "-") n = ($2 ~ /^\[k\] / ? "[kernel only] " substr($2, 5) : $2)
          else if ($5 == "[unknown]") n = fn[$3 "\t" $4]
          else n = $5
          sub(/@.*/, "", n); sub(/\.so(\.[0-9]+)*\+0x/, ".so+0x", n); print $1 "\t" n }
    ' "$P.fde" "$P.psamples" | shares > "$P.pnorm"

    # -- sampler-run
    summary=$(grep '^sampler-run: pid' "$P.sr.err" | head -n 1)
    snote=""
    if [ ! -s "$P.folded" ]; then
        how="exit $src"
        [ "$src" -gt 128 ] && [ "$src" -lt 160 ] &&
            how="$how: killed by $(kill -l $((src - 128)) 2>/dev/null | sed 's/^/SIG/')"
        [ "$src" -eq 124 ] && how="$how: timed out after $TMO s"
        snote="sampler-run produced no profile ($how)"
        : > "$P.folded"
    fi
    # folded: "root;f1;...;leaf weight"; depth = frames below the thread root
    awk '{ w = $NF; line = $0; sub(/ [0-9]+$/, "", line); n = split(line, f, ";")
           printf "%s\t%s\t%d\n", w, f[n], n - 1 }' "$P.folded" > "$P.ssamples"
    cut -f1,2 "$P.ssamples" | shares > "$P.sleaf"
    sed -e 's/@[^\t]*//' -e 's/\.so[.0-9]*+0x/.so+0x/' "$P.sleaf" | awk -F'\t' '{ w[$1] += $2 } END { for (n in w) printf "%s\t%.1f\n", n, w[n] }' |
        sort -t"$(printf '\t')" -k2,2nr > "$P.snorm"
    sdep=$(cut -f1,3 "$P.ssamples" | wmedian)
    sw=$(echo "$summary" | sed -n 's/.*(weight \([0-9]*\), \([0-9.]*\) s CPU).*/\1/p')
    scpu=$(echo "$summary" | sed -n 's/.*(weight \([0-9]*\), \([0-9.]*\) s CPU).*/\2/p')
    ssamp=$(echo "$summary" | sed -n 's/.*: \([0-9]*\) samples (.*/\1/p')
    sthr=$(echo "$summary" | sed -n 's/.* \([0-9]*\) threads.*/\1/p')
    sdrop=$(grep -c 'dropped' "$P.sr.err")

    btime=$(cpu_of "$P.bare.time")
    ptime=$(cpu_of "$P.perf.time")
    stime=$(cpu_of "$P.sr.time")
    rat() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx\n", a / b }'; }
    cap() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.1f%%", 100 * a / b }'; }

    printf '  %-34s %-34s %s\n' "" "perf record -g" "sampler-run (default walker)"
    printf '  %-34s %-34s %s\n' "exit status" "$prc" "$src"
    printf '  %-34s %-34s %s\n' "process CPU s (/usr/bin/time)" "$ptime" "$stime"
    printf '  %-34s %-34s %s\n' "  / the same, unprofiled ($btime s)" "$(rat "$ptime" "$btime")" "$(rat "$stime" "$btime")"
    printf '  %-34s %-34s %s\n' "sampled CPU s" "$pcpu ($psamp samples)" \
        "${scpu:--} (${ssamp:-0} samples, weight ${sw:-0})"
    printf '  %-34s %-34s %s\n' "captured (sampled / process)" "$(cap "$pcpu" "$ptime")" "$(cap "${scpu:-}" "$stime")"
    printf '  %-34s %-34s %s\n' "samples with a user frame" "$pus of $psamp" "all (user space only)"
    printf '  %-34s %-34s %s\n' "leaf in the kernel" "$pk%" "- (never sees kernel frames)"
    printf '  %-34s %-34s %s\n' "median stack depth (weighted)" "$pdep (user frames: $pudep)" "$sdep"
    pthr=$(awk -F'\t' '{ t[$8] = 1 } END { for (i in t) n++; print n + 0 }' "$P.psamples")
    printf '  %-34s %-34s %s\n' "threads (with samples / sampled)" "$pthr" "${sthr:--}"
    [ "$sdrop" -gt 0 ] && echo "  sampler-run dropped samples: $(grep dropped "$P.sr.err")"
    [ "$brc" -ne 0 ] && echo "  NOTE: the unprofiled run exited $brc"
    [ -n "$pnote" ] && echo "  NOTE: $pnote"
    [ -n "$snote" ] && echo "  NOTE: $snote; its stderr: $(tail -n 3 "$P.sr.err" | tr '\n' ' ')"
    echo
    echo "  top-10 leaves as each tool names them ([k] kernel; perf's [unknown] rows are per address)"
    side_by_side "$P.pleaf" "$P.sleaf" "perf record -g" "sampler-run"
    echo
    echo "  the same, one name per function: perf's innermost user frame, its addresses mapped"
    echo "  to the unwind-table range that holds them; symbol versions and .so versions dropped"
    joined "$P.pnorm" "$P.snorm" "perf" "sampler-run"
}

# ---- the workloads ----------------------------------------------------------
have() { command -v "$1" > /dev/null 2>&1; }
for w in $WORKLOADS; do
    case $w in
    xz)
        if have xz; then
            compare xz "xz -T2 -6 on $MB MiB of run/gendata text" \
                "$(command -v xz)" -T2 -6 -c "$T/data"
        else echo; echo "==== xz: skipped (xz not found)"; fi ;;
    gzip)
        if have gzip; then
            compare gzip "gzip -9 on the same $MB MiB" "$(command -v gzip)" -9 -c "$T/data"
        else echo; echo "==== gzip: skipped (gzip not found)"; fi ;;
    python)
        if [ -x /usr/bin/python3 ]; then
            compare python "/usr/bin/python3, 4 threading.Threads: zlib, json, sha256, a pure-Python loop" \
                /usr/bin/python3 "$T/work.py" "$PY_ROUNDS"
        else echo; echo "==== python: skipped (/usr/bin/python3 not found)"; fi ;;
    sort)
        if have sort; then
            compare sort "sort of $(wc -l < "$T/words") short lines ($(($(wc -c < "$T/words") / 1048576)) MiB)" \
                "$(command -v sort)" -T "$T" "$T/words"
        else echo; echo "==== sort: skipped (sort not found)"; fi ;;
    *) echo "compare_perf: unknown workload $w" >&2 ;;
    esac
done
