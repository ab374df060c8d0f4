/* type.c — symbolic dimensions, tensor types, broadcasting and the matmul rule.
 *
 * A Dim is an integer polynomial over named symbols in canonical form: a sum of terms
 * coef × (sorted product of atoms), terms sorted by degree (highest first) then by their
 * atoms' names, the constant last, no zero coefficients. Two equal polynomials therefore
 * have identical term lists, and equality is a walk over both. An atom is a symbol (`B`,
 * `hidden`) or an opaque quotient `(H - 5)/2` kept when a division is not exact (it
 * remembers numerator and denominator so that substitution can divide again).
 *
 * Division: constants divide with floor (Python's //, as shape formulas of convolution
 * and pooling want); a polynomial divides exactly when every term does (or it is a
 * multiple of the divisor), otherwise the quotient becomes an opaque atom.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

typedef struct Atom {
  const char *name;
  const Dim *num, *den;   /* opaque floor quotient when den != NULL */
} Atom;

typedef struct Term {
  int64_t coef;
  int n;
  const Atom **atoms;     /* sorted by name; repeated for powers */
} Term;

struct Dim {
  int n;
  Term *terms;
};

static void *talloc(Lang *L, size_t n) {
  return lang_alloc(L, n);
}

/* ---------------------------------------------------------------- terms */

static int atom_cmp(const Atom *a, const Atom *b) {
  return strcmp(a->name, b->name);
}

/* Orders monomials: higher degree first, then atoms by name. Coefficients ignored. */
static int mono_cmp(const Term *a, const Term *b) {
  if (a->n != b->n) return b->n - a->n;
  for (int i = 0; i < a->n; i++) {
    int c = atom_cmp(a->atoms[i], b->atoms[i]);
    if (c) return c;
  }
  return 0;
}

static int mono_cmp_q(const void *a, const void *b) {
  return mono_cmp(a, b);
}

/* Sorts terms, merges equal monomials and drops zeros, in place. */
static void dim_normalize(Dim *d) {
  qsort(d->terms, d->n, sizeof(Term), mono_cmp_q);
  int w = 0;
  for (int r = 0; r < d->n; r++) {
    if (w > 0 && mono_cmp(&d->terms[w - 1], &d->terms[r]) == 0)
      d->terms[w - 1].coef += d->terms[r].coef;
    else
      d->terms[w++] = d->terms[r];
  }
  int k = 0;
  for (int i = 0; i < w; i++)
    if (d->terms[i].coef != 0) d->terms[k++] = d->terms[i];
  d->n = k;
}

static Dim *dim_alloc(Lang *L, int nterms) {
  Dim *d = talloc(L, sizeof *d);
  if (!d) return NULL;
  d->terms = talloc(L, sizeof(Term) * (nterms ? nterms : 1));
  if (!d->terms) return NULL;
  d->n = nterms;
  return d;
}

Dim *dim_const(Lang *L, int64_t v) {
  Dim *d = dim_alloc(L, 1);
  if (!d) return NULL;
  d->terms[0].coef = v;
  d->n = v != 0;
  return d;
}

static Dim *dim_atom(Lang *L, const Atom *a) {
  Dim *d = dim_alloc(L, 1);
  if (!d) return NULL;
  d->terms[0].coef = 1;
  d->terms[0].n = 1;
  d->terms[0].atoms = talloc(L, sizeof(Atom *));
  if (!d->terms[0].atoms) return NULL;
  d->terms[0].atoms[0] = a;
  return d;
}

/* Symbol names are interned, so users may compare them by pointer (dim_is_sym). */
Dim *dim_sym(Lang *L, const char *name) {
  Atom *a = talloc(L, sizeof *a);
  if (!a) return NULL;
  a->name = lang_intern(L, name, strlen(name));
  if (!a->name) return NULL;
  return dim_atom(L, a);
}

