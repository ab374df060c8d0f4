/* driver_data.c — the data sources of train declarations, loaded through libnnrt:
 *   idx(path, scale=1, shape=(H*W,))   IDX image/label pairs (Fashion-MNIST):
 *        path "fashion-mnist/train" finds <path>-images-idx3-ubyte(.gz) and
 *        <path>-labels-idx1-ubyte(.gz), as given or under /usr/share/datasets/;
 *        batch.x is f32[B, shape...] (default flat: [B, 784]; shape=(1, 28, 28) for
 *        convolutions), batch.y i32[B].
 *   text(path, seq=100, split=0.95)   bytes as symbol ids (the distinct bytes, sorted);
 *        batch.x and batch.y are i32[B, seq] windows, y shifted by one; the first `split`
 *        of the text trains, the rest is held out. A directory reads every plain file in
 *        it (sorted by name): "fortunes" finds /usr/share/games/fortunes/.
 *   npy(x="x.npy", y="y.npy", x_shape=(..), y_shape=(..), x_dtype=f32, y_dtype=i32)
 *        arrays written by a generator (first axis = examples), converted to the declared
 *        dtypes; each example must have the declared shape. The eval source likewise.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver_int.h"

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Finds "<base><suffix>" or its .gz, as given or under a data root. */
static int find_file(const char *base, const char *suffix, char *out, size_t cap) {
  static const char *roots[] = {"", "/usr/share/datasets/", NULL};
  static const char *exts[] = {"", ".gz", NULL};
  for (int r = 0; roots[r]; r++)
    for (int e = 0; exts[e]; e++) {
      snprintf(out, cap, "%s%s%s%s", roots[r], base, suffix, exts[e]);
      if (exists(out)) return 0;
    }
  return -1;
}

static int load_idx(Data *d, const IrgObj *o, nnrt_ctx *ctx, char *msg, size_t cap) {
  const char *path = irg_obj_str(o, "path", 0);
  double scale = 1;
  irg_obj_num(o, "scale", 1, &scale);
  int64_t shape[8];
  int nshape = irg_obj_dims(o, "shape", 2, shape);
  char img[1024], lab[1024];
  if (!path || find_file(path, "-images-idx3-ubyte", img, sizeof img) ||
      find_file(path, "-labels-idx1-ubyte", lab, sizeof lab)) {
    snprintf(msg, cap, "cannot find IDX files for \"%s\" (looked for %s-images-idx3-ubyte[.gz] "
             "as given and under /usr/share/datasets/; Debian's dataset-fashion-mnist has them)",
             path ? path : "", path ? path : "");
    return -1;
  }
  nnrt_tensor *x = NULL, *y = NULL;
  if (nnrt_load_idx(ctx, img, NNRT_F32, scale, &x) || nnrt_load_idx(ctx, lab, NNRT_I32, 1, &y)) {
    snprintf(msg, cap, "%s", nnrt_errmsg(ctx));
    nnrt_tensor_free(x);
    return -1;
  }
  int64_t n = nnrt_tensor_dim(x, 0), per = nnrt_tensor_numel(x) / (n ? n : 1);
  int64_t dims[9] = {n, per}, prod = 1;
  int rank = 2;
  if (nnrt_tensor_dim(y, 0) != n) {
    snprintf(msg, cap, "%s has %lld labels, %s has %lld images: the counts must match", lab,
             (long long)nnrt_tensor_dim(y, 0), img, (long long)n);
    nnrt_tensor_free(x);
    nnrt_tensor_free(y);
    return -1;
  }
  if (!nshape && per != 784) {   /* the checker's type of idx(path) without shape= */
    snprintf(msg, cap, "%s: each image has %lld values, but idx(path) without shape= declares 784 "
             "(28 x 28); give shape=(...)", img, (long long)per);
    nnrt_tensor_free(x);
    nnrt_tensor_free(y);
    return -1;
  }
  if (nshape) {
    rank = nshape + 1;
    for (int i = 0; i < nshape; i++) dims[i + 1] = shape[i], prod *= shape[i];
    if (prod != per) {
      nnrt_tensor_free(x);
      nnrt_tensor_free(y);
      snprintf(msg, cap, "%s: shape has %lld elements per image, the file has %lld", img, (long long)prod, (long long)per);
      return -1;
    }
  }
  nnrt_tensor *v = NULL;
  nnrt_tensor_wrap(ctx, NNRT_F32, rank, dims, nnrt_tensor_data(x), &v);
  d->owned[d->nowned++] = x;
  d->owned[d->nowned++] = y;
  d->owned[d->nowned++] = v;
  d->x = v, d->y = y;
  d->nfields = 2;
  d->fields[0] = (IrgField){"x", IR_F32, {.rank = rank}};
  for (int i = 1; i < rank; i++) d->fields[0].shape.dim[i] = dims[i];
  d->fields[1] = (IrgField){"y", IR_I32, {.rank = 1}};
  return 0;
}

