/* gen.c — the tabletop grounding task of entry 28 of shared/models.md (calibrated): an
 * instruction "touch EXPR" over a scene of 3 slots (left, centre, right) holding coloured
 * objects (red, green, blue, yellow; colours may repeat); the target is a 2-link arm's
 * joint trajectory touching every slot that satisfies EXPR, left to right (8 steps out and
 * 8 back per touch, minimum jerk s = 10 u^3 - 15 u^4 + 6 u^5 in joint space), or a shake
 * gesture when none does; then one end step.
 *
 * EXPR: 1 to 3 literals ([not] colour-or-slot) joined by "and" / "or" (not > and > or),
 * at most 2 "not"s: 10,010 expressions. 20% of the expression strings are held out (seeded
 * shuffle, the same for every SEED, as is the test set); scenes are random. One row of x:
 *   ids[8] (left padded, 0 = pad) | scene[12] (3 x one-hot 4) | q0[2] | q[49][2] | end[49] | mask[49]
 * y (i32): 1 when the expression is bag-ambiguous (another expression with the same words
 * means something else), else 0.
 *
 * usage: gen OUTDIR [NTRAIN=64000] [NTEST=2000] [SEED=0]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { PAD, TOUCH, NOT, AND, OR, RED, GREEN, BLUE, YELLOW, LEFT, CENTRE, RIGHT, VOCAB };
enum { NIN = 8, NSCENE = 12, TOUT = 49, ROW = NIN + NSCENE + 2 + 3 * TOUT + TOUT };

typedef struct Expr {
  int nlit, atom[3], neg[3], op[2];   /* atom: RED..RIGHT; op: AND / OR */
  unsigned truth;                     /* bit (colour * 3 + slot): satisfied */
  int ambiguous;
} Expr;

