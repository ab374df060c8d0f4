/* api_train.c — the model's parameters in the C API: created and initialized at compile
 * time exactly as `nnc FILE` does (same initializers, same Philox streams 1000+i, so the
 * same seed gives the same weights), one training step of the file's train declaration
 * (the traced loss with its gradients, then the declaration's optimizer from libnnrt),
 * and weights saved and loaded as safetensors from a file or memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "driver.h"

/* ------------------------------------------------------------------ parameters */

static int make_param(nnc_model *m, IrGraph *g, IrVal v, int i) {
  ApiParam *q = &m->p[i];
  const IrNode *nd = ir_producer(g, v);
  q->name = lang_intern(m->L, nd->name, strlen(nd->name));
  if (!q->name) return api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  q->t = *ir_type(g, v);
  if (q->t.dtype != IR_F32) return api_fail(m->ctx, NNC_ESHAPE, "parameter %s: only f32 parameters are supported", q->name);
  q->n = ir_numel(&q->t.shape);
  size_t bytes = sizeof(float) * (size_t)(q->n + 1);
  q->w = api_alloc(m->ctx, bytes);
  q->m = api_alloc(m->ctx, bytes);
  q->v = api_alloc(m->ctx, bytes);
  if (!q->w || !q->m || !q->v) return api_fail(m->ctx, NNC_ENOMEM, "out of memory for parameter %s", q->name);
  if (drv_init_param(nd->init ? nd->init : "zeros", q->w, q->t.shape.rank, q->t.shape.dim, m->opt.seed, 1000 + (uint64_t)i))
    return api_fail(m->ctx, NNC_ECOMPILE, "parameter %s: unknown initializer '%s'", q->name, nd->init);
  if (nnrt_tensor_wrap(m->ctx->rt, NNRT_F32, q->t.shape.rank, q->t.shape.dim, q->w, &q->view))
    return api_fail(m->ctx, nnrt_errcode(m->ctx->rt), "%s", nnrt_errmsg(m->ctx->rt));
  return NNC_OK;
}

int api_init_params(nnc_model *m) {
  if (!m->model_name) return NNC_OK;
  IrgProgram p;
  int bad = irg_build_params(m->L, m->file, m->model_name, &p);
  if (!bad && api_lang_oom(m)) {
    irg_program_free(&p);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory while instantiating the model");
  }
  if (bad) return api_fail_diags(m, "instantiating the model");
  m->np = p.nparams;
  m->p = api_alloc(m->ctx, sizeof(ApiParam) * (size_t)(m->np + 1));
  int rc = m->p ? NNC_OK : api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  for (int i = 0; i < m->np && !rc; i++) rc = make_param(m, p.g, p.params[i], i);
  irg_program_free(&p);
  return rc;
}

ApiParam *api_param_ensure(nnc_model *m, IrGraph *g, IrVal v) {
  const char *name = ir_producer(g, v)->name;
  ApiParam *q = api_param_named(m, name);
  if (q) return q;
  ApiParam *grown = api_alloc(m->ctx, sizeof(ApiParam) * (size_t)(m->np + 2));
  if (!grown) return api_fail(m->ctx, NNC_ENOMEM, "out of memory"), NULL;
  if (m->np) memcpy(grown, m->p, sizeof(ApiParam) * (size_t)m->np);
  api_free(m->ctx, m->p);
  m->p = grown;
  m->np++;
  return make_param(m, g, v, m->np - 1) ? NULL : &m->p[m->np - 1];
}

void api_free_params(nnc_model *m) {
  for (int i = 0; m->p && i < m->np; i++) {
    nnrt_tensor_free(m->p[i].view);
    api_free(m->ctx, m->p[i].w);
    api_free(m->ctx, m->p[i].m);
    api_free(m->ctx, m->p[i].v);
  }
  api_free(m->ctx, m->p);
  m->p = NULL;
  m->np = 0;
}

int nnc_param_count(const nnc_model *m) { return m ? m->np : 0; }

int nnc_param(nnc_model *m, int i, const char **name, nnrt_tensor **view) {
  if (!m) return NNC_EINVAL;
  if (i < 0 || i >= m->np) return api_fail(m->ctx, NNC_ERANGE, "parameter %d of %d", i, m->np);
  if (name) *name = m->p[i].name;
  if (view) *view = m->p[i].view;
  return NNC_OK;
}

/* ------------------------------------------------------------------ training */

