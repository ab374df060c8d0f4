/* memplan.c — memory planning of a lowered function: the arena buffers get offsets by
 * liveness over the kernel schedule instead of one bump-allocated range each.
 *
 * Algorithm (shared/notes/compiler-techniques.md §3):
 *   1. Allocations: arena buffers at the same bump offset are one allocation (reshape views
 *      alias their input). Lifetime = [first, last] kernel touching any of its buffers; a
 *      kernel inside a repeat counts as the whole repeat (carries live across steps).
 *   2. In-place (MXNet's FInplaceOption, §3.1): a loop kernel outside repeats whose last
 *      store writes allocation O (first touched here) elementwise, where an input
 *      allocation I of the same size dies in this kernel and every load of I uses the
 *      store's own index, writes into I's memory (O and I become one allocation).
 *   3. Offsets greedy by size, best gap (TFLite GPU's GreedyBySizeAssignment, §3.2):
 *      allocations in non-increasing size, each at the smallest gap between the placed
 *      allocations that overlap it in time, else after the last of them; 64-byte aligned.
 *   4. The lower bound is the peak over kernels of the live bytes (§3.3).
 * Functions calling the BPTT executor are planned too: lower_scan.c marks what the
 * executor and its step functions use with one-point kernels around the calls, and
 * lscan_bind reads the planned offsets back (docs/bptt.md). */
#include "fuse.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 64

typedef struct alloc {
  int64_t off0;    /* bump offset in bytes (identity) */
  int64_t bytes;   /* rounded up to ALIGN */
  int first, last; /* kernel interval */
  int parent;      /* in-place: the allocation whose memory this one uses, else -1 */
  int64_t off;     /* planned offset */
} alloc;

typedef struct live {
  int first, last;
} live;

typedef struct mp {
  kir_func *f;
  int arena;
  int nk;
  int *span_lo, *span_hi; /* [nkernel] the kernel range a use at kernel k stands for */
  int *aof;               /* [nbuf] allocation of an arena buffer, -1 */
  alloc *a;
  int na;
  live *l;         /* memplan_check: per buffer */
} mp;

static int64_t rnd(int64_t b) { return (b + ALIGN - 1) / ALIGN * ALIGN; }

static int64_t buf_bytes(const kir_buf *b) { return b->size * kir_dtype_size(b->dt); }

/* Kernel spans: a kernel inside a repeat stands for the whole repeat. */
static void spans(mp *p) {
  const kir_func *f = p->f;
  for (int k = 0; k < f->nkernel; k++)
    p->span_lo[k] = p->span_hi[k] = k;
  for (int k = 0; k < f->nkernel; k++)
    if (f->kernel[k].kind == KIR_REPEAT) {
      int e = k + f->kernel[k].nbody;
      for (int j = k; j <= e && j < f->nkernel; j++)
        p->span_lo[j] = k, p->span_hi[j] = e < f->nkernel ? e : f->nkernel - 1;
    }
}

static void touch(mp *p, int buf, int k) {
  if (buf < 0 || p->aof[buf] < 0)
    return;
  alloc *a = &p->a[p->aof[buf]];
  int lo = p->span_lo[k], hi = p->span_hi[k];
  if (a->first < 0 || lo < a->first)
    a->first = lo;
  if (hi > a->last)
    a->last = hi;
}

/* Calls fn(p, buf, k) for each buffer expression e (a tree) loads. */
static void expr_bufs(mp *p, int e, int k, void (*fn)(mp *, int, int)) {
  if (e < 0)
    return;
  const kir_expr *x = &p->f->expr[e];
  if (x->kind == KX_LOAD) {
    fn(p, x->buf, k);
    expr_bufs(p, x->dyn.expr, k, fn);
    return;
  }
  if (x->kind == KX_OP || x->kind == KX_CAST || x->kind == KX_RT)
    for (int i = 0; i < 3; i++)
      expr_bufs(p, x->arg[i], k, fn);
}

static void kernel_bufs(mp *p, int k, void (*fn)(mp *, int, int)) {
  const kir_kernel *K = &p->f->kernel[k];
  if (K->kind == KIR_LOOP)
    for (int s = K->store0; s < K->store0 + K->nstore; s++) {
      const kir_store *st = &p->f->store[s];
      fn(p, st->buf, k);
      expr_bufs(p, st->value, k, fn);
      expr_bufs(p, st->post, k, fn);
      expr_bufs(p, st->dyn.expr, k, fn);
    }
  else if (K->kind == KIR_CALL)
    for (int i = K->arg0; i < K->arg0 + K->narg; i++)
      if (p->f->arg[i].kind == KIR_ARG_BUF)
        fn(p, p->f->arg[i].buf, k);
}

