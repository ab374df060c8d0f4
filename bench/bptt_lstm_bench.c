/* bptt_lstm_bench.c — memory-budgeted BPTT on an LSTM (hidden 256, batch 16, input 64):
 * time per training step (loss + all gradients) and memory for plain BPTT, the cheapest
 * policy at budgets of 50 %, 10 % and 5 % of plain BPTT's activation memory (T saved
 * carries) over the fixed part, sqrt(T) checkpointing (Chen et al. 2016, fewest slots),
 * and (T <= 1000) the executor running store-all, whose time against plain's is the
 * executor's own overhead. Each configuration runs in its own child process. Columns:
 * step / CPU ms: medians of the timed steps (wall, process CPU); peak RSS: VmHWM of the
 * child, compiling included; step RSS: what the runs added (VmHWM reset by clear_refs
 * after binding, minus VmRSS then: the arena and results are first touched by the runs);
 * predicted peak: the budget chooser's, from the measuring lowering (docs/bptt.md);
 * measured peak: the final plan's bytes (leaves, results, planned arena) less the slot
 * units the executor never used (plain: all its bytes); arena: the planned arena.
 * Not a test. Usage: bptt_lstm_bench [T ...] [--steps=N] [--only=SUBSTRING of a
 * configuration's name] (default T = 100 1000 5000, 5 timed steps; plain BPTT always runs,
 * as the base). One Markdown table row per configuration (bench/bptt_run.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bptt_lower.h"
#include "exec.h"
#include "ir.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
enum { B = 16, I = 64, H = 256 };

static double clk(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now(void) { return clk(CLOCK_MONOTONIC); }

/* "VmHWM:" (peak) or "VmRSS:" (now) of /proc/self/status in KiB, -1 if unknown. */
static long vm_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, strlen(key)))
      kb = strtol(line + strlen(key), NULL, 10);
  if (f)
    fclose(f);
  return kb;
}
static long vm_hwm_kb(void) { return vm_kb("VmHWM:"); }

/* Resets VmHWM to the current RSS (Linux >= 4.0: clear_refs "5"); 0 on success. */
static int reset_hwm(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  int ok = f && fputs("5", f) >= 0;
  if (f && fclose(f))
    ok = 0;
  return ok ? 0 : -1;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static IrGraph *body(void) {
  IrGraph *b = ir_graph_new();
  IrVal h = ir_formal(b, 0, (IrType){IR_F32, ir_shape(2, D(B, H))});
  IrVal c = ir_formal(b, 1, (IrType){IR_F32, ir_shape(2, D(B, H))});
  IrVal x = ir_formal(b, 2, (IrType){IR_F32, ir_shape(2, D(B, I))});
  IrVal wx = ir_formal(b, 3, (IrType){IR_F32, ir_shape(2, D(4 * H, I))});
  IrVal wh = ir_formal(b, 4, (IrType){IR_F32, ir_shape(2, D(4 * H, H))});
  IrVal bias = ir_formal(b, 5, (IrType){IR_F32, ir_shape(1, D(4 * H))});
  IrVal z = ir_binary(b, OP_ADD, ir_binary(b, OP_ADD, ir_matmul(b, x, wx, 0, 1), ir_matmul(b, h, wh, 0, 1)), bias);
  IrVal g[4];
  ir_split(b, z, 1, 4, D(H, H, H, H), g);
  IrVal i = ir_unary(b, OP_SIGMOID, g[0]), f = ir_unary(b, OP_SIGMOID, g[1]);
  IrVal gg = ir_unary(b, OP_TANH, g[2]), o = ir_unary(b, OP_SIGMOID, g[3]);
  IrVal c1 = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, f, c), ir_binary(b, OP_MUL, i, gg));
  IrVal h1 = ir_binary(b, OP_MUL, o, ir_unary(b, OP_TANH, c1));
  IrVal outs[3] = {h1, c1, h1};
  ir_set_outputs(b, 3, outs);
  return b;
}

