/* A growable byte buffer with a read offset (a FIFO of bytes), used for output queues and
 * for accumulating input that a parser needs whole (HTTP header sections). */
#ifndef WSREF_BASE_BUF_H
#define WSREF_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct wsref_buf {
  uint8_t *data;
  size_t start;   /* first unread byte */
  size_t end;     /* one past the last byte */
  size_t cap;
} wsref_buf;

#define WSREF_BUF_INIT {0, 0, 0, 0}

static inline size_t wsref_buf_len(const wsref_buf *b) { return b->end - b->start; }
static inline uint8_t *wsref_buf_head(const wsref_buf *b) { return b->data + b->start; }

/* Make room for n more bytes at the end; returns a pointer to them or NULL (WSREF_E_NOMEM). */
uint8_t *wsref_buf_reserve(wsref_buf *b, size_t n);
/* Mark n reserved bytes as written. */
static inline void wsref_buf_commit(wsref_buf *b, size_t n) { b->end += n; }
int wsref_buf_append(wsref_buf *b, const void *p, size_t n);
int wsref_buf_appendf(wsref_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop n bytes from the front. */
void wsref_buf_consume(wsref_buf *b, size_t n);
void wsref_buf_reset(wsref_buf *b);
void wsref_buf_free(wsref_buf *b);

#endif