/* Allocations by bump offset; returns -1 when out of memory. */
static int collect(mp *p) {
  kir_func *f = p->f;
  for (int b = 0; b < f->nbuf; b++) {
    p->aof[b] = -1;
    if (f->buf[b].slot != p->arena)
      continue;
    int i = 0;
    for (; i < p->na && p->a[i].off0 != f->buf[b].offset * kir_dtype_size(f->buf[b].dt); i++)
      ;
    if (i == p->na)
      p->a[p->na++] = (alloc){f->buf[b].offset * kir_dtype_size(f->buf[b].dt), 0, -1, -1, -1, 0};
    if (rnd(buf_bytes(&f->buf[b])) > p->a[i].bytes)
      p->a[i].bytes = rnd(buf_bytes(&f->buf[b]));
    p->aof[b] = i;
  }
  for (int k = 0; k < f->nkernel; k++)
    kernel_bufs(p, k, touch);
  return 0;
}

static int root(const mp *p, int i) {
  while (p->a[i].parent >= 0)
    i = p->a[i].parent;
  return i;
}

/* Does every load of allocation `in` in the expression tree e use index x (no dyn)? */
static int loads_match(const mp *p, int e, int in, const kir_index *x) {
  if (e < 0)
    return 1;
  const kir_expr *q = &p->f->expr[e];
  if (q->kind == KX_LOAD) {
    if (p->aof[q->buf] < 0 || root(p, p->aof[q->buf]) != in)
      return 1;
    return q->dyn.expr < 0 && !memcmp(&q->idx, x, sizeof *x);
  }
  if (q->kind == KX_OP || q->kind == KX_CAST || q->kind == KX_RT)
    return loads_match(p, q->arg[0], in, x) && loads_match(p, q->arg[1], in, x) && loads_match(p, q->arg[2], in, x);
  return 1;
}

static int inplace_candidate(const mp *p, int k, const kir_store *st, int o, int e, int *in) {
  if (e < 0)
    return 0;
  const kir_expr *q = &p->f->expr[e];
  if (q->kind == KX_LOAD) {
    int i = p->aof[q->buf] >= 0 ? root(p, p->aof[q->buf]) : -1;
    if (i < 0 || i == o || p->a[i].last != k || p->a[i].bytes != p->a[o].bytes ||
        p->f->buf[q->buf].dt != p->f->buf[st->buf].dt || p->f->buf[q->buf].size != p->f->buf[st->buf].size)
      return 0;
    *in = i;
    return 1;
  }
  if (q->kind == KX_OP || q->kind == KX_CAST)
    for (int j = 0; j < 3; j++)
      if (inplace_candidate(p, k, st, o, q->arg[j], in))
        return 1;
  return 0;
}

static int inplace(mp *p) {
  int n = 0;
  for (int k = 0; k < p->f->nkernel; k++) {
    const kir_kernel *K = &p->f->kernel[k];
    if (K->kind != KIR_LOOP || K->nstore < 1 || p->span_lo[k] != k || p->span_hi[k] != k)
      continue;
    const kir_store *st = &p->f->store[K->store0 + K->nstore - 1];
    if (st->red != KIR_RED_NONE || st->dyn.expr >= 0 || st->accum || p->aof[st->buf] < 0)
      continue;
    int o = root(p, p->aof[st->buf]), in = -1;
    if (p->a[o].first != k || p->a[o].parent >= 0 || !inplace_candidate(p, k, st, o, st->value, &in))
      continue;
    int ok = 1;
    for (int s = K->store0; s < K->store0 + K->nstore && ok; s++)
      ok = loads_match(p, p->f->store[s].value, in, &st->idx) && p->f->store[s].post < 0 &&
           (s == K->store0 + K->nstore - 1 || p->f->store[s].buf != st->buf);
    for (int s = K->store0; s < K->store0 + K->nstore && ok; s++)
      ok = p->aof[p->f->store[s].buf] < 0 || root(p, p->aof[p->f->store[s].buf]) != in;
    if (!ok)
      continue;
    p->a[o].parent = in;
    p->a[in].last = p->a[o].last;
    n++;
  }
  return n;
}

