/* RFC 6455 section 5.3 client-to-server masking. */
#ifndef WSREF_CODEC_MASK_H
#define WSREF_CODEC_MASK_H

#include <stddef.h>
#include <stdint.h>

/* XOR buf[0..n) with key, starting at key position (offset % 4); works word-wise (no
 * byte-at-a-time inner loop) for any alignment. Masking and unmasking are the same. */
void wsref_mask_apply(uint8_t *buf, size_t n, const uint8_t key[4], uint64_t offset);

/* Same, reading from src and writing to dst (may not overlap unless dst == src). */
void wsref_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                     uint64_t offset);

#endif
