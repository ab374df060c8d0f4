/* fuzz_npy.c — libFuzzer target: the NumPy .npy reader (nnrt_load_npy_memory). Property:
 * no crash, leak or UB; a refusal has a message; an accepted array saves with
 * nnrt_save_npy and loads back to the same dtype, shape and bytes. */
#include <string.h>

#include "fuzz_util.h"
#include "nnrt.h"

static void fz_roundtrip(nnrt_ctx *ctx, const nnrt_tensor *t) {
  if (nnrt_tensor_nbytes(t) > (1 << 20)) return;
  const char *path = fz_write_temp((const uint8_t *)"", 0, ".npy");
  nnrt_tensor *u = NULL;
  if (!path || nnrt_save_npy(ctx, path, t) != NNRT_OK) return;
  if (nnrt_load_npy(ctx, path, &u) != NNRT_OK) __builtin_trap();
  if (nnrt_tensor_dtype(u) != nnrt_tensor_dtype(t) || nnrt_tensor_rank(u) != nnrt_tensor_rank(t) ||
      nnrt_tensor_nbytes(u) != nnrt_tensor_nbytes(t) ||
      memcmp(nnrt_tensor_data(u), nnrt_tensor_data(t), nnrt_tensor_nbytes(t)))
    __builtin_trap();
  nnrt_tensor_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!ctx) return 0;
  nnrt_tensor *t = NULL;
  if (nnrt_load_npy_memory(ctx, data, size, "fuzz.npy", &t) != NNRT_OK) {
    if (t || !*nnrt_errmsg(ctx)) __builtin_trap();
  } else {
    fz_roundtrip(ctx, t);
  }
  nnrt_tensor_free(t);
  nnrt_ctx_free(ctx);
  return 0;
}
