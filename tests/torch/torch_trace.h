/* torch_trace.h — a test-local tracer for tests/torch: one function of a model, with its
 * tensor arguments as input leaves shaped like the fixture's tensors of the same names. */
#ifndef NNC_TORCH_TRACE_H
#define NNC_TORCH_TRACE_H

#include "ir.h"
#include "lang.h"
#include "nnrt.h"

/* Traces model.fn (training mode: `training` is true) of a checked file into a new graph.
 * Each argument becomes an input leaf named after it, with the dtype and shape of the
 * tensor `w` holds under that name; params are leaves named by path ("l.W"). The result
 * must be one tensor: *out. Returns the graph, or NULL with a message in msg (and maybe
 * diagnostics in L). */
IrGraph *torch_trace(Lang *L, Node *file, const char *model, const char *fn, const nnrt_weights *w,
                     IrVal *out, char *msg, size_t cap);

#endif
