/* test_parse_cli.c — the real nnc binary on a few files: exit status and output format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `nnc ARGS` in the source tree; returns its exit status, output in *out. */
static int run_nnc(const char *args, char **out) {
  cr_assert_eq(chdir(NNC_SOURCE_DIR), 0);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "NO_COLOR=1 %s/nnc %s 2>&1", NNC_BINARY_DIR, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t len = 0;
  FILE *o = open_memstream(out, &len);
  int c;
  while ((c = fgetc(p)) != EOF)
    fputc(c, o);
  fclose(o);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(cli, check_reports_syntax_error_with_source_line) {
  char *out;
  int st = run_nnc("--check tests/lang/bad/unterminated_string.nn", &out);
  cr_expect_eq(st, 1);
  cr_expect_str_eq(out, "tests/lang/bad/unterminated_string.nn:2:11: error: unterminated string\n"
                        " 2 |   let s = \"hello\n"
                        "   |           ^\n"
                        "tests/lang/bad/unterminated_string.nn:2:17: note: the line ends here; a "
                        "string cannot span lines (write \\n for a newline)\n"
                        " 2 |   let s = \"hello\n"
                        "   |                 ^\n");
  free(out);
}

Test(cli, check_exit_status) {
  char *out;
  cr_expect_eq(run_nnc("--check tests/lang/bad/missing_closing_brace.nn", &out), 1);
  cr_expect(strncmp(out, "tests/lang/bad/missing_closing_brace.nn:4:1: error: ", 52) == 0, "%s", out);
  free(out);
  cr_expect_eq(run_nnc("--check tests/lang/bad/empty_file.nn", &out), 0);
  cr_expect_str_eq(out, "");
  free(out);
  cr_expect_eq(run_nnc("--check tests/lang/bad/no_such_file.nn", &out), 1);
  cr_expect(strstr(out, "error: cannot read 'tests/lang/bad/no_such_file.nn'") != NULL, "%s", out);
  free(out);
}

Test(cli, run_needs_a_train_declaration) {
  char *out;
  cr_expect_eq(run_nnc("tests/lang/bad/empty_file.nn", &out), 1);
  cr_expect(strstr(out, "no train declaration") != NULL, "%s", out);
  free(out);
}

Test(cli, dumps) {
  char *out;
  cr_expect_eq(run_nnc("--dump=tokens tests/lang/golden/ok/lib/util.nn", &out), 0);
  cr_expect(strstr(out, "2:1 'fn' 'fn'\n2:4 identifier 'double'\n") != NULL, "%s", out);
  free(out);
  cr_expect_eq(run_nnc("--dump=ast tests/lang/golden/ok/lib/util.nn", &out), 0);
  cr_expect(strncmp(out, "(file :1:1\n  (fn double :2:1\n", 28) == 0, "%s", out);
  free(out);
}

Test(cli, options) {
  char *out;
  cr_expect_eq(run_nnc("--version", &out), 0);
  cr_expect(strncmp(out, "nnc ", 4) == 0, "%s", out);
  free(out);
  cr_expect_eq(run_nnc("--help", &out), 0);
  cr_expect(strstr(out, "--dump=") && strstr(out, "--check") && strstr(out, "-Werror"), "%s", out);
  free(out);
  cr_expect_eq(run_nnc("--frobnicate x.nn", &out), 2);
  cr_expect(strstr(out, "bad option '--frobnicate'") != NULL, "%s", out);
  free(out);
  cr_expect_eq(run_nnc("--dump=bytes x.nn", &out), 2);
  free(out);
  cr_expect_eq(run_nnc("--max-errors=2 --check tests/lang/bad/too_many_errors.nn", &out), 1);
  cr_expect(strstr(out, "error: too many errors (limit 2); 58 more not shown") != NULL, "%s", out);
  free(out);
}
