/*
 * Internal declarations shared by the library's files. Nothing here is API.
 *
 * Map of the library (one concept per file):
 *   state.c    global state, lifecycle (start/stop/pause/resume), fork handling
 *   config.c   sampler_config defaults and checks; struct size checks
 *   registry.c tid -> slot map (uthash), the registration API, register/unregister/reap
 *   slots.c    the slot table (chunks, free list) and the busy protocol
 *   procfs.c   /proc/self/task readers: thread list, a thread's start time
 *   timers.c   timer_create/settime/delete, the clock choice, CPU-mode liveness
 *   signal.c   the signal handler (the whole hot path) and handler install/restore
 *   buffer.c   lock-free multi-producer sample buffer and sampler_drain()
 *   maps.c     /proc/self/maps snapshots (stack bounds of threads registered by tid)
 *   walk_fp.c  frame-pointer walker
 *   walk_unwind.c  libunwind walker (walk_unwind_none.c: its stub without libunwind)
 */
#ifndef SAMPLER_INTERNAL_H
#define SAMPLER_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <ucontext.h>

/* uthash must not exit() the host process when out of memory: HASH_ADD then
 * leaves the element out and sets sampler__hash_oom (used under g.lock). */
extern int sampler__hash_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (sampler__hash_oom = 1)
#include <uthash.h>

#include "sampler.h"

/* ---- the interrupted context ----------------------------------------------- */

/* The interrupted pc, frame pointer and stack pointer from the ucontext_t a
 * signal handler was given; false on an architecture this file does not know
 * (x86_64 and aarch64 only). Register reads only: async-signal-safe. */
static inline bool sampler__context_regs(const void *ucontext, uintptr_t *pc, uintptr_t *fp,
                                         uintptr_t *sp)
{
    const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    *pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    *fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    return true;
#elif defined(__aarch64__)
    *pc = (uintptr_t)uc->uc_mcontext.pc;
    *fp = (uintptr_t)uc->uc_mcontext.regs[29];
    *sp = (uintptr_t)uc->uc_mcontext.sp;
    return true;
#else
    (void)uc;
    *pc = *fp = *sp = 0;
    return false;
#endif
}

/* Was the thread interrupted right as rt_sigprocmask returned with success,
 * i.e. as it unblocked signals? Register reads only. x86_64: `syscall` leaves
 * the return address in rcx, so rip == rcx only at a syscall's return; the
 * arguments stay in their registers (rdi = how, 0..2; r10 = sigsetsize, 8);
 * rax = 0. aarch64: x8 keeps the system call number. Other architectures:
 * false. */
static inline bool sampler__context_unblocking(const void *ucontext)
{
    const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    const greg_t *r = uc->uc_mcontext.gregs;
    return r[REG_RCX] == r[REG_RIP] && r[REG_R10] == 8 && (uint64_t)r[REG_RDI] <= 2 &&
           r[REG_RAX] == 0;
#elif defined(__aarch64__)
    return uc->uc_mcontext.regs[8] == 135 /* __NR_rt_sigprocmask */ &&
           uc->uc_mcontext.regs[0] == 0;
#else
    (void)uc;
    return false;
#endif
}

/* ---- tokens --------------------------------------------------------------
 * sigev_value carries a token, never a pointer:
 *   bits 56..63  tag (tells our timers from anyone else's; random per copy)
 *   bits 24..55  generation (global counter, never 0, unique per registration)
 *   bits  0..23  slot index
 */
#define SAMPLER__IDX_BITS 24
#define SAMPLER__MAX_SLOTS (1u << SAMPLER__IDX_BITS)
#define SAMPLER__CHUNK_SHIFT 10
#define SAMPLER__CHUNK_SLOTS (1u << SAMPLER__CHUNK_SHIFT)
#define SAMPLER__MAX_CHUNKS (SAMPLER__MAX_SLOTS / SAMPLER__CHUNK_SLOTS)

/* The magic is chosen at random per copy of the library (sampler__tag), so
 * two copies in one process (a preload module and a Python extension, say)
 * tell their tokens apart and chain each other's signals. */
extern uint8_t sampler__tag;
static inline uint64_t sampler__token_make(uint32_t idx, uint32_t gen)
{
    return ((uint64_t)sampler__tag << 56) | ((uint64_t)gen << SAMPLER__IDX_BITS) |
           (uint64_t)idx;
}
static inline bool sampler__token_ours(uint64_t tok)
{
    return sampler__tag != 0 && (tok >> 56) == sampler__tag;
}
static inline uint32_t sampler__token_idx(uint64_t tok)
{
    return (uint32_t)(tok & (SAMPLER__MAX_SLOTS - 1));
}
static inline uint32_t sampler__token_gen(uint64_t tok)
{
    return (uint32_t)(tok >> SAMPLER__IDX_BITS);
}

/* ---- slots ---------------------------------------------------------------- */