/* a + s*b */
static Dim *dim_axpy(Lang *L, const Dim *a, int64_t s, const Dim *b) {
  if (!a || !b) return NULL;
  Dim *d = dim_alloc(L, a->n + b->n);
  if (!d) return NULL;
  memcpy(d->terms, a->terms, sizeof(Term) * a->n);
  for (int i = 0; i < b->n; i++) {
    d->terms[a->n + i] = b->terms[i];
    d->terms[a->n + i].coef *= s;
  }
  dim_normalize(d);
  return d;
}

Dim *dim_add(Lang *L, const Dim *a, const Dim *b) {
  return dim_axpy(L, a, 1, b);
}

Dim *dim_sub(Lang *L, const Dim *a, const Dim *b) {
  return dim_axpy(L, a, -1, b);
}

static int term_mul(Lang *L, const Term *x, const Term *y, Term *out) {
  out->coef = x->coef * y->coef;
  out->n = x->n + y->n;
  out->atoms = talloc(L, sizeof(Atom *) * (out->n ? out->n : 1));
  if (!out->atoms) return 0;
  int i = 0, j = 0, k = 0;
  while (i < x->n || j < y->n) {
    if (j >= y->n || (i < x->n && atom_cmp(x->atoms[i], y->atoms[j]) <= 0))
      out->atoms[k++] = x->atoms[i++];
    else
      out->atoms[k++] = y->atoms[j++];
  }
  return 1;
}

Dim *dim_mul(Lang *L, const Dim *a, const Dim *b) {
  if (!a || !b) return NULL;
  Dim *d = dim_alloc(L, a->n * b->n);
  if (!d) return NULL;
  for (int i = 0; i < a->n; i++)
    for (int j = 0; j < b->n; j++)
      if (!term_mul(L, &a->terms[i], &b->terms[j], &d->terms[i * b->n + j])) return NULL;
  dim_normalize(d);
  return d;
}

int dim_equal(const Dim *a, const Dim *b) {
  if (!a || !b) return 0;
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (a->terms[i].coef != b->terms[i].coef || mono_cmp(&a->terms[i], &b->terms[i]))
      return 0;
  return 1;
}

int dim_is_const(const Dim *d, int64_t *value) {
  if (!d) return 0;
  if (d->n == 0) {
    if (value) *value = 0;
    return 1;
  }
  if (d->n == 1 && d->terms[0].n == 0) {
    if (value) *value = d->terms[0].coef;
    return 1;
  }
  return 0;
}

int dim_has_opaque(const Dim *d) {
  for (int i = 0; d && i < d->n; i++)
    for (int j = 0; j < d->terms[i].n; j++)
      if (d->terms[i].atoms[j]->den) return 1;
  return 0;
}

int dim_is_sym(const Dim *d, const char **name) {
  if (!d || d->n != 1 || d->terms[0].n != 1 || d->terms[0].coef != 1) return 0;
  if (d->terms[0].atoms[0]->den) return 0;
  if (name) *name = d->terms[0].atoms[0]->name;
  return 1;
}

/* ---------------------------------------------------------------- division */

/* Divides term x by monomial y exactly into out; 0 when it does not divide. */
static int term_div(Lang *L, const Term *x, const Term *y, Term *out) {
  if (y->coef == 0 || x->coef % y->coef != 0 || y->n > x->n) return 0;
  out->coef = x->coef / y->coef;
  out->n = x->n - y->n;
  out->atoms = talloc(L, sizeof(Atom *) * (out->n ? out->n : 1));
  if (!out->atoms) return 0;
  int j = 0, k = 0;
  for (int i = 0; i < x->n; i++) {
    if (j < y->n && atom_cmp(x->atoms[i], y->atoms[j]) == 0) {
      j++;
      continue;
    }
    if (k >= out->n) return 0;
    out->atoms[k++] = x->atoms[i];
  }
  return j == y->n;
}

