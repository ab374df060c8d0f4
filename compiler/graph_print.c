/* graph_print.c — the stable text dump of a graph (`--dump=graph`), one node per line:
 *
 *   %0 = input "x" : f32[4, 3]
 *   %2 = matmul %0, %1 [0, 1] : f32[4, 5]
 *   %5, %6 = split %4 [1, 2, 3] : f32[4, 2], f32[4, 3]
 *   %9 = dropout %8 [0] (0.5) stream=3 : f32[4, 5]
 *   return %9
 *
 * Integer attributes print in [...], float attributes in (...); a scan or custom_grad
 * prints its subgraphs indented below it. The format is part of the tests (golden text):
 * change it only together with them. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} Buf;

static void put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Buf *b, const char *fmt, ...)
{
  va_list ap;
  for (int tries = 0; tries < 2 && !b->oom; tries++) {
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t nc = (b->cap ? b->cap * 2 : 256) + (size_t)n;
    char *q = realloc(b->s, nc);
    if (!q) b->oom = 1;
    else b->s = q, b->cap = nc;
  }
}

static void print_graph(Buf *b, const IrGraph *g, int depth);

static void print_attrs(Buf *b, const IrNode *n)
{
  const IrAttrs *a = &n->attr;
  if (a->nint) {
    put(b, " [");
    for (int i = 0; i < a->nint; i++) put(b, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
    put(b, "]");
  }
  if (a->nflt) {
    put(b, " (");
    for (int i = 0; i < a->nflt; i++) put(b, "%s%g", i ? ", " : "", a->flts[i]);
    put(b, ")");
  }
  if (ir_ops[n->op].flags & IR_RANDOM) put(b, " stream=%llu", (unsigned long long)a->stream);
}

static void print_leaf(Buf *b, const IrNode *n)
{
  if (n->op == OP_CONST) {
    if (n->ncdata == 1) put(b, " %g", n->cdata[0]);
    else {
      put(b, " {");
      for (int64_t i = 0; i < n->ncdata && i < 8; i++) put(b, "%s%g", i ? ", " : "", n->cdata[i]);
      put(b, n->ncdata > 8 ? ", ...}" : "}");
    }
    return;
  }
  int pos = n->op == OP_INPUT ? (int)n->attr.ints[IR_MAX_INTS - 1] : 0;
  if (pos) put(b, " #%d", pos - 1);
  else put(b, " \"%s\"", n->name ? n->name : "");
  if (n->init) put(b, " init=%s", n->init);
}

static void print_node(Buf *b, const IrGraph *g, const IrNode *n, int depth)
{
  char ts[128];
  put(b, "%*s", 2 * depth, "");
  for (int k = 0; k < n->nout; k++) put(b, "%s%%%d", k ? ", " : "", n->out[k]);
  put(b, " = %s", ir_ops[n->op].name);
  if (ir_ops[n->op].flags & IR_LEAF) print_leaf(b, n);
  if (n->op == OP_HOST_CALL) put(b, " \"%s\"", n->name ? n->name : "");
  for (int i = 0; i < n->nin; i++) put(b, "%s%%%d", i ? ", " : " ", n->in[i]);
  if (!(ir_ops[n->op].flags & IR_LEAF)) print_attrs(b, n);
  put(b, " :");
  for (int k = 0; k < n->nout; k++) put(b, "%s %s", k ? "," : "", ir_type_str(&g->vals[n->out[k]].t, ts, sizeof ts));
  put(b, "\n");
  for (int s = 0; s < 2; s++)
    if (n->sub[s]) {
      put(b, "%*s%s {\n", 2 * depth + 2, "", n->op == OP_SCAN ? "body" : s ? "backward" : "forward");
      print_graph(b, n->sub[s], depth + 2);
      put(b, "%*s}\n", 2 * depth + 2, "");
    }
}

static void print_graph(Buf *b, const IrGraph *g, int depth)
{
  for (int i = 0; i < g->nnodes; i++) print_node(b, g, g->nodes[i], depth);
  if (!g->nouts) return;
  put(b, "%*sreturn", 2 * depth, "");
  for (int i = 0; i < g->nouts; i++) put(b, "%s%%%d", i ? ", " : " ", g->outs[i]);
  put(b, "\n");
}

char *ir_print_str(const IrGraph *g)
{
  Buf b = {0};
  put(&b, "%s", "");
  print_graph(&b, g, 0);
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

int ir_print(const IrGraph *g, FILE *f)
{
  char *s = ir_print_str(g);
  if (!s) return -1;
  int rc = fputs(s, f) < 0 ? -1 : 0;
  free(s);
  return rc;
}
