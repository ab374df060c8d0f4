/* api_run.c — compiled programs of the C API: a traced graph is simplified (ir_simplify,
 * ir_cse), lowered to one kernel function (lower_graph) and compiled through the disk
 * cache (cache.c); its slots point at the model's parameters, the caller's inputs (no
 * copy), a planned arena and owned result buffers. nnc_run and nnc_planned_memory. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

ApiParam *api_param_named(nnc_model *m, const char *name) {
  for (int i = 0; i < m->np; i++)
    if (!strcmp(m->p[i].name, name)) return &m->p[i];
  return NULL;
}

ApiProg *api_prog_find(nnc_model *m, const char *key) {
  for (ApiProg *q = m->progs; q; q = q->next)
    if (!strcmp(q->key, key)) return q;
  return NULL;
}

void api_prog_free(nnc_model *m, ApiProg *q) {
  if (!q) return;
  nnc_ctx *c = m->ctx;
  if (q->outs && q->p.g)
    for (int i = 0; i < q->p.g->nouts; i++) api_free(c, q->outs[i]);
  api_free(c, q->outs);
  api_free(c, q->slots);
  api_free(c, q->arena);
  api_free(c, q->grad_param);
  cache_obj_free(q->obj);
  cg_host_table_free(q->host);
  lower_plan_free(&q->plan);
  irg_program_free(&q->p);
  api_free(c, q);
}

static int64_t val_bytes(const IrGraph *g, IrVal v) {
  const IrType *t = ir_type(g, v);
  return ir_numel(&t->shape) * (int64_t)ir_dtype_size(t->dtype);
}

/* Arena, result buffers and the slot table of a lowered program. */
static int make_buffers(nnc_model *m, ApiProg *q) {
  nnc_ctx *c = m->ctx;
  IrGraph *g = q->p.g;
  q->slots = api_alloc(c, sizeof(void *) * (q->plan.nslots + 1));
  q->outs = api_alloc(c, sizeof(void *) * (g->nouts + 1));
  if (!q->slots || !q->outs) return -1;
  for (int i = 0; i < g->nouts; i++) {
    q->out_bytes += val_bytes(g, g->outs[i]);
    if (!(q->outs[i] = api_alloc(c, (size_t)val_bytes(g, g->outs[i]) + 8))) return -1;
  }
  int k = 0;
  for (int s = 0; s < q->plan.nslots; s++) {
    const lower_slot *ls = &q->plan.slots[s];
    if (ls->kind == LOWER_SLOT_ARENA) {
      q->arena_bytes = ls->bytes;
      if (!(q->arena = api_alloc(c, (size_t)ls->bytes + 64))) return -1;
      q->slots[s] = q->arena;
    } else if (ls->kind == LOWER_SLOT_OUTPUT) {
      q->slots[s] = k < g->nouts ? q->outs[k++] : NULL;
    } else if (ls->kind == LOWER_SLOT_SEED) {
      q->slots[s] = &q->seed;
    }
  }
  return 0;
}

/* A C identifier from a function name: "FashionMLP.logits" -> "nnc_FashionMLP_logits". */
void api_symbol_of(const char *name, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "nnc_%s", name);
  for (size_t i = 0; i < n && i < cap; i++)
    if (!(out[i] == '_' || (out[i] >= 'a' && out[i] <= 'z') || (out[i] >= 'A' && out[i] <= 'Z') ||
          (out[i] >= '0' && out[i] <= '9')))
      out[i] = '_';
}

static int optimize_graph(nnc_model *m, IrGraph *g) {
  IrPassOpts po = {0};
  if (ir_simplify(g, &po) || ir_cse(g)) return api_fail(m->ctx, NNC_EBACKEND, "optimizing the graph: %s", ir_errmsg(g));
  return NNC_OK;
}

static int compile_plan(nnc_model *m, ApiProg *q) {
  cg_options co = {0};
  int lvl = m->opt.opt_level > 0 && m->opt.opt_level <= 3 ? m->opt.opt_level : 2;
  cache_stats st;
  char msg[1024];
  if (cache_compile(q->plan.f, &co, (jit_opt_level)lvl, !m->opt.no_cache && !getenv("NNC_NO_CACHE"), &q->obj, &q->fn, &st, msg, sizeof msg))
    return api_fail(m->ctx, NNC_EBACKEND, "%s", msg);
  api_log(m->ctx, NNRT_LOG_INFO, "compiled %s: %s, %.1f ms compile, %.2f ms link, arena %lld bytes", q->key,
          st.hit ? "cache hit" : "cache miss", st.compile_ms, st.load_ms, (long long)q->arena_bytes);
  return NNC_OK;
}

