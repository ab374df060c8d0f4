/* test_regress_robust.c — regression tests for crashes and bad messages found by the
 * robustness work (tests/robust, tests/fuzz); one test per fix, named after it.
 *  - rt_read_file on a directory: fopen succeeds, ftell gives LONG_MAX, and the loader asked
 *    for 2^63 bytes ("out of memory allocating 9223372036854775808 bytes", no path). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnrt.h"

static void expect_not_a_file(nnrt_ctx *ctx, int rc, const char *dir) {
  cr_assert_eq(rc, NNRT_EIO, "status %s: %s", nnrt_strstatus(rc), nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), dir), "%s", nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "not a regular file"), "%s", nnrt_errmsg(ctx));
}

Test(regress, loaders_refuse_a_directory_by_name) {
  char dir[] = "/tmp/nnc-regress-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_weights *w = NULL;
  nnrt_tensor *t = NULL;
  nnrt_text *tx = NULL;
  expect_not_a_file(ctx, nnrt_weights_load(ctx, dir, &w), dir);
  cr_assert_null(w);
  expect_not_a_file(ctx, nnrt_load_npy(ctx, dir, &t), dir);
  expect_not_a_file(ctx, nnrt_load_csv(ctx, dir, NNRT_F32, 0, &t), dir);
  expect_not_a_file(ctx, nnrt_text_load(ctx, dir, 0.1, &tx), dir);
  cr_assert_null(t);
  cr_assert_null(tx);
  int rc = nnrt_load_idx(ctx, dir, NNRT_F32, 1, &t);   /* through zlib: any clean error */
  cr_assert(rc == NNRT_EIO || rc == NNRT_EFORMAT, "%s", nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), dir), "%s", nnrt_errmsg(ctx));
  nnrt_ctx_free(ctx);
  rmdir(dir);
}
