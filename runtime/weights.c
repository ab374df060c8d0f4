/* weights.c: named tensors in the safetensors format (huggingface/safetensors, format
 * described in its README "Format"): an 8-byte little-endian header length N, N bytes of
 * JSON (an object of name -> {"dtype", "shape", "data_offsets": [begin, end]} plus an
 * optional "__metadata__" object of string -> string; the writer pads it with spaces to a
 * multiple of 8), then the byte buffer, the offsets being relative to its start.
 *
 * Loading checks what the reference implementation checks: the header is valid JSON, each
 * tensor's byte range matches its dtype and shape, and the ranges tile the buffer exactly
 * (contiguous, no gaps, no overlaps, nothing left over). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

#define RT_ST_MAX_HEADER (100u << 20) /* the reference limit: 100 MB of header */

struct nnrt_weights {
  nnrt_ctx *ctx;
  int n, cap;
  char **names;
  nnrt_tensor **tensors;
  int nmeta, metacap;
  char **meta_keys, **meta_values;
  char *src; /* the file name, for messages */
};

static const struct {
  const char *name;
  nnrt_dtype dt;
} rt_st_types[] = {
  {"F32", NNRT_F32}, {"F64", NNRT_F64}, {"I32", NNRT_I32},
  {"I64", NNRT_I64}, {"U8", NNRT_U8},   {"BOOL", NNRT_BOOL},
};

static int rt_st_dtype(const char *name, nnrt_dtype *dt)
{
  for (size_t i = 0; i < sizeof rt_st_types / sizeof rt_st_types[0]; i++) {
    if (strcmp(rt_st_types[i].name, name) == 0) {
      *dt = rt_st_types[i].dt;
      return 1;
    }
  }
  return 0;
}

static const char *rt_st_name(nnrt_dtype dt)
{
  for (size_t i = 0; i < sizeof rt_st_types / sizeof rt_st_types[0]; i++)
    if (rt_st_types[i].dt == dt) return rt_st_types[i].name;
  return NULL;
}

void nnrt_weights_free(nnrt_weights *w)
{
  if (!w) return;
  for (int i = 0; i < w->n; i++) {
    rt_strfree(w->ctx, w->names[i]);
    nnrt_tensor_free(w->tensors[i]);
  }
  for (int i = 0; i < w->nmeta; i++) {
    rt_strfree(w->ctx, w->meta_keys[i]);
    rt_strfree(w->ctx, w->meta_values[i]);
  }
  rt_free(w->ctx, w->names, (size_t)w->cap * sizeof *w->names);
  rt_free(w->ctx, w->tensors, (size_t)w->cap * sizeof *w->tensors);
  rt_free(w->ctx, w->meta_keys, (size_t)w->metacap * sizeof *w->meta_keys);
  rt_free(w->ctx, w->meta_values, (size_t)w->metacap * sizeof *w->meta_values);
  rt_strfree(w->ctx, w->src);
  rt_free(w->ctx, w, sizeof *w);
}

/* ------------------------------------------------------------------ loading */

/* One tensor entry of the header, checked. */
typedef struct {
  const char *name;
  nnrt_dtype dt;
  int rank;
  int64_t dims[NNRT_MAX_RANK];
  uint64_t begin, end;
} rt_st_entry;

/* rt_st_u64s: an array of non-negative integers into out (at most max); count in *n. */
static int rt_st_u64s(const rt_json *a, int64_t *out, int max, int *n)
{
  if (!a || a->kind != RT_JSON_ARR || (int)a->len > max) return 0;
  for (size_t i = 0; i < a->len; i++) {
    const rt_json *x = a->items[i];
    if (x->kind != RT_JSON_NUM || !x->is_int || x->inum < 0) return 0;
    out[i] = x->inum;
  }
  *n = (int)a->len;
  return 1;
}

