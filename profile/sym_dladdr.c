/* Symbolizer backend without libdw: dladdr(). Names only exported (dynamic)
 * symbols, so link programs with -rdynamic; no file:line. dladdr() asks the
 * loader about what is loaded now, so it is used only for a module the
 * profile knows to be loaded (and checks that dladdr's object starts where
 * the module does); a module unloaded since its samples were taken is named
 * module+offset by the profile. */
#include "internal.h"

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

int sampler__sym_refresh(sampler__symbolizer *s)
{
    (void)s;
    return 0; /* dladdr() always sees the loaded objects of the moment */
}

void sampler__sym_module_free(sampler__module *m)
{
    m->sym = NULL;
    m->sym_tried = false;
}

int sampler__sym_lookup(sampler__symbolizer *s, sampler__module *m, uintptr_t addr,
                        bool live, sampler__sym_result *out)
{
    (void)s;
    memset(out, 0, sizeof *out);
    Dl_info info;
    if (!live || addr == 0 || dladdr((void *)addr, &info) == 0)
        return 0;
    if ((uintptr_t)info.dli_fbase != m->lo)
        return 0; /* not the object the profile knows there */
    if (info.dli_sname != NULL && info.dli_saddr != NULL) {
        out->func = strdup(info.dli_sname);
        if (out->func == NULL)
            return SAMPLER_ENOMEM;
    }
    return 0;
}
