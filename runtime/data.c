/* data.c: data set loaders (IDX, NPY, CSV) and the NPY writer.
 *
 * Loaders read the whole file into memory, check it completely, and only then build the
 * tensor: a bad file gives NNRT_EFORMAT and a message "PATH: what is wrong", never a crash.
 * Formats: IDX as on yann.lecun.com/exdb/mnist (magic 0 0 TYPE RANK, big-endian u32 dims,
 * big-endian data); NPY as in numpy/lib/format.py (NEP 1: magic "\x93NUMPY", version,
 * header length, a Python dict literal padded with spaces and ended by '\n'). */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

/* rt_store: writes value v as element i of a dt array (any dtype but BIT). */
static void rt_store(void *dst, nnrt_dtype dt, int64_t i, double v)
{
  switch (dt) {
  case NNRT_F32: ((float *)dst)[i] = (float)v; break;
  case NNRT_F64: ((double *)dst)[i] = v; break;
  case NNRT_I32: ((int32_t *)dst)[i] = (int32_t)v; break;
  case NNRT_I64: ((int64_t *)dst)[i] = (int64_t)v; break;
  case NNRT_U8: ((uint8_t *)dst)[i] = (uint8_t)v; break;
  case NNRT_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
  default: assert(!"rt_store: BIT or bad dtype"); break;
  }
}

