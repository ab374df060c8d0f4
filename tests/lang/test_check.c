/* test_check.c — the checker on whole programs: golden --dump=types output for every
 * construct (tests/lang/golden/types/NAME.nn -> NAME.types), every stdlib/ and examples/
 * file checks clean, and targeted properties (instantiation, several errors per run, no
 * cascades). The bad-program corpus is run by test_parse_bad.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "lang.h"

static const char *stdlib_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

static Lang *new_lang(void) {
  LangOptions o = {.import_paths = stdlib_paths};
  Lang *L = lang_new(&o);
  cr_assert_not_null(L);
  return L;
}

/* Counts diagnostics of one level; renders them all into *text (caller frees). */
static int count_level(Lang *L, DiagLevel lv, char **text) {
  int n = 0;
  for (const Diag *d = diag_first(L); d; d = d->next) n += d->level == lv;
  if (text) {
    size_t len;
    FILE *f = open_memstream(text, &len);
    diag_render(L, f, 0);
    fclose(f);
  }
  return n;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

/* Checks one file: no errors and no warnings; returns its type dump (caller frees). */
static char *check_clean(const char *path) {
  Lang *L = new_lang();
  Node *file = lang_parse_file(L, path);
  cr_assert_not_null(file, "cannot read %s", path);
  lang_check(L, file);
  char *msgs = NULL;
  int e = count_level(L, DIAG_ERROR, &msgs), w = count_level(L, DIAG_WARNING, NULL);
  cr_expect(e == 0 && w == 0, "%s: %d errors, %d warnings:\n%s", path, e, w, msgs);
  free(msgs);
  char *dump = NULL;
  size_t len;
  FILE *f = open_memstream(&dump, &len);
  lang_dump_types(L, file, f);
  fclose(f);
  lang_free(L);
  return dump;
}

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Calls f(path) for every .nn file of dir; returns how many. */
static int each_nn(const char *dir, void (*f)(const char *)) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "cannot open %s", dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!has_suffix(e->d_name, ".nn")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    f(path);
    n++;
  }
  closedir(d);
  return n;
}

static void golden_one(const char *path) {
  char *dump = check_clean(path);
  char want_path[1024];
  snprintf(want_path, sizeof want_path, "%.*s.types", (int)(strlen(path) - 3), path);
  char *want = read_text(want_path);
  cr_expect_not_null(want, "missing golden file %s", want_path);
  if (want) cr_expect_str_eq(dump, want, "%s: --dump=types differs from %s", path, want_path);
  free(want);
  free(dump);
}

Test(check, golden_types) {
  int n = each_nn(NNC_SOURCE_DIR "/tests/lang/golden/types", golden_one);
  cr_assert_geq(n, 6, "golden programs found: %d", n);
}

static void clean_one(const char *path) {
  free(check_clean(path));
}

Test(check, stdlib_checks_clean) {
  cr_assert_geq(each_nn(NNC_SOURCE_DIR "/stdlib", clean_one), 1);
}

Test(check, examples_check_clean) {
  cr_assert_geq(each_nn(NNC_SOURCE_DIR "/examples", clean_one), 3);
}

/* ---------------------------------------------------------------- targeted */

static Lang *check_src(const char *src, Node **file) {
  Lang *L = new_lang();
  *file = lang_parse_string(L, "t.nn", src, strlen(src));
  cr_assert_not_null(*file);
  lang_check(L, *file);
  return L;
}

static char *dump_of(Lang *L, Node *file) {
  char *dump = NULL;
  size_t len;
  FILE *f = open_memstream(&dump, &len);
  lang_dump_types(L, file, f);
  fclose(f);
  return dump;
}

Test(check, instance_substitutes_hyper_parameters) {
  Node *file;
  Lang *L = check_src("import nn\n"
                      "model M {\n"
                      "  l1 = nn.Linear(784, 256)\n"
                      "  fn w() = l1.W\n"
                      "  fn cell() = nn.LSTMCell(32, 64).Wx\n"
                      "}\n", &file);
  cr_assert_eq(diag_error_count(L), 0);
  char *d = dump_of(L, file);
  cr_expect(strstr(d, "fn w() -> f32[256, 784]"), "%s", d);
  cr_expect(strstr(d, "fn cell() -> f32[256, 32]"), "%s", d);
  free(d);
  lang_free(L);
}

