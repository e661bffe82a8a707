/* SVG flame graph writer: one self-contained SVG file (no external
 * resource). Where scripts run (the file opened in a browser, or inlined in
 * a page) an inline script (in CDATA) makes it interactive: click a frame to
 * zoom, "Reset zoom", "Search" (a regular expression, case-insensitive) that
 * highlights matches and shows their share of the total, a details line,
 * labels fitted to their frames, the width following the window. Where they
 * do not (an <img>) it is a plain static flame graph: one <rect> per frame
 * with a <title> tooltip, the name as text where it fits.
 *
 * Root at the bottom, callees above their callers, children sorted by name
 * (as flamegraph.pl does), widths proportional to weight. The numbers are
 * weights (timer intervals), as in the folded output and in sampler-run's
 * summary line: a tooltip reads "name (weight W, S s, P%)", S being W times
 * the profile's interval. Each frame's <g> carries what the script needs:
 * data-s (its start, in weight, from the root's), data-w (its weight) and
 * data-l (its row, the root's 0); the frames are in depth-first order. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SVG_WIDTH 1200.0
#define SVG_PAD 10.0
#define SVG_FRAME_H 16
#define SVG_TOP 40
#define SVG_BOTTOM 30
#define SVG_FONT 12
#define SVG_CHAR_W 7.0 /* rough width of one character at SVG_FONT */
#define SVG_MIN_W 0.1  /* frames narrower than this are left out */

typedef struct sampler__fnode {
    UT_hash_handle hh; /* key: name, in its parent's children */
    const char *name;  /* points into a name stack (alive while writing) */
    uint64_t weight;
    struct sampler__fnode *children;
} sampler__fnode;

static void sampler__fnode_free(sampler__fnode *n)
{
    sampler__fnode *c, *tmp;
    HASH_ITER(hh, n->children, c, tmp) {
        HASH_DEL(n->children, c);
        sampler__fnode_free(c);
    }
    free(n);
}

static int sampler__fnode_cmp(const sampler__fnode *a, const sampler__fnode *b)
{
    return strcmp(a->name, b->name);
}

static int sampler__tree_add(sampler__fnode *root, const sampler__nstack *ns)
{
    sampler__fnode *cur = root;
    root->weight += ns->weight;
    for (int i = 0; i < ns->n; i++) {
        sampler__fnode *c;
        HASH_FIND_STR(cur->children, ns->names[i], c);
        if (c == NULL) {
            c = calloc(1, sizeof *c);
            if (c == NULL)
                return SAMPLER_ENOMEM;
            c->name = ns->names[i];
            sampler__profile_oom = 0;
            HASH_ADD_KEYPTR(hh, cur->children, c->name, strlen(c->name), c);
            if (sampler__profile_oom) {
                sampler__fnode *chk;
                HASH_FIND_STR(cur->children, ns->names[i], chk);
                if (chk == NULL) {
                    free(c);
                    return SAMPLER_ENOMEM;
                }
            }
        }
        c->weight += ns->weight;
        cur = c;
    }
    return 0;
}

static int sampler__tree_depth(sampler__fnode *n)
{
    int d = 0;
    for (sampler__fnode *c = n->children; c != NULL; c = c->hh.next) {
        int cd = sampler__tree_depth(c);
        if (cd > d)
            d = cd;
    }
    return d + 1;
}

/* Bytes of the UTF-8 character at s that XML 1.0 allows (1 to 4), or 0 when
 * s does not start one (a stray or truncated byte: a thread name cut at 15
 * bytes may end in half a character; a control character). */
static size_t sampler__utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return c >= 0x20 || c == '\t' ? 1 : 0;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    if (n == 3 && c == 0xef && s[1] == 0xbf && s[2] >= 0xbe)
        return 0; /* U+FFFE, U+FFFF */
    return n;
}

/* s as XML character data (or an attribute value), at most max characters;
 * what is not a character XML allows is written as '?'. */
static void sampler__xml_text(FILE *f, const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < max && *u != '\0'; i++) {
        size_t n = sampler__utf8_len(u);
        if (n == 0) {
            fputc('?', f);
            u++;
            continue;
        }
        switch (*u) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fwrite(u, 1, n, f);
        }
        u += n;
    }
}

