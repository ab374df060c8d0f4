/* main.c — the nnc command line.
 *
 *   nnc --check FILE          parse and check; exit 0 when clean, 1 on errors
 *   nnc --dump=WHAT FILE      tokens | ast | types, on stdout
 *   nnc FILE                  compile and run the file's training declaration
 *   nnc --version | --help
 *
 * Options live in one table (name, argument, help); each sets a field of Cli. Later
 * stages (running, training, the REPL) add rows and modes here. Diagnostics go to
 * stderr, in color only when stderr is a terminal and NO_COLOR is unset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "bptt_lower.h"
#include "driver.h"
#include "fuse.h"
#include "lang.h"

#ifndef NNC_VERSION
#define NNC_VERSION "0.1.0"
#endif

enum { MAX_IMPORT_PATHS = 64 };

typedef enum { MODE_RUN, MODE_CHECK, MODE_DUMP, MODE_HELP, MODE_VERSION, MODE_AOT, MODE_REPL } Mode;

typedef struct Cli {
  Mode mode;
  const char *dump;       /* tokens | ast | types */
  const char *file;
  int werror;
  int max_errors;
  const char *import_paths[MAX_IMPORT_PATHS + 1];
  int npaths;
  DrvOptions run;         /* nnc FILE: the training run's options */
  const char *out;        /* -o PATH (MODE_AOT) */
  int emit;               /* nnc_emit_kind (MODE_AOT) */
  int64_t batch;          /* --batch=N (MODE_AOT) */
} Cli;

typedef struct Option {
  const char *name;       /* "--dump=" takes its value after '='; "-I" the next word */
  int takes_value;
  int (*apply)(Cli *cli, const char *value);   /* 0 on a bad value */
  const char *help;
} Option;

static int opt_check(Cli *c, const char *v) { (void)v; c->mode = MODE_CHECK; return 1; }
static int opt_help(Cli *c, const char *v) { (void)v; c->mode = MODE_HELP; return 1; }
static int opt_version(Cli *c, const char *v) { (void)v; c->mode = MODE_VERSION; return 1; }
static int opt_werror(Cli *c, const char *v) { (void)v; c->werror = 1; return 1; }

static int opt_dump(Cli *c, const char *v) {
  if (!strcmp(v, "bptt")) {
    c->run.dump_bptt = 1; /* printed while training: the plan per scan, then measured */
    return 1;
  }
  if (!strcmp(v, "graph") || !strcmp(v, "kernels") || !strcmp(v, "llvm") || !strcmp(v, "llvm-opt") ||
      !strcmp(v, "asm")) {
    c->run.dump = v;      /* printed by the driver when it compiles the training step */
    return 1;
  }
  if (!strcmp(v, "memory")) { /* the arena plans, printed as the steps are lowered */
    lower_options lo = *lower_get_options();
    lo.dump_memory = stdout;
    lower_set_options(&lo);
    c->run.dump = v;
    return 1;
  }
  if (strcmp(v, "tokens") != 0 && strcmp(v, "ast") != 0 && strcmp(v, "types") != 0)
    return 0;
  c->mode = MODE_DUMP;
  c->dump = v;
  return 1;
}

static int opt_max_errors(Cli *c, const char *v) {
  char *end;
  long n = strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < 1 || n > 1000000)
    return 0;
  c->max_errors = (int)n;
  return 1;
}

/* A non-negative integer option value; 0 (bad) otherwise. */
static int int_value(const char *v, int64_t *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < 0)
    return 0;
  *out = n;
  return 1;
}

