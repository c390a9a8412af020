/* Frame parser (reference/codec/frame.h): split invariance and a slow unmasking oracle.
 *
 * Input: [options][chunk plan][frame stream]
 *   options bits 0-1 role (0 server, 1 client, 2-3 any), bit 2 allow_non_minimal,
 *   bit 3 allow_reserved, bits 4-5 max_frame (0, 125, 1000, 65536).
 *
 * The stream is parsed twice: as one buffer, and in pieces whose sizes come from the chunk
 * plan (each piece a private heap copy of exactly its size). Both runs write a transcript
 * (every header's fields, each frame's concatenated unmasked payload at END, the error code,
 * and the parser's resting state); the transcripts must be equal. Along the way every event
 * is checked against the parser contract, every header against the option rules and, in the
 * strict mode, against a re-encoding of itself, and every payload piece against the input
 * unmasked by hand.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "codec/frame.h"
#include "support/common.h"

typedef struct run {
  const wsref_frame_parser_options *opt;
  const uint8_t *orig; /* the input, never modified */
  size_t n;
  wsref_buf tr;      /* transcript */
  wsref_buf payload; /* payload of the current frame so far */
  uint64_t frame_len;
  bool in_frame;
} run;

static void check_header(run *r, const wsref_frame_header *h, const uint8_t *hbytes,
                         size_t hbytes_len) {
  const wsref_frame_parser_options *o = r->opt;
  FUZZ_CHECK(h->opcode <= 15);
  const char *name = wsref_opcode_name(h->opcode);
  FUZZ_CHECK(name && (strncmp(name, "reserved-", 9) == 0) == !wsref_opcode_is_defined(h->opcode));
  if (!o->allow_reserved) FUZZ_CHECK(wsref_opcode_is_defined(h->opcode));
  if (wsref_opcode_is_control(h->opcode)) {
    FUZZ_CHECK(h->fin);
    FUZZ_CHECK(h->length <= WSREF_CONTROL_MAX);
  }
  if (o->role == WSREF_ROLE_SERVER) FUZZ_CHECK(h->masked);
  if (o->role == WSREF_ROLE_CLIENT) FUZZ_CHECK(!h->masked);
  if (o->max_frame) FUZZ_CHECK(h->length <= o->max_frame);
  FUZZ_CHECK(!(h->length >> 63));
  if (!h->masked) FUZZ_CHECK(!h->mask[0] && !h->mask[1] && !h->mask[2] && !h->mask[3]);

  fuzz_frame f;
  /* Decode the header bytes independently (the payload need not be there). */
  uint8_t tmp[WSREF_FRAME_HEADER_MAX];
  FUZZ_CHECK(hbytes_len >= 2 && hbytes_len <= WSREF_FRAME_HEADER_MAX);
  memcpy(tmp, hbytes, hbytes_len);
  (void)fuzz_frame_decode(tmp, hbytes_len, &f);
  FUZZ_CHECK(f.hlen == h->header_len && f.hlen == hbytes_len);
  FUZZ_CHECK(f.fin == h->fin && f.opcode == h->opcode && f.masked == h->masked);
  FUZZ_CHECK(f.rsv == ((h->rsv1 ? 4u : 0u) | (h->rsv2 ? 2u : 0u) | (h->rsv3 ? 1u : 0u)));
  FUZZ_CHECK(f.len == h->length);
  FUZZ_CHECK(memcmp(f.key, h->mask, 4) == 0);
  if (!o->allow_non_minimal) FUZZ_CHECK(f.minimal);

  /* Round trip: a minimal header re-encodes to the very same octets. */
  if (f.minimal) {
    uint8_t enc[WSREF_FRAME_HEADER_MAX];
    size_t el = wsref_frame_header_encode(enc, h);
    FUZZ_CHECK(el == hbytes_len && memcmp(enc, hbytes, el) == 0);
  }
}

