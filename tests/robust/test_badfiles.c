/* test_badfiles.c — bad input through the `nnc` CLI, end to end: truncated, corrupt and
 * mismatched weight files (--load=), data files of the wrong format or size, and a model
 * too large for memory. Each must end with exit status 1 (never a signal or an abort) and
 * one clear message naming the file or tensor (and both shapes for a mismatch), and must
 * lose nothing: the --save= file of a failed run keeps its old contents.
 * Fixtures: a 4 -> 3 linear model trained on 6 rows of npy data, written in a fresh
 * temporary directory per test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nnrt.h"

#define NNC NNC_BINARY_DIR "/nnc"

static char dir[64];
static char out[16384];   /* the stderr + stdout of the last run */

static void path_in(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", dir, name);
}

static void write_file(const char *name, const void *data, size_t n) {
  char p[128];
  path_in(p, sizeof p, name);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f, "%s", p);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

static size_t read_file(const char *name, void *buf, size_t cap) {
  char p[128];
  path_in(p, sizeof p, name);
  FILE *f = fopen(p, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

/* Runs nnc with args in dir; returns its exit status, or 128 + signal. Output in out[]. */
static int run_nnc(const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cd %s && %s %s --metrics=%s/m.csv >%s/log 2>&1", dir,
           NNC, args, dir, dir);
  int st = system(cmd);
  out[read_file("log", out, sizeof out - 1)] = 0;
  if (st == -1) return -1;
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WEXITSTATUS(st) == 127 ? 127 : WEXITSTATUS(st);
}

/* A failed run: exit status 1, no sanitizer report, and every needle in the output. */
static void expect_error(const char *args, const char *const *needles) {
  int rc = run_nnc(args);
  cr_assert_eq(rc, 1, "nnc %s: exit status %d, expected 1; output:\n%s", args, rc, out);
  cr_assert_null(strstr(out, "ERROR: AddressSanitizer"), "nnc %s:\n%s", args, out);
  cr_assert_null(strstr(out, "ERROR: LeakSanitizer"), "nnc %s:\n%s", args, out);
  cr_assert_null(strstr(out, "runtime error"), "nnc %s:\n%s", args, out);
  for (int i = 0; needles && needles[i]; i++)
    cr_assert_not_null(strstr(out, needles[i]), "nnc %s: no \"%s\" in:\n%s", args, needles[i], out);
}

static void save_npy(const char *name, nnrt_dtype dt, int rank, const int64_t *dims) {
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *t = NULL;
  char p[128];
  path_in(p, sizeof p, name);
  cr_assert_eq(nnrt_tensor_create(ctx, dt, rank, dims, &t), NNRT_OK);
  int64_t n = nnrt_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    if (dt == NNRT_F32) ((float *)nnrt_tensor_data(t))[i] = (float)(i % 7) / 7;
    else ((int32_t *)nnrt_tensor_data(t))[i] = (int32_t)(i % 3);
  }
  cr_assert_eq(nnrt_save_npy(ctx, p, t), NNRT_OK, "%s", nnrt_errmsg(ctx));
  nnrt_tensor_free(t);
  nnrt_ctx_free(ctx);
}

/* Writes a safetensors file of the given (name, dtype, shape) entries, zero-filled. */
typedef struct {
  const char *name;
  nnrt_dtype dt;
  int rank;
  int64_t dims[2];
} Entry;

static void save_weights(const char *name, int n, const Entry *e) {
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *t[4] = {0};
  const char *names[4];
  char p[128];
  path_in(p, sizeof p, name);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(nnrt_tensor_create(ctx, e[i].dt, e[i].rank, e[i].dims, &t[i]), NNRT_OK);
    names[i] = e[i].name;
  }
  cr_assert_eq(nnrt_weights_save(ctx, p, n, names, (const nnrt_tensor *const *)t, 0, NULL, NULL),
               NNRT_OK, "%s", nnrt_errmsg(ctx));
  for (int i = 0; i < n; i++) nnrt_tensor_free(t[i]);
  nnrt_ctx_free(ctx);
}

