/* cse.c — common-subexpression elimination.
 *
 * Algorithm: value numbering over the SSA graph in topological order (Cocke 1970; the
 * hash-consing form of Click, "Global Code Motion / Global Value Numbering", PLDI 1995,
 * restricted to one block since the graph has no control flow). Two nodes are the same
 * when op, renamed inputs, attributes and (for constants) payload are equal. Random ops
 * compare their stream ids, so only draws that are identical by construction merge.
 * Inputs, params, states and host calls are never merged; scan and custom_grad nodes neither, but
 * their subgraphs are processed recursively. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t node_hash(const IrNode *n, const IrVal *in)
{
  uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)n->op);
  for (int i = 0; i < n->nin; i++) h = mix(h, (uint64_t)in[i]);
  for (int i = 0; i < n->attr.nint; i++) h = mix(h, (uint64_t)n->attr.ints[i]);
  h = mix(h, n->attr.stream);
  if (n->op == OP_CONST && n->ncdata == 1) {
    uint64_t b;
    memcpy(&b, &n->cdata[0], sizeof b);
    h = mix(h, b);
  }
  return h;
}

static int attrs_eq(const IrAttrs *a, const IrAttrs *b)
{
  if (a->nint != b->nint || a->nflt != b->nflt || a->dtype != b->dtype || a->stream != b->stream) return 0;
  for (int i = 0; i < IR_MAX_INTS; i++)
    if (a->ints[i] != b->ints[i]) return 0;
  for (int i = 0; i < a->nflt; i++)
    if (memcmp(&a->flts[i], &b->flts[i], sizeof(double))) return 0;
  return 1;
}

/* m (already in ng) equals n with renamed inputs in[]? */
static int same(const IrGraph *ng, const IrNode *m, const IrGraph *g, const IrNode *n, const IrVal *in)
{
  if (m->op != n->op || m->nin != n->nin || m->nout != n->nout || !attrs_eq(&m->attr, &n->attr)) return 0;
  for (int i = 0; i < n->nin; i++)
    if (m->in[i] != in[i]) return 0;
  const IrType *a = ir_type(ng, m->out[0]), *b = ir_type(g, n->out[0]);
  if (a->dtype != b->dtype || !ir_shape_eq(&a->shape, &b->shape)) return 0;
  if (n->op == OP_CONST)
    return m->ncdata == n->ncdata &&
           !memcmp(m->cdata, n->cdata, (size_t)(n->ncdata ? n->ncdata : 1) * sizeof(double));
  return 1;
}

static int mergeable(const IrNode *n)
{
  return !n->sub[0] && n->nout > 0 && (n->op == OP_CONST || !(ir_ops[n->op].flags & (IR_LEAF | IR_HOST)));
}

int ir_cse(IrGraph *g)
{
  if (g->failed) return -1;
  for (int i = 0; i < g->nnodes; i++) /* subgraphs first: scan bodies, custom gradients */
    for (int s = 0; s < 2; s++)
      if (g->nodes[i]->sub[s] && ir_cse(g->nodes[i]->sub[s]))
        return ir_fail(g, "cse (subgraph of node %d): %s", i, g->nodes[i]->sub[s]->err);
  int cap = 1;
  while (cap < 2 * g->nnodes + 2) cap *= 2;
  IrGraph *ng = ir_graph_new();
  IrVal *map = malloc(((size_t)g->nvals + 1) * sizeof *map), in[64];
  int *tab = malloc((size_t)cap * sizeof *tab); /* node ids in ng, -1 empty */
  if (!ng || !map || !tab) goto fail;
  ng->next_stream = g->next_stream;
  for (int i = 0; i < cap; i++) tab[i] = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    int ok = mergeable(n) && n->nin <= 64;
    uint64_t h = 0;
    if (ok) {
      for (int j = 0; j < n->nin; j++) in[j] = map[n->in[j]];
      h = node_hash(n, in);
      int s = (int)(h & (uint64_t)(cap - 1));
      for (; tab[s] >= 0; s = (s + 1) & (cap - 1))
        if (same(ng, ng->nodes[tab[s]], g, n, in)) break;
      if (tab[s] >= 0) {
        for (int k = 0; k < n->nout; k++) map[n->out[k]] = ng->nodes[tab[s]]->out[k];
        continue;
      }
      tab[s] = ng->nnodes;
    }
    IrNode *m = ir_copy_node(ng, g, n, map);
    if (!m) goto fail;
    for (int k = 0; k < n->nout; k++) map[n->out[k]] = m->out[k];
  }
  for (int i = 0; i < g->nouts; i++) ir_set_outputs(ng, 1, &map[g->outs[i]]);
  if (ng->failed) goto fail;
  ir_graph_swap(g, ng);
  ir_graph_free(ng);
  free(map), free(tab);
  return 0;
fail:
  ir_fail(g, "cse: %s", ng && ng->failed ? ng->err : "out of memory");
  ir_graph_free(ng);
  free(map), free(tab);
  return -1;
}
