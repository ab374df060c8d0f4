/* test_parse.c — the parser: golden AST dumps of good programs (tests/lang/golden/ok), and
 * targeted checks of precedence, recovery, limits and imports. Regenerate the goldens with
 * scripts/update-golden.sh after an intended change, and review the diff. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lang.h"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

/* Renders diagnostics without the source lines (those start with a space). */
static char *diag_lines(Lang *L) {
  char *raw = NULL, *out = NULL;
  size_t rawlen = 0, outlen = 0;
  FILE *f = open_memstream(&raw, &rawlen);
  diag_render(L, f, 0);
  fclose(f);
  FILE *o = open_memstream(&out, &outlen);
  for (char *line = raw; line && *line;) {
    char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
    if (line[0] != ' ')
      fwrite(line, 1, n, o);
    line += n;
  }
  fclose(o);
  free(raw);
  return out;
}

static char *dump_ast(Lang *L, const Node *n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ast_dump(L, n, f);
  fclose(f);
  return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_nn(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return n > 3 && strcmp(e->d_name + n - 3, ".nn") == 0;
}

/* Every golden/ok/NAME.nn parses without a diagnostic and dumps exactly as NAME.ast. */
Test(parse, golden) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  struct dirent **names;
  int n = scandir("tests/lang/golden/ok", &names, is_nn, by_name);
  cr_assert_geq(n, 10, "golden programs missing");
  for (int i = 0; i < n; i++) {
    char path[512], want_path[512];
    snprintf(path, sizeof path, "tests/lang/golden/ok/%s", names[i]->d_name);
    snprintf(want_path, sizeof want_path, "%.*s.ast", (int)(strlen(path) - 3), path);
    Lang *L = lang_new(NULL);
    Node *file = lang_parse_file(L, path);
    char *diags = diag_lines(L);
    cr_expect_str_eq(diags, "", "%s: unexpected diagnostics", path);
    size_t len;
    char *want = read_file(want_path, &len);
    cr_expect_not_null(want, "%s: missing (run scripts/update-golden.sh)", want_path);
    char *got = dump_ast(L, file);
    if (want)
      cr_expect_str_eq(got, want, "%s: AST differs from %s", path, want_path);
    free(got);
    free(want);
    free(diags);
    lang_free(L);
    free(names[i]);
  }
  free(names);
}

/* Parses src alone (imports not followed); returns its AST dump. */
static char *parse_dump(const char *src, int *errors) {
  Lang *L = lang_new(NULL);
  Node *file = lang_parse_source(L, src_from_string(L, "t.nn", src, strlen(src)));
  *errors = diag_error_count(L);
  char *out = dump_ast(L, file);
  lang_free(L);
  return out;
}

static void expect_dump_contains(const char *src, const char *want) {
  int errors;
  char *got = parse_dump(src, &errors);
  cr_expect_eq(errors, 0, "%s: errors", src);
  cr_expect(strstr(got, want) != NULL, "%s:\n%s\ndoes not contain\n%s", src, got, want);
  free(got);
}

Test(parse, precedence) {
  expect_dump_contains("const a = 1 + 2 * 3", "(binary + :1:11\n      (int 1)\n"
                       "      (binary * :1:15\n        (int 2)\n        (int 3)))");
  expect_dump_contains("const a = -2 ** 2", "(unary - :1:11\n      (binary ** :1:12");
  expect_dump_contains("const a = 2 ** 3 ** 4", "(int 2)\n      (binary ** :1:16");
  expect_dump_contains("const a = not x == y", "(unary not :1:11\n      (binary ==");
  expect_dump_contains("const a = x or y and z", "(binary or :1:11\n      (name x)\n"
                       "      (binary and");
  expect_dump_contains("const a = c ? x : y ? z : w", "(cond :1:11\n      (name c)\n"
                       "      (name x)\n      (cond");
  expect_dump_contains("const a = x @ w + b", "(binary + :1:11\n      (binary @");
}

Test(parse, empty_file_is_valid) {
  int errors;
  char *got = parse_dump("", &errors);
  cr_expect_eq(errors, 0);
  cr_expect_str_eq(got, "(file)\n");
  free(got);
  got = parse_dump("\n\n;; # only comments\n", &errors);
  cr_expect_eq(errors, 0);
  cr_expect_str_eq(got, "(file)\n");
  free(got);
}

