/* End-to-end tests of `nnc FILE.nn` (the real binary): training lowers the loss on
 * Fashion-MNIST, the same seed gives the same weights, and an interrupted run resumed from
 * its checkpoint ends bit for bit where an uninterrupted run ends. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NNC NNC_BINARY_DIR "/nnc"
#define MLP NNC_SOURCE_DIR "/examples/fashion_mlp.nn"

/* Runs a shell command, capturing stdout into out; returns the exit status. */
static int run(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int same_file(const char *a, const char *b) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
  return system(cmd) == 0;
}

static void tmpdir(char *d, size_t n) {
  snprintf(d, n, "/tmp/nnc-test-XXXXXX");
  cr_assert_not_null(mkdtemp(d));
}

Test(train, mlp_learns_in_a_few_steps, .timeout = 120) {
  char d[64], cmd[1024], out[1 << 16];
  tmpdir(d, sizeof d);
  snprintf(cmd, sizeof cmd, "cd %s && %s %s --steps=80 --epochs=1 2>&1", d, NNC, MLP);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  /* 80 steps stop the epoch early: no eval line; train loss is the mean of the steps */
  const char *s = strstr(out, "trained 80 steps");
  cr_assert_not_null(s, "%s", out);
  snprintf(cmd, sizeof cmd, "%s/fashion_mlp.safetensors", d);
  cr_assert_eq(access(cmd, R_OK), 0, "weights were saved");
}

/* The epoch line gives the epoch's seconds and, last, the training alone (no evaluation):
 * "epoch 1: train loss L, eval loss E, eval accuracy A (S s, train T s)", T <= S. */
Test(train, epoch_line_gives_training_seconds, .timeout = 240) {
  char d[64], cmd[1024], out[1 << 16];
  tmpdir(d, sizeof d);
  snprintf(cmd, sizeof cmd, "cd %s && %s %s --epochs=1 --no-save 2>&1", d, NNC, MLP);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  const char *line = strstr(out, "epoch 1: train loss ");
  cr_assert_not_null(line, "%s", out);
  const char *eol = strchr(line, '\n'), *p = line, *q;
  while ((q = strstr(p + 1, " (")) && (!eol || q < eol))
    p = q; /* the last " (" of the line */
  double s = -1, t = -1;
  cr_assert_eq(sscanf(p, " (%lf s, train %lf s)", &s, &t), 2, "%.*s", (int)(eol ? eol - line : 200), line);
  cr_expect(t > 0 && t <= s, "train %g s, epoch %g s", t, s);
}

Test(train, same_seed_same_weights, .timeout = 120) {
  char d[64], cmd[1024], out[1 << 14], a[128], b[128];
  tmpdir(d, sizeof d);
  snprintf(a, sizeof a, "%s/a.safetensors", d);
  snprintf(b, sizeof b, "%s/b.safetensors", d);
  for (int i = 0; i < 2; i++) {
    snprintf(cmd, sizeof cmd, "cd %s && %s %s --steps=25 --seed=7 --save=%s 2>&1", d, NNC, MLP, i ? b : a);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  }
  cr_expect(same_file(a, b), "two runs with seed 7 differ");
  snprintf(cmd, sizeof cmd, "cd %s && %s %s --steps=25 --seed=8 --save=%s 2>&1", d, NNC, MLP, b);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  cr_expect(!same_file(a, b), "seeds 7 and 8 gave the same weights");
}

Test(train, resume_is_bit_exact, .timeout = 120) {
  char d[64], cmd[1024], out[1 << 14];
  tmpdir(d, sizeof d);
  snprintf(cmd, sizeof cmd,
           "cd %s && %s %s --steps=30 --save=a.st >/dev/null 2>&1 && "
           "%s %s --steps=13 --checkpoint=ck --no-save >/dev/null 2>&1 && "
           "%s %s --resume --checkpoint=ck --steps=30 --save=b.st 2>&1",
           d, NNC, MLP, NNC, MLP, NNC, MLP);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  cr_expect_not_null(strstr(out, "resuming ck at step 13"), "%s", out);
  char a[128], b[128];
  snprintf(a, sizeof a, "%s/a.st", d);
  snprintf(b, sizeof b, "%s/b.st", d);
  cr_expect(same_file(a, b), "resumed run differs from the uninterrupted one");
}