/* slot.busy values */
#define SAMPLER__SLOT_IDLE 0
#define SAMPLER__SLOT_HANDLER 1 /* a handler is using the slot */
#define SAMPLER__SLOT_DYING 2   /* management is tearing it down */

struct sampler__maps;

typedef struct sampler__slot {
    /* Read by the handler. gen is published last (seq_cst) after the other
     * fields are set, and cleared first when the slot is torn down. */
    _Atomic uint32_t gen;
    _Atomic int busy;
    _Atomic int disarmed; /* timer disarmed while paused, waiting for resume */
    pid_t tid;
    timer_t timer;
    void *thread_arg;
    uintptr_t stack_lo, stack_hi; /* by-tid: written by the thread's own handler */
    bool self;                    /* registered by the thread itself (fixed while live) */

    /* Management only (under the registry lock). */
    uint32_t idx;
    unsigned long long started; /* start time (clock ticks since boot), 0 if unknown */
    struct sampler__slot *next_free;
    UT_hash_handle hh; /* key: tid */
} sampler__slot;

/* ---- global state ----------------------------------------------------------- */

enum { SAMPLER__STOPPED = 0, SAMPLER__RUNNING = 1, SAMPLER__STOPPING = 2 };

typedef struct sampler__counters {
    _Atomic uint64_t signals, samples, weight, overruns, dropped, dropped_weight, paused,
        foreign, stale, timer_failures, reaped, delayed, delayed_weight;
} sampler__counters;

typedef struct sampler__buffer sampler__buffer;

typedef struct sampler__global {
    /* handler-visible */
    _Atomic int state;
    _Atomic int paused;
    _Atomic int inflight;
    _Atomic(sampler__slot *) chunks[SAMPLER__MAX_CHUNKS];
    _Atomic(sampler__buffer *) buf;
    _Atomic(const struct sampler__maps *) maps; /* newest snapshot */
    sampler__counters ctr;
    _Atomic uint64_t rng;
    /* config of the current run (set before the handler is installed) */
    sampler_config cfg;
    int signo;
    clockid_t clock_kind;
    struct sigaction old_action;
    _Atomic int handler_replaced; /* the program put another action in ours' place */
    uint64_t max_overrun; /* CPU clock: most overruns one on-time signal carries */
    uint64_t timer_budget; /* most timers this run may hold (RLIMIT_SIGPENDING reserve) */

    /* management (under lock) */
    pthread_mutex_t lock;
    pthread_mutex_t drain_lock;
    sampler__slot *by_tid;  /* uthash head */
    sampler__slot *free_list;
    uint32_t nslots;        /* slot indices handed out so far (high-water mark) */
    _Atomic uint64_t nthreads; /* written under lock, read by sampler_get_stats() */
    uint32_t next_gen;
    struct sampler__maps *retired; /* snapshots to free once no handler runs */
} sampler__global;

extern sampler__global sampler__g;

/* config.c */
/* A struct the caller passed with its `size` (as the caller's header had it):
 * SAMPLER_ESTRUCTSIZE below `min` (the size in the first header that had the
 * struct), or above `known` (this library's sizeof) with any byte past `known`
 * set (a newer header's fields this copy does not know must be unset, i.e. at
 * their default 0); else 0. */
int sampler__struct_size_check(const void *p, size_t size, size_t min, size_t known);
/* sampler_start(): `cfg` checked and completed into `out` (defaults for what an
 * older header lacks, the frame-pointer walker for a NULL one); 0 or
 * SAMPLER_EINVAL, SAMPLER_ESTRUCTSIZE, SAMPLER_ESIGNAL. */
int sampler__config_check(const sampler_config *cfg, sampler_config *out);

/* state.c */
/* Takes sampler__g.lock with cancellation disabled (a thread cancelled in a
 * cancellation point under the lock would leave it held forever);
 * SAMPLER_EBUSY inside drain callbacks and inside the sampler's handler. */
int sampler__lock(void);
void sampler__unlock(void); /* and restores the caller's cancellation state */
int sampler__check_running(void); /* under lock: 0 or SAMPLER_ENOTSTARTED */
uint64_t sampler__random(uint64_t bound); /* in [0, bound); async-signal-safe */
void sampler__wait_no_handler(void);
extern _Thread_local int sampler__in_drain;
/* Set by the handler around the walker: management calls from a walker get
 * SAMPLER_EBUSY instead of a deadlock. Initial-exec TLS: reading or writing it
 * never allocates, so the handler may touch it (the surplus static TLS glibc
 * keeps for dlopen'ed modules holds one int). */
extern _Thread_local int sampler__in_handler __attribute__((tls_model("initial-exec")));
/* Prepares a built-in walker that needs it in a normal context (the
 * libunwind walker, lib/walk_unwind.c). A weak reference, so that the
 * walker's object (and libunwind) is linked in only when a program uses the
 * walker: then it is defined, else NULL. Not a constructor-set hook: in a
 * shared object (sampler-run's preload module) a constructor that starts the
 * sampler may run before the walker's own constructor, and the main thread
 * then went unprepared (one-frame stacks until the first pthread_create).
 * Called (sampler__walker_prepare) under g.lock by sampler_start() with the
 * configured walker before the handler is installed, and by
 * sampler_thread_register() before the caller's timer exists. */
