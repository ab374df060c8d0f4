/* nnrt.h: the public C API of libnnrt, the runtime of nnc. No LLVM inside: a program that
 * links an ahead-of-time compiled model needs only this library (and OpenMP, zlib, libm).
 *
 * Conventions (the habits of Lua and SQLite):
 *  - Every fallible call returns an int status: NNRT_OK (0) or a negative NNRT_E* code.
 *    The message of the last failure is kept in the context: nnrt_errmsg(ctx). Results
 *    come back through out-parameters, which are set to NULL/0 on failure.
 *  - The library never exits, aborts or prints on bad input or on exhaustion. The one
 *    part that writes text is the progress reporter, and only to the FILE* it is given.
 *  - Handles are opaque and come in create/free pairs. Unless a comment says otherwise,
 *    the caller owns what a create/load call returns and frees it with the matching
 *    free; the free functions accept NULL. Objects keep a pointer to their context, which
 *    must outlive them.
 *  - Threads: a context and everything made from it may be used by one thread at a time;
 *    distinct contexts are independent. Reading a tensor's shape and data from several
 *    threads at once is safe while nobody writes it. The generated-code ABI functions
 *    (random numbers, parallel_for, optimizer steps) hold no state and are thread-safe,
 *    except nnrt_set_threads, which sets a process-wide value.
 */
#ifndef NNRT_H
#define NNRT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status codes */

enum {
  NNRT_OK = 0,
  NNRT_ENOMEM = -1,    /* allocation failed (host allocator or arena too small) */
  NNRT_EINVAL = -2,    /* a bad argument: NULL handle, negative size, unknown dtype */
  NNRT_EIO = -3,       /* a file could not be opened, read or written */
  NNRT_EFORMAT = -4,   /* a file or buffer is corrupt, truncated or unsupported */
  NNRT_ESHAPE = -5,    /* shapes or dtypes disagree */
  NNRT_ENOTFOUND = -6, /* a name (tensor, key) is not there */
  NNRT_ERANGE = -7,    /* a size or value does not fit (overflow, index out of range) */
};

/* nnrt_strstatus: a short constant English name for a status ("out of memory"). */
const char *nnrt_strstatus(int status);

/* ------------------------------------------------------------------ context */

typedef struct nnrt_ctx nnrt_ctx;

/* The host allocator, Lua's lua_Alloc contract: with nsize == 0 it frees ptr (which may be
 * NULL) and returns NULL; otherwise it behaves like realloc(ptr, nsize), osize being the
 * size ptr was allocated with (0 when ptr is NULL). It returns NULL on failure and then
 * leaves ptr untouched. It need only give malloc's alignment; the library aligns tensor
 * data to 64 bytes itself. */