/* One error per broken statement, none for the good ones around them. */
Test(parse, recovery_reports_each_statement_once) {
  const char *src = "fn f(x: f32[B]) {\n  let a = x x\n  let b = x\n  let c = (x\n"
                    "  let d = ]\n  return b\n}\nfn g() = 1 1\nfn h() = 2\n";
  Lang *L = lang_new(NULL);
  Node *file = lang_parse_string(L, "t.nn", src, strlen(src));
  cr_expect_eq(diag_error_count(L), 4);
  int lines[4] = {0}, k = 0;
  for (const Diag *d = diag_first(L); d && k < 4; d = d->next, k++) {
    int col;
    src_linecol(src_get(L, 0), d->span.off, &lines[k], &col);
  }
  cr_expect(lines[0] == 2 && lines[1] == 5 && lines[2] == 5 && lines[3] == 8,
            "error lines %d %d %d %d", lines[0], lines[1], lines[2], lines[3]);
  cr_expect_eq(file->nkids, 3, "f, g and h survive");
  lang_free(L);
}

Test(parse, nested_parens_limit) {
  size_t n = 10000;
  char *src = malloc(2 * n + 32);
  strcpy(src, "const a = ");
  size_t k = strlen(src);
  memset(src + k, '(', n);
  src[k + n] = 'x';
  memset(src + k + n + 1, ')', n);
  src[k + 2 * n + 1] = '\0';
  Lang *L = lang_new(NULL);
  lang_parse_string(L, "t.nn", src, strlen(src));
  cr_expect_eq(diag_error_count(L), 1);
  cr_expect_str_eq(diag_first(L)->msg, "expression nested too deeply (limit 256)");
  lang_free(L);
  free(src);
}

Test(parse, long_chains_are_bounded) {
  static const char *const units[] = {"-", "not ", "a ** ", "x + "};
  for (int u = 0; u < 4; u++) {
    size_t ul = strlen(units[u]), reps = 100000;
    char *src = malloc(ul * reps + 32);
    strcpy(src, "const a = ");
    size_t k = strlen(src);
    for (size_t i = 0; i < reps; i++, k += ul)
      memcpy(src + k, units[u], ul);
    strcpy(src + k, "x\n");
    Lang *L = lang_new(NULL);
    Node *file = lang_parse_string(L, "t.nn", src, strlen(src));
    cr_expect_eq(diag_error_count(L), 1, "'%s' x %zu", units[u], reps);
    const Diag *d = diag_first(L);
    cr_expect(d && strstr(d->msg, "nested too deeply"), "'%s': %s", units[u], d ? d->msg : "-");
    char *dump = dump_ast(L, file);   /* must not overflow the C stack */
    free(dump);
    lang_free(L);
    free(src);
  }
}

Test(parse, one_megabyte_line) {
  size_t terms = 250000;
  char *src = malloc(terms * 4 + 64);
  strcpy(src, "const a = sum([");
  size_t k = strlen(src);
  for (size_t i = 0; i < terms; i++, k += 4)
    memcpy(src + k, i + 1 < terms ? "1,  " : "1   ", 4);
  strcpy(src + k, "])\n");
  cr_assert_gt(strlen(src), 1000000);
  clock_t t0 = clock();
  Lang *L = lang_new(NULL);
  Node *file = lang_parse_string(L, "t.nn", src, strlen(src));
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  cr_expect_eq(diag_error_count(L), 0);
  cr_expect_eq(file->kids[0]->kids[1]->kids[1]->nkids, (int)terms, "list of %zu", terms);
  cr_expect_lt(secs, 2.0, "1 MB line took %.2f s", secs);
  lang_free(L);
  free(src);
}

Test(parse, imports_resolve_once) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  Lang *L = lang_new(NULL);
  Node *file = lang_parse_file(L, "tests/lang/golden/ok/imports.nn");
  cr_assert_not_null(file);
  cr_expect_eq(diag_error_count(L), 0);
  cr_expect_eq(lang_file_count(L), 2, "lib/util.nn is loaded once for three imports");
  Node *a = lang_import_file(L, file->kids[0]), *b = lang_import_file(L, file->kids[1]);
  cr_expect_not_null(a);
  cr_expect_eq(a, b);
  cr_expect_eq(a, lang_file_ast(L, 1));
  lang_free(L);
}

