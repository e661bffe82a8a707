/* speedscope JSON writer (https://www.speedscope.app/file-format-schema.json):
 * the frames shared by every profile, then one "sampled" profile per thread,
 * each stack a list of frame indices (outermost first) with its weight in
 * nanoseconds of CPU. Built from the name stacks of folded.c, so frames are
 * named as in the other formats. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

typedef struct sampler__ssframe {
    UT_hash_handle hh; /* key: name */
    const char *name;  /* points into a name stack (alive while writing) */
    size_t index;
} sampler__ssframe;

/* Stacks grouped by thread: the thread's label first, then the stack. */
static int sampler__ss_cmp(const void *a, const void *b)
{
    const sampler__nstack *x = *(const sampler__nstack *const *)a;
    const sampler__nstack *y = *(const sampler__nstack *const *)b;
    int c = strcmp(x->names[0], y->names[0]);
    return c != 0 ? c : strcmp(x->text, y->text);
}

/* The length of the UTF-8 sequence at s (1 to 4), or 0 if it is not valid
 * (overlong, a surrogate, above U+10FFFF, cut short). */
static size_t sampler__utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also the terminating NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* s as a JSON string, quotes included: control characters escaped, bytes
 * that are not UTF-8 written as U+FFFD. */
static void sampler__json_str(FILE *f, const char *str)
{
    static const char from[] = "\"\\\n\r\t\b\f", to[] = "\"\\nrtbf";
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s != '\0') {
        const char *e = strchr(from, *s);
        size_t n = 1;
        if (e != NULL) {
            fputc('\\', f);
            fputc(to[e - from], f);
        } else if (*s < 0x20) {
            fprintf(f, "\\u%04x", *s);
        } else if ((n = sampler__utf8_len(s)) == 0) {
            fputs("\\ufffd", f);
            n = 1;
        } else {
            fwrite(s, 1, n, f);
        }
        s += n;
    }
    fputc('"', f);
}

static void sampler__ssframes_free(sampler__ssframe *head)
{
    sampler__ssframe *fr, *tmp;
    HASH_ITER(hh, head, fr, tmp)
    {
        HASH_DEL(head, fr);
        free(fr);
    }
}

/* The frames of every stack (names[1..]), numbered in order of first use. */
static int sampler__ss_frames(sampler__nstack **v, size_t n, sampler__ssframe **head,
                              const char ***names, size_t *count)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 1; k < v[i]->n; k++) {
            sampler__ssframe *fr;
            const char *name = v[i]->names[k];
            HASH_FIND_STR(*head, name, fr);
            if (fr != NULL)
                continue;
            if (*count == cap) {
                size_t ncap = cap != 0 ? cap * 2 : 256;
                const char **nv = realloc(*names, ncap * sizeof *nv);
                if (nv == NULL)
                    return SAMPLER_ENOMEM;
                *names = nv;
                cap = ncap;
            }
            fr = malloc(sizeof *fr);
            if (fr == NULL)
                return SAMPLER_ENOMEM;
            fr->name = name;
            fr->index = *count;
            sampler__profile_oom = 0;
            HASH_ADD_KEYPTR(hh, *head, fr->name, strlen(fr->name), fr);
            if (sampler__profile_oom) {
                sampler__ssframe *chk;
                HASH_FIND_STR(*head, name, chk);
                if (chk == NULL) {
                    free(fr);
                    return SAMPLER_ENOMEM;
                }
            }
            (*names)[(*count)++] = name;
        }
    }
    return 0;
}