/* loss = sum(hs * r): gradients of the weights (outputs 1..3) */
static IrGraph *model(int T, IrVal *leaves, int *nl) {
  IrGraph *g = ir_graph_new();
  int n = 0;
  IrVal xs = leaves[n++] = ir_input(g, "xs", IR_F32, ir_shape(3, D(T, B, I)));
  IrVal r = leaves[n++] = ir_input(g, "r", IR_F32, ir_shape(3, D(T, B, H)));
  IrVal init[2] = {leaves[n++] = ir_input(g, "h0", IR_F32, ir_shape(2, D(B, H))),
                   leaves[n++] = ir_input(g, "c0", IR_F32, ir_shape(2, D(B, H)))};
  IrVal k[3] = {leaves[n++] = ir_input(g, "wx", IR_F32, ir_shape(2, D(4 * H, I))),
                leaves[n++] = ir_input(g, "wh", IR_F32, ir_shape(2, D(4 * H, H))),
                leaves[n++] = ir_input(g, "b", IR_F32, ir_shape(1, D(4 * H)))};
  IrNode *s = ir_scan(g, body(), 2, init, 1, &xs, 3, k, 0, 0);
  int ax[3] = {0, 1, 2};
  IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, s->out[2], r), 3, ax, 0), outs[4];
  outs[0] = loss;
  if (ad_grad(g, loss, 3, k, outs + 1) || ir_set_outputs(g, 4, outs)) {
    fprintf(stderr, "graph: %s\n", ir_errmsg(g));
    exit(1);
  }
  *nl = n;
  return g;
}

typedef struct result {
  double compile_s, step_s, cpu_s; /* medians over the timed steps */
  long hwm_kb;
  long step_kb;                    /* RSS the runs added: peak during them - RSS before, -1 */
  int64_t arena_bytes, step_bytes; /* the planned arena; + leaves and results */
  lscan_stats st;
  int nscan;
  char err[256];
} result;

static void run(int T, const lscan_options *o, int steps, result *res) {
  IrVal leaves[8];
  int nl;
  IrGraph *g = model(T, leaves, &nl);
  Exec *x;
  double t0 = now();
  if (exec_create_bptt(g, EXEC_JIT, "lstm_bench", o, &x, res->err, sizeof res->err)) {
    res->step_s = -1;
    return;
  }
  res->compile_s = now() - t0;
  for (int i = 0; i < nl; i++) {
    int64_t k = ir_numel(&ir_type(g, leaves[i])->shape);
    float *m = malloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < k; j++)
      m[j] = (float)(0.1 * ((j * 2654435761u + (uint64_t)i * 40503u) % 2001) / 1000.0 - 0.1);
    exec_bind(x, leaves[i], m);
  }
  char msg[256];
  /* the arena and the results are not touched yet: what the runs add is the step's */
  long hwm0 = vm_hwm_kb(), rss0 = vm_kb("VmRSS:"), ok = reset_hwm() == 0;
  exec_run(x, 1, 0, msg, sizeof msg); /* warm-up */
  double wall[64], cpu[64];
  if (steps > 64)
    steps = 64;
  for (int s = 0; s < steps; s++) {
    double w0 = now(), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
    exec_run(x, 1, (uint64_t)s + 1, msg, sizeof msg);
    cpu[s] = clk(CLOCK_PROCESS_CPUTIME_ID) - c0, wall[s] = now() - w0;
  }
  res->step_s = median(wall, steps);
  res->cpu_s = median(cpu, steps);
  res->arena_bytes = exec_stats(x).arena_bytes;
  res->step_bytes = res->arena_bytes;
  for (int i = 0; i < nl; i++)
    res->step_bytes += ir_numel(&ir_type(g, leaves[i])->shape) * 4;
  for (int i = 0; i < g->nouts; i++)
    res->step_bytes += ir_numel(&ir_type(g, g->outs[i])->shape) * 4;
  long hwm1 = vm_hwm_kb();
  res->step_kb = ok && rss0 >= 0 ? hwm1 - rss0 : -1;
  res->hwm_kb = hwm0 > hwm1 ? hwm0 : hwm1; /* the process's peak, compiling included */
  res->nscan = lscan_count(exec_bptt(x));
  if (res->nscan)
    lscan_get_stats(exec_bptt(x), 0, &res->st);
}

