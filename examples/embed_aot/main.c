/* embed_aot: classify Fashion-MNIST test images with the MLP compiled ahead of time.
 *
 *   nnc examples/fashion_mlp.nn --save=mlp.safetensors        # train (one epoch)
 *   nnc -c examples/fashion_mlp.nn -o fashion_mlp.o            # fashion_mlp.o + fashion_mlp.h
 *   cc -I runtime main.c fashion_mlp.o libnnrt.a -fopenmp -lz -lm -o embed_aot
 *   ./embed_aot mlp.safetensors /usr/share/datasets/fashion-mnist [N]
 *
 * No LLVM here: the object and libnnrt are all it links. Every buffer is static, sized by
 * the generated header's macros. Prints the accuracy on the first N test images and the
 * time per image at batch 1. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fashion_mlp.h"
#include "nnrt.h"

static float params[FASHIONMLP_PARAM_FLOATS] __attribute__((aligned(64)));
static unsigned char arena[FASHIONMLP_LOGITS_ARENA_BYTES] __attribute__((aligned(64)));
static float logits[FASHIONMLP_LOGITS_RESULT0_NUMEL];

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

static int fail(nnrt_ctx *ctx, const char *what) {
  fprintf(stderr, "embed_aot: %s: %s\n", what, nnrt_errmsg(ctx));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: embed_aot WEIGHTS.safetensors FASHION_MNIST_DIR [N]\n");
    return 2;
  }
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!ctx || fashionmlp_load_weights(ctx, argv[1], params)) return fail(ctx, argv[1]);
  char path[1024];
  nnrt_tensor *images = NULL, *labels = NULL;
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", argv[2]);
  if (nnrt_load_idx(ctx, path, NNRT_F32, 1.0 / 255, &images)) return fail(ctx, path);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", argv[2]);
  if (nnrt_load_idx(ctx, path, NNRT_I32, 1, &labels)) return fail(ctx, path);
  int64_t n = nnrt_tensor_dim(images, 0);
  if (argc > 3 && atoll(argv[3]) > 0 && atoll(argv[3]) < n) n = atoll(argv[3]);
  const float *x = nnrt_tensor_data(images);
  const int32_t *y = nnrt_tensor_data(labels);
  int64_t right = 0;
  double t0 = now_us();
  for (int64_t i = 0; i < n; i++) {
    fashionmlp_logits(params, x + i * FASHIONMLP_LOGITS_x_NUMEL, logits, arena);
    right += argmax(logits, FASHIONMLP_LOGITS_RESULT0_NUMEL) == y[i];
  }
  double us = (now_us() - t0) / (double)n;
  printf("accuracy %.4f on %lld test images, %.1f us per image (batch 1)\n", (double)right / (double)n, (long long)n, us);
  nnrt_tensor_free(images);
  nnrt_tensor_free(labels);
  nnrt_ctx_free(ctx);
  return 0;
}
