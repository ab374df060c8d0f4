/* cache.c — the on-disk compile cache and the object loader behind the C API, the REPL
 * and `nnc` re-runs.
 *
 * A note on the design (compiler-techniques.md §7.2): the C API has no llvm::ObjectCache,
 * so every function is compiled to a relocatable object outside ORC
 * (LLVMTargetMachineEmitToMemoryBuffer via jit_emit) and that object is what runs: it is
 * linked in memory by a small LLJIT of its own (LLVMOrcLLJITAddObjectFile) with the
 * runtime ABI defined as absolute symbols. The same bytes are stored under a key hashing
 * the printed kernel IR (shapes and dtypes included), the nnc version, the LLVM version,
 * the host CPU name and features, and the options; a later compile of the same function
 * finds the file and skips cg_build, the IR passes and instruction selection (about
 * 0.5 ms to link instead of tens to hundreds of ms). The key is two 64-bit FNV-1a hashes
 * with different seeds (128 bits). Writes go to a temp file renamed into place, so
 * concurrent processes never see half an object. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm/Config/llvm-config.h>

#include "api_int.h"
#include "rt.h"

#ifndef NNC_VERSION
#define NNC_VERSION "0.1.0"
#endif

struct cache_obj {
  LLVMOrcLLJITRef lljit;
};

static int failf(char *msg, size_t cap, const char *fmt, const char *a, const char *b) {
  if (cap) snprintf(msg, cap, fmt, a, b);
  return -1;
}

/* ------------------------------------------------------------------ keys and paths */

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void key_add(uint64_t k[2], const void *data, size_t n) {
  k[0] = fnv(k[0], data, n);
  k[1] = fnv(k[1], data, n);
}

static void key_str(uint64_t k[2], const char *s) { key_add(k, s ? s : "", s ? strlen(s) + 1 : 1); }

static void host_cpu(uint64_t k[2]) {
  char *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
  key_str(k, cpu);
  key_str(k, feat);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(feat);
}

/* Hashes the printed kernel IR; -1 when it cannot be printed. */
static int make_key(const kir_func *f, const cg_options *o, jit_opt_level opt, uint64_t k[2]) {
  k[0] = 0xcbf29ce484222325ull;
  k[1] = 0x84222325cbf29ce4ull;
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) return -1;
  kir_print(f, m);
  fclose(m);
  key_add(k, text, len);
  free(text);
  key_str(k, f->name);
  key_str(k, NNC_VERSION);
  key_str(k, LLVM_VERSION_STRING);
  host_cpu(k);
  int oo[5] = {o ? o->strict_fp : 0, o ? o->vector_width : 0, o ? o->no_parallel : 0, (int)opt,
               o ? o->no_share_kernels : 0};
  key_add(k, oo, sizeof oo);
  return 0;
}

int cache_dir(char *buf, size_t cap) {
  const char *d = getenv("NNC_CACHE_DIR");
  if (d && *d) return snprintf(buf, cap, "%s", d) < (int)cap ? 0 : -1;
  d = getenv("XDG_CACHE_HOME");
  if (d && *d) return snprintf(buf, cap, "%s/nnc", d) < (int)cap ? 0 : -1;
  d = getenv("HOME");
  if (d && *d) return snprintf(buf, cap, "%s/.cache/nnc", d) < (int)cap ? 0 : -1;
  return -1;
}

/* mkdir -p of dir (best effort); 0 when it exists afterwards. */
static int make_dirs(char *dir) {
  for (char *p = dir + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(dir, 0755);
      *p = '/';
    }
  return mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int file_path(const uint64_t k[2], const char *ext, char *buf, size_t cap) {
  char dir[3072];
  if (cache_dir(dir, sizeof dir) || make_dirs(dir)) return -1;
  return snprintf(buf, cap, "%s/%016llx%016llx.%s", dir, (unsigned long long)k[0], (unsigned long long)k[1],
                  ext) < (int)cap ? 0 : -1;
}

static int obj_path(const uint64_t k[2], char *buf, size_t cap) { return file_path(k, "o", buf, cap); }

/* ------------------------------------------------------------------ files */

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n))) {
      if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
      }
      *len = (size_t)n;
    }
  }
  fclose(f);
  return buf;
}

