/* SVG flame graph writer: self-contained (no scripts), one <rect> per frame
 * with a <title> tooltip, the name as text where it fits. Root at the
 * bottom, callees above their callers, children sorted by name (as
 * flamegraph.pl does), widths proportional to weight. */
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

static void sampler__xml_text(FILE *f, const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (c < 0x20)
                fputc('?', f);
            else
                fputc(c, f);
        }
    }
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
    int depth;    /* rows */
    double height;
} sampler__svg;

static void sampler__svg_node(sampler__svg *s, sampler__fnode *n, double x, int level)
{
    double w = (double)n->weight * s->scale;
    if (w < SVG_MIN_W)
        return;
    double y = s->height - SVG_BOTTOM - (double)(level + 1) * SVG_FRAME_H;
    int r, g, b;
    sampler__color(n->name, &r, &g, &b);
    FILE *f = s->f;
    fputs("<g><title>", f);
    sampler__xml_text(f, n->name, SIZE_MAX);
    fprintf(f, " (%" PRIu64 " samples, %.2f%%)</title>", n->weight,
            s->total ? 100.0 * (double)n->weight / (double)s->total : 0.0);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>",
            x, y, w, SVG_FRAME_H - 1, r, g, b);
    size_t fit = (size_t)((w - 6.0) / SVG_CHAR_W);
    if (fit >= 3) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3.0, y + SVG_FRAME_H - 4.5);
        size_t len = strlen(n->name);
        if (len <= fit) {
            sampler__xml_text(f, n->name, len);
        } else {
            sampler__xml_text(f, n->name, fit - 2);
            fputs("..", f);
        }
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    HASH_SORT(n->children, sampler__fnode_cmp);
    double cx = x;
    for (sampler__fnode *c = n->children; c != NULL; c = c->hh.next) {
        sampler__svg_node(s, c, cx, level + 1);
        cx += (double)c->weight * s->scale;
    }
}

static int sampler__svg_write(FILE *f, sampler__fnode *root, const char *title)
{
    sampler__svg s = {.f = f, .total = root->weight};
    s.depth = sampler__tree_depth(root); /* the root row ("all") included */
    s.height = SVG_TOP + SVG_BOTTOM + (double)s.depth * SVG_FRAME_H;
    s.scale = root->weight ? (SVG_WIDTH - 2 * SVG_PAD) / (double)root->weight : 0.0;
    fprintf(f,
            "<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n"
            "<style>text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; "
            "pointer-events: none; } rect:hover { stroke: #000; stroke-width: 0.5; }</style>\n"
            "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n"
            "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" style=\"font-size: 17px\">",
            (int)SVG_WIDTH, (int)s.height, (int)SVG_WIDTH, (int)s.height, SVG_FONT,
            (int)(SVG_WIDTH / 2));
    sampler__xml_text(f, title, SIZE_MAX);
    fputs("</text>\n", f);
    sampler__svg_node(&s, root, SVG_PAD, 0);
    fputs("</svg>\n", f);
    return ferror(f) ? SAMPLER_EIO : 0;
}

int sampler_profile_write_svg(sampler_profile *p, const char *path, unsigned int flags)
{
    if (p == NULL || path == NULL || (flags & ~SAMPLER__PROFILE_FLAGS) != 0)
        return SAMPLER_EINVAL;
    sampler__nstack *head;
    int rc = sampler__nstacks_build(p, flags, &head);
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
            rc = sampler__svg_write(f, root, "CPU flame graph (libsampler)");
            if (fclose(f) != 0 && rc == 0)
                rc = SAMPLER_EIO;
        }
    }
    sampler__fnode_free(root);
    sampler__nstacks_free(head);
    return rc;
}
