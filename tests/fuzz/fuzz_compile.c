/* fuzz_compile.c — libFuzzer target: the whole compile pipeline on small programs:
 * parse + check -> train settings -> trace to the graph IR with gradients -> verify ->
 * simplify + CSE -> verify -> run one step in the reference interpreter on zero inputs.
 * The JIT is left out (an LLVM compile per input is ~0.4 s); the interpreter runs only
 * graphs whose estimated work (fz_cost) is below FZ_MAX_WORK, so that huge shapes and long
 * scans cost neither memory nor time.
 * Batch fields come from the data source the way the driver makes them (B = 2):
 *   idx -> x f32[2, 784] (or shape=), y i32[2]; text -> x, y i32[2, seq]; other ->
 *   csv/npy -> x f32[2, x_shape...], y i32[2, y_shape...].
 * Property: no crash, leak or UB; every pass leaves a graph the verifier accepts. */
#include <math.h>
#include <string.h>

#include "fuzz_util.h"
#include "irgen.h"
#include "lang.h"

#define FZ_MAX_WORK 2e6   /* fz_cost units: ~0.1 s of interpreter under ASan */

static const char *fz_import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

/* Sets s to [2, dims of tuple argument key...] when o has that argument. */
static void fz_dims(const IrgObj *o, const char *key, IrShape *s) {
  int64_t d[8];
  int n = irg_obj_dims(o, key, -1, d);
  if (n <= 0 || n >= IR_MAX_RANK) return;
  s->rank = n + 1;
  for (int i = 0; i < n; i++) s->dim[i + 1] = d[i] < 0 ? 0 : d[i] % 4096;
}

/* The batch fields of data source o, as the driver would load them, with B = 2. */
static int fz_fields(const IrgObj *o, IrgField *f) {
  IrShape x = {.rank = 2, .dim = {2, 8}}, y = {.rank = 1, .dim = {2}};
  IrDType xt = IR_F32;
  if (o->kind && !strcmp(o->kind, "idx")) {
    int64_t d[8];
    int n = irg_obj_dims(o, "shape", 2, d);
    x.dim[1] = 784;
    if (n > 0 && n < IR_MAX_RANK) {
      x.rank = n + 1;
      for (int i = 0; i < n; i++) x.dim[i + 1] = d[i] < 0 ? 0 : d[i] % 4096;
    }
  } else if (o->kind && !strcmp(o->kind, "text")) {
    double seq = 100;
    irg_obj_num(o, "seq", 1, &seq);
    xt = IR_I32;
    x.dim[1] = seq >= 1 && seq <= 4096 ? (int64_t)seq : 100;
    y = x;
  } else {   /* csv, npy: x_shape=(..), y_shape=(..) */
    fz_dims(o, "x_shape", &x);
    fz_dims(o, "y_shape", &y);
  }
  f[0] = (IrgField){"x", xt, x};
  f[1] = (IrgField){"y", IR_I32, y};
  return 2;
}

static double fz_numel(const IrGraph *g, IrVal v) {
  int64_t k = ir_numel(&ir_type(g, v)->shape);
  return k > 0 ? (double)k : 1;
}

/* A rough count of the interpreter's work for g: elements read and written per node, a
 * contraction as sqrt(|a| |b| |out|) multiply-adds (exact for matmul), and a scan as its
 * body's work times its longest output dimension (an upper bound on its steps). */
static double fz_cost(const IrGraph *g) {
  double c = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    double out = n->nout > 0 ? fz_numel(g, n->out[0]) : 1, in = 0;
    for (int j = 0; j < n->nin; j++) in += fz_numel(g, n->in[j]);
    c += out + in;
    if (ir_ops[n->op].kind == IR_CONTRACTION && n->nin >= 2)
      c += sqrt(fz_numel(g, n->in[0]) * fz_numel(g, n->in[1]) * out);
    if (n->op == OP_SCAN && n->sub[0] && n->nout > 0) {
      const IrShape *sh = &ir_type(g, n->out[0])->shape;
      int64_t steps = 1;
      for (int d = 0; d < sh->rank; d++) steps = sh->dim[d] > steps ? sh->dim[d] : steps;
      c += (double)steps * fz_cost(n->sub[0]);
    }
  }
  return c;
}

static void fz_check_verify(const IrGraph *g, const char *pass) {
  char msg[512];
  if (ir_verify(g, pass, msg, sizeof msg)) {
    fprintf(stderr, "fuzz_compile: %s\n", msg);
    __builtin_trap();
  }
}

/* Runs g once in the interpreter with every input bound to zeros. */
static void fz_interp(const IrGraph *g) {
  if (fz_cost(g) > FZ_MAX_WORK) return;
  IrInterp *I = ir_interp_new(g);
  if (!I) return;
  IrVal in[64];
  int n = ir_leaves(g, OP_INPUT, in, 64);
  int ok = n <= 64;
  for (int i = 0; ok && i < n; i++) {
    int64_t k = ir_numel(&ir_type(g, in[i])->shape);
    double *z = calloc((size_t)(k > 0 ? k : 1), sizeof *z);
    ok = z && ir_interp_bind_id(I, in[i], z) == 0;
    free(z);
  }
  if (ok) ir_interp_run(I);
  ir_interp_free(I);
}

static void fz_pipeline(Lang *L, Node *file) {
  IrgSettings s;
  memset(&s, 0, sizeof s);
  if (irg_settings(L, file, NULL, &s)) return;
  IrgField f[2];
  int nf = fz_fields(&s.data, f);
  IrgOptions io = {.training = 1, .with_grads = 1, .fields = f, .nfields = nf};
  IrgProgram p;
  memset(&p, 0, sizeof p);
  if (irg_build(L, &s, &io, &p)) return;
  IrVal outs[1 + IRG_MAX_METRICS + 64];
  int no = 0;
  if (p.loss != IR_NONE) outs[no++] = p.loss;
  for (int i = 0; i < p.nmetrics; i++) outs[no++] = p.metric[i];
  for (int i = 0; i < p.nparams && i < 64 && p.grads; i++) outs[no++] = p.grads[i];
  if (no && ir_set_outputs(p.g, no, outs) == 0) {
    fz_check_verify(p.g, "irgen");
    IrPassOpts po = {0};
    if (ir_simplify(p.g, &po) == 0) {
      fz_check_verify(p.g, "simplify");
      if (ir_cse(p.g) == 0) {
        fz_check_verify(p.g, "cse");
        fz_interp(p.g);
      }
    }
  }
  irg_program_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;   /* small programs: depth is what matters, not length */
  LangOptions lo = {.import_paths = fz_import_paths, .max_errors = 5};
  Lang *L = lang_new(&lo);
  if (!L) return 0;
  Node *file = lang_parse_string(L, "fuzz.nn", (const char *)data, size);
  if (file && lang_check(L, file) == 0) fz_pipeline(L, file);
  diag_render(L, fz_null(), 0);
  lang_free(L);
  return 0;
}
