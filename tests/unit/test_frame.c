/* Frame parser and header encoder (reference/codec/frame.h), RFC 6455 section 5. */
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
#include "codec/frame.h"
#include "codec/mask.h"
#include "support/split.h"

/* "81 85 37fa" -> bytes; spaces are ignored. Returns the byte count. */
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
  assert_int_equal(hi, -1);
  return n;
}

static wsref_frame_parser_options opts(enum wsref_role role) {
  wsref_frame_parser_options o;
  memset(&o, 0, sizeof o);
  o.role = role;
  return o;
}

/* ---- transcripts: a text record of the events, used for exact and split comparisons ---- */

typedef struct fctx {
  wsref_frame_parser_options opt;
  wsref_frame_parser p;
  wsref_buf payload; /* the current frame's payload, concatenated across PAYLOAD events */
  uint64_t next_off;
  int err; /* sticky error seen, 0 if none */
} fctx;

static void fctx_reset(void *c) {
  fctx *f = c;
  wsref_frame_parser_init(&f->p, &f->opt);
  wsref_buf_reset(&f->payload);
  f->next_off = 0;
  f->err = 0;
}

static void put_header(wsref_buf *t, const wsref_frame_header *h) {
  wsref_buf_appendf(t,
                    "H fin=%d rsv=%d%d%d op=%u masked=%d key=%02x%02x%02x%02x len=%llu hlen=%u\n",
                    h->fin, h->rsv1, h->rsv2, h->rsv3, h->opcode, h->masked, h->mask[0], h->mask[1],
                    h->mask[2], h->mask[3], (unsigned long long)h->length, h->header_len);
}

/* Feeds one piece, looping until the parser wants more. Records protocol breaches of the
 * parser contract as lines starting with "BUG" so a transcript comparison or a strstr finds
 * them. */
static void fctx_feed(void *c, uint8_t *piece, size_t len, wsref_buf *t) {
  fctx *f = c;
  wsref_frame_event ev;
  if (f->err) {
    ssize_t r = wsref_frame_parse(&f->p, piece, len, &ev);
    if (r != f->err) wsref_buf_appendf(t, "BUG not sticky: %zd\n", r);
    return;
  }
  size_t off = 0;
  for (int guard = 0; guard < 100000; guard++) {
    ssize_t r = wsref_frame_parse(&f->p, piece + off, len - off, &ev);
    if (r < 0) {
      wsref_buf_appendf(t, "ERR %s\n", wsref_err_name((int)r));
      f->err = (int)r;
      return;
    }
    if ((size_t)r > len - off) {
      wsref_buf_appendf(t, "BUG consumed %zd of %zu\n", r, len - off);
      return;
    }
    off += (size_t)r;
    switch (ev.type) {
      case WSREF_FRAME_EV_NONE:
        if (off != len) wsref_buf_appendf(t, "BUG NONE with %zu left\n", len - off);
        return;
      case WSREF_FRAME_EV_HEADER:
        if (r == 0 || ev.header != &f->p.hdr) wsref_buf_appendf(t, "BUG header event\n");
        put_header(t, ev.header);
        wsref_buf_reset(&f->payload);
        f->next_off = 0;
        break;
      case WSREF_FRAME_EV_PAYLOAD:
        if (ev.offset != f->next_off || ev.len != (size_t)r || ev.len == 0 ||
            ev.data != piece + off - (size_t)r || ev.header != &f->p.hdr)
          wsref_buf_appendf(t, "BUG payload event off=%llu len=%zu\n",
                            (unsigned long long)ev.offset, ev.len);
        wsref_buf_append(&f->payload, ev.data, ev.len);
        f->next_off += ev.len;
        break;
      case WSREF_FRAME_EV_END:
        if (r != 0 || f->next_off != ev.header->length)
          wsref_buf_appendf(t, "BUG end event r=%zd\n", r);
        if (wsref_buf_len(&f->payload)) {
          wsref_buf_appendf(t, "P ");
          const uint8_t *d = wsref_buf_head(&f->payload);
          for (size_t i = 0; i < wsref_buf_len(&f->payload); i++)
            wsref_buf_appendf(t, "%02x", d[i]);
          wsref_buf_appendf(t, "\n");
        }
        wsref_buf_appendf(t, "E\n");
        break;
    }
  }
  wsref_buf_appendf(t, "BUG no progress\n");
}

/* Parses data whole (on a private copy) and returns the transcript as a malloc'ed string. */
static char *transcript(const wsref_frame_parser_options *o, const uint8_t *data, size_t n) {
  fctx f;
  memset(&f, 0, sizeof f);
  f.opt = *o;
  split_target t = {fctx_reset, fctx_feed, NULL, &f};
  wsref_buf out = WSREF_BUF_INIT;
  assert_int_equal(split_run(&t, data, n, NULL, 0, &out), 0);
  char *s = strdup((const char *)wsref_buf_head(&out));
  wsref_buf_free(&out);
  wsref_buf_free(&f.payload);
  return s;
}

static void assert_transcript(const wsref_frame_parser_options *o, const char *hex,
                              const char *expect) {
  uint8_t *buf = malloc(strlen(hex) / 2 + 1);
  size_t n = unhex(hex, buf);
  char *got = transcript(o, buf, n);
  if (strcmp(got, expect) != 0) fprintf(stderr, "# expected:\n%s# got:\n%s", expect, got);
  assert_string_equal(got, expect);
  free(got);
  free(buf);
}