static int64_t floordiv64(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Exact quotient a / b, or NULL when it does not divide. */
static Dim *dim_exact_div(Lang *L, const Dim *a, const Dim *b) {
  if (b->n == 1) {
    Dim *d = dim_alloc(L, a->n);
    if (!d) return NULL;
    for (int i = 0; i < a->n; i++)
      if (!term_div(L, &a->terms[i], &b->terms[0], &d->terms[i])) return NULL;
    dim_normalize(d);
    return d;
  }
  if (a->n == 0) return dim_const(L, 0);
  /* a == q * b for a monomial q? */
  Term q;
  if (!term_div(L, &a->terms[0], &b->terms[0], &q)) return NULL;
  Dim qd = {1, &q};
  Dim *prod = dim_mul(L, &qd, b);
  if (!prod || !dim_equal(prod, a)) return NULL;
  Dim *d = dim_alloc(L, 1);
  if (!d) return NULL;
  d->terms[0] = q;
  return d;
}

int dim_print(const Dim *d, char *buf, size_t n);

static Dim *dim_opaque(Lang *L, const Dim *a, const Dim *b) {
  char na[128], nb[128], name[300];
  dim_print(a, na, sizeof na);
  dim_print(b, nb, sizeof nb);
  int pa = a->n > 1 || (a->n == 1 && a->terms[0].n > 0 && (a->terms[0].coef != 1 || a->terms[0].n > 1));
  int pb = b->n > 1 || (b->n == 1 && b->terms[0].n > 0 && (b->terms[0].coef != 1 || b->terms[0].n > 1));
  snprintf(name, sizeof name, "%s%s%s/%s%s%s", pa ? "(" : "", na, pa ? ")" : "", pb ? "(" : "",
           nb, pb ? ")" : "");
  Atom *at = talloc(L, sizeof *at);
  if (!at) return NULL;
  at->name = lang_intern(L, name, strlen(name));
  at->num = a;
  at->den = b;
  return dim_atom(L, at);
}

Dim *dim_floordiv(Lang *L, const Dim *a, const Dim *b) {
  if (!a || !b) return NULL;
  int64_t x, y;
  if (dim_is_const(a, &x) && dim_is_const(b, &y) && y != 0) return dim_const(L, floordiv64(x, y));
  if (dim_is_const(b, &y) && y == 1) return (Dim *)a;
  if (dim_equal(a, b)) return dim_const(L, 1);
  Dim *q = dim_exact_div(L, a, b);
  return q ? q : dim_opaque(L, a, b);
}

Dim *dim_div(Lang *L, const Dim *a, const Dim *b) {
  return dim_floordiv(L, a, b);
}

/* ---------------------------------------------------------------- substitution */

static Dim *atom_value(Lang *L, const Atom *a, int n, const char *const *names,
                       Dim *const *vals) {
  if (a->den) {
    Dim *num = dim_subst(L, a->num, n, names, vals);
    Dim *den = dim_subst(L, a->den, n, names, vals);
    return dim_floordiv(L, num, den);
  }
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], a->name) == 0 && vals[i]) return vals[i];
  return dim_atom(L, a);
}

Dim *dim_subst(Lang *L, const Dim *d, int n, const char *const *names, Dim *const *vals) {
  if (!d) return NULL;
  Dim *sum = dim_const(L, 0);
  for (int i = 0; i < d->n && sum; i++) {
    const Term *t = &d->terms[i];
    Dim *p = dim_const(L, t->coef);
    for (int j = 0; j < t->n && p; j++) p = dim_mul(L, p, atom_value(L, t->atoms[j], n, names, vals));
    sum = dim_add(L, sum, p);
  }
  return sum;
}

static void atom_each_sym(const Atom *a, void (*f)(void *, const char *), void *ctx) {
  if (a->den) {
    dim_each_sym(a->num, f, ctx);
    dim_each_sym(a->den, f, ctx);
  } else {
    f(ctx, a->name);
  }
}