static uint32_t rt_be32(const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rt_be64(const unsigned char *p)
{
  return (uint64_t)rt_be32(p) << 32 | rt_be32(p + 4);
}

/* ------------------------------------------------------------------ IDX */

/* The IDX element types: code, size, name. */
static const struct {
  unsigned char code;
  unsigned char size;
  const char *name;
} rt_idx_types[] = {
  {0x08, 1, "u8"}, {0x09, 1, "i8"}, {0x0B, 2, "i16"}, {0x0C, 4, "i32"}, {0x0D, 4, "f32"},
  {0x0E, 8, "f64"},
};

static int rt_idx_type(unsigned char code)
{
  for (int i = 0; i < (int)(sizeof rt_idx_types / sizeof rt_idx_types[0]); i++)
    if (rt_idx_types[i].code == code) return i;
  return -1;
}

/* rt_idx_value: element i of big-endian IDX data of type code. */
static double rt_idx_value(const unsigned char *p, unsigned char code, int64_t i)
{
  switch (code) {
  case 0x08: return p[i];
  case 0x09: return (int8_t)p[i];
  case 0x0B: return (int16_t)((uint16_t)p[2 * i] << 8 | p[2 * i + 1]);
  case 0x0C: return (int32_t)rt_be32(p + 4 * i);
  case 0x0D: {
    uint32_t u = rt_be32(p + 4 * i);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  default: {
    uint64_t u = rt_be64(p + 8 * i);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  }
}

/* rt_idx_u8: the fast path for u8 data (images, labels): one tight loop per target. */
static int rt_idx_u8(void *dst, nnrt_dtype dt, const unsigned char *src, int64_t n, double scale)
{
  switch (dt) {
  case NNRT_U8: memcpy(dst, src, (size_t)n); return 1;
  case NNRT_F32: for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)(src[i] * scale); return 1;
  case NNRT_I32: for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = src[i]; return 1;
  default: return 0;
  }
}

/* rt_idx_header: checks the magic and dims of an IDX image of n bytes; sets *type (index
 * into rt_idx_types), rank, dims and the offset of the data. */
static int rt_idx_header(nnrt_ctx *ctx, const char *path, const unsigned char *b, size_t n,
                         int *type, int *rank, int64_t *dims, size_t *off)
{
  if (n < 4) return rt_error(ctx, NNRT_EFORMAT, "%s: not an IDX file: %zu bytes, too short for the magic number", path, n);
  if (b[0] != 0 || b[1] != 0)
    return rt_error(ctx, NNRT_EFORMAT, "%s: not an IDX file: bad magic number %02x %02x %02x %02x", path, b[0], b[1], b[2], b[3]);
  if ((*type = rt_idx_type(b[2])) < 0)
    return rt_error(ctx, NNRT_EFORMAT, "%s: unknown IDX element type 0x%02x", path, b[2]);
  *rank = b[3];
  if (*rank < 1 || *rank > NNRT_MAX_RANK)
    return rt_error(ctx, NNRT_EFORMAT, "%s: IDX rank %d is not in 1..%d", path, *rank, NNRT_MAX_RANK);
  *off = 4 + 4 * (size_t)*rank;
  if (n < *off)
    return rt_error(ctx, NNRT_EFORMAT, "%s: truncated: the header needs %zu bytes, the file has %zu", path, *off, n);
  for (int i = 0; i < *rank; i++) dims[i] = rt_be32(b + 4 + 4 * i);
  return NNRT_OK;
}

/* rt_idx_parse: an IDX image in memory -> tensor of dt, scaled. */
static int rt_idx_parse(nnrt_ctx *ctx, const char *path, const unsigned char *b, size_t n,
                        nnrt_dtype dt, double scale, nnrt_tensor **out)
{
  int type = 0, rank = 0;
  int64_t dims[NNRT_MAX_RANK];
  size_t off = 0;
  int rc = rt_idx_header(ctx, path, b, n, &type, &rank, dims, &off);
  if (rc) return rc;
  int64_t numel;
  size_t nbytes;
  char shape[200];
  nnrt_shape_str(NNRT_U8, rank, dims, shape, sizeof shape);
  const char *shape_dims = strchr(shape, '[');
  if ((rc = rt_tensor_bytes(ctx, NNRT_F64, rank, dims, &numel, &nbytes)))
    return rt_error(ctx, rc, "%s: IDX shape %s is too large", path, shape_dims);
  size_t want = (size_t)numel * rt_idx_types[type].size;
  if (n - off != want)
    return rt_error(ctx, NNRT_EFORMAT, "%s: %s: the header says %s%s (%zu bytes of data), the file has %zu bytes of data",
                    path, n - off < want ? "truncated" : "trailing bytes", rt_idx_types[type].name,
                    shape_dims, want, n - off);
  if ((rc = nnrt_tensor_create(ctx, dt, rank, dims, out))) return rc;
  void *dst = nnrt_tensor_data(*out);
  int isfloat = dt == NNRT_F32 || dt == NNRT_F64;
  unsigned char code = rt_idx_types[type].code;
  if (code == 0x08 && rt_idx_u8(dst, dt, b + off, numel, scale)) return NNRT_OK;
  for (int64_t i = 0; i < numel; i++) {
    double v = rt_idx_value(b + off, code, i);
    rt_store(dst, dt, i, isfloat ? v * scale : v);
  }
  return NNRT_OK;
}

int nnrt_load_idx(nnrt_ctx *ctx, const char *path, nnrt_dtype dt, double scale,
                  nnrt_tensor **out)
{
  if (!ctx || !out || !path) return NNRT_EINVAL;
  *out = NULL;
  if (dt != NNRT_F32 && dt != NNRT_F64 && dt != NNRT_I32 && dt != NNRT_I64 && dt != NNRT_U8)
    return rt_error(ctx, NNRT_EINVAL, "%s: cannot load IDX as %s", path, nnrt_dtype_name(dt));
  void *buf;
  size_t size, cap;
  int rc = rt_read_gz(ctx, path, &buf, &size, &cap);
  if (rc) return rc;
  rc = rt_idx_parse(ctx, path, buf, size, dt, scale, out);
  rt_free(ctx, buf, cap);
  return rc;
}

/* ------------------------------------------------------------------ NPY */

typedef struct {
  const char *p, *end;
  char descr[16];
  int have_descr, have_order, have_shape;
  int fortran;
  int rank;
  int64_t dims[NNRT_MAX_RANK];
} rt_npy_hdr;

static void rt_npy_space(rt_npy_hdr *h)
{
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n')) h->p++;
}

/* rt_npy_lit: consumes the literal s (after spaces) iff it is next. */
static int rt_npy_lit(rt_npy_hdr *h, const char *s)
{
  rt_npy_space(h);
  size_t n = strlen(s);
  if ((size_t)(h->end - h->p) < n || memcmp(h->p, s, n) != 0) return 0;
  h->p += n;
  return 1;
}

/* string := '\'' chars '\'' | '"' chars '"'  (no escapes: numpy never writes them here) */
static int rt_npy_string(rt_npy_hdr *h, char *dst, size_t size)
{
  rt_npy_space(h);
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return 0;
  char q = *h->p++;
  const char *s = h->p;
  while (h->p < h->end && *h->p != q && *h->p != '\\') h->p++;
  if (h->p >= h->end || *h->p != q || (size_t)(h->p - s) >= size) return 0;
  memcpy(dst, s, (size_t)(h->p - s));
  dst[h->p - s] = '\0';
  h->p++;
  return 1;
}

/* shape := '(' [ int { ',' int } [ ',' ] ] ')' */
static int rt_npy_shape(rt_npy_hdr *h)
{
  if (!rt_npy_lit(h, "(")) return 0;
  h->rank = 0;
  for (;;) {
    if (rt_npy_lit(h, ")")) return 1;
    rt_npy_space(h);
    if (h->p >= h->end || *h->p < '0' || *h->p > '9' || h->rank == NNRT_MAX_RANK) return 0;
    int64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return 0;
      v = v * 10 + (*h->p++ - '0');
    }
    h->dims[h->rank++] = v;
    if (!rt_npy_lit(h, ",")) return rt_npy_lit(h, ")");
  }
}

/* entry := string ':' (string | 'True' | 'False' | shape) */
static int rt_npy_entry(rt_npy_hdr *h)
{
  char key[32];
  if (!rt_npy_string(h, key, sizeof key) || !rt_npy_lit(h, ":")) return 0;
  if (strcmp(key, "descr") == 0) return h->have_descr = rt_npy_string(h, h->descr, sizeof h->descr);
  if (strcmp(key, "fortran_order") == 0) {
    h->have_order = 1;
    if (rt_npy_lit(h, "True")) return h->fortran = 1;
    return rt_npy_lit(h, "False");
  }
  if (strcmp(key, "shape") == 0) return h->have_shape = rt_npy_shape(h);
  return 0;
}

/* header := '{' entry { ',' entry } [ ',' ] '}' */
static int rt_npy_dict(rt_npy_hdr *h)
{
  if (!rt_npy_lit(h, "{")) return 0;
  for (;;) {
    if (rt_npy_lit(h, "}")) break;
    if (!rt_npy_entry(h)) return 0;
    if (!rt_npy_lit(h, ",")) {
      if (!rt_npy_lit(h, "}")) return 0;
      break;
    }
  }
  rt_npy_space(h);
  return h->p == h->end && h->have_descr && h->have_order && h->have_shape;
}

static const struct {
  const char *descr;
  nnrt_dtype dt;
} rt_npy_types[] = {
  {"<f4", NNRT_F32}, {"<f8", NNRT_F64}, {"<i4", NNRT_I32}, {"<i8", NNRT_I64},
  {"|u1", NNRT_U8},  {"|b1", NNRT_BOOL},
};

static int rt_npy_dtype(const char *descr, nnrt_dtype *dt)
{
  for (int i = 0; i < (int)(sizeof rt_npy_types / sizeof rt_npy_types[0]); i++) {
    if (strcmp(rt_npy_types[i].descr, descr) == 0) {
      *dt = rt_npy_types[i].dt;
      return 1;
    }
  }
  return 0;
}

static const char *rt_npy_descr(nnrt_dtype dt)
{
  for (int i = 0; i < (int)(sizeof rt_npy_types / sizeof rt_npy_types[0]); i++)
    if (rt_npy_types[i].dt == dt) return rt_npy_types[i].descr;
  return NULL;
}

/* rt_npy_preamble: magic, version and header length; sets the header's bounds. */
static int rt_npy_preamble(nnrt_ctx *ctx, const char *name, const unsigned char *b, size_t n,
                           size_t *hstart, size_t *hlen)
{
  if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
    return rt_error(ctx, NNRT_EFORMAT, "%s: not an NPY file (no \\x93NUMPY magic)", name);
  int major = b[6];
  if (major < 1 || major > 3)
    return rt_error(ctx, NNRT_EFORMAT, "%s: unsupported NPY format version %d.%d", name, major, b[7]);
  if (major == 1) {
    *hstart = 10;
    *hlen = (size_t)b[8] | (size_t)b[9] << 8;
  } else {
    if (n < 12) return rt_error(ctx, NNRT_EFORMAT, "%s: truncated NPY preamble", name);
    *hstart = 12;
    *hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
  }
  if (*hlen > n - *hstart)
    return rt_error(ctx, NNRT_EFORMAT, "%s: truncated: the NPY header says %zu bytes, %zu are left", name, *hlen, n - *hstart);
  return NNRT_OK;
}

int nnrt_load_npy_memory(nnrt_ctx *ctx, const void *buf, size_t n, const char *name,
                         nnrt_tensor **out)
{
  if (!ctx || !out || (!buf && n)) return NNRT_EINVAL;
  *out = NULL;
  if (!name) name = "<memory>";
  const unsigned char *b = buf;
  size_t hstart = 0, hlen = 0;
  int rc = rt_npy_preamble(ctx, name, b, n, &hstart, &hlen);
  if (rc) return rc;
  rt_npy_hdr h = {.p = (const char *)b + hstart, .end = (const char *)b + hstart + hlen};
  if (!rt_npy_dict(&h))
    return rt_error(ctx, NNRT_EFORMAT, "%s: bad NPY header near byte %zu: %.*s", name,
                    hstart + (size_t)(h.p - ((const char *)b + hstart)), (int)(hlen < 120 ? hlen : 120),
                    (const char *)b + hstart);
  nnrt_dtype dt;
  if (!rt_npy_dtype(h.descr, &dt))
    return rt_error(ctx, NNRT_EFORMAT, "%s: unsupported NPY dtype '%s'%s", name, h.descr,
                    h.descr[0] == '>' ? " (big-endian)" : " (supported: <f4 <f8 <i4 <i8 |u1 |b1)");
  if (h.fortran && h.rank > 1)
    return rt_error(ctx, NNRT_EFORMAT, "%s: Fortran-ordered arrays are not supported; save with C order", name);
  int64_t numel;
  size_t nbytes;
  if ((rc = rt_tensor_bytes(ctx, dt, h.rank, h.dims, &numel, &nbytes))) {
    char why[RT_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", nnrt_errmsg(ctx));
    return rt_error(ctx, rc, "%s: %s", name, why);
  }
  size_t have = n - hstart - hlen;
  if (have != nbytes)
    return rt_error(ctx, NNRT_EFORMAT, "%s: %s: the header says %zu bytes of data, the file has %zu",
                    name, have < nbytes ? "truncated" : "trailing bytes", nbytes, have);
  if ((rc = nnrt_tensor_create(ctx, dt, h.rank, h.dims, out))) return rc;
  memcpy(nnrt_tensor_data(*out), b + hstart + hlen, nbytes);
  if (dt == NNRT_BOOL) {
    uint8_t *p = nnrt_tensor_data(*out);
    for (int64_t i = 0; i < numel; i++) p[i] = p[i] != 0;
  }
  return NNRT_OK;
}

int nnrt_load_npy(nnrt_ctx *ctx, const char *path, nnrt_tensor **out)
{
  if (!ctx || !out || !path) return NNRT_EINVAL;
  *out = NULL;
  void *buf;
  size_t size;
  int rc = rt_read_file(ctx, path, &buf, &size);
  if (rc) return rc;
  rc = nnrt_load_npy_memory(ctx, buf, size, path, out);
  rt_free(ctx, buf, size + 1);
  return rc;
}

/* rt_npy_header_text: the dict literal, unpadded, into h (size hsize); returns its length. */
static int rt_npy_header_text(const nnrt_tensor *t, char *h, size_t hsize)
{
  int len = snprintf(h, hsize, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     rt_npy_descr(t->dtype));
  for (int i = 0; i < t->rank; i++)
    len += snprintf(h + len, hsize - len, "%lld%s", (long long)t->dims[i],
                    t->rank == 1 || i + 1 < t->rank ? "," : "");
  len += snprintf(h + len, hsize - len, "), }");
  return len;
}

int nnrt_save_npy(nnrt_ctx *ctx, const char *path, const nnrt_tensor *t)
{
  if (!ctx || !path || !t) return NNRT_EINVAL;
  if (!rt_npy_descr(t->dtype))
    return rt_error(ctx, NNRT_EINVAL, "%s: NPY cannot hold dtype %s", path, nnrt_dtype_name(t->dtype));
  char h[512];
  int len = rt_npy_header_text(t, h, sizeof h);
  size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64; /* numpy aligns to 64 */
  size_t hlen = (size_t)len + pad + 1, size = 10 + hlen + t->nbytes;
  unsigned char *b = rt_malloc(ctx, size);
  if (!b) return NNRT_ENOMEM;
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)(hlen & 0xff);
  b[9] = (unsigned char)(hlen >> 8);
  memcpy(b + 10, h, (size_t)len);
  memset(b + 10 + len, ' ', pad);
  b[10 + hlen - 1] = '\n';
  memcpy(b + 10 + hlen, t->data, t->nbytes);
  int rc = rt_write_atomic(ctx, path, b, size);
  rt_free(ctx, b, size);
  return rc;
}

/* ------------------------------------------------------------------ CSV */

typedef struct {
  nnrt_ctx *ctx;
  const char *path;
  double *vals;
  size_t n, cap;
  int64_t rows, cols;
} rt_csv;

static int rt_csv_push(rt_csv *c, double v)
{
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    double *p = rt_realloc(c->ctx, c->vals, c->cap * sizeof *p, ncap * sizeof *p);
    if (!p) return NNRT_ENOMEM;
    c->vals = p;
    c->cap = ncap;
  }
  c->vals[c->n++] = v;
  return NNRT_OK;
}

