/* host.c — calling host functions (`extern fn`, registered through nnc.h) from compiled
 * code. Lowering turns each OP_HOST_CALL into a call of nnc_host_call(table, site,
 * pointers...) and records the site's callee and types in the plan (lower_host); the
 * table, bound to LOWER_SLOT_HOST, resolves each site to a registered function when the
 * plan is bound, so compiled objects (and the disk cache) never hold host addresses.
 * A host function that fails cannot unwind the generated code: its message is kept, later
 * sites are skipped, and the caller reads the status after the run. It needs nothing of
 * the graph IR's code (only its types), so the back end's own tests link it alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

static const IrHostFn *find(const IrHostTab *h, const char *name) {
  for (int i = 0; h && i < h->n; i++)
    if (!strcmp(h->fn[i].name, name))
      return &h->fn[i];
  return NULL;
}

static size_t bytes_of(const IrType *t) {
  size_t n = t->dtype == IR_F64 || t->dtype == IR_I64 ? 8 : t->dtype == IR_F32 || t->dtype == IR_I32 ? 4 : 1;
  for (int d = 0; d < t->shape.rank; d++)
    n *= (size_t)t->shape.dim[d];
  return n;
}

int cg_host_table_new(const lower_plan *p, const IrHostTab *hosts, cg_host_table **out, char *msg, size_t cap) {
  *out = NULL;
  if (p->nhost <= 0)
    return 0;
  for (int i = 0; i < p->nhost; i++)
    if (!find(hosts, p->host[i].name)) {
      snprintf(msg, cap, "host function '%s' is not registered%s%s", p->host[i].name,
               hosts && hosts->unknown ? ": " : "", hosts && hosts->unknown ? hosts->unknown : "");
      return -1;
    }
  cg_host_table *t = calloc(1, sizeof *t);
  cg_host_site *s = calloc((size_t)p->nhost, sizeof *s);
  if (!t || !s) {
    free(t), free(s);
    snprintf(msg, cap, "out of memory");
    return -1;
  }
  for (int i = 0; i < p->nhost; i++)
    s[i] = (cg_host_site){find(hosts, p->host[i].name), &p->host[i]};
  t->nsite = p->nhost;
  t->site = s;
  *out = t;
  return 0;
}

void cg_host_table_free(cg_host_table *t) {
  if (!t)
    return;
  free(t->site);
  free(t);
}

int cg_host_table_status(cg_host_table *t, char *msg, size_t cap) {
  if (!t || !t->failed)
    return 0;
  snprintf(msg, cap, "%s", t->msg);
  t->failed = 0;
  return -1;
}

void cg_host_call(void *tab, int64_t site, void *a0, void *a1, void *a2, void *a3, void *a4, void *a5,
                  void *a6, void *a7, void *a8, void *a9, void *a10, void *a11) {
  cg_host_table *t = tab;
  void *a[IR_HOST_MAX_ARGS] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
  if (!t || t->failed || site < 0 || site >= t->nsite)
    return;
  const cg_host_site *s = &t->site[site];
  const lower_host *h = s->h;
  for (int k = 0; k < h->nout; k++) /* results start zeroed, as in the interpreter */
    memset(a[h->nin + k], 0, bytes_of(&h->t[h->nin + k]));
  char msg[400] = "";
  if (s->fn->call(s->fn->ud, h->nin, h->t, a, h->nout, h->t + h->nin, a + h->nin, msg, sizeof msg)) {
    t->failed = 1;
    snprintf(t->msg, sizeof t->msg, "host function '%s' failed: %s", h->name, msg[0] ? msg : "(no message)");
  }
}
