/* test_weights.c: safetensors: a file laid out as the reference (PyTorch) writer lays it
 * out, built byte by byte; round trips; corrupt files; shape mismatches; atomic writes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rt.h"

static nnrt_ctx *ctx;
static char dir[64];

static void setup(void)
{
  ctx = nnrt_ctx_create(NULL, NULL);
  snprintf(dir, sizeof dir, "/tmp/nnrt_w_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
  nnrt_ctx_free(ctx);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(weights, .init = setup, .fini = teardown);

/* st_file: header length (u64 LE), the JSON padded with spaces to a multiple of 8 (as
 * safetensors.torch.save_file does), then the data. Returns the total size. */
static size_t st_file(unsigned char *b, const char *json, const void *data, size_t nbytes)
{
  size_t len = strlen(json), hlen = (len + 7) / 8 * 8;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(b + 8, json, len);
  memset(b + 8 + len, ' ', hlen - len);
  memcpy(b + 8 + hlen, data, nbytes);
  return 8 + hlen + nbytes;
}

/* What torch writes for {"fc.weight": f32[2,3], "fc.bias": f32[2]}: compact JSON,
 * __metadata__ first, tensors sorted by alignment then name, data back to back. */
static const char torch_json[] =
  "{\"__metadata__\":{\"format\":\"pt\"},"
  "\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
  "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}";
static const float torch_data[8] = {0.5f, -0.5f, 1, 2, 3, 4, 5, 6};

Test(weights, reads_a_torch_layout_file)
{
  unsigned char b[512];
  size_t n = st_file(b, torch_json, torch_data, sizeof torch_data);
  cr_assert_eq((n - sizeof torch_data) % 8, 0);
  nnrt_weights *w;
  cr_assert_eq(nnrt_weights_from_memory(ctx, b, n, "model.safetensors", &w), NNRT_OK, "%s", nnrt_errmsg(ctx));
  memset(b, 0, sizeof b); /* the weights own a copy */
  cr_assert_eq(nnrt_weights_count(w), 2);
  cr_assert_str_eq(nnrt_weights_name(w, 0), "fc.bias");
  cr_assert_str_eq(nnrt_weights_metadata(w, "format"), "pt");
  cr_assert_null(nnrt_weights_metadata(w, "nope"));
  const nnrt_tensor *fw = nnrt_weights_get(w, "fc.weight");
  cr_assert_not_null(fw);
  char s[64];
  nnrt_tensor_shape_str(fw, s, sizeof s);
  cr_assert_str_eq(s, "f32[2, 3]");
  cr_assert_eq(((float *)nnrt_tensor_data(fw))[5], 6.0f);
  cr_assert_null(nnrt_weights_get(w, "fc"));

  float dst[6] = {0};
  int64_t d23[2] = {2, 3}, d32[2] = {3, 2};
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_F32, 2, d23, dst, &t), NNRT_OK);
  cr_assert_eq(nnrt_weights_read(w, "fc.weight", t), NNRT_OK);
  cr_assert_eq(dst[0], 1.0f);
  nnrt_tensor_free(t);
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_F32, 2, d32, dst, &t), NNRT_OK);
  cr_assert_eq(nnrt_weights_read(w, "fc.weight", t), NNRT_ESHAPE);
  cr_assert_str_eq(nnrt_errmsg(ctx), "model.safetensors: weight 'fc.weight': file has f32[2, 3], model expects f32[3, 2]");
  cr_assert_eq(nnrt_weights_read(w, "fc.w", t), NNRT_ENOTFOUND);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "'fc.w'"));
  nnrt_tensor_free(t);
  nnrt_weights_free(w);
}

Test(weights, save_then_load_round_trip)
{
  int64_t d1[2] = {4, 5}, d2[1] = {3};
  nnrt_tensor *a, *b, *c;
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, d1, &a), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_I64, 1, d2, &b), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F64, 0, NULL, &c), NNRT_OK);
  nnrt_fill_normal(nnrt_tensor_data(a), 20, 1, 0, 0, 1);
  ((int64_t *)nnrt_tensor_data(b))[2] = -77;
  *(double *)nnrt_tensor_data(c) = 3.25;
  const char *names[3] = {"layer.0/w \"q\"", "steps", "lr"};
  const nnrt_tensor *ts[3] = {a, b, c};
  const char *mk[2] = {"epoch", "note"}, *mv[2] = {"12", "tab\there \xc3\xa9"};
  char path[128];
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  cr_assert_eq(nnrt_weights_save(ctx, path, 3, names, ts, 2, mk, mv), NNRT_OK, "%s", nnrt_errmsg(ctx));
  nnrt_weights *w;
  cr_assert_eq(nnrt_weights_load(ctx, path, &w), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_weights_count(w), 3);
  for (int i = 0; i < 3; i++) {
    const nnrt_tensor *t = nnrt_weights_get(w, names[i]);
    cr_assert_not_null(t, "%s", names[i]);
    cr_assert_eq(nnrt_tensor_dtype(t), nnrt_tensor_dtype(ts[i]));
    cr_assert_eq(nnrt_tensor_rank(t), nnrt_tensor_rank(ts[i]));
    cr_assert_eq(memcmp(nnrt_tensor_data(t), nnrt_tensor_data(ts[i]), nnrt_tensor_nbytes(t)), 0);
  }
  cr_assert_str_eq(nnrt_weights_metadata(w, "note"), "tab\there \xc3\xa9");
  nnrt_weights_free(w);
  /* the header is padded to 8 bytes and no temporary file is left */
  FILE *f = fopen(path, "rb");
  unsigned char h[8];
  cr_assert_eq(fread(h, 1, 8, f), 8);
  fclose(f);
  cr_assert_eq(h[0] % 8, 0);
  DIR *d = opendir(dir);
  struct dirent *e;
  int files = 0;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') {
      files++;
      cr_assert_str_eq(e->d_name, "m.safetensors", "left behind: %s", e->d_name);
    }
  closedir(d);
  cr_assert_eq(files, 1);
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0644);
  nnrt_tensor_free(a);
  nnrt_tensor_free(b);
  nnrt_tensor_free(c);
}