static const char *model_fmt =
    "import nn\n"
    "model M {\n"
    "  l1 = nn.Linear(4, %s)\n"
    "  fn logits(x: f32[B, 4]) = l1(x)\n"
    "}\n"
    "train M {\n"
    "  data = npy(x = \"%s/x.npy\", y = \"%s/y.npy\", x_shape = (4,))\n"
    "  loss = %s\n"
    "  optimizer = sgd(lr = 0.1)\n"
    "  batch_size = 2\n"
    "  epochs = 1\n"
    "}\n";

static void write_model(const char *name, const char *width, const char *loss) {
  char src[1024];
  int n = snprintf(src, sizeof src, model_fmt, width, dir, dir, loss);
  write_file(name, src, (size_t)n);
}

static void setup(void) {
  strcpy(dir, "/tmp/nnc-badfiles-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  int64_t dx[2] = {6, 4}, dy[1] = {6};
  save_npy("x.npy", NNRT_F32, 2, dx);
  save_npy("y.npy", NNRT_I32, 1, dy);
  write_model("m.nn", "3", "cross_entropy(logits(batch.x), batch.y)");
}

static void teardown(void) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[320];
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

TestSuite(badfiles, .init = setup, .fini = teardown, .timeout = 120);

/* Trains once and saves good.safetensors; returns its size (its bytes in buf). */
static size_t train_good(unsigned char *buf, size_t cap) {
  int rc = run_nnc("m.nn --save=good.safetensors");
  cr_assert_eq(rc, 0, "the baseline run failed (%d):\n%s", rc, out);
  size_t n = read_file("good.safetensors", buf, cap);
  cr_assert_gt(n, 16);
  return n;
}

Test(badfiles, good_weights_load) {
  unsigned char w[4096];
  train_good(w, sizeof w);
  int rc = run_nnc("m.nn --interp --steps=1 --load=good.safetensors --save=again.safetensors");
  cr_assert_eq(rc, 0, "%s", out);
}

Test(badfiles, truncated_weights) {
  unsigned char w[4096];
  size_t n = train_good(w, sizeof w);
  const char *needles[] = {"cut.safetensors", NULL};
  size_t cuts[] = {0, 3, 8, 20, n / 2, n - 1};
  for (int i = 0; i < 6; i++) {
    write_file("cut.safetensors", w, cuts[i]);
    expect_error("m.nn --interp --load=cut.safetensors --no-save", needles);
  }
}

Test(badfiles, corrupt_weights_header) {
  unsigned char w[4096];
  size_t n = train_good(w, sizeof w);
  const char *needles[] = {"bad.safetensors", NULL};
  /* the JSON header starts at byte 8: break it in several places */
  size_t at[] = {8, 9, 20, 40};
  for (int i = 0; i < 4; i++) {
    unsigned char c[4096];
    memcpy(c, w, n);
    c[at[i]] = '}';
    c[at[i] + 1] ^= 0x55;
    write_file("bad.safetensors", c, n);
    expect_error("m.nn --interp --load=bad.safetensors --no-save", needles);
  }
  unsigned char big[16];
  memcpy(big, "\xff\xff\xff\xff\xff\xff\xff\x7f{}      ", 16);   /* header length 2^63 */
  write_file("bad.safetensors", big, 16);
  expect_error("m.nn --interp --load=bad.safetensors --no-save", needles);
}

Test(badfiles, missing_and_unreadable_weights) {
  const char *n1[] = {"nope.safetensors", NULL};
  expect_error("m.nn --interp --load=nope.safetensors --no-save", n1);
  const char *n2[] = {"x.npy", NULL};   /* not a safetensors file */
  expect_error("m.nn --interp --load=x.npy --no-save", n2);
  char p[128];
  path_in(p, sizeof p, "sub.safetensors");
  cr_assert_eq(mkdir(p, 0700), 0);
  const char *n3[] = {"sub.safetensors", NULL};   /* a directory */
  expect_error("m.nn --interp --load=sub.safetensors --no-save", n3);
}

Test(badfiles, weight_shape_mismatch_names_tensor_and_both_shapes) {
  Entry e[] = {{"l1.W", NNRT_F32, 2, {4, 3}}, {"l1.b", NNRT_F32, 1, {3}}};
  save_weights("t.safetensors", 2, e);
  const char *needles[] = {"l1.W", "f32[4, 3]", "f32[3, 4]", NULL};
  expect_error("m.nn --interp --load=t.safetensors --no-save", needles);
}

Test(badfiles, weight_dtype_mismatch_names_tensor_and_both_types) {
  Entry e[] = {{"l1.W", NNRT_F32, 2, {3, 4}}, {"l1.b", NNRT_F64, 1, {3}}};
  save_weights("t.safetensors", 2, e);
  const char *needles[] = {"l1.b", "f64[3]", "f32[3]", NULL};
  expect_error("m.nn --interp --load=t.safetensors --no-save", needles);
}

Test(badfiles, weight_missing_tensor_is_named) {
  Entry e[] = {{"l1.W", NNRT_F32, 2, {3, 4}}, {"l2.b", NNRT_F32, 1, {3}}};
  save_weights("t.safetensors", 2, e);
  const char *needles[] = {"l1.b", NULL};
  expect_error("m.nn --interp --load=t.safetensors --no-save", needles);
}

Test(badfiles, failed_load_keeps_the_save_file) {
  static const char old[] = "previous weights, must survive";
  write_file("keep.safetensors", old, sizeof old);
  write_file("cut.safetensors", "\x10\0\0\0\0\0\0\0{", 9);
  expect_error("m.nn --interp --load=cut.safetensors --save=keep.safetensors", NULL);
  char now[64];
  size_t n = read_file("keep.safetensors", now, sizeof now);
  cr_assert(n == sizeof old && !memcmp(now, old, n), "the failed run changed keep.safetensors");
}

Test(badfiles, data_file_wrong_format) {
  write_file("x.npy", "x,y\n1,2\n", 8);
  const char *needles[] = {"x.npy", NULL};
  expect_error("m.nn --interp --no-save", needles);
}

Test(badfiles, data_file_truncated) {
  char p[128];
  path_in(p, sizeof p, "x.npy");
  cr_assert_eq(truncate(p, 150), 0);
  const char *needles[] = {"x.npy", NULL};
  expect_error("m.nn --interp --no-save", needles);
}

/* The driver compares an npy file's shape with x_shape= (the error names x.npy). */
Test(badfiles, data_file_wrong_shape) {
  int64_t dx[2] = {6, 5};
  save_npy("x.npy", NNRT_F32, 2, dx);
  const char *needles[] = {"x.npy", NULL};
  expect_error("m.nn --interp --no-save", needles);
}

Test(badfiles, data_files_disagree_on_rows) {
  int64_t dy[1] = {5};
  save_npy("y.npy", NNRT_I32, 1, dy);
  const char *needles[] = {"6", "5", NULL};
  expect_error("m.nn --interp --no-save", needles);
}

Test(badfiles, idx_files_corrupt) {
  /* idx("DIR/bad") reads DIR/bad-images-idx3-ubyte and DIR/bad-labels-idx1-ubyte */
  write_file("bad-images-idx3-ubyte", "\0\0\x08\x03\0\0\0\x09\0\0\0\x02", 12);
  write_file("bad-labels-idx1-ubyte", "\0\0\x08\x01\0\0\0\x02\x01\x02", 10);
  char src[1024];
  int n = snprintf(src, sizeof src,
                   "import nn\nmodel M {\n  l1 = nn.Linear(784, 3)\n  fn logits(x: f32[B, 784]) = l1(x)\n}\n"
                   "train M {\n  data = idx(\"%s/bad\")\n  loss = cross_entropy(logits(batch.x), batch.y)\n"
                   "  optimizer = sgd(lr = 0.1)\n  batch_size = 2\n}\n", dir);
  write_file("i.nn", src, (size_t)n);
  const char *needles[] = {"bad-images-idx3-ubyte", NULL};
  expect_error("i.nn --interp --no-save", needles);
}

Test(badfiles, model_too_large_for_memory) {
  /* 4 * 10^12 parameters: 16 TB; must fail cleanly (no crash, no partial output) */
  write_model("huge.nn", "1000000000000", "mean(logits(batch.x))");
  const char *needles[] = {"out of memory", NULL};
  expect_error("huge.nn --save=huge.safetensors", needles);
  char p[128];
  path_in(p, sizeof p, "huge.safetensors");
  cr_assert_neq(access(p, F_OK), 0, "a failed run wrote huge.safetensors");
}

/* ------------------------------------------------------------------ checkpoints (--resume) */

Test(badfiles, resume_from_truncated_checkpoint) {
  cr_assert_eq(run_nnc("m.nn --interp --steps=2 --checkpoint=ck.st --no-save"), 0, "%s", out);
  unsigned char c[8192];
  size_t n = read_file("ck.st", c, sizeof c);
  cr_assert_gt(n, 64);
  const char *needles[] = {"ck.st", NULL};
  size_t cuts[] = {0, 7, n / 3, n - 4};
  for (int i = 0; i < 4; i++) {
    write_file("ck.st", c, cuts[i]);
    expect_error("m.nn --interp --resume --checkpoint=ck.st --no-save", needles);
  }
}

Test(badfiles, resume_needs_a_checkpoint) {
  const char *n1[] = {"none.st", NULL};
  expect_error("m.nn --interp --resume --checkpoint=none.st --no-save", n1);
  cr_assert_eq(run_nnc("m.nn --interp --steps=1 --save=w.st"), 0, "%s", out);
  const char *n2[] = {"w.st", "checkpoint", NULL};   /* plain weights are not a checkpoint */
  expect_error("m.nn --interp --resume --checkpoint=w.st --no-save", n2);
}

Test(badfiles, resume_from_another_models_checkpoint) {
  write_model("m5.nn", "5", "cross_entropy(logits(batch.x), batch.y)");
  cr_assert_eq(run_nnc("m5.nn --interp --steps=1 --checkpoint=ck5.st --no-save"), 0, "%s", out);
  const char *needles[] = {"l1.W", "f32[5, 4]", "f32[3, 4]", NULL};
  expect_error("m.nn --interp --resume --checkpoint=ck5.st --no-save", needles);
}

/* ------------------------------------------------------------------ exact diagnostics */

/* A failed run whose output has `line` as one whole line (dir/ stands for the test's
 * directory). */
static void expect_line(const char *args, const char *line) {
  expect_error(args, NULL);
  char want[1024];
  size_t n = 0;
  for (const char *l = line; *l && n + 80 < sizeof want;)
    if (!strncmp(l, "dir/", 4)) n += (size_t)snprintf(want + n, sizeof want - n, "%s/", dir), l += 4;
    else want[n++] = *l++;
  want[n] = 0;
  for (const char *p = out; (p = strstr(p, want)); p += n)
    if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0)) return;
  cr_assert_fail("nnc %s: no line\n  %s\nin:\n%s", args, want, out);
}

