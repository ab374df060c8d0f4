/* test_api.c — the public compiler API: compile, list, run, train, weights, memory, and
 * every error path (a status, a message, no crash, nothing printed). The model is small
 * enough that results are checked against plain C arithmetic on the model's weights. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnc.h"

static const char *SRC =
    "model Lin {\n"
    "  param W: f32[4, 3] = glorot\n"
    "  param b: f32[3] = normal(0, 0.5)\n"
    "  fn forward(x: f32[B, 4]) -> f32[B, 3] = x @ W + b\n"
    "  fn two(x: f32[B, 4]) -> (f32[B, 3], f32[B]) = (x @ W, sum(x, axis=1))\n"
    "}\n"
    "fn double(x: f32[N]) -> f32[N] = x * 2\n"
    "train Lin {\n"
    "  data = npy(x = \"x.npy\", y = \"y.npy\", x_shape = (4,), y_shape = (3,))\n"
    "  loss = mean((forward(batch.x) - cast(batch.y, f32)) ** 2)\n"
    "  metric bias0 = mean(b[0] + 0 * sum(batch.x))\n"
    "  optimizer = sgd(lr = 0.1)\n"
    "  batch_size = 2\n"
    "}\n";

static nnc_ctx *C;
static nnc_model *M;
static float XV[8] = {1, 2, 3, 4, 0, 1, 0, -1};
static nnrt_tensor *X;

static void setup(void) {
  C = nnc_ctx_create(NULL, NULL);
  cr_assert(C);
  cr_assert_eq(nnc_compile_string(C, "lin.nn", SRC, strlen(SRC), NULL, &M), NNC_OK, "%s", nnc_errmsg(C));
  int64_t d[2] = {2, 4};
  cr_assert_eq(nnc_tensor_wrap(C, NNRT_F32, 2, d, XV, &X), NNC_OK);
}

static void teardown(void) {
  nnrt_tensor_free(X);
  nnc_model_free(M);
  nnc_ctx_free(C);
}

static const float *param(const char *want) {
  for (int i = 0; i < nnc_param_count(M); i++) {
    const char *name;
    nnrt_tensor *t;
    cr_assert_eq(nnc_param(M, i, &name, &t), NNC_OK);
    if (!strcmp(name, want)) return nnrt_tensor_data(t);
  }
  cr_assert_fail("no parameter %s", want);
  return NULL;
}

/* x @ W + b in plain C on the model's current weights. */
static void reference(const float *x, int rows, float *y) {
  const float *W = param("W"), *b = param("b");
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < 3; j++) {
      double s = b[j];
      for (int k = 0; k < 4; k++) s += x[r * 4 + k] * W[k * 3 + j];
      y[r * 3 + j] = (float)s;
    }
}

static const nnrt_tensor *const *in1(const nnrt_tensor *t) {
  static const nnrt_tensor *a[1];
  a[0] = t;
  return a;
}

TestSuite(api, .init = setup, .fini = teardown);

Test(api, lists_functions_with_signatures) {
  cr_assert_eq(nnc_fn_count(M), 3);
  nnc_fn_info fi;
  cr_assert_eq(nnc_fn_info_get(M, 0, &fi), NNC_OK);
  cr_assert_str_eq(fi.name, "Lin.forward");
  cr_assert_eq(fi.nargs, 1);
  cr_assert_str_eq(fi.args[0].name, "x");
  cr_assert_eq(fi.args[0].dtype, NNRT_F32);
  cr_assert_eq(fi.args[0].rank, 2);
  cr_assert_eq(fi.args[0].dims[0], -1);
  cr_assert_str_eq(fi.args[0].dim_names[0], "B");
  cr_assert_eq(fi.args[0].dims[1], 4);
  cr_assert_eq(fi.nresults, 1);
  cr_assert_eq(fi.results[0].dims[1], 3);
  cr_assert_eq(nnc_fn_info_get(M, 1, &fi), NNC_OK);
  cr_assert_eq(fi.nresults, 2);
  cr_assert_eq(nnc_fn_info_get(M, 2, &fi), NNC_OK);
  cr_assert_str_eq(fi.name, "double");
}