static int opt_seed(Cli *c, const char *v) { return int_value(v, &c->run.seed); }
static int opt_epochs(Cli *c, const char *v) { return int_value(v, &c->run.epochs) && c->run.epochs > 0; }
static int opt_steps(Cli *c, const char *v) { return int_value(v, &c->run.max_steps) && c->run.max_steps > 0; }
static int opt_threads(Cli *c, const char *v) {
  int64_t n;
  if (!int_value(v, &n) || n < 1 || n > 1024)
    return 0;
  c->run.threads = (int)n;
  return 1;
}
static int opt_save(Cli *c, const char *v) { c->run.save = v; return *v != '\0'; }
static int opt_load(Cli *c, const char *v) { c->run.load = v; return *v != '\0'; }
static int opt_metrics(Cli *c, const char *v) { c->run.metrics = v; return *v != '\0'; }
static int opt_checkpoint(Cli *c, const char *v) { c->run.checkpoint = v; return *v != '\0'; }
static int opt_resume(Cli *c, const char *v) { (void)v; c->run.resume = 1; return 1; }
static int opt_check_numerics(Cli *c, const char *v) { (void)v; c->run.check_numerics = 1; return 1; }
static int opt_no_save(Cli *c, const char *v) { (void)v; c->run.no_save = 1; return 1; }
static int opt_interp(Cli *c, const char *v) { (void)v; c->run.interp = 1; return 1; }
static int opt_no_opt(Cli *c, const char *v) { (void)v; c->run.no_passes = 1; return 1; }
static int opt_time_passes(Cli *c, const char *v) { (void)v; c->run.time_passes = 1; return 1; }
static int opt_memory_budget(Cli *c, const char *v) {
  return lscan_parse_bytes(v, &c->run.memory_budget) == 0 && c->run.memory_budget > 0;
}
static int opt_bptt_policy(Cli *c, const char *v) {
  bp_policy p;
  c->run.bptt_policy = v;
  return !strcmp(v, "auto") || bp_policy_parse(v, &p) == 0;
}

static int opt_emit_obj(Cli *c, const char *v) { (void)v; c->mode = MODE_AOT; c->emit = NNC_EMIT_OBJ; return 1; }
static int opt_emit_asm(Cli *c, const char *v) { (void)v; c->mode = MODE_AOT; c->emit = NNC_EMIT_ASM; return 1; }
static int opt_emit_llvm(Cli *c, const char *v) { (void)v; c->mode = MODE_AOT; c->emit = NNC_EMIT_LLVM; return 1; }
static int opt_out(Cli *c, const char *v) { c->out = v; return *v != '\0'; }
static int opt_batch(Cli *c, const char *v) { return int_value(v, &c->batch) && c->batch > 0; }
static int opt_no_cache(Cli *c, const char *v) { (void)v; return setenv("NNC_NO_CACHE", "1", 1) == 0; }
static int opt_no_share_kernels(Cli *c, const char *v) {
  (void)c, (void)v;
  lower_options lo = *lower_get_options();
  lo.no_share_kernels = 1;
  lower_set_options(&lo);
  return 1;
}
static int opt_no_fuse(Cli *c, const char *v) {
  (void)c, (void)v;
  lower_options lo = *lower_get_options();
  lo.no_fuse = 1;
  lower_set_options(&lo);
  return 1;
}

static int opt_no_scan_hoist(Cli *c, const char *v) {
  (void)c, (void)v;
  lower_options lo = *lower_get_options();
  lo.no_scan_hoist = 1;
  lower_set_options(&lo);
  return 1;
}

static int opt_import_path(Cli *c, const char *v) {
  if (c->npaths >= MAX_IMPORT_PATHS)
    return 0;
  c->import_paths[c->npaths++] = v;
  return 1;
}