/* rt_st_entry_parse: the object {"dtype", "shape", "data_offsets"} of tensor name. */
static int rt_st_entry_parse(nnrt_weights *w, const char *name, const rt_json *v, rt_st_entry *e)
{
  nnrt_ctx *ctx = w->ctx;
  e->name = name;
  if (v->kind != RT_JSON_OBJ)
    return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': the header entry is not an object", w->src, name);
  for (size_t i = 0; i < v->len; i++)
    if (strcmp(v->keys[i], "dtype") && strcmp(v->keys[i], "shape") && strcmp(v->keys[i], "data_offsets"))
      return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': unknown field \"%s\"", w->src, name, v->keys[i]);
  const rt_json *dt = rt_json_get(v, "dtype");
  if (!dt || dt->kind != RT_JSON_STR)
    return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': missing string \"dtype\"", w->src, name);
  if (!rt_st_dtype(dt->str, &e->dt))
    return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': dtype %s is not supported (F32 F64 I32 I64 U8 BOOL)", w->src, name, dt->str);
  if (!rt_st_u64s(rt_json_get(v, "shape"), e->dims, NNRT_MAX_RANK, &e->rank))
    return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': \"shape\" must be an array of at most %d non-negative integers", w->src, name, NNRT_MAX_RANK);
  int64_t off[2];
  int noff;
  if (!rt_st_u64s(rt_json_get(v, "data_offsets"), off, 2, &noff) || noff != 2 || off[1] < off[0])
    return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] with 0 <= begin <= end", w->src, name);
  e->begin = (uint64_t)off[0];
  e->end = (uint64_t)off[1];
  int64_t numel;
  size_t nbytes;
  int rc = rt_tensor_bytes(ctx, e->dt, e->rank, e->dims, &numel, &nbytes);
  if (rc) return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': shape too large", w->src, name);
  if (e->end - e->begin != nbytes) {
    char s[200];
    nnrt_shape_str(e->dt, e->rank, e->dims, s, sizeof s);
    return rt_error(ctx, NNRT_EFORMAT, "%s: tensor '%s': %s needs %zu bytes but data_offsets [%llu, %llu] hold %llu",
                    w->src, name, s, nbytes, (unsigned long long)e->begin, (unsigned long long)e->end,
                    (unsigned long long)(e->end - e->begin));
  }
  return NNRT_OK;
}

