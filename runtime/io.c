/* io.c: whole-file reads (plain or gzip, through zlib) and atomic writes (temporary file,
 * fsync, rename, fsync of the directory), with messages that name the file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "rt.h"

/* rt_grow: makes room for need bytes in *buf (capacity *cap), doubling. */
static int rt_grow(nnrt_ctx *ctx, char **buf, size_t *cap, size_t need)
{
  if (need <= *cap) return NNRT_OK;
  size_t ncap = *cap ? *cap : 1 << 16;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) return rt_error(ctx, NNRT_ENOMEM, "out of memory: %zu bytes", need);
    ncap *= 2;
  }
  char *p = rt_realloc(ctx, *buf, *cap, ncap);
  if (!p) return NNRT_ENOMEM;
  *buf = p;
  *cap = ncap;
  return NNRT_OK;
}

/* rt_gz_msg: zlib's message without the "PATH: " it puts in front. */
static const char *rt_gz_msg(const char *msg, const char *path)
{
  size_t n = strlen(path);
  return strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0 ? msg + n + 2 : msg;
}

/* rt_read_gz: reads path, inflating it if it is gzip (zlib reads plain files as they are).
 * *buf is allocated with capacity *cap >= *size; free with rt_free(ctx, *buf, *cap). */
int rt_read_gz(nnrt_ctx *ctx, const char *path, void **buf, size_t *size, size_t *cap)
{
  *buf = NULL;
  *size = *cap = 0;
  gzFile f = gzopen(path, "rb");
  if (!f) return rt_error(ctx, NNRT_EIO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
  gzbuffer(f, 1 << 17);
  char *b = NULL;
  size_t n = 0, c = 0;
  int rc = NNRT_OK;
  for (;;) {
    if ((rc = rt_grow(ctx, &b, &c, n + (1 << 20)))) break;
    int got = gzread(f, b + n, (unsigned)(c - n < (1u << 30) ? c - n : (1u << 30)));
    if (got < 0) {
      int zerr;
      const char *msg = gzerror(f, &zerr);
      rc = rt_error(ctx, zerr == Z_ERRNO ? NNRT_EIO : NNRT_EFORMAT, "%s: %s: %s", path,
                    zerr == Z_ERRNO ? "read error" : "corrupt gzip data",
                    zerr == Z_ERRNO ? strerror(errno) : rt_gz_msg(msg, path));
      break;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  if (rc == NNRT_OK) {
    int zerr;
    const char *msg = gzerror(f, &zerr);
    if (zerr != Z_OK) rc = rt_error(ctx, NNRT_EFORMAT, "%s: truncated or corrupt gzip data: %s", path, rt_gz_msg(msg, path));
  }
  gzclose(f);
  if (rc) {
    rt_free(ctx, b, c);
    return rc;
  }
  *buf = b;
  *size = n;
  *cap = c;
  return NNRT_OK;
}

int rt_read_file(nnrt_ctx *ctx, const char *path, void **buf, size_t *size)
{
  *buf = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return rt_error(ctx, NNRT_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {   /* a directory "opens" */
    fclose(f);
    return rt_error(ctx, NNRT_EIO, "%s: not a regular file", path);
  }
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return rt_error(ctx, NNRT_EIO, "%s: cannot determine its size (not a regular file?)", path);
  }
  char *b = rt_malloc(ctx, (size_t)len + 1);
  if (!b) {
    fclose(f);
    return rt_error(ctx, NNRT_ENOMEM, "%s: out of memory reading %ld bytes", path, len);
  }
  size_t got = fread(b, 1, (size_t)len, f);
  int err = ferror(f);
  fclose(f);
  if (got != (size_t)len || err) {
    rt_free(ctx, b, (size_t)len + 1);
    return rt_error(ctx, NNRT_EIO, "%s: read error after %zu of %ld bytes", path, got, len);
  }
  b[len] = '\0';
  *buf = b;
  *size = (size_t)len;
  return NNRT_OK;
}

/* rt_write_all: writes n bytes to fd, retrying short writes and EINTR. */
static int rt_write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* rt_fsync_dir: fsync the directory holding path, so that the rename is durable. */
static void rt_fsync_dir(const char *path)
{
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* rt_temp_create: a new file path.tmp.XXXXXX next to path (same file system, so that the
 * rename is atomic), mode 0644; its name in tmp. Returns the fd or -1. */
static int rt_temp_create(const char *path, char *tmp, size_t size)
{
  if (snprintf(tmp, size, "%s.tmp.XXXXXX", path) >= (int)size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = mkstemp(tmp);
  if (fd >= 0) fchmod(fd, 0644);
  return fd;
}

int rt_write_atomic(nnrt_ctx *ctx, const char *path, const void *buf, size_t size)
{
  char tmp[4096];
  int fd = rt_temp_create(path, tmp, sizeof tmp);
  if (fd < 0) return rt_error(ctx, NNRT_EIO, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
  const char *what = NULL;
  if (rt_write_all(fd, buf, size) != 0) what = "write";
  else if (fsync(fd) != 0) what = "fsync";
  int err = errno;
  if (close(fd) != 0 && !what) {
    what = "close";
    err = errno;
  }
  if (!what && rename(tmp, path) != 0) {
    what = "rename";
    err = errno;
  }
  if (what) {
    unlink(tmp);
    return rt_error(ctx, NNRT_EIO, "%s: %s failed: %s (the file is unchanged)", path, what,
                    strerror(err));
  }
  rt_fsync_dir(path);
  return NNRT_OK;
}