/* rt_csv_field: parses s[0..len) (spaces trimmed) as a number, or reports where it fails. */
static int rt_csv_field(rt_csv *c, const char *s, size_t len, int64_t line, int64_t field)
{
  while (len && (*s == ' ' || *s == '\t')) s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
  char tmp[64];
  if (len == 0 || len >= sizeof tmp)
    return rt_error(c->ctx, NNRT_EFORMAT, "%s:%lld: field %lld: %s", c->path, (long long)line,
                    (long long)field, len ? "not a number (too long)" : "empty field");
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  char *end;
  errno = 0;
  double v = strtod(tmp, &end);
  if (*end != '\0')
    return rt_error(c->ctx, NNRT_EFORMAT, "%s:%lld: field %lld: not a number: '%s'", c->path,
                    (long long)line, (long long)field, tmp);
  return rt_csv_push(c, v);
}

/* rt_csv_line: one record s[0..len) (no newline); blank lines are skipped. */
static int rt_csv_line(rt_csv *c, const char *s, size_t len, int64_t line)
{
  if (len && s[len - 1] == '\r') len--;
  size_t k = 0;
  while (k < len && (s[k] == ' ' || s[k] == '\t')) k++;
  if (k == len) return NNRT_OK;
  int64_t field = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != ',') continue;
    int rc = rt_csv_field(c, s + start, i - start, line, ++field);
    if (rc) return rc;
    start = i + 1;
  }
  if (c->rows > 0 && field != c->cols)
    return rt_error(c->ctx, NNRT_EFORMAT, "%s:%lld: %lld fields, but the first record has %lld",
                    c->path, (long long)line, (long long)field, (long long)c->cols);
  c->cols = field;
  c->rows++;
  return NNRT_OK;
}

