#include "codec/utf8.h"

#include <string.h>

#include "base/error.h"

/* A shift-based DFA for RFC 3629 UTF-8 (the well-formed byte sequences of Unicode table 3-7).
 *
 * Each state is a bit offset (a multiple of 6) into a 64-bit row; row[b] holds, at the offset
 * of every state, the 6-bit offset of the state that byte b leads to. One step is then
 * `s = row[b] >> (s & 63)`: the row load does not depend on the state, so the loop-carried
 * chain is a single shift, about one cycle per byte on mixed text.
 *
 * The error state is offset 0 and no row has bits set for it, so once entered it is never
 * left. Every state has exactly the successors the RFC 3629 grammar allows, which makes the
 * automaton fail at the first octet that cannot extend a valid prefix:
 *   - C0, C1 and F5-FF never start anything (overlong 2-byte forms, beyond U+10FFFF);
 *   - after E0 only A0-BF (no overlong 3-byte forms);
 *   - after ED only 80-9F (no surrogates D800-DFFF);
 *   - after F0 only 90-BF (no overlong 4-byte forms);
 *   - after F4 only 80-8F (nothing above U+10FFFF);
 *   - a continuation byte where a lead or ASCII byte is due, or a non-continuation byte where a
 *     continuation is due, is an error at that byte.
 *
 * The public state (wsref_utf8.state) is the internal offset XOR S_ACC, so that "between code
 * points" is 0 as utf8.h promises and a zeroed struct is a valid initial state. */
enum {
  S_ERR = 0,
  S_ACC = 6,
  S_1 = 12,  /* one continuation (80-BF) left */
  S_2 = 18,  /* two continuations left */
  S_E0 = 24, /* after E0: A0-BF, then one more */
  S_ED = 30, /* after ED: 80-9F, then one more */
  S_3 = 36,  /* after F1-F3: three continuations left */
  S_F0 = 42, /* after F0: 90-BF, then two more */
  S_F4 = 48, /* after F4: 80-8F, then two more */
};

#define T(from, to) ((uint64_t)(to) << (from))

#define R_BAD 0
#define R_ASCII T(S_ACC, S_ACC)
#define R_C80 (T(S_1, S_ACC) | T(S_2, S_1) | T(S_ED, S_1) | T(S_3, S_2) | T(S_F4, S_2))
#define R_C90 (T(S_1, S_ACC) | T(S_2, S_1) | T(S_ED, S_1) | T(S_3, S_2) | T(S_F0, S_2))
#define R_CA0 (T(S_1, S_ACC) | T(S_2, S_1) | T(S_E0, S_1) | T(S_3, S_2) | T(S_F0, S_2))
#define R_L2 T(S_ACC, S_1)
#define R_E0 T(S_ACC, S_E0)
#define R_L3 T(S_ACC, S_2)
#define R_ED T(S_ACC, S_ED)
#define R_F0 T(S_ACC, S_F0)
#define R_L4 T(S_ACC, S_3)
#define R_F4 T(S_ACC, S_F4)

#define X2(r) r, r
#define X4(r) X2(r), X2(r)
#define X8(r) X4(r), X4(r)
#define X16(r) X8(r), X8(r)

/* clang-format off */
static const uint64_t row[] = {
    X16(R_ASCII), X16(R_ASCII), X16(R_ASCII), X16(R_ASCII), /* 00-3F */
    X16(R_ASCII), X16(R_ASCII), X16(R_ASCII), X16(R_ASCII), /* 40-7F */
    X16(R_C80),                                             /* 80-8F */
    X16(R_C90),                                             /* 90-9F */
    X16(R_CA0), X16(R_CA0),                                 /* A0-BF */
    X2(R_BAD), X2(R_L2), X4(R_L2), X8(R_L2),                /* C0-C1 bad, C2-CF */
    X16(R_L2),                                              /* D0-DF */
    R_E0, X8(R_L3), X4(R_L3), R_ED, X2(R_L3),               /* E0, E1-EC, ED, EE-EF */
    R_F0, X2(R_L4), R_L4, R_F4, X8(R_BAD), X2(R_BAD), R_BAD /* F0, F1-F3, F4, F5-FF */
};
/* clang-format on */
_Static_assert(sizeof row / sizeof row[0] == 256, "one row per octet value");

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* DFA steps run in bounded runs (RUN octets) with no per-byte error test; a run that ends in
 * the error state is replayed from its start to find the exact first bad octet. Error state
 * being absorbing makes the replay give the same answer, and the bound keeps it cheap. */
enum { RUN = 16 };

int wsref_utf8_feed(wsref_utf8 *u, const uint8_t *p, size_t n, size_t *bad_offset) {
  uint64_t s = (u->state ^ S_ACC) & 63;
  if (s == S_ERR) {
    /* Sticky: the offending octet was in an earlier piece, so there is no offset in p. */
    if (bad_offset) *bad_offset = 0;
    return WSREF_E_UTF8;
  }
  size_t i = 0;
  while (i < n) {
    if (s == S_ACC) {
      /* Between code points: skip ASCII a block at a time. */
      while (n - i >= 32) {
        uint64_t w[4];
        memcpy(w, p + i, sizeof w);
        if ((w[0] | w[1] | w[2] | w[3]) & HIGH_BITS) break;
        i += 32;
      }
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        if (w & HIGH_BITS) break;
        i += 8;
      }
      while (i < n && p[i] < 0x80) i++;
      if (i == n) break;
    }
    size_t end = n - i > RUN ? i + RUN : n;
    uint64_t t = s;
    for (size_t j = i; j < end; j++) t = row[p[j]] >> (t & 63);
    if ((t & 63) == S_ERR) {
      t = s;
      for (size_t j = i;; j++) {
        t = row[p[j]] >> (t & 63);
        if ((t & 63) == S_ERR) {
          u->state = S_ERR ^ S_ACC;
          if (bad_offset) *bad_offset = j;
          return WSREF_E_UTF8;
        }
      }
    }
    s = t & 63;
    i = end;
  }
  u->state = (uint32_t)(s ^ S_ACC);
  return 0;
}

bool wsref_utf8_valid(const uint8_t *p, size_t n) {
  wsref_utf8 u;
  wsref_utf8_init(&u);
  return wsref_utf8_feed(&u, p, n, NULL) == 0 && wsref_utf8_complete(&u);
}