Test(parse, import_paths_option_and_env) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  const char *paths[] = {"tests/lang/golden/ok/lib", NULL};
  LangOptions opt = {paths, 0, 0};
  Lang *L = lang_new(&opt);
  const char *src = "import util\n";
  Node *file = lang_parse_string(L, "t.nn", src, strlen(src));
  cr_expect_eq(diag_error_count(L), 0);
  cr_expect_not_null(lang_import_file(L, file->kids[0]));
  lang_free(L);
  setenv("NNC_PATH", "/nonexistent:tests/lang/golden/ok/lib", 1);
  L = lang_new(NULL);
  file = lang_parse_string(L, "t.nn", src, strlen(src));
  cr_expect_eq(diag_error_count(L), 0);
  cr_expect_not_null(lang_import_file(L, file->kids[0]));
  lang_free(L);
  unsetenv("NNC_PATH");
}

Test(parse, ast_dump_payloads) {
  expect_dump_contains("model M(a: int = 3) { param W: f32[a] = glorot }",
                       "(module M model hparams=1 :1:1\n    (hparam a :1:9\n      (tscalar int)\n      (int 3))");
  expect_dump_contains("import \"x/y.nn\" as z", "(import x/y.nn path as z)");
  expect_dump_contains("const s = \"a\\tb\"", "(string \"a\\tb\")");
  expect_dump_contains("const s = 1.50", "(float 1.50)");
  expect_dump_contains("fn f(x: f32[]) = x", "(ttensor f32 [])");
}

Test(parse, warnings_as_errors_and_max_errors) {
  LangOptions opt = {NULL, 1, 3};
  Lang *L = lang_new(&opt);
  Diag *d = diag_warning(L, (Span){-1, 0, 0}, "careful");
  cr_expect_eq(d->level, DIAG_ERROR);
  cr_expect_str_eq(d->msg, "careful [-Werror]");
  const char *src = "$ $ $ $ $";
  lang_parse_string(L, "t.nn", src, strlen(src));
  cr_expect_eq(diag_error_count(L), 6, "all errors are counted");
  char *out = diag_lines(L);
  cr_expect(strstr(out, "error: too many errors (limit 3); 3 more not shown\n") != NULL, "%s", out);
  free(out);
  lang_free(L);
}

Test(parse, render_format) {
  Lang *L = lang_new(NULL);
  const char *src = "fn f() {\n\tlet y = x @ W\n}\n";
  SrcFile *f = src_from_string(L, "m.nn", src, strlen(src));
  Diag *d = diag_error(L, (Span){f->id, 18, 5}, "matmul: inner dimensions differ");
  diag_note(L, d, (Span){f->id, 4, 1}, "declared here");
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  diag_render(L, out, 0);
  fclose(out);
  cr_expect_str_eq(buf, "m.nn:2:10: error: matmul: inner dimensions differ\n"
                        " 2 | \tlet y = x @ W\n"
                        "   | \t        ^~~~~\n"
                        "m.nn:1:5: note: declared here\n"
                        " 1 | fn f() {\n"
                        "   |     ^\n");
  free(buf);
  lang_free(L);
}

/* Every ```nn block of docs/language.md is valid syntax (imports are not followed). */
Test(parse, docs_examples) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  size_t len;
  char *doc = read_file("docs/language.md", &len);
  cr_assert_not_null(doc);
  int blocks = 0;
  for (char *p = strstr(doc, "\n```nn\n"); p; p = strstr(p, "\n```nn\n")) {
    char *start = p + 7, *end = strstr(start, "\n```");
    cr_assert_not_null(end);
    Lang *L = lang_new(NULL);
    lang_parse_source(L, src_from_string(L, "doc.nn", start, (size_t)(end - start + 1)));
    char *diags = diag_lines(L);
    cr_expect_str_eq(diags, "", "docs block %d:\n%.*s", blocks, (int)(end - start), start);
    free(diags);
    lang_free(L);
    blocks++;
    p = end;
  }
  cr_expect_geq(blocks, 19, "one example per construct");
  free(doc);
}
