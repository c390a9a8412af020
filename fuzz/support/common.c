#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FUZZ_COVERAGE_BUILD
static unsigned long g_failures; /* a test binary's own counter, not library state */
#endif

void fuzz_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "\nFUZZ INVARIANT FAILED %s:%d: %s\n", file, line, what);
  fflush(stderr);
#ifdef FUZZ_COVERAGE_BUILD
  g_failures++;
#else
  __builtin_trap();
#endif
}

unsigned long fuzz_failures(void) {
#ifdef FUZZ_COVERAGE_BUILD
  return g_failures;
#else
  return 0;
#endif
}

uint8_t *fuzz_dup(const void *src, size_t n) {
  /* malloc(0) may return NULL; callers pass the pointer on even for empty pieces. */
  uint8_t *p = malloc(n ? n : 1);
  if (!p) abort();
  if (n) memcpy(p, src, n);
  return p;
}

void fuzz_put(wsref_buf *b, const void *p, size_t n) {
  if (n && wsref_buf_append(b, p, n) < 0) abort();
}

void fuzz_put_u64(wsref_buf *b, uint64_t v) {
  fuzz_put(b, &v, sizeof v);
}

void fuzz_put_str(wsref_buf *b, const char *s) {
  size_t n = s ? strlen(s) + 1 : 0;
  fuzz_put_u64(b, n);
  if (s) fuzz_put(b, s, n);
}

bool fuzz_same(const wsref_buf *a, const wsref_buf *b) {
  return wsref_buf_len(a) == wsref_buf_len(b) &&
         memcmp(fuzz_buf_head(a), fuzz_buf_head(b), wsref_buf_len(a)) == 0;
}

/* ---- chunk plans ---- */

void fuzz_chunks_read(fuzz_chunks *c, fuzz_in *in) {
  memset(c, 0, sizeof *c);
  c->nspec = fuzz_u8(in) % 9;
  for (size_t i = 0; i < c->nspec; i++) {
    c->spec[i] = fuzz_u8(in);
    if (c->spec[i]) c->progress = true;
  }
}

void fuzz_chunks_rewind(fuzz_chunks *c) {
  c->i = 0;
}

size_t fuzz_chunks_next(fuzz_chunks *c, size_t left) {
  if (!c->progress) return left;
  uint8_t v = c->spec[c->i++ % c->nspec];
  size_t sz = v < 0xC0 ? v : (size_t)(v - 0xBF) * 64;
  return sz < left ? sz : left;
}

/* ---- UTF-8 ---- */

/* Is there a code point in [lo, hi] that a `len`-octet sequence may encode? */
static bool utf8_feasible(uint32_t lo, uint32_t hi, int len) {
  static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
  uint32_t a = lo > min_for_len[len] ? lo : min_for_len[len];
  uint32_t b = hi < 0x10FFFF ? hi : 0x10FFFF;
  if (a > b) return false;
  if (a >= 0xD800 && b <= 0xDFFF) return false; /* only surrogates left */
  return true;
}

size_t fuzz_utf8_first_bad(const uint8_t *p, size_t n, bool *complete) {
  if (complete) *complete = true;
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    int len;
    uint32_t bits;
    if (b < 0x80) {
      i++;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, bits = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, bits = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, bits = b & 0x07;
    } else {
      return i; /* a continuation octet, or 11111xxx */
    }
    for (int k = 1;; k++) {
      /* k octets of the sequence seen; the remaining 6 * (len - k) bits are free. */
      int free_bits = 6 * (len - k);
      uint32_t lo = bits << free_bits, hi = lo | ((UINT32_C(1) << free_bits) - 1);
      if (!utf8_feasible(lo, hi, len)) return i + (size_t)k - 1;
      if (k == len) break;
      if (i + (size_t)k >= n) {
        if (complete) *complete = false;
        return n;
      }
      uint8_t c = p[i + (size_t)k];
      if ((c & 0xC0) != 0x80) return i + (size_t)k;
      bits = bits << 6 | (c & 0x3Fu);
    }
    i += (size_t)len;
  }
  return n;
}

