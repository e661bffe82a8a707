#!/bin/sh
# The speedscope file opens in the real viewer: sampler-run profiles mt_work
# (4 threads burning CPU 1:2:3:4) as speedscope JSON; the viewer (the
# `speedscope` npm package, installed into $SPEEDSCOPE_DIR) and the file are
# served by python3 -m http.server on 127.0.0.1 (the viewer fetches the
# file: file:// is refused); headless Chromium loads
# index.html#profileURL=...&view=sandwich with software WebGL (SwiftShader)
# and its rendered DOM (--dump-dom) must show what a user sees:
#   - the page titled after the file's "name", the file imported as
#     speedscope JSON, WebGL initialized (Chromium's console log);
#   - in the profile selector, one profile per thread, named as in the file
#     (work0..work3 and mt_work's main thread if it was sampled, "name
#     (tid)"), each with its total weight as the viewer formats the file's
#     endValue;
#   - the heaviest thread open (activeProfileIndex), and in the sandwich
#     table its heaviest frame by self weight: the hottest leaf of a folded
#     run of the same program (work3).
# A screenshot of the flame chart (--screenshot, 1200x800) must show painted
# frames (coloured pixels below the toolbar: the chart is a WebGL canvas).
#
# Skipped (77) when Chromium, npm or python3 is missing, or npm cannot
# install the viewer; with SAMPLER_REQUIRE_BROWSER_TESTS=1 (CI) each of
# those is a failure. $CHROMIUM names another browser binary;
# $SPEEDSCOPE_DIR where the viewer is installed (default: test-out/
# speedscope-npm in the build tree; an installed copy is reused);
# $SPEEDSCOPE_VERSION the npm version (default 1.25.0, the one whose page
# this test reads).
. "${srcdir:-.}/testlib.sh"

find_chromium
command -v npm > /dev/null 2>&1 || missing "npm not found (Debian: apt-get install nodejs npm)"
PY=${PYTHON:-}
test -n "$PY" && test -x "$PY" || PY=$(command -v python3 2> /dev/null) ||
    missing "python3 not found (it serves the viewer)"

# The viewer: npm's speedscope package ships the built app in dist/release.
SPEEDSCOPE_VERSION=${SPEEDSCOPE_VERSION:-1.25.0}
SPEEDSCOPE_DIR=${SPEEDSCOPE_DIR:-$builddir/test-out/speedscope-npm}
mkdir -p "$SPEEDSCOPE_DIR" || fail "mkdir $SPEEDSCOPE_DIR"
SPEEDSCOPE_DIR=$(cd "$SPEEDSCOPE_DIR" && pwd)
pkg="$SPEEDSCOPE_DIR/node_modules/speedscope"
release="$pkg/dist/release"
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json" 2> /dev/null)
if test "$have" != "$SPEEDSCOPE_VERSION" || test ! -f "$release/index.html"; then
    # its own package.json: npm installs here, not into a parent project
    echo '{"name": "sampler-speedscope-test", "private": true}' \
        > "$SPEEDSCOPE_DIR/package.json"
    # The registry is a network service: where it cannot be reached (no
    # network, a TLS proxy whose CA this system lacks), the test is skipped
    # and says why, also in CI (SAMPLER_REQUIRE_BROWSER_TESTS covers what
    # .ci/run installs; SAMPLER_REQUIRE_NPM=1 makes this a failure too).
    if ! (cd "$SPEEDSCOPE_DIR" && npm install --no-audit --no-fund --no-save --no-package-lock \
        --ignore-scripts "speedscope@$SPEEDSCOPE_VERSION") > "$T/npm.log" 2>&1; then
        why="npm install speedscope@$SPEEDSCOPE_VERSION failed: $(grep -m 3 'ERR' "$T/npm.log")"
        test "${SAMPLER_REQUIRE_NPM:-}" = 1 && fail "$why (SAMPLER_REQUIRE_NPM=1)"
        skip "$why"
    fi
    test -f "$release/index.html" || fail "speedscope has no dist/release/index.html"
    echo "installed speedscope $SPEEDSCOPE_VERSION into $SPEEDSCOPE_DIR"
else
    echo "reusing speedscope $have in $SPEEDSCOPE_DIR"
fi

# The hottest leaf frame, by summed leaf weight over all threads.
"$RUN" -F 1000 --format folded -o "$T/mt.folded" -- "$MT_WORK" -n 4 -u 100 \
    > /dev/null 2> "$T/err" || fail "folded run exited $?: $(cat "$T/err")"
folded_leaf_weights "$T/mt.folded" > "$T/leaves"
hot=$(head -n 1 "$T/leaves" | cut -f 2)
test -n "$hot" || fail "no leaf frames in the folded profile"
echo "hottest leaf (folded run): $hot"