/* Characters sampler__xml_text() writes for s. */
static size_t sampler__xml_chars(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;
    while (*u != '\0') {
        size_t n = sampler__utf8_len(u);
        u += n ? n : 1;
        k++;
    }
    return k;
}

/* A warm colour from the name, stable across runs (as flamegraph.pl's "hot"). */
static void sampler__color(const char *name, int *r, int *g, int *b)
{
    uint32_t h = 2166136261u;
    for (const char *c = name; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    *r = 205 + (int)(h % 50);
    *g = (int)((h >> 8) % 230);
    *b = (int)((h >> 16) % 55);
}

typedef struct sampler__svg {
    FILE *f;
    double scale; /* pixels per unit of weight */
    uint64_t total;
    double interval_s; /* seconds per unit of weight */
    int depth;    /* rows */
    double height;
} sampler__svg;

static void sampler__svg_node(sampler__svg *s, sampler__fnode *n, uint64_t start,
                              int level)
{
    double w = (double)n->weight * s->scale;
    if (w < SVG_MIN_W)
        return;
    double x = SVG_PAD + (double)start * s->scale;
    double y = s->height - SVG_BOTTOM - (double)(level + 1) * SVG_FRAME_H;
    int r, g, b;
    sampler__color(n->name, &r, &g, &b);
    FILE *f = s->f;
    fprintf(f,
            "<g class=\"f\" data-s=\"%" PRIu64 "\" data-w=\"%" PRIu64
            "\" data-l=\"%d\"><title>",
            start, n->weight, level);
    sampler__xml_text(f, n->name, SIZE_MAX);
    fprintf(f, " (weight %" PRIu64 ", %.3f s, %.2f%%)</title>", n->weight,
            (double)n->weight * s->interval_s,
            s->total ? 100.0 * (double)n->weight / (double)s->total : 0.0);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>",
            x, y, w, SVG_FRAME_H - 1, r, g, b);
    size_t fit = (size_t)((w - 6.0) / SVG_CHAR_W);
    if (fit >= 3) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3.0, y + SVG_FRAME_H - 4.5);
        if (sampler__xml_chars(n->name) <= fit) {
            sampler__xml_text(f, n->name, SIZE_MAX);
        } else {
            sampler__xml_text(f, n->name, fit - 2);
            fputs("..", f);
        }
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    HASH_SORT(n->children, sampler__fnode_cmp);
    uint64_t cs = start;
    for (sampler__fnode *c = n->children; c != NULL; c = c->hh.next) {
        sampler__svg_node(s, c, cs, level + 1);
        cs += c->weight;
    }
}

/* The script: ES5, no "]]>" in it (it sits in CDATA), no external resource.
 * It finds the frames by their class and data-* attributes and lays them out
 * again at the width the SVG has on screen (1 unit = 1 px), on load, on a
 * click and when the window or the SVG's box changes size. */