void dim_each_sym(const Dim *d, void (*f)(void *, const char *), void *ctx) {
  if (!d) return;
  for (int i = 0; i < d->n; i++)
    for (int j = 0; j < d->terms[i].n; j++) atom_each_sym(d->terms[i].atoms[j], f, ctx);
}

/* d == target, d = c*x + rest with c = ±1 and x not in rest: x = (target - rest) / c. */
Dim *dim_solve(Lang *L, const Dim *d, const char *x, const Dim *target) {
  int at = -1;
  for (int i = 0; i < d->n; i++) {
    const Term *t = &d->terms[i];
    for (int j = 0; j < t->n; j++)
      if (strcmp(t->atoms[j]->name, x) == 0 || t->atoms[j]->den) {
        if (t->n != 1 || at >= 0 || t->atoms[j]->den) return NULL;
        at = i;
      }
  }
  if (at < 0) return NULL;
  int64_t c = d->terms[at].coef;
  Dim *rest = dim_alloc(L, d->n);
  if (!rest) return NULL;
  int k = 0;
  for (int i = 0; i < d->n; i++)
    if (i != at) rest->terms[k++] = d->terms[i];
  rest->n = k;
  Dim *r = dim_sub(L, target, rest);
  if (c == 1) return r;
  Dim *q = dim_floordiv(L, r, dim_const(L, c));
  /* only an exact solution: c*q must give r back */
  return q && dim_equal(dim_mul(L, q, dim_const(L, c)), r) ? q : NULL;
}

/* ---------------------------------------------------------------- printing */

typedef struct Buf {
  char *p;
  size_t n, len;
} Buf;

static void bput(Buf *b, const char *s) {
  size_t k = strlen(s);
  if (b->n && b->len + 1 < b->n) {
    size_t room = b->n - 1 - b->len;
    memcpy(b->p + b->len, s, k < room ? k : room);
    b->p[b->len + (k < room ? k : room)] = 0;
  }
  b->len += k;
}

static void bputi(Buf *b, int64_t v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  bput(b, tmp);
}

static void term_print(Buf *b, const Term *t, int first) {
  int64_t c = t->coef;
  if (!first) bput(b, c < 0 ? " - " : " + ");
  else if (c < 0) bput(b, "-");
  int64_t ac = c < 0 ? -c : c;
  if (t->n == 0 || ac != 1) {
    bputi(b, ac);
    if (t->n) bput(b, "*");
  }
  for (int j = 0; j < t->n; j++) {
    if (j) bput(b, "*");
    bput(b, t->atoms[j]->name);
  }
}

static void dim_print_b(Buf *b, const Dim *d) {
  if (!d) {
    bput(b, "?");
    return;
  }
  if (d->n == 0) bput(b, "0");
  for (int i = 0; i < d->n; i++) term_print(b, &d->terms[i], i == 0);
}

int dim_print(const Dim *d, char *buf, size_t n) {
  Buf b = {buf, n, 0};
  if (n) buf[0] = 0;
  dim_print_b(&b, d);
  return (int)b.len;
}

const char *dtype_name(DType dt) {
  static const char *names[] = {"?", "f32", "f64", "i32", "i64", "bool", "bit"};
  return dt >= 0 && dt <= DT_BIT ? names[dt] : "?";
}

static void type_print_b(Buf *b, const Type *t);
int type_print(const Type *t, char *buf, size_t n);

static void tuple_print_b(Buf *b, const Type *t) {
  bput(b, "(");
  for (int i = 0; i < t->nelems; i++) {
    if (i) bput(b, ", ");
    type_print_b(b, t->elems[i]);
  }
  bput(b, t->nelems == 1 ? ",)" : ")");
}

