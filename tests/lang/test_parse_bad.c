/* test_parse_bad.c — the bad-program corpus: every tests/lang/bad/NAME.nn must print
 * exactly the diagnostic lines of NAME.expected (path:line:col: level: message, notes
 * included, source lines left out), as `nnc --check` would: parse, then check when the
 * parse was clean. Runs in-process, one pass over the directory. The inputs too big to
 * commit (1 MB lines, 10,000 parentheses) are generated here. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang.h"

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  int c;
  while ((c = fgetc(f)) != EOF)
    fputc(c, out);
  fclose(out);
  fclose(f);
  return buf;
}

/* The rendered diagnostics without source lines (those start with a space). */
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

/* What `nnc --check path` prints, minus source lines. */
static char *check_file(const char *path) {
  Lang *L = lang_new(NULL);
  Node *file = lang_parse_file(L, path);
  if (file && diag_error_count(L) == 0)
    lang_check(L, file);
  char *out = diag_lines(L);
  lang_free(L);
  return out;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_nn(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return n > 3 && strcmp(e->d_name + n - 3, ".nn") == 0;
}

Test(bad, corpus) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  struct dirent **names;
  int n = scandir("tests/lang/bad", &names, is_nn, by_name);
  cr_assert_geq(n, 30, "corpus missing");
  int failed = 0;
  for (int i = 0; i < n; i++) {
    char path[512], exp_path[512];
    snprintf(path, sizeof path, "tests/lang/bad/%s", names[i]->d_name);
    snprintf(exp_path, sizeof exp_path, "%.*s.expected", (int)(strlen(path) - 3), path);
    char *want = read_file(exp_path);
    char *got = check_file(path);
    if (!want) {
      cr_expect_fail("%s: no %s", path, exp_path);
      failed++;
    } else if (strcmp(got, want) != 0) {
      cr_expect_fail("%s:\n--- expected\n%s--- got\n%s", path, want, got);
      failed++;
    }
    free(want);
    free(got);
    free(names[i]);
  }
  free(names);
  cr_log_info("bad corpus: %d files, %d failed", n, failed);
}

/* Every syntax-corpus file named in the list must exist and report at least one error
 * (or be the empty file, which is valid). */
Test(bad, syntax_files_fail) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  static const char *const files[] = {
    "unterminated_string", "unterminated_block_comment", "stray_dollar_sign",
    "invalid_utf8_bad_lead_byte", "invalid_utf8_truncated_sequence",
    "invalid_utf8_overlong_encoding", "missing_closing_brace", "missing_closing_paren",
    "bad_number_exponent", "bad_number_hex", "chained_comparison", "let_without_equals",
    "bad_pattern", "bad_import_syntax", "param_inside_fn", "scan_without_along",
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "tests/lang/bad/%s.nn", files[i]);
    Lang *L = lang_new(NULL);
    cr_expect_not_null(lang_parse_file(L, path), "%s", path);
    cr_expect_gt(diag_error_count(L), 0, "%s: no error", path);
    lang_free(L);
  }
}

static char *parse_lines(const char *src, size_t len) {
  Lang *L = lang_new(NULL);
  lang_parse_string(L, "gen.nn", src, len);
  char *out = diag_lines(L);
  lang_free(L);
  return out;
}

Test(bad, ten_thousand_nested_parens) {
  size_t n = 10000;
  char *src = malloc(2 * n + 32);
  size_t k = (size_t)sprintf(src, "fn f(x: f32[B]) = ");
  memset(src + k, '(', n);
  src[k + n] = 'x';
  memset(src + k + n + 1, ')', n);
  strcpy(src + k + 2 * n + 1, "\n");
  char *got = parse_lines(src, strlen(src));
  cr_expect_str_eq(got, "gen.nn:1:275: error: expression nested too deeply (limit 256)\n");
  free(got);
  free(src);
}

Test(bad, one_megabyte_line_of_garbage) {
  size_t n = 1 << 20;
  char *src = malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    src[i] = "$x)+\xff"[i % 5];
  src[n] = '\0';
  char *got = parse_lines(src, n);
  cr_expect(strstr(got, "error: too many errors (limit 50)") != NULL, "%.300s", got);
  free(got);
  free(src);
}

Test(bad, one_megabyte_string) {
  size_t n = 1 << 20;
  char *src = malloc(n + 32);
  size_t k = (size_t)sprintf(src, "const s = \"");
  memset(src + k, 'a', n);
  strcpy(src + k + n, "\n");
  char *got = parse_lines(src, strlen(src));
  cr_expect_str_eq(got, "gen.nn:1:11: error: unterminated string\n"
                        "gen.nn:1:1048588: note: the line ends here; a string cannot span "
                        "lines (write \\n for a newline)\n");
  free(got);
  free(src);
}

/* Random bytes and random token soup must never crash or hang (Criterion reports a
 * crash as a failure). Deterministic xorshift so a failure reproduces. */
Test(bad, fuzz_no_crash, .timeout = 20) {
  static const char *const pieces[] = {
    "fn", "(", ")", "{", "}", "[", "]", "let", "=", "x", "1", ",", ":", "\n", "scan",
    "over", "along", "from", "module", "param", "f32", "..", "...", "?", "\"s", "/*", "*/",
    "import", "train", "<", "**", "-", "not", "if", "else", "return", ";", ".", "\xc3", "@",
  };
  uint64_t s = 88172645463325252ull;
  for (int round = 0; round < 300; round++) {
    char src[2048];
    size_t k = 0;
    while (k < sizeof src - 16) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      const char *p = pieces[s % (sizeof pieces / sizeof pieces[0])];
      size_t pl = strlen(p);
      memcpy(src + k, p, pl);
      k += pl;
      src[k++] = (s >> 20) % 3 ? ' ' : (char)(s >> 32);
    }
    src[k] = '\0';
    Lang *L = lang_new(NULL);
    Node *file = lang_parse_string(L, "fuzz.nn", src, k);
    cr_assert_not_null(file);
    char *junk = diag_lines(L);
    free(junk);
    lang_free(L);
  }
}
