/* Folded stacks ("root;...;leaf weight") and the name stacks they are made
 * from (also used by the SVG writer). */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void sampler__nstacks_free(sampler__nstack *head)
{
    sampler__nstack *n, *tmp;
    HASH_ITER(hh, head, n, tmp) {
        HASH_DEL(head, n);
        free(n->names);
        free(n->text);
        free(n->buf);
        free(n);
    }
}

/* Name of frame i of a stack's variant v; addrbuf holds it with ADDRESSES. */
static const char *sampler__frame_name(sampler_profile *p, const sampler__pstack *st,
                                       const sampler__pvar *v, int i, unsigned int flags,
                                       char *addrbuf, size_t size)
{
    uintptr_t pc = SAMPLER__PSTACK_PCS(st)[i];
    if ((flags & SAMPLER_PROFILE_ADDRESSES) && !sampler__word_is_client(pc)) {
        snprintf(addrbuf, size, "0x%" PRIxPTR, pc);
        return addrbuf;
    }
    const sampler__frame *f = sampler__profile_frame(p, st, v, i);
    return f != NULL ? f->name : NULL;
}

static int sampler__nstacks_build_locked(sampler_profile *p, unsigned int flags,
                                         sampler__nstack **out)
{
    sampler__nstack *head = NULL;
    const char **names = malloc((SAMPLER_MAX_DEPTH + 2) * sizeof *names);
    char(*addrs)[24] = malloc((SAMPLER_MAX_DEPTH + 1) * sizeof *addrs);
    if (names == NULL || addrs == NULL)
        goto oom;
    sampler__pstack *st, *tmp;
    /* one name stack per variant (stacks named against different loaded
     * objects); variants with the same names merge like other stacks */
    HASH_ITER(hh, p->stacks, st, tmp) {
        /* cppcheck-suppress uninitvar ; HASH_ITER sets st (cppcheck misses it) */
        for (int vi = 0; vi < st->nvar; vi++) {
            const sampler__pvar *v = &st->var[vi];
            int n = 0;
            if (flags & SAMPLER_PROFILE_THREADS) {
                /* cppcheck-suppress uninitvar ; HASH_ITER sets st (cppcheck misses it) */
                sampler__pthread *t = sampler__profile_thread(p, st->tid);
                names[n++] = t != NULL ? t->label : "[thread]";
            }
            if (st->depth == 0)
                names[n++] = "[no frames]";
            for (int i = st->depth - 1; i >= 0; i--) {
                if (sampler__word_is_extra(SAMPLER__PSTACK_PCS(st)[i]))
                    continue; /* part of the client frame before it */
                const char *nm =
                    sampler__frame_name(p, st, v, i, flags, addrs[i], sizeof addrs[i]);
                if (nm == NULL)
                    goto oom;
                names[n++] = nm;
            }
            size_t len = 0;
            for (int i = 0; i < n; i++)
                len += strlen(names[i]) + 1;
            char *text = malloc(len);
            if (text == NULL)
                goto oom;
            char *w = text;
            for (int i = 0; i < n; i++) {
                size_t l = strlen(names[i]);
                memcpy(w, names[i], l);
                w += l;
                *w++ = i + 1 < n ? ';' : '\0';
            }
            sampler__nstack *ns;
            HASH_FIND(hh, head, text, len - 1, ns);
            if (ns != NULL) {
                ns->weight += v->weight;
                free(text);
                continue;
            }
            ns = calloc(1, sizeof *ns);
            char *buf = malloc(len);
            char **nv = malloc((size_t)n * sizeof *nv);
            if (ns == NULL || buf == NULL || nv == NULL) {
                free(ns);
                free(buf);
                free(nv);
                free(text);
                goto oom;
            }
            memcpy(buf, text, len);
            char *c = buf;
            for (int i = 0; i < n; i++) {
                nv[i] = c;
                c += strlen(names[i]);
                *c++ = '\0';
            }
            ns->text = text;
            ns->buf = buf;
            ns->names = nv;
            ns->n = n;
            ns->weight = v->weight;
            sampler__profile_oom = 0;
            HASH_ADD_KEYPTR(hh, head, ns->text, len - 1, ns);
            if (sampler__profile_oom) {
                sampler__nstack *chk;
                HASH_FIND(hh, head, text, len - 1, chk);
                if (chk == NULL) {
                    free(nv);
                    free(buf);
                    free(text);
                    free(ns);
                    goto oom;
                }
            }
        }
    }
    free(names);
    free(addrs);
    *out = head;
    return 0;
oom:
    free(names);
    free(addrs);
    sampler__nstacks_free(head);
    *out = NULL;
    return SAMPLER_ENOMEM;
}

int sampler__nstacks_build(sampler_profile *p, unsigned int flags, sampler__nstack **out)
{
    pthread_mutex_lock(&p->lock);
    int rc = sampler__nstacks_build_locked(p, flags, out);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static int sampler__nstack_cmp(const sampler__nstack *a, const sampler__nstack *b)
{
    return strcmp(a->text, b->text);
}

int sampler_profile_write_folded(sampler_profile *p, FILE *out, unsigned int flags)
{
    if (p == NULL || out == NULL || (flags & ~SAMPLER__PROFILE_FLAGS) != 0)
        return SAMPLER_EINVAL;
    sampler__nstack *head;
    int rc = sampler__nstacks_build(p, flags, &head);
    if (rc < 0)
        return rc;
    HASH_SORT(head, sampler__nstack_cmp); /* stable output, easy to diff */
    for (sampler__nstack *n = head; n != NULL; n = n->hh.next)
        if (fprintf(out, "%s %" PRIu64 "\n", n->text, n->weight) < 0) {
            rc = SAMPLER_EIO;
            break;
        }
    if (rc == 0 && fflush(out) != 0)
        rc = SAMPLER_EIO;
    sampler__nstacks_free(head);
    return rc;
}

int sampler_profile_write_folded_path(sampler_profile *p, const char *path, unsigned int flags)
{
    if (p == NULL || path == NULL || (flags & ~SAMPLER__PROFILE_FLAGS) != 0)
        return SAMPLER_EINVAL;
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return SAMPLER_EIO;
    int rc = sampler_profile_write_folded(p, f, flags);
    int saved = errno;
    if (fclose(f) != 0 && rc == 0)
        rc = SAMPLER_EIO;
    else
        errno = saved;
    return rc;
}
