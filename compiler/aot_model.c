/* aot_model.c — ahead-of-time output of a whole model (`nnc -c model.nn -o model.o`,
 * `-S`, `--emit-llvm`; nnc_emit in nnc.h): every function of the model whose arguments
 * are tensors is traced with its symbolic dims bound to the batch size, lowered, and
 * built into one LLVM module (one cg_build module per function, linked with
 * LLVMLinkModules2), optimised once and written as an ELF object, assembly or IR. The
 * object links with libnnrt only (no LLVM on the target).
 *
 * The generated header gives typed entry points, static inline wrappers over the raw
 * `void nnc_<Model>_<fn>(void **slots)` that fill the slot table: all parameters live in
 * one float block (PREFIX_PARAM_FLOATS, offsets per name, loadable with
 * prefix_load_weights from safetensors through libnnrt), inputs and results are plain
 * arrays of the sizes the macros give, and the scratch arena is a caller buffer of
 * PREFIX_FN_ARENA_BYTES (64-byte aligned), so everything may be static.
 *
 * Weights are constants at inference, so their layout is chosen here: a transpose of a
 * rank-2 parameter (nn.Linear's `x @ W.T`) becomes a parameter "W^T" of its own, filled
 * once when the weights are loaded (prefix_prepare) instead of on every call. At batch 1
 * the transposes were 90% of the MLP's time (552 -> about 60 us per image). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Linker.h>

#include "api_int.h"

#define AOT_MAX_DERIVED 64

/* A parameter stored transposed: name "W^T", from parameter src ([rows, cols]). */
typedef struct AotDerived {
  const char *name;
  int src;
  int64_t rows, cols;
} AotDerived;

typedef struct AotSet {
  AotDerived d[AOT_MAX_DERIVED];
  int n;
} AotSet;

typedef struct AotFn {
  const nnc_fn_info *info;
  IrgProgram p;
  lower_plan plan;
  char sym[KIR_NAME];
  char id[KIR_NAME];      /* C identifier, lower case: "fashionmlp_logits" */
} AotFn;

static void lower_id(const char *s, char *out, size_t cap, int upper) {
  size_t i = 0;
  for (; s[i] && i + 1 < cap; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[i] = isalnum(ch) ? (char)(upper ? toupper(ch) : tolower(ch)) : '_';
  }
  out[i] = 0;
}

/* The shapes of fn's arguments with every symbolic dim bound to batch; -1 if a dim is
 * not a number or a plain name. */
static int arg_shapes(const nnc_fn_info *fi, int64_t batch, IrDType *dts, IrShape *sh) {
  for (int i = 0; i < fi->nargs; i++) {
    const nnc_arg *a = &fi->args[i];
    if (api_ir_dtype(a->dtype, &dts[i])) return -1;
    sh[i].rank = a->rank;
    for (int d = 0; d < a->rank; d++) {
      if (a->dims[d] >= 0) sh[i].dim[d] = a->dims[d];
      else if (a->dim_names[d] && strcmp(a->dim_names[d], "?")) sh[i].dim[d] = batch;
      else return -1;
    }
  }
  return 0;
}

/* The derived parameter for transpose node n of param p (created once per name). */
static const AotDerived *derived_of(nnc_model *m, AotSet *ds, const IrGraph *g, const IrNode *p) {
  char name[256];
  snprintf(name, sizeof name, "%s^T", p->name);
  for (int i = 0; i < ds->n; i++)
    if (!strcmp(ds->d[i].name, name)) return &ds->d[i];
  ApiParam *src = api_param_named(m, p->name);
  if (!src || ds->n == AOT_MAX_DERIVED) return NULL;
  const IrShape *sh = &ir_type(g, p->out[0])->shape;
  ds->d[ds->n] = (AotDerived){lang_intern(m->L, name, strlen(name)), (int)(src - m->p), sh->dim[0], sh->dim[1]};
  return &ds->d[ds->n++];
}

static int is_param_transpose(const IrGraph *g, const IrNode *n) {
  if (n->op != OP_TRANSPOSE || n->nin != 1) return 0;
  const IrNode *p = ir_producer(g, n->in[0]);
  return p->op == OP_PARAM && ir_type(g, p->out[0])->shape.rank == 2 && ir_type(g, p->out[0])->dtype == IR_F32;
}

