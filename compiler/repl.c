/* repl.c — `nnc` with no file, or `nnc repl`: the terminal side of the REPL. Lines come
 * from libedit (line editing, history in ~/.nnc_history) when stdin is a terminal, else
 * from stdin as they are (scripted sessions: no prompts). Lines gather into one input
 * while it is incomplete (repl_needs_more); each input goes to the session (repl_eval.c),
 * which prints values and diagnostics and goes on after errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "api_int.h"

/* The next line (malloc'ed, without its newline), or NULL at end of input. */
static char *next_line(FILE *in, int tty, const char *prompt) {
  if (tty) return readline(prompt);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, in);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n && line[n - 1] == '\n') line[n - 1] = 0;
  return line;
}

static char *append(char *buf, const char *line) {
  size_t a = buf ? strlen(buf) : 0, b = strlen(line);
  char *r = realloc(buf, a + b + 2);
  if (!r) return buf;
  if (!a) r[0] = 0;
  memcpy(r + a, line, b);
  r[a + b] = '\n';
  r[a + b + 1] = 0;
  return r;
}

static void history_path(char *buf, size_t cap) {
  const char *home = getenv("HOME");
  snprintf(buf, cap, "%s/.nnc_history", home ? home : ".");
}

int repl_main(const char *const *import_paths, FILE *in, FILE *out) {
  int tty = isatty(fileno(in)) && isatty(fileno(out));
  repl_session *s = repl_new(import_paths);
  if (!s) return fprintf(stderr, "nnc: out of memory\n"), 1;
  char hist[1024];
  history_path(hist, sizeof hist);
  if (tty) {
    read_history(hist);
    fprintf(out, "nnc %s REPL: :help for commands, :quit to leave\n", nnc_version());
  }
  char *input = NULL, *line;
  int quit = 0;
  while (!quit && (line = next_line(in, tty, input ? "... " : ">>> "))) {
    input = append(input, line);
    free(line);
    if (repl_needs_more(input)) continue;
    if (tty && input[strspn(input, " \t\n")]) {
      input[strlen(input) - 1] = 0;
      add_history(input);
    }
    quit = repl_input(s, input, out);
    fflush(out);
    free(input);
    input = NULL;
  }
  if (input) quit = repl_input(s, input, out);
  free(input);
  if (tty) write_history(hist);
  repl_free(s);
  return 0;
}