int api_prog_build(nnc_model *m, const char *key, const char *name, IrgProgram *p, ApiProg **out) {
  *out = NULL;
  ApiProg *q = api_alloc(m->ctx, sizeof *q);
  if (!q) {
    irg_program_free(p);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  }
  snprintf(q->key, sizeof q->key, "%s", key);
  q->p = *p;
  q->seed = m->opt.seed;
  char sym[KIR_NAME];
  api_symbol_of(name, sym, sizeof sym);
  char msg[1024];
  int rc = optimize_graph(m, q->p.g);
  if (!rc && lower_graph(q->p.g, sym, &q->plan, msg, sizeof msg)) rc = api_fail(m->ctx, NNC_EBACKEND, "%s", msg);
  if (!rc && make_buffers(m, q)) rc = api_fail(m->ctx, NNC_ENOMEM, "out of memory for the buffers of %s", name);
  if (!rc && cg_host_table_new(&q->plan, api_hosts(m->ctx), &q->host, msg, sizeof msg))
    rc = api_fail(m->ctx, NNC_ENOTFOUND, "%s", msg);
  for (int s = 0; !rc && s < q->plan.nslots; s++)
    if (q->plan.slots[s].kind == LOWER_SLOT_HOST) q->slots[s] = q->host;
  if (!rc) rc = compile_plan(m, q);
  if (rc) {
    api_prog_free(m, q);
    return rc;
  }
  q->next = m->progs;
  m->progs = q;
  *out = q;
  return NNC_OK;
}

int api_prog_bind(nnc_model *m, ApiProg *q, int nin, const char *const *names, void *const *data) {
  for (int s = 0; s < q->plan.nslots; s++) {
    const lower_slot *ls = &q->plan.slots[s];
    if (ls->kind != LOWER_SLOT_LEAF) continue;
    const IrNode *nd = ir_producer(q->p.g, ls->val);
    q->slots[s] = NULL;
    if (nd->op == OP_PARAM) {
      ApiParam *p = api_param_ensure(m, q->p.g, ls->val);   /* modules made inside functions */
      if (!p) return m->ctx->code;
      q->slots[s] = p->w;
    }
    for (int i = 0; i < nin; i++)
      if (nd->op == OP_INPUT && !strcmp(nd->name, names[i])) q->slots[s] = data[i];
    if (!q->slots[s]) return api_fail(m->ctx, NNC_EINVAL, "'%s' is not bound (state buffers are not supported yet)", nd->name);
  }
  return NNC_OK;
}

/* ------------------------------------------------------------------ nnc_run */

/* "fn(f32[2,784],...)" into key; the input types into dts/shapes. */
static int input_types(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, IrDType *dts,
                       IrShape *shapes, char *key, size_t cap) {
  size_t n = (size_t)snprintf(key, cap, "%s(", fn);
  for (int i = 0; i < nin; i++) {
    if (!in[i]) return api_fail(m->ctx, NNC_EINVAL, "input %d of %s is NULL", i, fn);
    if (api_ir_dtype(nnrt_tensor_dtype(in[i]), &dts[i]))
      return api_fail(m->ctx, NNC_ESHAPE, "input %d of %s: dtype %s is not supported", i, fn,
                      nnrt_dtype_name(nnrt_tensor_dtype(in[i])));
    shapes[i] = ir_shape(nnrt_tensor_rank(in[i]), nnrt_tensor_dims(in[i]));
    char ty[128];
    IrType t = {dts[i], shapes[i]};
    n += (size_t)snprintf(key + n, n < cap ? cap - n : 0, "%s%s", i ? "," : "", ir_type_str(&t, ty, sizeof ty));
  }
  snprintf(key + n, n < cap ? cap - n : 0, ")");
  return n + 2 < cap ? NNC_OK : api_fail(m->ctx, NNC_ERANGE, "too many inputs to %s", fn);
}