Test(check, several_errors_and_no_cascade) {
  Node *file;
  Lang *L = check_src("fn f(x: f32[B, 4], W: f32[8, 2]) {\n"
                      "  let y = x @ W\n"          /* error 1 */
                      "  let z = relu(y) + 1\n"    /* y is TY_ERROR: silent */
                      "  let q = undefined_name\n" /* error 2 */
                      "  let r = sum(x, axes = 0)\n" /* error 3 */
                      "  return (z, q, r)\n"
                      "}\n", &file);
  char *msgs = NULL;
  int e = count_level(L, DIAG_ERROR, &msgs);
  cr_expect_eq(e, 3, "%s", msgs);
  cr_expect(strstr(msgs, "inner dimensions differ: f32[B, 4] @ f32[8, 2] (4 vs 8)"), "%s", msgs);
  free(msgs);
  lang_free(L);
}

Test(check, generic_dims_bind_per_call) {
  Node *file;
  Lang *L = check_src("fn f(a: f32[B, D], b: f32[D, K]) = a @ b\n"
                      "fn g(x: f32[3, 5], w: f32[5, 7], v: f32[9, 3]) = (f(x, w), f(v, x))\n", &file);
  cr_assert_eq(diag_error_count(L), 0);
  char *d = dump_of(L, file);
  cr_expect(strstr(d, "fn g(x: f32[3, 5], w: f32[5, 7], v: f32[9, 3]) -> (f32[3, 7], f32[9, 5])"), "%s", d);
  free(d);
  lang_free(L);
}

Test(check, shadowing_builtin_is_a_warning) {
  Node *file;
  Lang *L = check_src("fn tanh(x: f32[B]) -> f32[B] = x\nfn g(x: f32[B]) = tanh(x)\n", &file);
  cr_expect_eq(diag_error_count(L), 0);
  cr_expect_eq(count_level(L, DIAG_WARNING, NULL), 1);
  lang_free(L);
}

/* Every built-in op's shape rule is exercised by some golden program or library file. */
static char corpus[1 << 20];
static size_t corpus_len;

static void append_file(const char *path) {
  char *s = read_text(path);
  size_t n = s ? strlen(s) : 0;
  if (s && corpus_len + n < sizeof corpus) memcpy(corpus + corpus_len, s, n), corpus_len += n;
  corpus[corpus_len] = 0;
  free(s);
}

static int used_as_call(const char *name) {
  size_t n = strlen(name);
  for (const char *p = strstr(corpus, name); p; p = strstr(p + 1, name)) {
    int start = p == corpus || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= '0' && p[-1] <= '9'));
    const char *q = p + n;
    while (*q == ' ') q++;
    if (start && *q == '(') return 1;
  }
  return 0;
}

