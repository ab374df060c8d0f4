/* codegen_scalar.c — LLVM IR for each scalar.def opcode, one emitter per table row, with
 * the reference semantics written in scalar.def (floored mod and integer div, x/0 = 0 for
 * integers, sign(0) = +1, max/min return a on ties, select(c, a, b) = c ? a : b).
 *
 * exp, tanh and sigmoid on f32 are emitted inline as polynomials so that the loop
 * vectorizer can widen them (it will not widen calls to expf/tanhf):
 *   exp:  Cody-Waite reduction x = n ln2 + r with ln2 split in two constants, a degree-6
 *         polynomial for e^r (the Cephes expf coefficients, S. Moshier), and 2^n built in
 *         the exponent field as two factors 2^(n>>1) * 2^(n - (n>>1)) so that the whole
 *         range [-104, 88.72] (denormals included) stays exact in its scaling.
 *   tanh: |x| < 0.625: the Cephes tanhf odd polynomial; else 1 - 2 / (e^(2|x|) + 1) with
 *         the sign of x.
 *   sigmoid: 1 / (1 + e^-x).
 * f64 and log/pow/softplus call libm (scalar). */
#include "cg.h"

#include <math.h>
#include <string.h>

/* ---- small IR helpers ---- */

static LLVMValueRef fconst(cg_ir *x, LLVMTypeRef t, double v) { return LLVMConstReal(t, v); }

/* Sets the fast-math flags allowed for plain arithmetic (contract: FMA) on v. */
static LLVMValueRef fm(cg_ir *x, LLVMValueRef v) {
  if (x->contract && LLVMCanValueUseFastMathFlags(v))
    LLVMSetFastMathFlags(v, LLVMFastMathAllowContract);
  return v;
}

LLVMValueRef cg_intrinsic(cg_ir *x, const char *name, LLVMTypeRef t, int n, LLVMValueRef *args) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef tys[1] = {t};
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(x->M, id, tys, 1);
  LLVMTypeRef fty = LLVMIntrinsicGetType(x->C, id, tys, 1);
  return LLVMBuildCall2(x->B, fty, fn, args, n, "");
}

static LLVMValueRef intr1(cg_ir *x, const char *name, LLVMValueRef a) {
  return cg_intrinsic(x, name, LLVMTypeOf(a), 1, &a);
}

/* Calls libm function name (declared on first use) on n arguments. */
static LLVMValueRef libm(cg_ir *x, const char *name, int n, LLVMValueRef *args) {
  LLVMTypeRef t = LLVMTypeOf(args[0]);
  LLVMTypeRef ps[2] = {t, t};
  LLVMTypeRef fty = LLVMFunctionType(t, ps, n, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(x->M, name);
  if (!fn)
    fn = LLVMAddFunction(x->M, name, fty);
  return LLVMBuildCall2(x->B, fty, fn, args, n, "");
}

static int is_f32(LLVMValueRef a) { return LLVMGetTypeKind(LLVMTypeOf(a)) == LLVMFloatTypeKind; }

static LLVMValueRef b_fadd(cg_ir *x, LLVMValueRef a, LLVMValueRef b) { return fm(x, LLVMBuildFAdd(x->B, a, b, "")); }
static LLVMValueRef b_fsub(cg_ir *x, LLVMValueRef a, LLVMValueRef b) { return fm(x, LLVMBuildFSub(x->B, a, b, "")); }
static LLVMValueRef b_fmul(cg_ir *x, LLVMValueRef a, LLVMValueRef b) { return fm(x, LLVMBuildFMul(x->B, a, b, "")); }
static LLVMValueRef b_fdiv(cg_ir *x, LLVMValueRef a, LLVMValueRef b) { return fm(x, LLVMBuildFDiv(x->B, a, b, "")); }
static LLVMValueRef fcmp(cg_ir *x, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(x->B, p, a, b, "");
}
static LLVMValueRef sel(cg_ir *x, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(x->B, c, a, b, "");
}

/* ---- vectorizable f32 transcendental functions ---- */

/* p * 2^n for i32 n in [-150, 128], as (p * 2^(n>>1)) * 2^(n - (n>>1)): each factor is a
 * normal float and the intermediate cannot overflow or flush early. */
static LLVMValueRef pow2_scale(cg_ir *x, LLVMValueRef p, LLVMValueRef n) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(x->C), f32 = LLVMFloatTypeInContext(x->C);
  LLVMValueRef h = LLVMBuildAShr(x->B, n, LLVMConstInt(i32, 1, 0), "");
  LLVMValueRef r = LLVMBuildSub(x->B, n, h, "");
  LLVMValueRef bias = LLVMConstInt(i32, 127, 0), sh = LLVMConstInt(i32, 23, 0);
  LLVMValueRef e1 = LLVMBuildShl(x->B, LLVMBuildAdd(x->B, h, bias, ""), sh, "");
  LLVMValueRef e2 = LLVMBuildShl(x->B, LLVMBuildAdd(x->B, r, bias, ""), sh, "");
  LLVMValueRef y = b_fmul(x, p, LLVMBuildBitCast(x->B, e1, f32, ""));
  return b_fmul(x, y, LLVMBuildBitCast(x->B, e2, f32, ""));
}