static int field_of(nnc_model *m, const char *name, const nnrt_tensor *t, IrgField *f) {
  f->name = name;
  if (api_ir_dtype(nnrt_tensor_dtype(t), &f->dtype))
    return api_fail(m->ctx, NNC_ESHAPE, "batch.%s: dtype %s is not supported", name, nnrt_dtype_name(nnrt_tensor_dtype(t)));
  f->shape = ir_shape(nnrt_tensor_rank(t), nnrt_tensor_dims(t));
  return NNC_OK;
}

/* Traces loss, metrics and gradients for these batch types and compiles them. */
static int build_train(nnc_model *m, IrgField *f, int nf, const char *key, ApiProg **out) {
  IrgOptions io = {.training = 1, .with_grads = 1, .fields = f, .nfields = nf, .hosts = api_hosts(m->ctx)};
  IrgProgram p;
  int bad = irg_build(m->L, &m->s, &io, &p);
  if (!bad && api_lang_oom(m)) {
    irg_program_free(&p);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory while tracing the train declaration");
  }
  if (bad) return api_fail_diags(m, "tracing the train declaration");
  int no = 1 + p.nmetrics + p.nparams;
  IrVal *outs = calloc((size_t)no, sizeof *outs);
  int *gp = api_alloc(m->ctx, sizeof(int) * (size_t)no);
  if (!outs || !gp) {
    free(outs);
    api_free(m->ctx, gp);
    irg_program_free(&p);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  }
  outs[0] = p.loss;
  gp[0] = -1;
  for (int i = 0; i < p.nmetrics; i++) outs[1 + i] = p.metric[i], gp[1 + i] = -1;
  for (int i = 0; i < p.nparams; i++) {
    ApiParam *q = api_param_named(m, ir_producer(p.g, p.params[i])->name);
    outs[1 + p.nmetrics + i] = p.grads[i];
    gp[1 + p.nmetrics + i] = q ? (int)(q - m->p) : -1;
  }
  int rc = ir_set_outputs(p.g, no, outs) ? api_fail(m->ctx, NNC_EBACKEND, "tracing the train declaration: %s", ir_errmsg(p.g)) : NNC_OK;
  free(outs);
  if (rc) {
    api_free(m->ctx, gp);
    irg_program_free(&p);
    return rc;
  }
  rc = api_prog_build(m, key, "train_step", &p, out);
  if (rc) api_free(m->ctx, gp);
  else (*out)->grad_param = gp;
  return rc;
}

static void clip(nnc_model *m, ApiProg *q) {
  float *g[1024];
  int64_t n[1024];
  int k = 0;
  for (int i = 0; i < q->p.g->nouts && k < 1024; i++)
    if (q->grad_param[i] >= 0) g[k] = q->outs[i], n[k++] = m->p[q->grad_param[i]].n;
  nnrt_clip_grad_norm(g, n, k, (float)m->s.clip_grad_norm);
}

int nnc_train_step(nnc_model *m, const nnrt_tensor *x, const nnrt_tensor *y, double *loss) {
  if (!m) return NNC_EINVAL;
  if (!m->has_train) return api_fail(m->ctx, NNC_ESTATE, "the source has no train declaration");
  if (!m->s.nopt || !drv_opt_known(m->s.opt[0].kind))
    return api_fail(m->ctx, NNC_ESTATE, "the train declaration has no known optimizer (sgd, momentum, adam, adamw, rmsprop)");
  if (!x) return api_fail(m->ctx, NNC_EINVAL, "nnc_train_step: x is NULL");
  IrgField f[2];
  int nf = y ? 2 : 1, rc = field_of(m, "x", x, &f[0]);
  if (!rc && y) rc = field_of(m, "y", y, &f[1]);
  if (rc) return rc;
  char key[512], a[128], b[128] = "";
  IrType tx = {f[0].dtype, f[0].shape}, ty = {nf > 1 ? f[1].dtype : IR_F32, nf > 1 ? f[1].shape : f[0].shape};
  snprintf(key, sizeof key, "train(%s,%s)", ir_type_str(&tx, a, sizeof a), nf > 1 ? ir_type_str(&ty, b, sizeof b) : "");
  ApiProg *q = api_prog_find(m, key);
  if (!q && (rc = build_train(m, f, nf, key, &q))) return rc;
  const char *names[2] = {"batch.x", "batch.y"};
  void *data[2] = {nnrt_tensor_data(x), y ? nnrt_tensor_data(y) : NULL};
  if ((rc = api_prog_bind(m, q, nf, names, data))) return rc;
  q->seed = m->opt.seed * 0x9E3779B97F4A7C15ull + (uint64_t)m->step;
  q->fn(q->slots);
  if ((rc = api_host_status(m, q))) return rc;
  m->last_train = q;
  double l = *(const float *)q->outs[0];
  if (loss) *loss = l;
  if (!isfinite(l)) return api_fail(m->ctx, NNC_ERANGE, "the loss is not finite (NaN or Inf); the weights were not updated");
  if (m->s.clip_grad_norm > 0) clip(m, q);
  m->step++;
  for (int i = 0; i < q->p.g->nouts; i++)
    if (q->grad_param[i] >= 0) {
      ApiParam *p = &m->p[q->grad_param[i]];
      drv_opt_apply(&m->s.opt[0], irg_obj_num_at(m->L, &m->s.opt[0], "lr", 0, m->step - 1, 0, 1e-3), p->w,
                    q->outs[i], p->m, p->v, p->n, m->step);
    }
  return NNC_OK;
}