# The profile, by its file name's ending, beside the viewer's files.
mkdir -p "$T/www" && cp -R "$release/." "$T/www/" || fail "copying the viewer"
"$RUN" -F 1000 -o "$T/www/mt.speedscope.json" -- "$MT_WORK" -n 4 -u 100 \
    > /dev/null 2> "$T/err" || fail "speedscope run exited $?: $(cat "$T/err")"
grep -q '(speedscope)$' "$T/err" || fail "the .speedscope.json ending did not pick speedscope"

# What the file says: its name, its total in seconds, and per profile
# "name<TAB>endValue" (the active one marked), as the viewer should show them.
"$PY" - "$T/www/mt.speedscope.json" > "$T/expect" << 'EOF' || fail "the file is not speedscope JSON"
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
assert d["$schema"] == "https://www.speedscope.app/file-format-schema.json"
print("title\t%s - speedscope" % d["name"])
print("cpu\t%.3f" % (sum(p["endValue"] for p in d["profiles"]) / 1e9))
for i, p in enumerate(d["profiles"]):
    print("%s\t%s\t%d" % ("active" if i == d["activeProfileIndex"] else "profile", p["name"],
                          p["endValue"]))
EOF
cat "$T/expect"
# the threads' totals are the CPU time sampler-run reported
cpu=$(sed -n 's/.* samples (weight [0-9]*, \([0-9.]*\) s CPU).*/\1/p' "$T/err")
test "$(sed -n 's/^cpu\t//p' "$T/expect")" = "$cpu" ||
    fail "the profiles' total is not the $cpu s of CPU sampler-run reported"

# The server: a free port on the loopback, its number from its first line.
"$PY" -u -m http.server 0 --bind 127.0.0.1 --directory "$T/www" > "$T/http.log" 2>&1 &
server=$!
profdir=$(mktemp -d "${TMPDIR:-/tmp}/speedscopetest.XXXXXX") || fail "mktemp"
trap 'kill $server 2> /dev/null; rm -rf "$profdir"' EXIT
port=
i=0
while test -z "$port" && test $i -lt 300; do # 30 s at most
    port=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9][0-9]*\).*/\1/p' "$T/http.log")
    test -n "$port" && break
    kill -0 $server 2> /dev/null || fail "http.server exited: $(cat "$T/http.log")"
    sleep 0.1
    i=$((i + 1))
done
test -n "$port" || fail "http.server did not start: $(cat "$T/http.log")"
base="http://127.0.0.1:$port/index.html#profileURL=mt.speedscope.json"
echo "serving on port $port"

# Headless Chromium with a throw-away profile (as root it needs --no-sandbox),
# WebGL on SwiftShader (software), the page's console in its log; virtual
# time lets the page fetch, import and draw before the DOM is dumped.
# A timeout in case it hangs. No &title=: the viewer would give every
# profile that one name.
to=
command -v timeout > /dev/null 2>&1 && to="timeout 120"
chromium() {
    $to "$CHROMIUM" --headless --no-sandbox --disable-gpu --use-angle=swiftshader \
        --enable-unsafe-swiftshader --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --enable-logging=stderr --v=0 --user-data-dir="$profdir" \
        --virtual-time-budget=15000 --window-size=1200,800 --hide-scrollbars "$@"
}

chromium --dump-dom "$base&view=sandwich" > "$T/dom.html" 2> "$T/chromium.err" ||
    fail "chromium --dump-dom exited $?: $(tail -n 5 "$T/chromium.err")"
test -s "$T/dom.html" || fail "chromium dumped an empty DOM: $(tail -n 5 "$T/chromium.err")"
grep -q 'Importing as speedscope json file' "$T/chromium.err" ||
    fail "the viewer did not import the file as speedscope JSON: $(grep CONSOLE "$T/chromium.err" | tail -n 5)"
grep -q 'WebGL initialized' "$T/chromium.err" ||
    fail "the viewer has no WebGL: $(grep CONSOLE "$T/chromium.err" | tail -n 5)"
grep -q 'mt.speedscope.json HTTP/1.1" 200' "$T/http.log" || fail "the viewer did not fetch the file"

# The page as rows: "title<TAB>...", the profile selector's rows
# "profile<TAB>name<TAB>total" (the one shown: "active<TAB>..."), the
# sandwich table's rows "frame<TAB>name<TAB>self<TAB>total", heaviest self
# first (the table's default order).
"$PY" - "$T/dom.html" > "$T/page" << 'EOF' || fail "reading the DOM failed"
import html.parser, re, sys

class Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.title, self.where = [], None, None, None, None
    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.where = "title"
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
    def handle_endtag(self, tag):
        if tag == "title":
            self.where = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
    def handle_data(self, data):
        if self.where == "title":
            self.title = (self.title or "") + data
        elif self.cell is not None:
            self.cell += data

r = Rows()
r.feed(open(sys.argv[1], encoding="utf-8").read())
print("title\t%s" % r.title)
# the toolbar's "work3 (12939) (5/5)": the profile shown, 1-based
m = re.search(r"\((\d+)/(\d+)\)</span>", open(sys.argv[1], encoding="utf-8").read())
shown = int(m.group(1)) if m else 0
for row in r.rows:
    if len(row) == 3 and row[0].isdigit():
        print("%s\t%s\t%s" % ("active" if int(row[0]) == shown else "profile", row[1], row[2]))
    elif len(row) == 3 and re.match(r"[0-9.:]+(s|ms|\xb5s|ns) \(", row[0]):
        print("frame\t%s\t%s\t%s" % (row[2], row[1].split(" (")[0], row[0].split(" (")[0]))
EOF
cat "$T/page"

# The viewer's time format (speedscope's TimeFormatter): ns in, text out.
fmt_ns() {
    awk -v v="$1" 'BEGIN { s = v / 1e9;
        if (s >= 60) { m = int(s / 60); printf "%d:%02d\n", m, int(s - m * 60) }
        else if (s >= 1) printf "%.2fs\n", s
        else if (s >= 0.001) printf "%.2fms\n", s * 1e3
        else if (s >= 1e-6) printf "%.2f\302\265s\n", s * 1e6
        else printf "%.2fns\n", s * 1e9 }'
}

want=$(sed -n 's/^title\t//p' "$T/expect")
got=$(sed -n 's/^title\t//p' "$T/page")
test "$got" = "$want" || fail "page title '$got', not '$want'"
# every thread a profile, in the file's order, with its total; the heaviest shown
nprof=0
while IFS="$(printf '\t')" read -r kind name ns; do
    test "$kind" = title || test "$kind" = cpu && continue
    nprof=$((nprof + 1))
    line=$(printf '%s\t%s\t%s' "$kind" "$name" "$(fmt_ns "$ns")")
    test "$(grep '^\(profile\|active\)	' "$T/page" | sed -n "${nprof}p")" = "$line" ||
        fail "profile $nprof: the viewer does not show '$line'"
done < "$T/expect"
test "$(grep -c '^\(profile\|active\)	' "$T/page")" -eq "$nprof" ||
    fail "the viewer lists other profiles than the file's $nprof"
# the workers (the main thread, which waits for them, may have no sample)
for w in work0 work1 work2 work3; do
    grep -q "^\(profile\|active\)	$w ([0-9]*)	" "$T/page" || fail "no profile for thread $w"
done
grep -q '^active	work3 (' "$T/page" || fail "the viewer does not open the heaviest thread (work3)"
# the sandwich table: the folded run's hottest leaf is the heaviest frame
top=$(sed -n 's/^frame\t\([^\t]*\)\t.*/\1/p' "$T/page" | head -n 1)
test "$top" = "$hot" || fail "the sandwich table's heaviest frame is '$top', not '$hot'"
echo "viewer: $nprof profiles with their totals, '$hot' heaviest in the sandwich table"

# The flame chart (the default view) of the heaviest thread.
rm -f "$T/mt.png"
chromium --screenshot="$T/mt.png" "$base" > "$T/shot.out" 2> "$T/shot.err" ||
    fail "chromium --screenshot exited $?: $(tail -n 5 "$T/shot.err")"
test -f "$T/mt.png" || fail "no screenshot written: $(tail -n 5 "$T/shot.err")"
# Coloured pixels (frames) between the toolbar and y = 300 (the minimap and
# the top of the chart); the page without a drawn chart is white, grey and
# black there.
painted=$("$PY" - "$T/mt.png" << 'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, out, painted = bytearray(stride), 0, 0
for y in range(h):
    f, line = raw[out], bytearray(raw[out + 1:out + 1 + stride])
    out += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y >= 300:
        break
    if y >= 24:
        for x in range(0, stride, bpp):
            r, g, bl = line[x], line[x + 1], line[x + 2]
            painted += max(r, g, bl) - min(r, g, bl) > 40
print(painted)
EOF
) || fail "reading the screenshot failed"
echo "screenshot: $T/mt.png, $(wc -c < "$T/mt.png") bytes, $painted coloured pixels"
# one 1200-pixel row of frames is 1200 x 20 pixels; the drawn chart has
# the minimap and the chart, each 3 rows deep or more
test "$painted" -gt 20000 || fail "the flame chart is not drawn ($painted coloured pixels)"
exit 0
