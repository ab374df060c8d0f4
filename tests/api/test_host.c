/* Host functions (`extern fn`) called from .nn code through the public API: a custom
 * activation and a tuple-returning reward function run by the JIT (nnc_run) agree with the
 * reference interpreter; unregistered functions, wrong signatures, failing host functions
 * and gradients reaching a host call are errors with their exact messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "api_int.h"
#include "nnc.h"

static const char *SRC =
    "extern fn swish_host(x: f32[B, 4]) -> f32[B, 4]\n"
    "extern fn reward(s: f32[N, 4], a: i32[N]) -> (f32[N], bool[N])\n"
    "model M {\n"
    "  param W: f32[4, 4] = normal(0, 1)\n"
    "  fn act(x: f32[B, 4]) -> f32[B, 4] = swish_host(x @ W) + 1\n"
    "  fn env(s: f32[N, 4], a: i32[N]) -> (f32[N], bool[N]) = reward(s * 2, a)\n"
    "  fn lin(x: f32[B, 4]) -> f32[B, 4] = x @ W\n"
    "  fn cut(x: f32[B, 4]) -> f32[B, 4] = stop_gradient(swish_host(x @ W))\n"
    "  fn roll(xs: f32[B, T, 4]) -> f32[B, T, 4] = scan fn(x, h) { return swish_host(x + h) } over xs along T from zeros(B, 4)\n"
    "}\n"
    "train M {\n"
    "  data = npy(x = \"x.npy\", y = \"y.npy\", x_shape = (4,), y_shape = (4,))\n"
    "  loss = mean((LOSS) ** 2)\n"
    "  optimizer = sgd(lr = 0.1)\n"
    "  batch_size = 2\n"
    "}\n";

static nnc_ctx *C;
static int calls;

/* x * sigmoid(x), elementwise */
static int swish(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  (void)ud;
  calls++;
  if (nin != 1 || nout != 1) return NNC_EINVAL;
  const float *x = nnrt_tensor_data(in[0]);
  float *y = nnrt_tensor_data(out[0]);
  for (int64_t i = 0; i < nnrt_tensor_numel(in[0]); i++) y[i] = x[i] / (1.0f + expf(-x[i]));
  return 0;
}

/* reward[i] = sum_j s[i, j] + a[i]; done[i] = a[i] > 1 */
static int reward(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  (void)ud, (void)nin, (void)nout;
  const float *s = nnrt_tensor_data(in[0]);
  const int32_t *a = nnrt_tensor_data(in[1]);
  float *r = nnrt_tensor_data(out[0]);
  uint8_t *done = nnrt_tensor_data(out[1]);
  for (int64_t i = 0; i < nnrt_tensor_dim(in[0], 0); i++) {
    r[i] = (float)a[i];
    for (int j = 0; j < 4; j++) r[i] += s[4 * i + j];
    done[i] = a[i] > 1;
  }
  return 0;
}

static int failing(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  (void)ud, (void)nin, (void)in, (void)nout, (void)out;
  return NNC_EINVAL;
}

static nnc_arg arg(nnrt_dtype dt, int rank, int64_t d0, int64_t d1) {
  nnc_arg a = {.dtype = dt, .rank = rank, .dims = {d0, d1}};
  return a;
}

/* swish_host: f32[?, d1] -> f32[?, d1] */
static nnc_fn_info swish_sig(int64_t d0, int64_t d1) {
  nnc_fn_info s = {.nargs = 1, .nresults = 1};
  s.args[0] = s.results[0] = arg(NNRT_F32, 2, d0, d1);
  return s;
}

static void setup(void) {
  C = nnc_ctx_create(NULL, NULL);
  calls = 0;
}
static void teardown(void) { nnc_ctx_free(C); }
TestSuite(host, .init = setup, .fini = teardown);

/* SRC with LOSS replaced. */
static int compile(const char *loss, nnc_model **m) {
  static char src[4096];
  const char *at = strstr(SRC, "LOSS");
  snprintf(src, sizeof src, "%.*s%s%s", (int)(at - SRC), SRC, loss, at + 4);
  nnc_options o = {.no_cache = 1};
  return nnc_compile_string(C, "host.nn", src, strlen(src), &o, m);
}