/* Reads a file or every plain file of a directory into one buffer. */
static char *slurp_dir(const char *path, size_t *len) {
  char root[1024];
  if (!exists(path) && strchr(path, '/') == NULL)
    snprintf(root, sizeof root, "/usr/share/games/%s", path);
  else
    snprintf(root, sizeof root, "%s", path);
  struct stat st;
  if (stat(root, &st)) return NULL;
  char **names = NULL;
  int n = 0;
  if (S_ISDIR(st.st_mode)) {
    struct dirent **ents;
    int m = scandir(root, &ents, NULL, alphasort);
    if (m < 0) return NULL;
    names = calloc(m + 1, sizeof *names);
    for (int i = 0; i < m; i++) {
      const char *nm = ents[i]->d_name;
      size_t l = strlen(nm);
      int skip = nm[0] == '.' || (l > 4 && (!strcmp(nm + l - 4, ".dat") || !strcmp(nm + l - 3, ".u8")));
      char full[2048];
      snprintf(full, sizeof full, "%s/%s", root, nm);
      struct stat fs;
      if (!skip && stat(full, &fs) == 0 && S_ISREG(fs.st_mode)) names[n++] = strdup(full);
      free(ents[i]);
    }
    free(ents);
  } else {
    names = calloc(2, sizeof *names);
    names[n++] = strdup(root);
  }
  size_t cap = 1 << 20, used = 0;
  char *buf = malloc(cap);
  for (int i = 0; i < n && buf; i++) {
    FILE *f = fopen(names[i], "rb");
    for (size_t k; f && (k = fread(buf + used, 1, cap - used, f)) > 0;) {
      used += k;
      if (used == cap) {
        char *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
      }
    }
    if (f) fclose(f);
    free(names[i]);
  }
  free(names);
  *len = used;
  return buf;
}

/* Cuts ids[n] into windows of seq+1: x = w[0:seq], y = w[1:seq+1]. */
static int windows(Data *d, nnrt_ctx *ctx, const int32_t *ids, int64_t n, int64_t seq) {
  int64_t rows = (n - 1) / seq, dims[2] = {rows, seq};
  if (rows <= 0) return -1;
  nnrt_tensor *x = NULL, *y = NULL;
  if (nnrt_tensor_create(ctx, NNRT_I32, 2, dims, &x) || nnrt_tensor_create(ctx, NNRT_I32, 2, dims, &y)) return -1;
  int32_t *xp = nnrt_tensor_data(x), *yp = nnrt_tensor_data(y);
  for (int64_t r = 0; r < rows; r++) {
    memcpy(xp + r * seq, ids + r * seq, seq * sizeof(int32_t));
    memcpy(yp + r * seq, ids + r * seq + 1, seq * sizeof(int32_t));
  }
  d->owned[d->nowned++] = x;
  d->owned[d->nowned++] = y;
  d->x = x, d->y = y;
  d->nfields = 2;
  d->fields[0] = (IrgField){"x", IR_I32, {.rank = 2, .dim = {0, seq}}};
  d->fields[1] = (IrgField){"y", IR_I32, {.rank = 2, .dim = {0, seq}}};
  return 0;
}

