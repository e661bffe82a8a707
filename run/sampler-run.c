/*
 * sampler-run: profile every thread of an unmodified, dynamically linked
 * program with libsampler.
 *
 *   sampler-run [-F HZ | -i INTERVAL] [-o FILE] [--format FMT]
 *               [--walker fp|libunwind] [--clock cpu|wall] [--buffer SAMPLES]
 *               [--follow-fork] [-q] -- CMD ARGS...
 *
 * It checks its options, puts them into SAMPLER_RUN_* environment variables
 * (run/sampler_run.h), prepends libsampler-preload.so to LD_PRELOAD and execs
 * CMD: the exit status is CMD's own. The preload module does the profiling
 * and prints the summary line when CMD exits.
 */
#include <config.h>

#include "sampler_run.h"

#include <sampler.h>
#include <sampler/profile.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PFX "sampler-run: "
#define EXIT_USAGE 2

/* The format names of libsampler-profile's table, "a, b or c". */
static const char *format_names(void)
{
    static char buf[256];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; sampler_profile_format_at(i) != NULL; i++) {
        const char *sep = i == 0                                   ? ""
                          : sampler_profile_format_at(i + 1) == NULL ? " or "
                                                                     : ", ";
        n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s", sep,
                              sampler_profile_format_at(i)->name);
    }
    return buf;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: sampler-run [OPTIONS] [--] CMD [ARGS...]\n"
            "Profile every thread of CMD (a dynamically linked program) with libsampler.\n"
            "\n"
            "  -F, --frequency HZ    samples per second of CPU time (default %.0f)\n"
            "  -i, --interval TIME   time between samples instead, with a unit:\n"
            "                        ns, us, ms or s (e.g. 4ms, 500us; no unit: ms)\n"
            "  -o, --output FILE     profile file (default: sampler plus the format's\n"
            "                        extension, sampler%s for %s)\n"
            "  -f, --format FMT      the format (default: the one FILE's extension names,\n"
            "                        else %s):\n",
            1e9 / (double)SAMPLER_DEFAULT_INTERVAL_NS,
            sampler_profile_format_find(SAMPLER_PROFILE_DEFAULT_FORMAT)->extension,
            SAMPLER_PROFILE_DEFAULT_FORMAT, SAMPLER_PROFILE_DEFAULT_FORMAT);
    /* "    NAME     .EXT      description": a name or extension too long for
     * its column puts the description on a line of its own, in its column */
    for (size_t i = 0; sampler_profile_format_at(i) != NULL; i++) {
        const sampler_profile_format *fmt = sampler_profile_format_at(i);
        const char *na = fmt->available ? "" : " [not built in]";
        if (strlen(fmt->name) > 8 || strlen(fmt->extension) > 9)
            fprintf(f, "    %s %s%s\n%23s%s\n", fmt->name, fmt->extension, na, "",
                    fmt->description);
        else
            fprintf(f, "    %-8s %-9s %s%s\n", fmt->name, fmt->extension, fmt->description, na);
    }
    fprintf(f,
            "  -w, --walker W        libunwind (whole stacks through code without frame\n"
            "                        pointers; the default when built in) or fp (frame\n"
            "                        pointers only: cheaper, short stacks in distro code)\n"
            "  -c, --clock C         cpu (CPU time, default) or wall (idle threads too)\n"
            "  -s, --signal SIG      the timers' signal: PROF (default), VTALRM, ALRM,\n"
            "                        USR1, USR2 or RTMIN+N; a program that handles\n"
            "                        SIGPROF itself (GNU sort) needs another, RTMIN+4\n"
            "  -b, --buffer SAMPLES  samples the buffer holds between two drains (every\n"
            "                        20 ms; default 16384); a full buffer drops samples\n"
            "      --follow-fork     profile child processes too: one file per process,\n"
            "                        FILE.PID\n"
            "  -q, --quiet           no summary line at exit (dropped samples are still\n"
            "                        reported)\n"
            "  -h, --help            this text\n"
            "  -V, --version         the version\n"
            "\n"
            "The profile is written when CMD exits normally (exit() or return from main);\n"
            "the exit status is CMD's. Environment: " SAMPLER_RUN_ENV_PRELOAD
            " names the preload\nmodule to use.\n");
}

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, PFX);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nTry 'sampler-run --help'.\n");
    return EXIT_USAGE;
}

/* "-i" value: a decimal number with an optional unit. 0 or a value in ns. */
static unsigned long long parse_interval(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(v) || v <= 0)
        return 0;
    double mul;
    if (strcmp(end, "ns") == 0)
        mul = 1;
    else if (strcmp(end, "us") == 0)
        mul = 1e3;
    else if (strcmp(end, "ms") == 0 || *end == '\0')
        mul = 1e6;
    else if (strcmp(end, "s") == 0)
        mul = 1e9;
    else
        return 0;
    double ns = v * mul;
    if (ns < (double)SAMPLER_INTERVAL_MIN_NS || ns > (double)SAMPLER_INTERVAL_MAX_NS)
        return 0;
    return (unsigned long long)llround(ns);
}