/* Copies f's graph replacing each transpose of a rank-2 f32 parameter by a leaf. */
static int pretranspose(nnc_model *m, AotSet *ds, AotFn *f) {
  IrGraph *g = f->p.g, *ng = ir_graph_new();
  IrVal *map = malloc(sizeof(IrVal) * (size_t)(g->nvals + 1));
  int rc = ng && map ? 0 : -1;
  if (ng) ng->next_stream = g->next_stream;
  for (int i = 0; i < g->nnodes && !rc; i++) {
    const IrNode *n = g->nodes[i];
    const AotDerived *d = is_param_transpose(g, n) ? derived_of(m, ds, g, ir_producer(g, n->in[0])) : NULL;
    if (d) {
      IrShape t = ir_type(g, n->out[0])->shape;
      map[n->out[0]] = ir_param(ng, d->name, IR_F32, t, "zeros");
      rc = map[n->out[0]] == IR_NONE ? -1 : 0;
      continue;
    }
    IrNode *c = ir_copy_node(ng, g, n, map);
    if (!c) rc = -1;
    for (int k = 0; c && k < n->nout; k++) map[n->out[k]] = c->out[k];
  }
  for (int i = 0; i < g->nouts && !rc; i++) rc = ir_set_outputs(ng, 1, &map[g->outs[i]]);
  free(map);
  if (rc) {
    rc = api_fail(m->ctx, NNC_EBACKEND, "rewriting %s: %s", f->info->name, ng && ir_errmsg(ng)[0] ? ir_errmsg(ng) : "out of memory");
    ir_graph_free(ng);
    return rc;
  }
  ir_graph_free(g);
  f->p.g = ng;
  return 0;
}

static int trace_fn(nnc_model *m, AotSet *ds, AotFn *f, int64_t batch) {
  IrDType dts[NNC_MAX_ARGS];
  IrShape sh[NNC_MAX_ARGS];
  if (arg_shapes(f->info, batch, dts, sh)) return 1;   /* skipped: not every dim is known */
  /* host functions: not in an object that links with libnnrt only (docs/embedding.md) */
  static const IrHostTab aot_hosts = {0, NULL, "nnc -c objects cannot call host functions; run this function "
                                               "through the JIT API (nnc.h) with the function registered"};
  if (irg_build_fn(m->L, m->file, f->info->name, f->info->nargs, dts, sh, 0, &aot_hosts, &f->p))
    return api_fail_diags(m, f->info->name);
  if (pretranspose(m, ds, f)) return m->ctx->code;
  IrPassOpts po = {0};
  if (ir_simplify(f->p.g, &po) || ir_cse(f->p.g))
    return api_fail(m->ctx, NNC_EBACKEND, "optimizing %s: %s", f->info->name, ir_errmsg(f->p.g));
  api_symbol_of(f->info->name, f->sym, sizeof f->sym);
  lower_id(f->info->name, f->id, sizeof f->id, 0);
  char msg[1024];
  if (lower_graph(f->p.g, f->sym, &f->plan, msg, sizeof msg)) return api_fail(m->ctx, NNC_EBACKEND, "%s", msg);
  return 0;
}

/* One module holding every function (linked into the first). */
static int build_module(nnc_model *m, jit_t *j, AotFn *fs, int n, LLVMModuleRef *out) {
  cg_options co = {0};
  *out = NULL;
  for (int i = 0; i < n; i++) {
    LLVMModuleRef mi;
    if (cg_build(j, fs[i].plan.f, &co, &mi)) return api_fail(m->ctx, NNC_EBACKEND, "%s", jit_errmsg(j));
    if (!*out) *out = mi;
    else if (LLVMLinkModules2(*out, mi)) return api_fail(m->ctx, NNC_EBACKEND, "linking %s into the module failed", fs[i].sym);
  }
  if (!*out) return api_fail(m->ctx, NNC_ENOTFOUND, "no function of the model has arguments of known shapes");
  if (jit_optimize(j, *out)) return api_fail(m->ctx, NNC_EBACKEND, "%s", jit_errmsg(j));
  return NNC_OK;
}

/* ------------------------------------------------------------------ the header */

/* Offsets in the float block: the model's parameters, then the derived ones; each
 * start 64-byte aligned. name NULL: the block's size. */
static int64_t param_offset(nnc_model *m, const AotSet *ds, const char *name) {
  int64_t off = 0;
  for (int i = 0; i < m->np; i++) {
    if (name && !strcmp(m->p[i].name, name)) return off;
    off += (m->p[i].n + 15) / 16 * 16;
  }
  for (int i = 0; i < ds->n; i++) {
    if (name && !strcmp(ds->d[i].name, name)) return off;
    off += (ds->d[i].rows * ds->d[i].cols + 15) / 16 * 16;
  }
  return name ? -1 : off;
}

