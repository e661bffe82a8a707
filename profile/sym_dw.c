/* Symbolizer backend: elfutils libdw (dwfl). Function names from the symbol
 * tables (static functions too), file:line from DWARF where present, shared
 * libraries and PIE. Two ways to a module:
 * - live: one Dwfl with this very process reported (dwfl_linux_proc_report,
 *   from /proc/self/maps); the profile reports it again after the loaded
 *   objects changed (sampler__sym_refresh) before it trusts it;
 * - from the file: a module no longer loaded (dlclose) gets a Dwfl of its
 *   own with its file reported at its old load address, used only if the
 *   file's build id is the one the profile read from memory while it was
 *   loaded. */
#include "internal.h"

#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sampler__symbolizer {
    Dwfl *dwfl;
    Dwfl_Callbacks cb;    /* dwfl keeps a pointer to it */
    char *debuginfo_path; /* NULL: the default search path */
};

/* Where separate debug files are looked for (by build id under
 * DIR/.build-id/, and by .gnu_debuglink): $SAMPLER_DEBUGINFO_PATH (libdwfl's
 * syntax, e.g. "/opt/debug:/usr/lib/debug"), else libdwfl's default
 * (":.debug:/usr/lib/debug", where Debian's -dbgsym packages install). NULL
 * for the default or out of memory (then the default too). */
static char *sampler__dw_debuginfo_path(void)
{
    const char *env = getenv("SAMPLER_DEBUGINFO_PATH");
    return env != NULL && env[0] != '\0' ? strdup(env) : NULL;
}

/* m->sym: one unloaded module's file. */
typedef struct sampler__dw_file {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwfl_Callbacks cb;
    char *debuginfo_path;
} sampler__dw_file;

unsigned int sampler__sym_features(void)
{
    return SAMPLER_PROFILE_HAVE_LIBDW;
}

int sampler__sym_refresh(sampler__symbolizer *s)
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
    s->debuginfo_path = sampler__dw_debuginfo_path();
    s->cb.debuginfo_path = &s->debuginfo_path;
    s->dwfl = dwfl_begin(&s->cb);
    if (s->dwfl == NULL) {
        free(s->debuginfo_path);
        free(s);
        return NULL;
    }
    return s; /* reported by the first sampler__sym_refresh() */
}

void sampler__sym_close(sampler__symbolizer *s)
{
    if (s == NULL)
        return;
    dwfl_end(s->dwfl);
    free(s->debuginfo_path);
    free(s);
}

void sampler__sym_module_free(sampler__module *m)
{
    sampler__dw_file *f = m->sym;
    if (f != NULL) {
        dwfl_end(f->dwfl);
        free(f->debuginfo_path);
        free(f);
    }
    m->sym = NULL;
    m->sym_tried = false;
}

/* Whether dwfl module dm is m: same build id (when m has one) and start. */
static bool sampler__dw_is(Dwfl_Module *dm, const sampler__module *m, bool need_build_id)
{
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(dm, &bits, &vaddr);
    if (m->build_id_len > 0 || need_build_id) {
        if (n <= 0 || bits == NULL || (size_t)n != m->build_id_len ||
            memcmp(bits, m->build_id, m->build_id_len) != 0)
            return false;
    }
    Dwarf_Addr start = 0;
    dwfl_module_info(dm, NULL, &start, NULL, NULL, NULL, NULL, NULL);
    return need_build_id || (uintptr_t)start == m->lo;
}

/* m's file reported alone at m's load address, if its build id is m's. */
static sampler__dw_file *sampler__dw_file_open(const sampler__module *m)
{
    if (m->build_id_len == 0 || m->path[0] != '/')
        return NULL; /* nothing to prove the file is the one that was loaded */
    sampler__dw_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    f->cb.section_address = dwfl_offline_section_address;
    f->debuginfo_path = sampler__dw_debuginfo_path();
    f->cb.debuginfo_path = &f->debuginfo_path;
    f->dwfl = dwfl_begin(&f->cb);
    if (f->dwfl == NULL) {
        free(f->debuginfo_path);
        free(f);
        return NULL;
    }
    const char *base = strrchr(m->path, '/') + 1;
    dwfl_report_begin(f->dwfl);
    f->mod = dwfl_report_elf(f->dwfl, base, m->path, -1, (GElf_Addr)m->base, false);
    if (dwfl_report_end(f->dwfl, NULL, NULL) != 0 || f->mod == NULL ||
        !sampler__dw_is(f->mod, m, true)) {
        dwfl_end(f->dwfl);
        free(f->debuginfo_path);
        free(f);
        return NULL;
    }
    return f;
}

static int sampler__dw_addr(Dwfl_Module *dm, uintptr_t addr, sampler__sym_result *out)
{
    GElf_Off off = 0;
    GElf_Sym sym;
    const char *fn =
        dwfl_module_addrinfo(dm, (GElf_Addr)addr, &off, &sym, NULL, NULL, NULL);
    if (fn != NULL && fn[0] != '\0') {
        out->func = strdup(fn);
        if (out->func == NULL)
            goto oom;
    }
    Dwfl_Line *line = dwfl_module_getsrc(dm, (Dwarf_Addr)addr);
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
    free(out->func);
    free(out->file);
    memset(out, 0, sizeof *out);
    return SAMPLER_ENOMEM;
}

int sampler__sym_lookup(sampler__symbolizer *s, sampler__module *m, uintptr_t addr,
                        bool live, sampler__sym_result *out)
{
    memset(out, 0, sizeof *out);
    if (addr == 0)
        return 0;
    if (live && s != NULL) {
        Dwfl_Module *dm = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)addr);
        if (dm != NULL && sampler__dw_is(dm, m, false))
            return sampler__dw_addr(dm, addr, out);
        /* not the object the profile knows there: try its file */
    }
    if (!m->sym_tried) {
        m->sym_tried = true;
        m->sym = sampler__dw_file_open(m);
    }
    sampler__dw_file *f = m->sym;
    if (f == NULL)
        return 0; /* named module+offset */
    return sampler__dw_addr(f->mod, addr, out);
}
