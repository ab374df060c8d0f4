/* gen.c — the associative-retrieval task of Ba et al. 2016 (section 4.1), seeded.
 *
 * A sequence is K distinct random letters (of 26), each followed by a random digit, then
 * "??", then one of the K letters; the target is the digit that followed it:
 * "c9k8j3f1??c" -> 8. Symbols: letters 0..25, digits 26..35, '?' 36 (vocabulary 37).
 * Writes <dir>/train_x.npy f32[N, 2K+3] (symbol ids as floats: the checker types npy
 * inputs as f32), train_y.npy i32[N] (the digit, 0..9) and the
 * same for test_*. Randomness: Philox (nnrt_rand_uniform), stream 1 trains, stream 2 tests.
 *
 * usage: gen DIR [NTRAIN=256000] [NTEST=2000] [K=4] [SEED=1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

enum { LETTERS = 26, DIGITS = 10, QMARK = 36, MAXK = 13 };

typedef struct Rng {
  uint64_t seed, stream, i;
} Rng;

/* uniform integer in [0, n) */
static int draw(Rng *r, int n) {
  int v = (int)(nnrt_rand_uniform(r->seed, r->stream, r->i++) * n);
  return v < n ? v : n - 1;
}

/* One sequence into x[2K+3]; returns the target digit. */
static int sequence(Rng *r, int k, float *x) {
  int used[LETTERS] = {0}, letters[MAXK], digits[MAXK];
  for (int j = 0; j < k; j++) {
    int c;
    do c = draw(r, LETTERS); while (used[c]);
    used[c] = 1;
    letters[j] = c;
    digits[j] = draw(r, DIGITS);
    x[2 * j] = (float)c;
    x[2 * j + 1] = (float)(LETTERS + digits[j]);
  }
  int q = draw(r, k);
  x[2 * k] = x[2 * k + 1] = QMARK;
  x[2 * k + 2] = (float)letters[q];
  return digits[q];
}

static int write_split(nnrt_ctx *ctx, const char *dir, const char *name, int64_t n, int k, Rng *r) {
  int64_t len = 2 * k + 3, dx[2] = {n, len}, dy[1] = {n};
  nnrt_tensor *x = NULL, *y = NULL;
  int rc = -1;
  if (nnrt_tensor_create(ctx, NNRT_F32, 2, dx, &x) || nnrt_tensor_create(ctx, NNRT_I32, 1, dy, &y)) goto out;
  float *xp = nnrt_tensor_data(x);
  int32_t *yp = nnrt_tensor_data(y);
  for (int64_t i = 0; i < n; i++) yp[i] = sequence(r, k, xp + i * len);
  char path[1024];
  snprintf(path, sizeof path, "%s/%s_x.npy", dir, name);
  if (nnrt_save_npy(ctx, path, x)) goto out;
  snprintf(path, sizeof path, "%s/%s_y.npy", dir, name);
  if (nnrt_save_npy(ctx, path, y)) goto out;
  rc = 0;
out:
  if (rc) fprintf(stderr, "gen: %s\n", nnrt_errmsg(ctx));
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gen DIR [NTRAIN=256000] [NTEST=2000] [K=4] [SEED=1]\n");
    return 2;
  }
  int64_t ntrain = argc > 2 ? atoll(argv[2]) : 256000, ntest = argc > 3 ? atoll(argv[3]) : 2000;
  int k = argc > 4 ? atoi(argv[4]) : 4;
  uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
  if (k < 1 || k > MAXK || ntrain < 1 || ntest < 1) {
    fprintf(stderr, "gen: need 1 <= K <= %d and positive sizes\n", MAXK);
    return 2;
  }
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!ctx) return 1;
  Rng tr = {seed, 1, 0}, te = {seed, 2, 0};
  int rc = write_split(ctx, argv[1], "train", ntrain, k, &tr) || write_split(ctx, argv[1], "test", ntest, k, &te);
  nnrt_ctx_free(ctx);
  return rc;
}
