#!/bin/sh
# sampler-run --format pprof writes a profile that `go tool pprof -top` reads
# (Debian golang-go), with mt_work's functions in it.
. "${srcdir:-.}/testlib.sh"

test "${HAVE_PPROF:-yes}" = yes || skip "libsampler was built without pprof support"
GO=${GO:-}
test -n "$GO" || GO=$(command -v go) || skip "go not found (Debian: golang-go)"
test -x "$GO" || skip "go not found (Debian: golang-go)"

"$RUN" -F 1000 --format pprof -o "$T/mt.pb.gz" -- "$MT_WORK" -n 2 -u 100 \
    > /dev/null 2> "$T/stderr" || fail "sampler-run exited $?: $(cat "$T/stderr")"
cat "$T/stderr"
grep -q -- '-> .*mt.pb.gz (pprof)$' "$T/stderr" || fail "no summary line"
test "$(od -An -tx1 -N2 "$T/mt.pb.gz" | tr -d ' ')" = 1f8b || fail "not gzip'd"

mkdir -p "$T/home" "$T/gocache"
HOME="$T/home" GOCACHE="$T/gocache" GOPATH="$T/home/go" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    "$GO" tool pprof -top -symbolize=none "$T/mt.pb.gz" > "$T/top" 2> "$T/top.err" ||
    fail "go tool pprof failed: $(cat "$T/top.err")"
cat "$T/top"
grep -q 'work0' "$T/top" || fail "work0 missing from pprof -top"
grep -q 'work1' "$T/top" || fail "work1 missing from pprof -top"
grep -q '^Type: cpu' "$T/top" || fail "no 'Type: cpu' line"
exit 0
