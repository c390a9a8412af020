#include "codec/frame.h"

#include <limits.h>
#include <string.h>

#include "base/error.h"
#include "codec/mask.h"

/* Design notes (the subtle choices, in one place):
 *
 * Events and returns. Each call reports at most one event. WSREF_FRAME_EV_NONE is returned
 * only when every input byte was consumed (return == len), so "NONE" always means "feed
 * more". END consumes nothing: after the last PAYLOAD piece, the next call (with any len,
 * even 0) reports END and returns 0. A zero-length frame gives HEADER then END.
 *
 * Header pointer. p->hdr is written only when a header is complete (just before HEADER);
 * the bytes of the next header are gathered in p->hbuf. So ev->header stays valid and
 * unchanged from HEADER through END and until the next HEADER event.
 *
 * Early detection. Checks run at the earliest byte that decides them and in a fixed order,
 * so every split of the input reports the same error code:
 *   after octet 2:  reserved opcode, then control FIN = 0, then control length code > 125,
 *                   then masking for the role, then (7-bit lengths) the frame size limit;
 *   after the extended length:  64-bit MSB, then non-minimal form, then (only under
 *                   allow_non_minimal) control length, then the frame size limit.
 *   The masking key is gathered only after all of these passed.
 * A control frame whose 7-bit length field is 126 or 127 fails with CONTROL_LEN right after
 * octet 2: in strict mode it is an error whatever the extended length says (either > 125 or
 * non-minimal), and the earliest decision wins. Under allow_non_minimal the extended length
 * may still encode <= 125, so the control length check waits for it.
 *
 * Reserved opcodes under allow_reserved. 0xB-0xF are "reserved for further control frames"
 * (RFC 6455 5.2), so the control rules (FIN, <= 125) apply to them by opcode bit 3, exactly as
 * wsref_opcode_is_control() says; 3-7 follow the data rules.
 *
 * Errors are sticky: once a call failed, every later call returns the same code and consumes
 * nothing.
 */

enum { ST_HEADER = 0, ST_PAYLOAD, ST_END, ST_ERROR };

static const wsref_frame_parser_options default_options = {
    .role = WSREF_ROLE_SERVER,
    .max_frame = 0,
    .allow_non_minimal = false,
    .allow_reserved = false,
};

void wsref_frame_parser_init(wsref_frame_parser *p, const wsref_frame_parser_options *opt) {
  memset(p, 0, sizeof *p);
  p->opt = opt ? *opt : default_options;
  p->state = ST_HEADER;
}

bool wsref_opcode_is_defined(unsigned opcode) {
  return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}

const char *wsref_opcode_name(unsigned opcode) {
  static const char *const names[16] = {
      "continuation", "text",        "binary",      "reserved-3",  "reserved-4", "reserved-5",
      "reserved-6",   "reserved-7",  "close",       "ping",        "pong",       "reserved-11",
      "reserved-12",  "reserved-13", "reserved-14", "reserved-15",
  };
  return opcode < 16 ? names[opcode] : "invalid";
}

static size_t ext_size(uint8_t b1) {
  unsigned l = b1 & 0x7F;
  return l == 126 ? 2 : l == 127 ? 8 : 0;
}

static size_t header_size(uint8_t b1) {
  return 2 + ext_size(b1) + ((b1 & 0x80) ? 4 : 0);
}

static int check_first2(const wsref_frame_parser_options *o, uint8_t b0, uint8_t b1) {
  unsigned op = b0 & 0x0F, len7 = b1 & 0x7F;
  if (!o->allow_reserved && !wsref_opcode_is_defined(op)) return WSREF_E_FRAME_OPCODE;
  if (wsref_opcode_is_control(op)) {
    if (!(b0 & 0x80)) return WSREF_E_FRAME_CONTROL_FRAG;
    if (len7 > WSREF_CONTROL_MAX && !o->allow_non_minimal) return WSREF_E_FRAME_CONTROL_LEN;
  }
  if (o->role == WSREF_ROLE_SERVER && !(b1 & 0x80)) return WSREF_E_FRAME_UNMASKED;
  if (o->role == WSREF_ROLE_CLIENT && (b1 & 0x80)) return WSREF_E_FRAME_MASKED;
  if (len7 <= WSREF_CONTROL_MAX && o->max_frame && len7 > o->max_frame)
    return WSREF_E_FRAME_TOO_BIG;
  return 0;
}

static uint64_t ext_length(const uint8_t *h) {
  size_t n = ext_size(h[1]);
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | h[2 + i];
  return v;
}

/* Checks that need the extended length (h holds at least 2 + ext_size octets). */
static int check_ext(const wsref_frame_parser_options *o, const uint8_t *h) {
  unsigned len7 = h[1] & 0x7F;
  uint64_t len = ext_length(h);
  if (len7 == 127 && (len >> 63)) return WSREF_E_FRAME_LEN64_MSB;
  if (!o->allow_non_minimal &&
      ((len7 == 126 && len <= WSREF_CONTROL_MAX) || (len7 == 127 && len <= 0xFFFF)))
    return WSREF_E_FRAME_NON_MINIMAL;
  if (wsref_opcode_is_control(h[0] & 0x0F) && len > WSREF_CONTROL_MAX)
    return WSREF_E_FRAME_CONTROL_LEN;
  if (o->max_frame && len > o->max_frame) return WSREF_E_FRAME_TOO_BIG;
  return 0;
}

