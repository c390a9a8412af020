/* Incremental fail-fast UTF-8 validation (reference/codec/utf8.h), RFC 3629 / RFC 6455 8.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "codec/utf8.h"
#include "support/split.h"

static size_t unhex(const char *s, uint8_t *out) {
  size_t n = 0;
  int hi = -1;
  for (; *s; s++) {
    int v;
    if (*s >= '0' && *s <= '9')
      v = *s - '0';
    else if (*s >= 'a' && *s <= 'f')
      v = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F')
      v = *s - 'A' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  return n;
}

/* ---- an independent reference: decode, and at every octet ask whether any valid code
 * point still starts with the octets seen (the definition of failing fast) ---- */

enum { REF_VALID = -1, REF_INCOMPLETE = -2 };

static int overlaps(uint32_t lo, uint32_t hi, uint32_t a, uint32_t b) {
  return lo <= b && a <= hi;
}

/* REF_VALID, REF_INCOMPLETE (valid prefix cut inside a code point), or the offset of the
 * first octet that no valid UTF-8 string can have at that place. */
static long ref_check(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    unsigned need;
    uint32_t cp, min;
    if (b >= 0xC0 && b <= 0xDF) {
      need = 1, cp = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2, cp = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF7) {
      need = 3, cp = b & 0x07, min = 0x10000;
    } else {
      return (long)i; /* a continuation octet or F8-FF cannot start a code point */
    }
    for (unsigned k = 0; k <= need; k++) {
      if (k > 0) {
        if (i + k >= n) return REF_INCOMPLETE;
        uint8_t c = p[i + k];
        if ((c & 0xC0) != 0x80) return (long)(i + k);
        cp = cp << 6 | (c & 0x3F);
      }
      /* Code points reachable from this prefix: [lo, hi]. */
      unsigned r = 6 * (need - k);
      uint32_t lo = cp << r, hi = lo | ((UINT32_C(1) << r) - 1);
      if (!overlaps(lo, hi, min, 0xD7FF) &&
          !overlaps(lo, hi, min > 0xE000 ? min : 0xE000, 0x10FFFF))
        return (long)(i + k);
    }
    i += need + 1;
  }
  return REF_VALID;
}

