/* test_bptt_exec.c — checkpointed BPTT through the JIT (compiler/lower_scan.c,
 * runtime/bptt_exec.c): for every policy, gradients of an LSTM (and of stacked and
 * bidirectional LSTMs, with dropout inside the recurrence, with variable-length masks) equal
 * plain BPTT's bit for bit; the executor's forward steps plus
 * the ones it elides equal the planner's cost, it runs T backward steps, and its peak slot
 * units never exceed the slots planned; budgets pick a plan that fits, and a budget below
 * the minimum is an error naming the minimum in bytes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bptt_lower.h"
#include "exec.h"
#include "fuse.h" /* lower_set_options: without memory planning, without fusion */
#include "ir.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})

enum { B = 2, I = 3, H = 4 };

/* mask: a second step input m_t [B, 1] (1 = the sequence is still running): finished
 * sequences keep their state, as variable-length batches do. */
static IrGraph *lstm_body(int drop, int mask) {
  IrGraph *b = ir_graph_new();
  IrType hs = {IR_F32, ir_shape(2, D(B, H))}, xs = {IR_F32, ir_shape(2, D(B, I))};
  IrType wx = {IR_F32, ir_shape(2, D(4 * H, I))}, wh = {IR_F32, ir_shape(2, D(4 * H, H))};
  IrType bt = {IR_F32, ir_shape(1, D(4 * H))}, mt = {IR_F32, ir_shape(2, D(B, 1))};
  int k = 3 + mask;
  IrVal h = ir_formal(b, 0, hs), cc = ir_formal(b, 1, hs), x = ir_formal(b, 2, xs);
  IrVal m = mask ? ir_formal(b, 3, mt) : IR_NONE;
  IrVal Wx = ir_formal(b, k, wx), Wh = ir_formal(b, k + 1, wh), bias = ir_formal(b, k + 2, bt);
  IrVal z = ir_binary(b, OP_ADD, ir_binary(b, OP_ADD, ir_matmul(b, x, Wx, 0, 1), ir_matmul(b, h, Wh, 0, 1)), bias);
  IrVal g4[4];
  ir_split(b, z, 1, 4, D(H, H, H, H), g4);
  IrVal i = ir_unary(b, OP_SIGMOID, g4[0]), f = ir_unary(b, OP_SIGMOID, g4[1]);
  IrVal gg = ir_unary(b, OP_TANH, g4[2]), o = ir_unary(b, OP_SIGMOID, g4[3]);
  if (drop) /* per-step dropout inside the recurrence: recomputed steps must redraw the same mask */
    gg = ir_dropout(b, gg, 0.3);
  IrVal c1 = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, f, cc), ir_binary(b, OP_MUL, i, gg));
  IrVal h1 = ir_binary(b, OP_MUL, o, ir_unary(b, OP_TANH, c1));
  if (mask) { /* keep = m * new + (1 - m) * old */
    IrVal one = ir_const(b, IR_F32, ir_shape(2, D(B, 1)), (const double[]){1, 1});
    IrVal nm = ir_binary(b, OP_SUB, one, m);
    h1 = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, m, h1), ir_binary(b, OP_MUL, nm, h));
    c1 = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, m, c1), ir_binary(b, OP_MUL, nm, cc));
  }
  IrVal outs[3] = {h1, c1, h1};
  ir_set_outputs(b, 3, outs);
  return b;
}

/* The model: kind 0 one LSTM, 1 two stacked (the second reads the first's ys, I = H
 * needed: the second uses its own weights over [B, T, H] inputs), 2 bidirectional (a
 * forward and a reverse LSTM over the same xs). Outputs: loss, then the gradients. */
typedef struct model {
  IrGraph *g;
  IrVal leaves[16];
  int nleaves, drop, mask;
} model;

static IrVal leaf(model *m, const char *name, int rank, const int64_t *d) {
  IrVal v = ir_input(m->g, name, IR_F32, ir_shape(rank, d));
  m->leaves[m->nleaves++] = v;
  return v;
}