static const Option options[] = {
  {"--check", 0, opt_check, "parse and check FILE; exit 0 when clean, 1 on errors"},
  {"--dump=", 1, opt_dump, "--dump=tokens|ast|types|graph|kernels|memory|llvm|llvm-opt|asm|bptt: print a "
                           "stage (graph ... asm: the training step; bptt: checkpointing plans, while "
                           "training)"},
  {"--memory-budget=", 1, opt_memory_budget, "--memory-budget=SIZE: what a training step may keep (64MB, "
                                             "1GiB, bytes); scans recompute to fit (docs/bptt.md)"},
  {"--bptt-policy=", 1, opt_bptt_policy, "--bptt-policy=auto|store-all|revolve|sqrt|hsm|ism|msm: BPTT "
                                         "checkpointing policy (hsm/ism/msm: see US patent 11,256,990)"},
  {"--seed=", 1, opt_seed, "--seed=N: the run's seed (initialization, shuffling, sampling)"},
  {"--epochs=", 1, opt_epochs, "--epochs=N: override the declaration's epochs"},
  {"--steps=", 1, opt_steps, "--steps=N: stop after N training steps"},
  {"--threads=", 1, opt_threads, "--threads=N: worker threads (default: OMP_NUM_THREADS or all)"},
  {"--save=", 1, opt_save, "--save=PATH: where to save the final weights (FILE's stem.safetensors)"},
  {"--load=", 1, opt_load, "--load=PATH: start from these weights (safetensors)"},
  {"--metrics=", 1, opt_metrics, "--metrics=PATH: per-epoch metrics CSV (FILE's stem.metrics.csv)"},
  {"--no-save", 0, opt_no_save, "do not save the weights"},
  {"--check-numerics", 0, opt_check_numerics, "stop at the first NaN or Inf and name the op and "
                                              "source line that made it"},
  {"--checkpoint=", 1, opt_checkpoint, "--checkpoint=PATH: write checkpoints there (after every "
                                       "epoch, at --steps and on Ctrl-C)"},
  {"--resume", 0, opt_resume, "continue from the checkpoint (--checkpoint=, the declaration's, "
                              "or FILE's stem.ckpt)"},
  {"--interp", 0, opt_interp, "run the reference interpreter instead of the LLVM JIT (slow)"},
  {"--time-passes", 0, opt_time_passes, "print the CPU seconds of each compile stage of each function"},
  {"-fno-opt", 0, opt_no_opt, "skip the graph passes (simplify, CSE)"},
  {"-fno-fuse", 0, opt_no_fuse, "one kernel per graph node (no operator fusion; docs/codegen.md)"},
  {"-fno-share-kernels", 0, opt_no_share_kernels, "one LLVM function per kernel even when kernels are identical "
                                                    "but for their buffers (docs/codegen.md)"},
  {"-fno-scan-hoist", 0, opt_no_scan_hoist, "keep scans' input projections in the loop (docs/codegen.md)"},
  {"-c", 0, opt_emit_obj, "compile FILE's model functions to an object (-o PATH) and a header"},
  {"-S", 0, opt_emit_asm, "like -c, writing assembly"},
  {"--emit-llvm", 0, opt_emit_llvm, "like -c, writing LLVM IR"},
  {"-o", 1, opt_out, "-o PATH: output of -c, -S, --emit-llvm (header: PATH with .h)"},
  {"--batch=", 1, opt_batch, "--batch=N: symbolic dims of -c entry points (1)"},
  {"--no-cache", 0, opt_no_cache, "do not use the compile cache ($NNC_CACHE_DIR, ~/.cache/nnc)"},
  {"-I", 1, opt_import_path, "-I DIR: also look for imports in DIR"},
  {"-Werror", 0, opt_werror, "treat warnings as errors"},
  {"--max-errors=", 1, opt_max_errors, "--max-errors=N: stop reporting after N errors (50)"},
  {"--help", 0, opt_help, "show this help"},
  {"--version", 0, opt_version, "show the version"},
};

enum { NOPTIONS = sizeof options / sizeof options[0] };

static void usage(FILE *out) {
  fprintf(out, "usage: nnc [options] FILE\n\n");
  for (int i = 0; i < NOPTIONS; i++)
    fprintf(out, "  %-16s %s\n", options[i].name, options[i].help);
  fprintf(out, "\nWithout --check or --dump, nnc compiles FILE and runs its training "
          "declaration.\nImports are also searched in $NNC_PATH (':'-separated).\n");
}

/* Applies argv[*i] (and its value); returns 0 on an unknown option or a bad value. */
static int apply_option(Cli *cli, int argc, char **argv, int *i) {
  const char *arg = argv[*i];
  for (int k = 0; k < NOPTIONS; k++) {
    const Option *o = &options[k];
    size_t n = strlen(o->name);
    if (o->takes_value && o->name[n - 1] == '=' && strncmp(arg, o->name, n) == 0)
      return o->apply(cli, arg + n);
    if (o->takes_value && o->name[n - 1] != '=' && strncmp(arg, o->name, n) == 0) {
      if (arg[n])
        return o->apply(cli, arg + n);
      if (*i + 1 >= argc)
        return 0;
      return o->apply(cli, argv[++*i]);
    }
    if (!o->takes_value && strcmp(arg, o->name) == 0)
      return o->apply(cli, NULL);
  }
  return 0;
}