static int by_size(const void *x, const void *y) {
  const alloc *a = *(alloc *const *)x, *b = *(alloc *const *)y;
  if (a->bytes != b->bytes)
    return a->bytes < b->bytes ? 1 : -1;
  return a->first - b->first;
}

static int by_off(const void *x, const void *y) {
  const alloc *a = *(alloc *const *)x, *b = *(alloc *const *)y;
  return a->off < b->off ? -1 : a->off > b->off;
}

static int live_overlap(const alloc *a, const alloc *b) { return a->first <= b->last && b->first <= a->last; }

/* Greedy by size, best gap. Returns the arena size or -1. */
static int64_t place(mp *p) {
  alloc **order = malloc(sizeof *order * (size_t)(p->na + 1)), **near = malloc(sizeof *near * (size_t)(p->na + 1));
  if (!order || !near) {
    free(order), free(near);
    return -1;
  }
  int n = 0;
  for (int i = 0; i < p->na; i++)
    if (p->a[i].parent < 0 && p->a[i].first >= 0)
      order[n++] = &p->a[i];
  qsort(order, (size_t)n, sizeof *order, by_size);
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    int m = 0;
    for (int j = 0; j < i; j++)
      if (live_overlap(order[i], order[j]))
        near[m++] = order[j];
    qsort(near, (size_t)m, sizeof *near, by_off);
    int64_t best = -1, best_gap = 0, at = 0;
    for (int j = 0; j < m; j++) {
      int64_t gap = near[j]->off - at;
      if (gap >= order[i]->bytes && (best < 0 || gap < best_gap))
        best = at, best_gap = gap;
      if (near[j]->off + near[j]->bytes > at)
        at = near[j]->off + near[j]->bytes;
    }
    order[i]->off = best >= 0 ? best : at;
    if (order[i]->off + order[i]->bytes > total)
      total = order[i]->off + order[i]->bytes;
  }
  free(order), free(near);
  return total;
}

static int64_t lower_bound(const mp *p) {
  int64_t peak = 0;
  for (int k = 0; k < p->f->nkernel; k++) {
    int64_t live = 0;
    for (int i = 0; i < p->na; i++)
      if (p->a[i].parent < 0 && p->a[i].first >= 0 && p->a[i].first <= k && k <= p->a[i].last)
        live += p->a[i].bytes;
    if (live > peak)
      peak = live;
  }
  return peak;
}

int64_t memplan_run(kir_func *f, int arena, memplan_stats *st) {
  memplan_stats z = {0};
  mp p = {.f = f, .arena = arena, .nk = f->nkernel};
  p.span_lo = malloc(sizeof(int) * (size_t)(f->nkernel + 1));
  p.span_hi = malloc(sizeof(int) * (size_t)(f->nkernel + 1));
  p.aof = malloc(sizeof(int) * (size_t)(f->nbuf + 1));
  p.a = malloc(sizeof *p.a * (size_t)(f->nbuf + 1));
  int64_t total = -1;
  if (p.span_lo && p.span_hi && p.aof && p.a) {
    spans(&p);
    collect(&p);
    for (int i = 0; i < p.na; i++)
      if (p.a[i].off0 + p.a[i].bytes > z.naive_bytes)
        z.naive_bytes = p.a[i].off0 + p.a[i].bytes;
    z.inplace = inplace(&p);
    z.lower_bound = lower_bound(&p);
    total = place(&p);
    for (int b = 0; total >= 0 && b < f->nbuf; b++)
      if (p.aof[b] >= 0) {
        int sz = kir_dtype_size(f->buf[b].dt);
        f->buf[b].offset = p.a[root(&p, p.aof[b])].off / sz;
        f->buf[b].alloc = p.aof[b];
      }
    z.planned_bytes = total;
    z.nbufs = p.na;
  }
  free(p.span_lo), free(p.span_hi), free(p.aof), free(p.a);
  if (st)
    *st = z;
  return total;
}

/* ------------------------------------------------------------- checker ---- */

static void touch_live(mp *p, int buf, int k) {
  if (buf < 0 || p->f->buf[buf].slot != p->arena)
    return;
  live *l = &p->l[buf];
  if (l->first < 0 || p->span_lo[k] < l->first)
    l->first = p->span_lo[k];
  if (p->span_hi[k] > l->last)
    l->last = p->span_hi[k];
}

