/* progress.c: training progress on a terminal or in a log, and metrics appended as CSV.
 *
 * The one part of libnnrt that writes text, and only to the FILE* or path it is given.
 * On a terminal: one line redrawn in place with '\r' (at most every 0.1 s); elsewhere:
 * plain lines every `interval` seconds, so that logs stay short. Loss is the mean over
 * the epoch so far; samples/s and the ETA of the epoch come from the epoch's elapsed time. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "rt.h"

#define RT_BAR_WIDTH 24
#define RT_BAR_REDRAW 0.1

struct nnrt_progress {
  nnrt_ctx *ctx;
  FILE *out;
  int bar; /* 1: redrawn line, 0: plain lines */
  int64_t epochs, steps;
  double interval;
  double (*now)(void *);
  void *now_ud;
  /* the current epoch */
  int64_t epoch, step, samples, nloss;
  double loss_sum, t_epoch, t_drawn;
  double t_mark; /* creation or the last epoch end: where the next epoch's clock starts */
  int started;
  int width; /* length of the last bar line, to blank it out */
};

static double rt_monotonic(void *ud)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int nnrt_progress_create(nnrt_ctx *ctx, FILE *out, int64_t epochs, int64_t steps_per_epoch,
                         nnrt_progress_mode mode, nnrt_progress **p)
{
  if (!ctx || !p) return NNRT_EINVAL;
  *p = NULL;
  if (!out) return rt_error(ctx, NNRT_EINVAL, "progress: no output stream");
  nnrt_progress *g = rt_calloc(ctx, 1, sizeof *g);
  if (!g) return NNRT_ENOMEM;
  g->ctx = ctx;
  g->out = out;
  g->epochs = epochs > 0 ? epochs : 0;
  g->steps = steps_per_epoch > 0 ? steps_per_epoch : 0;
  g->bar = mode == NNRT_PROGRESS_BAR || (mode == NNRT_PROGRESS_AUTO && isatty(fileno(out)));
  g->interval = 10.0;
  g->now = rt_monotonic;
  g->epoch = -1;
  g->t_mark = g->now(NULL);
  *p = g;
  return NNRT_OK;
}

void nnrt_progress_free(nnrt_progress *p)
{
  if (p) rt_free(p->ctx, p, sizeof *p);
}

void nnrt_progress_set_interval(nnrt_progress *p, double seconds)
{
  p->interval = seconds > 0 ? seconds : 0;
}

void nnrt_progress_set_clock(nnrt_progress *p, double (*now)(void *ud), void *ud)
{
  p->now = now ? now : rt_monotonic;
  p->now_ud = now ? ud : NULL;
  p->t_mark = p->now(p->now_ud);
}

