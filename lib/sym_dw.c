/* Symbolizer backend: elfutils libdw (dwfl) on this very process. Function
 * names from the symbol tables (static functions too), file:line from DWARF
 * where present, shared libraries and PIE, build ids. Modules loaded after the
 * last report (dlopen) are found by reporting /proc/self/maps again once per
 * unknown address. */
#include "profile.h"

#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sampler__symbolizer {
    Dwfl *dwfl;
    Dwfl_Callbacks cb;    /* dwfl keeps a pointer to it */
    char *debuginfo_path; /* NULL: the default search path */
};

unsigned int sampler__sym_features(void)
{
    return SAMPLER_PROFILE_HAVE_LIBDW;
}

static int sampler__dw_report(sampler__symbolizer *s)
{
    dwfl_report_begin(s->dwfl);
    int rc = dwfl_linux_proc_report(s->dwfl, getpid());
    if (dwfl_report_end(s->dwfl, NULL, NULL) != 0)
        return -1;
    return rc == 0 ? 0 : -1;
}

sampler__symbolizer *sampler__sym_open(void)
{
    sampler__symbolizer *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cb.find_elf = dwfl_linux_proc_find_elf;
    s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    s->cb.debuginfo_path = &s->debuginfo_path;
    s->dwfl = dwfl_begin(&s->cb);
    if (s->dwfl == NULL) {
        free(s);
        return NULL;
    }
    sampler__dw_report(s);
    return s;
}

void sampler__sym_close(sampler__symbolizer *s)
{
    if (s == NULL)
        return;
    dwfl_end(s->dwfl);
    free(s);
}

static Dwfl_Module *sampler__dw_module(sampler__symbolizer *s, uintptr_t addr)
{
    Dwfl_Module *m = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)addr);
    if (m == NULL && sampler__dw_report(s) == 0)
        m = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)addr);
    return m;
}

int sampler__sym_lookup(sampler__symbolizer *s, uintptr_t addr, sampler__sym_result *out)
{
    memset(out, 0, sizeof *out);
    if (addr == 0)
        return 0;
    Dwfl_Module *m = sampler__dw_module(s, addr);
    if (m == NULL)
        return 0;
    Dwarf_Addr start = 0, end = 0;
    const char *mname = dwfl_module_info(m, NULL, &start, &end, NULL, NULL, NULL, NULL);
    if (mname != NULL) {
        out->module = strdup(mname);
        if (out->module == NULL)
            return SAMPLER_ENOMEM;
        out->module_start = (uintptr_t)start;
    }
    GElf_Off off = 0;
    GElf_Sym sym;
    const char *fn = dwfl_module_addrinfo(m, (GElf_Addr)addr, &off, &sym, NULL, NULL, NULL);
    if (fn != NULL && fn[0] != '\0') {
        out->func = strdup(fn);
        if (out->func == NULL)
            goto oom;
    }
    Dwfl_Line *line = dwfl_module_getsrc(m, (Dwarf_Addr)addr);
    if (line != NULL) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (file != NULL) {
            out->file = strdup(file);
            if (out->file == NULL)
                goto oom;
            out->line = lineno;
        }
    }
    return 0;
oom:
    free(out->module);
    free(out->func);
    free(out->file);
    memset(out, 0, sizeof *out);
    return SAMPLER_ENOMEM;
}

char *sampler__sym_build_id(sampler__symbolizer *s, uintptr_t addr)
{
    Dwfl_Module *m = sampler__dw_module(s, addr);
    if (m == NULL)
        return NULL;
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(m, &bits, &vaddr);
    if (n <= 0 || bits == NULL)
        return NULL;
    char *hex = malloc((size_t)n * 2 + 1);
    if (hex == NULL)
        return NULL;
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        hex[2 * i] = digits[bits[i] >> 4];
        hex[2 * i + 1] = digits[bits[i] & 15];
    }
    hex[2 * n] = '\0';
    return hex;
}