typedef void *(*nnrt_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

typedef enum { NNRT_LOG_DEBUG, NNRT_LOG_INFO, NNRT_LOG_WARN, NNRT_LOG_ERROR } nnrt_log_level;

/* A log sink; msg is valid during the call only. */
typedef void (*nnrt_log_fn)(void *ud, nnrt_log_level level, const char *msg);

/* nnrt_ctx_create: a new context using alloc/ud for all its memory (alloc NULL: the C
 * library's malloc). Returns NULL only if the context itself cannot be allocated. */
nnrt_ctx *nnrt_ctx_create(nnrt_alloc_fn alloc, void *ud);
/* nnrt_ctx_free: frees the context. Free the objects made from it first. */
void nnrt_ctx_free(nnrt_ctx *ctx);

/* nnrt_ctx_set_log: sends messages at level >= min_level to fn (NULL: silence, the
 * default). Errors are also logged at NNRT_LOG_ERROR when they are recorded. */
void nnrt_ctx_set_log(nnrt_ctx *ctx, nnrt_log_fn fn, void *ud, nnrt_log_level min_level);

/* nnrt_ctx_set_threads: the number of threads parallel work uses (n <= 0: the default).
 * It calls nnrt_set_threads, so it is process-wide (OpenMP has one pool per process). */
void nnrt_ctx_set_threads(nnrt_ctx *ctx, int n);
int nnrt_ctx_threads(const nnrt_ctx *ctx);

/* nnrt_errmsg: the message of the last failure on ctx ("" if none yet). It is owned by
 * ctx and stays valid until the next failing call on ctx. nnrt_errcode: its status. */
const char *nnrt_errmsg(const nnrt_ctx *ctx);
int nnrt_errcode(const nnrt_ctx *ctx);
/* nnrt_clear_error: forget the last failure. */
void nnrt_clear_error(nnrt_ctx *ctx);

/* ------------------------------------------------------------------ dtypes and tensors */

typedef enum {
  NNRT_F32,  /* float */
  NNRT_F64,  /* double */
  NNRT_I32,  /* int32_t */
  NNRT_I64,  /* int64_t */
  NNRT_BOOL, /* uint8_t holding 0 or 1 */
  NNRT_BIT,  /* packed bits: 64 per uint64_t word, element i is bit i%64 of word i/64 */
  NNRT_U8,   /* uint8_t (raw bytes, images) */
  NNRT_DTYPE_COUNT
} nnrt_dtype;

/* nnrt_dtype_name: "f32", "f64", "i32", "i64", "bool", "bit", "u8"; "?" if out of range. */
const char *nnrt_dtype_name(nnrt_dtype dt);
/* nnrt_dtype_size: bytes per element; 0 for NNRT_BIT (see nnrt_tensor_nbytes) and for
 * an unknown dtype. */
size_t nnrt_dtype_size(nnrt_dtype dt);

#define NNRT_MAX_RANK 8
#define NNRT_ALIGN 64 /* alignment of data the library allocates */

/* Where a tensor's data lives. Only the host today; the field is there so that device
 * placement can be added without changing the API. */
typedef enum { NNRT_DEVICE_CPU } nnrt_device;

typedef struct nnrt_tensor nnrt_tensor;

/* nnrt_tensor_create: a dense, C-ordered (row-major), zero-filled tensor with data aligned
 * to NNRT_ALIGN bytes. rank is 0..NNRT_MAX_RANK (0: a scalar, one element); dims must be
 * >= 0 (dims may be NULL when rank is 0). The caller owns *out. */
int nnrt_tensor_create(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims,
                       nnrt_tensor **out);
/* nnrt_tensor_wrap: a tensor over caller memory, without copying. The caller keeps owning
 * data, which must hold nnrt_tensor_nbytes bytes and outlive the tensor; freeing the tensor
 * does not free data. No alignment is required. */
int nnrt_tensor_wrap(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims, void *data,
                     nnrt_tensor **out);
/* nnrt_tensor_free: frees the tensor (and its data unless it was wrapped). NULL is fine. */
void nnrt_tensor_free(nnrt_tensor *t);

void *nnrt_tensor_data(const nnrt_tensor *t);
nnrt_dtype nnrt_tensor_dtype(const nnrt_tensor *t);
int nnrt_tensor_rank(const nnrt_tensor *t);
/* nnrt_tensor_dims: the rank dims, valid while the tensor lives. */
const int64_t *nnrt_tensor_dims(const nnrt_tensor *t);
/* nnrt_tensor_dim: dims[i], or -1 if i is out of range. */
int64_t nnrt_tensor_dim(const nnrt_tensor *t, int i);
/* nnrt_tensor_numel: the number of elements (1 for a scalar). */
int64_t nnrt_tensor_numel(const nnrt_tensor *t);
/* nnrt_tensor_nbytes: bytes of data; for NNRT_BIT, 8 * ceil(numel / 64). */
size_t nnrt_tensor_nbytes(const nnrt_tensor *t);
nnrt_device nnrt_tensor_device(const nnrt_tensor *t);
/* nnrt_tensor_owns_data: 1 if the tensor frees its data, 0 if it wraps caller memory. */
int nnrt_tensor_owns_data(const nnrt_tensor *t);
/* nnrt_tensor_shape_str: writes "f32[60000, 28, 28]" into buf (always NUL-terminated when
 * size > 0); returns the length the full string needs, like snprintf. */
int nnrt_tensor_shape_str(const nnrt_tensor *t, char *buf, size_t size);
/* nnrt_shape_str: the same for a dtype and dims that are not (yet) a tensor. */
int nnrt_shape_str(nnrt_dtype dt, int rank, const int64_t *dims, char *buf, size_t size);

/* ------------------------------------------------------------------ arena */

/* A bump allocator over one block: every allocation is aligned to NNRT_ALIGN bytes and
 * freed all at once by nnrt_arena_reset. When a request does not fit, it fails with
 * NNRT_ENOMEM and a message giving the bytes needed; nnrt_arena_needed then tells the
 * size to create the arena with. Not thread-safe. */
typedef struct nnrt_arena nnrt_arena;

/* nnrt_arena_create: an arena of capacity bytes allocated from ctx's allocator (capacity
 * may be 0: a measuring arena, whose allocations all fail but whose needed size grows). */
int nnrt_arena_create(nnrt_ctx *ctx, size_t capacity, nnrt_arena **out);
/* nnrt_arena_wrap: an arena over caller memory (not copied, not freed). The usable
 * capacity is what remains after aligning buf up to NNRT_ALIGN. */
int nnrt_arena_wrap(nnrt_ctx *ctx, void *buf, size_t size, nnrt_arena **out);
void nnrt_arena_free(nnrt_arena *a);

/* nnrt_arena_alloc: size bytes (size 0 gives a unique valid pointer of 0 bytes), aligned
 * to NNRT_ALIGN, or NULL with NNRT_ENOMEM recorded in the context. The memory is not
 * zeroed. */
void *nnrt_arena_alloc(nnrt_arena *a, size_t size);
/* nnrt_arena_reset: forgets every allocation (keeps the needed size). */
void nnrt_arena_reset(nnrt_arena *a);
size_t nnrt_arena_used(const nnrt_arena *a);
size_t nnrt_arena_capacity(const nnrt_arena *a);
/* nnrt_arena_needed: the largest total asked for between resets, failed requests included:
 * a capacity with which every allocation so far would have succeeded. */
size_t nnrt_arena_needed(const nnrt_arena *a);

/* ------------------------------------------------------------------ random numbers */

/* Counter-based (Philox4x32-10, Salmon et al. SC'11): each value is a pure function of
 * (seed, stream, index), so results do not depend on thread count or order.
 *   counter = (index lo, index hi, stream lo, stream hi), key = (seed lo, seed hi). */
void nnrt_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);
/* nnrt_rand_uniform: uniform in the open interval (0, 1), 24 random bits. */
float nnrt_rand_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* nnrt_rand_normal: standard normal (Box-Muller on the block of (seed, stream, index)). */
float nnrt_rand_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* nnrt_fill_uniform / nnrt_fill_normal: x[i] = lo + (hi-lo) * uniform(seed, stream, i) and
 * x[i] = mean + std * normal(seed, stream, i), in parallel; same bits for any thread count. */
