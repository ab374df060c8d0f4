/* gen_captions.c — synthetic captions of Fashion-MNIST images, entry 29 of
 * shared/models.md (calibrated): for each of the first N training images of class k,
 *   <s> determiner adjective noun tail... </s>     (4 to 9 words)
 * - adjective: the image's brightness quartile (mean intensity): dark / dim / pale / bright,
 *   so it is visually grounded;
 * - noun: one of class k's 3 synonyms (30 nouns, ids grouped by class);
 * - tail: 1 to 6 words from one of 3 disjoint pools chosen by the synonym's index (the same
 *   pools for every class), so in text alone synonyms look less related than cross-class
 *   nouns with the same index.
 * Image feature v: the 64-d penultimate ReLU layer of a 784-128-64-10 MLP (feat.nn, trained
 * by nnc, weights l1/l2 read from FEAT.safetensors) — a stand-in for an ImageNet CNN.
 * Output OUTDIR/cap_x.npy f32[N, 84] (and val_x.npy: the next 1000 images) = ids[10] (<s> w_1 .. , pad 0) | targets[10] (w_1 ..
 * </s>, pad 0) | v[64]; cap_y.npy i32[N] = class; vocab.txt (one word per id).
 *
 * usage: gen_captions OUTDIR FEAT.safetensors [N=30000] [SEED=0] [IMAGES=path stem]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

enum { T = 10, FEAT = 64, ROW = 2 * T + FEAT, NVAL = 1000, NDET = 4, NADJ = 4, NNOUN = 30, POOL = 20 };
enum { W_PAD, W_BOS, W_EOS, W_DET, W_ADJ = W_DET + NDET, W_NOUN = W_ADJ + NADJ, W_TAIL = W_NOUN + NNOUN,
       VOCAB = W_TAIL + 3 * POOL };

static const char *dets[NDET] = {"a", "the", "this", "one"}, *adjs[NADJ] = {"dark", "dim", "pale", "bright"};
static const char *nouns[NNOUN] = {
  "tee", "tshirt", "top", "trousers", "pants", "slacks", "pullover", "sweater", "jumper", "dress", "gown",
  "frock", "coat", "jacket", "overcoat", "sandal", "flipflop", "slide", "shirt", "blouse", "buttondown",
  "sneaker", "trainer", "runner", "bag", "handbag", "purse", "boot", "bootie", "ankleboot"};

static uint64_t rng_state;
static uint64_t rnd(void) {           /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* relu(W x + b) for one row: W [out, in] */
static void layer(const float *W, const float *b, const float *x, int in, int out, float *y) {
  for (int o = 0; o < out; o++) {
    double s = b[o];
    for (int i = 0; i < in; i++) s += (double)W[(size_t)o * in + i] * x[i];
    y[o] = s > 0 ? (float)s : 0;
  }
}

static const float *weight(nnrt_weights *w, const char *name) {
  const nnrt_tensor *t = nnrt_weights_get(w, name);
  if (!t) fprintf(stderr, "gen_captions: no tensor %s in the feature weights\n", name);
  return t ? nnrt_tensor_data(t) : NULL;
}

