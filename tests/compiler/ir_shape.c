/* ir_shape.c — shape rules (results and error messages) and the builder's error
 * discipline (poisoned graph, no abort). */
#include <criterion/criterion.h>
#include <string.h>

#include "ir_testutil.h"

#define D(...) ((int64_t[]){__VA_ARGS__})

static IrGraph *g;
static void setup(void) { g = ir_graph_new(); }
static void teardown(void) { ir_graph_free(g); }
TestSuite(shape, .init = setup, .fini = teardown);

static IrVal f32(int rank, const int64_t *d, const char *name) { return ir_input(g, name, IR_F32, ir_shape(rank, d)); }

static void expect_type(IrVal v, const char *want)
{
  char b[128];
  cr_assert(v != IR_NONE, "build failed: %s", ir_errmsg(g));
  cr_expect_str_eq(ir_type_str(ir_type(g, v), b, sizeof b), want);
}

static void expect_error(IrVal v, const char *part)
{
  cr_expect(v == IR_NONE, "expected a failure containing '%s'", part);
  cr_expect(g->failed);
  cr_expect(strstr(ir_errmsg(g), part) != NULL, "message '%s' lacks '%s'", ir_errmsg(g), part);
}

Test(shape, broadcast_binary)
{
  IrVal a = f32(3, D(2, 1, 4), "a"), b = f32(2, D(3, 1), "b");
  expect_type(ir_binary(g, OP_ADD, a, b), "f32[2, 3, 4]");
  expect_type(ir_binary(g, OP_LT, a, b), "bool[2, 3, 4]");
}

Test(shape, broadcast_mismatch_names_shapes)
{
  IrVal a = f32(2, D(2, 3), "a"), b = f32(2, D(2, 4), "b");
  expect_error(ir_binary(g, OP_MUL, a, b), "mul: shapes f32[2, 3] and f32[2, 4] do not broadcast");
}

Test(shape, dtype_mismatch)
{
  IrVal a = f32(1, D(3), "a"), b = ir_input(g, "b", IR_I32, ir_shape(1, D(3)));
  expect_error(ir_binary(g, OP_ADD, a, b), "dtypes differ");
}

Test(shape, poisoned_builder_stays_failed)
{
  IrVal a = f32(2, D(2, 3), "a"), b = f32(2, D(4, 5), "b");
  IrVal bad = ir_matmul(g, a, b, 0, 0);
  cr_expect(bad == IR_NONE);
  cr_expect(strstr(ir_errmsg(g), "inner dimensions 3 and 4 differ") != NULL, "%s", ir_errmsg(g));
  char first[512];
  strcpy(first, ir_errmsg(g));
  cr_expect(ir_unary(g, OP_TANH, bad) == IR_NONE);
  cr_expect(ir_unary(g, OP_TANH, a) == IR_NONE, "a failed builder refuses further nodes");
  cr_expect_str_eq(ir_errmsg(g), first, "the first message is kept");
  ir_clear_error(g);
  expect_type(ir_unary(g, OP_TANH, a), "f32[2, 3]");
}

Test(shape, reductions)
{
  IrVal x = f32(3, D(2, 3, 4), "x");
  int ax[2] = {0, -1};
  expect_type(ir_reduce(g, OP_SUM, x, 2, ax, 0), "f32[3]");
  expect_type(ir_reduce(g, OP_MEAN, x, 2, ax, 1), "f32[1, 3, 1]");
  expect_type(ir_argmax(g, x, 1, 0), "i64[2, 4]");
  IrVal tv, ti;
  cr_assert(ir_topk(g, x, 2, -1, 0, &tv, &ti) == 0, "%s", ir_errmsg(g));
  expect_type(tv, "f32[2, 3, 2]");
  expect_type(ti, "i64[2, 3, 2]");
  cr_expect(ir_topk(g, x, 5, 1, 0, &tv, &ti) == -1);
  cr_expect(strstr(ir_errmsg(g), "k = 5 outside [1, 3]") != NULL, "%s", ir_errmsg(g));
  ir_clear_error(g);
  int bad[1] = {3};
  expect_error(ir_reduce(g, OP_MAX, x, 1, bad, 0), "axis 3 out of range for rank 3");
}

