/* fuzz_idx.c — libFuzzer target: the IDX reader (nnrt_load_idx), plain and gzip'd (the
 * loader sniffs the gzip magic), converting to each dtype it supports. Property: no crash,
 * leak or UB; a refusal has a message and leaves *out NULL. */
#include "fuzz_util.h"
#include "nnrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const nnrt_dtype dts[] = {NNRT_F32, NNRT_F64, NNRT_I32, NNRT_I64, NNRT_U8};
  const char *path = fz_write_temp(data, size, size && (data[size - 1] & 1) ? ".gz" : "");
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!path || !ctx) {
    nnrt_ctx_free(ctx);
    return 0;
  }
  nnrt_tensor *t = NULL;
  nnrt_dtype dt = dts[(size ? data[0] : 0) % 5];
  if (nnrt_load_idx(ctx, path, dt, 1.0 / 255, &t) != NNRT_OK) {
    if (t || !*nnrt_errmsg(ctx)) __builtin_trap();
  } else if (nnrt_tensor_dtype(t) != dt) {
    __builtin_trap();
  }
  nnrt_tensor_free(t);
  nnrt_ctx_free(ctx);
  return 0;
}