/* Parses r->orig in pieces (plan == NULL: one piece) and writes the transcript. */
static void parse_all(run *r, fuzz_chunks *plan) {
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, r->opt);
  size_t gpos = 0; /* position of the current piece in the input */
  uint8_t hbytes[WSREF_FRAME_HEADER_MAX];
  size_t hlen = 0; /* header octets seen since the last HEADER event */
  int err = 0;
  do {
    size_t len = plan ? fuzz_chunks_next(plan, r->n - gpos) : r->n - gpos;
    uint8_t *piece = fuzz_dup(r->orig + gpos, len);
    size_t off = 0;
    for (unsigned guard = 0;; guard++) {
      FUZZ_CHECK(guard < 4 * len + 8); /* every event consumes input or is an END */
      wsref_frame_event ev;
      ssize_t rc = wsref_frame_parse(&p, piece + off, len - off, &ev);
      if (rc < 0) {
        err = (int)rc;
        /* Sticky: once failed, every call returns the same code. */
        FUZZ_CHECK(wsref_frame_parse(&p, piece + off, len - off, &ev) == rc);
        break;
      }
      FUZZ_CHECK((size_t)rc <= len - off);
      size_t before = off;
      off += (size_t)rc;
      if (ev.type == WSREF_FRAME_EV_NONE) {
        FUZZ_CHECK(off == len); /* NONE only means "need more" */
        if (!r->in_frame) {
          /* Octets taken without an event are the start of the next header. */
          FUZZ_CHECK(hlen + (size_t)rc < WSREF_FRAME_HEADER_MAX);
          memcpy(hbytes + hlen, piece + before, (size_t)rc);
          hlen += (size_t)rc;
        } else {
          FUZZ_CHECK(rc == 0);
        }
        break;
      }
      FUZZ_CHECK(ev.header != NULL);
      switch (ev.type) {
        case WSREF_FRAME_EV_HEADER: {
          FUZZ_CHECK(!r->in_frame);
          FUZZ_CHECK(rc > 0);
          FUZZ_CHECK(hlen + (size_t)rc <= WSREF_FRAME_HEADER_MAX);
          memcpy(hbytes + hlen, piece + before, (size_t)rc);
          hlen += (size_t)rc;
          const wsref_frame_header *h = ev.header;
          check_header(r, h, hbytes, hlen);
          hlen = 0;
          uint8_t rec[8] = {'H',       h->fin,    (uint8_t)(h->rsv1 | h->rsv2 << 1 | h->rsv3 << 2),
                            h->opcode, h->masked, h->header_len,
                            0,         0};
          fuzz_put(&r->tr, rec, sizeof rec);
          fuzz_put(&r->tr, h->mask, 4);
          fuzz_put_u64(&r->tr, h->length);
          r->in_frame = true;
          r->frame_len = h->length;
          wsref_buf_reset(&r->payload);
          break;
        }
        case WSREF_FRAME_EV_PAYLOAD: {
          FUZZ_CHECK(r->in_frame);
          FUZZ_CHECK(ev.len > 0 && (size_t)rc == ev.len);
          FUZZ_CHECK(ev.data == piece + before);
          FUZZ_CHECK(ev.offset == wsref_buf_len(&r->payload));
          FUZZ_CHECK(ev.offset + ev.len <= r->frame_len);
          const wsref_frame_header *h = ev.header;
          /* Unmask by hand from the untouched input. */
          const uint8_t *src = r->orig + gpos + before;
          for (size_t i = 0; i < ev.len; i++) {
            uint8_t k = h->masked ? h->mask[(ev.offset + i) & 3] : 0;
            FUZZ_CHECK(ev.data[i] == (uint8_t)(src[i] ^ k));
          }
          fuzz_put(&r->payload, ev.data, ev.len);
          break;
        }
        case WSREF_FRAME_EV_END: {
          FUZZ_CHECK(r->in_frame);
          FUZZ_CHECK(rc == 0);
          FUZZ_CHECK(wsref_buf_len(&r->payload) == r->frame_len);
          fuzz_put(&r->tr, "E", 1);
          fuzz_put_u64(&r->tr, r->frame_len);
          if (r->frame_len) fuzz_put(&r->tr, wsref_buf_head(&r->payload), wsref_buf_len(&r->payload));
          r->in_frame = false;
          break;
        }
        default:
          FUZZ_CHECK(!"unknown event type");
      }
    }
    free(piece);
    gpos += len;
    if (err) break;
  } while (gpos < r->n);

  if (err) {
    fuzz_put(&r->tr, "X", 1);
    fuzz_put_u64(&r->tr, (uint64_t)(int64_t)err);
    FUZZ_CHECK(err <= -200 && err < 0);
    if (!r->opt->max_frame) FUZZ_CHECK(err != WSREF_E_FRAME_TOO_BIG);
    return;
  }
  /* Resting state: what is buffered of an incomplete header, or how far the payload got. */
  fuzz_put(&r->tr, "R", 1);
  fuzz_put_u64(&r->tr, (uint64_t)p.state);
  fuzz_put_u64(&r->tr, p.hhave);
  fuzz_put(&r->tr, p.hbuf, p.hhave);
  fuzz_put_u64(&r->tr, p.done);
  if (r->in_frame && r->payload.end > r->payload.start)
    fuzz_put(&r->tr, wsref_buf_head(&r->payload), wsref_buf_len(&r->payload));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t max_frames[4] = {0, 125, 1000, 65536};
  fuzz_in in = {data, size, 0};
  uint8_t o = fuzz_u8(&in);
  wsref_frame_parser_options opt;
  memset(&opt, 0, sizeof opt);
  opt.role = (o & 3) == 0 ? WSREF_ROLE_SERVER : (o & 3) == 1 ? WSREF_ROLE_CLIENT : WSREF_ROLE_ANY;
  opt.allow_non_minimal = (o & 4) != 0;
  opt.allow_reserved = (o & 8) != 0;
  opt.max_frame = max_frames[(o >> 4) & 3];
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);

  run whole = {&opt, fuzz_rest(&in), fuzz_left(&in), WSREF_BUF_INIT, WSREF_BUF_INIT, 0, false};
  run split = whole;
  parse_all(&whole, NULL);
  parse_all(&split, &plan);
  FUZZ_CHECK(wsref_buf_len(&whole.tr) == wsref_buf_len(&split.tr));
  FUZZ_CHECK(memcmp(fuzz_buf_head(&whole.tr), fuzz_buf_head(&split.tr), wsref_buf_len(&whole.tr)) ==
             0);
  wsref_buf_free(&whole.tr);
  wsref_buf_free(&whole.payload);
  wsref_buf_free(&split.tr);
  wsref_buf_free(&split.payload);
  return 0;
}