static LLVMValueRef exp_f32(cg_ir *x, LLVMValueRef v) {
  LLVMTypeRef f = LLVMTypeOf(v);
  LLVMValueRef hi = fconst(x, f, 88.72283935546875), lo = fconst(x, f, -104.0);
  LLVMValueRef c = sel(x, fcmp(x, LLVMRealOGT, v, hi), hi, v);
  c = sel(x, fcmp(x, LLVMRealOLT, c, lo), lo, c);
  LLVMValueRef n = intr1(x, "llvm.floor", b_fadd(x, b_fmul(x, c, fconst(x, f, 1.44269504088896341)), fconst(x, f, 0.5)));
  LLVMValueRef r = b_fsub(x, c, b_fmul(x, n, fconst(x, f, 0.693359375)));
  r = b_fsub(x, r, b_fmul(x, n, fconst(x, f, -2.12194440e-4)));
  static const double cf[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                              4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef p = fconst(x, f, cf[0]);
  for (int i = 1; i < 6; i++)
    p = b_fadd(x, b_fmul(x, p, r), fconst(x, f, cf[i]));
  p = b_fadd(x, b_fadd(x, b_fmul(x, p, b_fmul(x, r, r)), r), fconst(x, f, 1.0));
  LLVMValueRef ni = LLVMBuildFPToSI(x->B, n, LLVMInt32TypeInContext(x->C), "");
  LLVMValueRef y = pow2_scale(x, p, ni);
  y = sel(x, fcmp(x, LLVMRealOGT, v, hi), fconst(x, f, INFINITY), y);
  return sel(x, fcmp(x, LLVMRealUNO, v, v), v, y);
}

static LLVMValueRef tanh_f32(cg_ir *x, LLVMValueRef v) {
  LLVMTypeRef f = LLVMTypeOf(v);
  LLVMValueRef z = b_fmul(x, v, v);
  static const double cf[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                              1.33314422036E-1, -3.33332819422E-1};
  LLVMValueRef p = fconst(x, f, cf[0]);
  for (int i = 1; i < 5; i++)
    p = b_fadd(x, b_fmul(x, p, z), fconst(x, f, cf[i]));
  LLVMValueRef small = b_fadd(x, b_fmul(x, b_fmul(x, p, z), v), v);
  LLVMValueRef a = intr1(x, "llvm.fabs", v);
  LLVMValueRef e = exp_f32(x, b_fadd(x, a, a));
  LLVMValueRef one = fconst(x, f, 1.0);
  LLVMValueRef big = b_fsub(x, one, b_fdiv(x, fconst(x, f, 2.0), b_fadd(x, e, one)));
  LLVMValueRef args[2] = {big, v};
  big = cg_intrinsic(x, "llvm.copysign", f, 2, args);
  return sel(x, fcmp(x, LLVMRealOLT, a, fconst(x, f, 0.625)), small, big);
}

static LLVMValueRef fexp(cg_ir *x, LLVMValueRef a) { return is_f32(a) ? exp_f32(x, a) : libm(x, "exp", 1, &a); }

/* ---- one emitter per opcode: (x, args, is_float, immediates) -> value ---- */

typedef LLVMValueRef (*emit_fn)(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1);

static LLVMValueRef e_add(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return fl ? b_fadd(x, a[0], a[1]) : LLVMBuildAdd(x->B, a[0], a[1], "");
}
static LLVMValueRef e_sub(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return fl ? b_fsub(x, a[0], a[1]) : LLVMBuildSub(x->B, a[0], a[1], "");
}
static LLVMValueRef e_mul(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return fl ? b_fmul(x, a[0], a[1]) : LLVMBuildMul(x->B, a[0], a[1], "");
}

/* Integer floored division and modulo with x/0 = x%0 = 0 (sc_idiv_floor, sc_imod_floor). */
static LLVMValueRef imod_floor(cg_ir *x, LLVMValueRef a, LLVMValueRef b, LLVMValueRef *q) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef zero = LLVMConstInt(t, 0, 0), one = LLVMConstInt(t, 1, 0);
  LLVMValueRef bz = LLVMBuildICmp(x->B, LLVMIntEQ, b, zero, "");
  LLVMValueRef bm1 = LLVMBuildICmp(x->B, LLVMIntEQ, b, LLVMConstAllOnes(t), "");
  LLVMValueRef bs = sel(x, LLVMBuildOr(x->B, bz, bm1, ""), one, b); /* no /0, no MIN/-1 */
  LLVMValueRef r = LLVMBuildSRem(x->B, a, bs, "");
  LLVMValueRef fix = LLVMBuildAnd(x->B, LLVMBuildICmp(x->B, LLVMIntNE, r, zero, ""),
                                  LLVMBuildICmp(x->B, LLVMIntNE, LLVMBuildICmp(x->B, LLVMIntSLT, r, zero, ""),
                                                LLVMBuildICmp(x->B, LLVMIntSLT, b, zero, ""), ""), "");
  LLVMValueRef m = sel(x, fix, LLVMBuildAdd(x->B, r, b, ""), r);
  m = sel(x, LLVMBuildOr(x->B, bz, bm1, ""), zero, m);
  LLVMValueRef qq = LLVMBuildSDiv(x->B, LLVMBuildSub(x->B, a, m, ""), bs, "");
  qq = sel(x, bm1, LLVMBuildNeg(x->B, a, ""), qq);
  *q = sel(x, bz, zero, qq);
  return m;
}