static int rt_st_by_begin(const void *a, const void *b)
{
  const rt_st_entry *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* rt_st_tiles: the entries' byte ranges cover [0, size) exactly, in some order. */
static int rt_st_tiles(nnrt_weights *w, rt_st_entry *e, int n, uint64_t size)
{
  rt_st_entry *s = rt_calloc(w->ctx, (size_t)(n ? n : 1), sizeof *s);
  if (!s) return NNRT_ENOMEM;
  memcpy(s, e, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, rt_st_by_begin);
  uint64_t at = 0;
  int rc = NNRT_OK;
  for (int i = 0; i < n && !rc; i++) {
    if (s[i].begin != at)
      rc = rt_error(w->ctx, NNRT_EFORMAT, "%s: tensor '%s': data_offsets begin at %llu, expected %llu (%s)",
                    w->src, s[i].name, (unsigned long long)s[i].begin, (unsigned long long)at,
                    s[i].begin < at ? "it overlaps another tensor" : "a gap before it");
    at = s[i].end;
  }
  if (!rc && at != size)
    rc = rt_error(w->ctx, NNRT_EFORMAT, "%s: %s: the tensors hold %llu bytes of data, the file has %llu",
                  w->src, at > size ? "truncated" : "trailing bytes", (unsigned long long)at,
                  (unsigned long long)size);
  rt_free(w->ctx, s, (size_t)(n ? n : 1) * sizeof *s);
  return rc;
}

/* rt_st_metadata: "__metadata__": {string: string}. */
static int rt_st_metadata(nnrt_weights *w, const rt_json *m)
{
  if (m->kind != RT_JSON_OBJ)
    return rt_error(w->ctx, NNRT_EFORMAT, "%s: \"__metadata__\" is not an object", w->src);
  w->metacap = m->len ? (int)m->len : 1;
  w->meta_keys = rt_calloc(w->ctx, (size_t)w->metacap, sizeof *w->meta_keys);
  w->meta_values = rt_calloc(w->ctx, (size_t)w->metacap, sizeof *w->meta_values);
  if (!w->meta_keys || !w->meta_values) return NNRT_ENOMEM;
  for (size_t i = 0; i < m->len; i++) {
    if (m->items[i]->kind != RT_JSON_STR)
      return rt_error(w->ctx, NNRT_EFORMAT, "%s: \"__metadata__\" value of \"%s\" is not a string", w->src, m->keys[i]);
    w->meta_keys[i] = rt_strdup(w->ctx, m->keys[i]);
    w->meta_values[i] = w->meta_keys[i] ? rt_strdup(w->ctx, m->items[i]->str) : NULL;
    if (!w->meta_values[i]) {
      rt_strfree(w->ctx, w->meta_keys[i]);
      return NNRT_ENOMEM;
    }
    w->nmeta = (int)i + 1;
  }
  return NNRT_OK;
}

/* rt_st_add: a tensor named e->name with data copied from data + e->begin. */
static int rt_st_add(nnrt_weights *w, const rt_st_entry *e, const unsigned char *data)
{
  nnrt_tensor *t;
  int rc = nnrt_tensor_create(w->ctx, e->dt, e->rank, e->dims, &t);
  if (rc) return rc;
  char *name = rt_strdup(w->ctx, e->name);
  if (!name) {
    nnrt_tensor_free(t);
    return NNRT_ENOMEM;
  }
  memcpy(t->data, data + e->begin, t->nbytes);
  w->names[w->n] = name;
  w->tensors[w->n++] = t;
  return NNRT_OK;
}

/* rt_st_build: the parsed header object into w, with the data section data[0..size). */
static int rt_st_build(nnrt_weights *w, const rt_json *h, const unsigned char *data, uint64_t size)
{
  if (h->kind != RT_JSON_OBJ) return rt_error(w->ctx, NNRT_EFORMAT, "%s: the header is not a JSON object", w->src);
  rt_st_entry *e = rt_calloc(w->ctx, h->len ? h->len : 1, sizeof *e);
  w->names = rt_calloc(w->ctx, h->len ? h->len : 1, sizeof *w->names);
  w->tensors = rt_calloc(w->ctx, h->len ? h->len : 1, sizeof *w->tensors);
  w->cap = h->len ? (int)h->len : 1;
  int rc = e && w->names && w->tensors ? NNRT_OK : NNRT_ENOMEM, n = 0;
  for (size_t i = 0; i < h->len && !rc; i++) {
    if (strcmp(h->keys[i], "__metadata__") == 0) rc = rt_st_metadata(w, h->items[i]);
    else if (h->keys[i][0] == '\0') rc = rt_error(w->ctx, NNRT_EFORMAT, "%s: a tensor has an empty name", w->src);
    else rc = rt_st_entry_parse(w, h->keys[i], h->items[i], &e[n++]);
  }
  if (!rc) rc = rt_st_tiles(w, e, n, size);
  for (int i = 0; i < n && !rc; i++) rc = rt_st_add(w, &e[i], data);
  rt_free(w->ctx, e, (h->len ? h->len : 1) * sizeof *e);
  return rc;
}

/* rt_st_parse: the whole file image b[0..size). */
static int rt_st_parse(nnrt_weights *w, const unsigned char *b, size_t size)
{
  if (size < 8)
    return rt_error(w->ctx, NNRT_EFORMAT, "%s: not a safetensors file: %zu bytes, too short for the header length", w->src, size);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
  if (hlen > RT_ST_MAX_HEADER)
    return rt_error(w->ctx, NNRT_EFORMAT, "%s: header length %llu is over the 100 MB limit (not a safetensors file?)", w->src, (unsigned long long)hlen);
  if (hlen > size - 8)
    return rt_error(w->ctx, NNRT_EFORMAT, "%s: truncated: the header length is %llu bytes, only %zu follow", w->src, (unsigned long long)hlen, size - 8);
  if (hlen == 0 || b[8] != '{')
    return rt_error(w->ctx, NNRT_EFORMAT, "%s: the header does not start with '{'", w->src);
  rt_json *h;
  char err[128];
  int rc = rt_json_parse(w->ctx, (const char *)b + 8, (size_t)hlen, &h, err, sizeof err);
  if (rc == NNRT_EFORMAT) return rt_error(w->ctx, rc, "%s: bad JSON header: %s", w->src, err);
  if (rc) return rc;
  rc = rt_st_build(w, h, b + 8 + hlen, size - 8 - hlen);
  rt_json_free(w->ctx, h);
  return rc;
}

int nnrt_weights_from_memory(nnrt_ctx *ctx, const void *buf, size_t size, const char *name,
                             nnrt_weights **out)
{
  if (!ctx || !out || (!buf && size)) return NNRT_EINVAL;
  *out = NULL;
  nnrt_weights *w = rt_calloc(ctx, 1, sizeof *w);
  if (!w) return NNRT_ENOMEM;
  w->ctx = ctx;
  w->src = rt_strdup(ctx, name ? name : "<memory>");
  int rc = w->src ? rt_st_parse(w, buf, size) : NNRT_ENOMEM;
  if (rc) {
    nnrt_weights_free(w);
    return rc;
  }
  *out = w;
  return NNRT_OK;
}

int nnrt_weights_load(nnrt_ctx *ctx, const char *path, nnrt_weights **out)
{
  if (!ctx || !out || !path) return NNRT_EINVAL;
  *out = NULL;
  void *buf;
  size_t size;
  int rc = rt_read_file(ctx, path, &buf, &size);
  if (rc) return rc;
  rc = nnrt_weights_from_memory(ctx, buf, size, path, out);
  rt_free(ctx, buf, size + 1);
  return rc;
}

/* ------------------------------------------------------------------ queries */

int nnrt_weights_count(const nnrt_weights *w) { return w->n; }

const char *nnrt_weights_name(const nnrt_weights *w, int i)
{
  return i >= 0 && i < w->n ? w->names[i] : NULL;
}

const nnrt_tensor *nnrt_weights_tensor(const nnrt_weights *w, int i)
{
  return i >= 0 && i < w->n ? w->tensors[i] : NULL;
}

const nnrt_tensor *nnrt_weights_get(const nnrt_weights *w, const char *name)
{
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->names[i], name) == 0) return w->tensors[i];
  return NULL;
}

