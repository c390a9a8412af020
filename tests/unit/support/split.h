/* Split invariance for incremental parsers (DESIGN.md: "any split of the input must give the
 * same result as one buffer").
 *
 * A test describes its parser as a split_target: reset() starts a fresh parse, feed() hands
 * it one piece of input and appends what the parser reported to a text transcript, finish()
 * (optional) marks the end of input. split_check() runs the target on the whole input, then
 * on many cuttings of it, and compares every transcript with the whole-input one.
 *
 * Each piece is a private heap copy of exactly its length, freed after feed() returns: a
 * parser that reads past a piece or keeps a pointer into it is caught by ASan, and parsers
 * that work in place (frame unmasking) cannot disturb the original input. Transcripts should
 * not depend on where the cuts fell (e.g. record a frame's payload once, concatenated, at its
 * end rather than piece by piece). */
#ifndef WSREF_TEST_SPLIT_H
#define WSREF_TEST_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct split_target {
  void (*reset)(void *ctx);
  void (*feed)(void *ctx, uint8_t *piece, size_t len, wsref_buf *transcript);
  void (*finish)(void *ctx, wsref_buf *transcript); /* may be NULL */
  void *ctx;
} split_target;

/* Which cuttings split_check() tries. */
typedef struct split_plan {
  int two_way;      /* every cut position 1..n-1 */
  size_t max_chunk; /* fixed chunk sizes 1..max_chunk (1 = byte by byte); 0 = none */
  size_t max3;      /* every pair of cut positions when n <= max3; 0 = none */
} split_plan;

/* Two-way splits, chunk sizes 1..17, and three-way splits up to 48 octets. */
extern const split_plan split_plan_default;

/* Runs the target once with the given cut positions (ascending, each in 1..n-1) and writes
 * the transcript to out (reset first). Returns 0 or WSREF_E_NOMEM. */
int split_run(const split_target *t, const uint8_t *data, size_t n, const size_t *cuts,
              size_t ncuts, wsref_buf *out);

/* Runs every cutting of plan (NULL = split_plan_default) and compares with the whole-input
 * transcript. Prints the first few differences (cut positions and both transcripts) and
 * returns how many cuttings differed; a test asserts 0. */
size_t split_check(const split_target *t, const uint8_t *data, size_t n, const split_plan *plan);

#endif