static LLVMValueRef e_div(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  if (fl)
    return b_fdiv(x, a[0], a[1]);
  LLVMValueRef q;
  imod_floor(x, a[0], a[1], &q);
  return q;
}
static LLVMValueRef e_mod(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  if (fl) { /* a - b * floor(a / b), in double: an f32 quotient may round across an integer */
    LLVMTypeRef d = LLVMDoubleTypeInContext(x->C), t = LLVMTypeOf(a[0]);
    LLVMValueRef u = LLVMBuildFPExt(x->B, a[0], d, ""), v = LLVMBuildFPExt(x->B, a[1], d, "");
    if (!is_f32(a[0]))
      u = a[0], v = a[1];
    LLVMValueRef q = intr1(x, "llvm.floor", LLVMBuildFDiv(x->B, u, v, ""));
    LLVMValueRef r = LLVMBuildFSub(x->B, u, LLVMBuildFMul(x->B, v, q, ""), "");
    return is_f32(a[0]) ? LLVMBuildFPTrunc(x->B, r, t, "") : r;
  }
  LLVMValueRef q;
  return imod_floor(x, a[0], a[1], &q);
}
static LLVMValueRef e_neg(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return fl ? LLVMBuildFNeg(x->B, a[0], "") : LLVMBuildNeg(x->B, a[0], "");
}
static LLVMValueRef e_exp(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return fexp(x, a[0]); }
static LLVMValueRef e_log(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return libm(x, is_f32(a[0]) ? "logf" : "log", 1, a);
}
static LLVMValueRef e_tanh(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return is_f32(a[0]) ? tanh_f32(x, a[0]) : libm(x, "tanh", 1, a);
}
static LLVMValueRef e_sigmoid(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  LLVMTypeRef t = LLVMTypeOf(a[0]);
  LLVMValueRef one = fconst(x, t, 1.0);
  return b_fdiv(x, one, b_fadd(x, one, fexp(x, LLVMBuildFNeg(x->B, a[0], ""))));
}
static LLVMValueRef zero_of(LLVMValueRef a) { return LLVMConstNull(LLVMTypeOf(a)); }
static LLVMValueRef gt0(cg_ir *x, LLVMValueRef a, int fl) {
  return fl ? fcmp(x, LLVMRealOGT, a, zero_of(a)) : LLVMBuildICmp(x->B, LLVMIntSGT, a, zero_of(a), "");
}
static LLVMValueRef e_relu(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return sel(x, gt0(x, a[0], fl), a[0], zero_of(a[0]));
}
static LLVMValueRef e_leaky_relu(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return sel(x, gt0(x, a[0], fl), a[0], b_fmul(x, fconst(x, LLVMTypeOf(a[0]), p0), a[0]));
}
static LLVMValueRef e_abs(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  if (fl)
    return intr1(x, "llvm.fabs", a[0]);
  LLVMValueRef neg = LLVMBuildICmp(x->B, LLVMIntSLT, a[0], zero_of(a[0]), "");
  return sel(x, neg, LLVMBuildNeg(x->B, a[0], ""), a[0]);
}
static LLVMValueRef e_sign(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  LLVMTypeRef t = LLVMTypeOf(a[0]);
  if (fl)
    return sel(x, fcmp(x, LLVMRealOGE, a[0], zero_of(a[0])), fconst(x, t, 1), fconst(x, t, -1));
  return sel(x, LLVMBuildICmp(x->B, LLVMIntSGE, a[0], zero_of(a[0]), ""), LLVMConstInt(t, 1, 0),
             LLVMConstAllOnes(t));
}
static LLVMValueRef e_sqrt(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return intr1(x, "llvm.sqrt", a[0]); }
static LLVMValueRef e_rsqrt(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return b_fdiv(x, fconst(x, LLVMTypeOf(a[0]), 1.0), intr1(x, "llvm.sqrt", a[0]));
}
static LLVMValueRef e_floor(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return fl ? intr1(x, "llvm.floor", a[0]) : a[0];
}
/* softplus(a) = max(a, 0) + log1p(exp(-|a|)) */
static LLVMValueRef e_softplus(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  LLVMValueRef m = sel(x, fcmp(x, LLVMRealOGT, a[0], zero_of(a[0])), a[0], zero_of(a[0]));
  LLVMValueRef e = fexp(x, LLVMBuildFNeg(x->B, intr1(x, "llvm.fabs", a[0]), ""));
  return b_fadd(x, m, libm(x, is_f32(a[0]) ? "log1pf" : "log1p", 1, &e));
}
/* clip: fmin(fmax(a, lo), hi) for floats (NaN gives lo), integer bounds truncated. */
static LLVMValueRef e_clip(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  LLVMTypeRef t = LLVMTypeOf(a[0]);
  if (fl) {
    LLVMValueRef lo[2] = {a[0], fconst(x, t, p0)};
    LLVMValueRef m = cg_intrinsic(x, "llvm.maxnum", t, 2, lo);
    LLVMValueRef hi[2] = {m, fconst(x, t, p1)};
    return cg_intrinsic(x, "llvm.minnum", t, 2, hi);
  }
  LLVMValueRef lo = LLVMConstInt(t, (uint64_t)(int64_t)p0, 1), hi = LLVMConstInt(t, (uint64_t)(int64_t)p1, 1);
  LLVMValueRef r = sel(x, LLVMBuildICmp(x->B, LLVMIntSGT, a[0], hi, ""), hi, a[0]);
  return sel(x, LLVMBuildICmp(x->B, LLVMIntSLT, a[0], lo, ""), lo, r);
}
static LLVMValueRef e_cast(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return a[0]; }
static LLVMValueRef e_pow(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return libm(x, is_f32(a[0]) ? "powf" : "pow", 2, a);
}
static LLVMValueRef e_max(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  LLVMValueRef ge = fl ? fcmp(x, LLVMRealOGE, a[0], a[1]) : LLVMBuildICmp(x->B, LLVMIntSGE, a[0], a[1], "");
  return sel(x, ge, a[0], a[1]);
}
static LLVMValueRef e_min(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  LLVMValueRef le = fl ? fcmp(x, LLVMRealOLE, a[0], a[1]) : LLVMBuildICmp(x->B, LLVMIntSLE, a[0], a[1], "");
  return sel(x, le, a[0], a[1]);
}

