/* gen.c — the character corpus of the zoneout experiment (a), the harness of entry 38 of
 * shared/models.md: fortunes split by fortune (seeded shuffle), lower-cased, 50 KB of
 * training text followed by 50 KB of validation text in one file, so that the driver's
 * text(path, split = 0.5) holds out exactly the validation part.
 * Characters outside a-z 0-9 and common punctuation are dropped; runs of blanks become
 * one space (the vocabulary stays under 64 symbols).
 *
 * usage: gen OUT.txt [FORTUNE_DIR=/usr/share/games/fortunes] [BYTES=50000] [SEED=0]
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

typedef struct Buf {
  char *p;
  size_t n, cap;
} Buf;

static int put(Buf *b, char c) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 1 << 16;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p, b->cap = cap;
  }
  b->p[b->n++] = c;
  return 0;
}

static int keep(int c) { return islower(c) || isdigit(c) || (c && strchr(" \n.,;:'\"!?-()", c)); }

/* Appends one fortune file, normalized, with "\0" between fortunes (the "%" lines). */
static int read_file(Buf *b, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char line[4096];
  int rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    if (!strcmp(line, "%\n")) { rc = put(b, 0); continue; }
    for (char *s = line; *s && !rc; s++) {
      int c = tolower((unsigned char)*s);
      if (c == '\t') c = ' ';
      if (!keep(c)) continue;
      if (c == ' ' && b->n && (b->p[b->n - 1] == ' ' || b->p[b->n - 1] == '\n')) continue;
      rc = put(b, (char)c);
    }
  }
  fclose(f);
  return rc ? rc : put(b, 0);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The plain fortune files of dir (no .dat, no .u8 links), sorted, read into b. */
static int read_dir(Buf *b, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  char *names[512];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 512;) {
    size_t l = strlen(e->d_name);
    if (e->d_name[0] == '.' || (l > 4 && (!strcmp(e->d_name + l - 4, ".dat") || !strcmp(e->d_name + l - 3, ".u8"))))
      continue;
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, by_name);
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (!rc) rc = read_file(b, path);
    free(names[i]);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gen OUT.txt [FORTUNE_DIR] [BYTES=50000] [SEED=0]\n");
    return 2;
  }
  const char *dir = argc > 2 ? argv[2] : "/usr/share/games/fortunes";
  size_t bytes = argc > 3 ? (size_t)atoll(argv[3]) : 50000;
  uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
  Buf b = {0};
  if (read_dir(&b, dir)) return fprintf(stderr, "gen: cannot read %s\n", dir), 1;
  size_t nf = 0;                          /* fortunes: start offsets of non-empty pieces */
  size_t *start = malloc(sizeof(size_t) * (b.n + 1));
  if (!start) return 1;
  for (size_t i = 0; i < b.n; i++)
    if (b.p[i] && (i == 0 || !b.p[i - 1])) start[nf++] = i;
  for (size_t i = nf; i > 1; i--) {       /* Fisher-Yates with Philox draws */
    size_t j = (size_t)(nnrt_rand_uniform(seed, 1, i) * i);
    if (j >= i) j = i - 1;
    size_t t = start[i - 1]; start[i - 1] = start[j]; start[j] = t;
  }
  FILE *out = fopen(argv[1], "wb");
  if (!out) return fprintf(stderr, "gen: cannot write %s\n", argv[1]), 1;
  size_t written = 0, k = 0;
  for (; k < nf && written < 2 * bytes; k++)
    for (size_t i = start[k]; b.p[i] && written < 2 * bytes; i++, written++) fputc(b.p[i], out);
  fclose(out);
  fprintf(stderr, "gen: %zu fortunes, %zu bytes used (%zu train + %zu validation)\n", k, written, bytes, bytes);
  free(start);
  free(b.p);
  return written == 2 * bytes ? 0 : 1;
}
