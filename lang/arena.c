/* arena.c — bump allocation in chunks, freed all at once (one arena per compilation).
 *
 * Every allocation is zeroed and 16-byte aligned. A request larger than the chunk size
 * gets a chunk of its own. Out of memory is reported by returning NULL, never by aborting.
 */
#include <stdlib.h>
#include <string.h>

#include "lang.h"

enum { ARENA_CHUNK = 64 * 1024, ARENA_ALIGN = 16 };

typedef struct Chunk {
  struct Chunk *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
} Chunk;

struct Arena {
  Chunk *head;
  size_t total;
  int failed;   /* allocations that returned NULL */
};

Arena *arena_new(void) {
  return calloc(1, sizeof(Arena));
}

void arena_free(Arena *a) {
  if (!a)
    return;
  Chunk *c = a->head;
  while (c) {
    Chunk *next = c->next;
    free(c);
    c = next;
  }
  free(a);
}

/* Adds a chunk able to hold n bytes; NULL when out of memory. */
static Chunk *arena_grow(Arena *a, size_t n) {
  size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
  Chunk *c = malloc(sizeof(Chunk) + size);
  if (!c) {
    a->failed++;
    return NULL;
  }
  c->used = 0;
  c->size = size;
  c->next = a->head;
  a->head = c;
  a->total += size;
  return c;
}

int arena_failed(const Arena *a) {
  return a ? a->failed : 0;
}

void *arena_alloc(Arena *a, size_t n) {
  if (!a)
    return NULL;
  if (n > SIZE_MAX / 2) {
    a->failed++;
    return NULL;
  }
  n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (n == 0)
    n = ARENA_ALIGN;
  Chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    c = arena_grow(a, n);
    if (!c)
      return NULL;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}