static LLVMValueRef cmp(cg_ir *x, LLVMValueRef *a, int fl, LLVMRealPredicate fp, LLVMIntPredicate ip) {
  return fl ? fcmp(x, fp, a[0], a[1]) : LLVMBuildICmp(x->B, ip, a[0], a[1], "");
}
static LLVMValueRef e_lt(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return cmp(x, a, fl, LLVMRealOLT, LLVMIntSLT); }
static LLVMValueRef e_le(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return cmp(x, a, fl, LLVMRealOLE, LLVMIntSLE); }
static LLVMValueRef e_gt(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return cmp(x, a, fl, LLVMRealOGT, LLVMIntSGT); }
static LLVMValueRef e_ge(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return cmp(x, a, fl, LLVMRealOGE, LLVMIntSGE); }
static LLVMValueRef e_eq(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return cmp(x, a, fl, LLVMRealOEQ, LLVMIntEQ); }
static LLVMValueRef e_ne(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) { return cmp(x, a, fl, LLVMRealUNE, LLVMIntNE); }

/* Truth value (x != 0) of an operand: bools are already i1. */
LLVMValueRef cg_truth(cg_ir *x, LLVMValueRef v) {
  LLVMTypeRef t = LLVMTypeOf(v);
  if (LLVMGetTypeKind(t) == LLVMIntegerTypeKind && LLVMGetIntTypeWidth(t) == 1)
    return v;
  if (LLVMGetTypeKind(t) == LLVMIntegerTypeKind)
    return LLVMBuildICmp(x->B, LLVMIntNE, v, LLVMConstNull(t), "");
  return fcmp(x, LLVMRealUNE, v, LLVMConstNull(t));
}
static LLVMValueRef e_select(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return sel(x, cg_truth(x, a[0]), a[1], a[2]);
}
static LLVMValueRef e_and(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return LLVMBuildAnd(x->B, cg_truth(x, a[0]), cg_truth(x, a[1]), "");
}
static LLVMValueRef e_or(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return LLVMBuildOr(x->B, cg_truth(x, a[0]), cg_truth(x, a[1]), "");
}
static LLVMValueRef e_not(cg_ir *x, LLVMValueRef *a, int fl, double p0, double p1) {
  return LLVMBuildNot(x->B, cg_truth(x, a[0]), "");
}