int64_t nnc_train_steps(const nnc_model *m) { return m ? m->step : 0; }

int nnc_train_metric_count(const nnc_model *m) { return m && m->last_train ? m->last_train->p.nmetrics : 0; }

int nnc_train_metric(nnc_model *m, int i, const char **name, double *value) {
  if (!m) return NNC_EINVAL;
  if (!m->last_train) return api_fail(m->ctx, NNC_ESTATE, "no training step has run yet");
  if (i < 0 || i >= m->last_train->p.nmetrics)
    return api_fail(m->ctx, NNC_ERANGE, "metric %d of %d", i, m->last_train->p.nmetrics);
  if (name) *name = m->last_train->p.metric_name[i];
  if (value) *value = *(const float *)m->last_train->outs[1 + i];
  return NNC_OK;
}

/* ------------------------------------------------------------------ weights */

int nnc_weights_save(nnc_model *m, const char *path) {
  if (!m) return NNC_EINVAL;
  if (!path) return api_fail(m->ctx, NNC_EINVAL, "nnc_weights_save: path is NULL");
  const char **names = calloc((size_t)m->np + 1, sizeof *names);
  const nnrt_tensor **ts = calloc((size_t)m->np + 1, sizeof *ts);
  if (!names || !ts) {
    free(names);
    free(ts);
    return api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  }
  for (int i = 0; i < m->np; i++) names[i] = m->p[i].name, ts[i] = m->p[i].view;
  const char *mk[] = {"format", "model"}, *mv[] = {"nnc", m->model_name ? m->model_name : ""};
  int rc = nnrt_weights_save(m->ctx->rt, path, m->np, names, ts, 2, mk, mv);
  free(names);
  free(ts);
  return rc ? api_fail(m->ctx, rc, "%s", nnrt_errmsg(m->ctx->rt)) : NNC_OK;
}

/* Reads every parameter from w (by name, checking shapes); frees w. */
static int read_all(nnc_model *m, nnrt_weights *w) {
  int rc = NNC_OK;
  for (int i = 0; i < m->np && !rc; i++)
    if ((rc = nnrt_weights_read(w, m->p[i].name, m->p[i].view))) rc = api_fail(m->ctx, rc, "%s", nnrt_errmsg(m->ctx->rt));
  nnrt_weights_free(w);
  return rc;
}

int nnc_weights_load(nnc_model *m, const char *path) {
  if (!m) return NNC_EINVAL;
  if (!path) return api_fail(m->ctx, NNC_EINVAL, "nnc_weights_load: path is NULL");
  nnrt_weights *w = NULL;
  int rc = nnrt_weights_load(m->ctx->rt, path, &w);
  return rc ? api_fail(m->ctx, rc, "%s", nnrt_errmsg(m->ctx->rt)) : read_all(m, w);
}

int nnc_weights_load_memory(nnc_model *m, const void *buf, size_t size) {
  if (!m) return NNC_EINVAL;
  if (!buf) return api_fail(m->ctx, NNC_EINVAL, "nnc_weights_load_memory: buf is NULL");
  nnrt_weights *w = NULL;
  int rc = nnrt_weights_from_memory(m->ctx->rt, buf, size, "<memory>", &w);
  return rc ? api_fail(m->ctx, rc, "%s", nnrt_errmsg(m->ctx->rt)) : read_all(m, w);
}