void nnrt_fill_uniform(float *x, int64_t n, uint64_t seed, uint64_t stream, float lo, float hi);
void nnrt_fill_normal(float *x, int64_t n, uint64_t seed, uint64_t stream, float mean, float std);
/* nnrt_permutation: perm[0..n) = a uniformly random permutation of 0..n-1 (Fisher-Yates
 * driven by Philox): a pure function of (n, seed, stream). */
void nnrt_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream);

/* ------------------------------------------------------------------ parallel loops */

/* nnrt_parallel_for: calls fn(ctx, begin, end) over contiguous chunks that cover [0, n)
 * exactly once, one chunk per thread, in one OpenMP parallel region. Runs fn(ctx, 0, n)
 * on the calling thread when n < 2, when one thread is set, or when called from inside a
 * parallel region (no nesting). fn must be safe to run on several threads at once. */
void nnrt_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);
/* nnrt_parallel_for_grain: the same, but uses no more threads than keep each chunk at
 * least grain items (grain < 1 counts as 1); runs inline when n < 2 * grain. */
void nnrt_parallel_for_grain(int64_t n, int64_t grain,
                             void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);
/* nnrt_set_threads: process-wide thread count for nnrt_parallel_for (n <= 0: OpenMP's
 * default, i.e. OMP_NUM_THREADS or else the number of cores). nnrt_get_threads: the count
 * in effect. */
void nnrt_set_threads(int n);
int nnrt_get_threads(void);

/* ------------------------------------------------------------------ data loaders */

/* All loaders fail with NNRT_EIO (cannot open/read), NNRT_EFORMAT (corrupt, truncated or
 * unsupported; the message names the file and what is wrong) or NNRT_ENOMEM. */

