/*
 * A language runtime as a libsampler client: a toy interpreter whose stack
 * walker records the interpreter's own frames, named by a resolver of its own.
 *
 * The "language" has four functions (main, parse, eval, fib); each thread
 * runs a program in them on its own interpreter stack (an array of frames:
 * function, line). The thread registers with that stack as its thread_arg;
 * the walker, in the signal handler, reads it (innermost first) and stores
 * one frame word of kind TOY_KIND per interpreted frame (payload: the
 * function) and a SAMPLER_FRAME_KIND_EXTRA word after it (payload: the line),
 * then the native frames of the interpreter under them (frame-pointer walk).
 * libsampler-profile asks toy_resolve() for their names when the samples are
 * added, and the writers show them like any frame:
 *
 *     toy_interp;main (prog.toy:1);eval (prog.toy:7);fib (prog.toy:11);... 123
 *
 * Run: ./toy_interp [OUTPUT.folded]   (default toy.folded; any format's
 * extension works: .svg, .pb.gz, ...). It prints the heaviest interpreted
 * functions and exits 1 if the profile does not name them.
 */
#define _GNU_SOURCE
#include <sampler.h>
#include <sampler/profile.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOY_KIND 3 /* our frame kind: any of 1..SAMPLER_FRAME_KIND_MAX */
#define TOY_MAX_DEPTH 64

enum { FN_MAIN, FN_PARSE, FN_EVAL, FN_FIB, FN_COUNT };
static const char *const toy_names[FN_COUNT] = {"main", "parse", "eval", "fib"};

/* One thread's interpreter stack. Written only by its thread; the walker
 * runs on that same thread (in its signal handler), so a compiler barrier
 * orders the writes the walker may see half-way. */
typedef struct toy_frame {
    int fn;
    int line;
} toy_frame;
typedef struct toy_stack {
    toy_frame frames[TOY_MAX_DEPTH];
    volatile int depth;
} toy_stack;

static void toy_push(toy_stack *s, int fn, int line)
{
    s->frames[s->depth].fn = fn;
    s->frames[s->depth].line = line;
    atomic_signal_fence(memory_order_seq_cst); /* the frame, then the depth */
    s->depth++;
}

static void toy_pop(toy_stack *s)
{
    s->depth--;
    atomic_signal_fence(memory_order_seq_cst);
}

static void toy_line(toy_stack *s, int line)
{
    s->frames[s->depth - 1].line = line;
}

/* ---- the "interpreter" --------------------------------------------------- */

static volatile uint64_t toy_sink;