static IrNode *lstm(model *m, IrVal xs, int in, int rev, const char *tag) {
  char nm[5][32];
  for (int k = 0; k < 5; k++)
    snprintf(nm[k], sizeof nm[k], "%s.%d", tag, k);
  IrVal init[2] = {leaf(m, nm[0], 2, D(B, H)), leaf(m, nm[4], 2, D(B, H))};
  (void)in;
  IrVal k[3] = {leaf(m, nm[1], 2, D(4 * H, I)), leaf(m, nm[2], 2, D(4 * H, H)), leaf(m, nm[3], 1, D(4 * H))};
  if (m->mask) { /* sequence b runs for T - 5 b steps: mask[b, t] = t < T - 5 b */
    int64_t T = ir_type(m->g, xs)->shape.dim[1];
    double *mk = malloc(sizeof(double) * (size_t)(B * T));
    for (int b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++)
        mk[b * T + t] = t < T - 5 * b;
    IrVal two[2] = {xs, ir_const(m->g, IR_F32, ir_shape(3, D(B, T, 1)), mk)};
    free(mk);
    return ir_scan(m->g, lstm_body(m->drop, 1), 2, init, 2, two, 3, k, 1, rev);
  }
  return ir_scan(m->g, lstm_body(m->drop, 0), 2, init, 1, &xs, 3, k, 1, rev);
}

static model build(int kind, int T) {
  model m = {.g = ir_graph_new(), .drop = kind == 3, .mask = kind == 4};
  IrVal xs = leaf(&m, "xs", 3, D(B, T, I)), r = leaf(&m, "r", 3, D(B, T, H));
  IrNode *a = lstm(&m, xs, I, 0, "a");
  cr_assert(a, "%s", ir_errmsg(m.g));
  IrVal y = a->out[2];
  if (kind == 1) { /* stacked: project ys [B, T, H] -> [B, T, I] to feed the second LSTM */
    IrVal P = leaf(&m, "proj", 2, D(H, I));
    IrNode *b = lstm(&m, ir_matmul(m.g, y, P, 0, 0), I, 0, "b");
    y = b->out[2];
  } else if (kind == 2) {
    IrNode *b = lstm(&m, xs, I, 1, "b");
    y = ir_binary(m.g, OP_ADD, y, ir_binary(m.g, OP_MUL, b->out[2], b->out[2]));
  }
  int ax[3] = {0, 1, 2}, ax2[2] = {0, 1};
  IrVal loss = ir_binary(m.g, OP_ADD, ir_reduce(m.g, OP_SUM, ir_binary(m.g, OP_MUL, y, r), 3, ax, 0),
                         ir_reduce(m.g, OP_SUM, a->out[1], 2, ax2, 0));
  IrVal outs[17];
  outs[0] = loss;
  cr_assert(ad_grad(m.g, loss, m.nleaves, m.leaves, outs + 1) == 0, "%s", ir_errmsg(m.g));
  cr_assert(ir_set_outputs(m.g, m.nleaves + 1, outs) == 0);
  return m;
}

/* Runs the model through the JIT under options o; returns all outputs concatenated
 * (malloc'd, *n floats) and the executor's stats of scan 0..count-1 in st, or NULL with
 * err. No Criterion assertion after the graph is built (threads call it). */