Test(train, sigint_saves_a_checkpoint_and_resume_finishes, .timeout = 240) {
  char d[64], cmd[2048], out[1 << 14], ck[128];
  tmpdir(d, sizeof d);
  snprintf(ck, sizeof ck, "%s/ck", d);
  /* the shell starts nnc, interrupts it soon after it starts training and reports how it
   * exited */
  snprintf(cmd, sizeof cmd,
           "cd %s && { %s %s --steps=100000 --epochs=1000 --checkpoint=ck --no-save >run.txt 2>&1 & pid=$!; i=0; "
           "while ! grep -q '^compiled' run.txt && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; "
           "sleep 0.2; kill -INT $pid; wait $pid; echo \"status $?\"; cat run.txt; }",
           d, NNC, MLP);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "status 0"), "nnc did not exit cleanly on SIGINT: %s", out);
  const char *at = strstr(out, "interrupted at step ");
  cr_assert_not_null(at, "%s", out);
  long step = atol(at + strlen("interrupted at step "));
  cr_assert_eq(access(ck, R_OK), 0, "no checkpoint after SIGINT");
  /* resume 100 steps past the interruption; compare with a run that never stopped */
  snprintf(cmd, sizeof cmd,
           "cd %s && %s %s --resume --checkpoint=ck --epochs=1000 --steps=%ld --save=b.st >/dev/null 2>&1 && "
           "%s %s --epochs=1000 --steps=%ld --save=a.st 2>&1",
           d, NNC, MLP, step + 100, NNC, MLP, step + 100);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  char a[128], b[128];
  snprintf(a, sizeof a, "%s/a.st", d);
  snprintf(b, sizeof b, "%s/b.st", d);
  cr_expect(same_file(a, b), "interrupted at step %ld + resumed differs from uninterrupted", step);
}

Test(train, missing_data_is_a_clear_error) {
  char d[64], cmd[1024], out[1 << 14];
  tmpdir(d, sizeof d);
  snprintf(cmd, sizeof cmd,
           "cd %s && printf 'import nn\\nmodel M {\\n  l = nn.Linear(784, 10)\\n  fn f(x: f32[B, 784]) = l(x)\\n}\\n"
           "train M {\\n  data = idx(\"no/such\")\\n  loss = cross_entropy(f(batch.x), batch.y)\\n"
           "  optimizer = sgd(lr = 0.1)\\n  batch_size = 8\\n}\\n' > m.nn && %s m.nn 2>&1",
           d, NNC);
  cr_assert_eq(run(cmd, out, sizeof out), 1, "%s", out);
  cr_expect_not_null(strstr(out, "nnc: error: cannot find IDX files for \"no/such\""), "%s", out);
}

Test(train, check_numerics_names_the_op_and_line, .timeout = 60) {
  char d[64], cmd[2048], out[1 << 14];
  tmpdir(d, sizeof d);
  snprintf(cmd, sizeof cmd,
           "cd %s && printf 'import nn\\nmodel M {\\n  l = nn.Linear(784, 10)\\n  fn f(x: f32[B, 784]) {\\n"
           "    let h = l(x)\\n    return log(h - 1000)\\n  }\\n}\\n"
           "train M {\\n  data = idx(\"fashion-mnist/t10k\")\\n  loss = cross_entropy(f(batch.x), batch.y)\\n"
           "  optimizer = sgd(lr = 0.1)\\n  batch_size = 8\\n}\\n' > m.nn && %s m.nn --check-numerics --no-save 2>&1",
           d, NNC);
  cr_assert_eq(run(cmd, out, sizeof out), 1, "%s", out);
  cr_expect_not_null(strstr(out, "m.nn:6:12: error: NaN first produced by 'log'"), "%s", out);
}

/* A learning rate that depends on `step` is evaluated at every step: with lr 0 for the
 * first 5 steps, 5 steps leave the weights as a constant lr = 0 does; 6 steps do not. */
