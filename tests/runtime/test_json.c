/* test_json.c: the strict JSON parser used for safetensors headers. */
#include <criterion/criterion.h>
#include <string.h>
#include "rt.h"

static nnrt_ctx *ctx;
static void setup(void) { ctx = nnrt_ctx_create(NULL, NULL); }
static void teardown(void) { nnrt_ctx_free(ctx); }
TestSuite(json, .init = setup, .fini = teardown);

static rt_json *parse_ok(const char *s)
{
  rt_json *v;
  char err[128];
  int rc = rt_json_parse(ctx, s, strlen(s), &v, err, sizeof err);
  cr_assert_eq(rc, NNRT_OK, "'%s': %s", s, err);
  return v;
}

static void parse_bad(const char *s, size_t n, const char *what)
{
  rt_json *v = (rt_json *)1;
  char err[128];
  int rc = rt_json_parse(ctx, s, n, &v, err, sizeof err);
  cr_assert_eq(rc, NNRT_EFORMAT, "'%s' was accepted", s);
  cr_assert_null(v);
  cr_assert_not_null(strstr(err, what), "'%s': error '%s' lacks '%s'", s, err, what);
}

Test(json, nested_document)
{
  rt_json *v = parse_ok(" {\"a\": [1, -2.5e1, true, false, null], \"b\": {\"c\": \"d\"}, \"e\": []} ");
  cr_assert_eq(v->kind, RT_JSON_OBJ);
  cr_assert_eq(v->len, 3);
  const rt_json *a = rt_json_get(v, "a");
  cr_assert_eq(a->kind, RT_JSON_ARR);
  cr_assert_eq(a->len, 5);
  cr_assert(a->items[0]->is_int);
  cr_assert_eq(a->items[0]->inum, 1);
  cr_assert_not(a->items[1]->is_int);
  cr_assert_eq(a->items[1]->num, -25.0);
  cr_assert_eq(a->items[2]->boolean, 1);
  cr_assert_eq(a->items[4]->kind, RT_JSON_NULL);
  cr_assert_str_eq(rt_json_get(rt_json_get(v, "b"), "c")->str, "d");
  cr_assert_eq(rt_json_get(v, "e")->len, 0);
  cr_assert_null(rt_json_get(v, "zz"));
  rt_json_free(ctx, v);
}

Test(json, string_escapes_and_utf8)
{
  rt_json *v = parse_ok("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\xc3\xa9\"");
  cr_assert_str_eq(v->str, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80\xc3\xa9");
  cr_assert_eq(v->len, strlen(v->str));
  rt_json_free(ctx, v);
}

Test(json, big_integers)
{
  rt_json *v = parse_ok("[9223372036854775807, 9223372036854775808, 0, -0]");
  cr_assert(v->items[0]->is_int);
  cr_assert_eq(v->items[0]->inum, INT64_MAX);
  cr_assert_not(v->items[1]->is_int); /* does not fit: only the double */
  cr_assert(v->items[2]->is_int);
  rt_json_free(ctx, v);
}

Test(json, rejects_what_rfc8259_rejects)
{
  parse_bad("{\"a\":1,}", 8, "expected a string key");
  parse_bad("[1,]", 4, "expected a value");
  parse_bad("[1 2]", 5, "expected ',' or ']'");
  parse_bad("{'a':1}", 7, "expected a string key");
  parse_bad("01", 2, "trailing");
  parse_bad("1.", 2, "after '.'");
  parse_bad("-", 1, "expected a digit");
  parse_bad("1e", 2, "exponent");
  parse_bad("tru", 3, "bad literal");
  parse_bad("\"abc", 4, "unterminated string");
  parse_bad("\"a\nb\"", 5, "control character");
  parse_bad("\"\\x\"", 4, "bad escape");
  parse_bad("\"\\ud800\"", 8, "surrogate");
  parse_bad("\"\\udc00\"", 8, "surrogate");
  parse_bad("\"\xff\"", 3, "UTF-8");
  parse_bad("\"\xc0\xaf\"", 4, "UTF-8"); /* overlong '/' */
  parse_bad("\"\xed\xa0\x80\"", 5, "UTF-8"); /* encoded surrogate */
  parse_bad("{\"a\":1,\"a\":2}", 13, "duplicate key");
  parse_bad("", 0, "expected a value");
  parse_bad("{} x", 4, "trailing");
  parse_bad("\"\\u0000\"", 8, "\\u0000");
  parse_bad("[1]\0", 4, "trailing");
}

Test(json, depth_limit_and_error_offset)
{
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  parse_bad(deep, 200, "nested too deeply");
  rt_json *v;
  char err[128];
  rt_json_parse(ctx, "[1, 2, x]", 9, &v, err, sizeof err);
  cr_assert_not_null(strstr(err, "byte 7"), "%s", err);
}

/* every prefix of a valid document fails cleanly (no crash, no leak under ASan) */
Test(json, every_truncation_fails)
{
  const char *doc = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"__metadata__\":{\"k\":\"v\\u00e9\"}}";
  size_t n = strlen(doc);
  for (size_t k = 0; k < n; k++) {
    rt_json *v;
    char err[128];
    cr_assert_eq(rt_json_parse(ctx, doc, k, &v, err, sizeof err), NNRT_EFORMAT, "prefix %zu", k);
  }
  rt_json_free(ctx, parse_ok(doc));
}