static const char sampler__svg_script[] =
    "(function () {\n"
    "'use strict';\n"
    "var NS = 'http://www.w3.org/2000/svg', PAD = 10, HL = 'rgb(230,0,230)';\n"
    "var me = document.currentScript;\n"
    "var svg = me && me.ownerSVGElement ? me.ownerSVGElement :\n"
    "  document.documentElement.localName === 'svg' ? document.documentElement :\n"
    "  document.querySelector('svg');\n"
    "var H = +svg.getAttribute('height'), total = +svg.getAttribute('data-total');\n"
    "function one(c) { return svg.querySelector('.' + c); }\n"
    "var head = one('fg-title'), unzoomB = one('fg-unzoom'),\n"
    "  searchB = one('fg-search'), clearB = one('fg-clear'),\n"
    "  details = one('fg-details'), matched = one('fg-matched');\n"
    "var frames = [], stack = [], gs = svg.querySelectorAll('g.f');\n"
    "for (var i = 0; i < gs.length; i++) {\n"
    "  var g = gs[i], tip = g.querySelector('title').textContent;\n"
    "  var k = tip.lastIndexOf(' (weight ');\n"
    "  var f = { g: g, rect: g.querySelector('rect'), text: g.querySelector('text'),\n"
    "    name: k >= 0 ? tip.slice(0, k) : tip, tip: tip, s: +g.getAttribute('data-s'),\n"
    "    w: +g.getAttribute('data-w'), l: +g.getAttribute('data-l'), anc: 0, cut: 0,\n"
    "    avail: 0, match: false, cov: false };\n"
    "  f.fill = f.rect.getAttribute('fill');\n"
    "  f.ty = +f.rect.getAttribute('y') + 11.5;\n"
    "  f.parent = f.l > 0 ? stack[f.l - 1] || null : null;\n"
    "  stack[f.l] = f; stack.length = f.l + 1;\n"
    "  g.fgFrame = f;\n"
    "  frames.push(f);\n"
    "}\n"
    "var zoomed = null, term = '', gen = 0, lastW = -1;\n"
    /* widths of characters in the frames' font, measured in one pass */
    "var cw = {};\n"
    "function measure(chars) {\n"
    "  var grp = document.createElementNS(NS, 'g'), ts = [];\n"
    "  grp.setAttribute('class', 'f'); grp.setAttribute('visibility', 'hidden');\n"
    "  for (var j = 0; j < chars.length; j++) {\n"
    "    var t = document.createElementNS(NS, 'text');\n"
    "    t.textContent = chars[j]; grp.appendChild(t); ts.push(t);\n"
    "  }\n"
    "  svg.appendChild(grp);\n"
    "  for (j = 0; j < chars.length; j++) cw[chars[j]] = ts[j].getComputedTextLength();\n"
    "  svg.removeChild(grp);\n"
    "}\n"
    "var ascii = [];\n"
    "for (i = 32; i < 127; i++) ascii.push(String.fromCharCode(i));\n"
    "function width(s) {\n"
    "  var w = 0;\n"
    "  for (var j = 0; j < s.length; j++) {\n"
    "    if (!(s[j] in cw)) measure([s[j]]);\n"
    "    w += cw[s[j]];\n"
    "  }\n"
    "  return w;\n"
    "}\n"
    "function setText(f, n) {\n"
    "  f.cut = n;\n"
    "  var txt = n >= f.name.length ? f.name : n > 0 ? f.name.slice(0, n) + '..' : '';\n"
    "  if (f.text && f.text.textContent !== txt) f.text.textContent = txt;\n"
    "}\n"
    /* the longest label that fits avail by the measured widths */
    "function label(f, x, w) {\n"
    "  var avail = w - 6, n = f.name.length;\n"
    "  f.avail = avail;\n"
    "  if (avail < width('..')) { setText(f, 0); return; }\n"
    "  if (width(f.name) > avail) {\n"
    "    var acc = width('..'), j = 0;\n"
    "    while (j < n && acc + width(f.name[j]) <= avail) acc += width(f.name[j++]);\n"
    "    n = j;\n"
    "  }\n"
    "  if (n > 0 && !f.text) {\n"
    "    f.text = document.createElementNS(NS, 'text');\n"
    "    f.text.setAttribute('y', f.ty);\n"
    "    f.g.appendChild(f.text);\n"
    "  }\n"
    "  if (f.text) f.text.setAttribute('x', (x + 3).toFixed(2));\n"
    "  setText(f, n);\n"
    "}\n"
    "function layout(force) {\n"
    "  var W = svg.getBoundingClientRect().width;\n"
    "  if (!(W > 4 * PAD)) W = 1200;\n"
    "  if (W === lastW && !force) return;\n"
    "  lastW = W;\n"
    "  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);\n"
    "  head.setAttribute('x', W / 2);\n"
    "  searchB.setAttribute('x', W - PAD);\n"
    "  clearB.setAttribute('x', W - PAD - searchB.getComputedTextLength() - 15);\n"
    "  matched.setAttribute('x', W - PAD);\n"
    "  unzoomB.style.display = zoomed ? '' : 'none';\n"
    "  var z = zoomed || frames[0];\n"
    "  if (!z) return;\n"
    "  var scale = (W - 2 * PAD) / z.w, end = z.s + z.w, shown = [];\n"
    "  gen++;\n"
    "  for (var a = zoomed && zoomed.parent; a; a = a.parent) a.anc = gen;\n"
    "  for (var j = 0; j < frames.length; j++) {\n"
    "    var f = frames[j], cls = 'f', x, w;\n"
    "    if (f.anc === gen) { cls = 'f fg-anc'; x = PAD; w = W - 2 * PAD; }\n"
    "    else if (f.l >= z.l && f.s >= z.s && f.s + f.w <= end) {\n"
    "      x = PAD + (f.s - z.s) * scale; w = f.w * scale;\n"
    "    } else cls = 'f fg-hid';\n"
    "    if (f.g.getAttribute('class') !== cls) f.g.setAttribute('class', cls);\n"
    "    if (cls === 'f fg-hid') continue;\n"
    "    f.rect.setAttribute('x', x.toFixed(2));\n"
    "    f.rect.setAttribute('width', w.toFixed(2));\n"
    "    label(f, x, w);\n"
    "    if (f.cut > 0) shown.push(f);\n"
    "  }\n"
    /* the browser's word: shorten what is still too wide (kerning, fonts) */
    "  for (j = 0; j < shown.length; j++) {\n"
    "    f = shown[j];\n"
    "    while (f.cut > 0 && f.text.getComputedTextLength() > f.avail)\n"
    "      setText(f, f.cut - 1);\n"
    "  }\n"
    "}\n"
    "function search(t) {\n"
    "  term = t;\n"
    "  var test = null;\n"
    "  if (t) {\n"
    "    try {\n"
    "      var re = new RegExp(t, 'i');\n"
    "      test = function (n) { return re.test(n); };\n"
    "    }\n"
    "    catch (e) {\n"
    "      var low = t.toLowerCase();\n"
    "      test = function (n) { return n.toLowerCase().indexOf(low) >= 0; };\n"
    "    }\n"
    "  }\n"
    "  var m = 0;\n"
    "  for (var j = 0; j < frames.length; j++) {\n"
    "    var f = frames[j], pc = f.parent ? f.parent.cov : false;\n"
    "    f.match = test ? test(f.name) : false;\n"
    "    f.cov = f.match || pc;\n"
    "    if (f.match && !pc) m += f.w;\n"
    "    f.rect.setAttribute('fill', f.match ? HL : f.fill);\n"
    "  }\n"
    "  var pct = (total ? 100 * m / total : 0).toFixed(2);\n"
    "  matched.textContent = test ? 'Matched: ' + pct + '%' : '';\n"
    "  clearB.style.display = test ? '' : 'none';\n"
    "}\n"
    "function frameOf(n) {\n"
    "  while (n && n !== svg && !n.fgFrame) n = n.parentNode;\n"
    "  return n && n.fgFrame ? n.fgFrame : null;\n"
    "}\n"
    "function zoom(f) { zoomed = f && f.l > 0 ? f : null; layout(true); }\n"
    "function ask() {\n"
    "  var t = window.prompt('Search frames (regular expression, case-insensitive):',\n"
    "    term);\n"
    "  if (t !== null && t !== undefined) search(t);\n"
    "}\n"
    "svg.addEventListener('click', function (e) {\n"
    "  var f = frameOf(e.target);\n"
    "  if (f) zoom(f);\n"
    "});\n"
    "unzoomB.addEventListener('click', function () { zoom(null); });\n"
    "searchB.addEventListener('click', ask);\n"
    "clearB.addEventListener('click', function () { search(''); });\n"
    "svg.addEventListener('mouseover', function (e) {\n"
    "  var f = frameOf(e.target);\n"
    "  details.textContent = f ? f.tip : '';\n"
    "});\n"
    "svg.addEventListener('mouseout', function () { details.textContent = ''; });\n"
    "document.addEventListener('keydown', function (e) {\n"
    "  if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) {\n"
    "    e.preventDefault(); ask();\n"
    "  } else if (e.key === 'Escape') { search(''); zoom(null); }\n"
    "});\n"
    "window.addEventListener('resize', function () { layout(false); });\n"
    "if (window.ResizeObserver)\n"
    "  new ResizeObserver(function () { layout(false); }).observe(svg);\n"
    "svg.setAttribute('width', '100%');\n"
    "searchB.style.display = '';\n"
    "measure(ascii);\n"
    "layout(true);\n"
    "})();\n";