bool fuzz_close_code_ok(unsigned code) {
  static const unsigned listed[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                    1009, 1010, 1011, 1012, 1013, 1014};
  for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
    if (code == listed[i]) return true;
  return code >= 3000 && code <= 4999;
}

/* ---- frames ---- */

size_t fuzz_frame_decode(const uint8_t *p, size_t n, fuzz_frame *f) {
  memset(f, 0, sizeof *f);
  if (n < 2) return 0;
  f->fin = p[0] >> 7;
  f->rsv = (p[0] >> 4) & 7;
  f->opcode = p[0] & 15;
  f->masked = p[1] >> 7;
  unsigned len7 = p[1] & 127;
  size_t h = 2;
  if (len7 < 126) {
    f->len = len7;
    f->minimal = true;
  } else if (len7 == 126) {
    if (n < 4) return 0;
    f->len = (uint64_t)p[2] << 8 | p[3];
    f->minimal = f->len >= 126;
    h = 4;
  } else {
    if (n < 10) return 0;
    f->len = 0;
    for (int i = 0; i < 8; i++) f->len = f->len << 8 | p[2 + i];
    f->minimal = f->len > 0xFFFF && !(f->len >> 63);
    h = 10;
  }
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(f->key, p + h, 4);
    h += 4;
  }
  f->hlen = h;
  if (f->len > n - h) return 0;
  return h + (size_t)f->len;
}

size_t fuzz_wire_check_frames(fuzz_wire_check *w, const uint8_t *p, size_t n) {
  size_t pos = 0;
  uint8_t pl[125];
  while (pos < n) {
    fuzz_frame f;
    size_t total = fuzz_frame_decode(p + pos, n - pos, &f);
    if (!total) break;
    /* RFC 6455 5.5.1: nothing after the close frame. */
    FUZZ_CHECK(!w->close_seen);
    FUZZ_CHECK(f.masked == w->sender_is_client); /* 5.1 */
    FUZZ_CHECK(f.minimal);                       /* 5.2 */
    FUZZ_CHECK(f.rsv == 0);                      /* no extension sets RSV on send */
    const uint8_t *data = p + pos + f.hlen;
    bool control = f.opcode >= 8;
    FUZZ_CHECK(f.opcode <= 2 || (f.opcode >= 8 && f.opcode <= 10));
    if (control) {
      FUZZ_CHECK(f.fin);
      FUZZ_CHECK(f.len <= 125);
      for (size_t i = 0; i < f.len; i++) pl[i] = data[i] ^ (f.masked ? f.key[i & 3] : 0);
      if (f.opcode == 8) {
        w->close_seen = true;
        FUZZ_CHECK(f.len != 1);
        if (f.len >= 2) {
          unsigned code = (unsigned)pl[0] << 8 | pl[1];
          FUZZ_CHECK(fuzz_close_code_ok(code));
          FUZZ_CHECK(fuzz_utf8_ok(pl + 2, (size_t)f.len - 2));
          w->close_code = code;
        }
      }
    } else {
      if (f.opcode == 0) {
        FUZZ_CHECK(w->in_msg); /* 5.4: continuation needs a started message */
      } else {
        FUZZ_CHECK(!w->in_msg); /* 5.4: no new message inside a fragmented one */
        w->in_msg = true;
        w->msg_op = f.opcode;
        wsref_buf_reset(&w->text);
      }
      if (w->msg_op == 1) {
        if (f.len) {
          uint8_t *dst = wsref_buf_reserve(&w->text, (size_t)f.len);
          if (!dst) abort();
          for (size_t i = 0; i < f.len; i++) dst[i] = data[i] ^ (f.masked ? f.key[i & 3] : 0);
          wsref_buf_commit(&w->text, (size_t)f.len);
        }
      }
      if (f.fin) {
        w->in_msg = false;
        if (w->msg_op == 1)
          FUZZ_CHECK(fuzz_utf8_ok(fuzz_buf_head(&w->text), wsref_buf_len(&w->text)));
        wsref_buf_reset(&w->text);
      }
    }
    w->frames++;
    pos += total;
  }
  return pos;
}

void fuzz_wire_check_free(fuzz_wire_check *w) {
  wsref_buf_free(&w->text);
}