Test(weights, failed_save_leaves_old_file)
{
  char path[128];
  snprintf(path, sizeof path, "%s/keep.safetensors", dir);
  FILE *f = fopen(path, "wb");
  fputs("old", f);
  fclose(f);
  int64_t d[1] = {2};
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_BIT, 1, d, &t), NNRT_OK);
  const char *names[1] = {"bits"};
  const nnrt_tensor *ts[1] = {t};
  cr_assert_eq(nnrt_weights_save(ctx, path, 1, names, ts, 0, NULL, NULL), NNRT_EINVAL);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "dtype bit"));
  nnrt_tensor_free(t);
  /* a directory that does not exist: EIO, nothing created */
  char bad[160];
  snprintf(bad, sizeof bad, "%s/no/such/dir/x.safetensors", dir);
  cr_assert_eq(nnrt_weights_save(ctx, bad, 0, NULL, NULL, 0, NULL, NULL), NNRT_EIO);
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(st.st_size, 3);
  /* duplicate names */
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 1, d, &t), NNRT_OK);
  const char *dup[2] = {"a", "a"};
  const nnrt_tensor *ts2[2] = {t, t};
  cr_assert_eq(nnrt_weights_save(ctx, path, 2, dup, ts2, 0, NULL, NULL), NNRT_EINVAL);
  nnrt_tensor_free(t);
}

static void load_bad(const char *json, const void *data, size_t nbytes, const char *what)
{
  unsigned char b[1024];
  size_t n = st_file(b, json, data, nbytes);
  nnrt_weights *w = (nnrt_weights *)1;
  int rc = nnrt_weights_from_memory(ctx, b, n, "bad.safetensors", &w);
  cr_assert_eq(rc, NNRT_EFORMAT, "accepted: %s", json);
  cr_assert_null(w);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "bad.safetensors"), "%s", nnrt_errmsg(ctx));
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), what), "'%s' lacks '%s'", nnrt_errmsg(ctx), what);
}

Test(weights, rejects_corrupt_headers)
{
  float d[8] = {0};
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", d, 8, "bad JSON header: byte");
  load_bad("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", d, 4, "tensor 'a': dtype F16 is not supported");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d, 8, "tensor 'a': f32[3] needs 12 bytes but data_offsets [0, 8] hold 8");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 4, "truncated");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 12, "trailing bytes");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8, "a gap before it");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12, "overlaps");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", d, 8, "\"shape\"");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d, 8, "data_offsets");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", d, 8, "unknown field \"x\"");
  load_bad("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8, "missing string \"dtype\"");
  load_bad("{\"__metadata__\":{\"k\":1}}", d, 0, "not a string");
  load_bad("[1,2]", d, 0, "does not start with");
  load_bad("{\"a\":1}", d, 0, "tensor 'a': the header entry is not an object");
  load_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", d, 16, "duplicate key");
}

Test(weights, rejects_bad_preambles)
{
  nnrt_weights *w;
  unsigned char b[64] = {0};
  cr_assert_eq(nnrt_weights_from_memory(ctx, b, 5, "x", &w), NNRT_EFORMAT);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "too short"));
  b[0] = 200; /* header length 200, 56 bytes follow */
  cr_assert_eq(nnrt_weights_from_memory(ctx, b, 64, "x", &w), NNRT_EFORMAT);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "truncated: the header length is 200 bytes, only 56 follow"), "%s", nnrt_errmsg(ctx));
  memset(b, 0xff, 8);
  cr_assert_eq(nnrt_weights_from_memory(ctx, b, 64, "x", &w), NNRT_EFORMAT);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "100 MB"));
  cr_assert_eq(nnrt_weights_load(ctx, "/nonexistent.safetensors", &w), NNRT_EIO);
}

/* every truncation of a valid file is rejected without a crash */
Test(weights, every_truncation_fails)
{
  unsigned char b[512];
  size_t n = st_file(b, torch_json, torch_data, sizeof torch_data);
  for (size_t k = 0; k < n; k++) {
    nnrt_weights *w;
    cr_assert_eq(nnrt_weights_from_memory(ctx, b, k, "t", &w), NNRT_EFORMAT, "prefix %zu", k);
  }
}

Test(weights, empty_file_with_metadata_only)
{
  char path[128];
  snprintf(path, sizeof path, "%s/e.safetensors", dir);
  const char *k[1] = {"format"}, *v[1] = {"pt"};
  cr_assert_eq(nnrt_weights_save(ctx, path, 0, NULL, NULL, 1, k, v), NNRT_OK, "%s", nnrt_errmsg(ctx));
  nnrt_weights *w;
  cr_assert_eq(nnrt_weights_load(ctx, path, &w), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_weights_count(w), 0);
  cr_assert_str_eq(nnrt_weights_metadata(w, "format"), "pt");
  nnrt_weights_free(w);
}