static float *run_arena(int kind, int T, const lscan_options *o, int *n, lscan_stats *st, int *count, char *err,
                        int64_t *arena) {
  model m = build(kind, T);
  Exec *x;
  char msg[512];
  int rc = exec_create_bptt(m.g, EXEC_JIT, "bpttx", o, &x, msg, sizeof msg);
  if (rc) {
    snprintf(err, 512, "%s", msg);
    ir_graph_free(m.g);
    return NULL;
  }
  float *mem[16];
  for (int i = 0; i < m.nleaves; i++) {
    const IrType *t = ir_type(m.g, m.leaves[i]);
    int64_t k = ir_numel(&t->shape);
    mem[i] = malloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < k; j++)
      mem[i][j] = (float)(0.6 * sin(0.37 * (double)(j + 1) * (i + 1) + i));
    exec_bind(x, m.leaves[i], mem[i]);
  }
  int bad = exec_run(x, 7, 0, msg, sizeof msg) != 0;
  if (bad)
    snprintf(err, 512, "%s", msg);
  if (arena)
    *arena = exec_stats(x).arena_bytes;
  int tot = 0;
  for (int i = 0; i < m.g->nouts; i++)
    tot += (int)ir_numel(&ir_type(m.g, m.g->outs[i])->shape);
  float *out = malloc(sizeof(float) * (size_t)tot), *p = out;
  for (int i = 0; i < m.g->nouts && out && !bad; i++) {
    int64_t k = ir_numel(&ir_type(m.g, m.g->outs[i])->shape);
    memcpy(p, exec_output(x, i), sizeof(float) * (size_t)k);
    p += k;
  }
  *n = tot;
  const lscan_bound *b = exec_bptt(x);
  *count = o && o->active ? lscan_count(b) : 0;
  for (int i = 0; i < *count; i++)
    lscan_get_stats(b, i, &st[i]);
  exec_free(x);
  for (int i = 0; i < m.nleaves; i++)
    free(mem[i]);
  ir_graph_free(m.g);
  if (bad || !out) {
    if (!bad)
      snprintf(err, 512, "out of memory");
    free(out);
    return NULL;
  }
  return out;
}

static float *run(int kind, int T, const lscan_options *o, int *n, lscan_stats *st, int *count, char *err) {
  return run_arena(kind, T, o, n, st, count, err, NULL);
}

static void same_as_plain(int kind, int T, bp_policy p, int slots) {
  lscan_options plain = {0}, ck = {.active = 1, .policy = (int)p, .slots = slots};
  int n0, n1, c0, c1;
  lscan_stats st[4];
  char err[512];
  float *a = run(kind, T, &plain, &n0, st, &c0, err);
  cr_assert(a, "%s", err);
  float *b = run(kind, T, &ck, &n1, st, &c1, err);
  cr_assert(b, "%s: %s", bp_policy_name(p), err);
  cr_assert_eq(n0, n1);
  int nscans = kind == 1 || kind == 2 ? 2 : 1;
  cr_assert_eq(c1, nscans, "%s: %d checkpointed scans, want %d", bp_policy_name(p), c1, nscans);
  int diff = -1;
  for (int i = 0; i < n0 && diff < 0; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)))
      diff = i;
  cr_expect(diff < 0, "%s kind %d T %d m %d: output %d differs: %.9g vs %.9g", bp_policy_name(p), kind, T, slots,
            diff, diff < 0 ? 0 : a[diff], diff < 0 ? 0 : b[diff]);
  for (int i = 0; i < c1; i++) {
    cr_expect(!st[i].bad, "%s: executor met a bad action", bp_policy_name(p));
    cr_expect_eq(st[i].forwards + st[i].elided, st[i].choice.forwards, "%s: %lld + %lld forward steps, planned %lld",
                 bp_policy_name(p), (long long)st[i].forwards, (long long)st[i].elided,
                 (long long)st[i].choice.forwards);
    cr_expect_eq(st[i].forwards, st[i].predicted_runs);
    cr_expect_eq(st[i].backwards, T);
    cr_expect(st[i].peak_units <= st[i].choice.m, "peak %d units > %d slots", st[i].peak_units, st[i].choice.m);
    cr_expect_eq(st[i].peak_units, st[i].choice.peak_units, "measured peak = predicted peak");
  }
  free(a);
  free(b);
}