Test(api, run_matches_plain_c) {
  nnrt_tensor *y = NULL;
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(X), 1, &y), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(nnrt_tensor_dim(y, 0), 2);
  cr_assert_eq(nnrt_tensor_dim(y, 1), 3);
  float ref[6];
  reference(XV, 2, ref);
  const float *o = nnrt_tensor_data(y);
  for (int i = 0; i < 6; i++) cr_assert_float_eq(o[i], ref[i], 1e-5, "y[%d] = %g, expected %g", i, o[i], ref[i]);
  /* in place, into a tensor the caller made; a second batch size compiles again */
  int64_t d1[2] = {1, 4};
  nnrt_tensor *x1, *y1;
  cr_assert_eq(nnc_tensor_wrap(C, NNRT_F32, 2, d1, XV + 4, &x1), NNC_OK);
  int64_t dy[2] = {1, 3};
  cr_assert_eq(nnc_tensor_create(C, NNRT_F32, 2, dy, &y1), NNC_OK);
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(x1), 1, &y1), NNC_OK, "%s", nnc_errmsg(C));
  for (int i = 0; i < 3; i++) cr_assert_float_eq(((float *)nnrt_tensor_data(y1))[i], ref[3 + i], 1e-5);
  nnrt_tensor_free(x1);
  nnrt_tensor_free(y1);
  nnrt_tensor_free(y);
}

Test(api, tuple_results_and_top_level_functions) {
  nnrt_tensor *out[2] = {NULL, NULL};
  cr_assert_eq(nnc_run(M, "Lin.two", 1, in1(X), 2, out), NNC_OK, "%s", nnc_errmsg(C));
  const float *s = nnrt_tensor_data(out[1]);
  cr_assert_float_eq(s[0], 10.0f, 1e-6);
  cr_assert_float_eq(s[1], 0.0f, 1e-6);
  nnrt_tensor *v = NULL, *d = NULL;
  int64_t n = 3;
  float vals[3] = {1, -2, 0.5f};
  cr_assert_eq(nnc_tensor_create(C, NNRT_F32, 1, &n, &v), NNC_OK);
  cr_assert_eq(nnc_tensor_fill(C, v, vals, sizeof vals), NNC_OK);
  cr_assert_eq(nnc_run(M, "double", 1, in1(v), 1, &d), NNC_OK, "%s", nnc_errmsg(C));
  float got[3];
  cr_assert_eq(nnc_tensor_read(C, d, got, sizeof got), NNC_OK);
  for (int i = 0; i < 3; i++) cr_assert_float_eq(got[i], 2 * vals[i], 0);
  nnrt_tensor_free(out[0]);
  nnrt_tensor_free(out[1]);
  nnrt_tensor_free(v);
  nnrt_tensor_free(d);
}

Test(api, training_lowers_the_loss_and_changes_inference) {
  float yv[6] = {1, 0, 0, 0, 1, 0};
  int64_t dy[2] = {2, 3};
  nnrt_tensor *y;
  cr_assert_eq(nnc_tensor_wrap(C, NNRT_F32, 2, dy, yv, &y), NNC_OK);
  double first = 0, loss = 0;
  for (int s = 0; s < 30; s++) {
    cr_assert_eq(nnc_train_step(M, X, y, &loss), NNC_OK, "%s", nnc_errmsg(C));
    if (s == 0) first = loss;
  }
  cr_assert_eq(nnc_train_steps(M), 30);
  cr_assert_lt(loss, first * 0.5, "loss %g -> %g", first, loss);
  /* the first loss is the plain-C loss of the initial weights: checked on the fresh model */
  nnrt_tensor *o = NULL;
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(X), 1, &o), NNC_OK);
  float ref[6];
  reference(XV, 2, ref);
  for (int i = 0; i < 6; i++) cr_assert_float_eq(((float *)nnrt_tensor_data(o))[i], ref[i], 1e-5);
  nnrt_tensor_free(o);
  nnrt_tensor_free(y);
}