/* Runs the validator on the whole buffer; same encoding as ref_check. */
static long dut_check(const uint8_t *p, size_t n) {
  wsref_utf8 u;
  wsref_utf8_init(&u);
  size_t bad = (size_t)-1;
  int rc = wsref_utf8_feed(&u, p, n, &bad);
  if (rc == WSREF_E_UTF8) {
    assert_false(wsref_utf8_complete(&u));
    assert_false(wsref_utf8_valid(p, n));
    return (long)bad;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(wsref_utf8_valid(p, n), wsref_utf8_complete(&u));
  return wsref_utf8_complete(&u) ? REF_VALID : REF_INCOMPLETE;
}

static void check_against_ref(const uint8_t *p, size_t n) {
  long want = ref_check(p, n), got = dut_check(p, n);
  if (want != got) {
    char hex[3 * 64 + 1] = "";
    for (size_t i = 0; i < n && i < 64; i++) snprintf(hex + 3 * i, 4, "%02x ", p[i]);
    fail_msg("%s(%zu octets): validator %ld, reference %ld", hex, n, got, want);
  }
}

/* ---- split invariance target: the transcript is the absolute error offset or the end state */

typedef struct uctx {
  wsref_utf8 u;
  size_t at;
  int failed;
} uctx;

static void u_reset(void *c) {
  uctx *x = c;
  wsref_utf8_init(&x->u);
  x->at = 0;
  x->failed = 0;
}

static void u_feed(void *c, uint8_t *piece, size_t len, wsref_buf *t) {
  uctx *x = c;
  size_t bad = (size_t)-1;
  int rc = wsref_utf8_feed(&x->u, piece, len, &bad);
  if (x->failed) {
    if (rc != WSREF_E_UTF8 || bad != 0) wsref_buf_appendf(t, "BUG not sticky\n");
  } else if (rc) {
    if (bad >= len) wsref_buf_appendf(t, "BUG offset %zu of %zu\n", bad, len);
    wsref_buf_appendf(t, "ERR at %zu\n", x->at + bad);
    x->failed = 1;
  }
  x->at += len;
}

static void u_finish(void *c, wsref_buf *t) {
  uctx *x = c;
  if (!x->failed) wsref_buf_appendf(t, "END complete=%d\n", wsref_utf8_complete(&x->u));
}

static size_t split_utf8(const uint8_t *p, size_t n, const split_plan *plan) {
  uctx x;
  split_target t = {u_reset, u_feed, u_finish, &x};
  return split_check(&t, p, n, plan);
}

/* ---- Autobahn 6.x-style sequences ---- */

typedef struct seq {
  const char *what;
  const char *hex;
  long expect; /* REF_VALID, REF_INCOMPLETE, or the offset of the first bad octet */
} seq;

#define KOSME "ce ba e1 bd b9 cf 83 ce bc ce b5"
#define EDITED "65 64 69 74 65 64"

static const seq seqs[] = {
    /* valid */
    {"empty", "", REF_VALID},
    {"Hello-µ@ßöäüàá-UTF-8!!",
     "48 65 6c 6c 6f 2d c2 b5 40 c3 9f c3 b6 c3 a4 c3 bc c3 a0 c3 a1 2d 55 54 46 2d 38 21 21",
     REF_VALID},
    {"kosme", KOSME, REF_VALID},
    {"first 1-octet", "00", REF_VALID},
    {"first 2-octet", "c2 80", REF_VALID},
    {"first 3-octet", "e0 a0 80", REF_VALID},
    {"first 4-octet", "f0 90 80 80", REF_VALID},
    {"last 1-octet", "7f", REF_VALID},
    {"last 2-octet", "df bf", REF_VALID},
    {"last 3-octet", "ef bf bf", REF_VALID},
    {"last 4-octet U+10FFFF", "f4 8f bf bf", REF_VALID},
    {"U+D7FF", "ed 9f bf", REF_VALID},
    {"U+E000", "ee 80 80", REF_VALID},
    {"U+FFFD", "ef bf bd", REF_VALID},
    {"noncharacter U+FFFE", "ef bf be", REF_VALID},
    {"noncharacter U+1FFFF", "f0 9f bf bf", REF_VALID},
    {"noncharacter U+10FFFE", "f4 8f bf be", REF_VALID},
    {"U+FDD0", "ef b7 90", REF_VALID},
    {"mixed 1-4 octets", "41 c3 a9 e2 82 ac f0 9f 98 80 7a", REF_VALID},
    /* first possible sequences of 5 and 6 octets, and 4-octet sequences past U+10FFFF */
    {"5-octet U+200000", "f8 88 80 80 80", 0},
    {"6-octet U+4000000", "fc 84 80 80 80 80", 0},
    {"U+110000", "f4 90 80 80", 1},
    {"U+1FFFFF", "f7 bf bf bf", 0},
    {"5-octet max", "fb bf bf bf bf", 0},
    {"6-octet max", "fd bf bf bf bf bf", 0},
    {"kosme, U+110000, edited (fail fast)", KOSME " f4 90 80 80 " EDITED, 12},
    {"kosme, surrogate, edited (fail fast)", KOSME " ed a0 80 " EDITED, 12},
    /* unexpected continuation octets */
    {"lone 80", "80", 0},
    {"lone bf", "bf", 0},
    {"80 bf", "80 bf", 0},
    {"80 bf 80 bf", "80 bf 80 bf", 0},
    {"continuation after ASCII", "41 42 80", 2},
    {"extra continuation after 2-octet", "c3 a9 a9", 2},
    {"extra continuation after 4-octet", "f0 9f 98 80 80", 4},
    /* lonely start characters */
    {"c0 space", "c0 20", 0},
    {"c2 space", "c2 20", 1},
    {"df space", "df 20", 1},
    {"e0 space", "e0 20", 1},
    {"e1 space", "e1 20", 1},
    {"e1 80 space", "e1 80 20", 2},
    {"f0 space", "f0 20", 1},
    {"f1 80 80 space", "f1 80 80 20", 3},
    {"f8 space", "f8 20", 0},
    {"fc space", "fc 20", 0},
    {"two leads", "c3 c3 a9", 1},
    /* sequences with the last continuation octet missing, then more text */
    {"c3 then ASCII", "c3 41", 1},
    {"e2 82 then ASCII", "e2 82 41", 2},
    {"f0 9f 98 then ASCII", "f0 9f 98 41", 3},
    {"concatenated incomplete", "c0 e0 80 f0 80 80 f8 80 80 80", 0},
    /* impossible octets */
    {"fe", "fe", 0},
    {"ff", "ff", 0},
    {"fe fe ff ff", "fe fe ff ff", 0},
    {"f5", "f5 80 80 80", 0},
    {"ASCII then ff", "41 42 43 ff", 3},
    /* overlong '/' */
    {"overlong / 2", "c0 af", 0},
    {"overlong / 3", "e0 80 af", 1},
    {"overlong / 4", "f0 80 80 af", 1},
    {"overlong / 5", "f8 80 80 80 af", 0},
    {"overlong / 6", "fc 80 80 80 80 af", 0},
    /* maximum overlongs */
    {"max overlong 2", "c1 bf", 0},
    {"max overlong 3", "e0 9f bf", 1},
    {"max overlong 4", "f0 8f bf bf", 1},
    /* overlong NUL */
    {"overlong NUL 2", "c0 80", 0},
    {"overlong NUL 3", "e0 80 80", 1},
    {"overlong NUL 4", "f0 80 80 80", 1},
    /* single UTF-16 surrogates */
    {"U+D800", "ed a0 80", 1},
    {"U+DB7F", "ed ad bf", 1},
    {"U+DB80", "ed ae 80", 1},
    {"U+DBFF", "ed af bf", 1},
    {"U+DC00", "ed b0 80", 1},
    {"U+DF80", "ed be 80", 1},
    {"U+DFFF", "ed bf bf", 1},
    /* paired surrogates */
    {"U+D800 U+DC00", "ed a0 80 ed b0 80", 1},
    {"U+DBFF U+DFFF", "ed af bf ed bf bf", 1},
    {"ASCII then surrogate", "61 62 63 ed a0 80", 4},
    /* truncated at the end: not an error until the message ends */
    {"truncated 2-octet", "c3", REF_INCOMPLETE},
    {"truncated 3-octet after 1", "e2", REF_INCOMPLETE},
    {"truncated 3-octet after 2", "e2 82", REF_INCOMPLETE},
    {"truncated 4-octet after 3", "f0 9f 98", REF_INCOMPLETE},
    {"truncated U+10FFFF", "f4 8f bf", REF_INCOMPLETE},
    {"kosme truncated", KOSME " e1 bd", REF_INCOMPLETE},
    {"truncated ed", "ed 9f", REF_INCOMPLETE},
};

static void test_autobahn_sequences(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
    uint8_t buf[64];
    size_t n = unhex(seqs[i].hex, buf);
    long got = dut_check(buf, n);
    if (got != seqs[i].expect) fail_msg("%s: got %ld, want %ld", seqs[i].what, got, seqs[i].expect);
    /* The expectation itself agrees with the independent reference. */
    if (ref_check(buf, n) != seqs[i].expect) fail_msg("%s: reference disagrees", seqs[i].what);
    /* Every split (every position, every pair of positions, byte by byte) agrees. */
    if (split_utf8(buf, n, NULL) != 0) fail_msg("%s: split mismatch", seqs[i].what);
  }
}