Test(badfiles, truncated_weights_exact_messages) {
  unsigned char w[4096];
  size_t n = train_good(w, sizeof w);
  size_t hdr = w[0] | (size_t)w[1] << 8;   /* the JSON header's length (< 64 KiB here) */
  char line[256];
  write_file("cut.safetensors", w, 3);
  expect_line("m.nn --interp --load=cut.safetensors --no-save",
              "nnc: error: cut.safetensors: not a safetensors file: 3 bytes, too short for the header length");
  write_file("cut.safetensors", w, 20);
  snprintf(line, sizeof line, "nnc: error: cut.safetensors: truncated: the header length is %zu bytes, only 12 follow", hdr);
  expect_line("m.nn --interp --load=cut.safetensors --no-save", line);
  write_file("cut.safetensors", w, n - 36);   /* 60 bytes of data (f32[3, 4] and f32[3]), 24 left */
  expect_line("m.nn --interp --load=cut.safetensors --no-save",
              "nnc: error: cut.safetensors: truncated: the tensors hold 60 bytes of data, the file has 24");
}

Test(badfiles, weight_mismatches_exact_messages) {
  Entry shape[] = {{"l1.W", NNRT_F32, 2, {4, 3}}, {"l1.b", NNRT_F32, 1, {3}}};
  save_weights("t.safetensors", 2, shape);
  expect_line("m.nn --interp --load=t.safetensors --no-save",
              "nnc: error: t.safetensors: weight 'l1.W': file has f32[4, 3], model expects f32[3, 4]");
  Entry rank[] = {{"l1.W", NNRT_F32, 1, {12}}, {"l1.b", NNRT_F32, 1, {3}}};
  save_weights("t.safetensors", 2, rank);
  expect_line("m.nn --interp --load=t.safetensors --no-save",
              "nnc: error: t.safetensors: weight 'l1.W': file has f32[12], model expects f32[3, 4]");
  Entry dtype[] = {{"l1.W", NNRT_F32, 2, {3, 4}}, {"l1.b", NNRT_F64, 1, {3}}};
  save_weights("t.safetensors", 2, dtype);
  expect_line("m.nn --interp --load=t.safetensors --no-save",
              "nnc: error: t.safetensors: weight 'l1.b': file has f64[3], model expects f32[3]");
  Entry name[] = {{"l1.W", NNRT_F32, 2, {3, 4}}, {"l2.b", NNRT_F32, 1, {3}}};
  save_weights("t.safetensors", 2, name);
  expect_line("m.nn --interp --load=t.safetensors --no-save", "nnc: error: t.safetensors: no weight 'l1.b' in the file");
}