Test(api, first_training_loss_is_the_mse_of_the_initial_weights) {
  float yv[6] = {1, 0, 0, 0, 1, 0};
  int64_t dy[2] = {2, 3};
  nnrt_tensor *y;
  cr_assert_eq(nnc_tensor_wrap(C, NNRT_F32, 2, dy, yv, &y), NNC_OK);
  float ref[6];
  reference(XV, 2, ref);
  double mse = 0;
  for (int i = 0; i < 6; i++) mse += (ref[i] - yv[i]) * (ref[i] - yv[i]) / 6;
  double loss;
  float b0 = param("b")[0];
  cr_assert_eq(nnc_train_step(M, X, y, &loss), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_float_eq(loss, mse, 1e-5);
  cr_assert_eq(nnc_train_metric_count(M), 1);
  const char *name;
  double v;
  cr_assert_eq(nnc_train_metric(M, 0, &name, &v), NNC_OK);
  cr_assert_str_eq(name, "bias0");
  cr_assert_float_eq(v, b0, 1e-6);   /* on the weights before the step */
  cr_assert_neq(param("b")[0], b0);
  cr_assert_eq(nnc_train_metric(M, 1, &name, &v), NNC_ERANGE);
  nnrt_tensor_free(y);
}

Test(api, weights_round_trip_through_a_file_and_memory) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/api/w_%d.safetensors", NNC_BINARY_DIR, (int)getpid());
  float w0 = param("W")[0];
  cr_assert_eq(nnc_weights_save(M, path), NNC_OK, "%s", nnc_errmsg(C));
  ((float *)param("W"))[0] = 123.0f;
  cr_assert_eq(nnc_weights_load(M, path), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_float_eq(param("W")[0], w0, 0);
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  remove(path);
  ((float *)param("W"))[0] = -5.0f;
  cr_assert_eq(nnc_weights_load_memory(M, buf, n), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_float_eq(param("W")[0], w0, 0);
  cr_assert_eq(nnc_weights_load_memory(M, buf, n / 2), NNC_EFORMAT);
  cr_assert_neq(nnc_errmsg(C)[0], 0);
}

Test(api, planned_memory_counts_results_and_scratch) {
  int64_t bytes = 0;
  cr_assert_eq(nnc_planned_memory(M, "Lin.forward", 1, in1(X), &bytes), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_geq(bytes, 2 * 3 * 4, "%lld", (long long)bytes);
  cr_assert_lt(bytes, 1 << 20);
}

Test(api, same_seed_same_weights) {
  nnc_model *m2;
  cr_assert_eq(nnc_compile_string(C, "lin.nn", SRC, strlen(SRC), NULL, &m2), NNC_OK);
  nnrt_tensor *t;
  cr_assert_eq(nnc_param(m2, 0, NULL, &t), NNC_OK);
  cr_assert_eq(memcmp(nnrt_tensor_data(t), param("W"), 12 * sizeof(float)), 0);
  nnc_options o = {.seed = 7};
  nnc_model *m3;
  cr_assert_eq(nnc_compile_string(C, "lin.nn", SRC, strlen(SRC), &o, &m3), NNC_OK);
  cr_assert_eq(nnc_param(m3, 0, NULL, &t), NNC_OK);
  cr_assert_neq(memcmp(nnrt_tensor_data(t), param("W"), 12 * sizeof(float)), 0);
  nnc_model_free(m2);
  nnc_model_free(m3);
}

/* ------------------------------------------------------------------ logging and cache */

static char logged[4096];
static void log_fn(void *ud, nnrt_log_level lv, const char *msg) {
  (void)ud;
  if (lv == NNRT_LOG_INFO) strncat(logged, msg, sizeof logged - strlen(logged) - 2), strcat(logged, "\n");
}

Test(api, log_callback_and_second_compile_hits_the_cache) {
  nnc_set_log(C, log_fn, NULL, NNRT_LOG_INFO);
  nnrt_tensor *y = NULL;
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(X), 1, &y), NNC_OK);
  cr_assert(strstr(logged, "compiled Lin.forward"), "%s", logged);
  nnrt_tensor_free(y);
  nnc_model *m2;
  cr_assert_eq(nnc_compile_string(C, "lin.nn", SRC, strlen(SRC), NULL, &m2), NNC_OK);
  logged[0] = 0;
  y = NULL;
  cr_assert_eq(nnc_run(m2, "Lin.forward", 1, in1(X), 1, &y), NNC_OK);
  cr_assert(strstr(logged, "cache hit"), "%s", logged);
  nnrt_tensor_free(y);
  nnc_model_free(m2);
  nnc_options nc = {.no_cache = 1};
  cr_assert_eq(nnc_compile_string(C, "lin.nn", SRC, strlen(SRC), &nc, &m2), NNC_OK);
  logged[0] = 0;
  y = NULL;
  cr_assert_eq(nnc_run(m2, "Lin.forward", 1, in1(X), 1, &y), NNC_OK);
  cr_assert(strstr(logged, "cache miss"), "%s", logged);
  nnrt_tensor_free(y);
  nnc_model_free(m2);
}

/* ------------------------------------------------------------------ error paths */

Test(api, source_errors_are_structured_diagnostics) {
  const char *bad = "model A {\n  fn f(x: f32[B, 4]) -> f32[B, 4] = x + y\n}\n";
  nnc_model *m = (nnc_model *)1;
  cr_assert_eq(nnc_compile_string(C, "bad.nn", bad, strlen(bad), NULL, &m), NNC_ECOMPILE);
  cr_assert_null(m);
  cr_assert_eq(nnc_errcode(C), NNC_ECOMPILE);
  const char *file;
  int line, col;
  cr_assert_eq(nnc_error_pos(C, &file, &line, &col), 1);
  cr_assert_str_eq(file, "bad.nn");
  cr_assert_eq(line, 2);
  cr_assert_eq(col, 41);
  cr_assert(strstr(nnc_errmsg(C), "bad.nn:2:41: error:"), "%s", nnc_errmsg(C));
  cr_assert_geq(nnc_diag_count(C), 1);
  nnc_diag d;
  cr_assert_eq(nnc_diag_get(C, 0, &d), NNC_OK);
  cr_assert_eq(d.severity, NNC_DIAG_ERROR);
  cr_assert_eq(d.line, 2);
  cr_assert(strstr(d.text, "'y'"), "%s", d.text);
  cr_assert_eq(nnc_diag_get(C, nnc_diag_count(C), &d), NNC_ERANGE);
  cr_assert_eq(nnc_diag_get(C, -1, &d), NNC_ERANGE);
  cr_assert_eq(nnc_diag_get(C, 0, NULL), NNC_EINVAL);
}

Test(api, syntax_error_and_missing_file) {
  nnc_model *m;
  cr_assert_eq(nnc_compile_string(C, "s.nn", "model {", 7, NULL, &m), NNC_ECOMPILE);
  cr_assert_eq(nnc_error_pos(C, NULL, NULL, NULL), 1);
  cr_assert_eq(nnc_compile_file(C, "/nonexistent/x.nn", NULL, &m), NNC_EIO);
  cr_assert_null(m);
  cr_assert_neq(nnc_errmsg(C)[0], 0);
  cr_assert_eq(nnc_compile_file(C, NULL, NULL, &m), NNC_EINVAL);
  cr_assert_eq(nnc_compile_string(C, "s.nn", NULL, 0, NULL, &m), NNC_EINVAL);
  cr_assert_eq(nnc_compile_string(C, "s.nn", "x", 1, NULL, NULL), NNC_EINVAL);
  cr_assert_eq(nnc_compile_string(NULL, "s.nn", "x", 1, NULL, &m), NNC_EINVAL);
}

Test(api, bad_calls_return_a_status) {
  nnrt_tensor *y = NULL, *out2[2] = {NULL, NULL};
  cr_assert_eq(nnc_run(M, "Lin.nope", 1, in1(X), 1, &y), NNC_ENOTFOUND);
  cr_assert(strstr(nnc_errmsg(C), "Lin.nope"));
  cr_assert_eq(nnc_run(M, "nope", 1, in1(X), 1, &y), NNC_ENOTFOUND);
  cr_assert_eq(nnc_run(M, NULL, 1, in1(X), 1, &y), NNC_EINVAL);
  cr_assert_eq(nnc_run(M, "Lin.forward", 0, NULL, 1, &y), NNC_EINVAL);
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, NULL, 1, &y), NNC_EINVAL);
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(NULL), 1, &y), NNC_EINVAL);
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(X), 2, out2), NNC_EINVAL);
  cr_assert_null(out2[0]);
  cr_assert_eq(nnc_run(NULL, "Lin.forward", 1, in1(X), 1, &y), NNC_EINVAL);
  int64_t d[2] = {2, 5};
  nnrt_tensor *wrong;
  cr_assert_eq(nnc_tensor_create(C, NNRT_F32, 2, d, &wrong), NNC_OK);
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(X), 1, &wrong), NNC_ESHAPE);
  cr_assert(strstr(nnc_errmsg(C), "f32[2, 3]"), "%s", nnc_errmsg(C));
  /* an input of the wrong shape is a compile error at the user's code, not a crash */
  cr_assert_eq(nnc_run(M, "Lin.forward", 1, in1(wrong), 1, &y), NNC_ECOMPILE);
  cr_assert_null(y);
  nnrt_tensor_free(wrong);
  int64_t bytes;
  cr_assert_eq(nnc_planned_memory(M, "Lin.forward", 1, in1(X), NULL), NNC_EINVAL);
  cr_assert_eq(nnc_planned_memory(M, "zzz", 1, in1(X), &bytes), NNC_ENOTFOUND);
  cr_assert_eq(nnc_planned_memory(NULL, "zzz", 1, in1(X), &bytes), NNC_EINVAL);
}

