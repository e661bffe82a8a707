/*
 * libsampler - per-thread CPU-time sampling for Linux processes.
 *
 * The whole public API. Include this header and link with -lsampler (or ask
 * `pkg-config --static --libs libsampler`).
 */
#ifndef SAMPLER_H
#define SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @cond INTERNAL */
#if defined(__GNUC__) || defined(__clang__)
#define SAMPLER_API __attribute__((visibility("default")))
#else
#define SAMPLER_API
#endif
/** @endcond */

/**
 * @mainpage libsampler
 *
 * libsampler samples where each thread of a Linux process spends its CPU time.
 * Every registered thread gets its own POSIX timer on its own CPU-time clock
 * (`timer_create` with `SIGEV_THREAD_ID`), so each sample is attributed to
 * exactly the thread that burnt the CPU. A signal handler calls a pluggable
 * stack walker and stores the sample in a lock-free buffer, which a normal
 * thread reads with sampler_drain().
 *
 * @section usage Typical use
 * @code
 * sampler_config cfg;
 * sampler_config_init(&cfg, sizeof cfg);
 * cfg.interval_ns = 1000000;            // 1 ms of CPU time per sample
 * if (sampler_start(&cfg) < 0) ...
 * sampler_register_all_threads();        // or sampler_thread_register() per thread
 * ... run the workload, call sampler_drain() now and then ...
 * sampler_stop();
 * sampler_drain(my_callback, my_state, 0); // samples stay readable after stop
 * @endcode
 *
 * @section errors Errors
 * Every call that can fail returns 0 (or a non-negative count) on success and
 * a negative `SAMPLER_E*` code on failure. sampler_strerror() turns a code
 * into a sentence a user can act on; sampler_err_name() gives its name.
 * Codes are never reused or removed.
 *
 * @section signal_safety Signal safety
 * The sampler owns one signal (SIGPROF unless sampler_config::signo says
 * otherwise) while it runs. Its handler is installed with
 * `SA_SIGINFO | SA_RESTART`, saves and restores errno, takes no lock and
 * allocates nothing. A signal that is not one of the sampler's timer signals
 * (someone's `kill`, an `setitimer` timer) is passed to the handler that was
 * installed before sampler_start(), if there was one, and is never counted as
 * a sample. During the short window inside sampler_stop() between setting the
 * signal to `SIG_IGN` and restoring the previous handler, such a foreign
 * signal is discarded.
 *
 * Only the functions whose documentation says "async-signal-safe" may be
 * called from a signal handler: the built-in walkers, sampler_strerror(),
 * sampler_err_name(), sampler_version(), sampler_version_string() and
 * sampler_state().
 * All management calls (start, stop, pause, resume, register, unregister,
 * stats, drain) are thread-safe and may be called from any thread at the same
 * time; they are *not* async-signal-safe.
 *
 * @section walkers Walkers
 * A walker is a callback run inside the signal handler that fills an array of
 * program counters; see ::sampler_walker_fn. The built-in
 * sampler_walk_fp() follows frame pointers within the thread's stack bounds.
 * A language runtime can pass its own walker and use the `thread_arg` given at
 * registration (an interpreter's thread state, say) to walk its own frames.
 *
 * @section fork Fork
 * Timers are not inherited by a child process. After fork() the child is in
 * a clean stopped state: no thread registered, the previous signal handler
 * restored, statistics zero, the parent's unread samples gone. The child may
 * call sampler_start() again.
 */

/* ------------------------------------------------------------------------ */
/** @defgroup version Version
 * @{ */

/**
 * The runtime version as `(MAJOR << 16) | (MINOR << 8) | PATCH`; compare it
 * with ::SAMPLER_VERSION_HEX to detect a header/library mismatch.
 * @return the library's version as `(MAJOR << 16) | (MINOR << 8) | PATCH`
 * @note async-signal-safe and thread-safe.
 * @since 0.1.0
 */
SAMPLER_API unsigned int sampler_version(void);

