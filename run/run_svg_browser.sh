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

find_chromium

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

# The static picture (where scripts do not run, as in an <img>): no label
# spills out of its frame. The SVG without its script, inlined in an HTML
# page whose script measures every <text> (getComputedTextLength(), in the
# font the browser picked) against its <rect> and writes the result into the
# page.
{
    echo '<!DOCTYPE html><html><body>'
    sed '/^<?xml/d; /^<script/,/<\/script>/d' "$T/mt.svg"
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


# The interactive flame graph, driven by DOM events from a test page that
# holds the SVG file in an <iframe> (file:// pages may reach each other with
# --allow-file-access-from-files). What a search should report comes from
# the folded stacks of the same profile, rebuilt from the SVG's markup (its
# frames in depth-first order with their row and weight, a frame's own
# weight being what its callees leave), not from the script: the share of
# the weight of the stacks that hold a matching frame, once per stack.
awk 'function unesc(s) { gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s);
                         gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s); return s }
     function pop(k,   i, p) { for (; d > k; d--) { if (w[d] > c[d]) { p = nm[1];
         for (i = 2; i <= d; i++) p = p ";" nm[i]; print p, w[d] - c[d] } } }
     /^<g class="f"/ { match($0, /data-w="[0-9]+"/); fw = substr($0, RSTART + 8, RLENGTH - 9);
         match($0, /data-l="[0-9]+"/); l = substr($0, RSTART + 8, RLENGTH - 9) + 1;
         match($0, /<title>.* \(weight /); name = unesc(substr($0, RSTART + 7, RLENGTH - 16));
         pop(l - 1); d = l; nm[d] = name; w[d] = fw + 0; c[d] = 0; if (d > 1) c[d - 1] += fw }
     END { pop(0) }' "$T/mt.svg" > "$T/mt-svg.folded"
test -s "$T/mt-svg.folded" || fail "no stacks in the SVG's markup"
# share MODE NAME: exact (a frame is NAME) or prefix (a frame starts with it)
share() {
    awk -v mode="$1" -v hot="$2" '{ w = $NF; line = $0; sub(/ [0-9]+$/, "", line);
        n = split(line, f, ";"); m = 0
        for (i = 1; i <= n; i++) if (mode == "exact" ? f[i] == hot : index(f[i], hot) == 1) m = 1
        t += w; if (m) s += w } END { printf "%.4f", t ? 100 * s / t : 0 }' "$T/mt-svg.folded"
}
share=$(share exact "$hot")
pshare=$(share prefix "$hot")
echo "the hottest leaf's share: $share%; frames starting with its name: $pshare%"
hot_html=$(printf '%s' "$hot" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')
cat > "$T/interact.html" << EOF
<!DOCTYPE html><html><body style="margin: 0">
<div id="hot" style="display: none">$hot_html</div>
<div id="share" style="display: none">$share</div>
<div id="pshare" style="display: none">$pshare</div>
EOF
cat >> "$T/interact.html" << 'EOF'
<iframe id="fg" src="mt.svg" style="border: 0; display: block"></iframe>
<pre id="out">svgcheck not run</pre>
<script>
// ?zoom, ?search: leave the graph in that state for a screenshot; else check.
var mode = location.search.slice(1), ifr = document.getElementById('fg');
var shot = mode === 'zoom' || mode === 'search';
ifr.style.width = shot ? '100vw' : '1000px';
ifr.style.height = shot ? '100vh' : '600px';
var HOT = document.getElementById('hot').textContent;
var SHARE = parseFloat(document.getElementById('share').textContent);
var PSHARE = parseFloat(document.getElementById('pshare').textContent);
var HL = 'rgb(230,0,230)', ok = [], bad = [];
// (the markers are built, so that the script's own text in the dump has none)
function fail(m) { bad.push('svgcheck-' + 'fail: ' + m); }
function finish() {
  document.getElementById('out').textContent =
    'svgcheck ' + 'ran: ' + ok.join(', ') + '\n' + bad.join('\n') + '\nsvgcheck-' + 'end';
}
var d, win, svg;
function frames() {
  return Array.prototype.map.call(d.querySelectorAll('g.f'), function (g) {
    var t = g.querySelector('title').textContent;
    return { g: g, name: t.slice(0, t.lastIndexOf(' (weight ')),
             l: +g.getAttribute('data-l'), w: +g.getAttribute('data-w'),
             rect: g.querySelector('rect'), text: g.querySelector('text') };
  });
}
function shown(f) { return win.getComputedStyle(f.g).display !== 'none'; }
function box(e) { return e.getBoundingClientRect(); }
function click(e) { e.dispatchEvent(new win.MouseEvent('click', { bubbles: true })); }
function near(a, b, eps) { return Math.abs(a - b) <= eps; }
// No visible label is wider than its frame, in screen pixels; some exist.
function labels(when) {
  var n = 0;
  frames().forEach(function (f) {
    if (!shown(f) || !f.text || f.text.textContent === '') return;
    n++;
    var r = box(f.rect), t = box(f.text), len = f.text.getComputedTextLength();
    var x = parseFloat(f.text.getAttribute('x')), rx = parseFloat(f.rect.getAttribute('x'));
    var rw = parseFloat(f.rect.getAttribute('width'));
    if (t.left < r.left - 0.5 || t.right > r.right + 0.5 || x + len > rx + rw + 0.5)
      fail(when + ': label "' + f.text.textContent + '" (' + t.left.toFixed(1) + '..' +
           t.right.toFixed(1) + ') overflows its frame (' + r.left.toFixed(1) + '..' +
           r.right.toFixed(1) + ')');
  });
  if (n === 0) fail(when + ': no labels');
  ok.push(when + ' ' + n + ' labels fit');
}
function matchedPct() {
  var m = /Matched: ([0-9.]+)%/.exec(d.querySelector('.fg-matched').textContent);
  return m ? parseFloat(m[1]) : NaN;
}
function esc(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }
function search(term) {
  win.prompt = function () { return term; };
  click(d.querySelector('.fg-search'));
}
ifr.onload = function () {
  try {
    d = ifr.contentDocument; win = ifr.contentWindow; svg = d.documentElement;
    var all = frames(), W = box(svg).width;
    // the hottest frame: the widest child of the root (a thread); a sibling
    var kids = all.filter(function (f) { return f.l === 1; });
    kids.sort(function (a, b) { return b.w - a.w; });
    var hotf = kids[0], sib = kids[1], root = all[0];
    if (shot) {
      if (mode === 'zoom') click(hotf.rect);
      else search('^' + esc(HOT) + '$');
      return finish();
    }
    if (!hotf || !sib) { fail('fewer than two threads'); return finish(); }
    if (!near(W, 1000, 1)) fail('the SVG is ' + W + ' px wide in a 1000 px frame');
    if (!near(box(root.rect).width, W - 20, 0.5))
      fail('root spans ' + box(root.rect).width + ' px of ' + W);
    labels('before zoom');
    var before = box(hotf.rect).width, sibBefore = box(sib.rect).width;
    // click zooms: the frame fills the width, its ancestor dimmed, a sibling hidden
    click(hotf.rect);
    var b = box(hotf.rect);
    if (!near(b.left, 10, 0.5) || !near(b.width, W - 20, 0.5))
      fail('zoomed frame at ' + b.left + ' width ' + b.width + ', not 10 and ' + (W - 20));
    if (shown(sib)) fail('sibling "' + sib.name + '" still shown after zoom');
    if (!shown(root) || !(parseFloat(win.getComputedStyle(root.g).opacity) < 1))
      fail('the root is not shown dimmed after zoom');
    var child = all.filter(function (f) { return f.l === 2 && shown(f); })[0];
    if (!child || !near(box(child.rect).width, (W - 20) * child.w / hotf.w, 0.5))
      fail('a callee of the zoomed frame is not scaled with it');
    if (win.getComputedStyle(d.querySelector('.fg-unzoom')).display === 'none')
      fail('no Reset zoom control after zoom');
    ok.push('zoom');
    labels('zoomed');
    // reset restores
    click(d.querySelector('.fg-unzoom'));
    if (!near(box(hotf.rect).width, before, 0.01) || !shown(sib) ||
        !near(box(sib.rect).width, sibBefore, 0.01))
      fail('reset zoom did not restore the widths (' + box(hotf.rect).width + ' vs ' +
           before + ')');
    if (win.getComputedStyle(d.querySelector('.fg-unzoom')).display !== 'none')
      fail('Reset zoom still shown after reset');
    ok.push('reset');
    labels('after reset');
    // search: the hottest leaf's frames highlighted, the others not; its share
    search('^' + esc(HOT) + '$');
    var hits = 0;
    frames().forEach(function (f) {
      var hl = f.rect.getAttribute('fill') === HL;
      if (f.name === HOT) hits++;
      if (hl !== (f.name === HOT))
        fail('frame "' + f.name + '" ' + (hl ? 'highlighted' : 'not highlighted'));
    });
    if (hits === 0) fail('no frame named "' + HOT + '"');
    var pct = matchedPct();
    if (!(Math.abs(pct - SHARE) <= 0.011))
      fail('matched ' + pct + '%, the folded profile says ' + SHARE + '%');
    ok.push('search ' + hits + ' frames, matched ' + pct + '% (folded ' + SHARE + '%)');
    // a prefix: the thread named like its hottest function holds it (nested
    // matches count once)
    search('^' + esc(HOT));
    if (!(Math.abs(matchedPct() - PSHARE) <= 0.011))
      fail('prefix search matched ' + matchedPct() + '%, the folded profile says ' + PSHARE + '%');
    ok.push('prefix search matched ' + matchedPct() + '% (folded ' + PSHARE + '%)');
    // a case-insensitive substring search that matches the root counts 100%
    search('ALL');
    if (matchedPct() !== 100) fail('searching "ALL" matched ' + matchedPct() + '%, not 100');
    click(d.querySelector('.fg-clear'));
    if (frames().some(function (f) { return f.rect.getAttribute('fill') === HL; }) ||
        d.querySelector('.fg-matched').textContent !== '')
      fail('Reset search left highlights or the matched share');
    ok.push('clear');
    // the window gets narrower: the browser sends 'resize' (headless
    // Chromium draws no frames under --dump-dom, so the page sends it)
    ifr.style.width = '700px';
    win.dispatchEvent(new win.Event('resize'));
    setTimeout(function () {
      try {
        var W2 = box(svg).width;
        if (!near(W2, 700, 1)) fail('the SVG is ' + W2 + ' px wide in a 700 px frame');
        if (!near(box(root.rect).width, W2 - 20, 0.5))
          fail('after resize the root spans ' + box(root.rect).width + ' px of ' + W2);
        if (!near(box(hotf.rect).width, before * (W2 - 20) / (W - 20), 0.5))
          fail('after resize the hottest frame is ' + box(hotf.rect).width + ' px');
        ok.push('resize to ' + W2);
        labels('narrow');
        click(hotf.rect);
        labels('narrow zoomed');
      } catch (e) { fail('exception ' + e); }
      finish();
    }, 100);
  } catch (e) { fail('exception ' + e); finish(); }
};
</script></body></html>
EOF
chromium --allow-file-access-from-files --virtual-time-budget=5000 \
    --dump-dom "file://$T/interact.html" > "$T/interact.dom" 2> "$T/interact.err" ||
    fail "chromium --dump-dom (interactive) exited $?: $(tail -n 5 "$T/interact.err")"
sed -n '/svgcheck ran:/,/svgcheck-end/p' "$T/interact.dom"
grep -q 'svgcheck ran: ' "$T/interact.dom" || fail "the interactive checks did not run"
grep -q 'svgcheck-end' "$T/interact.dom" || fail "the interactive checks did not finish"
! grep -q 'svgcheck-fail:' "$T/interact.dom" || fail "interactive checks failed"

# Screenshots: as opened (the script lays it out at the window's width),
# zoomed into the hottest thread, searched for the hottest leaf; and the
# static picture, the SVG in an <img>.
echo "<!DOCTYPE html><html><body style=\"margin: 0\"><img src=\"mt.svg\"></body></html>" \
    > "$T/img.html"
for s in plain:mt.svg zoom:interact.html?zoom search:interact.html?search static:img.html; do
    name=${s%%:*}
    rm -f "$T/mt-$name.png"
    chromium --allow-file-access-from-files --virtual-time-budget=3000 \
        --screenshot="$T/mt-$name.png" --window-size=1200,800 --hide-scrollbars \
        "file://$T/${s#*:}" > "$T/shot.out" 2> "$T/shot.err" ||
        fail "chromium --screenshot ($name) exited $?: $(tail -n 5 "$T/shot.err")"
    test -f "$T/mt-$name.png" || fail "no $name screenshot written: $(tail -n 5 "$T/shot.err")"
    size=$(wc -c < "$T/mt-$name.png")
    echo "screenshot: $T/mt-$name.png, $size bytes"
    # The page with only the background and the title is about 8 kB; this
    # flame graph (some 25 frames, 17 labels) about 25 kB.
    test "$size" -gt 12000 || fail "$name screenshot is only $size bytes (blank page?)"
    # PNG signature.
    test "$(head -c 8 "$T/mt-$name.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ||
        fail "$name screenshot is not a PNG"
done
exit 0
