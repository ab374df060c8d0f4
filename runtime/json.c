/* json.c: a small strict JSON parser (RFC 8259), enough for safetensors headers.
 *
 * Recursive descent over the grammar of RFC 8259 section 2-7; the grammar rule is written
 * above each function. Strings are checked to be valid UTF-8 (RFC 3629) and \u escapes,
 * surrogate pairs included, are decoded to UTF-8. Errors say the byte offset and what was
 * expected; nothing is printed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

#define RT_JSON_MAX_DEPTH 64

typedef struct {
  nnrt_ctx *ctx;
  const unsigned char *s, *p, *end;
  char *err;
  size_t errsize;
  int depth;
} rt_jp;

/* rt_jerr: a syntax error at the current position. */
static int rt_jerr(rt_jp *j, const char *what)
{
  snprintf(j->err, j->errsize, "byte %zu: %s", (size_t)(j->p - j->s), what);
  return NNRT_EFORMAT;
}

/* ws := { ' ' | '\t' | '\n' | '\r' } */
static void rt_jws(rt_jp *j)
{
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int rt_jnew(rt_jp *j, rt_json_kind kind, rt_json **out)
{
  *out = rt_calloc(j->ctx, 1, sizeof **out);
  if (!*out) return NNRT_ENOMEM;
  (*out)->kind = kind;
  return NNRT_OK;
}

void rt_json_free(nnrt_ctx *ctx, rt_json *v)
{
  if (!v) return;
  for (size_t i = 0; i < v->len && v->items; i++) {
    rt_json_free(ctx, v->items[i]);
    if (v->keys) rt_strfree(ctx, v->keys[i]);
  }
  rt_free(ctx, v->items, v->cap * sizeof *v->items);
  rt_free(ctx, v->keys, v->kcap * sizeof *v->keys);
  if (v->str) rt_free(ctx, v->str, v->len + 1);
  rt_free(ctx, v, sizeof *v);
}

/* ---- strings ---- */

typedef struct {
  char *b;
  size_t n, cap;
} rt_jbuf;

static int rt_jput(rt_jp *j, rt_jbuf *b, const void *src, size_t n)
{
  if (b->n + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 32;
    while (ncap < b->n + n + 1) ncap *= 2;
    char *q = rt_realloc(j->ctx, b->b, b->cap, ncap);
    if (!q) return NNRT_ENOMEM;
    b->b = q;
    b->cap = ncap;
  }
  memcpy(b->b + b->n, src, n);
  b->n += n;
  return NNRT_OK;
}

/* rt_utf8_len: the length of the valid UTF-8 sequence at p (RFC 3629 table), or 0. */
static int rt_utf8_len(const unsigned char *p, const unsigned char *end)
{
  unsigned c = p[0];
  int n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || end - p < n) return 0;
  for (int i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
  if (c == 0xED && p[1] > 0x9F) return 0; /* surrogates */
  if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
  if (c == 0xF4 && p[1] > 0x8F) return 0; /* > U+10FFFF */
  return n;
}

static int rt_hex4(const unsigned char *p, unsigned *out)
{
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return 0;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 1;
}

static int rt_put_utf8(rt_jp *j, rt_jbuf *b, unsigned cp)
{
  unsigned char u[4];
  int n;
  if (cp < 0x80) u[0] = (unsigned char)cp, n = 1;
  else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 63)), n = 2;
  else if (cp < 0x10000) {
    u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
    u[2] = (unsigned char)(0x80 | (cp & 63)), n = 3;
  } else {
    u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
    u[2] = (unsigned char)(0x80 | (cp >> 6 & 63)), u[3] = (unsigned char)(0x80 | (cp & 63)), n = 4;
  }
  return rt_jput(j, b, u, (size_t)n);
}

/* escape := '\' ( '"' | '\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | 'u' hex4 [ '\u' hex4 ] ) */
static int rt_jescape(rt_jp *j, rt_jbuf *b)
{
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  j->p++; /* the backslash */
  if (j->p >= j->end) return rt_jerr(j, "unterminated escape");
  const char *k = *j->p != 'u' ? strchr(from, *j->p) : NULL;
  if (k && *j->p) {
    j->p++;
    return rt_jput(j, b, &to[k - from], 1);
  }
  unsigned cp, lo;
  if (*j->p != 'u' || j->end - j->p < 5 || !rt_hex4(j->p + 1, &cp)) return rt_jerr(j, "bad escape");
  j->p += 5;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return rt_jerr(j, "lone low surrogate");
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !rt_hex4(j->p + 2, &lo) ||
        lo < 0xDC00 || lo > 0xDFFF)
      return rt_jerr(j, "high surrogate without a low surrogate");
    j->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (cp == 0) return rt_jerr(j, "\\u0000 is not allowed");
  return rt_put_utf8(j, b, cp);
}

