/* STOMP codec (reference/codec/stomp.h): split invariance and encode/decode
 * round trip.
 *
 * Input: [options][limits][chunk plan][stream].
 *   options: bits 0-1 version (0, 3: 1.2; 1: 1.0; 2: 1.1), bit 2 spring
 * profile, bit 3 a 32-octet max_buffer; limits:  bit 7 set: defaults; else
 * max_headers 1 + (b & 7), max_header_line 8 << ((b >> 3) & 3), max_body 16 <<
 * ((b >> 5) & 3). Oracles (trap on violation):
 *   - spec profile: the stream fed in the plan's pieces gives exactly the
 * frames and the error of one buffer (FR-13), except that
 * WSREF_E_STOMP_BUFFER_LIMIT, split-dependent by nature, may cut the chunked
 * run short (its frames are then a prefix);
 *   - errors are sticky and named STOMP (or NOMEM) errors;
 *   - headers are NUL-terminated, UTF-8 (1.1/1.2 and spring); bodies only on
 * SEND, MESSAGE, ERROR; within the limits; a spec-profile content-length equals
 * the body length;
 *   - every decoded frame encodes (same version and profile) and decodes back
 * to the same frame, give or take the content-length header the encoder adds
 * (or, spring, moves last), and that decoded frame encodes to the very same
 * octets.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/stomp.h"
#include "support/common.h"

typedef struct run {
  wsref_buf t; /* canonical transcript of the frames */
  wsref_stomp_decoder_options opt;
  size_t frames;
  bool roundtrip;
} run;

static void put_len(wsref_buf *t, const void *p, size_t n) {
  uint8_t len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (uint8_t)((uint64_t)n >> (8 * i));
  FUZZ_CHECK(wsref_buf_append(t, len, 8) == 0);
  if (n)
    FUZZ_CHECK(wsref_buf_append(t, p, n) == 0);
}

static void canon(wsref_buf *t, const wsref_stomp_frame *f,
                  const char *skip_cl) {
  uint8_t c = (uint8_t)f->command;
  FUZZ_CHECK(wsref_buf_append(t, &c, 1) == 0);
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (skip_cl && h->name_len == 14 && memcmp(h->name, skip_cl, 14) == 0)
      continue;
    put_len(t, h->name, h->name_len);
    put_len(t, h->value, h->value_len);
  }
  FUZZ_CHECK(wsref_buf_append(t, "|", 1) == 0);
  put_len(t, f->body, f->body_len);
}

typedef struct back {
  wsref_buf
      t; /* canonical form of the decoded frames, content-length left out */
  wsref_buf e2; /* their encoding */
  size_t n;
  enum wsref_stomp_version v;
  enum wsref_stomp_profile pr;
} back;

static int grab(const wsref_stomp_frame *f, void *ud) {
  back *b = ud;
  b->n++;
  canon(&b->t, f, "content-length");
  FUZZ_CHECK(wsref_stomp_encode(&b->e2, b->v, b->pr, f) == 0);
  return 0;
}

/* Encode f, decode it back: the same frame, content-length headers aside (the
 * encoder's rules decide those); and the decoded frame encodes to the very same
 * octets, since the content-length the encoder wrote is read back, right, and
 * kept where it is. */
static void roundtrip(const run *r, const wsref_stomp_frame *f) {
  wsref_buf e1 = WSREF_BUF_INIT, want = WSREF_BUF_INIT;
  FUZZ_CHECK(wsref_stomp_encode(&e1, r->opt.version, r->opt.profile, f) == 0);
  wsref_stomp_decoder_options o = r->opt;
  o.limits.max_headers = f->nheaders + 2;
  o.limits.max_header_line = 1 << 20;
  o.limits.max_body = 1 << 20;
  o.limits.max_buffer = 1 << 20;
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(&o);
  FUZZ_CHECK(d);
  back b = {WSREF_BUF_INIT, WSREF_BUF_INIT, 0, r->opt.version, r->opt.profile};
  FUZZ_CHECK(wsref_stomp_decode(d, fuzz_buf_head(&e1), wsref_buf_len(&e1), grab,
                                &b) == 0);
  FUZZ_CHECK(b.n == 1);
  wsref_stomp_decoder_free(d);
  canon(&want, f, "content-length");
  FUZZ_CHECK(wsref_buf_len(&want) == wsref_buf_len(&b.t));
  FUZZ_CHECK(memcmp(fuzz_buf_head(&want), fuzz_buf_head(&b.t),
                    wsref_buf_len(&want)) == 0);
  FUZZ_CHECK(wsref_buf_len(&e1) == wsref_buf_len(&b.e2));
  FUZZ_CHECK(memcmp(fuzz_buf_head(&e1), fuzz_buf_head(&b.e2),
                    wsref_buf_len(&e1)) == 0);
  wsref_buf_free(&e1);
  wsref_buf_free(&want);
  wsref_buf_free(&b.t);
  wsref_buf_free(&b.e2);
}

