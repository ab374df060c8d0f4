/* test_data.c: IDX (real Fashion-MNIST and hand-made, corrupt and truncated files), NPY,
 * CSV and text loaders, and the batcher. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "rt.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static nnrt_ctx *ctx;
static char dir[64];

static void setup(void)
{
  ctx = nnrt_ctx_create(NULL, NULL);
  snprintf(dir, sizeof dir, "/tmp/nnrt_data_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
  nnrt_ctx_free(ctx);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(data, .init = setup, .fini = teardown);

/* tmpfile_with: writes n bytes to DIR/name and returns the path (static buffer). */
static const char *tmpfile_with(const char *name, const void *bytes, size_t n)
{
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(bytes, 1, n, f), n);
  fclose(f);
  return path;
}

static void assert_error(int rc, int want, const char *path, const char *what)
{
  cr_assert_eq(rc, want, "status %d (%s), want %d", rc, nnrt_errmsg(ctx), want);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), path), "message does not name the file: %s", nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), what), "message lacks '%s': %s", what, nnrt_errmsg(ctx));
}

/* ---------------------------------------------------------------- IDX */

Test(data, fashion_mnist_train)
{
  nnrt_tensor *x, *y;
  cr_assert_eq(nnrt_load_idx(ctx, FMNIST "train-images-idx3-ubyte.gz", NNRT_F32, 1.0 / 255, &x), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_load_idx(ctx, FMNIST "train-labels-idx1-ubyte.gz", NNRT_I32, 1, &y), NNRT_OK, "%s", nnrt_errmsg(ctx));
  char s[64];
  nnrt_tensor_shape_str(x, s, sizeof s);
  cr_assert_str_eq(s, "f32[60000, 28, 28]");
  nnrt_tensor_shape_str(y, s, sizeof s);
  cr_assert_str_eq(s, "i32[60000]");
  const int32_t *lab = nnrt_tensor_data(y);
  int count[10] = {0};
  for (int i = 0; i < 60000; i++) {
    cr_assert(lab[i] >= 0 && lab[i] <= 9, "label %d at %d", lab[i], i);
    count[lab[i]]++;
  }
  for (int c = 0; c < 10; c++) cr_assert_eq(count[c], 6000); /* Fashion-MNIST is balanced */
  const float *px = nnrt_tensor_data(x);
  double sum = 0;
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < nnrt_tensor_numel(x); i++) {
    sum += px[i];
    lo = px[i] < lo ? px[i] : lo;
    hi = px[i] > hi ? px[i] : hi;
  }
  cr_assert_eq(lo, 0.0f);
  cr_assert_eq(hi, 1.0f);
  cr_assert_float_eq(sum / nnrt_tensor_numel(x), 0.286, 0.005); /* the known mean pixel */
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

Test(data, fashion_mnist_test_raw_u8)
{
  nnrt_tensor *x;
  cr_assert_eq(nnrt_load_idx(ctx, FMNIST "t10k-images-idx3-ubyte.gz", NNRT_U8, 1, &x), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_dim(x, 0), 10000);
  cr_assert_eq(nnrt_tensor_nbytes(x), 10000 * 784);
  nnrt_tensor_free(x);
}

/* an IDX file: u8 or big-endian i16 data of the given dims */
static size_t make_idx(unsigned char *b, unsigned char type, int rank, const uint32_t *dims,
                       const void *data, size_t nbytes)
{
  b[0] = b[1] = 0;
  b[2] = type;
  b[3] = (unsigned char)rank;
  for (int i = 0; i < rank; i++)
    for (int k = 0; k < 4; k++) b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
  memcpy(b + 4 + 4 * rank, data, nbytes);
  return 4 + 4 * (size_t)rank + nbytes;
}