/* The failing octet is reported the moment it is fed: nothing after it is needed. */
static void test_fail_fast_incremental(void **state) {
  (void)state;
  uint8_t buf[64];
  unhex(KOSME " f4 90 80 80 " EDITED, buf);
  wsref_utf8 u;
  wsref_utf8_init(&u);
  size_t bad = 99;
  for (size_t i = 0; i < 12; i++) {
    assert_int_equal(wsref_utf8_feed(&u, buf + i, 1, &bad), 0);
  }
  assert_false(wsref_utf8_complete(&u)); /* inside F4 .. */
  assert_int_equal(wsref_utf8_feed(&u, buf + 12, 1, &bad), WSREF_E_UTF8);
  assert_int_equal(bad, 0);
  /* Sticky: valid input afterwards still fails, with no offset in the new piece. */
  bad = 99;
  assert_int_equal(wsref_utf8_feed(&u, (const uint8_t *)"abc", 3, &bad), WSREF_E_UTF8);
  assert_int_equal(bad, 0);
  assert_int_equal(wsref_utf8_feed(&u, NULL, 0, NULL), WSREF_E_UTF8);
  assert_false(wsref_utf8_complete(&u));
}

static void test_split_code_points(void **state) {
  (void)state;
  /* "€" fed as E2 | 82 | AC, with a boundary state in between. */
  wsref_utf8 u;
  wsref_utf8_init(&u);
  assert_true(wsref_utf8_complete(&u));
  assert_int_equal(wsref_utf8_feed(&u, (const uint8_t *)"\xe2", 1, NULL), 0);
  assert_false(wsref_utf8_complete(&u));
  assert_int_equal(wsref_utf8_feed(&u, (const uint8_t *)"\x82", 1, NULL), 0);
  assert_false(wsref_utf8_complete(&u));
  assert_int_equal(wsref_utf8_feed(&u, NULL, 0, NULL), 0);
  assert_int_equal(wsref_utf8_feed(&u, (const uint8_t *)"\xac", 1, NULL), 0);
  assert_true(wsref_utf8_complete(&u));
  assert_int_equal(u.state, 0);
  /* A zeroed struct is a valid initial state. */
  wsref_utf8 z;
  memset(&z, 0, sizeof z);
  assert_int_equal(wsref_utf8_feed(&z, (const uint8_t *)"\xc3\xa9", 2, NULL), 0);
  assert_true(wsref_utf8_complete(&z));
}