/* string := '"' { char | escape } '"'  (char: UTF-8, not '"', '\' or a control character) */
static int rt_jstring(rt_jp *j, char **out, size_t *len)
{
  rt_jbuf b = {0};
  int rc = NNRT_OK;
  j->p++; /* the opening quote */
  for (;;) {
    if (j->p >= j->end) {
      rc = rt_jerr(j, "unterminated string");
      break;
    }
    if (*j->p == '"') {
      j->p++;
      break;
    }
    if (*j->p == '\\') {
      if ((rc = rt_jescape(j, &b))) break;
      continue;
    }
    if (*j->p < 0x20) {
      rc = rt_jerr(j, "control character in string");
      break;
    }
    int n = rt_utf8_len(j->p, j->end);
    if (n == 0) {
      rc = rt_jerr(j, "invalid UTF-8 in string");
      break;
    }
    if ((rc = rt_jput(j, &b, j->p, (size_t)n))) break;
    j->p += n;
  }
  if (rc == NNRT_OK && !b.b) rc = rt_jput(j, &b, "", 0);
  if (rc) {
    rt_free(j->ctx, b.b, b.cap);
    return rc;
  }
  b.b[b.n] = '\0';
  /* shrink to exactly n + 1 bytes, so that rt_json_free knows the size */
  char *s = rt_realloc(j->ctx, b.b, b.cap, b.n + 1);
  if (!s) {
    rt_free(j->ctx, b.b, b.cap);
    return NNRT_ENOMEM;
  }
  *out = s;
  *len = b.n;
  return NNRT_OK;
}

/* ---- numbers ---- */

static int rt_isdigit(rt_jp *j)
{
  return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

/* number := [ '-' ] ( '0' | digit1-9 { digit } ) [ '.' digit { digit } ]
 *           [ ( 'e' | 'E' ) [ '+' | '-' ] digit { digit } ] */
static int rt_jnumber(rt_jp *j, rt_json *v)
{
  const unsigned char *start = j->p;
  int is_int = 1;
  if (*j->p == '-') j->p++;
  if (!rt_isdigit(j)) return rt_jerr(j, "expected a digit");
  if (*j->p == '0') j->p++;
  else while (rt_isdigit(j)) j->p++;
  if (j->p < j->end && *j->p == '.') {
    j->p++, is_int = 0;
    if (!rt_isdigit(j)) return rt_jerr(j, "expected a digit after '.'");
    while (rt_isdigit(j)) j->p++;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++, is_int = 0;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (!rt_isdigit(j)) return rt_jerr(j, "expected a digit in the exponent");
    while (rt_isdigit(j)) j->p++;
  }
  char tmp[64];
  size_t n = (size_t)(j->p - start);
  if (n >= sizeof tmp) return rt_jerr(j, "number too long");
  memcpy(tmp, start, n);
  tmp[n] = '\0';
  v->num = strtod(tmp, NULL);
  if (is_int) {
    char *e;
    errno = 0;
    long long x = strtoll(tmp, &e, 10);
    v->is_int = errno == 0;
    v->inum = x;
  }
  return NNRT_OK;
}

/* ---- values ---- */

static int rt_jvalue(rt_jp *j, rt_json **out);

/* rt_jappend: adds item (and key, for objects) to v, growing its arrays. */
static int rt_jappend(rt_jp *j, rt_json *v, rt_json *item, char *key)
{
  if (v->len == v->cap) {
    size_t ncap = v->cap ? v->cap * 2 : 4;
    rt_json **items = rt_realloc(j->ctx, v->items, v->cap * sizeof *items, ncap * sizeof *items);
    if (!items) return NNRT_ENOMEM;
    v->items = items;
    v->cap = ncap;
  }
  if (v->kind == RT_JSON_OBJ && v->len == v->kcap) {
    char **keys = rt_realloc(j->ctx, v->keys, v->kcap * sizeof *keys, v->cap * sizeof *keys);
    if (!keys) return NNRT_ENOMEM;
    v->keys = keys;
    v->kcap = v->cap;
  }
  v->items[v->len] = item;
  if (v->keys) v->keys[v->len] = key;
  v->len++;
  return NNRT_OK;
}

/* array := '[' ws [ value { ws ',' ws value } ] ws ']' */
static int rt_jarray(rt_jp *j, rt_json *v)
{
  j->p++;
  rt_jws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return NNRT_OK;
  }
  for (;;) {
    rt_json *item;
    int rc = rt_jvalue(j, &item);
    if (!rc && (rc = rt_jappend(j, v, item, NULL))) rt_json_free(j->ctx, item);
    if (rc) return rc;
    rt_jws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (j->p < j->end && *j->p == ']') {
      j->p++;
      return NNRT_OK;
    }
    return rt_jerr(j, "expected ',' or ']' in array");
  }
}