/* rt_csv_numeric: every comma-separated field of s[0..len) parses as a number. */
static int rt_csv_numeric(const char *s, size_t len)
{
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != ',') continue;
    char tmp[64], *end;
    size_t k = i - start < sizeof tmp - 1 ? i - start : sizeof tmp - 1;
    memcpy(tmp, s + start, k);
    tmp[k] = '\0';
    strtod(tmp, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (end == tmp || *end) return 0;
    start = i + 1;
  }
  return 1;
}

static int rt_csv_parse(rt_csv *c, const char *text, size_t n, int has_header)
{
  if (has_header < 0) { /* auto: a header iff the first line is not all numbers */
    const char *nl = memchr(text, '\n', n);
    has_header = !rt_csv_numeric(text, nl ? (size_t)(nl - text) : n);
  }
  int64_t line = 0;
  size_t i = 0;
  while (i < n) {
    const char *nl = memchr(text + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - text) : n;
    line++;
    if (memchr(text + i, '\0', end - i))
      return rt_error(c->ctx, NNRT_EFORMAT, "%s:%lld: NUL byte: not a text file", c->path, (long long)line);
    if (!(has_header && line == 1)) {
      int rc = rt_csv_line(c, text + i, end - i, line);
      if (rc) return rc;
    }
    i = end + 1;
  }
  if (c->rows == 0) return rt_error(c->ctx, NNRT_EFORMAT, "%s: no records", c->path);
  return NNRT_OK;
}

int nnrt_load_csv(nnrt_ctx *ctx, const char *path, nnrt_dtype dt, int has_header,
                  nnrt_tensor **out)
{
  if (!ctx || !out || !path) return NNRT_EINVAL;
  *out = NULL;
  if (dt != NNRT_F32 && dt != NNRT_F64)
    return rt_error(ctx, NNRT_EINVAL, "%s: CSV loads as f32 or f64, not %s", path, nnrt_dtype_name(dt));
  void *text;
  size_t size;
  int rc = rt_read_file(ctx, path, &text, &size);
  if (rc) return rc;
  rt_csv c = {.ctx = ctx, .path = path};
  rc = rt_csv_parse(&c, text, size, has_header);
  rt_free(ctx, text, size + 1);
  if (rc == NNRT_OK) {
    int64_t dims[2] = {c.rows, c.cols};
    rc = nnrt_tensor_create(ctx, dt, 2, dims, out);
    for (size_t i = 0; rc == NNRT_OK && i < c.n; i++) rt_store((*out)->data, dt, (int64_t)i, c.vals[i]);
  }
  rt_free(ctx, c.vals, c.cap * sizeof *c.vals);
  return rc;
}