/* Long mixed text with errors planted late; every split of it gives the same result. */
static void test_split_long(void **state) {
  (void)state;
  uint8_t buf[400];
  size_t n = 0;
  const char *piece =
      "Gr\xc3\xbc\xc3\x9f"
      "e \xe2\x82\xac \xf0\x9f\x98\x80 abcdefghijklmnopqrstuvwxyz ";
  while (n + strlen(piece) < 300) {
    memcpy(buf + n, piece, strlen(piece));
    n += strlen(piece);
  }
  split_plan plan = {.two_way = 1, .max_chunk = 40, .max3 = 0};
  assert_int_equal(split_utf8(buf, n, &plan), 0);
  assert_int_equal(dut_check(buf, n), REF_VALID);
  buf[n] = 0xed, buf[n + 1] = 0xb0, buf[n + 2] = 0x80; /* surrogate at the end */
  assert_int_equal(dut_check(buf, n + 3), (long)n + 1);
  assert_int_equal(split_utf8(buf, n + 3, &plan), 0);
  buf[n] = 0xf0; /* truncated 4-octet at the end */
  assert_int_equal(dut_check(buf, n + 1), REF_INCOMPLETE);
  assert_int_equal(split_utf8(buf, n + 1, &plan), 0);
}

/* The ASCII fast path: a non-ASCII octet at every position and alignment is seen. */
static void test_ascii_fast_path_positions(void **state) {
  (void)state;
  enum { N = 160 };
  uint8_t arena[N + 32];
  static const struct {
    const char *bytes;
    long expect_rel; /* offset from the insertion point, or REF_VALID */
  } ins[] = {
      {"\xc3\xa9", REF_VALID},
      {"\xf0\x9f\x98\x80", REF_VALID},
      {"\x80", 0},
      {"\xc0\xaf", 0},
      {"\xe0\x80\x80", 1},
      {"\xed\xa0\x80", 1},
      {"\xff", 0},
      {"\xc3\x41", 1},
  };
  for (size_t k = 0; k < sizeof ins / sizeof ins[0]; k++)
    for (size_t al = 0; al < 16; al++)
      for (size_t pos = 0; pos + 4 < N; pos++) {
        uint8_t *p = arena + al;
        memset(p, 'a', N);
        size_t len = strlen(ins[k].bytes);
        memcpy(p + pos, ins[k].bytes, len);
        long want = ins[k].expect_rel == REF_VALID ? REF_VALID : (long)pos + ins[k].expect_rel;
        long got = dut_check(p, N);
        if (got != want)
          fail_msg("insert %zu at %zu align %zu: got %ld want %ld", k, pos, al, got, want);
      }
}

/* Every sequence of 1 and 2 octets; 3 and 4 octets with a non-ASCII lead and the later
 * octets drawn from the boundary values of every class. */
static void test_exhaustive_short(void **state) {
  (void)state;
  uint8_t b[4];
  for (unsigned x = 0; x < 256; x++) {
    b[0] = (uint8_t)x;
    check_against_ref(b, 1);
    for (unsigned y = 0; y < 256; y++) {
      b[1] = (uint8_t)y;
      check_against_ref(b, 2);
    }
  }
  static const uint8_t edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xf0, 0xf4, 0xff};
  for (unsigned x = 0x80; x < 256; x++)
    for (unsigned y = 0; y < 256; y++)
      for (size_t z = 0; z < sizeof edge; z++) {
        b[0] = (uint8_t)x, b[1] = (uint8_t)y, b[2] = edge[z];
        check_against_ref(b, 3);
        if (x >= 0xf0 && x <= 0xf7)
          for (size_t w = 0; w < sizeof edge; w++) {
            b[3] = edge[w];
            check_against_ref(b, 4);
          }
      }
}

