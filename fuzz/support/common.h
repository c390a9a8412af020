/* Shared helpers for the libFuzzer targets in fuzz/.
 *
 * Everything here is deliberately independent of reference/codec: the oracles a target
 * checks the library against (UTF-8 well-formedness, frame layout, close codes) must not
 * come from the code under test. They are written for obviousness, not speed.
 *
 * Input layout conventions shared by the targets (fuzz/README.md has the per-target table):
 *   - option bytes first (role, limits, handler behaviour), so one target covers a matrix
 *     of configurations;
 *   - then a chunk plan (fuzz_chunks) or a script, kept apart from the protocol bytes so
 *     that the protocol stream stays contiguous and mutations of it stay meaningful;
 *   - then the protocol stream itself.
 */
#ifndef WSREF_FUZZ_COMMON_H
#define WSREF_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* An invariant failed: print where and why, then trap so libFuzzer records a crash. In the
 * coverage build (FUZZ_COVERAGE_BUILD) it only counts, so that one input of a still-open bug
 * does not lose the profile of a whole replay. */
void fuzz_fail(const char *file, int line, const char *what);
/* Invariant failures counted so far (coverage build; always 0 otherwise). */
unsigned long fuzz_failures(void);
#define FUZZ_CHECK(cond)                               \
  do {                                                 \
    if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond); \
  } while (0)

/* A cursor over the fuzz input; reads past the end give zeros. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n, pos;
} fuzz_in;

static inline uint8_t fuzz_u8(fuzz_in *in) {
  return in->pos < in->n ? in->p[in->pos++] : 0;
}
static inline size_t fuzz_left(const fuzz_in *in) {
  return in->n - in->pos;
}
static inline const uint8_t *fuzz_rest(const fuzz_in *in) {
  return in->p + in->pos;
}

/* A chunk plan: one count byte (k = byte % 9), then k size bytes, used cyclically.
 * Size byte v: v < 0xC0 gives v octets (0 = an empty piece), v >= 0xC0 gives
 * (v - 0xBF) * 64 octets. A plan with no non-zero size means "everything at once". */
typedef struct fuzz_chunks {
  uint8_t spec[8];
  size_t nspec, i;
  bool progress; /* some size in the plan is non-zero */
} fuzz_chunks;

void fuzz_chunks_read(fuzz_chunks *c, fuzz_in *in);
void fuzz_chunks_rewind(fuzz_chunks *c);
/* Size of the next piece (at most left). */
size_t fuzz_chunks_next(fuzz_chunks *c, size_t left);

/* RFC 3629 UTF-8, the slow and obvious way: decode each sequence, and after every octet ask
 * whether some completion of the sequence so far could still be a Unicode scalar value in
 * the range its length may encode (no overlong forms, no surrogates, nothing above
 * U+10FFFF). Returns the offset of the first octet after which no valid completion exists,
 * or n when p[0..n) is a valid prefix; *complete (may be NULL) tells whether the input ends
 * on a code point boundary. */
size_t fuzz_utf8_first_bad(const uint8_t *p, size_t n, bool *complete);
static inline bool fuzz_utf8_ok(const uint8_t *p, size_t n) {
  bool complete;
  return fuzz_utf8_first_bad(p, n, &complete) == n && complete;
}

/* Close codes that may appear in a close frame (RFC 6455 7.4.1 and 7.4.2, plus the IANA
 * registrations 1012-1014), from an explicit list. */
bool fuzz_close_code_ok(unsigned code);

/* One frame header as it is on the wire, decoded independently of reference/codec. */
typedef struct fuzz_frame {
  bool fin;
  unsigned rsv; /* RSV1 = 4, RSV2 = 2, RSV3 = 1 */
  unsigned opcode;
  bool masked;
  uint8_t key[4];
  uint64_t len;
  size_t hlen;
  bool minimal; /* the length used its shortest form */
} fuzz_frame;

/* Decodes the header at p. Returns the frame's total size (header + payload), or 0 if
 * p[0..n) does not hold the whole frame. */
size_t fuzz_frame_decode(const uint8_t *p, size_t n, fuzz_frame *f);

/* Checks a byte stream one endpoint sent, frame by frame, against the sender's rules of
 * RFC 6455: masking by role, minimal lengths, no RSV bits, defined opcodes, control frames
 * final and <= 125 octets, fragment sequencing, UTF-8 text messages, valid close payloads,
 * nothing after the close frame. Traps on a violation. */
typedef struct fuzz_wire_check {
  bool sender_is_client;
  bool close_seen;
  unsigned close_code; /* code in our close frame (0 = none / 1005) */
  bool in_msg;
  unsigned msg_op;
  wsref_buf text; /* text message being reassembled */
  size_t frames;
} fuzz_wire_check;

/* Walks p[0..n) (complete frames only). Returns the number of octets consumed; a trailing
 * partial frame is left for the caller to judge. */
size_t fuzz_wire_check_frames(fuzz_wire_check *w, const uint8_t *p, size_t n);
void fuzz_wire_check_free(fuzz_wire_check *w);

/* wsref_buf_head() of a never-used buffer is NULL + 0, which UBSan rejects in C: use this
 * when the buffer may be empty. */
static inline const uint8_t *fuzz_buf_head(const wsref_buf *b) {
  return b->data ? b->data + b->start : (const uint8_t *)"";
}

/* Copies src into a fresh heap block of exactly n bytes (ASan sees any overread). */
uint8_t *fuzz_dup(const void *src, size_t n);

/* Transcripts (what a run observed, for comparing two runs): append or abort. */
void fuzz_put(wsref_buf *b, const void *p, size_t n);
void fuzz_put_u64(wsref_buf *b, uint64_t v);
void fuzz_put_str(wsref_buf *b, const char *s); /* length-prefixed; NULL differs from "" */
/* Same length, same octets. */
bool fuzz_same(const wsref_buf *a, const wsref_buf *b);

#endif
