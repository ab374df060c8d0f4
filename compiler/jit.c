/* jit.c — nnc's wrapper over LLVM ORC LLJIT (LLVM C API, LLVM 19; 21+ via a shim).
 *
 * One jit_t holds: a host TargetMachine (host CPU name + features) used by the optimiser and
 * for asm/object output, an LLJIT whose JITTargetMachineBuilder comes from a second TM of the
 * same host (at CodeGen Aggressive, or None for fast compiles), and a ThreadSafeContext whose
 * LLVMContext has a diagnostic handler: without it LLVM exit()s the process on some errors.
 * The runtime ABI (runtime/abi.def) is defined as absolute symbols, so the host binary needs
 * no -rdynamic. ORC session errors are caught by an error reporter and kept as the message.
 * Sequence and traps: /work/shared/notes/toolchain.md §1-2, §9. */
#include "cg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm/Config/llvm-config.h>

struct jit_t {
  jit_options opt;
  LLVMOrcThreadSafeContextRef tsc;
  LLVMContextRef ctx;
  LLVMTargetMachineRef tm;
  LLVMOrcLLJITRef lljit;
  char *triple, *cpu, *features;
  char *layout;           /* data layout string of tm */
  char msg[1024];
  jit_times times;
  int looked_up_since_add;  /* 0 after an add: the next lookup compiles (timed as codegen) */
};

double jit_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int jit_fail(jit_t *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->msg, sizeof j->msg, fmt, ap);
  va_end(ap);
  return -1;
}

/* Consumes e and records its message prefixed by what; returns -1. */
static int fail_llvm_error(jit_t *j, const char *what, LLVMErrorRef e) {
  char *m = LLVMGetErrorMessage(e);
  jit_fail(j, "%s: %s", what, m);
  LLVMDisposeErrorMessage(m);
  return -1;
}

const char *jit_errmsg(const jit_t *j) { return j->msg; }
LLVMContextRef jit_context(jit_t *j) { return j->ctx; }
jit_times jit_get_times(const jit_t *j) { return j->times; }
void jit_add_ir_time(jit_t *j, double ms) { j->times.ir_ms += ms; }
const char *jit_cpu_name(const jit_t *j) { return j->cpu; }

/* Errors and warnings land in the message; remarks and notes are dropped. LLVM would
 * otherwise print them, and exit(1) on errors. */
static void diag_handler(LLVMDiagnosticInfoRef di, void *arg) {
  jit_t *j = arg;
  LLVMDiagnosticSeverity sev = LLVMGetDiagInfoSeverity(di);
  if (sev != LLVMDSError)
    return;
  char *d = LLVMGetDiagInfoDescription(di);
  snprintf(j->msg, sizeof j->msg, "llvm: %s", d);
  LLVMDisposeMessage(d);
}

/* ORC reports materialisation failures here instead of on stderr. */
static void session_error(void *arg, LLVMErrorRef e) {
  jit_t *j = arg;
  char *m = LLVMGetErrorMessage(e);
  snprintf(j->msg, sizeof j->msg, "JIT session error: %s", m);
  LLVMDisposeErrorMessage(m);
}

static LLVMOrcThreadSafeContextRef new_tsc(LLVMContextRef *ctx) {
#if LLVM_VERSION_MAJOR >= 21
  *ctx = LLVMContextCreate();
  return LLVMOrcCreateNewThreadSafeContextFromLLVMContext(*ctx); /* owns ctx */
#else
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  *ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  return tsc;
#endif
}

static void init_llvm_once(void) {
  /* Idempotent inside LLVM; cheap enough to call per jit. */
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  LLVMInitializeNativeAsmParser();
}

static LLVMTargetMachineRef host_tm(jit_t *j, LLVMCodeGenOptLevel level) {
  LLVMTargetRef t;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(j->triple, &t, &err)) {
    jit_fail(j, "no LLVM target for %s: %s", j->triple, err ? err : "?");
    LLVMDisposeMessage(err);
    return NULL;
  }
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(t, j->triple, j->cpu, j->features, level,
                                                    LLVMRelocPIC, LLVMCodeModelDefault);
  if (!tm)
    jit_fail(j, "cannot create a target machine for %s (%s)", j->triple, j->cpu);
  return tm;
}