static int load_text(Data *train, Data *held, const IrgObj *o, nnrt_ctx *ctx, char *msg, size_t cap) {
  const char *path = irg_obj_str(o, "path", 0);
  double seq = 100, split = 0.95;
  irg_obj_num(o, "seq", 1, &seq);
  irg_obj_num(o, "split", 2, &split);
  double hold = 1 - split;
  size_t len = 0;
  char *buf = path ? slurp_dir(path, &len) : NULL;
  if (!buf || len < 2) {
    free(buf);
    snprintf(msg, cap, "cannot read text from \"%s\" (a file or a directory; \"fortunes\" "
             "reads Debian's /usr/share/games/fortunes)", path ? path : "");
    return -1;
  }
  nnrt_text *txt = NULL;
  int rc = nnrt_text_from_memory(ctx, buf, len, hold, &txt);
  free(buf);
  if (rc) return snprintf(msg, cap, "%s", nnrt_errmsg(ctx)), -1;
  const nnrt_tensor *tr = nnrt_text_train(txt), *ho = nnrt_text_heldout(txt);
  rc = windows(train, ctx, nnrt_tensor_data(tr), nnrt_tensor_numel(tr), (int64_t)seq);
  if (!rc && held) rc = windows(held, ctx, nnrt_tensor_data(ho), nnrt_tensor_numel(ho), (int64_t)seq);
  train->vocab = held ? (held->vocab = nnrt_text_vocab_size(txt)) : nnrt_text_vocab_size(txt);
  train->text = txt;
  if (rc) snprintf(msg, cap, "text \"%s\" is too short for windows of %g", path, seq);
  return rc;
}

static IrDType ir_of(nnrt_dtype d) {
  switch (d) {
  case NNRT_F64: return IR_F64;
  case NNRT_I32: return IR_I32;
  case NNRT_I64: return IR_I64;
  case NNRT_BOOL: return IR_BOOL;
  default: return IR_F32;
  }
}

static nnrt_dtype rt_of(const char *name) {
  return !strcmp(name, "i32") ? NNRT_I32 : !strcmp(name, "i64") ? NNRT_I64 : !strcmp(name, "f64") ? NNRT_F64 : NNRT_F32;
}

/* A copy of t converted to dtype dt (f32, f64, i32 or i64). */
static nnrt_tensor *convert(nnrt_ctx *ctx, nnrt_tensor *t, nnrt_dtype dt) {
  nnrt_tensor *c = NULL;
  if (nnrt_tensor_create(ctx, dt, nnrt_tensor_rank(t), nnrt_tensor_dims(t), &c)) return NULL;
  int64_t n = nnrt_tensor_numel(t);
  const void *src = nnrt_tensor_data(t);
  void *dst = nnrt_tensor_data(c);
  for (int64_t i = 0; i < n; i++) {
    double v;
    switch (nnrt_tensor_dtype(t)) {
    case NNRT_F64: v = ((const double *)src)[i]; break;
    case NNRT_I32: v = ((const int32_t *)src)[i]; break;
    case NNRT_I64: v = (double)((const int64_t *)src)[i]; break;
    case NNRT_U8: case NNRT_BOOL: v = ((const uint8_t *)src)[i]; break;
    default: v = ((const float *)src)[i]; break;
    }
    switch (dt) {
    case NNRT_F64: ((double *)dst)[i] = v; break;
    case NNRT_I32: ((int32_t *)dst)[i] = (int32_t)v; break;
    case NNRT_I64: ((int64_t *)dst)[i] = (int64_t)v; break;
    default: ((float *)dst)[i] = (float)v; break;
    }
  }
  return c;
}