Test(badfiles, npy_wrong_size_exact_messages) {
  int64_t dx[2] = {6, 5};
  save_npy("x.npy", NNRT_F32, 2, dx);
  expect_line("m.nn --interp --no-save",
              "nnc: error: dir/x.npy holds f32[6, 5]: each example does not have the declared x_shape");
  int64_t d3[3] = {6, 4, 2};
  save_npy("x.npy", NNRT_F32, 3, d3);
  expect_line("m.nn --interp --no-save",
              "nnc: error: dir/x.npy holds f32[6, 4, 2]: each example does not have the declared x_shape");
  int64_t d4[2] = {6, 4};
  save_npy("x.npy", NNRT_F32, 2, d4);
  char p[128];
  path_in(p, sizeof p, "x.npy");
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(truncate(p, st.st_size - 74), 0);   /* 96 bytes of data, 22 left */
  expect_line("m.nn --interp --no-save", "nnc: error: dir/x.npy: truncated: the header says 96 bytes of data, the file has 22");
}

/* idx("DIR/NAME") with images and labels written here: u8 images of h x w, n labels. */
static void write_idx(const char *name, int nimg, int h, int w, int nlab) {
  char fn[128];
  unsigned char b[16 + 8 * 28 * 28];
  unsigned char hi[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)nimg, 0, 0, 0, (unsigned char)h, 0, 0, 0, (unsigned char)w};
  memcpy(b, hi, 16);
  memset(b + 16, 7, (size_t)(nimg * h * w));
  snprintf(fn, sizeof fn, "%s-images-idx3-ubyte", name);
  write_file(fn, b, 16 + (size_t)(nimg * h * w));
  unsigned char hl[8 + 8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)nlab, 0, 1, 2, 0, 1, 2, 0, 1};
  snprintf(fn, sizeof fn, "%s-labels-idx1-ubyte", name);
  write_file(fn, hl, 8 + (size_t)nlab);
  char src[1024];
  int n = snprintf(src, sizeof src,
                   "import nn\nmodel M {\n  l1 = nn.Linear(784, 3)\n  fn logits(x: f32[B, 784]) = l1(x)\n}\n"
                   "train M {\n  data = idx(\"%s/%s\")\n  loss = cross_entropy(logits(batch.x), batch.y)\n"
                   "  optimizer = sgd(lr = 0.1)\n  batch_size = 2\n}\n", dir, name);
  write_file("i.nn", src, (size_t)n);
}