/* prefix_prepare: fills the derived (transposed) parameters from the loaded ones. */
static void write_prepare(FILE *h, nnc_model *m, const AotSet *ds, const char *p) {
  fprintf(h, "/* Fills the transposed copies of weights the entry points read. Call it after writing\n"
             " * params by hand (load_weights calls it). */\n");
  fprintf(h, "static inline void %s_prepare(float *params) {\n", p);
  if (ds->n) {
    fprintf(h, "  static const int64_t t[%d][4] = {", ds->n);
    for (int i = 0; i < ds->n; i++)
      fprintf(h, "{%lld, %lld, %lld, %lld}, ", (long long)param_offset(m, ds, m->p[ds->d[i].src].name),
              (long long)param_offset(m, ds, ds->d[i].name), (long long)ds->d[i].rows, (long long)ds->d[i].cols);
    fprintf(h, "};\n  for (int k = 0; k < %d; k++)  /* source [rows, cols] -> [cols, rows] */\n"
               "    for (int64_t i = 0; i < t[k][2]; i++)\n      for (int64_t j = 0; j < t[k][3]; j++)\n"
               "        params[t[k][1] + j * t[k][2] + i] = params[t[k][0] + i * t[k][3] + j];\n", ds->n);
  } else {
    fprintf(h, "  (void)params;\n");
  }
  fprintf(h, "}\n\n");
}

static void write_params(FILE *h, nnc_model *m, const AotSet *ds, const char *P, const char *p) {
  fprintf(h, "/* Parameters: one float block of %s_PARAM_FLOATS (64-byte aligned): these, in this\n"
             " * order, then transposed copies filled by %s_prepare. */\n", P, p);
  fprintf(h, "#define %s_PARAM_FLOATS %lld\n#define %s_NPARAMS %d\n", P, (long long)param_offset(m, ds, NULL), P, m->np);
  fprintf(h, "static const char *const %s_param_names[%d] = {", p, m->np + 1);
  for (int i = 0; i < m->np; i++) fprintf(h, "\"%s\", ", m->p[i].name);
  fprintf(h, "0};\nstatic const int64_t %s_param_offsets[%d] = {", p, m->np + 1);
  for (int i = 0; i < m->np; i++) fprintf(h, "%lld, ", (long long)param_offset(m, ds, m->p[i].name));
  fprintf(h, "0};\nstatic const int %s_param_ranks[%d] = {", p, m->np + 1);
  for (int i = 0; i < m->np; i++) fprintf(h, "%d, ", m->p[i].t.shape.rank);
  fprintf(h, "0};\nstatic const int64_t %s_param_dims[%d][8] = {", p, m->np + 1);
  for (int i = 0; i < m->np; i++) {
    fprintf(h, "{");
    for (int d = 0; d < m->p[i].t.shape.rank; d++) fprintf(h, "%s%lld", d ? ", " : "", (long long)m->p[i].t.shape.dim[d]);
    fprintf(h, "}, ");
  }
  fprintf(h, "{0}};\n\n");
  write_prepare(h, m, ds, p);
  fprintf(h, "/* Reads every parameter from a safetensors file into params (%s_PARAM_FLOATS\n"
             " * floats). Returns 0 or an NNRT_E* status (message in nnrt_errmsg(ctx)). */\n", P);
  fprintf(h, "static inline int %s_load_weights(nnrt_ctx *ctx, const char *path, float *params) {\n"
             "  nnrt_weights *w = 0;\n  int rc = nnrt_weights_load(ctx, path, &w);\n"
             "  for (int i = 0; !rc && i < %s_NPARAMS; i++) {\n    nnrt_tensor *t = 0;\n"
             "    rc = nnrt_tensor_wrap(ctx, NNRT_F32, %s_param_ranks[i], %s_param_dims[i], params + %s_param_offsets[i], &t);\n"
             "    if (!rc) rc = nnrt_weights_read(w, %s_param_names[i], t);\n    nnrt_tensor_free(t);\n  }\n"
             "  nnrt_weights_free(w);\n  if (!rc) %s_prepare(params);\n  return rc;\n}\n\n", p, P, p, p, p, p, p);
}

static const char *c_type(IrDType t) {
  return t == IR_F64 ? "double" : t == IR_I32 ? "int32_t" : t == IR_I64 ? "int64_t" : t == IR_BOOL ? "uint8_t" : "float";
}