static void register_all(void) {
  nnc_fn_info s = swish_sig(-1, 4), r = {.nargs = 2, .nresults = 2};
  r.args[0] = arg(NNRT_F32, 2, -1, 4);
  r.args[1] = arg(NNRT_I32, 1, -1, 0);
  r.results[0] = arg(NNRT_F32, 1, -1, 0);
  r.results[1] = arg(NNRT_BOOL, 1, -1, 0);
  cr_assert_eq(nnc_register_fn(C, "swish_host", &s, swish, NULL), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(nnc_register_fn(C, "reward", &r, reward, NULL), NNC_OK, "%s", nnc_errmsg(C));
}

/* Runs `fn` of m on inputs in the reference interpreter, through the ctx's host table. */
static void interp(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, double *res[2]) {
  IrDType dts[2];
  IrShape sh[2];
  for (int i = 0; i < nin; i++) {
    api_ir_dtype(nnrt_tensor_dtype(in[i]), &dts[i]);
    sh[i] = ir_shape(nnrt_tensor_rank(in[i]), nnrt_tensor_dims(in[i]));
  }
  IrgProgram p;
  cr_assert_eq(irg_build_fn(m->L, m->file, fn, nin, dts, sh, 0, &C->hosts, &p), 0);
  IrInterp *I = ir_interp_new(p.g);
  ir_interp_set_hosts(I, &C->hosts);
  IrgFnRef ref;
  irg_find_fn(m->file, fn, &ref);
  for (int i = 0; i < nin; i++) {
    double d[64];
    for (int64_t k = 0; k < nnrt_tensor_numel(in[i]); k++)
      d[k] = dts[i] == IR_F32 ? ((float *)nnrt_tensor_data(in[i]))[k] : ((int32_t *)nnrt_tensor_data(in[i]))[k];
    cr_assert_eq(ir_interp_bind(I, ref.fn->kids[2 + i]->name, d), 0, "%s", ir_interp_error(I));
  }
  for (int i = 0; i < p.nparams; i++) {   /* the model's weights */
    const char *name = ir_producer(p.g, p.params[i])->name;
    ApiParam *w = api_param_named(m, name);
    double d[64];
    for (int64_t k = 0; k < w->n; k++) d[k] = w->w[k];
    cr_assert_eq(ir_interp_bind(I, name, d), 0);
  }
  cr_assert_eq(ir_interp_run(I), 0, "%s", ir_interp_error(I));
  for (int k = 0; k < p.g->nouts; k++) {
    const IrTensor *t = ir_interp_value(I, p.g->outs[k]);
    memcpy(res[k], t->data, sizeof(double) * (size_t)ir_numel(&t->t.shape));
  }
  ir_interp_free(I);
  irg_program_free(&p);
}

Test(host, custom_activation_jit_and_interpreter_agree) {
  register_all();
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  float xs[8] = {0.5f, -1, 2, 0.25f, -0.5f, 1.5f, 0, -2};
  int64_t xd[2] = {2, 4};
  nnrt_tensor *x, *y = NULL;
  nnc_tensor_wrap(C, NNRT_F32, 2, xd, xs, &x);
  cr_assert_eq(nnc_run(m, "M.act", 1, (const nnrt_tensor *const *)&x, 1, &y), NNC_OK, "%s", nnc_errmsg(C));
  cr_expect_eq(calls, 1);
  double want[8], *res[2] = {want, NULL};
  interp(m, "M.act", 1, (const nnrt_tensor *const *)&x, res);
  const float *got = nnrt_tensor_data(y);
  nnrt_tensor *W;
  const char *wn;
  nnc_param(m, 0, &wn, &W);
  const float *w = nnrt_tensor_data(W);
  for (int i = 0; i < 8; i++) {
    float z = 0;   /* (x @ W)[i], then swish + 1, in C */
    for (int k = 0; k < 4; k++) z += xs[4 * (i / 4) + k] * w[4 * k + i % 4];
    float ref = z / (1.0f + expf(-z)) + 1;
    cr_expect_float_eq(got[i], ref, 1e-5, "[%d] jit %g, C %g", i, got[i], ref);
    cr_expect_float_eq(got[i], (float)want[i], 1e-5, "[%d] jit %g, interpreter %g", i, got[i], want[i]);
  }
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnc_model_free(m);
}

Test(host, tuple_results_of_several_dtypes) {
  register_all();
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  float ss[12] = {1, 2, 3, 4, -1, -2, -3, -4, 0.5f, 0.5f, 0.5f, 0.5f};
  int32_t as[3] = {0, 2, 5};
  int64_t sd[2] = {3, 4}, ad[1] = {3};
  nnrt_tensor *in[2], *out[2] = {NULL, NULL};
  nnc_tensor_wrap(C, NNRT_F32, 2, sd, ss, &in[0]);
  nnc_tensor_wrap(C, NNRT_I32, 1, ad, as, &in[1]);
  cr_assert_eq(nnc_run(m, "M.env", 2, (const nnrt_tensor *const *)in, 2, out), NNC_OK, "%s", nnc_errmsg(C));
  double r[3], d[3], *res[2] = {r, d};
  interp(m, "M.env", 2, (const nnrt_tensor *const *)in, res);
  const float *rw = nnrt_tensor_data(out[0]);
  const uint8_t *dn = nnrt_tensor_data(out[1]);
  float want[3] = {20, -18, 9};
  for (int i = 0; i < 3; i++) {
    cr_expect_float_eq(rw[i], want[i], 1e-6, "reward[%d] = %g", i, rw[i]);
    cr_expect_eq(dn[i], as[i] > 1, "done[%d]", i);
    cr_expect_float_eq(r[i], want[i], 1e-6, "interpreter reward[%d] = %g", i, r[i]);
    cr_expect_eq(d[i], as[i] > 1, "interpreter done[%d]", i);
  }
  for (int i = 0; i < 2; i++) nnrt_tensor_free(in[i]), nnrt_tensor_free(out[i]);
  nnc_model_free(m);
}

static void expect_error(int rc, int want, const char *msg, int line, int col) {
  cr_expect_eq(rc, want, "status %d (%s): %s", rc, nnc_strstatus(rc), nnc_errmsg(C));
  cr_expect_str_eq(nnc_errmsg(C), msg);
  const char *file;
  int l = 0, c = 0;
  if (line) {
    cr_expect_eq(nnc_error_pos(C, &file, &l, &c), 1);
    cr_expect(l == line && c == col, "at %d:%d, expected %d:%d", l, c, line, col);
  }
}

Test(host, unregistered_function_is_an_error_at_the_call) {
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  float xs[8] = {0};
  int64_t xd[2] = {2, 4};
  nnrt_tensor *x, *y = NULL;
  nnc_tensor_wrap(C, NNRT_F32, 2, xd, xs, &x);
  expect_error(nnc_run(m, "M.act", 1, (const nnrt_tensor *const *)&x, 1, &y), NNC_ECOMPILE,
               "host.nn:5:39: error: host function 'swish_host' is not registered: register it with nnc_register_fn "
               "before compiling the model", 5, 39);
  nnrt_tensor_free(x);
  nnc_model_free(m);
}

Test(host, declared_signature_must_match_the_registered_one) {
  nnc_fn_info s = swish_sig(-1, 5);
  cr_assert_eq(nnc_register_fn(C, "swish_host", &s, swish, NULL), NNC_OK);
  nnc_model *m = NULL;
  expect_error(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_ESHAPE,
               "host function 'swish_host': argument 1 is declared f32[B, 4], registered as f32[?, 5]", 0, 0);
  cr_expect_null(m);
  nnc_fn_info two = {.nargs = 2, .nresults = 1};
  two.args[0] = two.args[1] = two.results[0] = arg(NNRT_F32, 2, -1, 4);
  cr_assert_eq(nnc_register_fn(C, "swish_host", &two, swish, NULL), NNC_OK);
  expect_error(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_ESHAPE,
               "host function 'swish_host' is declared with 1 arguments and 1 results, registered with 2 and 1", 0, 0);
  nnc_fn_info i32 = swish_sig(-1, 4);
  i32.results[0].dtype = NNRT_I32;
  cr_assert_eq(nnc_register_fn(C, "swish_host", &i32, swish, NULL), NNC_OK);
  expect_error(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_ESHAPE,
               "host function 'swish_host': result 1 is declared f32[B, 4], registered as i32[?, 4]", 0, 0);
}

Test(host, traced_sizes_must_match_the_registered_ones) {
  nnc_fn_info s = swish_sig(3, 4);   /* registered for batches of 3 only */
  cr_assert_eq(nnc_register_fn(C, "swish_host", &s, swish, NULL), NNC_OK);
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  float xs[8] = {0};
  int64_t xd[2] = {2, 4};
  nnrt_tensor *x, *y = NULL;
  nnc_tensor_wrap(C, NNRT_F32, 2, xd, xs, &x);
  expect_error(nnc_run(m, "M.act", 1, (const nnrt_tensor *const *)&x, 1, &y), NNC_ECOMPILE,
               "host.nn:5:39: error: host function 'swish_host': argument 1 is f32[2, 4] at this call, registered as "
               "f32[3, 4]", 5, 39);
  nnrt_tensor_free(x);
  nnc_model_free(m);
}

Test(host, a_failing_host_function_fails_the_run) {
  nnc_fn_info s = swish_sig(-1, 4);
  cr_assert_eq(nnc_register_fn(C, "swish_host", &s, failing, NULL), NNC_OK);
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  float xs[8] = {0};
  int64_t xd[2] = {2, 4};
  nnrt_tensor *x, *y = NULL;
  nnc_tensor_wrap(C, NNRT_F32, 2, xd, xs, &x);
  expect_error(nnc_run(m, "M.act", 1, (const nnrt_tensor *const *)&x, 1, &y), NNC_EHOST,
               "host function 'swish_host' failed: it returned -2 (invalid argument)", 0, 0);
  cr_expect_null(y);
  nnc_fn_info s2 = swish_sig(-1, 4);
  cr_assert_eq(nnc_register_fn(C, "swish_host", &s2, swish, NULL), NNC_OK);   /* replaced: runs again */
  cr_expect_eq(nnc_run(m, "M.act", 1, (const nnrt_tensor *const *)&x, 1, &y), NNC_OK, "%s", nnc_errmsg(C));
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnc_model_free(m);
}

static int train_step(nnc_model *m, double *loss) {
  float xs[8] = {0.5f, -1, 2, 0.25f, -0.5f, 1.5f, 0, -2}, ys[8] = {0};
  int64_t d[2] = {2, 4};
  nnrt_tensor *x, *y;
  nnc_tensor_wrap(C, NNRT_F32, 2, d, xs, &x);
  nnc_tensor_wrap(C, NNRT_F32, 2, d, ys, &y);
  int rc = nnc_train_step(m, x, y, loss);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return rc;
}

Test(host, a_gradient_into_a_host_call_is_an_error_at_the_call) {
  register_all();
  nnc_model *m;
  cr_assert_eq(compile("act(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  double loss;
  expect_error(train_step(m, &loss), NNC_ECOMPILE,
               "host.nn:5:39: error: cannot differentiate the loss: a gradient flows into host function 'swish_host', "
               "which is not differentiable; wrap its argument or its result in stop_gradient", 5, 39);
  nnc_model_free(m);
}

Test(host, stop_gradient_cuts_the_flow_into_a_host_call) {
  register_all();
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cut(batch.x)", &m), NNC_OK, "%s", nnc_errmsg(C));
  double l0, l1;
  cr_assert_eq(train_step(m, &l0), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(train_step(m, &l1), NNC_OK, "%s", nnc_errmsg(C));
  cr_expect_eq(calls, 2);   /* once per step: the traced loss calls it once */
  cr_expect(isfinite(l0) && isfinite(l1) && l1 != l0, "losses %g, %g", l0, l1);
  nnc_model_free(m);
}

Test(host, registration_errors) {
  nnc_fn_info s = swish_sig(-1, 4), none = {.nargs = 1, .nresults = 0};
  cr_expect_eq(nnc_register_fn(C, "f", NULL, swish, NULL), NNC_EINVAL);
  cr_expect_str_eq(nnc_errmsg(C), "nnc_register_fn: a name, a signature and a function are needed");
  cr_expect_eq(nnc_register_fn(C, "f", &none, swish, NULL), NNC_EINVAL);
  cr_expect_str_eq(nnc_errmsg(C), "host function 'f': 1 arguments and 0 results (at least one result, at most 12 in all)");
  s.args[0].rank = 9;
  cr_expect_eq(nnc_register_fn(C, "f", &s, swish, NULL), NNC_EINVAL);
  cr_expect_str_eq(nnc_errmsg(C), "host function 'f': argument 1 has rank 9 or dtype f32");
}

/* Inside a scan body: the interpreter runs the calls (h_t = swish(x_t + h_{t-1})); the
 * JIT does not lower them yet and says so. */
Test(host, a_call_inside_a_scan_body) {
  register_all();
  nnc_model *m;
  cr_assert_eq(compile("lin(batch.x) - cast(batch.y, f32)", &m), NNC_OK, "%s", nnc_errmsg(C));
  float xs[12] = {0.5f, -1, 2, 0.25f, -0.5f, 1.5f, 0, -2, 1, 1, 1, 1};   /* [1, 3, 4] */
  int64_t xd[3] = {1, 3, 4};
  nnrt_tensor *x, *y = NULL;
  nnc_tensor_wrap(C, NNRT_F32, 3, xd, xs, &x);
  double got[12], *res[2] = {got, NULL};
  interp(m, "M.roll", 1, (const nnrt_tensor *const *)&x, res);
  cr_expect_eq(calls, 3);
  float h[4] = {0};
  for (int t = 0; t < 3; t++)
    for (int j = 0; j < 4; j++) {
      float z = xs[4 * t + j] + h[j];
      h[j] = z / (1.0f + expf(-z));
      cr_expect_float_eq(got[4 * t + j], h[j], 1e-6, "[%d, %d] interpreter %g, C %g", t, j, got[4 * t + j], h[j]);
    }
  expect_error(nnc_run(m, "M.roll", 1, (const nnrt_tensor *const *)&x, 1, &y), NNC_EBACKEND,
               "node %3 (host_call): host function 'swish_host': a call inside a scan body is not compiled yet "
               "(only the interpreter runs it); call it outside the scan", 0, 0);
  nnrt_tensor_free(x);
  nnc_model_free(m);
}
