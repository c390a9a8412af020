#include "base/buf.h"

#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

uint8_t *wsref_buf_reserve(wsref_buf *b, size_t n) {
  if (b->cap - b->end >= n) return b->data + b->end;
  size_t live = b->end - b->start;
  /* Reclaim consumed space first when that alone makes room: output queues are drained
   * from the front, so this keeps a steady-state queue from growing. */
  if (b->start > 0 && b->cap - live >= n && b->start >= live) {
    memmove(b->data, b->data + b->start, live);
    b->start = 0;
    b->end = live;
    return b->data + b->end;
  }
  if (n > SIZE_MAX / 2 - live) return NULL;
  size_t need = live + n, cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  if (b->start > 0) {
    memmove(b->data, b->data + b->start, live);
    b->start = 0;
    b->end = live;
  }
  if (cap != b->cap) {
    uint8_t *p = realloc(b->data, cap);
    if (!p) return NULL;
    b->data = p;
    b->cap = cap;
  }
  return b->data + b->end;
}

int wsref_buf_append(wsref_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  uint8_t *dst = wsref_buf_reserve(b, n);
  if (!dst) return WSREF_E_NOMEM;
  memcpy(dst, p, n);
  b->end += n;
  return 0;
}

int wsref_buf_appendf(wsref_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return WSREF_E_INVALID_ARG;
  uint8_t *dst = wsref_buf_reserve(b, (size_t)n + 1);
  if (!dst) return WSREF_E_NOMEM;
  va_start(ap, fmt);
  vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->end += (size_t)n;
  return 0;
}

void wsref_buf_consume(wsref_buf *b, size_t n) {
  size_t live = b->end - b->start;
  if (n >= live) {
    b->start = b->end = 0;
  } else {
    b->start += n;
  }
}

void wsref_buf_reset(wsref_buf *b) { b->start = b->end = 0; }

void wsref_buf_free(wsref_buf *b) {
  free(b->data);
  b->data = NULL;
  b->start = b->end = b->cap = 0;
}