/* The macros and the typed wrapper of one function. */
static void write_fn(FILE *h, nnc_model *m, const AotSet *ds, const AotFn *f) {
  char U[KIR_NAME], ty[128];
  lower_id(f->info->name, U, sizeof U, 1);
  const IrGraph *g = f->p.g;
  int64_t arena = 0;
  for (int s = 0; s < f->plan.nslots; s++)
    if (f->plan.slots[s].kind == LOWER_SLOT_ARENA) arena = f->plan.slots[s].bytes;
  fprintf(h, "/* %s */\n#define %s_ARENA_BYTES %lld\n", f->info->name, U, (long long)((arena + 63) / 64 * 64));
  for (int i = 0; i < f->info->nargs; i++) {
    IrVal v = ir_find_leaf(g, f->info->args[i].name);
    int64_t n = v >= 0 ? ir_numel(&ir_type(g, v)->shape) : 0;
    fprintf(h, "#define %s_%s_NUMEL %lld /* %s */\n", U, f->info->args[i].name, (long long)n,
            v >= 0 ? ir_type_str(ir_type(g, v), ty, sizeof ty) : "unused");
  }
  for (int i = 0; i < g->nouts; i++)
    fprintf(h, "#define %s_RESULT%d_NUMEL %lld /* %s */\n", U, i, (long long)ir_numel(&ir_type(g, g->outs[i])->shape),
            ir_type_str(ir_type(g, g->outs[i]), ty, sizeof ty));
  fprintf(h, "void %s(void **slots);\n", f->sym);
  fprintf(h, "static inline void %s(const float *params", f->id);
  for (int i = 0; i < f->info->nargs; i++) {
    IrVal v = ir_find_leaf(g, f->info->args[i].name);
    fprintf(h, ", const %s *%s", v >= 0 ? c_type(ir_type(g, v)->dtype) : "void", f->info->args[i].name);
  }
  for (int i = 0; i < g->nouts; i++) fprintf(h, ", %s *result%d", c_type(ir_type(g, g->outs[i])->dtype), i);
  int has_seed = 0;
  for (int s = 0; s < f->plan.nslots; s++) has_seed |= f->plan.slots[s].kind == LOWER_SLOT_SEED;
  fprintf(h, ", void *arena) {\n%s  void *slots[%d] = {", has_seed ? "  static uint64_t seed = 1;\n" : "", f->plan.nslots + 1);
  int k = 0;
  for (int s = 0; s < f->plan.nslots; s++) {
    const lower_slot *ls = &f->plan.slots[s];
    if (ls->kind == LOWER_SLOT_ARENA) fprintf(h, "arena, ");
    else if (ls->kind == LOWER_SLOT_SEED) fprintf(h, "&seed, ");
    else if (ls->kind == LOWER_SLOT_OUTPUT) fprintf(h, "result%d, ", k++);
    else {
      const IrNode *nd = ir_producer(g, ls->val);
      if (nd->op == OP_PARAM) fprintf(h, "(void *)(params + %lld), ", (long long)param_offset(m, ds, nd->name));
      else fprintf(h, "(void *)%s, ", nd->name);
    }
  }
  fprintf(h, "0};\n  (void)params;\n  %s(slots);\n}\n\n", f->sym);
}

static int write_header(nnc_model *m, const AotSet *ds, AotFn *fs, int n, const char *path, int64_t batch) {
  FILE *h = fopen(path, "w");
  if (!h) return api_fail(m->ctx, NNC_EIO, "cannot open %s for writing", path);
  char P[KIR_NAME], p[KIR_NAME];
  lower_id(m->model_name ? m->model_name : "nnc", P, sizeof P, 1);
  lower_id(m->model_name ? m->model_name : "nnc", p, sizeof p, 0);
  fprintf(h, "/* Generated by nnc -c (batch size %lld). Link the object with libnnrt only:\n"
             " *   cc app.c model.o -lnnrt -fopenmp -lz -lm\n"
             " * Entry points are static inline wrappers; every size is a macro, so all buffers\n"
             " * may be static. The arena must be 64-byte aligned. One call at a time per arena. */\n",
          (long long)batch);
  fprintf(h, "#ifndef NNC_AOT_%s_H\n#define NNC_AOT_%s_H\n\n#include <stdint.h>\n\n#include \"nnrt.h\"\n\n", P, P);
  fprintf(h, "#define %s_BATCH %lld\n", P, (long long)batch);
  write_params(h, m, ds, P, p);
  for (int i = 0; i < n; i++)
    if (fs[i].plan.f) write_fn(h, m, ds, &fs[i]);
  fprintf(h, "#endif\n");
  return fclose(h) ? api_fail(m->ctx, NNC_EIO, "cannot write %s", path) : NNC_OK;
}

