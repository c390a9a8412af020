/* Incremental, fail-fast UTF-8 validation (RFC 3629, as RFC 6455 section 8.1 requires).
 * Code points may be split across calls (fragments); the validator fails at the first octet
 * that cannot begin or continue a valid sequence, without waiting for the end. */
#ifndef WSREF_CODEC_UTF8_H
#define WSREF_CODEC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wsref_utf8 {
  uint32_t state; /* 0 = between code points */
} wsref_utf8;

static inline void wsref_utf8_init(wsref_utf8 *u) { u->state = 0; }

/* Validate the next piece. Returns 0, or WSREF_E_UTF8 at the first invalid octet
 * (sticky). If bad_offset is not NULL it receives the offset of that octet in p. */
int wsref_utf8_feed(wsref_utf8 *u, const uint8_t *p, size_t n, size_t *bad_offset);

/* True if the input so far ends on a code point boundary (message end). */
static inline bool wsref_utf8_complete(const wsref_utf8 *u) { return u->state == 0; }

/* One-shot check of a whole buffer. */
bool wsref_utf8_valid(const uint8_t *p, size_t n);

#endif