Test(check, every_builtin_has_a_golden_use) {
  each_nn(NNC_SOURCE_DIR "/tests/lang/golden/types", append_file);
  each_nn(NNC_SOURCE_DIR "/stdlib", append_file);
  each_nn(NNC_SOURCE_DIR "/examples", append_file);
  static const char *ops[] = {
#define X(n, sig, rule) #n,
#include "builtins.def"
#undef X
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    cr_expect(used_as_call(ops[i]), "built-in '%s' is not exercised by any golden program", ops[i]);
}

static int errors_of(const char *src, char **msgs) {
  Node *file;
  Lang *L = check_src(src, &file);
  int e = count_level(L, DIAG_ERROR, msgs);
  lang_free(L);
  return e;
}

Test(check, weak_literals_and_compile_time_values) {
  char *m = NULL;
  cr_expect_eq(errors_of("fn f(n: i32[B], x: f32[B]) = (n + 1, 2 * n, x * 0.5, x / 255, n * (4 / 2))\n", &m), 0, "%s", m);
  free(m);
  cr_expect_eq(errors_of("module M(r: float = 0.1, on: bool = true) {\n"
                         "  fn f(x: f32[B]) -> f32[B] = (on ? r : 1) * x\n}\n", &m), 0, "%s", m);
  free(m);
  cr_expect_eq(errors_of("fn f(n: i32[B]) = n * (3 / 2)\n", &m), 1, "3/2 is a float: %s", m);
  free(m);
}

Test(check, keyword_arguments_and_defaults_of_user_functions) {
  char *m = NULL;
  cr_expect_eq(errors_of("fn g(x: f32[B, D], k: int = 2, s: float = 1.0) = reshape(x * s, B, D / k, k)\n"
                         "fn f(x: f32[4, 6]) -> f32[4, 2, 3] = g(x, s = 0.5, k = 3)\n", &m), 0, "%s", m);
  free(m);
  cr_expect_eq(errors_of("fn g(x: f32[B], k: int) = x\nfn f(x: f32[4]) = g(x)\n", &m), 1, "%s", m);
  cr_expect(strstr(m, "missing argument 'k' in call to g(x, k)"), "%s", m);
  free(m);
}

Test(check, recursion_with_declared_result) {
  char *m = NULL;
  cr_expect_eq(errors_of("fn f(x: f32[B]) -> f32[B] = f(x)\n", &m), 0, "%s", m);
  free(m);
}

/* ---------------------------------------------------------------- mutants */

/* Deterministic mutants of the golden programs (a token replaced, inserted or deleted):
 * the checker must not crash, and when it reports no error no expression may be left
 * with TY_ERROR (a silent failure). */
static unsigned rng_state = 12345;

static unsigned rnd(unsigned n) {
  rng_state = rng_state * 1103515245u + 12345u;
  return (rng_state >> 16) % n;
}

static const Node *silent_error(const Node *n) {
  if (!n) return NULL;
  if (n->type && n->type->kind == TY_ERROR) return n;
  for (int i = 0; i < n->nkids; i++) {
    const Node *s = silent_error(n->kids[i]);
    if (s) return s;
  }
  return NULL;
}

static const char *mut_tokens[] = {"x", "B", "0", "-1", "2.5", "(", ")", "[", "]", ",", "@", "+", "*", "/",
                                   "axis = 1", "f32[B]", "i32[B]", "(a, b)", "zeros(B)", "None", "...", "T",
                                   ".T", "relu", "training", "true", "not", "**", "%", "x[:, -9]", "h", "W"};

static void mutate_and_check(const char *text, size_t len, int count) {
  char *buf = malloc(len + 64);
  for (int k = 0; k < count; k++) {
    size_t at = rnd((unsigned)len), n = 0;
    while (at < len && (text[at] == ' ' || text[at] == '\n')) at++;
    size_t end = at;
    while (end < len && text[end] != ' ' && text[end] != '\n') end++;
    memcpy(buf, text, at);
    n = at;
    unsigned op = rnd(3);
    const char *t = mut_tokens[rnd(sizeof mut_tokens / sizeof mut_tokens[0])];
    if (op != 2) n += (size_t)sprintf(buf + n, "%s ", t);
    size_t rest = op == 1 ? at : end;
    memcpy(buf + n, text + rest, len - rest);
    n += len - rest;
    Lang *L = new_lang();
    Node *file = lang_parse_string(L, "mutant.nn", buf, n);
    lang_check(L, file);
    FILE *nul = fopen("/dev/null", "w");
    lang_dump_types(L, file, nul);
    fclose(nul);
    const Node *s = diag_error_count(L) == 0 ? silent_error(file) : NULL;
    cr_expect_null(s, "silent TY_ERROR in mutant:\n%.*s", (int)n, buf);
    lang_free(L);
  }
  free(buf);
}

static void mutate_file(const char *path) {
  char *s = read_text(path);
  if (s) mutate_and_check(s, strlen(s), 40);
  free(s);
}

Test(check, mutants_do_not_crash_or_fail_silently) {
  cr_assert_geq(each_nn(NNC_SOURCE_DIR "/tests/lang/golden/types", mutate_file), 6);
}