static int make_lljit(jit_t *j) {
  LLVMCodeGenOptLevel lvl = j->opt.fast_codegen ? LLVMCodeGenLevelNone : LLVMCodeGenLevelAggressive;
  LLVMTargetMachineRef jtm = host_tm(j, lvl);
  if (!jtm)
    return -1;
  LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jtm);
  LLVMOrcLLJITBuilderRef b = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(b, jtmb); /* consumes jtmb (and jtm) */
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->lljit, b);      /* consumes b */
  if (e)
    return fail_llvm_error(j, "cannot create LLJIT", e);
  LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(j->lljit), session_error, j);
  return 0;
}

static int setup(jit_t *j) {
  init_llvm_once();
  j->triple = LLVMGetDefaultTargetTriple();
  j->cpu = LLVMGetHostCPUName();
  j->features = LLVMGetHostCPUFeatures();
  j->tsc = new_tsc(&j->ctx);
  LLVMContextSetDiagnosticHandler(j->ctx, diag_handler, j);
  j->tm = host_tm(j, LLVMCodeGenLevelAggressive);
  if (!j->tm)
    return -1;
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(j->tm);
  j->layout = LLVMCopyStringRepOfTargetData(td);
  LLVMDisposeTargetData(td);
  if (make_lljit(j))
    return -1;
  if (!j->opt.no_runtime_syms)
    return cg_define_runtime(j);
  return 0;
}

int jit_create(jit_t **out, const jit_options *opt, char *msg, size_t msgsz) {
  *out = NULL;
  jit_t *j = calloc(1, sizeof *j);
  if (!j) {
    if (msgsz)
      snprintf(msg, msgsz, "out of memory creating the JIT");
    return -1;
  }
  j->opt = opt ? *opt : (jit_options){.opt = JIT_O3};
  if (setup(j)) {
    if (msgsz)
      snprintf(msg, msgsz, "%s", j->msg);
    jit_destroy(j);
    return -1;
  }
  *out = j;
  return 0;
}

void jit_destroy(jit_t *j) {
  if (!j)
    return;
  if (j->lljit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->lljit);
    if (e)
      LLVMConsumeError(e);
  }
  if (j->tsc)
    LLVMOrcDisposeThreadSafeContext(j->tsc);
  if (j->tm)
    LLVMDisposeTargetMachine(j->tm);
  LLVMDisposeMessage(j->triple);
  LLVMDisposeMessage(j->cpu);
  LLVMDisposeMessage(j->features);
  LLVMDisposeMessage(j->layout);
  free(j);
}

LLVMModuleRef jit_new_module(jit_t *j, const char *name) {
  LLVMModuleRef m = LLVMModuleCreateWithNameInContext(name, j->ctx);
  if (!m) {
    jit_fail(j, "cannot create module %s", name);
    return NULL;
  }
  LLVMSetTarget(m, j->triple);
  LLVMSetDataLayout(m, j->layout);
  return m;
}

int jit_verify(jit_t *j, LLVMModuleRef m) {
  char *err = NULL;
  if (LLVMVerifyModule(m, LLVMReturnStatusAction, &err)) {
    jit_fail(j, "invalid LLVM module: %s", err ? err : "?");
    LLVMDisposeMessage(err);
    return -1;
  }
  LLVMDisposeMessage(err);
  return 0;
}

int jit_optimize(jit_t *j, LLVMModuleRef m) {
  static const char *const pipe[] = {"default<O0>", "default<O1>", "default<O2>", "default<O3>"};
  double t0 = jit_now_ms();
  LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions();
  int vec = j->opt.opt >= JIT_O2;
  LLVMPassBuilderOptionsSetLoopVectorization(o, vec);
  LLVMPassBuilderOptionsSetSLPVectorization(o, vec);
  /* The unroller only at O3: on kernel code it multiplies compile time (fast weights'
   * train step: 8.7 s -> 2.9 s without it) and full unrolls of small constant loops made
   * that model's step slower, not faster. Vectorization and interleaving stay on at O2. */
  LLVMPassBuilderOptionsSetLoopUnrolling(o, j->opt.opt >= JIT_O3);
  LLVMPassBuilderOptionsSetLoopInterleaving(o, vec);
  LLVMErrorRef e = LLVMRunPasses(m, pipe[j->opt.opt], j->tm, o);
  LLVMDisposePassBuilderOptions(o);
  j->times.opt_ms += jit_now_ms() - t0;
  return e ? fail_llvm_error(j, "optimiser failed", e) : 0;
}

int jit_add_module(jit_t *j, LLVMModuleRef m) {
  if (jit_verify(j, m)) {
    LLVMDisposeModule(m);
    return -1;
  }
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, j->tsc);
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
  LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->lljit, jd, tsm); /* takes tsm, even on error */
  if (e)
    return fail_llvm_error(j, "cannot add module to the JIT", e);
  j->times.modules++;
  j->looked_up_since_add = 0;
  return 0;
}

