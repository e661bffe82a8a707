/*
 * libsampler-profile: the consumer side, a library of its own
 * (`pkg-config --static libsampler-profile`, -lsampler-profile -lsampler).
 * Includes <sampler.h>.
 *
 * A profile aggregates drained samples by (thread, stack) with their weights,
 * symbolizes the program counters when it is written, and writes folded
 * stacks, gzip'd pprof protobuf, an interactive SVG flame graph or
 * speedscope JSON.
 */
#ifndef SAMPLER_PROFILE_H
#define SAMPLER_PROFILE_H

#include <stdio.h>

#include <sampler.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/** @defgroup profile Profiles: aggregate, symbolize, write
 *
 * A ::sampler_profile collects samples (from sampler_drain(), or by itself
 * with sampler_profile_drain() or a background collector thread), keeps one
 * entry per distinct (thread, stack) with its summed weight, and writes them:
 *
 * - sampler_profile_write_folded(): folded stacks `root;...;leaf weight`
 *   (flamegraph.pl, speedscope, inferno);
 * - sampler_profile_write_pprof(): gzip'd pprof protobuf (`go tool pprof`,
 *   Pyroscope, Parca);
 * - sampler_profile_write_svg(): an interactive SVG flame graph (one file).
 * - sampler_profile_write_speedscope(): speedscope JSON, one profile per
 *   thread.
 *
 * Memory grows with the number of distinct stacks and threads, not with the
 * number of samples. Program counters are turned into function names (and
 * file:line where debug information exists) only when a profile is written:
 * with elfutils libdw when the library was built with it (static functions
 * too, shared libraries and PIE), otherwise with dladdr() (exported symbols
 * only: link programs with `-rdynamic`). With libdw, separate debug files are
 * found by build id and `.gnu_debuglink` where Debian's -dbgsym packages put
 * them (`/usr/lib/debug`), or on the path in the environment variable
 * `SAMPLER_DEBUGINFO_PATH` (libdwfl's syntax: directories separated by `:`).
 * Addresses that no symbol covers are written as `module+0xSTART`, START
 * being the start of the function that holds them (from the object's unwind
 * tables, when built with libunwind; else the address itself), or
 * `[unknown]` outside any module. Return
 * addresses (every frame but the innermost) are looked up at pc - 1, inside
 * the call instruction. Each address is looked up once per profile and
 * module: a pc is named after the library that was loaded when it was
 * sampled, never after one loaded at the same address later (see
 * sampler_profile_add()).
 *
 * A profiler preloaded into a program would, for example:
 * @code
 * sampler_profile *prof;
 * sampler_profile_new(&prof, NULL);      // after sampler_start()
 * sampler_profile_collector_start(prof, 100);
 * ... the program runs ...
 * sampler_stop();
 * sampler_profile_collector_stop(prof);  // drains what is left
 * sampler_profile_write_pprof(prof, "cpu.pb.gz");
 * sampler_profile_write_folded_path(prof, "cpu.folded", SAMPLER_PROFILE_THREADS);
 * sampler_profile_write_svg(prof, "cpu.svg", SAMPLER_PROFILE_THREADS);
 * sampler_profile_free(prof);
 * @endcode
 *
 * Thread safety: every function taking a profile may be called from any
 * thread at the same time (each profile has its own lock); none is
 * async-signal-safe. Symbolization reads /proc/self/maps and the program's
 * ELF files when a profile is written.
 *
 * fork(): a child inherits a copy of every profile, holding the samples the
 * parent had added up to the fork (samples still in the sampler's buffer are
 * not copied: the child's sampler starts stopped and empty). The child may
 * write, reset, add to, drain or free the copy, or ignore it and exit. A
 * collector thread is not copied: in the child,
 * sampler_profile_collector_stop() returns SAMPLER_ENOTCOLLECTING and
 * sampler_profile_collector_start() starts a collector of the child's own.
 * The library's pthread_atfork() handlers hold every profile's locks across
 * fork(), so a fork() made while another thread writes a profile waits for
 * that write to end.
 * @{ */

/** An opaque profile; made by sampler_profile_new(). */
typedef struct sampler_profile sampler_profile;

/** sampler_profile_features(): symbols come from libdw (else dladdr()). */
#define SAMPLER_PROFILE_HAVE_LIBDW 0x1u
/** sampler_profile_features(): sampler_profile_write_pprof() is built in. */
#define SAMPLER_PROFILE_HAVE_PPROF 0x2u

/** Writer flag: root every stack at its thread, `name (tid)`, the name from
 * /proc/self/task/TID/comm when the profile first saw the thread. */
#define SAMPLER_PROFILE_THREADS 0x1u
/** Writer flag: write raw addresses (`0x55d0c0de1234`) instead of symbols.
 * Folded and SVG writers only. */
#define SAMPLER_PROFILE_ADDRESSES 0x2u

/**
 * Which optional parts this copy of the library was built with.
 * @return a bitwise OR of ::SAMPLER_PROFILE_HAVE_LIBDW and
 *         ::SAMPLER_PROFILE_HAVE_PPROF
 * @note async-signal-safe and thread-safe.
 * @since 0.1.0
 */
SAMPLER_API unsigned int sampler_profile_features(void);

/**
 * Settings for sampler_profile_new(). Set up with
 * sampler_profile_options_init() first, then change the fields you need.
 */
typedef struct sampler_profile_options {
    /** Size of this struct as the caller knows it; set by
     * sampler_profile_options_init(). */
    size_t size;
    /** Nanoseconds one unit of sample weight stands for (the pprof period
     * and the `cpu/nanoseconds` value). Default 0: the sampler_config::interval_ns
     * of the running sampler when the profile is made or first drains,
     * or 10 ms if the sampler never ran. */
    uint64_t interval_ns;
} sampler_profile_options;

/**
 * Fill @p opt with the defaults and record its size.
 * @param opt  the options to set up
 * @param size `sizeof *opt` as the caller compiled it
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p opt is NULL
 * @retval SAMPLER_ESTRUCTSIZE @p size is smaller than the first version of
 *         the struct
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_options_init(sampler_profile_options *opt, size_t size);

/**
 * Make an empty profile. It does not depend on the sampler's state: it may
 * be made before sampler_start() and used after sampler_stop().
 * @param out  where to store the new profile; set to NULL on error
 * @param opt  options from sampler_profile_options_init(), or NULL for the
 *             defaults
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p out is NULL
 * @retval SAMPLER_ESTRUCTSIZE opt->size was not set by
 *         sampler_profile_options_init()
 * @retval SAMPLER_ENOMEM out of memory (also: the library's fork handlers
 *         could not be installed)
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_new(sampler_profile **out,
                                    const sampler_profile_options *opt);

/**
 * Free a profile. Its collector thread, if running, is stopped first (as
 * sampler_profile_collector_stop() does, including the final drain).
 * No other call may use the profile at the same time or afterwards.
 * In a fork child it frees the child's copy at once (there is no collector
 * to stop there).
 * @param profile the profile; NULL does nothing
 * @note not thread-safe with respect to other calls on the same profile;
 *       not async-signal-safe. Must not be called from a sampler_drain()
 *       callback while its collector runs.
 * @since 0.1.0
 */
SAMPLER_API void sampler_profile_free(sampler_profile *profile);

/**
 * Add one sample: its weight is added to the entry of its (thread, stack).
 * The first sample of a thread reads the thread's name from
 * /proc/self/task/TID/comm.
 *
 * The sample's `time_ns` (CLOCK_MONOTONIC, when it was taken) tells which
 * libraries were loaded then. The profile looks at the loaded libraries
 * (dl_iterate_phdr's load and unload counters) when it is made, at every
 * sampler_profile_drain(), and here when the sample is newer than its last
 * look. A pc of a sample taken between a dlopen/dlclose and the profile's
 * next look, in memory whose library changed, is written as `[unknown]`.
 * A made-up sample with `time_ns` 0 counts as taken when the library was
 * loaded; one from the future, as taken now.
 * @param profile the profile
 * @param sample  a sample as sampler_drain() hands it over (the program
 *                counters are copied)
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p sample is NULL, or the sample's
 *         depth is negative or above ::SAMPLER_MAX_DEPTH, or pcs is NULL with
 *         depth > 0
 * @retval SAMPLER_ENOMEM out of memory (the sample is not counted)
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_add(sampler_profile *profile, const sampler_sample *sample);

/**
 * A ::sampler_sample_fn that adds each sample to the profile given as its
 * argument: `sampler_drain(sampler_profile_sample_fn, profile, 0)`.
 * @param sample  the sample
 * @param profile a `sampler_profile *`
 * @return 0 (go on), or non-zero to stop draining when the sample could not
 *         be added (out of memory)
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_sample_fn(const sampler_sample *sample, void *profile);

/**
 * Move every ready sample from the sampler's buffer into the profile
 * (sampler_drain() with sampler_profile_sample_fn()). First the profile
 * looks at the loaded libraries (see sampler_profile_add()), also when there
 * is nothing to drain.
 * @param profile the profile
 * @return the number of samples drained (>= 0), or
 * @retval SAMPLER_EINVAL @p profile is NULL
 * @retval SAMPLER_EBUSY called from inside a sampler_drain() callback
 * @retval SAMPLER_ENOMEM out of memory (samples before it are kept; the one
 *         that failed is lost)
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_drain(sampler_profile *profile);

/**
 * Forget every sample (and thread) of the profile, keeping its symbol
 * cache, e.g. after writing one period of a continuous profile.
 * @param profile the profile
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile is NULL
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_reset(sampler_profile *profile);

/** What sampler_profile_get_totals() reports. */
typedef struct sampler_profile_totals {
    size_t size;      /**< set by the caller: `sizeof` the struct */
    uint64_t samples; /**< samples added */
    uint64_t weight;  /**< sum of their weights */
    uint64_t stacks;  /**< distinct (thread, stack) entries */
    uint64_t threads; /**< distinct threads */
    uint64_t interval_ns; /**< nanoseconds per unit of weight (see
                               sampler_profile_options::interval_ns) */
} sampler_profile_totals;

/**
 * Read a profile's totals.
 * @param profile the profile
 * @param out     where to write; `out->size` is ignored
 * @param size    `sizeof *out` as the caller compiled it
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p out is NULL
 * @retval SAMPLER_ESTRUCTSIZE @p size is too small
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_get_totals(sampler_profile *profile,
                                           sampler_profile_totals *out, size_t size);

/**
 * Start a background thread that calls sampler_profile_drain() every
 * @p period_ms milliseconds, so that a long run loses nothing to a full
 * sample buffer (size the buffer to hold at least one period of samples:
 * threads × period / interval). The thread blocks every signal, so the
 * sampler's signal never runs on it; it is not registered for sampling
 * unless the program registers it (sampler_register_all_threads() would).
 * @param profile   the profile
 * @param period_ms time between drains, 1 to 60000
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile is NULL or @p period_ms out of range
 * @retval SAMPLER_ECOLLECTING the collector is already running
 * @retval SAMPLER_ESYSTEM the thread could not be created
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_collector_start(sampler_profile *profile,
                                                unsigned int period_ms);

/**
 * Stop the collector thread, wait for it, then drain once more so that
 * samples taken up to this call are in the profile (call sampler_stop() first
 * to get every sample). After fork() the child has no collector thread:
 * there this returns SAMPLER_ENOTCOLLECTING at once, joins nothing and
 * does not drain (unless the child started a collector of its own).
 * @param profile the profile
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile is NULL
 * @retval SAMPLER_ENOTCOLLECTING no collector runs for this profile in this
 *         process (never started, already stopped, or started by the parent
 *         of this fork child)
 * @retval SAMPLER_EBUSY called from inside a sampler_drain() callback
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_collector_stop(sampler_profile *profile);

/**
 * Name a thread: every writer labels the thread's stacks `name (tid)` with
 * this name instead of the one read from /proc/self/task/TID/comm when the
 * profile first saw the thread. A thread that exits before the profile drains
 * its samples can no longer be asked its name (it would show as `[exited]`),
 * so name it before it exits (sampler-run does, as each thread ends), or give
 * the name your runtime knows (a language's thread name). The name is kept
 * across sampler_profile_reset().
 * @param profile the profile
 * @param tid     the thread (gettid())
 * @param name    its name (copied; at most 63 bytes are kept; `;` and control
 *                characters become `_`)
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p name is NULL, or @p tid <= 0
 * @retval SAMPLER_ENOMEM out of memory
 * @note thread-safe; not async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API int sampler_profile_set_thread_name(sampler_profile *profile, pid_t tid,
                                                const char *name);

/** What a client's resolver says about one of its frames. The profile copies
 * the strings before the resolver is called again. */
typedef struct sampler_frame_info {
    /** Name shown in folded stacks, flame graphs and speedscope (e.g.
     * `"parse (json/decoder.py:353)"`); NULL: @ref function. */
    const char *name;
    /** The function's name (pprof's Function.name); NULL: unknown. */
    const char *function;
    /** Its source file, or NULL. */
    const char *file;
    /** The line being run, or 0. */
    int line;
} sampler_frame_info;

/**
 * Names a client's frames (see sampler.h, "Frames of a client's own kind").
 * Called by the profile, never in a signal handler: when a sample with a
 * frame word of this kind is added (sampler_profile_add(), a drain into the
 * profile, its collector thread), once per distinct (word, extra word) per
 * profile; the answer is kept and used by every writer.
 * @param kind    the frame's kind (::SAMPLER_FRAME_KIND_MIN..::SAMPLER_FRAME_KIND_MAX)
 * @param payload the frame word's low 56 bits
 * @param extra   the payload of the ::SAMPLER_FRAME_KIND_EXTRA word that
 *                followed it in the sample, or 0
 * @param info    to fill (zeroed); the strings must stay valid until the
 *                resolver returns
 * @param arg     as given to sampler_profile_set_frame_resolver()
 * @return 0 if @p info names the frame; negative if the frame is unknown
 *         (it is then shown as `[kind K 0xPAYLOAD]`)
 * @note It runs with the profile's lock held: it must not call functions of
 *       the same profile. What the payload stands for must still exist when
 *       the sample is added (a client keeps the objects its walker recorded
 *       alive, or checks them).
 */
typedef int (*sampler_frame_resolver_fn)(unsigned int kind, uint64_t payload, uint64_t extra,
                                         sampler_frame_info *info, void *arg);

/**
 * Name the frames of one kind with @p fn. Set it before samples with such
 * frames are added: frames already seen keep their names.
 * @param profile the profile
 * @param kind    ::SAMPLER_FRAME_KIND_MIN to ::SAMPLER_FRAME_KIND_MAX
 * @param fn      the resolver; NULL removes it
 * @param arg     passed to @p fn
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile is NULL or @p kind is out of range
 * @note thread-safe; not async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API int sampler_profile_set_frame_resolver(sampler_profile *profile, unsigned int kind,
                                                   sampler_frame_resolver_fn fn, void *arg);

/**
 * Write folded stacks, one line per distinct stack:
 * `root;caller;...;leaf weight` (outermost frame first), the weight being
 * the summed sample weights. Stacks that symbolize to the same names are
 * merged. A sample without frames is written as `[no frames]`.
 * @param profile the profile
 * @param out     an open stream (not closed)
 * @param flags   ::SAMPLER_PROFILE_THREADS, ::SAMPLER_PROFILE_ADDRESSES or 0
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p out is NULL, or unknown @p flags
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_EIO writing failed (errno tells why)
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_write_folded(sampler_profile *profile, FILE *out,
                                             unsigned int flags);

/**
 * sampler_profile_write_folded() to a file, created or truncated.
 * @param profile the profile
 * @param path    file name
 * @param flags   as for sampler_profile_write_folded()
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p path is NULL, or unknown @p flags
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_EIO the file could not be created or written (errno tells why)
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_write_folded_path(sampler_profile *profile, const char *path,
                                                  unsigned int flags);

/**
 * Write a gzip'd pprof protobuf profile (`go tool pprof FILE`). Sample types
 * `samples/count` (the weight: timer intervals) and `cpu/nanoseconds`
 * (weight × interval); period type `cpu/nanoseconds`, period = the interval.
 * Each sample carries a `thread` string label (the thread's name) and a
 * `tid` number label. Mappings come from /proc/self/maps (with GNU build ids
 * when libdw is built in); locations carry functions with file and line
 * where debug information exists.
 * @param profile the profile
 * @param path    file name, created or truncated
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p path is NULL
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_EIO the file could not be created or written
 * @retval SAMPLER_EUNSUPPORTED the library was built without pprof support
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_write_pprof(sampler_profile *profile, const char *path);

/**
 * Write an SVG flame graph: one rectangle per frame, its width proportional
 * to its weight, callers below callees, children sorted by name, with a
 * `<title>` tooltip `name (weight W, S s, P%)` (W the weight as in the
 * folded output, S = W times the profile's interval, P the share of the
 * whole; the root frame `all` holds the whole weight, as sampler-run's
 * summary line counts it) and the name as text where it fits. Frames
 * narrower than 0.1 pixel at 1200 pixels are left out.
 *
 * The file is self-contained (no external resource) and interactive where
 * scripts run (opened in a web browser, also from `file://`): an inline
 * script (in CDATA) lays the graph out at the window's width and again when
 * it changes, zooms into a clicked frame (its ancestors dimmed, frames
 * outside it hidden; "Reset zoom", a click on the root or Escape go back),
 * searches on "Search" or Ctrl-F (a regular expression, case-insensitive;
 * a substring if it is not one), highlights the matches and shows
 * "Matched: P%" of the whole weight (a match inside another counted once),
 * shows a frame's tooltip on a line below the graph, and fits every label to
 * its frame by the browser's measure of the text (cut with ".."). Where
 * scripts do not run (an `<img>`) it is a static picture 1200 pixels wide
 * with the same tooltips and labels.
 * @param profile the profile
 * @param path    file name, created or truncated
 * @param flags   ::SAMPLER_PROFILE_THREADS, ::SAMPLER_PROFILE_ADDRESSES or 0
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p path is NULL, or unknown @p flags
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_EIO the file could not be created or written
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_profile_write_svg(sampler_profile *profile, const char *path,
                                          unsigned int flags);

/**
 * Write a speedscope JSON file (https://www.speedscope.app, the `speedscope`
 * npm package; file format https://www.speedscope.app/file-format-schema.json,
 * named in its `$schema`). The frames, named as in the folded output, are
 * shared; every thread is a profile of type `sampled` named `name (tid)`,
 * whose samples are its distinct stacks (frame indices, outermost first,
 * merged and sorted as in the folded output) and whose
 * weights are nanoseconds of CPU (weight × interval, see
 * sampler_profile_totals::interval_ns); its `endValue` is its total.
 * `activeProfileIndex` names the heaviest thread, which the viewer opens
 * first; `name` is the program's (short) name, `exporter` `libsampler
 * VERSION`. Names that are not valid UTF-8 have U+FFFD in place of the bad
 * bytes. Frames carry names only (no file or line).
 * @param profile the profile
 * @param path    file name, created or truncated
 * @param flags   ::SAMPLER_PROFILE_ADDRESSES or 0 (::SAMPLER_PROFILE_THREADS
 *                is accepted and changes nothing: threads are always apart)
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p path is NULL, or unknown @p flags
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_EIO the file could not be created or written (errno tells why)
 * @note thread-safe; not async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API int sampler_profile_write_speedscope(sampler_profile *profile, const char *path,
                                                 unsigned int flags);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup formats Profile formats: one table, found by name or file name
 *
 * Every writer of the library is a row of one table: its name (for
 * `--format`-style options), the file name ending that selects it, a line of
 * description for help texts, and whether this copy of the library can write
 * it. Programs (sampler-run, the Python binding) list and pick formats here
 * instead of naming them one by one, so a new format reaches them all.
 * @code
 * for (size_t i = 0; sampler_profile_format_at(i) != NULL; i++)
 *     printf("%s (%s): %s\n", sampler_profile_format_at(i)->name,
 *            sampler_profile_format_at(i)->extension,
 *            sampler_profile_format_at(i)->description);
 * sampler_profile_write(prof, "cpu.pb.gz", NULL, SAMPLER_PROFILE_THREADS); // pprof
 * @endcode
 * @{ */

/** One file format of sampler_profile_write(). The library owns the rows;
 * new fields may be added at the end. */
typedef struct sampler_profile_format {
    /** Short name, e.g. `"folded"`, `"pprof"`, `"svg"`. */
    const char *name;
    /** The file name ending that selects this format, with its dot, e.g.
     * `".pb.gz"`. */
    const char *extension;
    /** One line for help texts (at most 56 characters): what the format is
     * and what reads it. */
    const char *description;
    /** 1 if this copy of the library can write it (pprof needs protobuf-c),
     * else 0: sampler_profile_write() then returns SAMPLER_EUNSUPPORTED. */
    int available;
} sampler_profile_format;

/** Name of the format sampler_profile_write() uses for a file name that no
 * format's extension matches. */
#define SAMPLER_PROFILE_DEFAULT_FORMAT "folded"

/**
 * The formats, one by one, in a fixed order (the default format first).
 * @param index 0, 1, ...
 * @return the row, or NULL when @p index is past the last one
 * @note thread-safe and async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API const sampler_profile_format *sampler_profile_format_at(size_t index);

/**
 * The format of a name.
 * @param name e.g. `"pprof"` (exact, lower case)
 * @return the row, or NULL if @p name is NULL or names no format
 * @note thread-safe and async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API const sampler_profile_format *sampler_profile_format_find(const char *name);

/**
 * The format a file name asks for by its ending (the longest matching
 * extension; a name that is only an extension, like `.svg`, matches none).
 * @param path a file name
 * @return the row, or NULL if @p path is NULL or no extension matches
 * @note thread-safe and async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API const sampler_profile_format *sampler_profile_format_for_path(const char *path);

/**
 * Write the profile to a file in a format of the table.
 * @param profile the profile
 * @param path    file name, created or truncated
 * @param format  a format name (sampler_profile_format::name), or NULL for
 *                the one @p path's ending selects, else
 *                ::SAMPLER_PROFILE_DEFAULT_FORMAT
 * @param flags   ::SAMPLER_PROFILE_THREADS, ::SAMPLER_PROFILE_ADDRESSES or 0;
 *                a format ignores those it has no use for (pprof keeps
 *                threads as labels and always writes symbols)
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p profile or @p path is NULL, @p format names no
 *         format, or unknown @p flags
 * @retval SAMPLER_EUNSUPPORTED this copy of the library cannot write the
 *         format (sampler_profile_format::available is 0)
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_EIO the file could not be created or written (errno tells why)
 * @note thread-safe; not async-signal-safe.
 * @since 0.2.0
 */
SAMPLER_API int sampler_profile_write(sampler_profile *profile, const char *path,
                                      const char *format, unsigned int flags);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* SAMPLER_PROFILE_H */