static int sampler__svg_write(FILE *f, sampler__fnode *root, const char *title,
                              double interval_s)
{
    sampler__svg s = {.f = f, .total = root->weight, .interval_s = interval_s};
    s.depth = sampler__tree_depth(root); /* the root row ("all") included */
    s.height = SVG_TOP + SVG_BOTTOM + (double)s.depth * SVG_FRAME_H;
    s.scale = root->weight ? (SVG_WIDTH - 2 * SVG_PAD) / (double)root->weight : 0.0;
    fprintf(f,
            "<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "data-total=\"%" PRIu64 "\" xmlns=\"http://www.w3.org/2000/svg\">\n"
            "<style>text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; }\n"
            "g.f text { pointer-events: none; font-kerning: none; "
            "font-variant-ligatures: none; }\n"
            "g.f:hover rect { stroke: #000; stroke-width: 0.5; }\n"
            ".fg-hid { display: none; } .fg-anc { opacity: 0.5; }\n"
            ".fg-ctl { fill: #1a4f99; cursor: pointer; } .fg-ctl:hover { text-decoration: "
            "underline; }</style>\n"
            "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n"
            "<text class=\"fg-title\" x=\"%d\" y=\"24\" text-anchor=\"middle\" "
            "style=\"font-size: 17px\">",
            (int)SVG_WIDTH, (int)s.height, (int)SVG_WIDTH, (int)s.height, s.total, SVG_FONT,
            (int)(SVG_WIDTH / 2));
    sampler__xml_text(f, title, SIZE_MAX);
    fputs("</text>\n", f);
    /* the controls: shown by the script (a picture without it has none) */
    fprintf(f,
            "<text class=\"fg-ctl fg-unzoom\" x=\"%d\" y=\"24\" style=\"display: none\">"
            "Reset zoom</text>\n"
            "<text class=\"fg-ctl fg-clear\" x=\"%d\" y=\"24\" text-anchor=\"end\" "
            "style=\"display: none\">Reset search</text>\n"
            "<text class=\"fg-ctl fg-search\" x=\"%d\" y=\"24\" text-anchor=\"end\" "
            "style=\"display: none\">Search</text>\n"
            "<text class=\"fg-details\" x=\"%d\" y=\"%d\"></text>\n"
            "<text class=\"fg-matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n",
            (int)SVG_PAD, (int)(SVG_WIDTH - SVG_PAD - 60), (int)(SVG_WIDTH - SVG_PAD),
            (int)SVG_PAD, (int)s.height - 10, (int)(SVG_WIDTH - SVG_PAD), (int)s.height - 10);
    sampler__svg_node(&s, root, 0, 0);
    fputs("<script type=\"text/ecmascript\"><![CDATA[\n", f);
    fputs(sampler__svg_script, f);
    fputs("]]></script>\n</svg>\n", f);
    return ferror(f) ? SAMPLER_EIO : 0;
}

