/* Masking (reference/codec/mask.h), RFC 6455 section 5.3, against a naive reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "codec/mask.h"

/* RFC 6455 5.3: octet i of the transformed data is octet i XOR key[i MOD 4]. */
static void naive(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                  uint64_t offset) {
  for (size_t i = 0; i < n; i++) dst[i] = src[i] ^ key[(offset + i) % 4];
}

/* A small deterministic generator so failures reproduce. */
static uint32_t rnd(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

enum { GUARD = 64, MAXN = 300 };
static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_rfc_example(void **state) {
  (void)state;
  uint8_t buf[5] = {'H', 'e', 'l', 'l', 'o'};
  static const uint8_t want[5] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  wsref_mask_apply(buf, 5, KEY, 0);
  assert_memory_equal(buf, want, 5);
  wsref_mask_apply(buf, 5, KEY, 0);
  assert_memory_equal(buf, "Hello", 5);
  uint8_t out[5];
  wsref_mask_copy(out, (const uint8_t *)"Hello", 5, KEY, 0);
  assert_memory_equal(out, want, 5);
  /* Continuing at offset 2 uses key octets 2, 3, 0. */
  uint8_t part[3] = {'l', 'l', 'o'};
  wsref_mask_apply(part, 3, KEY, 2);
  assert_memory_equal(part, want + 2, 3);
}

/* In place: every length 0..MAXN, every key phase (offsets 0..7 and a large one), every
 * alignment 0..15 of the buffer; octets around the range must not change. */
static void test_apply_all_offsets_alignments(void **state) {
  (void)state;
  uint8_t *arena = malloc(MAXN + 2 * GUARD + 16), *ref = malloc(MAXN + 2 * GUARD + 16);
  uint32_t seed = 12345;
  static const uint64_t offsets[] = {0, 1, 2, 3, 4, 5, 6, 7, UINT64_C(0x100000003), UINT64_MAX};
  for (size_t n = 0; n <= MAXN; n++)
    for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++)
      for (size_t al = 0; al < 16; al++) {
        size_t total = MAXN + 2 * GUARD + 16;
        for (size_t i = 0; i < total; i++) arena[i] = (uint8_t)rnd(&seed);
        memcpy(ref, arena, total);
        uint8_t key[4];
        for (int k = 0; k < 4; k++) key[k] = (uint8_t)rnd(&seed);
        uint8_t *p = arena + GUARD + al;
        naive(ref + GUARD + al, ref + GUARD + al, n, key, offsets[oi]);
        wsref_mask_apply(p, n, key, offsets[oi]);
        if (memcmp(arena, ref, total) != 0)
          fail_msg("apply n=%zu offset=%llu align=%zu", n, (unsigned long long)offsets[oi], al);
      }
  free(arena);
  free(ref);
}

/* Copy: every length, key phase, and independent alignments of src and dst. */
static void test_copy_all_offsets_alignments(void **state) {
  (void)state;
  size_t total = MAXN + 2 * GUARD + 16;
  uint8_t *src = malloc(total), *dst = malloc(total), *want = malloc(total);
  uint32_t seed = 777;
  for (size_t n = 0; n <= MAXN; n += (n < 140 ? 1 : 7))
    for (uint64_t off = 0; off < 8; off++)
      for (size_t sa = 0; sa < 16; sa++)
        for (size_t da = 0; da < 16; da += (n < 40 ? 1 : 5)) {
          for (size_t i = 0; i < total; i++) src[i] = (uint8_t)rnd(&seed);
          for (size_t i = 0; i < total; i++) dst[i] = (uint8_t)rnd(&seed);
          memcpy(want, dst, total);
          uint8_t key[4];
          for (int k = 0; k < 4; k++) key[k] = (uint8_t)rnd(&seed);
          naive(want + GUARD + da, src + GUARD + sa, n, key, off);
          uint8_t before[MAXN + 2 * GUARD + 16];
          memcpy(before, src, total);
          wsref_mask_copy(dst + GUARD + da, src + GUARD + sa, n, key, off);
          if (memcmp(dst, want, total) != 0)
            fail_msg("copy n=%zu offset=%llu src+%zu dst+%zu", n, (unsigned long long)off, sa, da);
          if (memcmp(src, before, total) != 0) fail_msg("copy wrote to src");
        }
  free(src);
  free(dst);
  free(want);
}

/* Copy with dst == src is the in-place form. */
static void test_copy_in_place(void **state) {
  (void)state;
  uint8_t a[257], b[257];
  for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (uint8_t)(i * 13);
  wsref_mask_copy(a + 1, a + 1, 250, KEY, 3);
  naive(b + 1, b + 1, 250, KEY, 3);
  assert_memory_equal(a, b, sizeof a);
}

/* Masking a long buffer in arbitrary pieces, with the running offset, equals masking it
 * whole: what the frame parser does with payload split across reads. */
static void test_pieces_equal_whole(void **state) {
  (void)state;
  enum { N = 70000 };
  uint8_t *a = malloc(N), *b = malloc(N);
  uint32_t seed = 99;
  for (size_t i = 0; i < N; i++) a[i] = b[i] = (uint8_t)rnd(&seed);
  wsref_mask_apply(a, N, KEY, 0);
  size_t at = 0;
  while (at < N) {
    size_t len = rnd(&seed) % 1500;
    if (len > N - at) len = N - at;
    wsref_mask_apply(b + at, len, KEY, at);
    at += len;
  }
  assert_memory_equal(a, b, N);
  naive(b, b, N, KEY, 0); /* undo with the reference */
  seed = 99;
  for (size_t i = 0; i < N; i++) assert_int_equal(b[i], (uint8_t)rnd(&seed));
  free(a);
  free(b);
}

/* A zero key changes nothing, and every key octet matters (no shortcut, no mix-up). */
static void test_keys(void **state) {
  (void)state;
  uint8_t buf[100], ref[100];
  for (int k = 0; k < 4; k++) {
    uint8_t key[4] = {0, 0, 0, 0};
    key[k] = 0xff;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = ref[i] = (uint8_t)i;
    wsref_mask_apply(buf, sizeof buf, key, 0);
    naive(ref, ref, sizeof ref, key, 0);
    assert_memory_equal(buf, ref, sizeof buf);
  }
  static const uint8_t zero[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)i;
  wsref_mask_apply(buf, sizeof buf, zero, 1);
  for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], i);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_example),
      cmocka_unit_test(test_apply_all_offsets_alignments),
      cmocka_unit_test(test_copy_all_offsets_alignments),
      cmocka_unit_test(test_copy_in_place),
      cmocka_unit_test(test_pieces_equal_whole),
      cmocka_unit_test(test_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