static uint64_t rng_state;
static uint64_t rnd(void) {           /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int lit(const Expr *e, int i, int colour, int slot) {
  int a = e->atom[i];
  int v = a <= YELLOW ? a - RED == colour : a - LEFT == slot;
  return v ^ e->neg[i];
}

/* not > and > or, left to right */
static int holds(const Expr *e, int colour, int slot) {
  int v[3], n = e->nlit;
  for (int i = 0; i < n; i++) v[i] = lit(e, i, colour, slot);
  if (n == 1) return v[0];
  if (n == 2) return e->op[0] == AND ? v[0] && v[1] : v[0] || v[1];
  if (e->op[0] == AND && e->op[1] == OR) return (v[0] && v[1]) || v[2];
  if (e->op[0] == OR && e->op[1] == AND) return v[0] || (v[1] && v[2]);
  if (e->op[0] == AND) return v[0] && v[1] && v[2];
  return v[0] || v[1] || v[2];
}

static int tokens(const Expr *e, int *ids) {
  int t[NIN], n = 0;
  t[n++] = TOUCH;
  for (int i = 0; i < e->nlit; i++) {
    if (i) t[n++] = e->op[i - 1];
    if (e->neg[i]) t[n++] = NOT;
    t[n++] = e->atom[i];
  }
  for (int i = 0; i < NIN; i++) ids[i] = i < NIN - n ? PAD : t[i - (NIN - n)];
  return n;
}

static int enumerate(Expr *out) {
  int n = 0;
  for (int nlit = 1; nlit <= 3; nlit++)
    for (int code = 0; code < (int)pow(14, nlit) * (1 << (nlit - 1)); code++) {
      Expr e = {.nlit = nlit};
      int c = code, nots = 0;
      for (int i = 0; i < nlit; i++, c /= 14) e.atom[i] = RED + c % 14 / 2, e.neg[i] = c % 2, nots += e.neg[i];
      for (int i = 0; i < nlit - 1; i++, c /= 2) e.op[i] = c % 2 ? OR : AND;
      if (nots > 2) continue;
      for (int col = 0; col < 4; col++)
        for (int s = 0; s < 3; s++) e.truth |= (unsigned)holds(&e, col, s) << (col * 3 + s);
      out[n++] = e;
    }
  return n;
}

/* bag-ambiguous: another expression with the same multiset of tokens and another meaning */
static void mark_ambiguous(Expr *x, int n) {
  int (*bag)[VOCAB] = calloc((size_t)n, sizeof *bag);
  for (int i = 0; i < n; i++) {
    int ids[NIN];
    tokens(&x[i], ids);
    for (int k = 0; k < NIN; k++) bag[i][ids[k]]++;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n && !x[i].ambiguous; j++)
      if (x[j].truth != x[i].truth && !memcmp(bag[i], bag[j], sizeof bag[i])) x[i].ambiguous = 1;
  free(bag);
}

/* elbow-up inverse kinematics, links 0.6 */
static void ik(double px, double py, double *q) {
  double D = (px * px + py * py - 0.72) / 0.72;
  q[1] = -acos(D);
  q[0] = atan2(py, px) - atan2(0.6 * sin(q[1]), 0.6 + 0.6 * cos(q[1]));
}

static const double slot_xy[3][2] = {{-0.5, 0.8}, {0.0, 0.9}, {0.5, 0.8}}, home_xy[2] = {0.0, 0.3};

/* one example into row r */
static void example(const Expr *e, float *r, int32_t *y) {
  int ids[NIN], scene[3];
  tokens(e, ids);
  for (int i = 0; i < NIN; i++) r[i] = (float)ids[i];
  float *sc = r + NIN, *q0 = sc + NSCENE, *q = q0 + 2, *end = q + 2 * TOUT, *m = end + TOUT;
  memset(sc, 0, sizeof(float) * (ROW - NIN));
  for (int s = 0; s < 3; s++) scene[s] = (int)(rnd() % 4), sc[s * 4 + scene[s]] = 1;
  double home[2], tgt[2];
  ik(home_xy[0], home_xy[1], home);
  q0[0] = (float)home[0], q0[1] = (float)home[1];
  int t = 0, touched = 0;
  for (int s = 0; s < 3; s++) {
    if (!((e->truth >> (scene[s] * 3 + s)) & 1)) continue;
    touched = 1;
    ik(slot_xy[s][0], slot_xy[s][1], tgt);
    for (int k = 1; k <= 16; k++, t++) {
      double u = k <= 8 ? k / 8.0 : (16 - k) / 8.0, w = u * u * u * (10 - 15 * u + 6 * u * u);
      for (int j = 0; j < 2; j++) q[2 * t + j] = (float)(home[j] + w * (tgt[j] - home[j]));
      m[t] = 1;
    }
  }
  if (!touched)                       /* shake: the shoulder swings +-0.4 rad around home */
    for (int k = 1; k <= 16; k++, t++) {
      q[2 * t] = (float)(home[0] + 0.4 * sin(2 * M_PI * k / 8.0)), q[2 * t + 1] = (float)home[1];
      m[t] = 1;
    }
  q[2 * t] = (float)home[0], q[2 * t + 1] = (float)home[1], end[t] = 1, m[t] = 1;
  *y = e->ambiguous;
}

static int write(nnrt_ctx *ctx, const char *dir, const char *name, const Expr *x, const int *pick, int npick,
                 int64_t n) {
  float *rows = malloc(sizeof(float) * (size_t)(n * ROW));
  int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
  if (!rows || !y) return 1;
  for (int64_t i = 0; i < n; i++) example(&x[pick[rnd() % (uint64_t)npick]], rows + i * ROW, y + i);
  char path[1024];
  int64_t dx[2] = {n, ROW}, dy[1] = {n};
  nnrt_tensor *tx = NULL, *ty = NULL;
  int rc = nnrt_tensor_wrap(ctx, NNRT_F32, 2, dx, rows, &tx) || nnrt_tensor_wrap(ctx, NNRT_I32, 1, dy, y, &ty);
  snprintf(path, sizeof path, "%s/%s_x.npy", dir, name);
  rc = rc || nnrt_save_npy(ctx, path, tx);
  snprintf(path, sizeof path, "%s/%s_y.npy", dir, name);
  rc = rc || nnrt_save_npy(ctx, path, ty);
  if (rc) fprintf(stderr, "gen: %s\n", nnrt_errmsg(ctx));
  nnrt_tensor_free(tx), nnrt_tensor_free(ty), free(rows), free(y);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gen OUTDIR [NTRAIN=64000] [NTEST=2000] [SEED=0]\n");
    return 2;
  }
  int64_t ntrain = argc > 2 ? atoll(argv[2]) : 64000, ntest = argc > 3 ? atoll(argv[3]) : 2000;
  uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
  rng_state = 0;                      /* the held-out split is the same for every SEED */
  Expr *x = malloc(sizeof(Expr) * 12000);
  int *order = malloc(sizeof(int) * 12000);
  if (!x || !order) return 1;
  int n = enumerate(x);
  mark_ambiguous(x, n);
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j], order[j] = t;
  }
  int nheld = n / 5, amb = 0;
  for (int i = 0; i < n; i++) amb += x[i].ambiguous;
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!ctx) return 1;
  int rc = write(ctx, argv[1], "test", x, order, nheld, ntest);   /* the same test set too */
  rng_state = 0x5eed0000 + seed;
  rc = rc || write(ctx, argv[1], "train", x, order + nheld, n - nheld, ntrain);
  printf("%d expressions (%d bag-ambiguous), %d held out; %lld train / %lld test examples, row %d\n", n, amb,
         nheld, (long long)ntrain, (long long)ntest, ROW);
  nnrt_ctx_free(ctx), free(x), free(order);
  return rc;
}
