/* test_bptt_cli.c — memory-budgeted BPTT through `nnc FILE.nn` (the real binary, the
 * driver's path: irgen, passes, the optimizer's state in the budget): a budget below the
 * minimum is an error naming the minimum in bytes; a budget of the minimum plus a few
 * slots trains with recomputation, its measured peak within 5 % of the prediction and
 * under the budget; and the weights after two steps equal plain BPTT's bit for bit. A
 * small character LSTM over Debian's fortunes (hidden 32, 60-step sequences). */
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
    "    let hs = lstm.states(emb(ids))\n"
    "    return reshape(out(reshape(hs, B * T, hidden)), B, T, vocab)\n"
    "  }\n"
    "}\n"
    "train M {\n"
    "  data       = text(\"fortunes\", seq = 60, split = 0.95)\n"
    "  loss       = cross_entropy(logits(batch.x), batch.y)\n"
    "  optimizer  = adam(lr = 2e-3)\n"
    "  batch_size = 4\n"
    "}\n";

/* Runs a shell command in directory d, capturing stdout and stderr; the exit status. */
static int run(const char *d, const char *args, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cd %s && %s m.nn --steps=2 --seed=3 %s 2>&1", d, NNC, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void setup(char *d, size_t n) {
  snprintf(d, n, "/tmp/nnc-bptt-XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  char path[128];
  snprintf(path, sizeof path, "%s/m.nn", d);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(model, f);
  fclose(f);
}

static int same_file(const char *d, const char *a, const char *b) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s", d, a, d, b);
  return system(cmd) == 0;
}

Test(bptt_cli, budget_minimum_measured_peak_and_weights, .timeout = 120) {
  char d[64], out[1 << 15], args[256];
  setup(d, sizeof d);
  /* below the minimum: the error names it (the bytes depend on the memory plan) */
  cr_assert_eq(run(d, "--memory-budget=1KB --no-save", out, sizeof out), 1, "%s", out);
  const char *want = "nnc: error: bptt: memory budget of 1000 bytes is below the minimum of ";
  const char *e = strstr(out, want);
  cr_assert_not_null(e, "%s", out);
  unsigned long long min = strtoull(e + strlen(want), NULL, 10), slot = 2 * 4 * 32 * 4; /* h, c: [4, 32] */
  cr_assert(min > slot, "%s", out);
  /* the minimum and 7 more slots: recomputation under the budget */
  unsigned long long budget = min + 7 * slot;
  snprintf(args, sizeof args, "--memory-budget=%llu --dump=bptt --save=ck.safetensors", budget);
  cr_assert_eq(run(d, args, out, sizeof out), 0, "%s", out);
  cr_expect_not_null(strstr(out, "trained 2 steps"), "%s", out);
  const char *m = strstr(out, "bptt scan0 measured: forward body runs ");
  cr_assert_not_null(m, "%s", out);
  long long runs, pruns, peak, pred;
  int slots;
  cr_assert_eq(sscanf(m, "bptt scan0 measured: forward body runs %lld (predicted %lld;", &runs, &pruns), 2, "%s", m);
  const char *pk = strstr(m, "; peak ");
  cr_assert_not_null(pk, "%s", m);
  cr_assert_eq(sscanf(pk, "; peak %d slots = %lld bytes with the fixed part (predicted %lld)", &slots, &peak, &pred), 3,
               "%s", pk);
  cr_expect_eq(runs, pruns);
  cr_expect(runs > 60, "recomputation: %lld forward body runs for 60 steps", runs);
  cr_expect(slots <= 8, "peak %d slots", slots);
  cr_expect((unsigned long long)peak <= budget, "measured peak %lld > budget %llu", peak, budget);
  cr_expect(llabs(peak - pred) * 20 <= pred, "measured peak %lld, predicted %lld", peak, pred);
  /* plain BPTT (scan hoisting off, as under a budget): the same weights, bit for bit */
  cr_assert_eq(run(d, "-fno-scan-hoist --save=plain.safetensors", out, sizeof out), 0, "%s", out);
  cr_expect(same_file(d, "ck.safetensors", "plain.safetensors"), "weights differ from plain BPTT's");
}