/* "DIR/MODULE" into out; 0 when it fits and is readable. */
static int try_module(char *out, size_t size, const char *dir)
{
    return (size_t)snprintf(out, size, "%s/%s", dir, SAMPLER_RUN_MODULE) < size &&
                   access(out, R_OK) == 0
               ? 0
               : -1;
}

/* The way from BINDIR to PKGLIBDIR as configured ("../lib/libsampler" for
 * the usual layout) into rel: up past the directories of BINDIR that
 * PKGLIBDIR does not share, then down PKGLIBDIR's own. */
static int bindir_to_pkglibdir(char *rel, size_t size)
{
    const char *b = BINDIR, *p = PKGLIBDIR;
    for (;;) { /* skip the leading directories both have */
        while (*b == '/')
            b++;
        while (*p == '/')
            p++;
        size_t nb = strcspn(b, "/"), np = strcspn(p, "/");
        if (nb == 0 || nb != np || strncmp(b, p, nb) != 0)
            break;
        b += nb;
        p += np;
    }
    size_t len = 0;
    rel[0] = '\0';
    for (; *b != '\0'; b += strcspn(b, "/")) { /* one ".." per directory left in b */
        while (*b == '/')
            b++;
        if (*b != '\0' && (len += 3) < size)
            strcat(rel, "../");
    }
    if ((len += strlen(p) + 1) >= size)
        return -1;
    strcat(rel, *p != '\0' ? p : ".");
    return 0;
}

/* The preload module: $SAMPLER_RUN_PRELOAD; next to this program (the build
 * tree: run/ or libtool's run/.libs/); where `make install` put it relative
 * to this program (PKGLIBDIR seen from BINDIR: an install under another
 * prefix given at make time, or moved by DESTDIR); else PKGLIBDIR. */
static int find_module(char *out, size_t size)
{
    const char *env = getenv(SAMPLER_RUN_ENV_PRELOAD);
    if (env != NULL && *env != '\0') {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, PFX "%s='%s': %s\n", SAMPLER_RUN_ENV_PRELOAD, env,
                    strerror(errno));
            return -1;
        }
        snprintf(out, size, "%s", env);
        return 0;
    }
    char exe[PATH_MAX], dir[PATH_MAX + 16], rel[PATH_MAX];
    const char *installed = NULL;
    /* The kernel's path of this program: symbolic links resolved. */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(dir, sizeof dir, "%s/.libs", exe);
            if (try_module(out, size, dir) == 0 || try_module(out, size, exe) == 0)
                return 0;
            if (bindir_to_pkglibdir(rel, sizeof rel) == 0 &&
                (size_t)snprintf(dir, sizeof dir, "%s/%s", exe, rel) < sizeof dir) {
                if (try_module(out, size, dir) == 0)
                    return 0;
                installed = dir;
            }
        }
    }
    if (try_module(out, size, PKGLIBDIR) == 0)
        return 0;
    fprintf(stderr,
            PFX "cannot find %s (looked next to this program, in %s%s%s); set %s to "
                "its path\n",
            SAMPLER_RUN_MODULE, installed != NULL ? installed : "",
            installed != NULL ? " and in " : "", PKGLIBDIR, SAMPLER_RUN_ENV_PRELOAD);
    return -1;
}

