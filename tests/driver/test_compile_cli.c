/* test_compile_cli.c — compile-time reporting and kernel sharing through `nnc FILE.nn`:
 * --time-passes prints one line per compiled function with every stage; a model that
 * unrolls the same LSTM four times (MC-dropout style, a compile-time `for`) emits far
 * fewer LLVM loop functions with kernel sharing than with -fno-share-kernels, and trains
 * to the same weights, bit for bit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NNC NNC_BINARY_DIR "/nnc"

static const char *model =
    "import nn\n"
    "model M(vocab: int = 256, embed: int = 16, hidden: int = 32) {\n"
    "  emb  = nn.Embedding(vocab, embed)\n"
    "  lstm = nn.LSTM(embed, hidden)\n"
    "  out  = nn.Linear(hidden, vocab)\n"
    "  fn logits(ids: i32[B, T]) -> f32[B, T, vocab] {\n"
    "    let m = broadcast_to(cast(bernoulli(0.75, B, 1, embed), f32) / 0.75, B, T, embed)\n"
    "    let hs = lstm.states(emb(ids) * m)\n"
    "    return reshape(out(reshape(hs, B * T, hidden)), B, T, vocab)\n"
    "  }\n"
    "  fn mc(ids: i32[B, T], y: i32[B, T]) -> f32[] {\n"
    "    var acc = cross_entropy(logits(ids), y)\n"
    "    for s in 1..4 {\n"
    "      acc = acc + cross_entropy(logits(ids), y)\n"
    "    }\n"
    "    return acc / 4.0\n"
    "  }\n"
    "}\n"
    "train M {\n"
    "  data       = text(\"fortunes\", seq = 20, split = 0.95)\n"
    "  loss       = mc(batch.x, batch.y)\n"
    "  optimizer  = adam(lr = 2e-3)\n"
    "  batch_size = 4\n"
    "}\n";

/* Runs nnc on m.nn in directory d with args (no compile cache), capturing stdout and
 * stderr; the exit status. */
static int run(const char *d, const char *args, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cd %s && NNC_NO_CACHE=1 %s m.nn --seed=3 %s 2>&1", d, NNC, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void setup(char *d, size_t n) {
  snprintf(d, n, "/tmp/nnc-compile-XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  char path[128];
  snprintf(path, sizeof path, "%s/m.nn", d);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(model, f);
  fclose(f);
}

/* Loop functions in a --dump=llvm text (not their .par / .seq wrappers). */
static int loop_fns(const char *txt) {
  int n = 0;
  for (const char *p = txt; (p = strstr(p, "define internal void @")); p++) {
    const char *end = strchr(p, '(');
    n += !(end - p > 4 && (!strncmp(end - 4, ".par", 4) || !strncmp(end - 4, ".seq", 4)));
  }
  return n;
}

Test(compile_cli, time_passes_names_every_stage, .timeout = 120) {
  char d[64], out[1 << 15];
  setup(d, sizeof d);
  cr_assert_eq(run(d, "--steps=1 --no-save --time-passes", out, sizeof out), 0, "%s", out);
  const char *fns[2] = {"time-passes train_step (batch 4, ", "time-passes eval_step (batch 4, "};
  const char *stages[] = {"nodes traced, ", " after passes): trace+autodiff ", ", simplify+cse ", ", lower ",
                          ", llvm-ir ", ", llvm-opt ", ", llvm-emit ", ", total ", " CPU s\n"};
  for (int i = 0; i < 2; i++) {
    const char *l = strstr(out, fns[i]);
    cr_assert_not_null(l, "no '%s' in:\n%s", fns[i], out);
    for (size_t s = 0; s < sizeof stages / sizeof *stages; s++) {
      const char *at = strstr(l, stages[s]);
      cr_assert(at && at < strchr(l, '\n') + 1, "'%s' lacks '%s'", l, stages[s]);
      l = at;
    }
  }
  /* without the option: no such line */
  cr_assert_eq(run(d, "--steps=1 --no-save", out, sizeof out), 0, "%s", out);
  cr_assert_null(strstr(out, "time-passes"), "%s", out);
}

Test(compile_cli, unrolled_copies_share_kernels_with_equal_weights, .timeout = 240) {
  char d[64], *out = malloc(1 << 22);
  setup(d, sizeof d);
  cr_assert_eq(run(d, "--dump=llvm", out, 1 << 22), 0, "%.2000s", out);
  int shared = loop_fns(out);
  cr_assert_eq(run(d, "--dump=llvm -fno-share-kernels", out, 1 << 22), 0, "%.2000s", out);
  int apart = loop_fns(out);
  /* four copies of the LSTM forward and backward: at least 3 in 4 loop functions go */
  cr_expect(shared > 0 && 4 * shared <= apart + 8, "%d loop functions shared, %d apart", shared, apart);
  cr_assert_eq(run(d, "--steps=2 --save=shared.safetensors", out, 1 << 22), 0, "%s", out);
  cr_assert_eq(run(d, "--steps=2 --save=apart.safetensors -fno-share-kernels", out, 1 << 22), 0, "%s", out);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "cmp -s %s/shared.safetensors %s/apart.safetensors", d, d);
  cr_expect_eq(system(cmd), 0, "weights differ with and without kernel sharing");
  free(out);
}