/* member := string ws ':' ws value */
static int rt_jmember(rt_jp *j, rt_json *v)
{
  rt_jws(j);
  if (j->p >= j->end || *j->p != '"') return rt_jerr(j, "expected a string key");
  const unsigned char *at = j->p;
  char *key;
  size_t klen;
  int rc = rt_jstring(j, &key, &klen);
  if (rc) return rc;
  if (rt_json_get(v, key)) {
    rt_strfree(j->ctx, key);
    j->p = at;
    return rt_jerr(j, "duplicate key");
  }
  rt_jws(j);
  if (j->p >= j->end || *j->p != ':') {
    rt_strfree(j->ctx, key);
    return rt_jerr(j, "expected ':' after the key");
  }
  j->p++;
  rt_json *item;
  if ((rc = rt_jvalue(j, &item))) {
    rt_strfree(j->ctx, key);
    return rc;
  }
  if ((rc = rt_jappend(j, v, item, key))) {
    rt_json_free(j->ctx, item);
    rt_strfree(j->ctx, key);
  }
  return rc;
}

/* object := '{' ws [ member { ws ',' member } ] ws '}' */
static int rt_jobject(rt_jp *j, rt_json *v)
{
  j->p++;
  rt_jws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return NNRT_OK;
  }
  for (;;) {
    int rc = rt_jmember(j, v);
    if (rc) return rc;
    rt_jws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (j->p < j->end && *j->p == '}') {
      j->p++;
      return NNRT_OK;
    }
    return rt_jerr(j, "expected ',' or '}' in object");
  }
}

/* rt_jword: the literal word w (true, false, null) iff it is next. */
static int rt_jword(rt_jp *j, const char *w)
{
  size_t n = strlen(w);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return 0;
  j->p += n;
  return 1;
}

/* value := ws ( object | array | string | number | 'true' | 'false' | 'null' ) */
static int rt_jvalue(rt_jp *j, rt_json **out)
{
  *out = NULL;
  rt_jws(j);
  if (j->p >= j->end) return rt_jerr(j, "expected a value");
  if (j->depth >= RT_JSON_MAX_DEPTH) return rt_jerr(j, "nested too deeply");
  unsigned char c = *j->p;
  if (!strchr("{[\"tfn-0123456789", c) || c == 0) return rt_jerr(j, "expected a value");
  rt_json_kind kind = c == '{' ? RT_JSON_OBJ : c == '[' ? RT_JSON_ARR : c == '"' ? RT_JSON_STR
                    : c == 't' || c == 'f' ? RT_JSON_BOOL : c == 'n' ? RT_JSON_NULL : RT_JSON_NUM;
  rt_json *v;
  int rc = rt_jnew(j, kind, &v);
  if (rc) return rc;
  j->depth++;
  switch (kind) {
  case RT_JSON_OBJ: rc = rt_jobject(j, v); break;
  case RT_JSON_ARR: rc = rt_jarray(j, v); break;
  case RT_JSON_STR: rc = rt_jstring(j, &v->str, &v->len); break;
  case RT_JSON_NUM: rc = rt_jnumber(j, v); break;
  case RT_JSON_BOOL:
    v->boolean = c == 't';
    if (!rt_jword(j, c == 't' ? "true" : "false")) rc = rt_jerr(j, "bad literal");
    break;
  case RT_JSON_NULL:
    if (!rt_jword(j, "null")) rc = rt_jerr(j, "bad literal");
    break;
  }
  j->depth--;
  if (rc) {
    rt_json_free(j->ctx, v);
    return rc;
  }
  *out = v;
  return NNRT_OK;
}

int rt_json_parse(nnrt_ctx *ctx, const char *text, size_t n, rt_json **out, char *err,
                  size_t errsize)
{
  rt_jp j = {ctx, (const unsigned char *)text, (const unsigned char *)text,
             (const unsigned char *)text + n, err, errsize, 0};
  if (errsize) err[0] = '\0';
  int rc = rt_jvalue(&j, out);
  if (rc) return rc;
  rt_jws(&j);
  if (j.p != j.end) {
    rt_json_free(ctx, *out);
    *out = NULL;
    return rt_jerr(&j, "trailing characters after the value");
  }
  return NNRT_OK;
}

const rt_json *rt_json_get(const rt_json *obj, const char *key)
{
  if (!obj || obj->kind != RT_JSON_OBJ) return NULL;
  for (size_t i = 0; i < obj->len; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}
