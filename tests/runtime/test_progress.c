/* test_progress.c: the progress bar (terminal mode), plain lines (log mode) with a fake
 * clock, and metrics CSV files. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "rt.h"

static nnrt_ctx *ctx;
static char dir[64];
static double fake_now;
static double fake_clock(void *ud) { return *(double *)ud; }

static void setup(void)
{
  ctx = nnrt_ctx_create(NULL, NULL);
  snprintf(dir, sizeof dir, "/tmp/nnrt_p_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  fake_now = 100.0;
}

static void teardown(void)
{
  nnrt_ctx_free(ctx);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(progress, .init = setup, .fini = teardown);

static char *slurp(FILE *f)
{
  static char buf[8192];
  fflush(f);
  rewind(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  return buf;
}

static int count(const char *s, const char *sub)
{
  int n = 0;
  for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
  return n;
}

Test(progress, bar_redraws_in_place)
{
  FILE *f = tmpfile();
  nnrt_progress *p;
  cr_assert_eq(nnrt_progress_create(ctx, f, 10, 100, NNRT_PROGRESS_BAR, &p), NNRT_OK);
  nnrt_progress_set_clock(p, fake_clock, &fake_now);
  for (int s = 1; s <= 100; s++) {
    fake_now += 0.0625; /* 1/16 s per step (exact in binary): a redraw every other step */
    nnrt_progress_step(p, 1, s, s <= 50 ? 1.0 : 0.0, 32);
  }
  char *out = slurp(f);
  cr_assert_eq(count(out, "\n"), 0, "a bar never ends its line before the epoch does");
  cr_assert_geq(count(out, "\r"), 40);
  cr_assert_leq(count(out, "\r"), 60);
  /* the last frame: full bar, mean loss 0.5, 3200 samples in 6.25 s */
  const char *last = strrchr(out, '\r') + 1;
  const char *want = "epoch 2/10 [========================] 100/100 loss 0.5000 512 samples/s";
  cr_assert_eq(strncmp(last, want, strlen(want)), 0, "%s", last);
  /* the shorter line blanks out the end of the longer one before it (its ETA) */
  size_t pad = strspn(last + strlen(want), " ");
  cr_assert(pad >= 8 && pad <= 12, "'%s'", last);
  cr_assert_eq(last[strlen(want) + pad], '\0');
  /* a middle frame carries the ETA: 49 steps of 1/16 s left */
  cr_assert_not_null(strstr(out, "epoch 2/10 [============>           ] 51/100 loss 0.9804 512 samples/s ETA 0:03"), "%s", out);
  nnrt_progress_epoch_end(p, 1, "accuracy", 0.875);
  out = slurp(f);
  cr_assert_not_null(strstr(out, "epoch 2/10 done in 0:06 (6.2s): loss 0.5000, 512 samples/s accuracy 0.8750\n"), "%s", out);
  nnrt_progress_free(p);
  fclose(f);
}

Test(progress, plain_lines_when_not_a_terminal)
{
  FILE *f = tmpfile();
  nnrt_progress *p;
  cr_assert_eq(nnrt_progress_create(ctx, f, 0, 0, NNRT_PROGRESS_AUTO, &p), NNRT_OK);
  nnrt_progress_set_clock(p, fake_clock, &fake_now);
  nnrt_progress_set_interval(p, 2.0);
  for (int s = 1; s <= 80; s++) {
    fake_now += 0.125;
    nnrt_progress_step(p, 0, s, 2.0, 10);
  }
  nnrt_progress_epoch_end(p, 0, NULL, 0);
  char *out = slurp(f);
  cr_assert_eq(count(out, "\r"), 0);
  cr_assert_eq(count(out, "\n"), 6, "%s", out); /* every 2 s over 10 s, then the summary */
  cr_assert(strncmp(out, "epoch 1 step 16 loss 2.0000 80 samples/s\n", 40) == 0, "%s", out);
  cr_assert_not_null(strstr(out, "epoch 1 done in 0:10 (10.0s): loss 2.0000, 80 samples/s\n"), "%s", out);
  nnrt_progress_free(p);
  fclose(f);
}

Test(progress, nan_loss_is_skipped_and_eta_formats_hours)
{
  FILE *f = tmpfile();
  nnrt_progress *p;
  cr_assert_eq(nnrt_progress_create(ctx, f, 1, 10000, NNRT_PROGRESS_LINES, &p), NNRT_OK);
  nnrt_progress_set_clock(p, fake_clock, &fake_now);
  nnrt_progress_set_interval(p, 1.0);
  fake_now += 1.0;
  nnrt_progress_step(p, 0, 1, 0.0 / 0.0, 1);
  fake_now += 1.0;
  nnrt_progress_step(p, 0, 2, 3.0, 1);
  char *out = slurp(f);
  /* 2 steps in 2 s: 9998 steps left is 2:46:38 */
  cr_assert_not_null(strstr(out, "epoch 1/1 step 2/10000 loss 3.0000 1 samples/s ETA 2:46:38\n"), "%s", out);
  nnrt_progress_free(p);
  fclose(f);
}

Test(progress, metrics_csv_appends_with_one_header)
{
  char path[128];
  snprintf(path, sizeof path, "%s/m.csv", dir);
  const char *cols[3] = {"epoch", "loss", "acc"};
  nnrt_metrics *m;
  for (int run = 0; run < 2; run++) {
    cr_assert_eq(nnrt_metrics_open(ctx, path, 3, cols, &m), NNRT_OK, "%s", nnrt_errmsg(ctx));
    double v[3] = {run, 0.25 + run, 1.0 / 3};
    cr_assert_eq(nnrt_metrics_append(m, v), NNRT_OK);
    cr_assert_eq(nnrt_metrics_close(m), NNRT_OK);
  }
  FILE *f = fopen(path, "r");
  char *out = slurp(f);
  fclose(f);
  cr_assert_str_eq(out, "epoch,loss,acc\n0,0.25,0.333333333\n1,1.25,0.333333333\n");
  const char *other[2] = {"epoch", "loss"};
  cr_assert_eq(nnrt_metrics_open(ctx, path, 2, other, &m), NNRT_EFORMAT);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "the file has columns 'epoch,loss,acc', expected 'epoch,loss'"), "%s", nnrt_errmsg(ctx));
  const char *bad[1] = {"a,b"};
  cr_assert_eq(nnrt_metrics_open(ctx, path, 1, bad, &m), NNRT_EINVAL);
  char nodir[160];
  snprintf(nodir, sizeof nodir, "%s/none/m.csv", dir);
  cr_assert_eq(nnrt_metrics_open(ctx, nodir, 3, cols, &m), NNRT_EIO);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), nodir));
}