/* rt_hms: seconds as "m:ss" or "h:mm:ss". */
static void rt_hms(double s, char *buf, size_t size)
{
  long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
  if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* rt_epoch_label: "epoch 3/10" or "epoch 3" (1-based for people). */
static int rt_epoch_label(const nnrt_progress *p, char *buf, size_t size)
{
  if (p->epochs) return snprintf(buf, size, "epoch %lld/%lld", (long long)p->epoch + 1, (long long)p->epochs);
  return snprintf(buf, size, "epoch %lld", (long long)p->epoch + 1);
}

/* rt_bar: "[=====>     ] 512/1875" or "step 512" when the step count is unknown. */
static int rt_bar(const nnrt_progress *p, char *buf, size_t size, int graphic)
{
  if (!p->steps) return snprintf(buf, size, "step %lld", (long long)p->step);
  if (!graphic) return snprintf(buf, size, "step %lld/%lld", (long long)p->step, (long long)p->steps);
  char bar[RT_BAR_WIDTH + 1];
  int64_t fill = p->step >= p->steps ? RT_BAR_WIDTH : p->step * RT_BAR_WIDTH / p->steps;
  for (int i = 0; i < RT_BAR_WIDTH; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
  bar[RT_BAR_WIDTH] = '\0';
  return snprintf(buf, size, "[%s] %lld/%lld", bar, (long long)p->step, (long long)p->steps);
}

/* rt_status: the whole status text (no '\r' or '\n'). */
static int rt_status(const nnrt_progress *p, double now, char *buf, size_t size)
{
  double dt = now - p->t_epoch;
  double rate = dt > 0 ? (double)p->samples / dt : 0;
  char ep[48], bar[96], eta[32] = "";
  rt_epoch_label(p, ep, sizeof ep);
  rt_bar(p, bar, sizeof bar, p->bar);
  if (p->steps && p->step > 0 && p->step < p->steps) {
    char t[24];
    rt_hms(dt / (double)p->step * (double)(p->steps - p->step), t, sizeof t);
    snprintf(eta, sizeof eta, " ETA %s", t);
  }
  double loss = p->nloss ? p->loss_sum / (double)p->nloss : 0;
  return snprintf(buf, size, "%s %s loss %.4f %.0f samples/s%s", ep, bar, loss, rate, eta);
}

static void rt_draw(nnrt_progress *p, double now)
{
  char line[256];
  int n = rt_status(p, now, line, sizeof line);
  if (p->bar) {
    int pad = p->width > n ? p->width - n : 0;
    fprintf(p->out, "\r%s%*s", line, pad, "");
    p->width = n;
  } else {
    fprintf(p->out, "%s\n", line);
  }
  fflush(p->out);
  p->t_drawn = now;
}

/* rt_begin_epoch: resets the counters when a new epoch shows up; its clock started at
 * the previous epoch's end (or at creation), so the first step's time counts. */
static void rt_begin_epoch(nnrt_progress *p, int64_t epoch)
{
  p->epoch = epoch;
  p->step = p->samples = p->nloss = 0;
  p->loss_sum = 0;
  p->t_epoch = p->t_drawn = p->t_mark;
  p->started = 1;
}

void nnrt_progress_step(nnrt_progress *p, int64_t epoch, int64_t step, double loss,
                        int64_t samples)
{
  double now = p->now(p->now_ud);
  if (!p->started || epoch != p->epoch) rt_begin_epoch(p, epoch);
  p->step = step;
  p->samples += samples > 0 ? samples : 0;
  if (loss == loss) { /* skip NaN so that one bad batch does not hide the rest */
    p->loss_sum += loss;
    p->nloss++;
  }
  double every = p->bar ? RT_BAR_REDRAW : p->interval;
  int last = p->steps && step >= p->steps;
  if (now - p->t_drawn >= every || (p->bar && (last || step == 1))) rt_draw(p, now);
}

void nnrt_progress_epoch_end(nnrt_progress *p, int64_t epoch, const char *metric_name,
                             double metric)
{
  double now = p->now(p->now_ud);
  if (!p->started || epoch != p->epoch) rt_begin_epoch(p, epoch);
  double dt = now - p->t_epoch;
  char ep[48], t[24], extra[96] = "";
  rt_epoch_label(p, ep, sizeof ep);
  rt_hms(dt, t, sizeof t);
  if (metric_name && metric == metric) snprintf(extra, sizeof extra, " %s %.4f", metric_name, metric);
  if (p->bar) fprintf(p->out, "\r%*s\r", p->width, "");
  fprintf(p->out, "%s done in %s (%.1fs): loss %.4f, %.0f samples/s%s\n", ep, t, dt,
          p->nloss ? p->loss_sum / (double)p->nloss : 0.0, dt > 0 ? (double)p->samples / dt : 0.0, extra);
  fflush(p->out);
  p->width = 0;
  p->started = 0;
  p->t_mark = now;
}

/* ------------------------------------------------------------------ metrics CSV */

struct nnrt_metrics {
  nnrt_ctx *ctx;
  FILE *f;
  int ncols;
  char *path;
  int failed;
};

/* rt_csv_header: "c1,c2,...,cn" into buf; 0 if a name cannot be a bare CSV field. */
static int rt_csv_header(int ncols, const char *const *cols, char *buf, size_t size)
{
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < ncols; i++) {
    if (!cols[i] || !cols[i][0] || strpbrk(cols[i], ",\"\r\n")) return 0;
    int w = snprintf(buf + n, size - n, "%s%s", i ? "," : "", cols[i]);
    if (w < 0 || (size_t)w >= size - n) return 0;
    n += (size_t)w;
  }
  return 1;
}

/* rt_metrics_check: the file's first line, if any, must be the header. */
static int rt_metrics_check(nnrt_ctx *ctx, const char *path, FILE *f, const char *header)
{
  char line[4096];
  rewind(f);
  if (!fgets(line, sizeof line, f)) return NNRT_OK; /* empty: the header is written next */
  line[strcspn(line, "\r\n")] = '\0';
  if (strcmp(line, header) != 0)
    return rt_error(ctx, NNRT_EFORMAT, "%s: the file has columns '%s', expected '%s'", path, line, header);
  return NNRT_OK;
}

int nnrt_metrics_open(nnrt_ctx *ctx, const char *path, int ncols, const char *const *columns,
                      nnrt_metrics **out)
{
  if (!ctx || !out || !path || ncols < 1 || !columns) return NNRT_EINVAL;
  *out = NULL;
  char header[4096];
  if (!rt_csv_header(ncols, columns, header, sizeof header))
    return rt_error(ctx, NNRT_EINVAL, "%s: column names must be non-empty, without , \" or newlines", path);
  FILE *f = fopen(path, "a+");
  if (!f) return rt_error(ctx, NNRT_EIO, "%s: cannot open: %s", path, strerror(errno));
  int rc = rt_metrics_check(ctx, path, f, header);
  fseek(f, 0, SEEK_END);
  if (!rc && ftell(f) == 0 && fprintf(f, "%s\n", header) < 0) rc = rt_error(ctx, NNRT_EIO, "%s: write failed", path);
  nnrt_metrics *m = rc ? NULL : rt_calloc(ctx, 1, sizeof *m);
  if (!rc && (!m || !(m->path = rt_strdup(ctx, path)))) rc = NNRT_ENOMEM;
  if (rc) {
    if (m) rt_free(ctx, m, sizeof *m);
    fclose(f);
    return rc;
  }
  fflush(f);
  m->ctx = ctx;
  m->f = f;
  m->ncols = ncols;
  *out = m;
  return NNRT_OK;
}

int nnrt_metrics_append(nnrt_metrics *m, const double *values)
{
  if (!m || !values) return NNRT_EINVAL;
  int bad = 0;
  for (int i = 0; i < m->ncols; i++) bad |= fprintf(m->f, "%s%.9g", i ? "," : "", values[i]) < 0;
  bad |= fputc('\n', m->f) == EOF;
  bad |= fflush(m->f) != 0;
  if (bad) {
    m->failed = 1;
    return rt_error(m->ctx, NNRT_EIO, "%s: write failed: %s", m->path, strerror(errno));
  }
  return NNRT_OK;
}

int nnrt_metrics_close(nnrt_metrics *m)
{
  if (!m) return NNRT_OK;
  int bad = fclose(m->f) != 0 || m->failed;
  int rc = bad ? rt_error(m->ctx, NNRT_EIO, "%s: a write failed", m->path) : NNRT_OK;
  rt_strfree(m->ctx, m->path);
  rt_free(m->ctx, m, sizeof *m);
  return rc;
}