/**
 * The runtime version as a string, e.g. `"0.1.0"`; equal to
 * ::SAMPLER_VERSION_STRING of the header the library was built with.
 * @return a static string; never NULL
 * @note async-signal-safe and thread-safe.
 * @since 0.1.0
 */
SAMPLER_API const char *sampler_version_string(void);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup errors Error codes
 * @{ */

/**
 * The error list: X(name, value, message). Codes are never reused or
 * removed; new ones are appended.
 */
#define SAMPLER_ERRNO_MAP(X)                                                       \
    X(EINVAL, -1, "invalid argument")                                            \
    X(ENOMEM, -2, "out of memory")                                               \
    X(ESTARTED, -3, "the sampler is already started; call sampler_stop() first")  \
    X(ENOTSTARTED, -4, "the sampler is not started; call sampler_start() first") \
    X(EPAUSED, -5, "the sampler is already paused")                              \
    X(ENOTPAUSED, -6, "the sampler is not paused; call sampler_pause() first")   \
    X(ETIMERLIMIT, -7,                                                           \
      "per-user limit on POSIX timers reached (RLIMIT_SIGPENDING); raise it with " \
      "'ulimit -i' or setrlimit(RLIMIT_SIGPENDING), or register fewer threads")   \
    X(ENOTHREAD, -8, "no such thread in this process (it may have exited)")      \
    X(EREGISTERED, -9, "the thread is already registered")                       \
    X(ENOTREGISTERED, -10, "the thread is not registered")                        \
    X(ESIGNAL, -11,                                                              \
      "this signal cannot be used for sampling; use SIGPROF, SIGVTALRM, SIGALRM, " \
      "SIGUSR1, SIGUSR2 or a real-time signal")                                   \
    X(ESYSTEM, -12, "a system call failed unexpectedly (see strace for which)")    \
    X(ESTRUCTSIZE, -13,                                                          \
      "structure size not supported: the struct was not set up with its _init() " \
      "function, or the header is newer than the library")                        \
    X(EBUSY, -14, "not allowed from inside a sampler_drain() callback or a walker")   \
    X(EUNSUPPORTED, -15,                                                         \
      "not built into this copy of libsampler (see sampler_profile_features(); "   \
      "rebuild with the optional dependency installed)")                          \
    X(EIO, -16, "a file could not be read or written (errno says why)")            \
    X(ECOLLECTING, -17,                                                          \
      "the profile's collector is already running; call "                         \
      "sampler_profile_collector_stop() first")                                  \
    X(ENOTCOLLECTING, -18, "the profile's collector is not running")

/** Error codes returned by the library (always negative). */
typedef enum sampler_error {
    SAMPLER_OK = 0, /**< success */
/** @cond INTERNAL */
#define SAMPLER__ERR_ENUM(name, value, msg) SAMPLER_##name = value,
    SAMPLER_ERRNO_MAP(SAMPLER__ERR_ENUM)
#undef SAMPLER__ERR_ENUM
    /** @endcond */
} sampler_error;

/**
 * A message for an error code that says what went wrong and what to do.
 * @param err a value returned by a libsampler call (0 or a `SAMPLER_E*` code)
 * @return a static string; never NULL (an unknown code gives "unknown error")
 * @note async-signal-safe and thread-safe.
 * @since 0.1.0
 */
SAMPLER_API const char *sampler_strerror(int err);

/**
 * The name of an error code, e.g. `"SAMPLER_EINVAL"`.
 * @param err a value returned by a libsampler call
 * @return a static string; never NULL (`"SAMPLER_EUNKNOWN"` for an unknown code)
 * @note async-signal-safe and thread-safe.
 * @since 0.1.0
 */
SAMPLER_API const char *sampler_err_name(int err);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup walkers Stack walkers
 * @{ */

/** What a walker gets to know about the interrupted thread. */
typedef struct sampler_walk_ctx {
    /** The interrupted context: a `ucontext_t *` as the kernel gave it. */
    const void *ucontext;
    /** Thread id (gettid()) of the interrupted thread (the calling thread). */
    pid_t tid;
    /** The value given when this thread was registered. */
    void *thread_arg;
    /** Lowest address of the thread's stack, or 0 when unknown. */
    uintptr_t stack_lo;
    /** One past the highest address of the thread's stack, or 0 when unknown. */
    uintptr_t stack_hi;
} sampler_walk_ctx;

/**
 * A stack walker, called from the signal handler on the sampled thread.
 *
 * It must be async-signal-safe: no malloc, no locks, no stdio, and it must not
 * read memory that may be unmapped. It writes at most @p max_depth program
 * counters to @p pcs, innermost first.
 *
 * @param ctx        the interrupted thread and its context
 * @param pcs        where to write program counters
 * @param max_depth  capacity of @p pcs (sampler_config::max_depth, >= 1)
 * @param walker_arg sampler_config::walker_arg
 * @return the number of entries written (0 to @p max_depth); a negative or
 *         larger value is treated as 0 and the sample is kept without frames.
 */
typedef int (*sampler_walker_fn)(const sampler_walk_ctx *ctx, uintptr_t *pcs,
                                 int max_depth, void *walker_arg);

/** @name Frames of a client's own kind
 * A walker of a language runtime may store, beside native program counters,
 * frames of its own kind (an interpreted function, say): a word whose top
 * byte is the kind (::SAMPLER_FRAME_KIND_MIN to ::SAMPLER_FRAME_KIND_MAX) and
 * whose low 56 bits are a payload the client chooses (a code object's
 * address, an index). One word of kind ::SAMPLER_FRAME_KIND_EXTRA may follow
 * such a word in `pcs` (at the next index) with 56 more bits for the same
 * frame (the instruction being run, for its line). Every other word is a
 * native program counter (user-space addresses have a top byte of 0). The
 * core stores these words like any other; libsampler-profile asks the
 * client's resolver for their names (sampler_profile_set_frame_resolver()),
 * outside the signal handler.
 * @{ */
/** Bit position of a frame word's kind. */
#define SAMPLER_FRAME_KIND_SHIFT 56
/** Mask of a frame word's payload (its low 56 bits). */
#define SAMPLER_FRAME_PAYLOAD_MASK ((((uint64_t)1) << SAMPLER_FRAME_KIND_SHIFT) - 1)
/** Smallest client frame kind (kind 0 is a native program counter). */
#define SAMPLER_FRAME_KIND_MIN 1u
/** Largest client frame kind. */
#define SAMPLER_FRAME_KIND_MAX 0x7eu
/** Kind of a word that carries more payload for the client frame before it. */
#define SAMPLER_FRAME_KIND_EXTRA 0x7fu
/** A frame word of kind @p kind with payload @p payload (its low 56 bits). */
#define SAMPLER_FRAME_MAKE(kind, payload)                                                  \
    ((uintptr_t)((((uint64_t)(kind)) << SAMPLER_FRAME_KIND_SHIFT) |                         \
                 (((uint64_t)(payload)) & SAMPLER_FRAME_PAYLOAD_MASK)))
/** The kind of frame word @p w: 0 for a native program counter, else
 * ::SAMPLER_FRAME_KIND_MIN to ::SAMPLER_FRAME_KIND_EXTRA. */
#define SAMPLER_FRAME_KIND(w)                                                              \
    ((((uint64_t)(w)) >> SAMPLER_FRAME_KIND_SHIFT) <= SAMPLER_FRAME_KIND_EXTRA               \
         ? (unsigned int)(((uint64_t)(w)) >> SAMPLER_FRAME_KIND_SHIFT)                     \
         : 0u)
/** The payload of frame word @p w. */
#define SAMPLER_FRAME_PAYLOAD(w) (((uint64_t)(w)) & SAMPLER_FRAME_PAYLOAD_MASK)
/** @} */

/**
 * The built-in frame-pointer walker (the default).
 *
 * Writes the interrupted program counter, then follows the frame-pointer chain
 * (x86_64 `rbp`, aarch64 `x29`). It only reads frame records that lie inside
 * [max(stack pointer, ctx->stack_lo), ctx->stack_hi), requires them to be
 * word-aligned and strictly increasing, and stops at @p max_depth. Code built
 * without `-fno-omit-frame-pointer` gives shorter (never wrong-memory) chains.
 * With unknown stack bounds it writes only the interrupted program counter.
 * A leaf function (one that calls nothing) gets no frame record from GCC even
 * with `-fno-omit-frame-pointer`; when the sample lands in it, its direct
 * caller is missing from the chain (the innermost pc is still right).
 *
 * @param ctx        the interrupted thread (from the handler)
 * @param pcs        output array
 * @param max_depth  capacity of @p pcs
 * @param walker_arg unused
 * @return the number of program counters written
 * @note async-signal-safe; reads only the current thread's stack.
 * @since 0.1.0
 */
SAMPLER_API int sampler_walk_fp(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth,
                                void *walker_arg);

/**
 * The built-in libunwind walker: complete stacks through code built without
 * frame pointers (distribution binaries, `-O2` code), from the DWARF unwind
 * information (`.eh_frame`) that such code still carries.
 *
 * Set sampler_config::walker to this function. It calls libunwind's
 * `unw_backtrace()` (a per-thread cache of frame layouts makes a walk over
 * known code cost about as much as following frame pointers), drops the
 * frames of the signal handler and keeps those from the interrupted program
 * counter on, innermost first. When the walk does not get through the signal
 * frame it writes only the interrupted program counter.
 *
 * It exists in every build, but walks only when libsampler was built with
 * libunwind (`./configure --with-libunwind`, the default when libunwind-dev is
 * installed); ask sampler_walk_libunwind_available(). Without libunwind it
 * writes only the interrupted program counter. A static link then needs
 * `-lunwind` (`pkg-config --static --libs libsampler` lists it).
 *
 * libunwind is prepared in a normal context by sampler_start() (for the
 * thread that starts) and by sampler_thread_register() (for the registering
 * thread): its one-time set-up and each thread's trace cache are made there,
 * not in the handler. Called from any other sampler run (a walker of your own
 * that chains to it before sampler_start() prepared it), it writes only the
 * interrupted program counter.
 *
 * @param ctx        the interrupted thread (from the handler)
 * @param pcs        output array
 * @param max_depth  capacity of @p pcs
 * @param walker_arg unused
 * @return the number of program counters written (1 to @p max_depth; 0 only
 *         for a NULL @p ctx, `ctx->ucontext` or @p pcs, or @p max_depth < 1)
 * @note async-signal-safe in the sense documented in ARCHITECTURE.md
 *       "libunwind walker", with these limits. A sample that interrupts the
 *       dynamic loader, libc's `dl_iterate_phdr`, `pthread_mutex_lock`/`unlock`
 *       or a shared libunwind records only its program counter (there, a walk
 *       could deadlock on the loader lock or corrupt libunwind's cache). A
 *       thread registered by tid (sampler_thread_register_tid(),
 *       sampler_register_all_threads()) gets its libunwind trace cache in the
 *       handler at its first sample: `mmap` and `pthread_setspecific`, plus a
 *       `malloc` by glibc when libunwind was loaded with `dlopen` (its TLS) or
 *       the process uses more than 32 pthread keys; register threads
 *       themselves where you can. The first walk through code not seen before
 *       on a thread reads its unwind tables and calls `dl_iterate_phdr`
 *       (signals blocked, the loader lock taken): slower (tens of
 *       microseconds) once per new return address.
 * @since 0.1.0
 */
SAMPLER_API int sampler_walk_libunwind(const sampler_walk_ctx *ctx, uintptr_t *pcs,
                                       int max_depth, void *walker_arg);

/**
 * Whether sampler_walk_libunwind() walks stacks in this build of libsampler.
 * @return 1 when libsampler was built with libunwind, 0 when
 *         sampler_walk_libunwind() records only the interrupted program counter
 * @note async-signal-safe and thread-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_walk_libunwind_available(void);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup config Configuration
 * @{ */

/** Which clock drives the per-thread timers. */
typedef enum sampler_clock {
    /** CPU time of each thread (default): a sample per interval of CPU used. */
    SAMPLER_CLOCK_CPU = 0,
    /** Wall-clock time (`CLOCK_MONOTONIC`): idle threads are sampled too. */
    SAMPLER_CLOCK_WALL = 1
} sampler_clock;

/** Default sampler_config::interval_ns: 10 ms (100 samples per second of a
 * thread's CPU time). Clients that offer an interval of their own (a CLI, a
 * language binding) default to this one (since 0.2.0). */
#define SAMPLER_DEFAULT_INTERVAL_NS 10000000ULL
/** Smallest accepted sampler_config::interval_ns (100 µs, 10 kHz per thread),
 * for every clock. A timer that fires faster than the thread can take its
 * signal starves the thread: at 5 µs of wall-clock time it makes almost no
 * progress. In wall-clock mode each sample costs a timer interrupt plus a
 * signal (55-65 µs of the thread's time on the VM measured here, about 5 µs
 * on bare metal), so 100 µs can still slow a thread 2-3x; CPU-clock timers
 * fire at most at the scheduler tick. `make bench` measures it (bench_rate).
 * Before 0.2.0 the minimum was 1 µs. */
#define SAMPLER_INTERVAL_MIN_NS 100000ULL
/** Largest accepted sampler_config::interval_ns (one hour). */
#define SAMPLER_INTERVAL_MAX_NS 3600000000000ULL
/** Largest accepted sampler_config::max_depth. */
#define SAMPLER_MAX_DEPTH 512
/** Largest accepted sampler_config::buffer_capacity. */
#define SAMPLER_BUFFER_MAX (1u << 22)
/** Largest sample buffer in bytes (256 MiB). A buffer takes about
 * `capacity * (48 + 8 * max_depth)` bytes rounded up to 64 per sample (the
 * default 16384 x 64 frames: 9.4 MB), reserved at sampler_start() but never
 * touched there: its pages are used as samples fill them. */
#define SAMPLER_BUFFER_MAX_BYTES (256u << 20)

/**
 * Settings for sampler_start(). Always set it up with sampler_config_init()
 * first, then change the fields you need: fields added in later versions then
 * keep their defaults.
 */
typedef struct sampler_config {
    /** Size of this struct as the caller knows it; set by sampler_config_init(). */
    size_t size;
    /** Time between samples in nanoseconds, [SAMPLER_INTERVAL_MIN_NS,
     * SAMPLER_INTERVAL_MAX_NS]. Default ::SAMPLER_DEFAULT_INTERVAL_NS (10 ms,
     * 100 Hz). CPU-clock timers are
     * only checked at the scheduler tick (CONFIG_HZ); faster requests are
     * folded into sample weights, so totals stay exact. The kernel charges
     * CPU time to timers at the tick, for the thread running then: a thread
     * that wakes on a fixed period and always sleeps again between two ticks
     * can go unsampled; ::SAMPLER_CLOCK_WALL has no such blind spot. */
    uint64_t interval_ns;
    /** Clock for the timers; default ::SAMPLER_CLOCK_CPU. */
    sampler_clock clock;
    /** Signal the timers raise; default SIGPROF. SIGVTALRM, SIGALRM, SIGUSR1,
     * SIGUSR2 and real-time signals are also accepted. */
    int signo;
    /** Stack walker run in the handler; default sampler_walk_fp(). */
    sampler_walker_fn walker;
    /** Passed to the walker unchanged; default NULL. */
    void *walker_arg;
    /** Most frames stored per sample, [1, SAMPLER_MAX_DEPTH]; default 64. */
    int max_depth;
    /** Samples the buffer holds before new ones are dropped (and counted as
     * dropped), [1, SAMPLER_BUFFER_MAX], rounded up to a power of two >= 2,
     * and at most ::SAMPLER_BUFFER_MAX_BYTES together with max_depth.
     * Default 16384. */
    size_t buffer_capacity;
} sampler_config;

/**
 * Fill @p cfg with the defaults and record its size.
 *
 * @param cfg  the config to set up
 * @param size `sizeof *cfg` as the caller compiled it
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p cfg is NULL
 * @retval SAMPLER_ESTRUCTSIZE @p size is smaller than the first version of the
 *         struct
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_config_init(sampler_config *cfg, size_t size);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup lifecycle Start, stop, pause, resume
 * @{ */

/** What sampler_state() reports. */
typedef enum sampler_state_t {
    SAMPLER_STATE_STOPPED = 0, /**< not started, or stopped */
    SAMPLER_STATE_RUNNING = 1, /**< started and sampling */
    SAMPLER_STATE_PAUSED = 2   /**< started, but paused */
} sampler_state_t;

/**
 * Start the sampler: check @p cfg, allocate the sample buffer, and install
 * the signal handler (remembering the previous one). No thread is sampled
 * until it is registered.
 *
 * Samples left unread from an earlier run are discarded.
 *
 * @param cfg settings made with sampler_config_init(); NULL is an error
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p cfg is NULL, or interval, depth, capacity or clock
 *         out of range
 * @retval SAMPLER_ESTRUCTSIZE cfg->size was not set by sampler_config_init()
 * @retval SAMPLER_ESIGNAL cfg->signo cannot be used
 * @retval SAMPLER_ESTARTED the sampler is already running or paused
 * @retval SAMPLER_ENOMEM the buffer could not be allocated
 * @retval SAMPLER_ESYSTEM the signal handler could not be installed
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_start(const sampler_config *cfg);

/**
 * Stop the sampler, race-free: no handler run is left in flight and no
 * pending timer signal can reach a restored `SIG_DFL` disposition.
 *
 * Every timer is deleted and every thread unregistered; then the signal is set
 * to `SIG_IGN` (discarding pending instances), the call waits for running
 * handlers to finish, and the previous handler is restored. Samples already in
 * the buffer stay readable with sampler_drain() until the next sampler_start().
 * Statistics stay readable too.
 *
 * @retval 0 success
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_stop(void);

/**
 * Stop taking samples at once, in O(1). Any sample timestamped after this call
 * returns is never stored. A thread whose timer fires while paused disarms its
 * own timer, so threads cost nothing while paused. Threads registered while
 * paused start disarmed.
 *
 * @retval 0 success
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_EPAUSED already paused
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_pause(void);

/**
 * Resume after sampler_pause(). Timers that were disarmed while paused are
 * re-armed with a fresh interval (first expiry random in (0, interval]), so
 * the paused period leaves no backlog.
 *
 * @retval 0 success
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_ENOTPAUSED the sampler is not paused
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_resume(void);

/**
 * The current state.
 * @return one of ::sampler_state_t
 * @note thread-safe; async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_state(void);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup threads Thread registration
 * @{ */

/**
 * Sample the calling thread. Its timer is deleted automatically when the
 * thread exits (a pthread key destructor), so a thread that exits without
 * sampler_thread_unregister() leaks nothing.
 *
 * @param thread_arg handed to the walker and stored with each sample
 * @retval 0 success
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_EREGISTERED this thread is already registered
 * @retval SAMPLER_ETIMERLIMIT `timer_create` failed with EAGAIN (the per-user
 *         RLIMIT_SIGPENDING limit); other threads keep sampling and the failure
 *         is counted in sampler_stats::timer_failures
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_ESYSTEM another system call failure
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_thread_register(void *thread_arg);

/**
 * Sample any thread of this process, named by its thread id, on that thread's
 * own CPU clock. The signal is delivered to that thread, so each sample is
 * taken on it.
 *
 * A stale entry for @p tid (an exited thread whose id the kernel has since
 * reused) is replaced.
 * Entries of threads that exit are reclaimed by sampler_reap_threads() (also
 * run by sampler_register_all_threads()).
 *
 * @param tid        thread id (as gettid() returns it) of a thread of this process
 * @param thread_arg handed to the walker and stored with each sample
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p tid <= 0
 * @retval SAMPLER_ENOTHREAD no thread @p tid in this process
 * @retval SAMPLER_EREGISTERED that thread is already registered
 * @retval SAMPLER_ENOTSTARTED, SAMPLER_ETIMERLIMIT, SAMPLER_ENOMEM,
 *         SAMPLER_ESYSTEM as for sampler_thread_register()
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_thread_register_tid(pid_t tid, void *thread_arg);

/**
 * Register every thread listed in /proc/self/task that is not registered yet
 * (with `thread_arg` NULL), after reclaiming entries of exited threads.
 * It stops at the first thread that cannot get a timer.
 * Threads created later must register themselves (or be registered by tid).
 *
 * @return the number of threads newly registered (>= 0), or
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_ETIMERLIMIT some thread could not get a timer; the threads
 *         before it are registered and sampled, the count is in
 *         sampler_stats::timer_failures
 * @retval SAMPLER_ENOMEM out of memory
 * @retval SAMPLER_ESYSTEM /proc/self/task or /proc/self/maps could not be read
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_register_all_threads(void);

/**
 * Stop sampling the calling thread and delete its timer.
 * @retval 0 success
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_ENOTREGISTERED the calling thread is not registered
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_thread_unregister(void);

/**
 * Stop sampling thread @p tid and delete its timer. Safe against a handler
 * running on that thread at the same moment.
 * @param tid a thread id
 * @retval 0 success
 * @retval SAMPLER_EINVAL @p tid <= 0
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_ENOTREGISTERED @p tid is not registered
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_thread_unregister_tid(pid_t tid);

/**
 * Reclaim the entries (and timers) of registered threads that have exited.
 * Threads that registered themselves are reclaimed at exit without this.
 * @return the number of entries reclaimed (>= 0), or
 * @retval SAMPLER_ENOTSTARTED the sampler is not running
 * @retval SAMPLER_EBUSY called from a sampler_drain() callback or from a walker
 * @note thread-safe; not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_reap_threads(void);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup stats Statistics
 * @{ */

/**
 * Counters since the last sampler_start(). Each accepted timer signal ends as
 * exactly one stored sample or one dropped sample:
 * `signals == samples + dropped` once the sampler is stopped.
 */
typedef struct sampler_stats {
    size_t size;             /**< set by the caller: `sizeof` the struct */
    uint64_t signals;        /**< timer signals accepted while running */
    uint64_t samples;        /**< samples stored in the buffer */
    uint64_t weight;         /**< sum of stored samples' weights (1 + overruns) */
    uint64_t overruns;       /**< timer overruns folded into weights (accepted signals) */
    uint64_t dropped;        /**< accepted signals dropped because the buffer was full */
    uint64_t dropped_weight; /**< their weight */
    uint64_t paused;         /**< timer signals that arrived while paused (timer disarmed) */
    uint64_t foreign;        /**< signals that were not ours (passed on or ignored) */
    uint64_t stale;          /**< our signals for a thread no longer registered, or late */
    uint64_t timer_failures; /**< timer_create failures (e.g. RLIMIT_SIGPENDING) */
    uint64_t threads;        /**< threads registered now */
    uint64_t reaped;         /**< entries of exited threads reclaimed */
    /** CPU clock: stored samples whose signal came late because the thread
     * had it blocked (delivered as `pthread_sigmask` unblocked it), so part of
     * their weight is not attributed to their stack (since 0.2.0). */
    uint64_t delayed;
    /** Their weight beyond what one on-time signal carries, kept apart in
     * sampler_sample::delayed_weight; `weight + delayed_weight` is every
     * interval the stored samples stand for (since 0.2.0). */
    uint64_t delayed_weight;
    /** 1 if the program put another action for the sampler's signal in place
     * of the sampler's handler after sampler_start() (then no sample is taken,
     * the program's handler receives the timer signals, and sampler_stop()
     * leaves the program's action in place); checked by this call and by
     * sampler_stop() (since 0.2.0). */
    uint64_t handler_replaced;
} sampler_stats;

/**
 * Read the counters.
 * @param out  where to write; `out->size` is ignored
 * @param size `sizeof *out` as the caller compiled it
 * @retval 0 success (works in every state, also after stop)
 * @retval SAMPLER_EINVAL @p out is NULL
 * @retval SAMPLER_ESTRUCTSIZE @p size is too small
 * @note thread-safe; not async-signal-safe. The counters are read one by one
 *       while handlers may run, so they agree exactly only when stopped.
 * @since 0.1.0
 */
SAMPLER_API int sampler_get_stats(sampler_stats *out, size_t size);

/** @} */

/* ------------------------------------------------------------------------ */
/** @defgroup drain Reading samples
 * @{ */

/** One sample, as sampler_drain() hands it over. */
typedef struct sampler_sample {
    pid_t tid;            /**< thread the sample was taken on */
    int depth;            /**< number of entries in @ref pcs */
    uint64_t time_ns;     /**< CLOCK_MONOTONIC time the signal was handled */
    uint64_t weight;      /**< 1 + timer overruns: intervals this sample stands for */
    void *thread_arg;     /**< the thread's registration argument */
    const uintptr_t *pcs; /**< program counters, innermost first; valid only
                               during the callback */
    /** CPU clock: intervals that passed while the thread had the signal
     * blocked, beyond what one on-time signal carries, for a signal delivered
     * as `pthread_sigmask` unblocked it. They are not charged to @ref pcs
     * (the unblocking call did not use them); 0 for other samples and in
     * wall-clock mode (since 0.2.0). */
    uint64_t delayed_weight;
} sampler_sample;

/**
 * Called once per sample by sampler_drain().
 * @return 0 to go on, non-zero to stop draining after this sample
 */
typedef int (*sampler_sample_fn)(const sampler_sample *sample, void *arg);

/**
 * Hand buffered samples to @p fn, oldest first, removing them. Never blocks
 * the signal handlers that add samples; a sample still being written when the
 * drain reaches it is left for the next call. Works while running, paused and
 * after stop. Calling any management function from @p fn returns
 * SAMPLER_EBUSY.
 *
 * @param fn  callback; NULL is an error
 * @param arg passed to @p fn
 * @param max most samples to hand over; 0 means all that are ready
 * @return the number of samples handed over (>= 0), or
 * @retval SAMPLER_EINVAL @p fn is NULL
 * @retval SAMPLER_EBUSY called from inside a drain callback or a walker
 * @note thread-safe (concurrent drains are serialised); not async-signal-safe.
 * @since 0.1.0
 */
SAMPLER_API int sampler_drain(sampler_sample_fn fn, void *arg, size_t max);

/**
 * Is the calling thread inside a sampler_drain() callback? A client library
 * (a profile writer, a language binding) asks before it does something a
 * drain callback must not do, such as waiting for a thread that drains.
 * @return 1 inside a sampler_drain() callback on this thread, else 0
 * @note thread-safe and async-signal-safe (a thread-local read).
 * @since 0.2.0
 */
SAMPLER_API int sampler_in_drain_callback(void);

/**
 * The interval of the running sampler, or of the last one if it is stopped:
 * what each unit of sampler_sample::weight stands for (nanoseconds of CPU
 * time, or of wall-clock time with ::SAMPLER_CLOCK_WALL).
 * @return sampler_config::interval_ns of the last successful sampler_start()
 *         in this process (a fork child inherits its parent's), 0 if there was
 *         none
 * @note thread-safe and async-signal-safe (an atomic read).
 * @since 0.2.0
 */
SAMPLER_API uint64_t sampler_get_interval_ns(void);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* SAMPLER_H */