/* Stores the object: temp file in the same directory, then rename (atomic). */
static void store(const char *path, const char *buf, size_t len) {
  static int seq;   /* distinct temp names for threads of one process */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.%ld.%d.tmp", path, (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
  FILE *f = fopen(tmp, "wb");
  if (!f) return;
  size_t w = fwrite(buf, 1, len, f);
  if (fclose(f) == 0 && w == len && rename(tmp, path) == 0) return;
  unlink(tmp);
}

/* ------------------------------------------------------------------ side files */

void cache_key_init(uint64_t k[2], const char *what) {
  k[0] = 0xcbf29ce484222325ull;
  k[1] = 0x84222325cbf29ce4ull;
  key_str(k, NNC_VERSION);
  key_str(k, what);
}

void cache_key_add(uint64_t k[2], const void *data, size_t n) { key_add(k, data, n); }

char *cache_side_get(const uint64_t k[2], const char *ext, size_t *len) {
  char path[4096];
  *len = 0;
  return file_path(k, ext, path, sizeof path) ? NULL : read_all(path, len);
}

void cache_side_put(const uint64_t k[2], const char *ext, const void *buf, size_t len) {
  char path[4096];
  if (!file_path(k, ext, path, sizeof path)) store(path, buf, len);
}

/* ------------------------------------------------------------------ the loader */

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static void init_llvm(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
}

static int llvm_fail(char *msg, size_t cap, const char *what, LLVMErrorRef e) {
  char *m = LLVMGetErrorMessage(e);
  failf(msg, cap, "%s: %s", what, m);
  LLVMDisposeErrorMessage(m);
  return -1;
}

static const struct { const char *name; void *addr; } libm[] = {
    {"expf", (void *)&expf}, {"logf", (void *)&logf}, {"tanhf", (void *)&tanhf}, {"powf", (void *)&powf},
    {"log1pf", (void *)&log1pf}, {"exp", (void *)&exp}, {"log", (void *)&log}, {"tanh", (void *)&tanh},
    {"log1p", (void *)&log1p}, {"pow", (void *)&pow},
    {"nnc_host_call", (void *)&cg_host_call},   /* host.c: OP_HOST_CALL */
};

/* Defines the runtime ABI, the libm functions kernels call and the host-call dispatcher,
 * as absolute symbols. */
static LLVMErrorRef define_runtime(LLVMOrcLLJITRef J) {
  int nlibm = (int)(sizeof libm / sizeof libm[0]), n = 0;
  LLVMOrcCSymbolMapPair *map = calloc((size_t)(rt_abi_count + nlibm), sizeof *map);
  if (!map) return LLVMCreateStringError("out of memory");
  LLVMJITSymbolFlags fl = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
  for (int i = 0; i < rt_abi_count + nlibm; i++, n++) {
    const char *name = i < rt_abi_count ? rt_abi_table[i].name : libm[i - rt_abi_count].name;
    void *addr = i < rt_abi_count ? (void *)rt_abi_table[i].addr : libm[i - rt_abi_count].addr;
    map[n].Name = LLVMOrcLLJITMangleAndIntern(J, name);
    map[n].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)addr;
    map[n].Sym.Flags = fl;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(map, (size_t)n);
  free(map);
  LLVMErrorRef e = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(J), mu);
  if (e) LLVMOrcDisposeMaterializationUnit(mu);
  return e;
}