static int load_npy(Data *d, const IrgObj *o, nnrt_ctx *ctx, char *msg, size_t cap) {
  static const char *keys[2] = {"x", "y"}, *shapes[2] = {"x_shape", "y_shape"};
  static const char *dtypes[2] = {"x_dtype", "y_dtype"}, *deflt[2] = {"f32", "i32"};
  for (int k = 0; k < 2; k++) {
    const char *path = irg_obj_str(o, keys[k], k);
    if (!path) {
      if (k == 1) break;
      snprintf(msg, cap, "npy(...) needs x=\"file.npy\"");
      return -1;
    }
    nnrt_tensor *t = NULL;
    if (nnrt_load_npy(ctx, path, &t)) return snprintf(msg, cap, "%s", nnrt_errmsg(ctx)), -1;
    d->owned[d->nowned++] = t;
    const char *want = irg_obj_str(o, dtypes[k], -1);
    nnrt_dtype wd = rt_of(want ? want : deflt[k]);
    if (nnrt_tensor_dtype(t) != wd) {
      if (!(t = convert(ctx, t, wd))) return snprintf(msg, cap, "%s: out of memory", path), -1;
      d->owned[d->nowned++] = t;
    }
    int64_t dims[8];
    int nd = irg_obj_dims(o, shapes[k], -1, dims);
    int same = nd == 0 || nd == nnrt_tensor_rank(t) - 1;
    for (int i = 0; same && i < nd; i++) same = dims[i] == nnrt_tensor_dim(t, i + 1);
    if (!same) {
      char got[128];
      nnrt_tensor_shape_str(t, got, sizeof got);
      snprintf(msg, cap, "%s holds %s: each example does not have the declared %s", path, got, shapes[k]);
      return -1;
    }
    if (k == 0) d->x = t; else d->y = t;
    IrgField *f = &d->fields[d->nfields++];
    f->name = keys[k];
    f->dtype = ir_of(nnrt_tensor_dtype(t));
    f->shape.rank = nnrt_tensor_rank(t);
    for (int i = 1; i < f->shape.rank; i++) f->shape.dim[i] = nnrt_tensor_dim(t, i);
  }
  if (d->y && nnrt_tensor_dim(d->y, 0) != nnrt_tensor_dim(d->x, 0)) {
    snprintf(msg, cap, "npy: x has %lld rows, y has %lld", (long long)nnrt_tensor_dim(d->x, 0),
             (long long)nnrt_tensor_dim(d->y, 0));
    return -1;
  }
  return 0;
}

static int load_sources(Data *train, Data *held, const IrgSettings *s, nnrt_ctx *ctx, char *msg, size_t cap) {
  const char *k = s->data.kind;
  if (!strcmp(k, "idx")) {
    if (load_idx(train, &s->data, ctx, msg, cap)) return -1;
    if (s->has_eval && load_idx(held, &s->eval, ctx, msg, cap)) return -1;
    return 0;
  }
  if (!strcmp(k, "npy")) {
    if (load_npy(train, &s->data, ctx, msg, cap)) return -1;
    if (s->has_eval && load_npy(held, &s->eval, ctx, msg, cap)) return -1;
    return 0;
  }
  if (!strcmp(k, "text")) return load_text(train, s->has_eval ? NULL : held, &s->data, ctx, msg, cap);
  snprintf(msg, cap, "data source '%s' is not supported by the driver yet (idx, text, npy)", k);
  return -1;
}

/* Loads the declaration's data; fewer training examples than one batch is an error (an
 * epoch would take no step: partial batches are dropped). */
int drv_data_load(Data *train, Data *held, const IrgSettings *s, nnrt_ctx *ctx, char *msg, size_t cap) {
  if (load_sources(train, held, s, ctx, msg, cap)) return -1;
  int64_t rows = train->x ? nnrt_tensor_dim(train->x, 0) : -1;
  if (rows >= 0 && rows < s->batch_size) {
    snprintf(msg, cap, "the training data has %lld examples, fewer than batch_size = %lld: no batch to train on",
             (long long)rows, (long long)s->batch_size);
    return -1;
  }
  return 0;
}

void drv_data_free(Data *d) {
  for (int i = d->nowned - 1; i >= 0; i--) nnrt_tensor_free(d->owned[i]);
  if (d->text) nnrt_text_free(d->text);
  memset(d, 0, sizeof *d);
}
