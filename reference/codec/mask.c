#include "codec/mask.h"

#include <string.h>

/* The key repeated twice, rotated so that byte 0 of the word (in memory order) XORs the octet
 * at key phase ph. On the usual little-endian targets this is a rotate of the loaded key;
 * elsewhere it is built through a byte array, which is right on any byte order. */
static uint64_t key_word(const uint8_t key[4], unsigned ph) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint32_t k32;
  memcpy(&k32, key, 4);
  uint64_t w = (uint64_t)k32 | (uint64_t)k32 << 32;
  return ph ? (w >> (8 * ph)) | (w << (64 - 8 * ph)) : w;
#else
  uint8_t k[8];
  for (unsigned i = 0; i < 8; i++) k[i] = key[(ph + i) & 3];
  uint64_t w;
  memcpy(&w, k, sizeof w);
  return w;
#endif
}

/* XOR one 64-octet block: all eight loads, then all eight stores. With every load of a block
 * ahead of every store, the compiler needs no alias check to turn the block into vector
 * loads, XORs and stores at -O2 (gcc's default -O2 cost model refuses loops that need a
 * runtime alias check or an epilogue; a fixed-size straight-line block needs neither, and
 * gcc 12 and clang 14 both emit four 16-octet movdqu/pxor/movups pairs). Written out rather
 * than as a loop over a local array, which gcc bounces through the stack. */
#define LOAD(j)  \
  uint64_t w##j; \
  memcpy(&w##j, src + 8 * (j), 8)
#define STORE(j) \
  w##j ^= k;     \
  memcpy(dst + 8 * (j), &w##j, 8)

static inline void xor_block64(uint8_t *dst, const uint8_t *src, uint64_t k) {
  LOAD(0);
  LOAD(1);
  LOAD(2);
  LOAD(3);
  LOAD(4);
  LOAD(5);
  LOAD(6);
  LOAD(7);
  STORE(0);
  STORE(1);
  STORE(2);
  STORE(3);
  STORE(4);
  STORE(5);
  STORE(6);
  STORE(7);
}

/* One body for copy and in-place masking.
 * - Buffers of ALIGN_MIN octets or more first run a head loop (at most 7 octets) that aligns
 *   dst to 8, so the block stores never split a cache line; loads from src may stay
 *   unaligned, which memcpy handles. Short buffers skip it: there it costs more than it saves.
 * - Then 64-octet blocks and 8-octet words. The key pattern repeats every 4 octets, so after
 *   any multiple of 4 the rotated word still lines up, and a 4-octet step can use its first
 *   half; the byte tail is at most 3 octets. */
enum { ALIGN_MIN = 256 };

void wsref_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                     uint64_t offset) {
  unsigned ph = (unsigned)(offset & 3);
  size_t i = 0;

  if (n >= ALIGN_MIN) {
    size_t head = (size_t)(-(uintptr_t)dst) & 7;
    for (; i < head; i++) dst[i] = src[i] ^ key[(ph + i) & 3];
  }

  uint64_t k = key_word(key, (unsigned)((ph + i) & 3));
  for (; n - i >= 64; i += 64) xor_block64(dst + i, src + i, k);
  for (; n - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, src + i, sizeof w);
    w ^= k;
    memcpy(dst + i, &w, sizeof w);
  }
  if (n - i >= 4) {
    uint32_t w, k4;
    memcpy(&k4, &k, sizeof k4); /* the first 4 octets of k in memory order */
    memcpy(&w, src + i, sizeof w);
    w ^= k4;
    memcpy(dst + i, &w, sizeof w);
    i += 4;
  }
  for (; i < n; i++) dst[i] = src[i] ^ key[(ph + i) & 3];
}

void wsref_mask_apply(uint8_t *buf, size_t n, const uint8_t key[4], uint64_t offset) {
  wsref_mask_copy(buf, buf, n, key, offset);
}