int jit_lookup(jit_t *j, const char *name, void **addr) {
  *addr = NULL;
  double t0 = jit_now_ms();
  LLVMOrcExecutorAddress a = 0;
  j->msg[0] = 0;
  LLVMErrorRef e = LLVMOrcLLJITLookup(j->lljit, &a, name);
  if (!j->looked_up_since_add) {
    j->times.codegen_ms += jit_now_ms() - t0;
    j->looked_up_since_add = 1;
  }
  if (e) {
    if (j->msg[0]) { /* the session reporter said why (e.g. missing symbols) */
      char why[sizeof j->msg];
      snprintf(why, sizeof why, "%s", j->msg);
      LLVMConsumeError(e);
      return jit_fail(j, "cannot look up '%s': %s", name, why);
    }
    char buf[128];
    snprintf(buf, sizeof buf, "cannot look up '%s'", name);
    return fail_llvm_error(j, buf, e);
  }
  *addr = (void *)(uintptr_t)a;
  return 0;
}

int jit_define_symbols(jit_t *j, const jit_symbol *syms, size_t n) {
  if (n == 0)
    return 0;
  LLVMOrcCSymbolMapPair *map = calloc(n, sizeof *map);
  if (!map)
    return jit_fail(j, "out of memory defining %zu symbols", n);
  LLVMJITSymbolFlags fl = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
  for (size_t i = 0; i < n; i++) {
    map[i].Name = LLVMOrcLLJITMangleAndIntern(j->lljit, syms[i].name);
    map[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)syms[i].addr;
    map[i].Sym.Flags = fl;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(map, n); /* takes the names */
  free(map);
  LLVMErrorRef e = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(j->lljit), mu);
  if (e) {
    LLVMOrcDisposeMaterializationUnit(mu);
    return fail_llvm_error(j, "cannot define runtime symbols", e);
  }
  return 0;
}

/* Copies an LLVM memory buffer into a malloc'ed, NUL-terminated block. */
static int take_buffer(jit_t *j, LLVMMemoryBufferRef mb, char **out, size_t *len) {
  size_t n = LLVMGetBufferSize(mb);
  char *p = malloc(n + 1);
  if (!p) {
    LLVMDisposeMemoryBuffer(mb);
    return jit_fail(j, "out of memory (%zu bytes of emitted code)", n);
  }
  memcpy(p, LLVMGetBufferStart(mb), n);
  p[n] = 0;
  LLVMDisposeMemoryBuffer(mb);
  *out = p;
  *len = n;
  return 0;
}

static int emit_llvm_text(jit_t *j, LLVMModuleRef m, char **out, size_t *len) {
  char *s = LLVMPrintModuleToString(m);
  *len = strlen(s);
  *out = malloc(*len + 1);
  if (!*out) {
    LLVMDisposeMessage(s);
    return jit_fail(j, "out of memory printing LLVM IR");
  }
  memcpy(*out, s, *len + 1);
  LLVMDisposeMessage(s);
  return 0;
}

int jit_emit(jit_t *j, LLVMModuleRef m, jit_emit_kind kind, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (kind == JIT_EMIT_LLVM)
    return emit_llvm_text(j, m, out, len);
  LLVMModuleRef c = LLVMCloneModule(m); /* codegen mutates the module it compiles */
  char *err = NULL;
  LLVMMemoryBufferRef mb = NULL;
  LLVMCodeGenFileType ft = kind == JIT_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
  LLVMBool bad = LLVMTargetMachineEmitToMemoryBuffer(j->tm, c, ft, &err, &mb);
  LLVMDisposeModule(c);
  if (bad) {
    jit_fail(j, "code emission failed: %s", err ? err : "?");
    LLVMDisposeMessage(err);
    return -1;
  }
  return take_buffer(j, mb, out, len);
}

int jit_emit_file(jit_t *j, LLVMModuleRef m, jit_emit_kind kind, const char *path) {
  char *buf;
  size_t len;
  if (jit_emit(j, m, kind, &buf, &len))
    return -1;
  FILE *f = fopen(path, "wb");
  if (!f) {
    free(buf);
    return jit_fail(j, "cannot open %s for writing", path);
  }
  size_t w = fwrite(buf, 1, len, f);
  free(buf);
  if (fclose(f) != 0 || w != len)
    return jit_fail(j, "cannot write %s", path);
  return 0;
}