const char *nnrt_weights_metadata(const nnrt_weights *w, const char *key)
{
  for (int i = 0; i < w->nmeta; i++)
    if (strcmp(w->meta_keys[i], key) == 0) return w->meta_values[i];
  return NULL;
}

static int rt_same_shape(const nnrt_tensor *a, const nnrt_tensor *b)
{
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

int nnrt_weights_read(nnrt_weights *w, const char *name, nnrt_tensor *dst)
{
  if (!w || !name || !dst) return NNRT_EINVAL;
  const nnrt_tensor *src = nnrt_weights_get(w, name);
  if (!src) return rt_error(w->ctx, NNRT_ENOTFOUND, "%s: no weight '%s' in the file", w->src, name);
  if (!rt_same_shape(src, dst)) {
    char a[200], b[200];
    nnrt_tensor_shape_str(src, a, sizeof a);
    nnrt_tensor_shape_str(dst, b, sizeof b);
    return rt_error(w->ctx, NNRT_ESHAPE, "%s: weight '%s': file has %s, model expects %s", w->src, name, a, b);
  }
  memcpy(dst->data, src->data, src->nbytes);
  return NNRT_OK;
}

/* ------------------------------------------------------------------ saving */

typedef struct {
  nnrt_ctx *ctx;
  char *b;
  size_t n, cap;
  int rc;
} rt_sbuf;

static void rt_sput(rt_sbuf *s, const char *p, size_t n)
{
  if (s->rc) return;
  if (s->n + n > s->cap) {
    size_t ncap = s->cap ? s->cap : 256;
    while (ncap < s->n + n) ncap *= 2;
    char *q = rt_realloc(s->ctx, s->b, s->cap, ncap);
    if (!q) {
      s->rc = NNRT_ENOMEM;
      return;
    }
    s->b = q;
    s->cap = ncap;
  }
  memcpy(s->b + s->n, p, n);
  s->n += n;
}

static void rt_sputs(rt_sbuf *s, const char *p) { rt_sput(s, p, strlen(p)); }

/* rt_sjson: p as a JSON string literal (quotes, backslashes and controls escaped). */
static void rt_sjson(rt_sbuf *s, const char *p)
{
  rt_sputs(s, "\"");
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    char esc[8];
    if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", c);
    else if (c < 0x20) snprintf(esc, sizeof esc, "\\u%04x", c);
    else esc[0] = (char)c, esc[1] = '\0';
    rt_sputs(s, esc);
  }
  rt_sputs(s, "\"");
}