Test(badfiles, idx_wrong_size_exact_messages) {
  write_idx("small", 6, 2, 2, 6);   /* 2 x 2 images where the declaration means 28 x 28 */
  expect_line("i.nn --interp --no-save",
              "nnc: error: dir/small-images-idx3-ubyte: each image has 4 values, but idx(path) without shape= "
              "declares 784 (28 x 28); give shape=(...)");
  write_idx("rows", 6, 28, 28, 5);   /* one label short */
  expect_line("i.nn --interp --no-save",
              "nnc: error: dir/rows-labels-idx1-ubyte has 5 labels, dir/rows-images-idx3-ubyte has 6 images: the "
              "counts must match");
  write_idx("cut", 6, 28, 28, 6);
  char p[128];
  path_in(p, sizeof p, "cut-images-idx3-ubyte");
  cr_assert_eq(truncate(p, 16 + 6 * 784 - 100), 0);
  expect_line("i.nn --interp --no-save",
              "nnc: error: dir/cut-images-idx3-ubyte: truncated: the header says u8[6, 28, 28] (4704 bytes of data), "
              "the file has 4604 bytes of data");
}

Test(badfiles, fewer_examples_than_a_batch) {
  /* 6 rows, batch_size 8: an epoch would take no step (partial batches are dropped) */
  char src[1024];
  int n = snprintf(src, sizeof src, model_fmt, "3", dir, dir, "cross_entropy(logits(batch.x), batch.y)");
  char *bs = strstr(src, "batch_size = 2");
  cr_assert_not_null(bs);
  bs[13] = '8';
  write_file("b.nn", src, (size_t)n);
  expect_line("b.nn --interp --no-save",
              "nnc: error: the training data has 6 examples, fewer than batch_size = 8: no batch to train on");
}