static void toy_burn(int units)
{
    uint64_t x = toy_sink;
    for (int i = 0; i < units * 20000; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    toy_sink = x;
}

static int toy_fib(toy_stack *s, int n)
{
    toy_push(s, FN_FIB, 11);
    int r;
    if (n < 2) {
        toy_line(s, 12);
        toy_burn(1);
        r = n;
    } else {
        toy_line(s, 13);
        r = toy_fib(s, n - 1) + toy_fib(s, n - 2);
    }
    toy_pop(s);
    return r;
}

static void toy_program(toy_stack *s, int rounds)
{
    toy_push(s, FN_MAIN, 1);
    for (int i = 0; i < rounds; i++) {
        toy_line(s, 2);
        toy_push(s, FN_PARSE, 4);
        toy_burn(40); /* parse: a flat loop */
        toy_pop(s);
        toy_line(s, 3);
        toy_push(s, FN_EVAL, 7);
        toy_fib(s, 10); /* eval: recursion */
        toy_pop(s);
    }
    toy_pop(s);
}

/* ---- the client side of libsampler ------------------------------------- */

/* In the signal handler: the interpreted frames (innermost first), each a
 * TOY_KIND word and an EXTRA word, then the native frames under them. */
static int toy_walker(const sampler_walk_ctx *ctx, uintptr_t *pcs, int max_depth, void *arg)
{
    (void)arg;
    const toy_stack *s = ctx->thread_arg;
    int n = 0;
    if (s != NULL) {
        int depth = s->depth;
        atomic_signal_fence(memory_order_seq_cst);
        for (int i = depth - 1; i >= 0 && n + 2 <= max_depth; i--) {
            pcs[n++] = SAMPLER_FRAME_MAKE(TOY_KIND, (unsigned)s->frames[i].fn);
            pcs[n++] = SAMPLER_FRAME_MAKE(SAMPLER_FRAME_KIND_EXTRA, (unsigned)s->frames[i].line);
        }
    }
    if (n < max_depth)
        n += sampler_walk_fp(ctx, pcs + n, max_depth - n, NULL);
    return n;
}

/* Outside the handler, when the profile first sees a frame. */
static int toy_resolve(unsigned int kind, uint64_t payload, uint64_t extra,
                       sampler_frame_info *info, void *arg)
{
    (void)kind;
    (void)arg;
    static char name[64];
    if (payload >= FN_COUNT)
        return -1;
    snprintf(name, sizeof name, "%s (prog.toy:%u)", toy_names[payload], (unsigned)extra);
    info->name = name;
    info->function = toy_names[payload];
    info->file = "prog.toy";
    info->line = (int)extra;
    return 0;
}

static void *toy_thread(void *arg)
{
    toy_stack *s = arg;
    int rc = sampler_thread_register(s); /* thread_arg: this thread's stack */
    if (rc < 0)
        fprintf(stderr, "toy_interp: register: %s\n", sampler_strerror(rc));
    toy_program(s, 60);
    sampler_thread_unregister();
    return NULL;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "toy_interp: %s: %s\n", what, sampler_strerror(rc));
    exit(2);
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "toy.folded";
    sampler_config cfg;
    sampler_config_init(&cfg, sizeof cfg);
    cfg.interval_ns = 1000000; /* 1 ms of CPU */
    cfg.walker = toy_walker;
    int rc = sampler_start(&cfg);
    if (rc < 0)
        die("sampler_start", rc);
    sampler_profile *prof;
    if ((rc = sampler_profile_new(&prof, NULL)) < 0)
        die("sampler_profile_new", rc);
    if ((rc = sampler_profile_set_frame_resolver(prof, TOY_KIND, toy_resolve, NULL)) < 0)
        die("sampler_profile_set_frame_resolver", rc);
    if ((rc = sampler_profile_collector_start(prof, 50)) < 0)
        die("sampler_profile_collector_start", rc);

    static toy_stack stacks[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, toy_thread, &stacks[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    sampler_stop();
    sampler_profile_collector_stop(prof); /* drains what is left */
    if ((rc = sampler_profile_write(prof, out, NULL, SAMPLER_PROFILE_THREADS)) < 0)
        die("sampler_profile_write", rc);

    /* What the flat profile says: weight per interpreted function (a frame
     * counted once per stack), from the folded text. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    sampler_profile_write_folded(prof, mem, 0);
    fclose(mem);
    uint64_t fn_weight[FN_COUNT] = {0}, total = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *sp = strrchr(line, ' ');
        uint64_t w = sp != NULL ? strtoull(sp + 1, NULL, 10) : 0;
        total += w;
        for (int f = 0; f < FN_COUNT; f++) {
            char key[32];
            snprintf(key, sizeof key, "%s (prog.toy:", toy_names[f]);
            if (strstr(line, key) != NULL)
                fn_weight[f] += w;
        }
    }
    free(text);
    printf("toy_interp: %llu samples of weight; interpreted functions on the stack:\n",
           (unsigned long long)total);
    for (int f = 0; f < FN_COUNT; f++)
        printf("  %-6s %5.1f%%\n", toy_names[f],
               total ? 100.0 * (double)fn_weight[f] / (double)total : 0.0);
    printf("toy_interp: profile written to %s\n", out);
    sampler_profile_free(prof);
    /* every sample runs main; eval's recursion and parse's loop both show */
    int ok = total > 0 && fn_weight[FN_MAIN] * 10 >= total * 9 && fn_weight[FN_FIB] > 0 &&
             fn_weight[FN_PARSE] > 0;
    if (!ok)
        fprintf(stderr, "toy_interp: the profile does not name the interpreted functions\n");
    return ok ? 0 : 1;
}