static void rt_st_write_entry(rt_sbuf *s, const char *name, const nnrt_tensor *t, uint64_t at)
{
  char num[48];
  rt_sjson(s, name);
  rt_sputs(s, ":{\"dtype\":\"");
  rt_sputs(s, rt_st_name(t->dtype));
  rt_sputs(s, "\",\"shape\":[");
  for (int d = 0; d < t->rank; d++) {
    snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    rt_sputs(s, num);
  }
  snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
           (unsigned long long)(at + t->nbytes));
  rt_sputs(s, num);
}

/* rt_st_check_save: names distinct and non-empty, dtypes storable. */
static int rt_st_check_save(nnrt_ctx *ctx, const char *path, int n, const char *const *names,
                            const nnrt_tensor *const *tensors)
{
  for (int i = 0; i < n; i++) {
    if (!names[i] || !names[i][0] || strcmp(names[i], "__metadata__") == 0)
      return rt_error(ctx, NNRT_EINVAL, "%s: tensor %d has an empty or reserved name", path, i);
    if (!tensors[i]) return rt_error(ctx, NNRT_EINVAL, "%s: tensor '%s' is NULL", path, names[i]);
    if (!rt_st_name(tensors[i]->dtype))
      return rt_error(ctx, NNRT_EINVAL, "%s: tensor '%s' has dtype %s, which safetensors cannot hold", path, names[i], nnrt_dtype_name(tensors[i]->dtype));
    for (int k = 0; k < i; k++)
      if (strcmp(names[k], names[i]) == 0)
        return rt_error(ctx, NNRT_EINVAL, "%s: two tensors are named '%s'", path, names[i]);
  }
  return NNRT_OK;
}

/* rt_st_header_json: the header, padded with spaces to a multiple of 8 as the reference
 * writer does, so that the data section is 8-byte aligned in the file. */
static void rt_st_header_json(rt_sbuf *s, int n, const char *const *names,
                              const nnrt_tensor *const *tensors, int meta_n,
                              const char *const *keys, const char *const *values)
{
  rt_sput(s, "\0\0\0\0\0\0\0\0{", 9);
  if (meta_n > 0) {
    rt_sputs(s, "\"__metadata__\":{");
    for (int i = 0; i < meta_n; i++) {
      if (i) rt_sputs(s, ",");
      rt_sjson(s, keys[i]);
      rt_sputs(s, ":");
      rt_sjson(s, values[i]);
    }
    rt_sputs(s, n ? "}," : "}");
  }
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    if (i) rt_sputs(s, ",");
    rt_st_write_entry(s, names[i], tensors[i], at);
    at += tensors[i]->nbytes;
  }
  rt_sputs(s, "}");
  while ((s->n - 8) % 8) rt_sputs(s, " ");
  uint64_t hlen = s->n - 8;
  for (int i = 0; i < 8 && !s->rc; i++) s->b[i] = (char)(hlen >> (8 * i));
}

int nnrt_weights_save(nnrt_ctx *ctx, const char *path, int n, const char *const *names,
                      const nnrt_tensor *const *tensors, int meta_n,
                      const char *const *meta_keys, const char *const *meta_values)
{
  if (!ctx || !path || n < 0 || (n && (!names || !tensors)) || meta_n < 0 ||
      (meta_n && (!meta_keys || !meta_values)))
    return ctx ? rt_error(ctx, NNRT_EINVAL, "weights_save: bad arguments") : NNRT_EINVAL;
  int rc = rt_st_check_save(ctx, path, n, names, tensors);
  if (rc) return rc;
  rt_sbuf s = {.ctx = ctx};
  rt_st_header_json(&s, n, names, tensors, meta_n, meta_keys, meta_values);
  for (int i = 0; i < n; i++) rt_sput(&s, tensors[i]->data, tensors[i]->nbytes);
  rc = s.rc ? s.rc : rt_write_atomic(ctx, path, s.b, s.n);
  rt_free(ctx, s.b, s.cap);
  return rc;
}
