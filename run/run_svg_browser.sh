#!/bin/sh
# The SVG flame graph opens in a real browser: sampler-run profiles mt_work
# (4 threads burning CPU 1:2:3:4) as SVG; headless Chromium loads it
# (file://), its rendered DOM (--dump-dom) is an <svg> document without an
# XML parse error that names the hottest leaf frame (found from a folded run
# of the same program) in a frame's <title> and, where the frame is wide
# enough, in its <text>; a screenshot (--screenshot, 1200x800) is written and
# is not trivially small. Skipped (77) only when Chromium is not installed
# (Debian: apt-get install chromium); $CHROMIUM names another binary.
. "${srcdir:-.}/testlib.sh"

CHROMIUM=${CHROMIUM:-}
if test -z "$CHROMIUM"; then
    for c in chromium chromium-browser google-chrome; do
        CHROMIUM=$(command -v "$c" 2> /dev/null) && break
        CHROMIUM=
    done
fi
test -n "$CHROMIUM" && test -x "$CHROMIUM" ||
    skip "chromium not found (Debian: apt-get install chromium)"

# The hottest leaf frame, by summed leaf weight over all threads.
"$RUN" -F 1000 --format folded -o "$T/mt.folded" -- "$MT_WORK" -n 4 -u 100 \
    > /dev/null 2> "$T/err" || fail "folded run exited $?: $(cat "$T/err")"
folded_leaf_weights "$T/mt.folded" > "$T/leaves"
head -n 5 "$T/leaves"
hot=$(head -n 1 "$T/leaves" | cut -f 2)
test -n "$hot" || fail "no leaf frames in the folded profile"
echo "hottest leaf: $hot"

"$RUN" -F 1000 --format svg -o "$T/mt.svg" -- "$MT_WORK" -n 4 -u 100 \
    > /dev/null 2> "$T/err" || fail "svg run exited $?: $(cat "$T/err")"
grep -q '<svg' "$T/mt.svg" || fail "mt.svg is not an SVG"

# Chromium, headless, with a throw-away profile; as root it needs --no-sandbox.
# A timeout in case it hangs (no display, no network).
profdir=$(mktemp -d "${TMPDIR:-/tmp}/svgtest.XXXXXX") || fail "mktemp"
trap 'rm -rf "$profdir"' EXIT
to=
command -v timeout > /dev/null 2>&1 && to="timeout 120"
chromium() {
    $to "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$profdir" "$@"
}

url="file://$T/mt.svg"
chromium --dump-dom "$url" > "$T/dom.xml" 2> "$T/chromium.err" ||
    fail "chromium --dump-dom exited $?: $(tail -n 5 "$T/chromium.err")"
test -s "$T/dom.xml" || fail "chromium dumped an empty DOM: $(tail -n 5 "$T/chromium.err")"
grep -q '<svg' "$T/dom.xml" || fail "the rendered DOM is not an SVG document"
# An XML error shows as a <parsererror> element (Chromium's "This page
# contains the following errors").
! grep -qi 'parsererror\|contains the following errors' "$T/dom.xml" ||
    fail "Chromium reports an XML error: $(grep -i -m 1 -o 'error on line[^<]*' "$T/dom.xml")"
# The hottest frame: in a <title>, with its weight, and as a <text> label.
grep -qF "<title>$hot (" "$T/dom.xml" || fail "the rendered DOM has no <title> for '$hot'"
grep -qF ">$hot</text>" "$T/dom.xml" || fail "the rendered DOM has no <text> label '$hot'"
echo "DOM: $(wc -c < "$T/dom.xml") bytes, $(grep -o '<rect' "$T/dom.xml" | wc -l) rects, names '$hot'"

# No label spills out of its frame: the SVG inlined in an HTML page whose
# script measures every <text> (getComputedTextLength(), in the font the
# browser picked) against its <rect> and writes the result into the page.
{
    echo '<!DOCTYPE html><html><body>'
    sed '/^<?xml/d' "$T/mt.svg"
    cat << 'EOF'
<script>
var bad = [], n = 0;
document.querySelectorAll('svg g').forEach(function (g) {
  var r = g.querySelector('rect'), t = g.querySelector('text');
  if (!r || !t) return;
  n++;
  var end = parseFloat(t.getAttribute('x')) + t.getComputedTextLength();
  var rend = parseFloat(r.getAttribute('x')) + parseFloat(r.getAttribute('width'));
  if (end > rend + 0.5)
    bad.push('svgcheck-' + 'overflow: "' + t.textContent + '" ends at ' + end.toFixed(1) + ', its frame at ' + rend.toFixed(1));
});
var p = document.createElement('pre');
p.textContent = 'svgcheck labels=' + n + '\n' + bad.join('\n');
document.body.appendChild(p);
</script></body></html>
EOF
} > "$T/measure.html"
chromium --dump-dom "file://$T/measure.html" > "$T/measure.dom" 2> "$T/measure.err" ||
    fail "chromium --dump-dom (measure) exited $?: $(tail -n 5 "$T/measure.err")"
labels=$(sed -n 's/.*svgcheck labels=\([0-9][0-9]*\).*/\1/p' "$T/measure.dom")
test -n "$labels" && test "$labels" -gt 0 || fail "the measuring script did not run"
! grep 'svgcheck-overflow:' "$T/measure.dom" || fail "labels overflow their frames"
echo "labels: $labels measured, none overflows its frame"

rm -f "$T/mt.png"
chromium --screenshot="$T/mt.png" --window-size=1200,800 --hide-scrollbars "$url" \
    > "$T/shot.out" 2> "$T/shot.err" ||
    fail "chromium --screenshot exited $?: $(tail -n 5 "$T/shot.err")"
test -f "$T/mt.png" || fail "no screenshot written: $(tail -n 5 "$T/shot.err")"
size=$(wc -c < "$T/mt.png")
echo "screenshot: $T/mt.png, $size bytes"
# The page with only the background and the title is about 8 kB; this
# flame graph (some 25 frames, 17 labels) about 25 kB.
test "$size" -gt 12000 || fail "screenshot is only $size bytes (blank page?)"
# PNG signature.
test "$(head -c 8 "$T/mt.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ||
    fail "screenshot is not a PNG"
exit 0
