/* test_jit.c — the ORC JIT wrapper: round trip, runtime symbols, error paths, IR/asm/object
 * emission. Modules are built by hand with the LLVM-C API. */
#include <criterion/criterion.h>
#include <elf.h>
#include <string.h>

#include "cg.h"
#include "rt.h"

static jit_t *J;

static void setup(void) {
  char msg[256];
  cr_assert_eq(jit_create(&J, NULL, msg, sizeof msg), 0, "%s", msg);
}
static void teardown(void) { jit_destroy(J); }

TestSuite(jit, .init = setup, .fini = teardown);

/* i32 name(i32 x) { return x * k + callee(x)? } : a function of one i32. If callee is
 * non-NULL it is declared as float(u64,u64,u64) and its result is truncated and added. */
static LLVMModuleRef int_fn(const char *name, int k, const char *callee) {
  LLVMContextRef C = jit_context(J);
  LLVMModuleRef m = jit_new_module(J, name);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(C), i64 = LLVMInt64TypeInContext(C);
  LLVMValueRef fn = LLVMAddFunction(m, name, LLVMFunctionType(i32, &i32, 1, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(C);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(C, fn, "entry"));
  LLVMValueRef v = LLVMBuildMul(b, LLVMGetParam(fn, 0), LLVMConstInt(i32, k, 0), "");
  if (callee) {
    LLVMTypeRef ps[3] = {i64, i64, i64};
    LLVMTypeRef fty = LLVMFunctionType(LLVMFloatTypeInContext(C), ps, 3, 0);
    LLVMValueRef cf = LLVMAddFunction(m, callee, fty);
    LLVMValueRef a[3] = {LLVMConstInt(i64, 7, 0), LLVMConstInt(i64, 1, 0), LLVMConstInt(i64, 5, 0)};
    LLVMValueRef r = LLVMBuildCall2(b, fty, cf, a, 3, "");
    r = LLVMBuildFMul(b, r, LLVMConstReal(LLVMFloatTypeInContext(C), 1e6), "");
    v = LLVMBuildAdd(b, v, LLVMBuildFPToSI(b, r, i32, ""), "");
  }
  LLVMBuildRet(b, v);
  LLVMDisposeBuilder(b);
  return m;
}

Test(jit, round_trip) {
  LLVMModuleRef m = int_fn("times3", 3, NULL);
  cr_assert_eq(jit_optimize(J, m), 0, "%s", jit_errmsg(J));
  cr_assert_eq(jit_add_module(J, m), 0, "%s", jit_errmsg(J));
  void *p;
  cr_assert_eq(jit_lookup(J, "times3", &p), 0, "%s", jit_errmsg(J));
  int (*f)(int) = (int (*)(int))p;
  for (int x = -5; x < 50; x += 7)
    cr_assert_eq(f(x), 3 * x);
  jit_times t = jit_get_times(J);
  cr_assert(t.opt_ms > 0 && t.codegen_ms > 0 && t.modules == 1);
}

Test(jit, runtime_symbol_registered) {
  cr_assert_eq(jit_add_module(J, int_fn("useabi", 2, "nnrt_rand_uniform")), 0, "%s", jit_errmsg(J));
  void *p;
  cr_assert_eq(jit_lookup(J, "useabi", &p), 0, "%s", jit_errmsg(J));
  int want = 2 * 10 + (int)(nnrt_rand_uniform(7, 1, 5) * 1e6f);
  cr_assert_eq(((int (*)(int))p)(10), want);
}

static float my_host_fn(uint64_t a, uint64_t b, uint64_t c) { return (float)(a + b + c) / 1e6f; }

Test(jit, user_symbol_defined) {
  jit_symbol s = {"my_host_fn", (void *)&my_host_fn};
  cr_assert_eq(jit_define_symbols(J, &s, 1), 0, "%s", jit_errmsg(J));
  cr_assert_eq(jit_add_module(J, int_fn("useuser", 1, "my_host_fn")), 0);
  void *p;
  cr_assert_eq(jit_lookup(J, "useuser", &p), 0, "%s", jit_errmsg(J));
  cr_assert_eq(((int (*)(int))p)(100), 113);
}

Test(jit, missing_symbol_is_an_error) {
  cr_assert_eq(jit_add_module(J, int_fn("usemissing", 1, "no_such_function_xyz")), 0);
  void *p = (void *)1;
  cr_assert_eq(jit_lookup(J, "usemissing", &p), -1);
  cr_assert_null(p);
  cr_assert(strstr(jit_errmsg(J), "no_such_function_xyz"), "message: %s", jit_errmsg(J));
}

Test(jit, unknown_name_is_an_error) {
  void *p;
  cr_assert_eq(jit_lookup(J, "never_defined", &p), -1);
  cr_assert(strstr(jit_errmsg(J), "never_defined"), "message: %s", jit_errmsg(J));
}

Test(jit, invalid_module_is_an_error) {
  LLVMContextRef C = jit_context(J);
  LLVMModuleRef m = jit_new_module(J, "bad");
  LLVMTypeRef i32 = LLVMInt32TypeInContext(C);
  LLVMValueRef fn = LLVMAddFunction(m, "bad", LLVMFunctionType(i32, NULL, 0, 0));
  LLVMAppendBasicBlockInContext(C, fn, "entry"); /* no terminator */
  cr_assert_eq(jit_add_module(J, m), -1);
  cr_assert(strstr(jit_errmsg(J), "invalid LLVM module"), "message: %s", jit_errmsg(J));
}

Test(jit, without_runtime_symbols_abi_is_missing) {
  jit_t *j2;
  char msg[128];
  jit_options o = {.opt = JIT_O0, .no_runtime_syms = 1};
  cr_assert_eq(jit_create(&j2, &o, msg, sizeof msg), 0, "%s", msg);
  jit_t *save = J;
  J = j2;
  cr_assert_eq(jit_add_module(J, int_fn("f", 1, "nnrt_rand_uniform")), 0);
  void *p;
  cr_assert_eq(jit_lookup(J, "f", &p), -1);
  cr_assert(strstr(jit_errmsg(J), "nnrt_rand_uniform"), "message: %s", jit_errmsg(J));
  J = save;
  jit_destroy(j2);
}

Test(jit, emit_llvm_asm_and_object) {
  LLVMModuleRef m = int_fn("emitme", 5, NULL);
  char *s;
  size_t n;
  cr_assert_eq(jit_emit(J, m, JIT_EMIT_LLVM, &s, &n), 0);
  cr_assert(strstr(s, "define i32 @emitme(i32"), "%s", s);
  free(s);
  cr_assert_eq(jit_emit(J, m, JIT_EMIT_ASM, &s, &n), 0, "%s", jit_errmsg(J));
  cr_assert(strstr(s, "emitme:"), "%s", s);
  free(s);
  cr_assert_eq(jit_emit(J, m, JIT_EMIT_OBJ, &s, &n), 0, "%s", jit_errmsg(J));
  cr_assert(n > sizeof(Elf64_Ehdr));
  const Elf64_Ehdr *h = (const Elf64_Ehdr *)s;
  cr_assert_eq(memcmp(h->e_ident, ELFMAG, SELFMAG), 0);
  cr_assert_eq(h->e_ident[EI_CLASS], ELFCLASS64);
  cr_assert_eq(h->e_type, ET_REL);
  cr_assert_eq(h->e_machine, EM_X86_64);
  free(s);
  /* The module is unchanged by emission and still runs. */
  cr_assert_eq(jit_add_module(J, m), 0, "%s", jit_errmsg(J));
  void *p;
  cr_assert_eq(jit_lookup(J, "emitme", &p), 0);
  cr_assert_eq(((int (*)(int))p)(4), 20);
}

Test(jit, emit_file_to_bad_path_fails) {
  LLVMModuleRef m = int_fn("tofile", 1, NULL);
  cr_assert_eq(jit_emit_file(J, m, JIT_EMIT_OBJ, "/nonexistent-dir/x.o"), -1);
  cr_assert(strstr(jit_errmsg(J), "/nonexistent-dir/x.o"));
  LLVMDisposeModule(m);
}

Test(jit, cpu_name_known) { cr_assert(strlen(jit_cpu_name(J)) > 0); }

Test(jit, duplicate_definition_is_an_error) {
  cr_assert_eq(jit_add_module(J, int_fn("dup", 1, NULL)), 0, "%s", jit_errmsg(J));
  int rc = jit_add_module(J, int_fn("dup", 2, NULL));
  void *p = NULL;
  if (rc == 0)
    rc = jit_lookup(J, "dup", &p);
  cr_assert_eq(rc, -1, "second definition accepted");
  cr_assert(strstr(jit_errmsg(J), "dup"), "%s", jit_errmsg(J));
}