Test(bptt_exec, every_policy_bitwise_equal_to_plain) {
  const struct { bp_policy p; int m; } cases[] = {{BP_REVOLVE, 3}, {BP_HSM, 4}, {BP_ISM, 9}, {BP_MSM, 6},
                                                   {BP_SQRT, 16}, {BP_STORE_ALL, 2 * 23}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    same_as_plain(0, 23, cases[i].p, cases[i].m);
}

/* The checkpointed step with the memory planner off (the bump arena: the shared scratch
 * range must not overlap anything there either) and with fusion off. Each test runs in
 * its own worker process, so the process-wide lowering options stay local to it. */
Test(bptt_exec, without_memory_planning) {
  lower_set_options(&(lower_options){.no_memplan = 1});
  same_as_plain(0, 23, BP_REVOLVE, 3);
  same_as_plain(2, 17, BP_MSM, 6);
}

Test(bptt_exec, without_fusion) {
  lower_set_options(&(lower_options){.no_fuse = 1});
  same_as_plain(0, 23, BP_REVOLVE, 3);
  same_as_plain(3, 19, BP_SQRT, 12);
}

Test(bptt_exec, stacked_and_bidirectional) {
  same_as_plain(1, 17, BP_MSM, 5);
  same_as_plain(2, 17, BP_REVOLVE, 3);
}

Test(bptt_exec, dropout_in_the_body_redraws_the_same_masks) {
  same_as_plain(3, 19, BP_REVOLVE, 3);
  same_as_plain(3, 19, BP_MSM, 6);
}

Test(bptt_exec, variable_length_masks) {
  same_as_plain(4, 21, BP_REVOLVE, 4);
  same_as_plain(4, 21, BP_SQRT, 12);
}

Test(bptt_exec, budget_picks_a_plan_that_fits) {
  int n, c;
  lscan_stats st[2];
  char err[512];
  uint64_t hid = 2 * B * H * 4; /* one hidden state: h and c */
  /* the fixed part, from a forced plan: its predicted peak minus its slots */
  lscan_options o = {.active = 1, .policy = BP_REVOLVE, .slots = 4};
  float *a = run(0, 40, &o, &n, st, &c, err);
  cr_assert(a, "%s", err);
  free(a);
  cr_assert_eq(c, 1);
  uint64_t fixed = st[0].peak_bytes - (uint64_t)st[0].peak_units * hid;
  /* a budget where every state fits: plain BPTT, no executor */
  o = (lscan_options){.active = 1, .policy = -1, .budget_bytes = fixed + 2 * 40 * hid};
  a = run(0, 40, &o, &n, st, &c, err);
  cr_assert(a, "%s", err);
  free(a);
  cr_expect_eq(c, 0, "store-all fits: the plain scan runs");
  /* 12 slots: a recomputing plan whose measured peak fits the budget */
  o.budget_bytes = fixed + 12 * hid;
  a = run(0, 40, &o, &n, st, &c, err);
  cr_assert(a, "%s", err);
  free(a);
  cr_assert_eq(c, 1);
  cr_expect(st[0].choice.m <= 12 && st[0].peak_bytes <= o.budget_bytes, "m %d peak %llu budget %llu",
            st[0].choice.m, (unsigned long long)st[0].peak_bytes, (unsigned long long)o.budget_bytes);
  cr_expect(st[0].choice.policy != BP_STORE_ALL);
  cr_expect(st[0].forwards + st[0].elided > 40, "recomputation under a small budget");
  cr_expect_eq(st[0].forwards, st[0].predicted_runs);
  /* predicted from the measuring lowering's sizes, measured on the final plan: within 5 % */
  cr_expect(llabs((long long)st[0].peak_bytes - (long long)st[0].choice.peak_bytes) * 20 <=
                (long long)st[0].choice.peak_bytes,
            "measured peak %llu, predicted %llu", (unsigned long long)st[0].peak_bytes,
            (unsigned long long)st[0].choice.peak_bytes);
  /* below the minimum: an error naming the minimum in bytes */
  o.budget_bytes = fixed / 2;
  a = run(0, 40, &o, &n, st, &c, err);
  cr_expect(a == NULL, "a budget below the minimum must fail");
  cr_expect(strstr(err, "below the minimum of") != NULL, "message: %s", err);
  free(a);
}

/* Memory planning covers the checkpointed step: its planned arena is smaller than plain
 * BPTT's by at least the carries it does not keep, and its gradients stay bit-identical. */
Test(bptt_exec, planned_arena_saves_the_activations) {
  enum { T = 200, M = 8 };
  uint64_t hid = 2 * B * H * 4;
  lscan_options plain = {0}, ck = {.active = 1, .policy = BP_REVOLVE, .slots = M};
  int n0, n1, c;
  int64_t a0 = 0, a1 = 0;
  lscan_stats st[1];
  char err[512];
  float *a = run_arena(0, T, &plain, &n0, st, &c, err, &a0);
  cr_assert(a, "%s", err);
  float *b = run_arena(0, T, &ck, &n1, st, &c, err, &a1);
  cr_assert(b, "%s", err);
  cr_assert_eq(c, 1);
  cr_expect(n0 == n1 && !memcmp(a, b, sizeof(float) * (size_t)n0), "gradients differ");
  /* plain keeps T carries [B, H] x 2 stacked; the executor M slot units, and lives with
   * its own buffers: the carry register (h, c), prev (h, c) and three 8-byte cells (time,
   * record, liveness), each 64-byte aligned */
  int64_t own = 2 * 64 + 64 + 3 * 64;
  cr_expect(a0 - a1 >= (int64_t)((T - M) * hid) - own,
            "planned arena: plain %lld, checkpointed %lld bytes (saves %lld, want >= %lld)", (long long)a0,
            (long long)a1, (long long)(a0 - a1), (long long)((T - M) * hid) - own);
  free(a);
  free(b);
}

/* The options travel with each compilation: two budgeted models compiled and run in two
 * threads at once give what they give one after the other. */
typedef struct job {
  int T;
  lscan_options o;
  float *out;
  int n, count;
  lscan_stats st[1];
  char err[512];
} job;

static void *job_run(void *arg) {
  job *j = arg;
  j->out = run(0, j->T, &j->o, &j->n, j->st, &j->count, j->err);
  return NULL;
}

Test(bptt_exec, two_budgeted_compilations_in_two_threads) {
  uint64_t hid = 2 * B * H * 4;
  job serial[2] = {{.T = 30}, {.T = 37}}, par[2];
  lscan_options probe = {.active = 1, .policy = BP_REVOLVE, .slots = 4};
  for (int i = 0; i < 2; i++) { /* a budget of the fixed part + 6 units, from a forced plan */
    float *a = run(0, serial[i].T, &probe, &serial[i].n, serial[i].st, &serial[i].count, serial[i].err);
    cr_assert(a, "%s", serial[i].err);
    free(a);
    uint64_t fixed = serial[i].st[0].peak_bytes - (uint64_t)serial[i].st[0].peak_units * hid;
    serial[i].o = (lscan_options){.active = 1, .policy = -1, .budget_bytes = fixed + (uint64_t)(6 + 3 * i) * hid};
    par[i] = serial[i];
    job_run(&serial[i]);
    cr_assert(serial[i].out, "%s", serial[i].err);
  }
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    cr_assert_eq(pthread_create(&th[i], NULL, job_run, &par[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 2; i++) {
    cr_assert(par[i].out, "thread %d: %s", i, par[i].err);
    cr_expect_eq(par[i].count, 1);
    cr_expect_eq(par[i].st[0].choice.m, serial[i].st[0].choice.m, "thread %d: slots", i);
    cr_expect_eq(par[i].st[0].forwards, serial[i].st[0].forwards, "thread %d: forward runs", i);
    cr_expect(par[i].n == serial[i].n && !memcmp(par[i].out, serial[i].out, sizeof(float) * (size_t)par[i].n),
              "thread %d: results differ", i);
    free(par[i].out);
    free(serial[i].out);
  }
}

Test(bptt_exec, size_and_policy_options) {
  uint64_t b = 0;
  cr_expect(lscan_parse_bytes("64MB", &b) == 0 && b == 64000000ull);
  cr_expect(lscan_parse_bytes("2GiB", &b) == 0 && b == (2ull << 30));
  cr_expect(lscan_parse_bytes("4096", &b) == 0 && b == 4096);
  cr_expect(lscan_parse_bytes("12XB", &b) != 0 && lscan_parse_bytes("MB", &b) != 0);
  char msg[256];
  lscan_options o;
  cr_expect(lscan_configure(0, "nope", 0, NULL, &o, msg, sizeof msg) != 0 && strstr(msg, "nope"));
  cr_expect(lscan_configure(0, "msm", 0, NULL, &o, msg, sizeof msg) == 0 && o.active && o.policy == BP_MSM);
  cr_expect(lscan_configure(0, NULL, 0, NULL, &o, msg, sizeof msg) == 0 && !o.active,
            "no budget, no policy: plain BPTT");
}

static int truncate_file(const char *path) { return truncate(path, 40) == 0; }

/* Counts the compile cache's BPTT plans in dir; with cut, cuts each to 40 bytes (broken). */
static int plans_in(const char *dir, int cut) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t k = strlen(e->d_name);
    if (k < 5 || strcmp(e->d_name + k - 5, ".bptt"))
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    n += cut ? truncate_file(path) : 1;
  }
  if (d)
    closedir(d);
  return n;
}

/* A cached re-run of a budgeted model takes its plan from the compile cache: no DP table
 * is built again, and the plan and the gradients are the same bit for bit. A change of
 * budget misses; a broken plan file is ignored (planned again); NNC_NO_CACHE plans. */
Test(bptt_exec, cached_rerun_builds_no_dp_table) {
  char dir[] = "/tmp/nnc-bptt-cache-XXXXXX";
  cr_assert(mkdtemp(dir));
  setenv("NNC_CACHE_DIR", dir, 1);
  unsetenv("NNC_NO_CACHE");
  enum { T = 120 };
  uint64_t hid = 2 * B * H * 4;
  lscan_options o = {.active = 1, .policy = BP_REVOLVE, .slots = 4};
  int n[2], c[2];
  lscan_stats st[2][1];
  char err[512];
  float *a = run(0, T, &o, &n[0], st[0], &c[0], err);
  cr_assert(a, "%s", err);
  free(a);
  uint64_t fixed = st[0][0].peak_bytes - (uint64_t)st[0][0].peak_units * hid;
  o = (lscan_options){.active = 1, .policy = -1, .budget_bytes = fixed + 14 * hid};
  float *out[2];
  long built[3];
  built[0] = bp_tables_built_total();
  for (int i = 0; i < 2; i++) {
    out[i] = run(0, T, &o, &n[i], st[i], &c[i], err);
    cr_assert(out[i], "%s", err);
    built[i + 1] = bp_tables_built_total();
  }
  cr_expect_gt(built[1], built[0], "the first compile plans with DP tables");
  cr_expect_eq(built[2], built[1], "the cached re-run built %ld DP tables", built[2] - built[1]);
  cr_expect_eq(plans_in(dir, 0), 1, "one plan stored");
  cr_assert(c[0] == 1 && c[1] == 1);
  cr_expect(n[0] == n[1] && !memcmp(out[0], out[1], sizeof(float) * (size_t)n[0]), "results differ");
  cr_expect(!memcmp(&st[0][0].choice, &st[1][0].choice, sizeof st[0][0].choice), "the same choice");
  cr_expect(st[0][0].forwards == st[1][0].forwards && st[0][0].peak_units == st[1][0].peak_units);
  free(out[1]);
  o.budget_bytes += hid; /* another budget: another key */
  out[1] = run(0, T, &o, &n[1], st[1], &c[1], err);
  cr_assert(out[1], "%s", err);
  free(out[1]);
  cr_expect_gt(bp_tables_built_total(), built[2], "a changed budget plans again");
  cr_expect_eq(plans_in(dir, 0), 2);
  o.budget_bytes -= hid; /* the first plan's file, broken: ignored, planned again */
  cr_expect_eq(plans_in(dir, 1), 2);
  long before = bp_tables_built_total();
  out[1] = run(0, T, &o, &n[1], st[1], &c[1], err);
  cr_assert(out[1], "%s", err);
  cr_expect_gt(bp_tables_built_total(), before, "a broken plan file is planned again");
  cr_expect(!memcmp(out[0], out[1], sizeof(float) * (size_t)n[0]), "results differ after a broken file");
  free(out[1]);
  setenv("NNC_NO_CACHE", "1", 1); /* no cache: planned every time */
  before = bp_tables_built_total();
  out[1] = run(0, T, &o, &n[1], st[1], &c[1], err);
  cr_assert(out[1], "%s", err);
  free(out[1]);
  cr_expect_gt(bp_tables_built_total(), before, "NNC_NO_CACHE plans");
  free(out[0]);
  unsetenv("NNC_NO_CACHE");
  DIR *d = opendir(dir); /* clean up: the objects and plans of this test */
  for (struct dirent *e; d && (e = readdir(d));) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] != '.')
      unlink(path);
  }
  if (d)
    closedir(d);
  rmdir(dir);
}
