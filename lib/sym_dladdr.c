/* Symbolizer backend without libdw: dladdr(). Names only exported (dynamic)
 * symbols, so link programs with -rdynamic; no file:line, no build ids. */
#include "profile.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

struct sampler__symbolizer {
    int unused;
};

unsigned int sampler__sym_features(void)
{
    return 0;
}

sampler__symbolizer *sampler__sym_open(void)
{
    return calloc(1, sizeof(sampler__symbolizer));
}

void sampler__sym_close(sampler__symbolizer *s)
{
    free(s);
}

int sampler__sym_lookup(sampler__symbolizer *s, uintptr_t addr, sampler__sym_result *out)
{
    (void)s;
    memset(out, 0, sizeof *out);
    Dl_info info;
    if (addr == 0 || dladdr((void *)addr, &info) == 0)
        return 0;
    if (info.dli_sname != NULL && info.dli_saddr != NULL) {
        out->func = strdup(info.dli_sname);
        if (out->func == NULL)
            return SAMPLER_ENOMEM;
    }
    if (info.dli_fname != NULL && info.dli_fname[0] != '\0') {
        out->module = strdup(info.dli_fname);
        if (out->module == NULL) {
            free(out->func);
            out->func = NULL;
            return SAMPLER_ENOMEM;
        }
        out->module_start = (uintptr_t)info.dli_fbase;
    }
    return 0;
}

char *sampler__sym_build_id(sampler__symbolizer *s, uintptr_t addr)
{
    (void)s;
    (void)addr;
    return NULL;
}