/* OUTDIR/NAME_x.npy and NAME_y.npy */
static int save(nnrt_ctx *ctx, const char *dir, const char *name, float *rows, int32_t *y, int64_t n) {
  char path[1024];
  int64_t dx[2] = {n, ROW}, dy[1] = {n};
  nnrt_tensor *tx = NULL, *ty = NULL;
  int rc = nnrt_tensor_wrap(ctx, NNRT_F32, 2, dx, rows, &tx) || nnrt_tensor_wrap(ctx, NNRT_I32, 1, dy, y, &ty);
  snprintf(path, sizeof path, "%s/%s_x.npy", dir, name);
  rc = rc || nnrt_save_npy(ctx, path, tx);
  snprintf(path, sizeof path, "%s/%s_y.npy", dir, name);
  rc = rc || nnrt_save_npy(ctx, path, ty);
  if (rc) fprintf(stderr, "gen_captions: %s\n", nnrt_errmsg(ctx));
  nnrt_tensor_free(tx), nnrt_tensor_free(ty);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: gen_captions OUTDIR FEAT.safetensors [N=30000] [SEED=0] [IMAGES]\n");
    return 2;
  }
  int64_t n = (argc > 3 ? atoll(argv[3]) : 30000) + NVAL;
  rng_state = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
  const char *stem = argc > 5 ? argv[5] : "/usr/share/datasets/fashion-mnist/train";
  char path[1024];
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *img = NULL, *lab = NULL;
  nnrt_weights *w = NULL;
  if (!ctx) return 1;
  snprintf(path, sizeof path, "%s-images-idx3-ubyte.gz", stem);
  int rc = nnrt_load_idx(ctx, path, NNRT_F32, 1.0 / 255, &img);
  snprintf(path, sizeof path, "%s-labels-idx1-ubyte.gz", stem);
  rc = rc || nnrt_load_idx(ctx, path, NNRT_I32, 1, &lab);
  rc = rc || nnrt_weights_load(ctx, argv[2], &w);
  if (rc) {
    fprintf(stderr, "gen_captions: %s\n", nnrt_errmsg(ctx));
    return 1;
  }
  const float *W1 = weight(w, "l1.W"), *b1 = weight(w, "l1.b"), *W2 = weight(w, "l2.W"), *b2 = weight(w, "l2.b");
  if (!W1 || !b1 || !W2 || !b2) return 1;
  const float *px = nnrt_tensor_data(img);
  const int32_t *cls = nnrt_tensor_data(lab);
  float *bright = malloc(sizeof(float) * (size_t)n), *sorted = malloc(sizeof(float) * (size_t)n);
  float *rows = calloc((size_t)(n * ROW), sizeof(float));
  int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
  if (!bright || !sorted || !rows || !y) return 1;
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    for (int k = 0; k < 784; k++) s += px[i * 784 + k];
    bright[i] = sorted[i] = (float)(s / 784);
  }
  qsort(sorted, (size_t)n, sizeof(float), cmp_f);
  float q1 = sorted[n / 4], q2 = sorted[n / 2], q3 = sorted[3 * n / 4];
  for (int64_t i = 0; i < n; i++) {
    float *r = rows + i * ROW, h[128];
    int words[T + 1], len = 0, syn = (int)(rnd() % 3), tail = 1 + (int)(rnd() % 6);
    words[len++] = W_BOS;
    words[len++] = W_DET + (int)(rnd() % NDET);
    words[len++] = W_ADJ + (bright[i] >= q1) + (bright[i] >= q2) + (bright[i] >= q3);
    words[len++] = W_NOUN + 3 * cls[i] + syn;
    for (int k = 0; k < tail; k++) words[len++] = W_TAIL + POOL * syn + (int)(rnd() % POOL);
    words[len++] = W_EOS;
    for (int t = 0; t < T; t++) {
      r[t] = t < len - 1 ? (float)words[t] : 0;
      r[T + t] = t < len - 1 ? (float)words[t + 1] : 0;
    }
    layer(W1, b1, px + i * 784, 784, 128, h);
    layer(W2, b2, h, 128, FEAT, r + 2 * T);
    y[i] = cls[i];
  }
  rc = save(ctx, argv[1], "cap", rows, y, n - NVAL) || save(ctx, argv[1], "val", rows + (n - NVAL) * ROW, y + n - NVAL, NVAL);
  snprintf(path, sizeof path, "%s/vocab.txt", argv[1]);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "<pad>\n<s>\n</s>\n");
    for (int k = 0; k < NDET; k++) fprintf(f, "%s\n", dets[k]);
    for (int k = 0; k < NADJ; k++) fprintf(f, "%s\n", adjs[k]);
    for (int k = 0; k < NNOUN; k++) fprintf(f, "%s\n", nouns[k]);
    for (int k = 0; k < 3 * POOL; k++) fprintf(f, "tail%d_%02d\n", k / POOL + 1, k % POOL);
    fclose(f);
  }
  printf("%lld + %d captions, vocabulary %d (nouns at %d..%d), brightness quartiles %.3f %.3f %.3f\n", (long long)n - NVAL, NVAL,
         VOCAB, W_NOUN, W_NOUN + NNOUN - 1, q1, q2, q3);
  nnrt_tensor_free(img), nnrt_tensor_free(lab);
  nnrt_weights_free(w), nnrt_ctx_free(ctx);
  free(bright), free(sorted), free(rows), free(y);
  return rc || !f;
}