static size_t split_frames(const wsref_frame_parser_options *o, const uint8_t *data, size_t n,
                           const split_plan *plan) {
  fctx f;
  memset(&f, 0, sizeof f);
  f.opt = *o;
  split_target t = {fctx_reset, fctx_feed, NULL, &f};
  size_t bad = split_check(&t, data, n, plan);
  wsref_buf_free(&f.payload);
  return bad;
}

/* ---- RFC 6455 section 5.7 examples, parsed step by step ---- */

static void test_rfc_unmasked_hello(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t n = unhex("81 05 48 65 6c 6c 6f", buf);
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &o);
  wsref_frame_event ev;

  assert_int_equal(wsref_frame_parse(&p, buf, n, &ev), 2);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_true(ev.header->fin);
  assert_false(ev.header->rsv1 || ev.header->rsv2 || ev.header->rsv3);
  assert_int_equal(ev.header->opcode, WSREF_OP_TEXT);
  assert_false(ev.header->masked);
  assert_int_equal(ev.header->length, 5);
  assert_int_equal(ev.header->header_len, 2);

  assert_int_equal(wsref_frame_parse(&p, buf + 2, n - 2, &ev), 5);
  assert_int_equal(ev.type, WSREF_FRAME_EV_PAYLOAD);
  assert_ptr_equal(ev.data, buf + 2);
  assert_int_equal(ev.len, 5);
  assert_int_equal(ev.offset, 0);
  assert_memory_equal(ev.data, "Hello", 5);

  assert_int_equal(wsref_frame_parse(&p, buf + 7, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);
  assert_int_equal(ev.header->length, 5);

  assert_int_equal(wsref_frame_parse(&p, buf + 7, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_NONE);
}

static void test_rfc_masked_hello(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t n = unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58", buf);
  assert_int_equal(n, 11);
  wsref_frame_parser_options o = opts(WSREF_ROLE_SERVER);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &o);
  wsref_frame_event ev;

  assert_int_equal(wsref_frame_parse(&p, buf, n, &ev), 6);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_true(ev.header->fin);
  assert_int_equal(ev.header->opcode, WSREF_OP_TEXT);
  assert_true(ev.header->masked);
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  assert_memory_equal(ev.header->mask, key, 4);
  assert_int_equal(ev.header->length, 5);
  assert_int_equal(ev.header->header_len, 6);

  /* Payload arrives in two pieces, at key phases 0 and 2, unmasked in place. */
  assert_int_equal(wsref_frame_parse(&p, buf + 6, 2, &ev), 2);
  assert_int_equal(ev.type, WSREF_FRAME_EV_PAYLOAD);
  assert_int_equal(ev.offset, 0);
  assert_memory_equal(buf + 6, "He", 2);
  assert_int_equal(wsref_frame_parse(&p, buf + 8, 3, &ev), 3);
  assert_int_equal(ev.offset, 2);
  assert_memory_equal(ev.data, "llo", 3);
  assert_memory_equal(buf + 6, "Hello", 5);
  assert_int_equal(wsref_frame_parse(&p, buf + 11, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);
}

static void test_rfc_examples_transcripts(void **state) {
  (void)state;
  wsref_frame_parser_options cl = opts(WSREF_ROLE_CLIENT), sv = opts(WSREF_ROLE_SERVER);
  assert_transcript(&cl, "81 05 48 65 6c 6c 6f",
                    "H fin=1 rsv=000 op=1 masked=0 key=00000000 len=5 hlen=2\n"
                    "P 48656c6c6f\nE\n");
  assert_transcript(&sv, "81 85 37 fa 21 3d 7f 9f 4d 51 58",
                    "H fin=1 rsv=000 op=1 masked=1 key=37fa213d len=5 hlen=6\n"
                    "P 48656c6c6f\nE\n");
  /* A fragmented unmasked text message: "Hel" then "lo". */
  assert_transcript(&cl, "01 03 48 65 6c 80 02 6c 6f",
                    "H fin=0 rsv=000 op=1 masked=0 key=00000000 len=3 hlen=2\n"
                    "P 48656c\nE\n"
                    "H fin=1 rsv=000 op=0 masked=0 key=00000000 len=2 hlen=2\n"
                    "P 6c6f\nE\n");
  /* Unmasked ping, and a masked pong answering it. */
  assert_transcript(&cl, "89 05 48 65 6c 6c 6f",
                    "H fin=1 rsv=000 op=9 masked=0 key=00000000 len=5 hlen=2\n"
                    "P 48656c6c6f\nE\n");
  assert_transcript(&sv, "8a 85 37 fa 21 3d 7f 9f 4d 51 58",
                    "H fin=1 rsv=000 op=10 masked=1 key=37fa213d len=5 hlen=6\n"
                    "P 48656c6c6f\nE\n");
}

static void test_rfc_256_binary(void **state) {
  (void)state;
  uint8_t buf[4 + 256];
  unhex("82 7E 01 00", buf);
  for (int i = 0; i < 256; i++) buf[4 + i] = (uint8_t)i;
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &o);
  wsref_frame_event ev;
  assert_int_equal(wsref_frame_parse(&p, buf, sizeof buf, &ev), 4);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_int_equal(ev.header->opcode, WSREF_OP_BINARY);
  assert_int_equal(ev.header->length, 256);
  assert_int_equal(ev.header->header_len, 4);
  assert_int_equal(wsref_frame_parse(&p, buf + 4, 256, &ev), 256);
  assert_int_equal(ev.type, WSREF_FRAME_EV_PAYLOAD);
  for (int i = 0; i < 256; i++) assert_int_equal(ev.data[i], i);
  assert_int_equal(wsref_frame_parse(&p, buf + 260, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);

  uint8_t h[WSREF_FRAME_HEADER_MAX];
  wsref_frame_header hdr = {.fin = true, .opcode = WSREF_OP_BINARY, .length = 256};
  assert_int_equal(wsref_frame_header_encode(h, &hdr), 4);
  assert_memory_equal(h, buf, 4);
}

static void test_rfc_64k_binary(void **state) {
  (void)state;
  size_t n = 10 + 65536;
  uint8_t *buf = malloc(n);
  unhex("82 7F 00 00 00 00 00 01 00 00", buf);
  for (size_t i = 0; i < 65536; i++) buf[10 + i] = (uint8_t)(i * 7);
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &o);
  wsref_frame_event ev;
  /* Fed in uneven pieces: 3, then the rest of the header, then payload in two parts. */
  assert_int_equal(wsref_frame_parse(&p, buf, 3, &ev), 3);
  assert_int_equal(ev.type, WSREF_FRAME_EV_NONE);
  assert_int_equal(wsref_frame_parse(&p, buf + 3, 1000, &ev), 7);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_int_equal(ev.header->length, 65536);
  assert_int_equal(ev.header->header_len, 10);
  assert_int_equal(wsref_frame_parse(&p, buf + 10, 40000, &ev), 40000);
  assert_int_equal(ev.offset, 0);
  assert_int_equal(wsref_frame_parse(&p, buf + 40010, n - 40010, &ev), 25536);
  assert_int_equal(ev.offset, 40000);
  assert_int_equal(wsref_frame_parse(&p, buf + n, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);
  for (size_t i = 0; i < 65536; i++) assert_int_equal(buf[10 + i], (uint8_t)(i * 7));

  uint8_t h[WSREF_FRAME_HEADER_MAX];
  wsref_frame_header hdr = {.fin = true, .opcode = WSREF_OP_BINARY, .length = 65536};
  assert_int_equal(wsref_frame_header_encode(h, &hdr), 10);
  assert_memory_equal(h, buf, 10);

  /* The split invariance of a long payload, in small fixed chunks (byte by byte included). */
  split_plan plan = {.two_way = 0, .max_chunk = 3, .max3 = 0};
  assert_int_equal(split_frames(&o, buf, n, &plan), 0);
  free(buf);
}

/* ---- encoder ---- */

static void encode_expect(const wsref_frame_header *h, const char *hex) {
  uint8_t want[WSREF_FRAME_HEADER_MAX], got[WSREF_FRAME_HEADER_MAX + 2];
  size_t wn = unhex(hex, want);
  memset(got, 0xEE, sizeof got);
  size_t gn = wsref_frame_header_encode(got, h);
  assert_int_equal(gn, wn);
  assert_memory_equal(got, want, wn);
  assert_int_equal(got[gn], 0xEE); /* nothing written past the header */
}

static void test_encode_rfc_examples(void **state) {
  (void)state;
  wsref_frame_header h = {.fin = true, .opcode = WSREF_OP_TEXT, .length = 5};
  encode_expect(&h, "81 05");
  h.masked = true;
  memcpy(h.mask, "\x37\xfa\x21\x3d", 4);
  encode_expect(&h, "81 85 37 fa 21 3d");
  wsref_frame_header f1 = {.fin = false, .opcode = WSREF_OP_TEXT, .length = 3};
  wsref_frame_header f2 = {.fin = true, .opcode = WSREF_OP_CONT, .length = 2};
  encode_expect(&f1, "01 03");
  encode_expect(&f2, "80 02");
  wsref_frame_header ping = {.fin = true, .opcode = WSREF_OP_PING, .length = 5};
  encode_expect(&ping, "89 05");
  wsref_frame_header pong = {.fin = true, .opcode = WSREF_OP_PONG, .masked = true, .length = 5};
  memcpy(pong.mask, "\x37\xfa\x21\x3d", 4);
  encode_expect(&pong, "8a 85 37 fa 21 3d");

  /* The whole masked frame: header, then the payload masked with wsref_mask_copy. */
  uint8_t frame[16], want[16];
  size_t hn = wsref_frame_header_encode(frame, &h);
  wsref_mask_copy(frame + hn, (const uint8_t *)"Hello", 5, h.mask, 0);
  size_t wn = unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58", want);
  assert_int_equal(hn + 5, wn);
  assert_memory_equal(frame, want, wn);
  hn = wsref_frame_header_encode(frame, &pong);
  wsref_mask_copy(frame + hn, (const uint8_t *)"Hello", 5, pong.mask, 0);
  wn = unhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58", want);
  assert_memory_equal(frame, want, wn);
}

static void test_encode_lengths(void **state) {
  (void)state;
  wsref_frame_header h = {.fin = true, .opcode = WSREF_OP_BINARY};
  h.length = 0;
  encode_expect(&h, "82 00");
  h.length = 125;
  encode_expect(&h, "82 7d");
  h.length = 126;
  encode_expect(&h, "82 7e 00 7e");
  h.length = 65535;
  encode_expect(&h, "82 7e ff ff");
  h.length = 65536;
  encode_expect(&h, "82 7f 00 00 00 00 00 01 00 00");
  h.length = UINT64_C(0x0102030405060708);
  encode_expect(&h, "82 7f 01 02 03 04 05 06 07 08");
  h.length = UINT64_C(0x7fffffffffffffff);
  encode_expect(&h, "82 7f 7f ff ff ff ff ff ff ff");
  h.masked = true;
  memcpy(h.mask, "\x01\x02\x03\x04", 4);
  h.length = 126;
  encode_expect(&h, "82 fe 00 7e 01 02 03 04");
  h.length = 70000;
  encode_expect(&h, "82 ff 00 00 00 00 00 01 11 70 01 02 03 04");

  wsref_frame_header r = {.fin = false, .rsv1 = true, .opcode = WSREF_OP_TEXT, .length = 1};
  encode_expect(&r, "41 01");
  r.rsv1 = false;
  r.rsv2 = true;
  encode_expect(&r, "21 01");
  r.rsv2 = false;
  r.rsv3 = true;
  r.fin = true;
  encode_expect(&r, "91 01");
  r.opcode = 0x1F; /* only the low 4 bits are an opcode */
  encode_expect(&r, "9f 01");
}

/* Encoder output parses back to the same header (observer role, reserved opcodes allowed). */
static void test_encode_roundtrip(void **state) {
  (void)state;
  static const uint64_t lens[] = {
      0, 1, 125, 126, 127, 65535, 65536, UINT64_C(1) << 32, UINT64_C(0x7fffffffffffffff)};
  wsref_frame_parser_options o = opts(WSREF_ROLE_ANY);
  o.allow_reserved = true;
  for (unsigned op = 0; op < 16; op++)
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
      for (int m = 0; m < 2; m++)
        for (unsigned bits = 0; bits < 16; bits++) {
          if (wsref_opcode_is_control(op) && (lens[li] > 125 || !(bits & 8))) continue;
          wsref_frame_header h = {.fin = bits & 8,
                                  .rsv1 = bits & 4,
                                  .rsv2 = bits & 2,
                                  .rsv3 = bits & 1,
                                  .opcode = (uint8_t)op,
                                  .masked = m,
                                  .length = lens[li]};
          if (m) memcpy(h.mask, "\xa1\xb2\xc3\xd4", 4);
          uint8_t buf[WSREF_FRAME_HEADER_MAX];
          size_t n = wsref_frame_header_encode(buf, &h);
          wsref_frame_parser p;
          wsref_frame_parser_init(&p, &o);
          wsref_frame_event ev;
          assert_int_equal(wsref_frame_parse(&p, buf, n, &ev), (ssize_t)n);
          assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
          assert_int_equal(ev.header->fin, h.fin);
          assert_int_equal(ev.header->rsv1, h.rsv1);
          assert_int_equal(ev.header->rsv2, h.rsv2);
          assert_int_equal(ev.header->rsv3, h.rsv3);
          assert_int_equal(ev.header->opcode, op);
          assert_int_equal(ev.header->masked, h.masked);
          assert_memory_equal(ev.header->mask, h.mask, 4);
          assert_true(ev.header->length == h.length);
          assert_int_equal(ev.header->header_len, n);
        }
}

/* ---- zero-length frames, events, need-more ---- */

static void test_zero_length(void **state) {
  (void)state;
  wsref_frame_parser_options cl = opts(WSREF_ROLE_CLIENT), sv = opts(WSREF_ROLE_SERVER);
  assert_transcript(&cl, "81 00", "H fin=1 rsv=000 op=1 masked=0 key=00000000 len=0 hlen=2\nE\n");
  assert_transcript(&sv, "88 80 01 02 03 04",
                    "H fin=1 rsv=000 op=8 masked=1 key=01020304 len=0 hlen=6\nE\n");

  uint8_t buf[8];
  size_t n = unhex("89 00 8a 00", buf);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &cl);
  wsref_frame_event ev;
  assert_int_equal(wsref_frame_parse(&p, buf, n, &ev), 2);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_int_equal(ev.header->opcode, WSREF_OP_PING);
  /* END comes next, with no PAYLOAD between, even though bytes are available. */
  assert_int_equal(wsref_frame_parse(&p, buf + 2, n - 2, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);
  assert_int_equal(ev.header->opcode, WSREF_OP_PING);
  assert_int_equal(wsref_frame_parse(&p, buf + 2, n - 2, &ev), 2);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_int_equal(ev.header->opcode, WSREF_OP_PONG);
  assert_int_equal(wsref_frame_parse(&p, buf + 4, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);
}

static void test_need_more(void **state) {
  (void)state;
  wsref_frame_parser_options o = opts(WSREF_ROLE_SERVER);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &o);
  wsref_frame_event ev;
  uint8_t buf[16];
  size_t n = unhex("81 fe 00 80 01 02 03 04", buf);
  assert_int_equal(wsref_frame_parse(&p, buf, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_NONE);
  /* Partial headers are consumed whole and report NONE. */
  for (size_t i = 0; i + 1 < n; i++) {
    assert_int_equal(wsref_frame_parse(&p, buf + i, 1, &ev), 1);
    assert_int_equal(ev.type, WSREF_FRAME_EV_NONE);
  }
  assert_int_equal(wsref_frame_parse(&p, buf + n - 1, 1, &ev), 1);
  assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
  assert_int_equal(ev.header->length, 128);
  assert_int_equal(ev.header->header_len, 8);
  /* In the payload, an empty call is "need more" too. */
  assert_int_equal(wsref_frame_parse(&p, buf, 0, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_NONE);
}

/* The header pointer stays valid and unchanged from HEADER through END, and while the next
 * header is still incomplete. */
static void test_header_pointer_stable(void **state) {
  (void)state;
  uint8_t buf[32];
  size_t n = unhex("82 03 01 02 03 81 7e 00", buf);
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, &o);
  wsref_frame_event ev;
  assert_int_equal(wsref_frame_parse(&p, buf, n, &ev), 2);
  const wsref_frame_header *h = ev.header;
  assert_int_equal(wsref_frame_parse(&p, buf + 2, n - 2, &ev), 3);
  assert_ptr_equal(ev.header, h);
  assert_int_equal(wsref_frame_parse(&p, buf + 5, n - 5, &ev), 0);
  assert_int_equal(ev.type, WSREF_FRAME_EV_END);
  assert_ptr_equal(ev.header, h);
  assert_int_equal(wsref_frame_parse(&p, buf + 5, n - 5, &ev), 3);
  assert_int_equal(ev.type, WSREF_FRAME_EV_NONE);
  assert_int_equal(h->opcode, WSREF_OP_BINARY);
  assert_int_equal(h->length, 3);
}

/* ---- every error rule, with exact bytes ---- */

typedef struct err_case {
  const char *name;
  enum wsref_role role;
  uint64_t max_frame;
  bool allow_non_minimal;
  const char *hex;
  int err;
  size_t detect_at; /* the error is reported once this many octets are in, not before */
} err_case;

/* clang-format off */
static const err_case err_cases[] = {
    {"reserved opcode 3", WSREF_ROLE_SERVER, 0, false, "83 80 00 00 00 00",
     WSREF_E_FRAME_OPCODE, 2},
    {"reserved opcode 7", WSREF_ROLE_CLIENT, 0, false, "87 00", WSREF_E_FRAME_OPCODE, 2},
    {"reserved opcode 11", WSREF_ROLE_ANY, 0, false, "8b 00", WSREF_E_FRAME_OPCODE, 2},
    {"reserved opcode 15 unfragmented", WSREF_ROLE_ANY, 0, false, "0f 00", WSREF_E_FRAME_OPCODE, 2},
    {"control length 126", WSREF_ROLE_SERVER, 0, false, "89 fe 00 7e",
     WSREF_E_FRAME_CONTROL_LEN, 2},
    {"control length 127", WSREF_ROLE_CLIENT, 0, false, "88 7f 00 00 00 00 00 00 00 7e",
     WSREF_E_FRAME_CONTROL_LEN, 2},
    {"control length 126 code, minimal rules off", WSREF_ROLE_CLIENT, 0, true, "8a 7e 00 7e",
     WSREF_E_FRAME_CONTROL_LEN, 4},
    {"control length 64-bit, minimal rules off", WSREF_ROLE_CLIENT, 0, true,
     "89 7f 00 00 00 00 00 00 01 00", WSREF_E_FRAME_CONTROL_LEN, 10},
    {"fragmented close", WSREF_ROLE_SERVER, 0, false, "08 80 00 00 00 00",
     WSREF_E_FRAME_CONTROL_FRAG, 2},
    {"fragmented ping", WSREF_ROLE_CLIENT, 0, false, "09 00", WSREF_E_FRAME_CONTROL_FRAG, 2},
    {"fragmented pong", WSREF_ROLE_ANY, 0, false, "0a 00", WSREF_E_FRAME_CONTROL_FRAG, 2},
    {"unmasked to server", WSREF_ROLE_SERVER, 0, false, "81 05 48 65 6c 6c 6f",
     WSREF_E_FRAME_UNMASKED, 2},
    {"unmasked empty to server", WSREF_ROLE_SERVER, 0, false, "88 00", WSREF_E_FRAME_UNMASKED, 2},
    {"masked to client", WSREF_ROLE_CLIENT, 0, false, "81 85 37 fa 21 3d 7f 9f 4d 51 58",
     WSREF_E_FRAME_MASKED, 2},
    {"64-bit length MSB", WSREF_ROLE_CLIENT, 0, false, "82 7f 80 00 00 00 00 00 00 00",
     WSREF_E_FRAME_LEN64_MSB, 10},
    {"64-bit length all ones", WSREF_ROLE_SERVER, 0, false,
     "82 ff ff ff ff ff ff ff ff ff 01 02 03 04", WSREF_E_FRAME_LEN64_MSB, 10},
    {"64-bit length MSB, minimal rules off", WSREF_ROLE_CLIENT, 0, true,
     "82 7f 80 00 00 00 00 00 00 05", WSREF_E_FRAME_LEN64_MSB, 10},
    {"16-bit length 125", WSREF_ROLE_CLIENT, 0, false, "82 7e 00 7d", WSREF_E_FRAME_NON_MINIMAL, 4},
    {"16-bit length 0", WSREF_ROLE_CLIENT, 0, false, "81 7e 00 00", WSREF_E_FRAME_NON_MINIMAL, 4},
    {"16-bit length 5, masked", WSREF_ROLE_SERVER, 0, false, "82 fe 00 05 01 02 03 04",
     WSREF_E_FRAME_NON_MINIMAL, 4},
    {"64-bit length 65535", WSREF_ROLE_CLIENT, 0, false, "82 7f 00 00 00 00 00 00 ff ff",
     WSREF_E_FRAME_NON_MINIMAL, 10},
    {"64-bit length 0", WSREF_ROLE_CLIENT, 0, false, "80 7f 00 00 00 00 00 00 00 00",
     WSREF_E_FRAME_NON_MINIMAL, 10},
    {"too big, 7-bit", WSREF_ROLE_CLIENT, 4, false, "82 05 01 02 03 04 05",
     WSREF_E_FRAME_TOO_BIG, 2},
    {"too big, control", WSREF_ROLE_SERVER, 4, false, "89 85 01 02 03 04",
     WSREF_E_FRAME_TOO_BIG, 2},
    {"too big, 16-bit", WSREF_ROLE_CLIENT, 200, false, "82 7e 00 c9", WSREF_E_FRAME_TOO_BIG, 4},
    {"too big, 64-bit", WSREF_ROLE_SERVER, 70000, false,
     "82 ff 00 00 00 00 00 01 11 71 01 02 03 04", WSREF_E_FRAME_TOO_BIG, 10},
    /* Several violations at once: the documented order decides. */
    {"reserved opcode before unmasked", WSREF_ROLE_SERVER, 0, false, "83 05",
     WSREF_E_FRAME_OPCODE, 2},
    {"reserved opcode before masked", WSREF_ROLE_CLIENT, 0, false, "0c 85",
     WSREF_E_FRAME_OPCODE, 2},
    {"control FIN before control length", WSREF_ROLE_SERVER, 0, false, "09 fe",
     WSREF_E_FRAME_CONTROL_FRAG, 2},
    {"control length before unmasked", WSREF_ROLE_SERVER, 0, false, "89 7e",
     WSREF_E_FRAME_CONTROL_LEN, 2},
    {"unmasked before too big", WSREF_ROLE_SERVER, 1, false, "82 05", WSREF_E_FRAME_UNMASKED, 2},
    {"MSB before too big", WSREF_ROLE_CLIENT, 10, false, "82 7f 80 00 00 00 00 00 00 00",
     WSREF_E_FRAME_LEN64_MSB, 10},
    {"non-minimal before too big", WSREF_ROLE_CLIENT, 10, false, "82 7e 00 7d",
     WSREF_E_FRAME_NON_MINIMAL, 4},
    /* An error in the second frame, after a good one. */
    {"second frame unmasked", WSREF_ROLE_SERVER, 0, false, "82 81 01 02 03 04 ff 82 00",
     WSREF_E_FRAME_UNMASKED, 9},
};
/* clang-format on */

static void parser_for(const err_case *c, wsref_frame_parser *p) {
  wsref_frame_parser_options o = opts(c->role);
  o.max_frame = c->max_frame;
  o.allow_non_minimal = c->allow_non_minimal;
  wsref_frame_parser_init(p, &o);
}

/* Feeds data[0..n) in one go, following events; returns the first negative result or 0. */
static int feed_all(wsref_frame_parser *p, uint8_t *data, size_t n) {
  size_t off = 0;
  for (int guard = 0; guard < 1000; guard++) {
    wsref_frame_event ev;
    ssize_t r = wsref_frame_parse(p, data + off, n - off, &ev);
    if (r < 0) return (int)r;
    off += (size_t)r;
    if (ev.type == WSREF_FRAME_EV_NONE) return 0;
  }
  fail_msg("no progress");
  return 0;
}

/* Names the failing case in the message (cmocka's asserts would not). */
#define CHECK(c, got, want)                                                                     \
  do {                                                                                          \
    long long g_ = (long long)(got), w_ = (long long)(want);                                    \
    if (g_ != w_) fail_msg("%s (%s): %s = %lld, want %lld", (c)->name, (c)->hex, #got, g_, w_); \
  } while (0)

static void test_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
    const err_case *c = &err_cases[i];
    uint8_t buf[64], copy[64];
    size_t n = unhex(c->hex, buf);
    wsref_frame_parser p;

    /* One octet short of the deciding one: no error yet. */
    parser_for(c, &p);
    memcpy(copy, buf, n);
    CHECK(c, feed_all(&p, copy, c->detect_at - 1), 0);
    /* The deciding octet alone triggers it. */
    CHECK(c, feed_all(&p, copy + c->detect_at - 1, 1), c->err);
    /* Sticky, whatever comes next. */
    wsref_frame_event ev;
    CHECK(c, wsref_frame_parse(&p, copy, n, &ev), c->err);
    CHECK(c, wsref_frame_parse(&p, copy, 0, &ev), c->err);
    CHECK(c, p.error, c->err);

    /* Exactly detect_at octets in one call. */
    parser_for(c, &p);
    memcpy(copy, buf, n);
    CHECK(c, feed_all(&p, copy, c->detect_at), c->err);

    /* The whole input in one call, and every split of it. */
    parser_for(c, &p);
    memcpy(copy, buf, n);
    CHECK(c, feed_all(&p, copy, n), c->err);
    wsref_frame_parser_options o = p.opt;
    CHECK(c, split_frames(&o, buf, n, NULL), 0);
    char *t = transcript(&o, buf, n);
    char want[80];
    snprintf(want, sizeof want, "ERR %s\n", wsref_err_name(c->err));
    CHECK(c, strstr(t, want) != NULL, 1);
    CHECK(c, strstr(t, "BUG") == NULL, 1);
    free(t);
  }
}

/* Every reserved opcode fails by default and is reported under allow_reserved. */
static void test_reserved_opcodes(void **state) {
  (void)state;
  for (unsigned op = 0; op < 16; op++) {
    uint8_t buf[2] = {(uint8_t)(0x80 | op), 0x00};
    wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
    wsref_frame_parser p;
    wsref_frame_parser_init(&p, &o);
    wsref_frame_event ev;
    ssize_t r = wsref_frame_parse(&p, buf, 2, &ev);
    bool defined = op <= 2 || (op >= 8 && op <= 10);
    assert_int_equal(wsref_opcode_is_defined(op), defined);
    assert_int_equal(r, defined ? 2 : WSREF_E_FRAME_OPCODE);
    o.allow_reserved = true;
    wsref_frame_parser_init(&p, &o);
    assert_int_equal(wsref_frame_parse(&p, buf, 2, &ev), 2);
    assert_int_equal(ev.type, WSREF_FRAME_EV_HEADER);
    assert_int_equal(ev.header->opcode, op);
  }
  /* Under allow_reserved, 0xB-0xF still follow the control rules (by opcode bit 3). */
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  o.allow_reserved = true;
  wsref_frame_parser p;
  wsref_frame_event ev;
  uint8_t frag[2] = {0x0b, 0x00}, big[4] = {0x8c, 0x7e, 0x00, 0x80}, data3[2] = {0x03, 0x00};
  wsref_frame_parser_init(&p, &o);
  assert_int_equal(wsref_frame_parse(&p, frag, 2, &ev), WSREF_E_FRAME_CONTROL_FRAG);
  wsref_frame_parser_init(&p, &o);
  assert_int_equal(wsref_frame_parse(&p, big, 4, &ev), WSREF_E_FRAME_CONTROL_LEN);
  wsref_frame_parser_init(&p, &o);
  assert_int_equal(wsref_frame_parse(&p, data3, 2, &ev), 2);
  assert_int_equal(ev.header->opcode, 3);
  assert_false(ev.header->fin);
}

static void test_opcode_names(void **state) {
  (void)state;
  static const char *const want[16] = {"continuation", "text",        "binary",      "reserved-3",
                                       "reserved-4",   "reserved-5",  "reserved-6",  "reserved-7",
                                       "close",        "ping",        "pong",        "reserved-11",
                                       "reserved-12",  "reserved-13", "reserved-14", "reserved-15"};
  for (unsigned op = 0; op < 16; op++) {
    assert_string_equal(wsref_opcode_name(op), want[op]);
    assert_int_equal(wsref_opcode_is_control(op), op >= 8);
  }
  assert_non_null(wsref_opcode_name(16));
}

static void test_allow_non_minimal(void **state) {
  (void)state;
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  o.allow_non_minimal = true;
  assert_transcript(&o, "82 7e 00 02 aa bb",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=2 hlen=4\nP aabb\nE\n");
  assert_transcript(&o, "82 7f 00 00 00 00 00 00 00 01 cc",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=1 hlen=10\nP cc\nE\n");
  /* A control frame with a non-minimal length is fine while its payload is <= 125. */
  assert_transcript(&o, "89 7e 00 7d",
                    "H fin=1 rsv=000 op=9 masked=0 key=00000000 len=125 hlen=4\n");
  assert_transcript(&o, "8a 7f 00 00 00 00 00 00 00 00",
                    "H fin=1 rsv=000 op=10 masked=0 key=00000000 len=0 hlen=10\nE\n");
  /* The smallest minimal lengths of each form pass in strict mode too. */
  wsref_frame_parser_options s = opts(WSREF_ROLE_CLIENT);
  assert_transcript(&s, "82 7e 00 7e",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=126 hlen=4\n");
  assert_transcript(&s, "82 7f 00 00 00 00 00 01 00 00",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=65536 hlen=10\n");
  assert_transcript(&s, "89 7d", "H fin=1 rsv=000 op=9 masked=0 key=00000000 len=125 hlen=2\n");
}

static void test_role_any(void **state) {
  (void)state;
  wsref_frame_parser_options o = opts(WSREF_ROLE_ANY);
  assert_transcript(&o, "81 05 48 65 6c 6c 6f 81 85 37 fa 21 3d 7f 9f 4d 51 58",
                    "H fin=1 rsv=000 op=1 masked=0 key=00000000 len=5 hlen=2\nP 48656c6c6f\nE\n"
                    "H fin=1 rsv=000 op=1 masked=1 key=37fa213d len=5 hlen=6\nP 48656c6c6f\nE\n");
  /* RSV bits are reported, not judged: that is the session's job. */
  assert_transcript(&o, "f1 01 41",
                    "H fin=1 rsv=111 op=1 masked=0 key=00000000 len=1 hlen=2\nP 41\nE\n");
}

static void test_max_frame(void **state) {
  (void)state;
  wsref_frame_parser_options o = opts(WSREF_ROLE_CLIENT);
  o.max_frame = 5;
  assert_transcript(&o, "81 05 48 65 6c 6c 6f",
                    "H fin=1 rsv=000 op=1 masked=0 key=00000000 len=5 hlen=2\nP 48656c6c6f\nE\n");
  o.max_frame = 126;
  assert_transcript(&o, "82 7e 00 7e",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=126 hlen=4\n");
  assert_transcript(&o, "82 7e 00 7f", "ERR WSREF_E_FRAME_TOO_BIG\n");
  o.max_frame = 65536;
  assert_transcript(&o, "82 7f 00 00 00 00 00 01 00 00",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=65536 hlen=10\n");
  assert_transcript(&o, "82 7f 00 00 00 00 00 01 00 01", "ERR WSREF_E_FRAME_TOO_BIG\n");
  o.max_frame = 0; /* no limit */
  assert_transcript(&o, "82 7f 7f ff ff ff ff ff ff ff",
                    "H fin=1 rsv=000 op=2 masked=0 key=00000000 len=9223372036854775807 hlen=10\n");
}

static void test_default_options(void **state) {
  (void)state;
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, NULL);
  assert_int_equal(p.opt.role, WSREF_ROLE_SERVER);
  assert_int_equal(p.opt.max_frame, 0);
  assert_false(p.opt.allow_non_minimal);
  assert_false(p.opt.allow_reserved);
  uint8_t buf[2] = {0x81, 0x00};
  wsref_frame_event ev;
  assert_int_equal(wsref_frame_parse(&p, buf, 2, &ev), WSREF_E_FRAME_UNMASKED);
}

/* ---- split invariance over streams of several frames ---- */

static size_t append_frame(uint8_t *out, bool fin, unsigned op, bool masked, const char *key,
                           const uint8_t *payload, size_t len) {
  wsref_frame_header h = {.fin = fin, .opcode = (uint8_t)op, .masked = masked, .length = len};
  if (masked) memcpy(h.mask, key, 4);
  size_t n = wsref_frame_header_encode(out, &h);
  if (masked)
    wsref_mask_copy(out + n, payload, len, h.mask, 0);
  else if (len)
    memcpy(out + n, payload, len);
  return n + len;
}

static void test_split_stream(void **state) {
  (void)state;
  uint8_t pay[300];
  for (size_t i = 0; i < sizeof pay; i++) pay[i] = (uint8_t)(i * 31 + 7);
  uint8_t stream[1024];
  size_t n = 0;
  n += unhex("81 05 48 65 6c 6c 6f", stream + n);
  n += unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58", stream + n);
  n += unhex("01 03 48 65 6c 80 02 6c 6f", stream + n);
  n += unhex("89 05 48 65 6c 6c 6f", stream + n);
  n += unhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58", stream + n);
  n += append_frame(stream + n, true, WSREF_OP_BINARY, false, NULL, pay, 0);
  n += append_frame(stream + n, true, WSREF_OP_CLOSE, true, "\x01\x02\x03\x04", pay, 0);
  n += append_frame(stream + n, true, WSREF_OP_BINARY, true, "\xde\xad\xbe\xef", pay, 300);
  n += append_frame(stream + n, false, WSREF_OP_TEXT, false, NULL, pay, 126);
  n += append_frame(stream + n, true, WSREF_OP_PING, true, "\x80\x81\x82\x83", pay, 125);
  n += append_frame(stream + n, true, WSREF_OP_CONT, true, "\x11\x22\x33\x44", pay + 5, 13);
  wsref_frame_parser_options o = opts(WSREF_ROLE_ANY);
  char *t = transcript(&o, stream, n);
  assert_null(strstr(t, "BUG"));
  assert_null(strstr(t, "ERR"));
  /* 12 frames, 12 ends, the masked payloads come out clear. */
  size_t frames = 0;
  for (const char *s = t; (s = strstr(s, "\nE\n")); s++) frames++;
  assert_int_equal(frames, 12);
  assert_non_null(strstr(t, "P 48656c\nE\nH fin=1 rsv=000 op=0"));
  free(t);
  split_plan plan = {.two_way = 1, .max_chunk = 17, .max3 = 0};
  assert_int_equal(split_frames(&o, stream, n, &plan), 0);

  /* Same stream ending in a bad frame: the error, too, is split-invariant. */
  n += unhex("82 7e 00 05 01 02 03 04 05", stream + n);
  t = transcript(&o, stream, n);
  assert_non_null(strstr(t, "E\nERR WSREF_E_FRAME_NON_MINIMAL\n"));
  free(t);
  assert_int_equal(split_frames(&o, stream, n, &plan), 0);
}

/* A short stream cut in every pair of places. */
static void test_split_three_way(void **state) {
  (void)state;
  uint8_t stream[64];
  size_t n = unhex(
      "81 85 37 fa 21 3d 7f 9f 4d 51 58 82 80 01 02 03 04 89 83 aa bb cc dd 01 02 03 "
      "80 fe 00 7d",
      stream);
  wsref_frame_parser_options o = opts(WSREF_ROLE_SERVER);
  char *t = transcript(&o, stream, n);
  assert_string_equal(t,
                      "H fin=1 rsv=000 op=1 masked=1 key=37fa213d len=5 hlen=6\nP 48656c6c6f\nE\n"
                      "H fin=1 rsv=000 op=2 masked=1 key=01020304 len=0 hlen=6\nE\n"
                      "H fin=1 rsv=000 op=9 masked=1 key=aabbccdd len=3 hlen=6\nP abb9cf\nE\n"
                      "ERR WSREF_E_FRAME_NON_MINIMAL\n");
  free(t);
  assert_int_equal(split_frames(&o, stream, n, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_unmasked_hello),
      cmocka_unit_test(test_rfc_masked_hello),
      cmocka_unit_test(test_rfc_examples_transcripts),
      cmocka_unit_test(test_rfc_256_binary),
      cmocka_unit_test(test_rfc_64k_binary),
      cmocka_unit_test(test_encode_rfc_examples),
      cmocka_unit_test(test_encode_lengths),
      cmocka_unit_test(test_encode_roundtrip),
      cmocka_unit_test(test_zero_length),
      cmocka_unit_test(test_need_more),
      cmocka_unit_test(test_header_pointer_stable),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_reserved_opcodes),
      cmocka_unit_test(test_opcode_names),
      cmocka_unit_test(test_allow_non_minimal),
      cmocka_unit_test(test_role_any),
      cmocka_unit_test(test_max_frame),
      cmocka_unit_test(test_default_options),
      cmocka_unit_test(test_split_stream),
      cmocka_unit_test(test_split_three_way),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
