/* repl.c — placeholder while the REPL is written. */
#include "api_int.h"
int repl_main(const char *const *import_paths, FILE *in, FILE *out) { (void)import_paths, (void)in, (void)out; return 1; }