Test(badfiles, step_arena_too_large_gives_the_bytes_needed) {
  /* the loss makes a (6 * 10^5) x (6 * 10^5) f32 matrix: the step's arena needs > 1.44e12
   * bytes, which the planner knows before anything runs */
  write_model("arena.nn", "100000",
              "mean(reshape(logits(batch.x), (B * 100000, 1)) @ reshape(logits(batch.x), (1, B * 100000)))");
  char *bs = NULL;
  char src[1024];
  size_t n = read_file("arena.nn", src, sizeof src - 1);
  src[n] = 0;
  cr_assert_not_null(bs = strstr(src, "batch_size = 2"));
  bs[13] = '6';
  write_file("arena.nn", src, n);
  expect_error("arena.nn --no-save --save=arena.safetensors", NULL);
  const char *pre = "nnc: error: exec: out of memory: the step's arena needs ";
  const char *at = strstr(out, pre);
  cr_assert_not_null(at, "no \"%s\" in:\n%s", pre, out);
  long long bytes = strtoll(at + strlen(pre), NULL, 10);
  cr_assert_geq(bytes, 1440000000000LL, "%s", out);
  char tail[128];
  snprintf(tail, sizeof tail, "%lld bytes (%.1f MiB)\n", bytes, bytes / 1048576.0);
  cr_assert_not_null(strstr(at, tail), "expected \"%s\" in:\n%s", tail, out);
  char p[128];
  path_in(p, sizeof p, "arena.safetensors");
  cr_assert_neq(access(p, F_OK), 0, "a failed run wrote arena.safetensors");
}

Test(badfiles, more_classes_than_one_hot_holds) {
  /* 10^11 classes: the cross-entropy gradient's one_hot depth (an int) was truncated to
   * 1215752192 and the error was a broadcast of two unrelated shapes */
  write_model("wide.nn", "100000000000", "cross_entropy(logits(batch.x), batch.y)");
  const char *needles[] = {"one_hot: 100000000000 classes, more than 2147483647", NULL};
  expect_error("wide.nn --interp --no-save", needles);
}