/* ------------------------------------------------------------------ nnc_emit */

static int emit(nnc_model *m, AotFn *fs, int n, nnc_emit_kind kind, const char *out) {
  jit_t *j = NULL;
  char msg[1024];
  jit_options jo = {.opt = JIT_O2};
  if (jit_create(&j, &jo, msg, sizeof msg)) return api_fail(m->ctx, NNC_EBACKEND, "%s", msg);
  LLVMModuleRef mod = NULL;
  int rc = build_module(m, j, fs, n, &mod);
  jit_emit_kind k = kind == NNC_EMIT_ASM ? JIT_EMIT_ASM : kind == NNC_EMIT_LLVM ? JIT_EMIT_LLVM : JIT_EMIT_OBJ;
  if (!rc && jit_emit_file(j, mod, k, out)) rc = api_fail(m->ctx, NNC_EIO, "%s", jit_errmsg(j));
  if (mod) LLVMDisposeModule(mod);
  jit_destroy(j);
  return rc;
}

int nnc_emit(nnc_model *m, nnc_emit_kind kind, const char *out, const char *header, int64_t batch) {
  if (!m) return NNC_EINVAL;
  if (!out || batch < 1) return api_fail(m->ctx, NNC_EINVAL, "nnc_emit: an output path and a batch size >= 1 are needed");
  AotFn *fs = calloc((size_t)m->nfns + 1, sizeof *fs);
  AotSet *ds = calloc(1, sizeof *ds);
  if (!fs || !ds) {
    free(fs);
    free(ds);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  }
  int rc = NNC_OK, n = 0;
  for (int i = 0; i < m->nfns && rc == 0; i++) {   /* stop at the first error (fs[n] is kept for it) */
    fs[n].info = &m->fns[i];
    rc = trace_fn(m, ds, &fs[n], batch);
    if (rc == 0) n++;
    else if (rc > 0) irg_program_free(&fs[n].p), rc = 0;
  }
  if (!rc) rc = emit(m, fs, n, kind, out);
  if (!rc && header) rc = write_header(m, ds, fs, n, header, batch);
  for (int i = 0; i <= n && i < m->nfns; i++) lower_plan_free(&fs[i].plan), irg_program_free(&fs[i].p);
  free(fs);
  free(ds);
  return rc;
}

/* ------------------------------------------------------------------ nnc -c */

/* PATH with its extension replaced by ext (".h"); appended when there is none. */
static void with_ext(const char *path, const char *ext, char *out, size_t cap) {
  snprintf(out, cap, "%s", path);
  char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
  if (dot && (!slash || dot > slash) && dot != out) *dot = 0;
  size_t n = strlen(out);
  snprintf(out + n, cap - n, "%s", ext);
}

/* Prints the context's diagnostics (or its message) as file:line:col: severity: text. */
void api_print_error(nnc_ctx *c, FILE *err) {
  static const char *sev[] = {"error", "warning", "note"};
  for (int i = 0; i < nnc_diag_count(c); i++) {
    nnc_diag d;
    nnc_diag_get(c, i, &d);
    fprintf(err, "%s:%d:%d: %s: %s\n", d.file, d.line, d.column, sev[d.severity], d.text);
  }
  if (!nnc_diag_count(c) || nnc_errcode(c) != NNC_ECOMPILE) fprintf(err, "nnc: error: %s\n", nnc_errmsg(c));
}

int aot_cli(const char *file, const char *out, int kind, int64_t batch, const char *const *import_paths) {
  static const char *ext[] = {".o", ".s", ".ll"};
  char obj[4096], hdr[4096];
  with_ext(out ? out : file, ext[kind], obj, sizeof obj);
  if (out) snprintf(obj, sizeof obj, "%s", out);
  with_ext(obj, ".h", hdr, sizeof hdr);
  nnc_ctx *c = nnc_ctx_create(NULL, NULL);
  if (!c) return fprintf(stderr, "nnc: out of memory\n"), 1;
  nnc_options o = {.import_paths = import_paths, .no_cache = 1};
  nnc_model *m = NULL;
  int rc = nnc_compile_file(c, file, &o, &m);
  if (!rc) rc = nnc_emit(m, (nnc_emit_kind)kind, obj, hdr, batch);
  if (rc) api_print_error(c, stderr);
  nnc_model_free(m);
  nnc_ctx_free(c);
  return rc ? 1 : 0;
}