/* Runs one configuration in a child; the result comes back through a pipe. */
static int child(int T, const lscan_options *o, int steps, result *res) {
  int fd[2];
  if (pipe(fd))
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    memset(res, 0, sizeof *res);
    run(T, o, steps, res);
    ssize_t w = write(fd[1], res, sizeof *res);
    _exit(w == (ssize_t)sizeof *res ? 0 : 1);
  }
  close(fd[1]);
  ssize_t r = read(fd[0], res, sizeof *res);
  close(fd[0]);
  int status;
  waitpid(pid, &status, 0);
  return r == (ssize_t)sizeof *res ? 0 : -1;
}

int main(int argc, char **argv) {
  int Ts[8], nT = 0, steps = 5;
  const char *only = NULL;
  for (int i = 1; i < argc; i++)
    if (!strncmp(argv[i], "--steps=", 8))
      steps = atoi(argv[i] + 8);
    else if (!strncmp(argv[i], "--only=", 7))
      only = argv[i] + 7;
    else if (nT < 8)
      Ts[nT++] = atoi(argv[i]);
  if (!nT)
    Ts[0] = 100, Ts[1] = 1000, Ts[2] = 5000, nT = 3;
  uint64_t hid = 2ull * B * H * 4;
  printf("| T | config | policy | slots | fwd body runs | step ms | CPU ms | x plain (CPU) | peak RSS MB | "
         "step RSS MB | predicted peak MB | measured peak MB | arena MB | activations MB |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int ti = 0; ti < nT; ti++) {
    int T = Ts[ti];
    result base, probe, r;
    lscan_options plain = {0}, o;
    /* the fixed part: a forced plan's predicted peak minus its slots */
    o = (lscan_options){.active = 1, .policy = BP_REVOLVE, .slots = 4};
    if (child(T, &plain, steps, &base) || base.step_s < 0 || child(T, &o, 1, &probe) || probe.step_s < 0) {
      fprintf(stderr, "T = %d: %s%s\n", T, base.err, probe.err);
      continue;
    }
    uint64_t fixed = probe.st.peak_bytes - (uint64_t)probe.st.peak_units * hid;
    uint64_t act = (uint64_t)T * hid / 2 * 2; /* plain BPTT keeps T carries (h, c) */
    printf("| %d | plain BPTT | (repeat) | %d | %d | %.1f | %.1f | 1.00 | %.1f | %.1f | | %.1f | %.1f | %.2f |\n", T,
           T, T, base.step_s * 1e3, base.cpu_s * 1e3, base.hwm_kb / 1024.0, base.step_kb / 1024.0,
           base.step_bytes / 1e6, base.arena_bytes / 1e6, act / 1e6);
    fflush(stdout);
    const struct { const char *name; int pct; int kind; } cfg[] = {
      {"budget 50%", 50, 0}, {"budget 10%", 10, 0}, {"budget 5%", 5, 0}, {"sqrt(T)", 0, 1},
      {"executor, store-all", 0, 2}};
    for (int c = 0; c < 5; c++) {
      if ((cfg[c].kind == 2 && T > 1000) || (only && !strstr(cfg[c].name, only)))
        continue; /* store-all: the executor's own overhead, no recomputation (2T - 1 slots) */
      if (cfg[c].kind == 1)
        o = (lscan_options){.active = 1, .policy = BP_SQRT, .slots = bp_min_slots(BP_SQRT, T, 2)};
      else if (cfg[c].kind == 2)
        o = (lscan_options){.active = 1, .policy = BP_STORE_ALL, .slots = 2 * T - 1};
      else
        o = (lscan_options){.active = 1, .policy = -1, .budget_bytes = fixed + act * (uint64_t)cfg[c].pct / 100};
      if (child(T, &o, steps, &r) || r.step_s < 0) {
        printf("| %d | %s | error: %s |\n", T, cfg[c].name, r.err);
        continue;
      }
      printf("| %d | %s | %s | %d | %lld | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", T,
             cfg[c].name, r.nscan ? bp_policy_name(r.st.choice.policy) : "(repeat)", r.st.choice.m,
             (long long)r.st.forwards, r.step_s * 1e3, r.cpu_s * 1e3, r.cpu_s / base.cpu_s, r.hwm_kb / 1024.0,
             r.step_kb / 1024.0, r.st.choice.peak_bytes / 1e6, r.st.peak_bytes / 1e6, r.arena_bytes / 1e6,
             (double)r.st.peak_units * hid / 1e6);
      fflush(stdout);
    }
  }
  return 0;
}