/* The table: one row per scalar.def opcode. A missing row makes cg_scalar_supported fail,
 * which the codegen test suite checks for every opcode. */
static const emit_fn emitters[SC_NOPS] = {
    [SC_ADD] = e_add,         [SC_SUB] = e_sub,   [SC_MUL] = e_mul,       [SC_DIV] = e_div,
    [SC_NEG] = e_neg,         [SC_EXP] = e_exp,   [SC_LOG] = e_log,       [SC_TANH] = e_tanh,
    [SC_SIGMOID] = e_sigmoid, [SC_RELU] = e_relu, [SC_LEAKY_RELU] = e_leaky_relu,
    [SC_ABS] = e_abs,         [SC_SIGN] = e_sign, [SC_SQRT] = e_sqrt,     [SC_RSQRT] = e_rsqrt,
    [SC_FLOOR] = e_floor,     [SC_SOFTPLUS] = e_softplus,                 [SC_CLIP] = e_clip,
    [SC_CAST] = e_cast,       [SC_POW] = e_pow,   [SC_MAX] = e_max,       [SC_MIN] = e_min,
    [SC_MOD] = e_mod,         [SC_LT] = e_lt,     [SC_LE] = e_le,         [SC_GT] = e_gt,
    [SC_GE] = e_ge,           [SC_EQ] = e_eq,     [SC_NE] = e_ne,         [SC_SELECT] = e_select,
    [SC_AND] = e_and,         [SC_OR] = e_or,     [SC_NOT] = e_not,
};

int cg_scalar_supported(int op) { return op >= 0 && op < SC_NOPS && emitters[op] != NULL; }

LLVMValueRef cg_scalar(cg_ir *x, int op, int is_float, LLVMValueRef *args, double p0, double p1) {
  if (!cg_scalar_supported(op))
    return NULL;
  return emitters[op](x, args, is_float, p0, p1);
}