/* Are all loads of buffer `in` in expression e at index x, without a data term? */
static int loads_at(const kir_func *f, int e, int in, const kir_index *x) {
  if (e < 0)
    return 1;
  const kir_expr *q = &f->expr[e];
  if (q->kind == KX_LOAD)
    return q->buf != in || (q->dyn.expr < 0 && !memcmp(&q->idx, x, sizeof *x));
  if (q->kind == KX_OP || q->kind == KX_CAST || q->kind == KX_RT)
    return loads_at(f, q->arg[0], in, x) && loads_at(f, q->arg[1], in, x) && loads_at(f, q->arg[2], in, x);
  return 1;
}

/* Is kernel k a legal in-place handoff from `in` (dying at k) to `out` (born at k): out
 * is written by k's last store, elementwise, and every load of in uses that index? */
static int handoff(const kir_func *f, int k, int in, int out, const live *l) {
  const kir_kernel *K = &f->kernel[k];
  if (K->kind != KIR_LOOP || K->nstore < 1 || l[in].last != k || l[out].first != k)
    return 0;
  const kir_store *st = &f->store[K->store0 + K->nstore - 1];
  if (st->buf != out || st->red != KIR_RED_NONE || st->dyn.expr >= 0 || st->accum)
    return 0;
  for (int s = K->store0; s < K->store0 + K->nstore; s++)
    if (f->store[s].buf == in || !loads_at(f, f->store[s].value, in, &st->idx) || f->store[s].post >= 0)
      return 0;
  return 1;
}

int memplan_check(const kir_func *f, int arena, char *msg, size_t msgsz) {
  mp p = {.f = (kir_func *)f, .arena = arena};
  p.span_lo = malloc(sizeof(int) * (size_t)(f->nkernel + 1));
  p.span_hi = malloc(sizeof(int) * (size_t)(f->nkernel + 1));
  live *l = malloc(sizeof *l * (size_t)(f->nbuf + 1));
  int rc = 0;
  if (!p.span_lo || !p.span_hi || !l) {
    snprintf(msg, msgsz, "out of memory");
    rc = -1;
  }
  for (int b = 0; rc == 0 && b < f->nbuf; b++)
    l[b] = (live){-1, -1};
  if (rc == 0) {
    spans(&p);
    p.l = l;
    for (int k = 0; k < f->nkernel; k++)
      kernel_bufs(&p, k, touch_live);
  }
  for (int a = 0; rc == 0 && a < f->nbuf; a++)
    for (int b = a + 1; rc == 0 && b < f->nbuf; b++) {
      const kir_buf *x = &f->buf[a], *y = &f->buf[b];
      if (x->slot != arena || y->slot != arena || l[a].first < 0 || l[b].first < 0)
        continue;
      int64_t x0 = x->offset * kir_dtype_size(x->dt), x1 = x0 + buf_bytes(x);
      int64_t y0 = y->offset * kir_dtype_size(y->dt), y1 = y0 + buf_bytes(y);
      if (x1 <= x0 || y1 <= y0 || x1 <= y0 || y1 <= x0)
        continue; /* disjoint bytes */
      int lo = l[a].first > l[b].first ? l[a].first : l[b].first;
      int hi = l[a].last < l[b].last ? l[a].last : l[b].last;
      if (lo > hi)
        continue; /* never live together */
      if (x0 == y0 && x1 == y1 && x->alloc == y->alloc && x->alloc >= 0)
        continue; /* views of one allocation */
      if (lo == hi && (handoff(f, lo, a, b, l) || handoff(f, lo, b, a, l)))
        continue; /* an in-place handoff within one kernel */
      snprintf(msg, msgsz, "buffers %s and %s overlap in bytes [%lld, %lld) while both live (kernels %d..%d)",
               x->name, y->name, (long long)(x0 > y0 ? x0 : y0), (long long)(x1 < y1 ? x1 : y1), lo, hi);
      rc = -1;
    }
  free(p.span_lo), free(p.span_hi), free(l);
  return rc;
}

void memplan_print(const kir_func *f, const memplan_stats *st, FILE *out) {
  fprintf(out, "memory %s: %d arena allocations (%d in place), planned %lld bytes, lower bound %lld (%.3fx), "
               "unplanned %lld\n",
          f->name, st->nbufs, st->inplace, (long long)st->planned_bytes, (long long)st->lower_bound,
          st->lower_bound ? (double)st->planned_bytes / (double)st->lower_bound : 1.0, (long long)st->naive_bytes);
}
