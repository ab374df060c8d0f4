/* codegen_abi.c — the host functions JIT-compiled code may call: the runtime ABI listed in
 * runtime/abi.def (rt_abi_table, built by runtime/abi.c) and the libm functions used by
 * scalar fallbacks, and the compiler's host-call dispatcher (host.c). jit_create defines them all with LLVMOrcAbsoluteSymbols, so nothing
 * depends on the host binary exporting its symbols (-rdynamic). Codegen reads the C
 * prototypes of the table to type its calls (cg_abi_signature). */
#include "cg.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

#define LIBM(f) {#f, (void *)&f, "double", "(double)"},

static const struct {
  const char *name;
  void *addr;
  const char *ret, *params;
} libm_syms[] = {
    {"expf", (void *)&expf, "float", "(float)"},   {"logf", (void *)&logf, "float", "(float)"},
    {"tanhf", (void *)&tanhf, "float", "(float)"}, {"powf", (void *)&powf, "float", "(float, float)"},
    {"log1pf", (void *)&log1pf, "float", "(float)"},
    LIBM(exp) LIBM(log) LIBM(tanh) LIBM(log1p)
    {"pow", (void *)&pow, "double", "(double, double)"},
    /* not libm: the compiler's host-call dispatcher (host.c), called for OP_HOST_CALL */
    {"nnc_host_call", (void *)&cg_host_call, "void",
     "(void *tab, int64_t site, void *a0, void *a1, void *a2, void *a3, void *a4, void *a5, void *a6, "
     "void *a7, void *a8, void *a9, void *a10, void *a11)"},
};
#define NLIBM ((int)(sizeof libm_syms / sizeof libm_syms[0]))

int cg_define_runtime(jit_t *j) {
  jit_symbol syms[NLIBM + 256];
  int n = 0;
  for (int i = 0; i < NLIBM; i++)
    syms[n++] = (jit_symbol){libm_syms[i].name, libm_syms[i].addr};
  for (int i = 0; i < rt_abi_count && n < (int)(sizeof syms / sizeof syms[0]); i++)
    syms[n++] = (jit_symbol){rt_abi_table[i].name, (void *)rt_abi_table[i].addr};
  return jit_define_symbols(j, syms, n);
}

static int is_ident(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

/* Is token tok (length n) one of the words that make up a C type in abi.def? */
static int type_word(const char *tok, size_t n) {
  static const char *const w[] = {"const", "void", "int", "float", "double", "int64_t", "uint64_t",
                                  "int32_t", "uint32_t", "size_t", "long", "unsigned", "char"};
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
    if (strlen(w[i]) == n && !strncmp(w[i], tok, n))
      return 1;
  return 0;
}

/* The LLVM type of one C parameter as written in abi.def ("const float *x", "int64_t n",
 * "float"): the parameter name, if any, is ignored. */
static LLVMTypeRef c_type(LLVMContextRef C, const char *s, size_t len) {
  char t[128];
  snprintf(t, sizeof t, "%.*s", (int)len, s);
  if (strchr(t, '*') || strchr(t, '('))
    return LLVMPointerTypeInContext(C, 0);
  size_t n = strlen(t);
  while (n && isspace((unsigned char)t[n - 1]))
    t[--n] = 0;
  size_t b = n;
  while (b && is_ident(t[b - 1]))
    b--;
  if (b > 0 && !type_word(t + b, n - b)) /* drop the parameter name */
    t[b] = 0;
  if (strstr(t, "int64_t") || strstr(t, "size_t") || strstr(t, "long"))
    return LLVMInt64TypeInContext(C);
  if (strstr(t, "int32_t") || strstr(t, "int"))
    return LLVMInt32TypeInContext(C);
  if (strstr(t, "double"))
    return LLVMDoubleTypeInContext(C);
  if (strstr(t, "float"))
    return LLVMFloatTypeInContext(C);
  if (strstr(t, "void"))
    return LLVMVoidTypeInContext(C);
  return NULL;
}

/* Splits "(a, b (*f)(x, y), c)" at top-level commas into parameter types. */
static int parse_params(LLVMContextRef C, const char *p, LLVMTypeRef *out, int cap) {
  int n = 0, depth = 0;
  const char *start = p + 1;
  for (const char *q = p + 1; *q; q++) {
    if (*q == '(')
      depth++;
    else if ((*q == ',' || *q == ')') && depth == 0) {
      while (start < q && isspace((unsigned char)*start))
        start++;
      LLVMTypeRef t = c_type(C, start, q - start);
      if (!t || n >= cap)
        return -1;
      if (LLVMGetTypeKind(t) != LLVMVoidTypeKind)
        out[n++] = t;
      start = q + 1;
      if (*q == ')')
        return n;
    } else if (*q == ')')
      depth--;
  }
  return -1;
}

LLVMTypeRef cg_abi_signature(LLVMContextRef C, const char *name) {
  const char *ret = NULL, *params = NULL;
  for (int i = 0; i < NLIBM && !ret; i++)
    if (!strcmp(libm_syms[i].name, name))
      ret = libm_syms[i].ret, params = libm_syms[i].params;
  for (int i = 0; i < rt_abi_count && !ret; i++)
    if (!strcmp(rt_abi_table[i].name, name))
      ret = rt_abi_table[i].ret, params = rt_abi_table[i].params;
  if (!ret)
    return NULL;
  LLVMTypeRef pt[32];
  int n = parse_params(C, params, pt, 32);
  LLVMTypeRef rt = c_type(C, ret, strlen(ret));
  if (n < 0 || !rt)
    return NULL;
  return LLVMFunctionType(rt, pt, n, 0);
}

int cg_abi_has(const char *name) {
  if (!strcmp(name, "nnc_host_call"))
    return 1;
  for (int i = 0; i < rt_abi_count; i++)
    if (!strcmp(rt_abi_table[i].name, name))
      return 1;
  return 0;
}