Test(train, learning_rate_schedules_follow_step, .timeout = 120) {
  char d[64], cmd[4096], out[1 << 14];
  tmpdir(d, sizeof d);
  const char *model =
    "import nn\\nmodel M {\\n  l = nn.Linear(784, 10)\\n  fn f(x: f32[B, 784]) = l(x)\\n}\\n"
    "train M {\\n  data = idx(\"fashion-mnist/t10k\", scale = 1/255)\\n"
    "  loss = cross_entropy(f(batch.x), batch.y)\\n  optimizer = sgd(lr = %s)\\n  batch_size = 16\\n}\\n";
  char src[1024];
  snprintf(src, sizeof src, model, "step < 5 ? 0.0 : 0.5");
  snprintf(cmd, sizeof cmd, "cd %s && printf '", d);
  strcat(cmd, src);
  strcat(cmd, "' > s.nn && printf '");
  snprintf(src, sizeof src, model, "0.0");
  strcat(cmd, src);
  strcat(cmd, "' > c.nn && " NNC " s.nn --steps=5 --save=s5.st >/dev/null 2>&1 && " NNC
              " c.nn --steps=5 --save=c5.st >/dev/null 2>&1 && " NNC " s.nn --steps=6 --save=s6.st 2>&1");
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s\n%s", cmd, out);
  char a[128], b[128], c[128];
  snprintf(a, sizeof a, "%s/s5.st", d);
  snprintf(b, sizeof b, "%s/c5.st", d);
  snprintf(c, sizeof c, "%s/s6.st", d);
  cr_expect(same_file(a, b), "lr was not 0 during the first 5 steps");
  cr_expect(!same_file(a, c), "lr did not become 0.5 at step 5");
}

/* --dump=graph|kernels|llvm|asm print the training step and train nothing. */
Test(train, dumps_of_the_training_step, .timeout = 60) {
  static const char *what[] = {"graph", "kernels", "llvm", "asm"};
  static const char *want[] = {"param \"l1.W\"", "nnrt_sgemm", "define void @train_step", "vfmadd"};
  for (int i = 0; i < 4; i++) {
    char cmd[1024], out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s %s --dump=%s 2>&1", NNC, MLP, what[i]);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
    cr_expect_not_null(strstr(out, want[i]), "--dump=%s lacks '%s'", what[i], want[i]);
    cr_expect_null(strstr(out, "trained"), "--dump=%s trained", what[i]);
  }
}

/* A --save path that cannot be written is an error before training, not after it. */
Test(train, unwritable_save_path_fails_before_training, .timeout = 60) {
  char cmd[1024], out[1 << 14];
  snprintf(cmd, sizeof cmd, "%s %s --steps=2 --save=/nonexistent-dir/w.st 2>&1", NNC, MLP);
  cr_assert_eq(run(cmd, out, sizeof out), 1, "%s", out);
  cr_expect_not_null(strstr(out, "nnc: error: cannot write the weights to /nonexistent-dir/w.st"), "%s", out);
  cr_expect_null(strstr(out, "trained"), "%s", out);
}

/* Regression (tests/models/repro/duplicate_metric_outputs.nn): two metrics with one
 * expression become one value after CSE; both outputs must still be filled. */
Test(train, identical_metrics_both_reported, .timeout = 60) {
  char d[64], cmd[2048], out[1 << 14];
  tmpdir(d, sizeof d);
  snprintf(cmd, sizeof cmd,
           "cd %s && printf 'import nn\\nmodel M {\\n  param w: f32[4, 3] = ones\\n  l = nn.Linear(784, 10)\\n"
           "  fn f(x: f32[B, 784]) = l(x)\\n}\\ntrain M {\\n  data = idx(\"fashion-mnist/t10k\")\\n"
           "  eval = idx(\"fashion-mnist/t10k\")\\n  loss = cross_entropy(f(batch.x), batch.y)\\n"
           "  metric a = sum(w * w)\\n  metric b = sum(w * w)\\n  optimizer = sgd(lr = 0.0)\\n"
           "  batch_size = 500\\n}\\n' > m.nn && %s m.nn --no-save 2>&1",
           d, NNC);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
  cr_expect_not_null(strstr(out, "eval a 12.0000, eval b 12.0000"), "%s", out);
}
