/* bptt_exec.c — runs a checkpointed-BPTT schedule (the action language of docs/bptt.md,
 * planned by compiler/bptt_plan.c) over generated step functions.
 *
 * The register is the forward body's carry buffers (h_c); prev holds h_{c-1}, saved just
 * before each FORWARD, because this compiler's backward body recomputes the step from the
 * carry entering it (compiler/scan.c) and so needs h_{t-1}, not step t's internals. Hence
 * an internal slot is two units, (h_{t-1}, h_t) (alpha = 2), and a FORWARD(t) directly
 * followed by BACKWARD(t) from the register is skipped in the backward phase (counted as
 * elided): the backward body redoes that step anyway.
 * nnrt_bptt_forward runs the actions up to the first BACKWARD (the first sweep: every
 * FORWARD writes the scan's outputs y_t); nnrt_bptt_backward runs the rest. */
#include <string.h>

#include "bptt_exec.h"
#include "rt.h"

enum { A_FORWARD, A_SAVE_HIDDEN, A_SAVE_INTERNAL, A_RESTORE, A_BACKWARD, A_FREE };

static char *arena(nnrt_bptt_rec *r) { return (char *)r->slots[r->arena_slot]; }
static char *unit(nnrt_bptt_rec *r, int u) { return arena(r) + r->units_off + (int64_t)u * r->unit_bytes; }

/* Packs the register (carry buffers at offs) into dst, or unpacks src into them. */
static void pack(nnrt_bptt_rec *r, const int64_t *offs, char *dst) {
  int64_t p = 0;
  for (int j = 0; j < r->nc; j++) {
    memcpy(dst + p, arena(r) + offs[j], (size_t)r->piece_bytes[j]);
    p += r->piece_bytes[j];
  }
}

static void unpack(nnrt_bptt_rec *r, const char *src, const int64_t *offs) {
  int64_t p = 0;
  for (int j = 0; j < r->nc; j++) {
    memcpy(arena(r) + offs[j], src + p, (size_t)r->piece_bytes[j]);
    p += r->piece_bytes[j];
  }
}

/* The planner's step t (1..T) is the scan's time index t-1, or T-t for a reverse scan. */
static void set_t(nnrt_bptt_rec *r, int32_t step) {
  *(int64_t *)(arena(r) + r->tcell_off) = r->rev ? r->T - step : step - 1;
}

static int slot_ok(const nnrt_bptt_rec *r, int u, int w) { return u >= 0 && u + w <= r->m; }

static void use_units(nnrt_bptt_rec *r, int k) {
  r->live_units += k;
  if (r->live_units > r->peak_units)
    r->peak_units = r->live_units;
}

/* One action; `elide` allows skipping a FORWARD whose step is backed right after. */
static void act(nnrt_bptt_rec *r, int64_t i, int elide) {
  const int32_t *a = r->acts + 3 * i;
  int op = a[0], t = a[1], u = a[2], w = 1;
  char *prev = arena(r) + r->prev_off;
  switch (op) {
  case A_FORWARD:
    pack(r, r->reg_off, prev);
    if (elide && i + 1 < r->n && a[3] == A_BACKWARD && a[4] == t && a[5] < 0) {
      r->elided++;
      return;
    }
    set_t(r, t);
    (elide ? r->refwd : r->fwd)(r->slots); /* elide: the backward phase, y_t written already */
    r->forwards++;
    return;
  case A_SAVE_INTERNAL:
    w = r->alpha;
    /* fallthrough */
  case A_SAVE_HIDDEN:
    if (!slot_ok(r, u, w)) break;
    if (op == A_SAVE_INTERNAL) {
      memcpy(unit(r, u), prev, (size_t)r->unit_bytes);
      pack(r, r->reg_off, unit(r, u + 1));
    } else
      pack(r, r->reg_off, unit(r, u));
    r->kind[u] = op == A_SAVE_INTERNAL;
    use_units(r, w);
    return;
  case A_RESTORE:
    if (!slot_ok(r, u, 1)) break;
    if (r->kind[u]) {
      memcpy(prev, unit(r, u), (size_t)r->unit_bytes);
      unpack(r, unit(r, u + 1), r->reg_off);
    } else
      unpack(r, unit(r, u), r->reg_off);
    return;
  case A_BACKWARD:
    if (u >= 0 && !slot_ok(r, u, 1)) break;
    unpack(r, u < 0 ? prev : unit(r, u), r->cin_off);
    set_t(r, t);
    r->bwd(r->slots);
    r->backwards++;
    return;
  case A_FREE:
    if (!slot_ok(r, u, 1)) break;
    r->live_units -= r->kind[u] ? r->alpha : 1;
    return;
  default:
    break;
  }
  r->bad = 1;
}

void nnrt_bptt_forward(int64_t *cell) {
  nnrt_bptt_rec *r = (nnrt_bptt_rec *)(intptr_t)*cell;
  r->forwards = r->elided = r->backwards = 0;
  r->live_units = r->peak_units = 0;
  r->bad = 0;
  int64_t i = 0;
  for (; i < r->n && r->acts[3 * i] != A_BACKWARD; i++)
    act(r, i, 0);
  r->pos = i;
}

void nnrt_bptt_backward(int64_t *cell) {
  nnrt_bptt_rec *r = (nnrt_bptt_rec *)(intptr_t)*cell;
  for (int64_t i = r->pos; i < r->n; i++)
    act(r, i, 1);
  r->pos = r->n;
}
