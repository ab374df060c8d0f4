/* test_mutate.c: a poor man's fuzzer for the loaders that take memory (NPY, safetensors,
 * JSON): random byte flips, insertions and truncations of valid inputs, driven by Philox
 * so that a failure is reproducible. Each must fail or succeed cleanly; run under ASan
 * (NNC_SANITIZE=ON) to catch what a plain run cannot see. */
#include <criterion/criterion.h>
#include <string.h>
#include "rt.h"

enum { ROUNDS = 3000 };

/* mutate: a copy of src with a few edits chosen by (seed, round) into dst; returns size. */
static size_t mutate(unsigned char *dst, const unsigned char *src, size_t n, uint64_t round)
{
  memcpy(dst, src, n);
  uint32_t r[4];
  rt_philox_block(r, 2024, 0, round);
  int edits = 1 + r[0] % 4;
  for (int e = 0; e < edits; e++) {
    rt_philox_block(r, 2024, 1 + (uint64_t)e, round);
    size_t at = r[1] % n;
    switch (r[0] % 4) {
    case 0: dst[at] ^= (unsigned char)(1u << (r[2] % 8)); break;
    case 1: dst[at] = (unsigned char)r[2]; break;
    case 2: dst[at] = "{}[]\",:0-9e \\"[r[2] % 14]; break;
    case 3: n = at ? at : 1; break; /* truncate */
    }
  }
  return n;
}

Test(mutate, npy)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *t;
  int64_t dims[2] = {3, 4};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, dims, &t), NNRT_OK);
  cr_assert_eq(nnrt_save_npy(ctx, "/tmp/nnrt_mutate.npy", t), NNRT_OK);
  nnrt_tensor_free(t);
  void *buf;
  size_t n;
  cr_assert_eq(rt_read_file(ctx, "/tmp/nnrt_mutate.npy", &buf, &n), NNRT_OK);
  unsigned char m[256];
  cr_assert_leq(n, sizeof m);
  int ok = 0;
  for (int i = 0; i < ROUNDS; i++) {
    size_t k = mutate(m, buf, n, (uint64_t)i);
    int rc = nnrt_load_npy_memory(ctx, m, k, "m.npy", &t);
    cr_assert(rc == NNRT_OK || rc == NNRT_EFORMAT || rc == NNRT_ERANGE, "round %d: %d", i, rc);
    if (rc == NNRT_OK) ok++;
    nnrt_tensor_free(rc == NNRT_OK ? t : NULL);
  }
  cr_assert_lt(ok, ROUNDS); /* most mutations must be caught */
  rt_free(ctx, buf, n + 1);
  nnrt_ctx_free(ctx);
}

Test(mutate, safetensors_and_json)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *a, *b;
  int64_t d1[2] = {2, 3}, d2[1] = {5};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, d1, &a), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_I64, 1, d2, &b), NNRT_OK);
  const char *names[2] = {"enc.w", "steps"}, *mk[1] = {"format"}, *mv[1] = {"pt"};
  const nnrt_tensor *ts[2] = {a, b};
  cr_assert_eq(nnrt_weights_save(ctx, "/tmp/nnrt_mutate.st", 2, names, ts, 1, mk, mv), NNRT_OK);
  nnrt_tensor_free(a);
  nnrt_tensor_free(b);
  void *buf;
  size_t n;
  cr_assert_eq(rt_read_file(ctx, "/tmp/nnrt_mutate.st", &buf, &n), NNRT_OK);
  unsigned char m[512];
  cr_assert_leq(n, sizeof m);
  for (int i = 0; i < ROUNDS; i++) {
    size_t k = mutate(m, buf, n, (uint64_t)i);
    nnrt_weights *w;
    int rc = nnrt_weights_from_memory(ctx, m, k, "m.st", &w);
    cr_assert(rc == NNRT_OK || rc == NNRT_EFORMAT, "round %d: %d %s", i, rc, nnrt_errmsg(ctx));
    if (rc == NNRT_OK) nnrt_weights_free(w);
    rt_json *j;
    char err[128];
    if (k > 8 && rt_json_parse(ctx, (const char *)m + 8, k - 8, &j, err, sizeof err) == NNRT_OK)
      rt_json_free(ctx, j);
  }
  rt_free(ctx, buf, n + 1);
  nnrt_ctx_free(ctx);
}
