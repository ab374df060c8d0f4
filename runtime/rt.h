/* rt.h: libnnrt's internal header, and the ABI that generated (JIT/AOT) code calls.
 *
 * Every .c file in runtime/ includes this header (which includes the public nnrt.h).
 * Internal names carry the rt_ prefix; ABI functions are nnrt_* and listed in abi.def. */
#ifndef NNRT_RT_H
#define NNRT_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "nnrt.h"

/* ---- the ABI: declarations from abi.def, and the table the JIT registers ---- */

#define NNRT_ABI(name, ret, params) ret name params;
#include "abi.def"
#undef NNRT_ABI

/* One row per abi.def line: the symbol name, its address, and its C return type and
 * parameter list as strings ("float", "(uint64_t seed, uint64_t stream, uint64_t index)"). */
typedef struct {
  const char *name;
  void (*addr)(void);
  const char *ret;
  const char *params;
} rt_abi_entry;

extern const rt_abi_entry rt_abi_table[];
extern const int rt_abi_count;

/* ---- ctx.c: the context, memory and errors ---- */

#define RT_ERRMSG_MAX 512

struct nnrt_ctx {
  nnrt_alloc_fn alloc;
  void *alloc_ud;
  nnrt_log_fn log;
  void *log_ud;
  nnrt_log_level log_min;
  int threads;
  int errcode;
  char errmsg[RT_ERRMSG_MAX];
};

/* rt_error: records status and a printf-style message in ctx (if ctx is not NULL), logs it
 * at NNRT_LOG_ERROR, and returns status, so that callers write `return rt_error(...)`. */
int rt_error(nnrt_ctx *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* rt_log: sends a printf-style message to ctx's log sink if level is enabled. */
void rt_log(nnrt_ctx *ctx, nnrt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* rt_malloc / rt_realloc / rt_free: through ctx's allocator; a failed allocation records
 * NNRT_ENOMEM with the size and returns NULL. rt_free takes the size allocated. */
void *rt_malloc(nnrt_ctx *ctx, size_t size);
void *rt_calloc(nnrt_ctx *ctx, size_t n, size_t size);
void *rt_realloc(nnrt_ctx *ctx, void *p, size_t osize, size_t nsize);
void rt_free(nnrt_ctx *ctx, void *p, size_t size);
char *rt_strdup(nnrt_ctx *ctx, const char *s);
void rt_strfree(nnrt_ctx *ctx, char *s);
/* rt_alloc_aligned: size bytes aligned to NNRT_ALIGN, zeroed; free with rt_free_aligned
 * and the same size. */
void *rt_alloc_aligned(nnrt_ctx *ctx, size_t size);
void rt_free_aligned(nnrt_ctx *ctx, void *p, size_t size);

/* rt_mul_overflow: *out = a * b for sizes; returns 1 iff it overflows. */
int rt_mul_overflow(size_t a, size_t b, size_t *out);

/* ---- tensor.c ---- */

struct nnrt_tensor {
  nnrt_ctx *ctx;
  void *data;
  size_t nbytes;
  int64_t numel;
  int64_t dims[NNRT_MAX_RANK];
  int rank;
  nnrt_dtype dtype;
  nnrt_device device;
  int owns;
};

/* rt_tensor_bytes: checks dtype, rank and dims and computes numel and nbytes; returns a
 * status (recorded in ctx) on a bad argument or overflow. */
int rt_tensor_bytes(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims,
                    int64_t *numel, size_t *nbytes);
/* rt_tensor_set_dim0: sets the first dimension of a wrapped tensor (batches) to rows, which
 * must fit the wrapped buffer. */
void rt_tensor_set_dim0(nnrt_tensor *t, int64_t rows);

/* ---- rng.c ---- */

void rt_philox_block(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t index);
float rt_u01(uint32_t w);

/* ---- json.c: a strict JSON parser (RFC 8259) for safetensors headers ---- */

typedef enum { RT_JSON_NULL, RT_JSON_BOOL, RT_JSON_NUM, RT_JSON_STR, RT_JSON_ARR, RT_JSON_OBJ } rt_json_kind;

typedef struct rt_json rt_json;
struct rt_json {
  rt_json_kind kind;
  int boolean;
  double num;       /* RT_JSON_NUM */
  int is_int;       /* the number was written as an integer and fits int64 */
  int64_t inum;     /* its value when is_int */
  char *str;        /* RT_JSON_STR: NUL-terminated UTF-8 (may contain no NUL) */
  size_t len;       /* string length, or number of items / members */
  size_t cap, kcap; /* allocated slots of items and of keys */
  rt_json **items;  /* RT_JSON_ARR items, RT_JSON_OBJ values */
  char **keys;      /* RT_JSON_OBJ keys */
};

/* rt_json_parse: parses text[0..n) as one JSON value. On a syntax error returns
 * NNRT_EFORMAT with "byte OFFSET: what" written to err (size errsize); on ENOMEM returns
 * NNRT_ENOMEM. Stricter than RFC 8259 where safetensors needs no more: duplicate object
 * keys, "\u0000" in strings and nesting deeper than 64 are errors. Free the result with
 * rt_json_free. */
int rt_json_parse(nnrt_ctx *ctx, const char *text, size_t n, rt_json **out, char *err,
                  size_t errsize);
void rt_json_free(nnrt_ctx *ctx, rt_json *v);
/* rt_json_get: the member called key of an object, or NULL. */
const rt_json *rt_json_get(const rt_json *obj, const char *key);

/* ---- io.c: whole-file reads and atomic writes ---- */

/* rt_read_gz: the whole file, inflated if it is gzip; *buf has capacity *cap (free with
 * rt_free(ctx, *buf, *cap)). NNRT_EIO / NNRT_EFORMAT (truncated gzip) name the file. */
int rt_read_gz(nnrt_ctx *ctx, const char *path, void **buf, size_t *size, size_t *cap);

/* rt_read_file: the whole file into memory from ctx's allocator (*size bytes plus a NUL;
 * free with rt_free(ctx, buf, *size + 1)). NNRT_EIO with the file name and strerror on failure. */
int rt_read_file(nnrt_ctx *ctx, const char *path, void **buf, size_t *size);
/* rt_write_atomic: writes buf to a new temporary file path.tmp.XXXXXX, fsyncs it, renames
 * it over path, and fsyncs the directory: path holds either the old or the new bytes. */
int rt_write_atomic(nnrt_ctx *ctx, const char *path, const void *buf, size_t size);

#endif