/* [Dense(4, 8) x 3] when the elements print alike, else each: [Dense(4, 8), Dense(8, 8)] */
static void list_print_b(Buf *b, const Type *t) {
  char first[256], other[256];
  int same = 1;
  type_print(t->nelems ? t->elems[0] : NULL, first, sizeof first);
  for (int i = 1; i < t->nelems && same; i++) {
    type_print(t->elems[i], other, sizeof other);
    same = strcmp(first, other) == 0;
  }
  bput(b, "[");
  if (same) {
    if (t->nelems) bput(b, first);
    bput(b, " x ");
    if (CT(t)->ival) dim_print_b(b, CT(t)->ival);  /* symbolic length */
    else bputi(b, t->nelems);
  } else {
    for (int i = 0; i < t->nelems; i++) {
      if (i) bput(b, ", ");
      type_print_b(b, t->elems[i]);
    }
  }
  bput(b, "]");
}

static void scalar_print_b(Buf *b, const Type *t) {
  static const char *names[] = {"?", "int", "float", "bool", "str"};
  bput(b, names[t->scalar <= ST_STR ? t->scalar : 0]);
}

static void type_print_b(Buf *b, const Type *t) {
  if (!t) {
    bput(b, "<error>");
    return;
  }
  switch (t->kind) {
  case TY_ERROR: bput(b, "<error>"); break;
  case TY_TENSOR:
    bput(b, dtype_name(t->dtype));
    bput(b, "[");
    for (int i = 0; i < t->rank; i++) {
      if (i) bput(b, ", ");
      dim_print_b(b, t->dims[i]);
    }
    bput(b, "]");
    break;
  case TY_TUPLE: tuple_print_b(b, t); break;
  case TY_SCALAR: scalar_print_b(b, t); break;
  case TY_MODULE:
    bput(b, t->decl && t->decl->name ? t->decl->name : "module");
    if (CT(t)->nh) {
      bput(b, "(");
      for (int i = 0; i < CT(t)->nh; i++) {
        const ChkType *h = CT(CT(t)->hvals[i]);
        if (i) bput(b, ", ");
        if (!h) bput(b, "?");
        else if (h->t.scalar == ST_INT) h->ival ? dim_print_b(b, h->ival) : bput(b, "?");
        else if (h->t.scalar == ST_STR && h->sval) { bput(b, "\""); bput(b, h->sval); bput(b, "\""); }
        else if (h->t.scalar == ST_BOOL && h->known) bput(b, h->fval != 0 ? "true" : "false");
        else if (h->t.scalar == ST_FLOAT && h->known) {
          char tmp[40];
          snprintf(tmp, sizeof tmp, "%g", h->fval);
          bput(b, tmp);
        } else scalar_print_b(b, &h->t);
      }
      bput(b, ")");
    }
    break;
  case TY_LIST: list_print_b(b, t); break;
  case TY_FN:
    bput(b, "fn ");
    bput(b, t->decl && t->decl->name ? t->decl->name : "(lambda)");
    break;
  case TY_NAMESPACE: bput(b, "import"); break;
  case TY_DTYPE: bput(b, "dtype"); break;
  case TY_OBJECT: bput(b, t->objkind ? t->objkind : "object"); break;
  }
}

int type_print(const Type *t, char *buf, size_t n) {
  Buf b = {buf, n, 0};
  if (n) buf[0] = 0;
  type_print_b(&b, t);
  return (int)b.len;
}

/* Per-thread rotating buffers: up to 8 printed types alive in one message. */
static char *rot_buf(void) {
  static _Thread_local char bufs[8][512];
  static _Thread_local int k;
  k = (k + 1) % 8;
  return bufs[k];
}

const char *type_str_of(const Type *t) {
  char *b = rot_buf();
  type_print(t, b, 512);
  return b;
}

const char *dim_str(const Dim *d) {
  char *b = rot_buf();
  dim_print(d, b, 512);
  return b;
}

/* ---------------------------------------------------------------- constructors */

static ChkType err_type = {.t = {.kind = TY_ERROR}};