/* nnrt_load_idx: an IDX file (LeCun's MNIST format; Fashion-MNIST), gzip-compressed or
 * not. Elements are converted to dt (F32, F64, I32, I64 or U8) and, for F32/F64,
 * multiplied by scale (use 1.0/255 for images in [0,1]; scale is ignored for integers).
 * Fashion-MNIST train images: u8 -> f32[60000, 28, 28]; labels: i32[60000]. */
int nnrt_load_idx(nnrt_ctx *ctx, const char *path, nnrt_dtype dt, double scale,
                  nnrt_tensor **out);

/* nnrt_load_npy: a NumPy .npy file (format 1.0, 2.0 or 3.0), C order, little-endian
 * '<f4' '<f8' '<i4' '<i8' '|u1' (-> U8) or '|b1' (-> BOOL). nnrt_load_npy_memory reads the
 * same from a buffer (name is used in messages). */
int nnrt_load_npy(nnrt_ctx *ctx, const char *path, nnrt_tensor **out);
int nnrt_load_npy_memory(nnrt_ctx *ctx, const void *buf, size_t size, const char *name,
                         nnrt_tensor **out);
/* nnrt_save_npy: writes t (not BIT) as format 1.0 (2.0 if the header needs it). */
int nnrt_save_npy(nnrt_ctx *ctx, const char *path, const nnrt_tensor *t);

/* nnrt_load_csv: a numeric CSV file (comma-separated, one record per line, \n or \r\n) as
 * dt (F32 or F64) [rows, columns]. has_header: 1 skips the first line, 0 reads it as data,
 * -1 skips it iff some field of it is not a number. Empty lines are skipped; every record
 * must have the same number of fields; errors give "path:line: field k: ...". */
int nnrt_load_csv(nnrt_ctx *ctx, const char *path, nnrt_dtype dt, int has_header,
                  nnrt_tensor **out);

/* A text corpus as symbol ids: the vocabulary is the set of distinct bytes of the text,
 * sorted by byte value (so ids are deterministic), and the text is split into a training
 * part (the first 1 - heldout_frac of the bytes) and a held-out part (the rest). */
typedef struct nnrt_text nnrt_text;

int nnrt_text_load(nnrt_ctx *ctx, const char *path, double heldout_frac, nnrt_text **out);
int nnrt_text_from_memory(nnrt_ctx *ctx, const void *bytes, size_t size, double heldout_frac,
                          nnrt_text **out);
/* nnrt_text_load_files: the files concatenated in the given order, as one text. */
int nnrt_text_load_files(nnrt_ctx *ctx, int npaths, const char *const *paths,
                         double heldout_frac, nnrt_text **out);
void nnrt_text_free(nnrt_text *t);
int nnrt_text_vocab_size(const nnrt_text *t);
/* nnrt_text_symbol: the byte value of id, or -1 if id is out of range. */
int nnrt_text_symbol(const nnrt_text *t, int id);
/* nnrt_text_id: the id of a byte value, or -1 if it is not in the vocabulary. */
int nnrt_text_id(const nnrt_text *t, int byte);
/* The two parts as i32[n] tensors of ids, owned by the nnrt_text. */
const nnrt_tensor *nnrt_text_train(const nnrt_text *t);
const nnrt_tensor *nnrt_text_heldout(const nnrt_text *t);

/* A batcher hands out mini-batches of the rows (first dimension) of x and, optionally, y,
 * in an order shuffled per epoch: epoch e uses nnrt_permutation(rows, seed, e), so the
 * sequence of batches is a pure function of the seed. */
typedef struct nnrt_batcher nnrt_batcher;

enum { NNRT_BATCH_SHUFFLE = 1, NNRT_BATCH_DROP_LAST = 2 };

/* nnrt_batcher_create: x and y (y may be NULL) must have the same number of rows; they
 * are borrowed (must outlive the batcher), not copied. flags: NNRT_BATCH_* ORed. */
int nnrt_batcher_create(nnrt_ctx *ctx, const nnrt_tensor *x, const nnrt_tensor *y,
                        int64_t batch, uint64_t seed, int flags, nnrt_batcher **out);
void nnrt_batcher_free(nnrt_batcher *b);
/* nnrt_batcher_next: fills the next batch and sets *xb (and *yb when y was given) to
 * tensors owned by the batcher, overwritten by the next call; their first dimension is
 * the batch's row count. Returns the row count (> 0), or 0 at the end of an epoch (the
 * next call starts the next epoch), or a negative status. */