static void sampler__ss_write(FILE *f, sampler__nstack **v, size_t n,
                              sampler__ssframe *frames, const char **names,
                              size_t nframes, uint64_t interval)
{
    /* the heaviest thread is the one the viewer opens */
    size_t nprof = 0, active = 0;
    uint64_t best = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t w = 0;
        while (j < n && strcmp(v[j]->names[0], v[i]->names[0]) == 0)
            w += v[j++]->weight;
        if (w > best) {
            best = w;
            active = nprof;
        }
        nprof++;
        i = j;
    }

    fputs("{\"$schema\":\"" SPEEDSCOPE_SCHEMA "\",\n\"name\":", f);
    sampler__json_str(f, program_invocation_short_name);
    fprintf(f, ",\n\"exporter\":\"libsampler %s\",\n\"activeProfileIndex\":%zu,\n",
            sampler_version_string(), active);
    fputs("\"shared\":{\"frames\":[", f);
    for (size_t i = 0; i < nframes; i++) {
        fputs(i == 0 ? "\n{\"name\":" : ",\n{\"name\":", f);
        sampler__json_str(f, names[i]);
        fputc('}', f);
    }
    fputs("]},\n\"profiles\":[", f);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t w = 0;
        while (j < n && strcmp(v[j]->names[0], v[i]->names[0]) == 0)
            w += v[j++]->weight;
        fputs(i == 0 ? "\n{\"type\":\"sampled\",\"name\":"
                     : ",\n{\"type\":\"sampled\",\"name\":",
              f);
        sampler__json_str(f, v[i]->names[0]);
        fprintf(f,
                ",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%" PRIu64
                ",\n\"samples\":[",
                w * interval);
        for (size_t k = i; k < j; k++) {
            fputs(k == i ? "[" : ",\n[", f);
            for (int m = 1; m < v[k]->n; m++) {
                sampler__ssframe *fr;
                HASH_FIND_STR(frames, v[k]->names[m], fr);
                fprintf(f, m == 1 ? "%zu" : ",%zu", fr->index);
            }
            fputc(']', f);
        }
        fputs("],\n\"weights\":[", f);
        for (size_t k = i; k < j; k++)
            fprintf(f, k == i ? "%" PRIu64 : ",%" PRIu64, v[k]->weight * interval);
        fputs("]}", f);
        i = j;
    }
    fputs("]}\n", f);
}

int sampler_profile_write_speedscope(sampler_profile *p, const char *path,
                                     unsigned int flags)
{
    if (p == NULL || path == NULL || (flags & ~SAMPLER__PROFILE_FLAGS) != 0)
        return SAMPLER_EINVAL;
    /* every stack rooted at its thread: one profile per thread */
    sampler__nstack *head;
    int rc = sampler__nstacks_build(
        p, (flags & SAMPLER_PROFILE_ADDRESSES) | SAMPLER_PROFILE_THREADS, &head);
    if (rc < 0)
        return rc;
    sampler_profile_totals t;
    rc = sampler_profile_get_totals(p, &t, sizeof t);
    if (rc < 0) {
        sampler__nstacks_free(head);
        return rc;
    }
    size_t n = HASH_COUNT(head);
    sampler__nstack **v = malloc((n != 0 ? n : 1) * sizeof *v);
    sampler__ssframe *frames = NULL;
    const char **names = NULL;
    size_t nframes = 0;
    if (v == NULL) {
        rc = SAMPLER_ENOMEM;
        goto out;
    }
    size_t i = 0;
    for (sampler__nstack *ns = head; ns != NULL; ns = ns->hh.next)
        v[i++] = ns;
    qsort(v, n, sizeof *v, sampler__ss_cmp);
    rc = sampler__ss_frames(v, n, &frames, &names, &nframes);
    if (rc < 0)
        goto out;

    FILE *f = fopen(path, "we");
    if (f == NULL) {
        rc = SAMPLER_EIO;
        goto out;
    }
    sampler__ss_write(f, v, n, frames, names, nframes, t.interval_ns);
    int err = ferror(f) ? errno : 0;
    if (fclose(f) != 0 && err == 0)
        err = errno != 0 ? errno : EIO;
    if (err != 0) {
        rc = SAMPLER_EIO;
        errno = err;
    }
out:
    sampler__ssframes_free(frames);
    free(names);
    free(v);
    sampler__nstacks_free(head);
    return rc;
}