static int on_frame(const wsref_stomp_frame *f, void *ud) {
  run *r = ud;
  r->frames++;
  const wsref_stomp_limits *l = &r->opt.limits;
  FUZZ_CHECK((unsigned)f->command < WSREF_STOMP_COMMAND_COUNT);
  FUZZ_CHECK(f->nheaders <= (l->max_headers ? l->max_headers
                                            : WSREF_STOMP_MAX_HEADERS_DEFAULT));
  FUZZ_CHECK(f->body_len <=
             (l->max_body ? l->max_body : WSREF_STOMP_MAX_BODY_DEFAULT));
  if (f->body_len)
    FUZZ_CHECK(f->body && wsref_stomp_body_allowed(f->command));
  if (f->command == WSREF_STOMP_HEARTBEAT)
    FUZZ_CHECK(f->nheaders == 0 && f->body_len == 0);
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    FUZZ_CHECK(h->name && h->value && h->name_len > 0);
    FUZZ_CHECK(h->name[h->name_len] == 0 && h->value[h->value_len] == 0);
    if (r->opt.profile == WSREF_STOMP_PROFILE_SPRING ||
        r->opt.version != WSREF_STOMP_V10) {
      FUZZ_CHECK(fuzz_utf8_ok((const uint8_t *)h->name, h->name_len));
      FUZZ_CHECK(fuzz_utf8_ok((const uint8_t *)h->value, h->value_len));
    }
  }
  /* the first content-length, when it decided the body, matches it */
  const wsref_stomp_header *cl = wsref_stomp_frame_header(f, "content-length");
  if (cl && r->opt.profile == WSREF_STOMP_PROFILE_SPEC) {
    size_t v = 0;
    for (size_t i = 0; i < cl->value_len; i++)
      v = v * 10 + (size_t)(cl->value[i] - '0');
    FUZZ_CHECK(v == f->body_len);
  }
  canon(&r->t, f, NULL);
  if (r->roundtrip)
    roundtrip(r, f);
  return 0;
}

static bool stomp_err(int rc) {
  return (rc <= WSREF_E_STOMP_COMMAND && rc >= WSREF_E_STOMP_UTF8) ||
         rc == WSREF_E_NOMEM;
}

/* Decodes in the plan's pieces (plan NULL: one buffer). Returns the error (0 =
 * none). */
static int decode(run *r, const uint8_t *p, size_t n, fuzz_chunks *plan) {
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(&r->opt);
  FUZZ_CHECK(d);
  int err = 0;
  size_t pos = 0;
  do {
    size_t len = plan ? fuzz_chunks_next(plan, n - pos) : n - pos;
    uint8_t *piece = fuzz_dup(p + pos, len);
    int rc = wsref_stomp_decode(d, piece, len, on_frame, r);
    free(piece);
    pos += len;
    if (rc) {
      FUZZ_CHECK(stomp_err(rc));
      err = rc;
      break;
    }
  } while (pos < n);
  if (err) {
    FUZZ_CHECK(wsref_stomp_decode(d, (const uint8_t *)"\n", 1, on_frame, r) ==
               err);
  } else {
    size_t b = wsref_stomp_decoder_buffered(d);
    FUZZ_CHECK(b <= n);
  }
  wsref_stomp_decoder_free(d);
  return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size, 0};
  uint8_t ob = fuzz_u8(&in), lb = fuzz_u8(&in);
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);
  const uint8_t *p = fuzz_rest(&in);
  size_t n = fuzz_left(&in);

  wsref_stomp_decoder_options opt;
  memset(&opt, 0, sizeof opt);
  static const enum wsref_stomp_version vs[4] = {
      WSREF_STOMP_V12, WSREF_STOMP_V10, WSREF_STOMP_V11, WSREF_STOMP_V12};
  opt.version = vs[ob & 3];
  opt.profile =
      (ob & 4) ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC;
  if (!(lb & 0x80)) {
    opt.limits.max_headers = 1 + (lb & 7);
    opt.limits.max_header_line = (size_t)8 << ((lb >> 3) & 3);
    opt.limits.max_body = (size_t)16 << ((lb >> 5) & 3);
  }
  if (ob & 8)
    opt.limits.max_buffer = 32;

  run whole = {WSREF_BUF_INIT, opt, 0, true};
  int e1 = decode(&whole, p, n, NULL);
  run cut = {WSREF_BUF_INIT, opt, 0, false};
  int e2 = decode(&cut, p, n, &plan);

  if (opt.profile == WSREF_STOMP_PROFILE_SPEC) {
    size_t lw = wsref_buf_len(&whole.t), lc = wsref_buf_len(&cut.t);
    if (e2 == WSREF_E_STOMP_BUFFER_LIMIT || e1 == WSREF_E_STOMP_BUFFER_LIMIT) {
      size_t m = lw < lc ? lw : lc;
      FUZZ_CHECK(memcmp(fuzz_buf_head(&whole.t), fuzz_buf_head(&cut.t), m) ==
                 0);
    } else {
      FUZZ_CHECK(e1 == e2);
      FUZZ_CHECK(lw == lc);
      FUZZ_CHECK(memcmp(fuzz_buf_head(&whole.t), fuzz_buf_head(&cut.t), lw) ==
                 0);
    }
  }
  wsref_buf_free(&whole.t);
  wsref_buf_free(&cut.t);
  return 0;
}