Type *type_error(void) {
  return &err_type.t;
}

/* Out of memory, type_new hands out this per-thread sink (a TY_ERROR, reset each time) so
 * that callers filling in fields never write into the shared error type. */
static _Thread_local ChkType oom_sink;

Type *type_new(Lang *L, TypeKind k) {
  ChkType *t = talloc(L, sizeof *t);
  if (!t) {
    memset(&oom_sink, 0, sizeof oom_sink);
    return &oom_sink.t;
  }
  t->t.kind = k;
  return &t->t;
}

Type *type_tensor(Lang *L, DType dt, int rank, Dim *const *dims) {
  if (rank > NNC_MAX_RANK) return type_error();
  Type *t = type_new(L, TY_TENSOR);
  if (t->kind == TY_ERROR) return t;
  t->dtype = dt;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  return t;
}

Type *type_scalar_t(Lang *L, DType dt) {
  return type_tensor(L, dt, 0, NULL);
}

static Type *scalar(Lang *L, ScalarType st) {
  Type *t = type_new(L, TY_SCALAR);
  if (t->kind != TY_ERROR) t->scalar = st;
  return t;
}

Type *type_int(Lang *L, Dim *value) {
  Type *t = scalar(L, ST_INT);
  if (t->kind != TY_ERROR) {
    CT(t)->ival = value;
    CT(t)->known = value != NULL;
  }
  return t;
}

Type *type_float(Lang *L, int known, double v) {
  Type *t = scalar(L, ST_FLOAT);
  if (t->kind != TY_ERROR) {
    CT(t)->known = known;
    CT(t)->fval = v;
  }
  return t;
}

Type *type_bool(Lang *L, int known, int v) {
  Type *t = scalar(L, ST_BOOL);
  if (t->kind != TY_ERROR) {
    CT(t)->known = known;
    CT(t)->fval = v;
  }
  return t;
}

Type *type_str(Lang *L, const char *s) {
  Type *t = scalar(L, ST_STR);
  if (t->kind != TY_ERROR) {
    CT(t)->known = s != NULL;
    CT(t)->sval = s;
  }
  return t;
}

Type *type_tuple(Lang *L, int n, Type *const *elems) {
  Type *t = type_new(L, TY_TUPLE);
  if (t->kind == TY_ERROR) return t;
  t->elems = talloc(L, sizeof(Type *) * (n ? n : 1));
  if (!t->elems) return type_error();
  for (int i = 0; i < n; i++) t->elems[i] = elems[i];
  t->nelems = n;
  return t;
}

Type *type_object(Lang *L, const char *objkind) {
  Type *t = type_new(L, TY_OBJECT);
  if (t->kind != TY_ERROR) t->objkind = objkind;
  return t;
}

int type_is_err(const Type *t) {
  if (!t || t->kind == TY_ERROR) return 1;
  if (t->kind == TY_TUPLE)
    for (int i = 0; i < t->nelems; i++)
      if (type_is_err(t->elems[i])) return 1;
  return 0;
}