Test(data, idx_handmade_types)
{
  unsigned char b[256];
  uint32_t dims[2] = {2, 3};
  unsigned char be16[12] = {0x00, 0x01, 0xff, 0xff, 0x01, 0x00, 0x80, 0x00, 0x7f, 0xff, 0x00, 0x00};
  size_t n = make_idx(b, 0x0B, 2, dims, be16, sizeof be16);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_load_idx(ctx, tmpfile_with("a.idx", b, n), NNRT_F64, 2.0, &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  const double *d = nnrt_tensor_data(t);
  double want[6] = {2, -2, 512, -65536, 65534, 0};
  for (int i = 0; i < 6; i++) cr_assert_eq(d[i], want[i], "i=%d: %g", i, d[i]);
  nnrt_tensor_free(t);
  cr_assert_eq(nnrt_load_idx(ctx, tmpfile_with("a.idx", b, n), NNRT_I64, 2.0, &t), NNRT_OK);
  cr_assert_eq(((int64_t *)nnrt_tensor_data(t))[3], -32768); /* scale is for floats only */
  nnrt_tensor_free(t);
}

Test(data, idx_corrupt_files)
{
  unsigned char b[256];
  uint32_t dims[3] = {10, 2, 2};
  unsigned char px[40] = {0};
  nnrt_tensor *t = (nnrt_tensor *)1;
  size_t n = make_idx(b, 0x08, 3, dims, px, 40);

  const char *p = tmpfile_with("short.idx", b, n - 7);
  assert_error(nnrt_load_idx(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, "truncated: the header says u8[10, 2, 2] (40 bytes of data), the file has 33");
  cr_assert_null(t);
  p = tmpfile_with("long.idx", b, n + 5);
  assert_error(nnrt_load_idx(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, "trailing bytes");
  p = tmpfile_with("hdr.idx", b, 9);
  assert_error(nnrt_load_idx(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, "the header needs 16 bytes");
  b[2] = 0x07;
  p = tmpfile_with("type.idx", b, n);
  assert_error(nnrt_load_idx(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, "unknown IDX element type 0x07");
  b[2] = 0x08;
  b[0] = 0x1f;
  p = tmpfile_with("magic.idx", b, n);
  assert_error(nnrt_load_idx(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, "bad magic");
  p = tmpfile_with("empty.idx", b, 0);
  assert_error(nnrt_load_idx(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, "too short");
  assert_error(nnrt_load_idx(ctx, "/nonexistent/x.idx", NNRT_F32, 1, &t), NNRT_EIO, "/nonexistent/x.idx", "cannot open");
  /* huge dims: the product overflows, or asks for far more data than there is */
  uint32_t big[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  n = make_idx(b, 0x08, 4, big, px, 4);
  p = tmpfile_with("big.idx", b, n);
  int rc = nnrt_load_idx(ctx, p, NNRT_F32, 1, &t);
  cr_assert(rc == NNRT_ERANGE || rc == NNRT_EFORMAT, "%d %s", rc, nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), p));
}

/* the first `keep` bytes of a real gzip'd label file */
Test(data, idx_truncated_and_corrupt_gzip)
{
  void *gz;
  size_t n;
  cr_assert_eq(rt_read_file(ctx, FMNIST "t10k-labels-idx1-ubyte.gz", &gz, &n), NNRT_OK);
  nnrt_tensor *t;
  const char *p = tmpfile_with("cut.gz", gz, n / 2);
  assert_error(nnrt_load_idx(ctx, p, NNRT_I32, 1, &t), NNRT_EFORMAT, p, "gzip");
  ((unsigned char *)gz)[n / 2] ^= 0x55;
  ((unsigned char *)gz)[n / 2 + 1] ^= 0xaa;
  ((unsigned char *)gz)[n / 2 + 2] ^= 0x0f;
  p = tmpfile_with("bad.gz", gz, n);
  int rc = nnrt_load_idx(ctx, p, NNRT_I32, 1, &t);
  cr_assert_eq(rc, NNRT_EFORMAT, "%d: %s", rc, nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), p));
  rt_free(ctx, gz, n + 1);
}

/* ---------------------------------------------------------------- NPY */

/* npy_v1: a file as numpy.save writes it: magic, version 1.0, header padded with spaces
 * to a multiple of 64 and ended by '\n', then the data. */
static size_t npy_v1(unsigned char *b, const char *dict, const void *data, size_t nbytes)
{
  size_t len = strlen(dict), hlen = len + 1;
  while ((10 + hlen) % 64) hlen++;
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)hlen;
  b[9] = (unsigned char)(hlen >> 8);
  memcpy(b + 10, dict, len);
  memset(b + 10 + len, ' ', hlen - len - 1);
  b[10 + hlen - 1] = '\n';
  memcpy(b + 10 + hlen, data, nbytes);
  return 10 + hlen + nbytes;
}

Test(data, npy_as_numpy_writes_it)
{
  unsigned char b[512];
  float f[6] = {1, 2, 3, 4, 5, 6.5f};
  size_t n = npy_v1(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, sizeof f);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_load_npy_memory(ctx, b, n, "x.npy", &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  char s[64];
  nnrt_tensor_shape_str(t, s, sizeof s);
  cr_assert_str_eq(s, "f32[2, 3]");
  cr_assert_eq(memcmp(nnrt_tensor_data(t), f, sizeof f), 0);
  nnrt_tensor_free(t);

  int64_t l[3] = {-1, 1LL << 40, 7};
  n = npy_v1(b, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", l, sizeof l);
  cr_assert_eq(nnrt_load_npy(ctx, tmpfile_with("l.npy", b, n), &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_rank(t), 1);
  cr_assert_eq(((int64_t *)nnrt_tensor_data(t))[1], 1LL << 40);
  nnrt_tensor_free(t);

  double d = 2.5;
  n = npy_v1(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &d, 8);
  cr_assert_eq(nnrt_load_npy_memory(ctx, b, n, "s.npy", &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_rank(t), 0);
  cr_assert_eq(*(double *)nnrt_tensor_data(t), 2.5);
  nnrt_tensor_free(t);
}

Test(data, npy_version2_header)
{
  unsigned char b[256];
  const char *dict = "{'descr': '|u1', 'shape': (4,), 'fortran_order': False}";
  size_t len = strlen(dict), hlen = 128 - 12;
  memcpy(b, "\x93NUMPY\x02\x00", 8);
  b[8] = (unsigned char)hlen;
  b[9] = b[10] = b[11] = 0;
  memset(b + 12, ' ', hlen);
  memcpy(b + 12, dict, len);
  b[12 + hlen - 1] = '\n';
  memcpy(b + 12 + hlen, "\x01\x02\x03\xff", 4);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_load_npy_memory(ctx, b, 12 + hlen + 4, "v2.npy", &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_dtype(t), NNRT_U8);
  cr_assert_eq(((uint8_t *)nnrt_tensor_data(t))[3], 255);
  nnrt_tensor_free(t);
}

Test(data, npy_rejects_bad_files)
{
  unsigned char b[512];
  float f[4] = {0};
  nnrt_tensor *t;
  size_t n = npy_v1(b, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f, 16);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "be.npy", &t), NNRT_EFORMAT, "be.npy", "big-endian");
  n = npy_v1(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f, 16);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "fo.npy", &t), NNRT_EFORMAT, "fo.npy", "Fortran");
  n = npy_v1(b, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", f, 16);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "c.npy", &t), NNRT_EFORMAT, "c.npy", "'<c8'");
  n = npy_v1(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", f, 16);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "tr.npy", &t), NNRT_EFORMAT, "tr.npy", "truncated");
  n = npy_v1(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f, 16);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "tl.npy", &t), NNRT_EFORMAT, "tl.npy", "trailing");
  n = npy_v1(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", f, 8);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "h.npy", &t), NNRT_EFORMAT, "h.npy", "bad NPY header");
  n = npy_v1(b, "{'descr': '<f4', 'fortran_order': False}", f, 8);
  assert_error(nnrt_load_npy_memory(ctx, b, n, "ns.npy", &t), NNRT_EFORMAT, "ns.npy", "bad NPY header");
  assert_error(nnrt_load_npy_memory(ctx, "PK\3\4", 4, "zip.npy", &t), NNRT_EFORMAT, "zip.npy", "not an NPY file");
  b[8] = 0xff; /* header longer than the file */
  assert_error(nnrt_load_npy_memory(ctx, b, 80, "hl.npy", &t), NNRT_EFORMAT, "hl.npy", "truncated");
}

Test(data, npy_save_load_round_trip)
{
  nnrt_dtype dts[6] = {NNRT_F32, NNRT_F64, NNRT_I32, NNRT_I64, NNRT_U8, NNRT_BOOL};
  for (int k = 0; k < 6; k++) {
    int64_t dims[3] = {3, 1, 5};
    nnrt_tensor *a, *b;
    cr_assert_eq(nnrt_tensor_create(ctx, dts[k], 3, dims, &a), NNRT_OK);
    unsigned char *p = nnrt_tensor_data(a);
    for (size_t i = 0; i < nnrt_tensor_nbytes(a); i++) p[i] = dts[k] == NNRT_BOOL ? i % 2 : (unsigned char)(i * 37 + k);
    char path[128];
    snprintf(path, sizeof path, "%s/rt%d.npy", dir, k);
    cr_assert_eq(nnrt_save_npy(ctx, path, a), NNRT_OK, "%s", nnrt_errmsg(ctx));
    cr_assert_eq(nnrt_load_npy(ctx, path, &b), NNRT_OK, "%s", nnrt_errmsg(ctx));
    cr_assert_eq(nnrt_tensor_dtype(b), dts[k]);
    cr_assert_eq(nnrt_tensor_rank(b), 3);
    cr_assert_eq(nnrt_tensor_dim(b, 2), 5);
    cr_assert_eq(memcmp(nnrt_tensor_data(a), nnrt_tensor_data(b), nnrt_tensor_nbytes(a)), 0);
    FILE *f = fopen(path, "rb");
    unsigned char hdr[10];
    cr_assert_eq(fread(hdr, 1, 10, f), 10);
    fclose(f);
    cr_assert_eq((10 + hdr[8] + 256 * hdr[9]) % 64, 0, "header is not 64-aligned");
    nnrt_tensor_free(a);
    nnrt_tensor_free(b);
  }
}

/* ---------------------------------------------------------------- CSV */

Test(data, csv_with_header_crlf_and_blank_lines)
{
  const char *text = "a,b,c\r\n1,2,3\r\n\r\n 4.5 , -6e2,7\r\n8,9,10";
  nnrt_tensor *t;
  cr_assert_eq(nnrt_load_csv(ctx, tmpfile_with("a.csv", text, strlen(text)), NNRT_F64, 1, &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_dim(t, 0), 3);
  cr_assert_eq(nnrt_tensor_dim(t, 1), 3);
  const double *d = nnrt_tensor_data(t);
  cr_assert_eq(d[3], 4.5);
  cr_assert_eq(d[4], -600);
  cr_assert_eq(d[8], 10);
  nnrt_tensor_free(t);
}

Test(data, csv_header_auto_detection)
{
  nnrt_tensor *t;
  const char *p = tmpfile_with("h1.csv", "x, y\n1,2\n", 9);
  cr_assert_eq(nnrt_load_csv(ctx, p, NNRT_F32, -1, &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_dim(t, 0), 1);
  nnrt_tensor_free(t);
  p = tmpfile_with("h0.csv", "1e3, -2\r\n1,2\n", 13);
  cr_assert_eq(nnrt_load_csv(ctx, p, NNRT_F32, -1, &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_dim(t, 0), 2);
  cr_assert_eq(((float *)nnrt_tensor_data(t))[0], 1000.0f);
  nnrt_tensor_free(t);
}

Test(data, csv_errors_name_line_and_field)
{
  nnrt_tensor *t;
  const char *p = tmpfile_with("r.csv", "1,2\n3,4,5\n", 10);
  assert_error(nnrt_load_csv(ctx, p, NNRT_F32, 0, &t), NNRT_EFORMAT, p, ":2: 3 fields, but the first record has 2");
  p = tmpfile_with("n.csv", "x,y\n1,2\n3,abc\n", 14);
  assert_error(nnrt_load_csv(ctx, p, NNRT_F32, 1, &t), NNRT_EFORMAT, p, ":3: field 2: not a number: 'abc'");
  p = tmpfile_with("h.csv", "x,y\n1,2\n", 8);
  assert_error(nnrt_load_csv(ctx, p, NNRT_F32, 0, &t), NNRT_EFORMAT, p, ":1: field 1: not a number: 'x'");
  p = tmpfile_with("e.csv", "1,,2\n", 5);
  assert_error(nnrt_load_csv(ctx, p, NNRT_F32, 0, &t), NNRT_EFORMAT, p, "field 2: empty field");
  p = tmpfile_with("z.csv", "\n\n", 2);
  assert_error(nnrt_load_csv(ctx, p, NNRT_F32, 0, &t), NNRT_EFORMAT, p, "no records");
  p = tmpfile_with("b.csv", "1,2\0", 4);
  assert_error(nnrt_load_csv(ctx, p, NNRT_F32, 0, &t), NNRT_EFORMAT, p, "NUL byte");
}

/* ---------------------------------------------------------------- text */

Test(data, text_vocab_sorted_and_split)
{
  const char *s = "hello world";
  nnrt_text *t;
  cr_assert_eq(nnrt_text_from_memory(ctx, s, 11, 0.25, &t), NNRT_OK);
  cr_assert_eq(nnrt_text_vocab_size(t), 8); /* ' ' d e h l o r w */
  cr_assert_eq(nnrt_text_symbol(t, 0), ' ');
  cr_assert_eq(nnrt_text_symbol(t, 7), 'w');
  cr_assert_eq(nnrt_text_id(t, 'h'), 3);
  cr_assert_eq(nnrt_text_id(t, 'z'), -1);
  const nnrt_tensor *tr = nnrt_text_train(t), *ho = nnrt_text_heldout(t);
  cr_assert_eq(nnrt_tensor_numel(tr), 8); /* floor(11 * 0.75) */
  cr_assert_eq(nnrt_tensor_numel(ho), 3);
  const int32_t *a = nnrt_tensor_data(tr), *b = nnrt_tensor_data(ho);
  for (int i = 0; i < 8; i++) cr_assert_eq(nnrt_text_symbol(t, a[i]), s[i]);
  for (int i = 0; i < 3; i++) cr_assert_eq(nnrt_text_symbol(t, b[i]), s[8 + i]);
  nnrt_text_free(t);
  cr_assert_eq(nnrt_text_from_memory(ctx, s, 11, 1.0, &t), NNRT_EINVAL);
  cr_assert_eq(nnrt_text_from_memory(ctx, s, 0, 0.1, &t), NNRT_EFORMAT);
}

Test(data, text_fortunes_file)
{
  nnrt_text *t;
  const char *p = "/usr/share/games/fortunes/computers";
  cr_assert_eq(nnrt_text_load(ctx, p, 0.1, &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  int64_t n = nnrt_tensor_numel(nnrt_text_train(t)) + nnrt_tensor_numel(nnrt_text_heldout(t));
  cr_assert_gt(n, 10000);
  cr_assert_gt(nnrt_text_vocab_size(t), 60);
  cr_assert_lt(nnrt_text_vocab_size(t), 256);
  for (int i = 1; i < nnrt_text_vocab_size(t); i++)
    cr_assert_lt(nnrt_text_symbol(t, i - 1), nnrt_text_symbol(t, i));
  nnrt_text_free(t);
  assert_error(nnrt_text_load(ctx, "/nonexistent/t.txt", 0.1, &t), NNRT_EIO, "/nonexistent/t.txt", "cannot open");
}

Test(data, text_several_files_in_order)
{
  const char *a = tmpfile_with("a.txt", "abc", 3);
  char pa[128];
  snprintf(pa, sizeof pa, "%s", a);
  const char *b = tmpfile_with("b.txt", "zz", 2);
  const char *paths[2] = {pa, b};
  nnrt_text *t;
  cr_assert_eq(nnrt_text_load_files(ctx, 2, paths, 0.4, &t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_text_vocab_size(t), 4);
  const int32_t *ids = nnrt_tensor_data(nnrt_text_heldout(t));
  cr_assert_eq(nnrt_tensor_numel(nnrt_text_heldout(t)), 2);
  cr_assert_eq(ids[0], nnrt_text_id(t, 'z'));
  nnrt_text_free(t);
  const char *bad[2] = {pa, "/nonexistent/c.txt"};
  assert_error(nnrt_text_load_files(ctx, 2, bad, 0.1, &t), NNRT_EIO, "/nonexistent/c.txt", "cannot open");
}

/* ---------------------------------------------------------------- batcher */

Test(data, batcher_epochs_cover_rows_once)
{
  enum { R = 103, B = 10 };
  float xs[R * 2];
  int32_t ys[R];
  for (int i = 0; i < R; i++) {
    xs[2 * i] = (float)i;
    xs[2 * i + 1] = (float)-i;
    ys[i] = i;
  }
  nnrt_tensor *x, *y;
  int64_t dx[2] = {R, 2}, dy[1] = {R};
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_F32, 2, dx, xs, &x), NNRT_OK);
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_I32, 1, dy, ys, &y), NNRT_OK);
  nnrt_batcher *b;
  cr_assert_eq(nnrt_batcher_create(ctx, x, y, B, 1234, NNRT_BATCH_SHUFFLE, &b), NNRT_OK);
  cr_assert_eq(nnrt_batcher_batches(b), 11);
  int order[2][R];
  for (int e = 0; e < 2; e++) {
    char seen[R] = {0};
    int k = 0, batches = 0;
    int64_t n;
    const nnrt_tensor *xb, *yb;
    while ((n = nnrt_batcher_next(b, &xb, &yb)) > 0) {
      batches++;
      cr_assert_eq(nnrt_tensor_dim(xb, 0), n);
      cr_assert_eq(nnrt_tensor_dim(yb, 0), n);
      const float *px = nnrt_tensor_data(xb);
      const int32_t *py = nnrt_tensor_data(yb);
      for (int64_t i = 0; i < n; i++) {
        cr_assert_eq(px[2 * i], (float)py[i]); /* x and y rows stay paired */
        cr_assert_eq(px[2 * i + 1], (float)-py[i]);
        cr_assert_not(seen[py[i]]);
        seen[py[i]] = 1;
        order[e][k++] = py[i];
      }
    }
    cr_assert_eq(n, 0);
    cr_assert_eq(k, R);
    cr_assert_eq(batches, 11);
    cr_assert_eq(nnrt_batcher_epoch(b), e + 1);
  }
  cr_assert_neq(memcmp(order[0], order[1], sizeof order[0]), 0, "epochs must be shuffled differently");
  /* reproducible: same seed, same epoch -> same order; and equals nnrt_permutation */
  int64_t perm[R];
  nnrt_permutation(perm, R, 1234, 1);
  for (int i = 0; i < R; i++) cr_assert_eq(order[1][i], perm[i]);
  nnrt_batcher_seek_epoch(b, 0);
  const nnrt_tensor *yb;
  cr_assert_eq(nnrt_batcher_next(b, NULL, &yb), B);
  cr_assert_eq(((int32_t *)nnrt_tensor_data(yb))[0], order[0][0]);
  nnrt_batcher_free(b);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

Test(data, batcher_drop_last_and_no_shuffle)
{
  int32_t v[7] = {0, 1, 2, 3, 4, 5, 6};
  int64_t d[1] = {7};
  nnrt_tensor *x;
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_I32, 1, d, v, &x), NNRT_OK);
  nnrt_batcher *b;
  cr_assert_eq(nnrt_batcher_create(ctx, x, NULL, 3, 0, NNRT_BATCH_DROP_LAST, &b), NNRT_OK);
  cr_assert_eq(nnrt_batcher_batches(b), 2);
  const nnrt_tensor *xb, *yb;
  cr_assert_eq(nnrt_batcher_next(b, &xb, &yb), 3);
  cr_assert_null(yb);
  cr_assert_eq(nnrt_batcher_next(b, &xb, NULL), 3);
  cr_assert_eq(((int32_t *)nnrt_tensor_data(xb))[2], 5);
  cr_assert_eq(nnrt_batcher_next(b, &xb, NULL), 0);
  cr_assert_eq(nnrt_batcher_next(b, &xb, NULL), 3);
  cr_assert_eq(((int32_t *)nnrt_tensor_data(xb))[0], 0);
  nnrt_batcher_free(b);
  int64_t d2[1] = {6};
  nnrt_tensor *y;
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_I32, 1, d2, v, &y), NNRT_OK);
  cr_assert_eq(nnrt_batcher_create(ctx, x, y, 3, 0, 0, &b), NNRT_ESHAPE);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "x is i32[7] but y is i32[6]"), "%s", nnrt_errmsg(ctx));
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}