int64_t nnrt_batcher_next(nnrt_batcher *b, const nnrt_tensor **xb, const nnrt_tensor **yb);
/* nnrt_batcher_epoch: the current epoch (0 first). nnrt_batcher_seek_epoch: restart at
 * the beginning of epoch e (to resume training). */
int64_t nnrt_batcher_epoch(const nnrt_batcher *b);
void nnrt_batcher_seek_epoch(nnrt_batcher *b, int64_t epoch);
/* nnrt_batcher_batches: batches per epoch. */
int64_t nnrt_batcher_batches(const nnrt_batcher *b);

/* ------------------------------------------------------------------ weights (safetensors) */

/* A set of named tensors in the safetensors format (Hugging Face): 8-byte little-endian
 * header length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, "__metadata__": {"k": "v"}}, then the data. Tensors move
 * to and from PyTorch (safetensors.torch.save_file / load_file). Supported dtypes: F32,
 * F64, I32, I64, U8, BOOL. */
typedef struct nnrt_weights nnrt_weights;

/* nnrt_weights_load / nnrt_weights_from_memory: parse and check the whole file (strict
 * JSON; offsets in bounds, contiguous, matching shape and dtype); the data is copied, so
 * buf may be freed after the call. */
int nnrt_weights_load(nnrt_ctx *ctx, const char *path, nnrt_weights **out);
int nnrt_weights_from_memory(nnrt_ctx *ctx, const void *buf, size_t size, const char *name,
                             nnrt_weights **out);
void nnrt_weights_free(nnrt_weights *w);
int nnrt_weights_count(const nnrt_weights *w);
/* nnrt_weights_name / nnrt_weights_tensor: the i-th tensor (in file order), or NULL. */
const char *nnrt_weights_name(const nnrt_weights *w, int i);
const nnrt_tensor *nnrt_weights_tensor(const nnrt_weights *w, int i);
/* nnrt_weights_get: the tensor called name, or NULL. Owned by w. */
const nnrt_tensor *nnrt_weights_get(const nnrt_weights *w, const char *name);
/* nnrt_weights_read: copies the tensor called name into dst, which must have the same
 * dtype and shape: NNRT_ENOTFOUND or NNRT_ESHAPE with a message naming the tensor and
 * both shapes ("weight 'fc1.w': file has f32[128, 784], model expects f32[784, 128]"). */
int nnrt_weights_read(nnrt_weights *w, const char *name, nnrt_tensor *dst);
/* nnrt_weights_metadata: the __metadata__ value of key, or NULL. */
const char *nnrt_weights_metadata(const nnrt_weights *w, const char *key);

/* nnrt_weights_save: writes n named tensors (and meta_n key/value string pairs, meta may be
 * NULL) to path atomically: to a temporary file in the same directory, fsync, rename.
 * On failure path is left as it was. Names must be distinct and non-empty. */
int nnrt_weights_save(nnrt_ctx *ctx, const char *path, int n, const char *const *names,
                      const nnrt_tensor *const *tensors, int meta_n,
                      const char *const *meta_keys, const char *const *meta_values);

/* ------------------------------------------------------------------ optimizers */

/* Fused in-place update steps over flat float arrays of n elements, with PyTorch's
 * semantics (torch.optim, default options otherwise). w: parameters, g: gradients (read
 * only). State arrays (buf, m, v, sq) start zeroed and are kept by the caller between
 * steps. Flags are int64_t 0/1 so that generated code passes plain integers. */

/* SGD: w -= lr * (g + wd * w). */
void nnrt_sgd_step(float *w, const float *g, int64_t n, float lr, float wd);
/* SGD with momentum mu: d = g + wd*w; buf = mu*buf + d; w -= lr * (nesterov ? d + mu*buf
 * : buf). (PyTorch sets buf = d on the first step, which equals mu*0 + d.) */
void nnrt_momentum_step(float *w, const float *g, float *buf, int64_t n, float lr, float mu,
                        float wd, int64_t nesterov);