int type_equal(const Type *a, const Type *b) {
  if (!a || !b || a->kind != b->kind) return 0;
  switch (a->kind) {
  case TY_TENSOR:
    if (a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
      if (!dim_equal(a->dims[i], b->dims[i])) return 0;
    return 1;
  case TY_TUPLE:
  case TY_LIST:
    if (a->nelems != b->nelems) return 0;
    for (int i = 0; i < a->nelems; i++)
      if (!type_equal(a->elems[i], b->elems[i])) return 0;
    return 1;
  case TY_SCALAR: return a->scalar == b->scalar;
  case TY_MODULE:
  case TY_FN: return a->decl == b->decl;
  case TY_OBJECT: return a->objkind == b->objkind || (a->objkind && b->objkind && !strcmp(a->objkind, b->objkind));
  default: return 1;
  }
}

Type *type_subst(Lang *L, Type *t, int n, const char *const *names, Dim *const *vals) {
  if (!t || n == 0) return t;
  if (t->kind == TY_TENSOR) {
    Dim *d[NNC_MAX_RANK];
    for (int i = 0; i < t->rank; i++) d[i] = dim_subst(L, t->dims[i], n, names, vals);
    return type_tensor(L, t->dtype, t->rank, d);
  }
  if (t->kind == TY_TUPLE) {
    Type **e = talloc(L, sizeof(Type *) * (t->nelems ? t->nelems : 1));
    if (!e) return type_error();
    for (int i = 0; i < t->nelems; i++) e[i] = type_subst(L, t->elems[i], n, names, vals);
    return type_tuple(L, t->nelems, e);
  }
  if (t->kind == TY_SCALAR && t->scalar == ST_INT && CT(t)->ival)
    return type_int(L, dim_subst(L, CT(t)->ival, n, names, vals));
  return t;
}

/* ---------------------------------------------------------------- shape rules */

static int is_one(const Dim *d) {
  int64_t v;
  return dim_is_const(d, &v) && v == 1;
}

int type_broadcast(Lang *L, const Type *a, const Type *b, Type **out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < r; i++) {
    int ia = a->rank - r + i, ib = b->rank - r + i;
    Dim *x = ia >= 0 ? a->dims[ia] : NULL, *y = ib >= 0 ? b->dims[ib] : NULL;
    if (!x) d[i] = y;
    else if (!y) d[i] = x;
    else if (dim_equal(x, y) || is_one(y)) d[i] = x;
    else if (is_one(x)) d[i] = y;
    else return 0;
  }
  *out = type_tensor(L, a->dtype, r, d);
  return 1;
}

/* [.., M, K] @ [.., K, N] -> [.., M, N]; a 1-D left operand is [1, K] with the 1 dropped
 * afterwards, a 1-D right operand [K, 1] likewise (numpy.matmul). */
int type_matmul(Lang *L, const Type *a, const Type *b, Type **out, char *why, size_t n) {
  if (a->rank == 0 || b->rank == 0) {
    snprintf(why, n, "matmul: operands must have at least one dimension: %s @ %s",
             type_str_of(a), type_str_of(b));
    return 0;
  }
  Dim *one = dim_const(L, 1);
  Type A = *a, B = *b;
  if (a->rank == 1) {
    A.rank = 2;
    A.dims[0] = one;
    A.dims[1] = a->dims[0];
  }
  if (b->rank == 1) {
    B.rank = 2;
    B.dims[0] = b->dims[0];
    B.dims[1] = one;
  }
  Dim *k1 = A.dims[A.rank - 1], *k2 = B.dims[B.rank - 2];
  if (!dim_equal(k1, k2)) {
    snprintf(why, n, "matmul: inner dimensions differ: %s @ %s (%s vs %s)", type_str_of(a),
             type_str_of(b), dim_str(k1), dim_str(k2));
    return 0;
  }
  Type ba = A, bb = B, *bt;
  ba.rank -= 2;
  bb.rank -= 2;
  if (!type_broadcast(L, &ba, &bb, &bt)) {
    snprintf(why, n, "matmul: batch dimensions do not broadcast: %s @ %s", type_str_of(a),
             type_str_of(b));
    return 0;
  }
  Dim *d[NNC_MAX_RANK];
  int r = 0;
  for (int i = 0; i < bt->rank; i++) d[r++] = bt->dims[i];
  if (a->rank > 1) d[r++] = A.dims[A.rank - 2];
  if (b->rank > 1) d[r++] = B.dims[B.rank - 1];
  if (r > NNC_MAX_RANK) {
    snprintf(why, n, "matmul: result has more than %d dimensions", NNC_MAX_RANK);
    return 0;
  }
  *out = type_tensor(L, a->dtype, r, d);
  return 1;
}