Test(shape, matmul_batched_and_transposed)
{
  IrVal a = f32(4, D(5, 1, 3, 2), "a"), b = f32(3, D(7, 4, 3), "b");
  expect_type(ir_matmul(g, a, b, 1, 1), "f32[5, 7, 2, 4]");
}

Test(shape, convolutions_and_pooling)
{
  IrVal x = f32(4, D(8, 3, 28, 28), "x"), w = f32(4, D(16, 3, 5, 5), "w");
  expect_type(ir_conv2d(g, x, w, 1, 1, 2, 2), "f32[8, 16, 28, 28]");
  expect_type(ir_conv2d(g, x, w, 2, 2, 0, 0), "f32[8, 16, 12, 12]");
  IrVal wt = f32(4, D(3, 6, 4, 4), "wt");
  expect_type(ir_conv_t2d(g, x, wt, 2, 2, 1, 1, 0, 0), "f32[8, 6, 56, 56]");
  expect_type(ir_pool2d(g, OP_MAXPOOL2D, x, 2, 2, 2, 2, 0, 0), "f32[8, 3, 14, 14]");
  IrVal x1 = f32(3, D(2, 4, 10), "x1"), w1 = f32(3, D(6, 4, 3), "w1");
  expect_type(ir_conv1d(g, x1, w1, 1, 0), "f32[2, 6, 8]");
  IrVal wbad = f32(4, D(16, 4, 5, 5), "wbad");
  expect_error(ir_conv2d(g, x, wbad, 1, 1, 0, 0), "expects 4");
}

Test(shape, losses)
{
  IrVal x = f32(2, D(32, 10), "x"), t = ir_input(g, "t", IR_I64, ir_shape(1, D(32)));
  expect_type(ir_loss(g, OP_CROSS_ENTROPY, x, t, 0), "f32[]");
  expect_type(ir_loss(g, OP_CROSS_ENTROPY, x, t, 2), "f32[32]");
  IrVal tf = f32(1, D(32), "tf");
  expect_error(ir_loss(g, OP_NLL, x, tf, 0), "targets f32[32] do not match scores f32[32, 10]");
}

Test(shape, indexing)
{
  IrVal table = f32(2, D(100, 16), "E"), ids = ir_input(g, "ids", IR_I32, ir_shape(2, D(4, 7)));
  expect_type(ir_embedding(g, table, ids), "f32[4, 7, 16]");
  expect_type(ir_one_hot(g, ids, 5, IR_F32), "f32[4, 7, 5]");
  IrVal src = f32(3, D(4, 7, 16), "src");
  expect_type(ir_scatter_add(g, table, ids, src, 0), "f32[100, 16]");
  expect_error(ir_gather(g, table, table, 0), "indices must be i32/i64");
  ir_clear_error(g);
  IrVal q = f32(2, D(8, 4), "q"), a = ir_input(g, "a", IR_I64, ir_shape(2, D(8, 1)));
  expect_type(ir_take_along(g, q, a, 1), "f32[8, 1]");
  IrVal bad = ir_input(g, "bad", IR_I64, ir_shape(2, D(7, 1)));
  expect_error(ir_take_along(g, q, bad, 1), "indices i64[7, 1] do not match f32[8, 4] outside axis 1");
}

Test(shape, data_movement)
{
  IrVal x = f32(2, D(4, 6), "x");
  IrVal parts[3];
  cr_assert(ir_split(g, x, 1, 3, D(1, 2, 3), parts) == 0);
  expect_type(parts[2], "f32[4, 3]");
  expect_type(ir_concat(g, 3, parts, 1), "f32[4, 6]");
  expect_type(ir_slice(g, x, D(1, 2), D(3, 6)), "f32[2, 4]");
  expect_type(ir_reshape(g, x, ir_shape(3, D(2, 2, 6))), "f32[2, 2, 6]");
  int perm[2] = {1, 0};
  expect_type(ir_transpose(g, x, perm), "f32[6, 4]");
  expect_type(ir_pad(g, x, D(1, 0), D(2, 3), 0), "f32[7, 9]");
  expect_type(ir_broadcast_to(g, f32(2, D(1, 6), "r"), ir_shape(3, D(5, 4, 6))), "f32[5, 4, 6]");
  expect_error(ir_reshape(g, x, ir_shape(2, D(5, 5))), "has 24 elements, the new shape 25");
}