/* The compiled program of fn for these inputs (built on the first call). */
int api_get_prog(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, ApiProg **out) {
  if (!fn) return api_fail(m->ctx, NNC_EINVAL, "the function name is NULL");
  if (nin < 0 || nin > NNC_MAX_ARGS || (nin && !in)) return api_fail(m->ctx, NNC_EINVAL, "bad inputs to %s", fn);
  IrgFnRef ref;
  if (irg_find_fn(m->file, fn, &ref)) return api_fail(m->ctx, NNC_ENOTFOUND, "no function '%s' in the model", fn);
  if (nin != ref.fn->nkids - 2)
    return api_fail(m->ctx, NNC_EINVAL, "%s takes %d arguments, %d given", fn, ref.fn->nkids - 2, nin);
  IrDType dts[NNC_MAX_ARGS];
  IrShape shapes[NNC_MAX_ARGS];
  char key[512];
  int rc = input_types(m, fn, nin, in, dts, shapes, key, sizeof key);
  if (rc) return rc;
  if ((*out = api_prog_find(m, key))) return NNC_OK;
  IrgProgram p;
  int bad = irg_build_fn(m->L, m->file, fn, nin, dts, shapes, 0, api_hosts(m->ctx), &p);
  if (!bad && api_lang_oom(m)) {
    irg_program_free(&p);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory while tracing %s", fn);
  }
  if (bad) return api_fail_diags(m, fn);
  return api_prog_build(m, key, fn, &p, out);
}

static int check_out(nnc_model *m, const IrType *t, nnrt_tensor *o, int i) {
  int same = nnrt_tensor_dtype(o) == api_rt_dtype(t->dtype) && nnrt_tensor_rank(o) == t->shape.rank;
  for (int d = 0; same && d < t->shape.rank; d++) same = nnrt_tensor_dim(o, d) == t->shape.dim[d];
  if (same) return NNC_OK;
  char want[128], have[128];
  ir_type_str(t, want, sizeof want);
  nnrt_tensor_shape_str(o, have, sizeof have);
  return api_fail(m->ctx, NNC_ESHAPE, "result %d is %s, the output tensor is %s", i, want, have);
}

static int write_outputs(nnc_model *m, ApiProg *q, int nout, nnrt_tensor **out) {
  IrGraph *g = q->p.g;
  for (int i = 0; i < nout; i++) {
    IrType t = *ir_type(g, g->outs[i]);
    int rc = out[i] ? check_out(m, &t, out[i], i)
                    : nnc_tensor_create(m->ctx, api_rt_dtype(t.dtype), t.shape.rank, t.shape.dim, &out[i]);
    if (rc) return rc;
    memcpy(nnrt_tensor_data(out[i]), q->outs[i], (size_t)val_bytes(g, g->outs[i]));
  }
  return NNC_OK;
}

int nnc_run(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  if (!m) return NNC_EINVAL;
  ApiProg *q;
  int rc = api_get_prog(m, fn, nin, in, &q);
  if (rc) return rc;
  if (nout != q->p.g->nouts || (nout && !out))
    return api_fail(m->ctx, NNC_EINVAL, "%s returns %d results, %d output tensors given", fn, q->p.g->nouts, nout);
  IrgFnRef ref;
  irg_find_fn(m->file, fn, &ref);
  const char *names[NNC_MAX_ARGS];
  void *data[NNC_MAX_ARGS];
  for (int i = 0; i < nin; i++) names[i] = ref.fn->kids[2 + i]->name, data[i] = nnrt_tensor_data(in[i]);
  if ((rc = api_prog_bind(m, q, nin, names, data))) return rc;
  q->fn(q->slots);
  if ((rc = api_host_status(m, q))) return rc;
  return write_outputs(m, q, nout, out);
}

int nnc_planned_memory(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, int64_t *bytes) {
  if (!m) return NNC_EINVAL;
  if (!bytes) return api_fail(m->ctx, NNC_EINVAL, "nnc_planned_memory: bytes is NULL");
  *bytes = 0;
  ApiProg *q;
  int rc = api_get_prog(m, fn, nin, in, &q);
  if (!rc) *bytes = q->arena_bytes + q->out_bytes;
  return rc;
}