/* Fills cli from argv; returns 0 (after a message) on a usage error. */
static int parse_args(Cli *cli, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      if (!apply_option(cli, argc, argv, &i)) {
        fprintf(stderr, "nnc: bad option '%s' (see nnc --help)\n", argv[i]);
        return 0;
      }
    } else if (cli->file) {
      fprintf(stderr, "nnc: more than one input file ('%s' and '%s')\n", cli->file, argv[i]);
      return 0;
    } else {
      cli->file = argv[i];
    }
  }
  if (cli->file && !strcmp(cli->file, "repl") && access("repl", F_OK) != 0)
    cli->file = NULL, cli->mode = MODE_REPL;
  if (!cli->file && cli->mode == MODE_RUN)
    cli->mode = MODE_REPL;
  if (!cli->file && cli->mode != MODE_HELP && cli->mode != MODE_VERSION && cli->mode != MODE_REPL) {
    fprintf(stderr, "nnc: no input file (see nnc --help)\n");
    return 0;
  }
  return 1;
}

static int use_color(void) {
  return isatty(2) && !getenv("NO_COLOR");
}

/* Does the file declare something to train? */
static int has_train(const Node *file) {
  for (int i = 0; file && i < file->nkids; i++)
    if (file->kids[i] && file->kids[i]->kind == N_TRAIN)
      return 1;
  return 0;
}

/* Runs the selected mode on cli->file; returns the exit status. */
static int run_file(const Cli *cli, Lang *L) {
  if (cli->mode == MODE_DUMP && strcmp(cli->dump, "tokens") == 0) {
    SrcFile *f = src_load(L, cli->file);
    if (f)
      lang_dump_tokens(L, f, stdout);
    return 0;
  }
  Node *file = lang_parse_file(L, cli->file);
  if (!file)
    return 0;
  if (cli->mode == MODE_DUMP && strcmp(cli->dump, "ast") == 0) {
    ast_dump(L, file, stdout);
    return 0;
  }
  if (diag_error_count(L) == 0)
    lang_check(L, file);
  if (cli->mode == MODE_DUMP && diag_error_count(L) == 0)
    lang_dump_types(L, file, stdout);
  if (cli->mode == MODE_RUN && diag_error_count(L) == 0 && !has_train(file))
    diag_error(L, (Span){file->span.file, 0, 0},
               "nothing to run: '%s' has no train declaration (use --check to only check it)",
               cli->file);
  if (cli->mode == MODE_RUN && diag_error_count(L) == 0) {
    diag_render_new(L, stderr, use_color());   /* the checker's warnings before the run */
    return drv_train(L, file, cli->file, &cli->run);
  }
  return 0;
}

int main(int argc, char **argv) {
  Cli cli = {0};
  cli.run.seed = -1;
  cli.run.epochs = -1;
  cli.run.out = stdout;
  cli.run.err = stderr;
  if (!parse_args(&cli, argc, argv))
    return 2;
  if (cli.mode == MODE_HELP) {
    usage(stdout);
    return 0;
  }
  if (cli.mode == MODE_VERSION) {
    printf("nnc %s\n", NNC_VERSION);
    return 0;
  }
  if (cli.mode == MODE_AOT)
    return aot_cli(cli.file, cli.out, cli.emit, cli.batch ? cli.batch : 1, cli.import_paths);
  if (cli.mode == MODE_REPL)
    return repl_main(cli.import_paths, stdin, stdout);
  LangOptions opt = {cli.import_paths, cli.werror, cli.max_errors};
  Lang *L = lang_new(&opt);
  if (!L) {
    fprintf(stderr, "nnc: out of memory\n");
    return 1;
  }
  int ran = run_file(&cli, L);
  fflush(stdout);
  diag_render_new(L, stderr, use_color());
  int status = diag_error_count(L) || ran ? 1 : 0;
  lang_free(L);
  return status;
}