Test(shape, split_sizes_must_sum)
{
  IrVal x = f32(2, D(4, 6), "x"), parts[2];
  cr_expect(ir_split(g, x, 1, 2, D(2, 3), parts) == -1);
  cr_expect(strstr(ir_errmsg(g), "sizes sum to 5 but f32[4, 6] has 6") != NULL, "%s", ir_errmsg(g));
}

Test(shape, sampling_and_control)
{
  IrVal u = ir_uniform(g, IR_F32, ir_shape(2, D(3, 4)), 0, 1);
  IrVal n = ir_normal(g, IR_F32, ir_shape(2, D(3, 4)), 0, 1);
  expect_type(u, "f32[3, 4]");
  cr_expect(ir_producer(g, u)->attr.stream != ir_producer(g, n)->attr.stream, "unique streams");
  expect_type(ir_categorical(g, u), "i64[3]");
  expect_type(ir_dropout(g, u, 0.5), "f32[3, 4]");
  expect_error(ir_dropout(g, u, 1.0), "outside [0, 1)");
}

Test(shape, where_and_clip)
{
  IrVal c = ir_input(g, "c", IR_BOOL, ir_shape(1, D(4))), a = f32(2, D(3, 4), "a");
  expect_type(ir_where(g, c, a, ir_scalar(g, IR_F32, 0)), "f32[3, 4]");
  expect_error(ir_where(g, a, a, a), "condition must be bool");
}

Test(shape, scan_body_mismatch)
{
  IrType ct = {IR_F32, ir_shape(1, D(3))};
  IrGraph *body = ir_graph_new();
  IrVal h = ir_formal(body, 0, ct);
  IrType wrong = {IR_F32, ir_shape(1, D(5))};
  IrVal x = ir_formal(body, 1, wrong);
  (void)x;
  ir_set_outputs(body, 1, &h);
  IrVal h0 = f32(1, D(3), "h0"), xs = f32(2, D(10, 4), "xs");
  cr_expect(ir_scan(g, body, 1, &h0, 1, &xs, 0, NULL, 0, 0) == NULL);
  cr_expect(strstr(ir_errmsg(g), "scan body: formal 1 is f32[5], given f32[4]") != NULL, "%s", ir_errmsg(g));
}

Test(shape, leaves_checked)
{
  expect_error(ir_input(g, "x", IR_F32, ir_shape(1, D(-2))), "negative dimension");
  ir_clear_error(g);
  expect_error(ir_input(g, "big", IR_F32, ir_shape(3, D(1ll << 30, 1ll << 30, 1ll << 30))), "too many elements");
  ir_clear_error(g);
  IrVal a = f32(1, D(1ll << 32), "a"), b = f32(2, D(1ll << 32, 1), "b");
  expect_error(ir_binary(g, OP_MUL, a, b), "too many elements");
}

Test(shape, bad_handles_are_errors_not_crashes)
{
  IrVal x = f32(1, D(3), "x");
  IrVal bogus[2] = {x, 12345};
  expect_error(ir_add(g, OP_ADD, 2, bogus, NULL), "input 1 is not a value");
  ir_clear_error(g);
  expect_error(ir_add(g, OP_ADD, 1, &x, NULL), "add takes 2 inputs, got 1");
  ir_clear_error(g);
  expect_error(ir_add(g, OP_CONST, 0, NULL, NULL), "build constants with ir_const");
  ir_clear_error(g);
  int perm[1] = {3};
  expect_error(ir_transpose(g, x, perm), "not a permutation");
  ir_clear_error(g);
  expect_error(ir_slice(g, x, D(2), D(5)), "[2:5] out of range on axis 0");
  ir_clear_error(g);
  expect_error(ir_pool2d(g, OP_MAXPOOL2D, f32(4, D(1, 1, 2, 2), "p"), 3, 3, 1, 1, 0, 0), "window larger");
}
