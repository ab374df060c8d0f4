/* fuzz_csv.c — libFuzzer target: the numeric CSV reader (nnrt_load_csv) with each header
 * mode and dtype, and the text corpus reader (nnrt_text_from_memory) on the same bytes.
 * Property: no crash, leak or UB; a refusal has a message; an accepted CSV is rank 2. */
#include "fuzz_util.h"
#include "nnrt.h"

static void fz_text(nnrt_ctx *ctx, const uint8_t *data, size_t size) {
  nnrt_text *tx = NULL;
  double frac = size ? (data[0] % 11) / 10.0 : 0.1;
  if (nnrt_text_from_memory(ctx, data, size, frac, &tx) == NNRT_OK) {
    int v = nnrt_text_vocab_size(tx);
    for (int i = 0; i < v; i++)
      if (nnrt_text_id(tx, nnrt_text_symbol(tx, i)) != i) __builtin_trap();
    if (!nnrt_text_train(tx) || !nnrt_text_heldout(tx)) __builtin_trap();
  }
  nnrt_text_free(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_write_temp(data, size, ".csv");
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!path || !ctx) {
    nnrt_ctx_free(ctx);
    return 0;
  }
  int sel = size ? data[size - 1] : 0;
  nnrt_tensor *t = NULL;
  int rc = nnrt_load_csv(ctx, path, sel & 1 ? NNRT_F64 : NNRT_F32, (sel >> 1) % 3 - 1, &t);
  if (rc != NNRT_OK) {
    if (t || !*nnrt_errmsg(ctx)) __builtin_trap();
  } else if (nnrt_tensor_rank(t) != 2) {
    __builtin_trap();
  }
  nnrt_tensor_free(t);
  fz_text(ctx, data, size);
  nnrt_ctx_free(ctx);
  return 0;
}