Test(api, bad_training_and_weights_calls) {
  double loss;
  cr_assert_eq(nnc_train_metric(M, 0, NULL, NULL), NNC_ESTATE);
  cr_assert_eq(nnc_train_metric(NULL, 0, NULL, NULL), NNC_EINVAL);
  cr_assert_eq(nnc_train_step(M, NULL, NULL, &loss), NNC_EINVAL);
  cr_assert_eq(nnc_train_step(NULL, X, NULL, &loss), NNC_EINVAL);
  const char *src = "fn f(x: f32[N]) -> f32[N] = x\n";
  nnc_model *m;
  cr_assert_eq(nnc_compile_string(C, "f.nn", src, strlen(src), NULL, &m), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(nnc_param_count(m), 0);
  cr_assert_eq(nnc_train_step(m, X, NULL, &loss), NNC_ESTATE);
  nnc_model_free(m);
  cr_assert_eq(nnc_weights_load(M, "/nonexistent.safetensors"), NNC_EIO);
  cr_assert_eq(nnc_weights_load(M, NULL), NNC_EINVAL);
  cr_assert_eq(nnc_weights_save(M, "/nonexistent/dir/w.safetensors"), NNC_EIO);
  cr_assert_eq(nnc_weights_save(M, NULL), NNC_EINVAL);
  cr_assert_eq(nnc_weights_load_memory(M, NULL, 0), NNC_EINVAL);
  cr_assert_eq(nnc_weights_load_memory(M, "garbage!", 8), NNC_EFORMAT);
  cr_assert_eq(nnc_param(M, 99, NULL, NULL), NNC_ERANGE);
  cr_assert_eq(nnc_param(NULL, 0, NULL, NULL), NNC_EINVAL);
  nnc_fn_info fi;
  cr_assert_eq(nnc_fn_info_get(M, 3, &fi), NNC_ERANGE);
  cr_assert_eq(nnc_fn_info_get(M, 0, NULL), NNC_EINVAL);
}

Test(api, weights_of_another_model_are_not_found) {
  const char *src = "model Other {\n  param V: f32[2] = zeros\n  fn f(x: f32[2]) -> f32[2] = x + V\n}\n";
  nnc_model *m;
  cr_assert_eq(nnc_compile_string(C, "o.nn", src, strlen(src), NULL, &m), NNC_OK, "%s", nnc_errmsg(C));
  char path[512];
  snprintf(path, sizeof path, "%s/tests/api/o_%d.safetensors", NNC_BINARY_DIR, (int)getpid());
  cr_assert_eq(nnc_weights_save(m, path), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(nnc_weights_load(M, path), NNC_ENOTFOUND, "%s", nnc_errmsg(C));
  remove(path);
  nnc_model_free(m);
}

static int host_fn(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  (void)ud, (void)nin, (void)in, (void)nout, (void)out;
  return 0;
}

Test(api, host_functions_and_tensor_helpers) {
  nnc_fn_info sig = {.nargs = 1, .nresults = 1};
  sig.args[0] = sig.results[0] = (nnc_arg){.dtype = NNRT_F32, .rank = 1, .dims = {-1}};
  cr_assert_eq(nnc_register_fn(C, NULL, &sig, NULL, NULL), NNC_EINVAL);
  cr_assert_eq(nnc_register_fn(NULL, "f", &sig, NULL, NULL), NNC_EINVAL);
  char name[16];
  int rc = 0;
  for (int i = 0; i < 40 && !rc; i++) {
    snprintf(name, sizeof name, "host%d", i);
    rc = nnc_register_fn(C, name, &sig, host_fn, NULL);
  }
  cr_assert_eq(rc, NNC_ERANGE);
  float v[4];
  cr_assert_eq(nnc_tensor_fill(C, X, v, 3), NNC_ESHAPE);
  cr_assert_eq(nnc_tensor_read(C, X, v, 3), NNC_ESHAPE);
  cr_assert_eq(nnc_tensor_fill(C, NULL, v, 3), NNC_EINVAL);
  cr_assert_eq(nnc_tensor_read(C, X, NULL, 3), NNC_EINVAL);
  int64_t neg = -1;
  nnrt_tensor *t;
  cr_assert_lt(nnc_tensor_create(C, NNRT_F32, 1, &neg, &t), 0);
  cr_assert_str_neq(nnc_errmsg(C), "");
  cr_assert_str_eq(nnc_strstatus(NNC_ECOMPILE), "compile error");
}

/* ------------------------------------------------------------------ the allocator */

typedef struct { long live, calls, fail_at; } Count;
static void *count_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  Count *c = ud;
  if (nsize == 0) {
    if (p) c->live -= (long)osize;
    free(p);
    return NULL;
  }
  if (c->fail_at >= 0 && c->calls >= c->fail_at) return NULL;
  c->calls++;
  void *q = realloc(p, nsize);
  if (q) c->live += (long)nsize - (long)osize;
  return q;
}

static int full_session(nnc_ctx *c) {
  nnc_model *m;
  int rc = nnc_compile_string(c, "lin.nn", SRC, strlen(SRC), NULL, &m);
  if (rc) return rc;
  nnrt_tensor *y = NULL;
  rc = nnc_run(m, "Lin.forward", 1, in1(X), 1, &y);
  nnrt_tensor_free(y);
  nnc_model_free(m);
  return rc;
}

Test(api, host_allocator_serves_everything_and_failures_are_enomem) {
  Count k = {0, 0, -1};
  nnc_ctx *c = nnc_ctx_create(count_alloc, &k);
  cr_assert(c);
  cr_assert_eq(full_session(c), NNC_OK, "%s", nnc_errmsg(c));
  nnc_ctx_free(c);
  cr_assert_eq(k.live, 0, "%ld bytes leaked through the host allocator", k.live);
  long total = k.calls;
  int enomem = 0;
  for (long f = 0; f < total; f += 1 + total / 12) {
    Count kf = {0, 0, f};
    nnc_ctx *cf = nnc_ctx_create(count_alloc, &kf);
    if (!cf) continue;
    int rc = full_session(cf);
    cr_assert(rc == NNC_OK || rc == NNC_ENOMEM, "failing allocation %ld: %d %s", f, rc, nnc_errmsg(cf));
    enomem += rc == NNC_ENOMEM;
    nnc_ctx_free(cf);
    cr_assert_eq(kf.live, 0, "failing allocation %ld: %ld bytes leaked", f, kf.live);
  }
  cr_assert_gt(enomem, 0);
}

Test(api, hyper_parameter_defaults_size_the_signature) {
  const char *src = "model H(width: int = 7) {\n  param W: f32[width, 2] = ones\n"
                    "  fn f(x: f32[B, width]) -> f32[B, 2] = x @ W\n}\n";
  nnc_model *m;
  cr_assert_eq(nnc_compile_string(C, "h.nn", src, strlen(src), NULL, &m), NNC_OK, "%s", nnc_errmsg(C));
  nnc_fn_info fi;
  cr_assert_eq(nnc_fn_info_get(m, 0, &fi), NNC_OK);
  cr_assert_eq(fi.args[0].dims[0], -1);
  cr_assert_str_eq(fi.args[0].dim_names[0], "B");
  cr_assert_eq(fi.args[0].dims[1], 7);
  cr_assert_null(fi.args[0].dim_names[1]);
  nnc_model_free(m);
}

Test(api, modules_made_inside_a_function_get_their_parameters) {
  const char *src = "module Aff {\n  param W: f32[2, 2] = eye\n  fn forward(x: f32[B, 2]) -> f32[B, 2] = x @ W * 3\n}\n"
                    "fn g(x: f32[B, 2]) -> f32[B, 2] = Aff()(x)\n";
  nnc_model *m;
  cr_assert_eq(nnc_compile_string(C, "aff.nn", src, strlen(src), NULL, &m), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(nnc_param_count(m), 0);
  int64_t d[2] = {1, 2};
  float xv[2] = {1.5f, -2}, yv[2];
  nnrt_tensor *x, *y = NULL;
  cr_assert_eq(nnc_tensor_wrap(C, NNRT_F32, 2, d, xv, &x), NNC_OK);
  cr_assert_eq(nnc_run(m, "g", 1, in1(x), 1, &y), NNC_OK, "%s", nnc_errmsg(C));
  cr_assert_eq(nnc_tensor_read(C, y, yv, sizeof yv), NNC_OK);
  cr_assert_float_eq(yv[0], 4.5f, 1e-6);
  cr_assert_float_eq(yv[1], -6.0f, 1e-6);
  cr_assert_eq(nnc_param_count(m), 1);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnc_model_free(m);
}

Test(api, emit_writes_an_object_and_a_header_or_says_why_not) {
  char obj[512], hdr[512];
  snprintf(obj, sizeof obj, "%s/tests/api/lin_%d.o", NNC_BINARY_DIR, (int)getpid());
  snprintf(hdr, sizeof hdr, "%s/tests/api/lin_%d.h", NNC_BINARY_DIR, (int)getpid());
  cr_assert_eq(nnc_emit(M, NNC_EMIT_OBJ, obj, hdr, 2), NNC_OK, "%s", nnc_errmsg(C));
  FILE *f = fopen(hdr, "r");
  cr_assert(f);
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  cr_assert(strstr(text, "static inline void lin_forward(const float *params, const float *x, float *result0"), "%s", text);
  cr_assert(strstr(text, "#define LIN_FORWARD_RESULT0_NUMEL 6 /* f32[2, 3] */"), "%s", text);
  cr_assert(strstr(text, "#define LIN_BATCH 2"));
  f = fopen(obj, "rb");
  cr_assert(f);
  unsigned char magic[4] = {0};
  cr_assert_eq(fread(magic, 1, 4, f), 4);
  fclose(f);
  cr_assert(magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F');
  remove(obj);
  remove(hdr);
  cr_assert_eq(nnc_emit(M, NNC_EMIT_OBJ, "/nonexistent/dir/x.o", NULL, 1), NNC_EIO);
  cr_assert_eq(nnc_emit(M, NNC_EMIT_OBJ, obj, "/nonexistent/dir/x.h", 1), NNC_EIO);
  remove(obj);
  cr_assert_eq(nnc_emit(M, NNC_EMIT_OBJ, obj, NULL, 0), NNC_EINVAL);
  cr_assert_eq(nnc_emit(M, NNC_EMIT_OBJ, NULL, NULL, 1), NNC_EINVAL);
  cr_assert_eq(nnc_emit(NULL, NNC_EMIT_OBJ, obj, NULL, 1), NNC_EINVAL);
}

/* ------------------------------------------------------------------ threads */

#include <pthread.h>

typedef struct { int rc; float y[6]; double loss; } ThreadOut;

/* A whole session on a context of its own: compile, train a step, run. */
static void *session_thread(void *arg) {
  ThreadOut *o = arg;
  nnc_ctx *c = nnc_ctx_create(NULL, NULL);
  nnc_model *m = NULL;
  nnrt_tensor *x = NULL, *y = NULL, *out = NULL;
  float xv[8] = {1, 2, 3, 4, 0, 1, 0, -1}, yv[6] = {1, 0, 0, 0, 1, 0};
  int64_t dx[2] = {2, 4}, dy[2] = {2, 3};
  o->rc = !c ? NNC_ENOMEM : nnc_compile_string(c, "lin.nn", SRC, strlen(SRC), NULL, &m);
  if (!o->rc) o->rc = nnc_tensor_wrap(c, NNRT_F32, 2, dx, xv, &x);
  if (!o->rc) o->rc = nnc_tensor_wrap(c, NNRT_F32, 2, dy, yv, &y);
  if (!o->rc) o->rc = nnc_train_step(m, x, y, &o->loss);
  if (!o->rc) o->rc = nnc_run(m, "Lin.forward", 1, (const nnrt_tensor *const *)&x, 1, &out);
  if (!o->rc) memcpy(o->y, nnrt_tensor_data(out), sizeof o->y);
  nnrt_tensor_free(out);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnc_model_free(m);
  nnc_ctx_free(c);
  return NULL;
}

Test(api, distinct_contexts_in_distinct_threads) {
  pthread_t th[4];
  ThreadOut out[4];
  for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&th[i], NULL, session_thread, &out[i]), 0);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(out[i].rc, NNC_OK, "thread %d: %d", i, out[i].rc);
    cr_assert_float_eq(out[i].loss, out[0].loss, 0);
    cr_assert_eq(memcmp(out[i].y, out[0].y, sizeof out[0].y), 0, "thread %d differs", i);
  }
}