static size_t encode_cp(uint32_t cp, uint8_t *out) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | cp >> 6), out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | cp >> 12), out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | cp >> 18), out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Every code point, encoded by the generic formula: all valid except the surrogates (which
 * fail at their second octet), and the 4-octet formula past U+10FFFF fails too. */
static void test_all_code_points(void **state) {
  (void)state;
  uint8_t b[4];
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    size_t n = encode_cp(cp, b);
    long got = dut_check(b, n);
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      if (got != 1) fail_msg("U+%04X: got %ld", cp, got);
    } else if (got != REF_VALID) {
      fail_msg("U+%04X: got %ld", cp, got);
    }
  }
  for (uint32_t cp = 0x110000; cp < 0x200000; cp += 0x1001) {
    encode_cp(cp, b);
    long got = dut_check(b, 4);
    if (got != (b[0] == 0xF4 ? 1 : 0)) fail_msg("U+%X: got %ld", cp, got);
  }
  /* Overlong forms of every code point that has a shorter form. */
  for (uint32_t cp = 0; cp < 0x10000; cp++) {
    uint8_t o[4];
    if (cp < 0x80) { /* 2-octet overlong */
      o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F));
      assert_int_equal(dut_check(o, 2), 0);
    }
    if (cp < 0x800) { /* 3-octet overlong */
      o[0] = 0xE0, o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), o[2] = (uint8_t)(0x80 | (cp & 0x3F));
      assert_int_equal(dut_check(o, 3), 1);
    }
    /* 4-octet overlong */
    o[0] = 0xF0, o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    assert_int_equal(dut_check(o, 4), 1);
  }
}

static uint32_t rnd(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* Random text made mostly of valid code points, with rare random octets, long ASCII runs
 * (to go through the word path) and cuts; compared with the reference, whole and in two
 * random pieces. */
static void test_random_differential(void **state) {
  (void)state;
  uint32_t seed = 2024;
  uint8_t buf[600];
  for (int iter = 0; iter < 20000; iter++) {
    size_t n = 0, target = rnd(&seed) % 500;
    while (n < target) {
      uint32_t r = rnd(&seed) % 100;
      if (r < 40) {
        size_t run = rnd(&seed) % 40;
        memset(buf + n, 'x', run);
        n += run;
      } else if (r < 97) {
        uint32_t cp;
        do cp = rnd(&seed) % (r < 70 ? 0x800 : 0x110000);
        while (cp >= 0xD800 && cp <= 0xDFFF);
        n += encode_cp(cp, buf + n);
      } else {
        buf[n++] = (uint8_t)rnd(&seed);
      }
    }
    long want = ref_check(buf, n);
    long got = dut_check(buf, n);
    if (got != want) fail_msg("iter %d: got %ld want %ld", iter, got, want);
    if (n > 1) {
      size_t cut = 1 + rnd(&seed) % (n - 1), cuts[1] = {cut};
      uctx x;
      split_target t = {u_reset, u_feed, u_finish, &x};
      wsref_buf a = WSREF_BUF_INIT, b = WSREF_BUF_INIT;
      assert_int_equal(split_run(&t, buf, n, NULL, 0, &a), 0);
      assert_int_equal(split_run(&t, buf, n, cuts, 1, &b), 0);
      assert_string_equal((const char *)wsref_buf_head(&a), (const char *)wsref_buf_head(&b));
      wsref_buf_free(&a);
      wsref_buf_free(&b);
    }
  }
}

/* Large buffers through the ASCII block loop, with one bad octet far in. */
static void test_large(void **state) {
  (void)state;
  enum { N = 1 << 20 };
  uint8_t *p = malloc(N);
  memset(p, 'q', N);
  assert_true(wsref_utf8_valid(p, N));
  p[N - 1] = 0x80;
  assert_int_equal(dut_check(p, N), N - 1);
  p[N - 1] = 'q';
  p[777777] = 0xc3;
  assert_int_equal(dut_check(p, N), 777778);
  p[777778] = 0xa9;
  assert_int_equal(dut_check(p, N), REF_VALID);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_autobahn_sequences),
      cmocka_unit_test(test_fail_fast_incremental),
      cmocka_unit_test(test_split_code_points),
      cmocka_unit_test(test_split_long),
      cmocka_unit_test(test_ascii_fast_path_positions),
      cmocka_unit_test(test_exhaustive_short),
      cmocka_unit_test(test_all_code_points),
      cmocka_unit_test(test_random_differential),
      cmocka_unit_test(test_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