/* Links object bytes in a fresh LLJIT and looks up name. */
static int load_object(const char *buf, size_t len, const char *name, cache_obj **out, cg_entry *fn,
                       char *msg, size_t cap) {
  pthread_once(&llvm_once, init_llvm);
  cache_obj *c = calloc(1, sizeof *c);
  if (!c) return failf(msg, cap, "%s%s", "out of memory loading an object", "");
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&c->lljit, LLVMOrcCreateLLJITBuilder());
  if (e) {
    free(c);
    return llvm_fail(msg, cap, "cannot create the object loader", e);
  }
  if ((e = define_runtime(c->lljit))) goto bad;
  LLVMMemoryBufferRef mb = LLVMCreateMemoryBufferWithMemoryRangeCopy(buf, len, name);
  if ((e = LLVMOrcLLJITAddObjectFile(c->lljit, LLVMOrcLLJITGetMainJITDylib(c->lljit), mb))) goto bad;
  LLVMOrcExecutorAddress addr = 0;
  if ((e = LLVMOrcLLJITLookup(c->lljit, &addr, name))) goto bad;
  *fn = (cg_entry)(uintptr_t)addr;
  *out = c;
  return 0;
bad:
  llvm_fail(msg, cap, "cannot link the compiled object", e);
  cache_obj_free(c);
  return -1;
}

void cache_obj_free(cache_obj *c) {
  if (!c) return;
  if (c->lljit) LLVMConsumeError(LLVMOrcDisposeLLJIT(c->lljit));
  free(c);
}

/* ------------------------------------------------------------------ compiling */

/* This thread's CPU time in milliseconds (--time-passes: wall time is noisy on a shared machine). */
static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* Builds, optimises and emits f as an object (malloc'ed into *buf); st gets the CPU times. */
static int build_object(const kir_func *f, const cg_options *o, jit_opt_level opt, char **buf, size_t *len,
                        cache_stats *st, char *msg, size_t cap) {
  jit_t *j = NULL;
  jit_options jo = {.opt = opt};
  if (jit_create(&j, &jo, msg, cap)) return -1;
  LLVMModuleRef m = NULL;
  double t0 = cpu_ms();
  int rc = cg_build(j, f, o, &m);
  double t1 = cpu_ms();
  if (!rc) rc = jit_optimize(j, m);
  double t2 = cpu_ms();
  if (!rc) rc = jit_emit(j, m, JIT_EMIT_OBJ, buf, len);
  st->cpu_ir_ms = t1 - t0, st->cpu_opt_ms = t2 - t1, st->cpu_emit_ms = cpu_ms() - t2;
  if (rc) failf(msg, cap, "%s%s", "code generation: ", jit_errmsg(j));
  if (m) LLVMDisposeModule(m);
  jit_destroy(j);
  return rc;
}

int cache_compile(const kir_func *f, const cg_options *o, jit_opt_level opt, int use_cache,
                  cache_obj **obj, cg_entry *fn, cache_stats *st, char *msg, size_t cap) {
  *obj = NULL;
  *fn = NULL;
  memset(st, 0, sizeof *st);
  /* the key prints the kernel IR: verify it first, so a lowering bug is a message */
  char vmsg[512];
  if (kir_verify(f, vmsg, sizeof vmsg)) {
    snprintf(msg, cap, "invalid kernel IR: %s", vmsg);
    return -1;
  }
  char path[4096] = "";
  int keyed = use_cache && make_key(f, o, opt, st->key) == 0 && obj_path(st->key, path, sizeof path) == 0;
  size_t len = 0;
  char *buf = keyed ? read_all(path, &len) : NULL;
  st->hit = buf != NULL;
  double t0 = jit_now_ms();
  if (!buf && build_object(f, o, opt, &buf, &len, st, msg, cap)) return -1;
  st->compile_ms = jit_now_ms() - t0;
  if (!st->hit && keyed) store(path, buf, len);
  t0 = jit_now_ms();
  int rc = load_object(buf, len, f->name, obj, fn, msg, cap);
  st->load_ms = jit_now_ms() - t0;
  free(buf);
  return rc;
}
