/* text.c: a raw text corpus as symbol ids (a character-level language-model data set).
 *
 * The vocabulary is the set of distinct bytes in the whole text, sorted by byte value, so
 * the ids of a file never depend on anything but its bytes. The text is split once:
 * the first (1 - heldout_frac) of it for training, the rest held out (contiguous, so no
 * sequence straddles the two). */
#include <math.h>
#include <string.h>
#include "rt.h"

struct nnrt_text {
  nnrt_ctx *ctx;
  int nvocab;
  int16_t id_of[256];   /* byte -> id, -1 if absent */
  uint8_t symbol[256];  /* id -> byte */
  nnrt_tensor *train, *heldout;
};

void nnrt_text_free(nnrt_text *t)
{
  if (!t) return;
  nnrt_tensor_free(t->train);
  nnrt_tensor_free(t->heldout);
  rt_free(t->ctx, t, sizeof *t);
}

static void rt_text_vocab(nnrt_text *t, const uint8_t *b, size_t n)
{
  char seen[256] = {0};
  for (size_t i = 0; i < n; i++) seen[b[i]] = 1;
  t->nvocab = 0;
  for (int c = 0; c < 256; c++) {
    t->id_of[c] = seen[c] ? (int16_t)t->nvocab : -1;
    if (seen[c]) t->symbol[t->nvocab++] = (uint8_t)c;
  }
}

/* rt_text_ids: ids of b[0..n) as a new i32[n] tensor. */
static int rt_text_ids(nnrt_text *t, const uint8_t *b, size_t n, nnrt_tensor **out)
{
  int64_t dims[1] = {(int64_t)n};
  int rc = nnrt_tensor_create(t->ctx, NNRT_I32, 1, dims, out);
  if (rc) return rc;
  int32_t *ids = nnrt_tensor_data(*out);
  for (size_t i = 0; i < n; i++) ids[i] = t->id_of[b[i]];
  return NNRT_OK;
}

int nnrt_text_from_memory(nnrt_ctx *ctx, const void *bytes, size_t size, double heldout_frac,
                          nnrt_text **out)
{
  if (!ctx || !out || (!bytes && size)) return NNRT_EINVAL;
  *out = NULL;
  if (!(heldout_frac >= 0.0 && heldout_frac < 1.0))
    return rt_error(ctx, NNRT_EINVAL, "text: held-out fraction %g is not in [0, 1)", heldout_frac);
  if (size == 0) return rt_error(ctx, NNRT_EFORMAT, "text: the text is empty");
  nnrt_text *t = rt_calloc(ctx, 1, sizeof *t);
  if (!t) return NNRT_ENOMEM;
  t->ctx = ctx;
  rt_text_vocab(t, bytes, size);
  size_t ntrain = (size_t)floor((double)size * (1.0 - heldout_frac));
  if (ntrain == 0) ntrain = 1;
  int rc = rt_text_ids(t, bytes, ntrain, &t->train);
  if (!rc) rc = rt_text_ids(t, (const uint8_t *)bytes + ntrain, size - ntrain, &t->heldout);
  if (rc) {
    nnrt_text_free(t);
    return rc;
  }
  *out = t;
  return NNRT_OK;
}

int nnrt_text_load(nnrt_ctx *ctx, const char *path, double heldout_frac, nnrt_text **out)
{
  if (!ctx || !out || !path) return NNRT_EINVAL;
  *out = NULL;
  void *buf;
  size_t size;
  int rc = rt_read_file(ctx, path, &buf, &size);
  if (rc) return rc;
  if (size == 0) rc = rt_error(ctx, NNRT_EFORMAT, "%s: the file is empty", path);
  else rc = nnrt_text_from_memory(ctx, buf, size, heldout_frac, out);
  rt_free(ctx, buf, size + 1);
  return rc;
}

/* rt_text_append: the bytes of path at the end of *buf (size *n, capacity *cap). */
static int rt_text_append(nnrt_ctx *ctx, const char *path, char **buf, size_t *n, size_t *cap)
{
  void *one;
  size_t size;
  int rc = rt_read_file(ctx, path, &one, &size);
  if (rc) return rc;
  if (*n + size > *cap) {
    size_t ncap = (*n + size) * 2;
    char *q = rt_realloc(ctx, *buf, *cap, ncap);
    if (!q) {
      rt_free(ctx, one, size + 1);
      return NNRT_ENOMEM;
    }
    *buf = q;
    *cap = ncap;
  }
  memcpy(*buf + *n, one, size);
  *n += size;
  rt_free(ctx, one, size + 1);
  return NNRT_OK;
}

int nnrt_text_load_files(nnrt_ctx *ctx, int npaths, const char *const *paths,
                         double heldout_frac, nnrt_text **out)
{
  if (!ctx || !out || npaths < 1 || !paths) return NNRT_EINVAL;
  *out = NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = NNRT_OK;
  for (int i = 0; i < npaths && !rc; i++) rc = rt_text_append(ctx, paths[i], &buf, &n, &cap);
  if (!rc && n == 0) rc = rt_error(ctx, NNRT_EFORMAT, "%s: the files are empty", paths[0]);
  if (!rc) rc = nnrt_text_from_memory(ctx, buf, n, heldout_frac, out);
  rt_free(ctx, buf, cap);
  return rc;
}

int nnrt_text_vocab_size(const nnrt_text *t) { return t->nvocab; }

int nnrt_text_symbol(const nnrt_text *t, int id)
{
  return id >= 0 && id < t->nvocab ? t->symbol[id] : -1;
}

int nnrt_text_id(const nnrt_text *t, int byte)
{
  return byte >= 0 && byte < 256 ? t->id_of[byte] : -1;
}

const nnrt_tensor *nnrt_text_train(const nnrt_text *t) { return t->train; }
const nnrt_tensor *nnrt_text_heldout(const nnrt_text *t) { return t->heldout; }