int main(int argc, char **argv)
{
    enum { OPT_FOLLOW_FORK = 256 };
    static const struct option opts[] = {
        {"frequency", required_argument, NULL, 'F'},
        {"interval", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"walker", required_argument, NULL, 'w'},
        {"clock", required_argument, NULL, 'c'},
        {"signal", required_argument, NULL, 's'},
        {"buffer", required_argument, NULL, 'b'},
        {"follow-fork", no_argument, NULL, OPT_FOLLOW_FORK},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    unsigned long long interval_ns = SAMPLER_DEFAULT_INTERVAL_NS;
    int have_rate = 0, follow_fork = 0, quiet = 0;
    const char *output = NULL, *walker = NULL, *clock = "cpu";
    const sampler_profile_format *format = NULL;
    const char *buffer = "";
    int c;
    opterr = 0;
    /* '+': stop at CMD, so that `sampler-run prog -x` passes -x to prog. */
    const char *signame = NULL;
    while ((c = getopt_long(argc, argv, "+:F:i:o:f:w:c:s:b:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'F': {
            char *end;
            errno = 0;
            double hz = strtod(optarg, &end);
            if (have_rate++)
                return bad("give -F or -i once%s%s", "", "");
            if (errno != 0 || end == optarg || *end != '\0' || !isfinite(hz) || hz <= 0 ||
                1e9 / hz < (double)SAMPLER_INTERVAL_MIN_NS ||
                1e9 / hz > (double)SAMPLER_INTERVAL_MAX_NS)
                return bad("-F '%s': not a frequency in Hz between 1/3600 and 10000%s",
                           optarg, "");
            interval_ns = (unsigned long long)llround(1e9 / hz);
            break;
        }
        case 'i':
            if (have_rate++)
                return bad("give -F or -i once%s%s", "", "");
            interval_ns = parse_interval(optarg);
            if (interval_ns == 0)
                return bad("-i '%s': not an interval between 100us and 3600s (e.g. 10ms, "
                           "500us)%s",
                           optarg, "");
            break;
        case 'o':
            output = optarg;
            break;
        case 'f':
            format = sampler_profile_format_find(optarg);
            if (format == NULL)
                return bad("--format '%s': use %s", optarg, format_names());
            break;
        case 'w':
            if (strcmp(optarg, "fp") && strcmp(optarg, "libunwind"))
                return bad("--walker '%s': use fp or libunwind%s", optarg, "");
            walker = optarg;
            break;
        case 'c':
            if (strcmp(optarg, "cpu") && strcmp(optarg, "wall"))
                return bad("--clock '%s': use cpu or wall%s", optarg, "");
            clock = optarg;
            break;
        case 's':
            if (sampler_run_parse_signal(optarg) < 0)
                return bad("--signal '%s': use PROF, VTALRM, ALRM, USR1, USR2 or RTMIN+N%s",
                           optarg, "");
            signame = optarg;
            break;
        case 'b': {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' || n < 1 ||
                n > SAMPLER_BUFFER_MAX) {
                char max[24];
                snprintf(max, sizeof max, "%u", (unsigned)SAMPLER_BUFFER_MAX);
                return bad("--buffer '%s': not a number of samples between 1 and %s", optarg,
                           max);
            }
            buffer = optarg;
            break;
        }
        case OPT_FOLLOW_FORK:
            follow_fork = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("sampler-run (libsampler) %s\n", sampler_version_string());
            return 0;
        case ':':
            return bad("option '%s' needs a value%s", argv[optind - 1], "");
        default:
            return bad("unknown option '%s'%s", argv[optind - 1], "");
        }
    }
    if (optind >= argc) {
        fprintf(stderr, PFX "no command to run\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    if (format == NULL && output != NULL)
        format = sampler_profile_format_for_path(output);
    if (format == NULL)
        format = sampler_profile_format_find(SAMPLER_PROFILE_DEFAULT_FORMAT);
    if (!format->available) {
        fprintf(stderr,
                PFX "this libsampler cannot write %s: it was built without what the format "
                    "needs (see configure's summary); use another --format (%s)\n",
                format->name, format_names());
        return EXIT_USAGE;
    }
    if (walker == NULL) /* whole stacks where the library can walk them */
#ifdef SAMPLER_RUN_HAVE_UNWIND_API
        walker = sampler_walk_libunwind_available() ? "libunwind" : "fp";
#else
        walker = "fp";
#endif
    if (strcmp(walker, "libunwind") == 0) {
#ifdef SAMPLER_RUN_HAVE_UNWIND_API
        if (!sampler_walk_libunwind_available()) {
#else
        {
#endif
            fprintf(stderr, PFX "this libsampler was built without the libunwind walker "
                            "(install libunwind-dev and reconfigure); use --walker fp\n");
            return EXIT_USAGE;
        }
    }

    char out_abs[PATH_MAX], out_default[64];
    if (output == NULL) {
        snprintf(out_default, sizeof out_default, "sampler%s", format->extension);
        output = out_default;
    }
    if (output[0] == '/')
        snprintf(out_abs, sizeof out_abs, "%s", output);
    else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL ||
            (size_t)snprintf(out_abs, sizeof out_abs, "%s/%s", cwd, output) >= sizeof out_abs) {
            fprintf(stderr, PFX "cannot make '%s' an absolute path\n", output);
            return EXIT_USAGE;
        }
    }

    char module[PATH_MAX];
    if (find_module(module, sizeof module) < 0)
        return EXIT_USAGE;
    if (strpbrk(module, " :") != NULL) {
        fprintf(stderr, PFX "the preload module's path '%s' has a space or colon, which "
                        "LD_PRELOAD cannot carry\n", module);
        return EXIT_USAGE;
    }

    char buf[32];
    snprintf(buf, sizeof buf, "%llu", interval_ns);
    const char *old = getenv("LD_PRELOAD");
    char *preload = NULL;
    if (old != NULL && *old != '\0') {
        preload = malloc(strlen(module) + strlen(old) + 2);
        if (preload != NULL)
            sprintf(preload, "%s:%s", module, old);
    } else
        preload = strdup(module);
    if (preload == NULL || setenv(SAMPLER_RUN_ENV_INTERVAL, buf, 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_OUTPUT, out_abs, 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_FORMAT, format->name, 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_WALKER, walker, 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_CLOCK, clock, 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_SIGNAL, signame != NULL ? signame : "", 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_BUFFER, buffer, 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_FOLLOW_FORK, follow_fork ? "1" : "0", 1) != 0 ||
        setenv(SAMPLER_RUN_ENV_QUIET, quiet ? "1" : "0", 1) != 0 ||
        setenv("LD_PRELOAD", preload, 1) != 0) {
        fprintf(stderr, PFX "out of memory\n");
        return EXIT_USAGE;
    }
    free(preload);

    execvp(argv[optind], argv + optind);
    int err = errno;
    fprintf(stderr, PFX "cannot run '%s': %s\n", argv[optind], strerror(err));
    return err == ENOENT ? 127 : 126;
}
