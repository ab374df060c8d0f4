/* fuzz_weights.c — libFuzzer target: the safetensors reader (nnrt_weights_from_memory)
 * and every accessor on what it accepts. Property: no crash, leak or UB; a rejected
 * buffer gives a non-zero status with a message; an accepted one reads back through
 * nnrt_weights_read into a tensor of the same type, and a wrong-shaped read is refused. */
#include <string.h>

#include "fuzz_util.h"
#include "nnrt.h"

static void fz_read_all(nnrt_ctx *ctx, nnrt_weights *w) {
  int n = nnrt_weights_count(w);
  for (int i = 0; i < n; i++) {
    const char *name = nnrt_weights_name(w, i);
    const nnrt_tensor *t = nnrt_weights_tensor(w, i);
    if (!name || !t || nnrt_weights_get(w, name) == NULL) __builtin_trap();
    nnrt_tensor *dst = NULL;
    if (nnrt_tensor_create(ctx, nnrt_tensor_dtype(t), nnrt_tensor_rank(t), nnrt_tensor_dims(t),
                           &dst) == NNRT_OK) {
      if (nnrt_weights_read(w, name, dst) != NNRT_OK) __builtin_trap();
      if (memcmp(nnrt_tensor_data(dst), nnrt_tensor_data(t), nnrt_tensor_nbytes(t))) __builtin_trap();
      nnrt_tensor_free(dst);
    }
    int64_t one = nnrt_tensor_numel(t) + 1;
    if (nnrt_tensor_create(ctx, NNRT_U8, 1, &one, &dst) == NNRT_OK) {
      if (nnrt_weights_read(w, name, dst) == NNRT_OK) __builtin_trap();
      nnrt_tensor_free(dst);
    }
    char buf[128];
    nnrt_tensor_shape_str(t, buf, sizeof buf);
  }
  nnrt_weights_metadata(w, "format");
  nnrt_weights_get(w, "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!ctx) return 0;
  nnrt_weights *w = NULL;
  int rc = nnrt_weights_from_memory(ctx, data, size, "fuzz.safetensors", &w);
  if (rc != NNRT_OK) {
    if (w || !*nnrt_errmsg(ctx)) __builtin_trap();
  } else {
    fz_read_all(ctx, w);
  }
  nnrt_weights_free(w);
  nnrt_ctx_free(ctx);
  return 0;
}