/* Adam (Kingma & Ba 2015) at step t >= 1 (1 on the first call): m = b1*m + (1-b1)*g;
 * v = b2*v + (1-b2)*g^2; w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
 * Weight decay wd: added to g (g + wd*w) when decoupled == 0 (Adam), or applied as
 * w *= 1 - lr*wd before the step when decoupled == 1 (AdamW, Loshchilov & Hutter 2019). */
void nnrt_adam_step(float *w, const float *g, float *m, float *v, int64_t n, float lr,
                    float beta1, float beta2, float eps, float wd, int64_t t, int64_t decoupled);
/* RMSProp (Hinton): d = g + wd*w; sq = alpha*sq + (1-alpha)*d^2; r = d / (sqrt(sq) + eps);
 * with momentum > 0: buf = momentum*buf + r, w -= lr*buf; else w -= lr*r (buf unused,
 * may be NULL). */
void nnrt_rmsprop_step(float *w, const float *g, float *sq, float *buf, int64_t n, float lr,
                       float alpha, float eps, float wd, float momentum);
/* nnrt_global_norm: sqrt of the sum of squares of count arrays (grads[i] has sizes[i]
 * elements), summed in double in a fixed order: the same bits for any thread count. */
float nnrt_global_norm(const float *const *grads, const int64_t *sizes, int64_t count);
/* nnrt_clip_grad_norm: scales every gradient by max_norm / (norm + 1e-6) when the global
 * norm exceeds max_norm (torch.nn.utils.clip_grad_norm_); returns the norm before. */
float nnrt_clip_grad_norm(float *const *grads, const int64_t *sizes, int64_t count,
                          float max_norm);

/* ------------------------------------------------------------------ progress and metrics */

/* Training progress. On a terminal: one line redrawn with '\r'
 *   epoch 2/10 [=========>          ] 512/1875 loss 0.4312 3120 samples/s ETA 0:42
 * Elsewhere (a file, a pipe): a plain line every interval seconds and at the end of each
 * epoch. Writes only to the FILE* given. */
typedef struct nnrt_progress nnrt_progress;

typedef enum { NNRT_PROGRESS_AUTO, NNRT_PROGRESS_BAR, NNRT_PROGRESS_LINES } nnrt_progress_mode;

/* nnrt_progress_create: out is borrowed (not closed). epochs and steps_per_epoch may be 0
 * if unknown (no bar, no ETA). AUTO picks BAR when out is a terminal. */
int nnrt_progress_create(nnrt_ctx *ctx, FILE *out, int64_t epochs, int64_t steps_per_epoch,
                         nnrt_progress_mode mode, nnrt_progress **p);
void nnrt_progress_free(nnrt_progress *p);
/* nnrt_progress_set_interval: seconds between plain lines (default 10) and between bar
 * redraws (fixed at 0.1). */
void nnrt_progress_set_interval(nnrt_progress *p, double seconds);
/* nnrt_progress_set_clock: a clock in seconds, for tests (default: CLOCK_MONOTONIC). */
void nnrt_progress_set_clock(nnrt_progress *p, double (*now)(void *ud), void *ud);
/* nnrt_progress_step: step (1-based) of epoch (0-based) finished with this loss (NaN is
 * left out of the mean) on samples samples. Redraws when due. An epoch's clock starts at
 * the previous nnrt_progress_epoch_end (or at creation). */
void nnrt_progress_step(nnrt_progress *p, int64_t epoch, int64_t step, double loss,
                        int64_t samples);
/* nnrt_progress_epoch_end: ends the epoch's line with a summary (mean loss and, if not
 * NaN, the given evaluation metric, e.g. held-out accuracy), always printed. */
void nnrt_progress_epoch_end(nnrt_progress *p, int64_t epoch, const char *metric_name,
                             double metric);

/* Metrics appended to a CSV file: a header line when the file is new or empty, then one
 * line per call, flushed, numbers with %.9g. */
typedef struct nnrt_metrics nnrt_metrics;

/* nnrt_metrics_open: appends to path; if the file already has a header it must equal
 * the given columns (NNRT_EFORMAT otherwise). */
int nnrt_metrics_open(nnrt_ctx *ctx, const char *path, int ncols, const char *const *columns,
                      nnrt_metrics **out);
int nnrt_metrics_append(nnrt_metrics *m, const double *values);
/* nnrt_metrics_close: flushes and closes; returns NNRT_EIO if a write failed. */
int nnrt_metrics_close(nnrt_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