static void decode(wsref_frame_header *hdr, const uint8_t *h) {
  size_t ext = ext_size(h[1]);
  hdr->fin = (h[0] & 0x80) != 0;
  hdr->rsv1 = (h[0] & 0x40) != 0;
  hdr->rsv2 = (h[0] & 0x20) != 0;
  hdr->rsv3 = (h[0] & 0x10) != 0;
  hdr->opcode = h[0] & 0x0F;
  hdr->masked = (h[1] & 0x80) != 0;
  hdr->length = ext ? ext_length(h) : (uint64_t)(h[1] & 0x7F);
  if (hdr->masked)
    memcpy(hdr->mask, h + 2 + ext, 4);
  else
    memset(hdr->mask, 0, 4);
  hdr->header_len = (uint8_t)header_size(h[1]);
}

static ssize_t fail(wsref_frame_parser *p, int err) {
  p->error = err;
  p->state = ST_ERROR;
  return err;
}

static void emit_header(wsref_frame_parser *p, const uint8_t *h, wsref_frame_event *ev) {
  decode(&p->hdr, h);
  p->hhave = 0;
  p->done = 0;
  p->state = p->hdr.length ? ST_PAYLOAD : ST_END;
  ev->type = WSREF_FRAME_EV_HEADER;
  ev->header = &p->hdr;
}

static ssize_t parse_header(wsref_frame_parser *p, uint8_t *buf, size_t len,
                            wsref_frame_event *ev) {
  /* Fast path: a whole header at the start of buf is decoded in place, no copy. */
  if (p->hhave == 0 && len >= 2 && len >= header_size(buf[1])) {
    int rc = check_first2(&p->opt, buf[0], buf[1]);
    if (!rc && ext_size(buf[1])) rc = check_ext(&p->opt, buf);
    if (rc) return fail(p, rc);
    emit_header(p, buf, ev);
    return p->hdr.header_len;
  }
  /* Slow path: gather into hbuf, stopping at each point where a check becomes decidable. */
  size_t used = 0;
  while (used < len) {
    size_t stop;
    if (p->hhave < 2) {
      stop = 2;
    } else {
      size_t ext_end = 2 + ext_size(p->hbuf[1]);
      stop = p->hhave < ext_end ? ext_end : header_size(p->hbuf[1]);
    }
    size_t take = stop - p->hhave;
    if (take > len - used) take = len - used;
    memcpy(p->hbuf + p->hhave, buf + used, take);
    p->hhave = (uint8_t)(p->hhave + take);
    used += take;
    if (p->hhave < stop) break;

    int rc = 0;
    if (stop == 2) rc = check_first2(&p->opt, p->hbuf[0], p->hbuf[1]);
    if (!rc && ext_size(p->hbuf[1]) && stop == 2 + ext_size(p->hbuf[1]))
      rc = check_ext(&p->opt, p->hbuf);
    if (rc) return fail(p, rc);
    if (p->hhave == header_size(p->hbuf[1])) {
      emit_header(p, p->hbuf, ev);
      return (ssize_t)used;
    }
  }
  return (ssize_t)used;
}

ssize_t wsref_frame_parse(wsref_frame_parser *p, uint8_t *buf, size_t len, wsref_frame_event *ev) {
  ev->type = WSREF_FRAME_EV_NONE;
  ev->header = NULL;
  ev->data = NULL;
  ev->len = 0;
  ev->offset = 0;
  /* The return type cannot express more; the caller simply calls again for the rest. */
  if (len > (size_t)SSIZE_MAX) len = (size_t)SSIZE_MAX;

  switch (p->state) {
    case ST_PAYLOAD: {
      ev->header = &p->hdr;
      uint64_t left = p->hdr.length - p->done;
      size_t n = (uint64_t)len < left ? len : (size_t)left;
      if (n == 0) return 0;
      if (p->hdr.masked) wsref_mask_apply(buf, n, p->hdr.mask, p->done);
      ev->type = WSREF_FRAME_EV_PAYLOAD;
      ev->data = buf;
      ev->len = n;
      ev->offset = p->done;
      p->done += n;
      if (p->done == p->hdr.length) p->state = ST_END;
      return (ssize_t)n;
    }
    case ST_END:
      ev->type = WSREF_FRAME_EV_END;
      ev->header = &p->hdr;
      p->state = ST_HEADER;
      return 0;
    case ST_ERROR:
      return p->error;
    default:
      return parse_header(p, buf, len, ev);
  }
}

size_t wsref_frame_header_encode(uint8_t out[WSREF_FRAME_HEADER_MAX], const wsref_frame_header *h) {
  out[0] = (uint8_t)((h->fin ? 0x80 : 0) | (h->rsv1 ? 0x40 : 0) | (h->rsv2 ? 0x20 : 0) |
                     (h->rsv3 ? 0x10 : 0) | (h->opcode & 0x0F));
  uint8_t m = h->masked ? 0x80 : 0;
  size_t n;
  if (h->length <= WSREF_CONTROL_MAX) {
    out[1] = (uint8_t)(m | h->length);
    n = 2;
  } else if (h->length <= 0xFFFF) {
    out[1] = (uint8_t)(m | 126);
    out[2] = (uint8_t)(h->length >> 8);
    out[3] = (uint8_t)h->length;
    n = 4;
  } else {
    out[1] = (uint8_t)(m | 127);
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(h->length >> (56 - 8 * i));
    n = 10;
  }
  if (h->masked) {
    memcpy(out + n, h->mask, 4);
    n += 4;
  }
  return n;
}