void sampler__unwind_prepare(sampler_walker_fn walker) __attribute__((weak));
static inline void sampler__walker_prepare(sampler_walker_fn walker)
{
    if (sampler__unwind_prepare != NULL)
        sampler__unwind_prepare(walker);
}

/* registry.c */
void sampler__registry_init(void);
int sampler__registry_resume(void);
void sampler__registry_clear(void); /* stop only (registry_free follows) */
void sampler__registry_free(void);
void sampler__registry_after_fork(void);
void sampler__forget_tid(void); /* fork child: the cached tid is the parent's */
void sampler__registry_forget(void);

/* slots.c (management calls under lock, except sampler__slot_get) */
sampler__slot *sampler__slot_get(uint32_t idx); /* async-signal-safe; NULL if none */
sampler__slot *sampler__slot_alloc(void);       /* NULL when out of memory or indices */
void sampler__slot_release(sampler__slot *s);   /* clear it, put it on the free list */
void sampler__slot_hold(sampler__slot *s);      /* busy = DYING, waiting out a handler */
void sampler__slot_unhold(sampler__slot *s);    /* busy = IDLE */
void sampler__slot_seize(sampler__slot *s);     /* hold, gen = 0, unhold */
void sampler__slots_free(void);   /* stopped, no handler in flight: free the chunks */
void sampler__slots_forget(void); /* fork child: drop the chunks unread */

/* timers.c */
int sampler__timer_create(sampler__slot *s, uint64_t token, bool self);
int sampler__timer_arm(const sampler__slot *s); /* random first expiry; async-signal-safe */
void sampler__timer_disarm(const sampler__slot *s); /* async-signal-safe */
void sampler__timer_delete(sampler__slot *s);
/* Under lock, CPU mode: has the task the slot's timer was made for exited?
 * Exact across tid reuse (the timer is bound to the task). */
bool sampler__timer_task_gone(sampler__slot *s);
/* At start: how many timers this run may hold, leaving part of
 * RLIMIT_SIGPENDING to the program (see timers.c). */
uint64_t sampler__timer_budget(void);

/* signal.c */
int sampler__signal_install(int signo);
/* Is our handler still the signal's action? (one sigaction() call) */
bool sampler__signal_is_ours(int signo);
/* Stop, step 3: SIG_IGN in place of our handler. False (and nothing changed
 * for long) when the action was no longer ours: the program's stays. */
bool sampler__signal_ignore(int signo);
/* Stop, step 5: the previous action in place of SIG_IGN, unless someone set
 * another action meanwhile. */
void sampler__signal_restore(int signo);
/* Fork child: the previous action in place of ours, if ours is still there. */
void sampler__signal_restore_if_ours(int signo);
int sampler__signo_valid(int signo);

/* buffer.c */
/* Bytes of the sample cells for (capacity, max_depth), bounded by
 * SAMPLER_BUFFER_MAX_BYTES in sampler_start() (the mapping adds a header). */
size_t sampler__buffer_bytes(size_t capacity, int max_depth);
sampler__buffer *sampler__buffer_new(size_t capacity, int max_depth);
void sampler__buffer_free(sampler__buffer *b);
/* What the handler stores besides the pcs. */
typedef struct sampler__record {
    pid_t tid;
    int depth;
    uint64_t time_ns;
    uint64_t weight, delayed_weight;
    void *thread_arg;
} sampler__record;
/* async-signal-safe: reserve a record, fill it, publish it */
uintptr_t *sampler__buffer_reserve(sampler__buffer *b, void **rec);
void sampler__buffer_commit(sampler__buffer *b, void *rec, const sampler__record *r);

/* maps.c */
typedef struct sampler__range {
    uintptr_t lo, hi;
} sampler__range;
typedef struct sampler__maps {
    struct sampler__maps *next_retired;
    unsigned long long taken; /* clock ticks since boot when reading began */
    size_t n;
    sampler__range r[];
} sampler__maps;
int sampler__maps_refresh(void); /* under lock: take a new snapshot, retire the old */
/* under lock: does the snapshot hold the stack of a thread started at `started`
 * (clock ticks since boot, as in /proc/PID/task/TID/stat)? */
bool sampler__maps_covers(unsigned long long started);
void sampler__maps_collect(bool all); /* under lock: free retired snapshots */
const sampler__range *sampler__maps_find(const sampler__maps *m, uintptr_t addr);

/* procfs.c */
/* Start time of a thread of this process (clock ticks since boot);
 * SAMPLER_ENOTHREAD if it is gone. */
int sampler__thread_started(pid_t tid, unsigned long long *started);
/* The thread ids in /proc/self/task, in a malloc'd array. */
int sampler__list_tasks(pid_t **out, size_t *count);

#endif /* SAMPLER_INTERNAL_H */