int sampler_profile_write_svg(sampler_profile *p, const char *path, unsigned int flags)
{
    if (p == NULL || path == NULL || (flags & ~SAMPLER__PROFILE_FLAGS) != 0)
        return SAMPLER_EINVAL;
    sampler_profile_totals tot;
    int rc = sampler_profile_get_totals(p, &tot, sizeof tot);
    if (rc < 0)
        return rc;
    sampler__nstack *head;
    rc = sampler__nstacks_build(p, flags, &head);
    if (rc < 0)
        return rc;
    sampler__fnode *root = calloc(1, sizeof *root);
    if (root == NULL) {
        sampler__nstacks_free(head);
        return SAMPLER_ENOMEM;
    }
    root->name = "all";
    for (sampler__nstack *n = head; n != NULL && rc == 0; n = n->hh.next)
        rc = sampler__tree_add(root, n);
    if (rc == 0) {
        FILE *f = fopen(path, "we");
        if (f == NULL) {
            rc = SAMPLER_EIO;
        } else {
            rc = sampler__svg_write(f, root, "CPU flame graph (libsampler)",
                                    (double)tot.interval_ns / 1e9);
            if (fclose(f) != 0 && rc == 0)
                rc = SAMPLER_EIO;
        }
    }
    sampler__fnode_free(root);
    sampler__nstacks_free(head);
    return rc;
}
