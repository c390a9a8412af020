/* RFC 6455 section 5.2 base framing: an incremental, allocation-free frame parser and a
 * header encoder.
 *
 * The parser is a pull parser: each call consumes bytes and reports at most one event.
 * Payload is unmasked in place (the caller's buffer is writable), so a frame's payload is
 * delivered as one or more PAYLOAD events pointing into the input, already unmasked, in
 * whatever pieces the input arrived in. Any split of the input yields the same header and
 * end events and the same concatenated payload bytes.
 *
 * The parser enforces rules that need no session context: reserved opcodes, control frame
 * length and FIN, the 64-bit length MSB, minimal length encoding (when strict), masking
 * per role, and the frame size limit. RSV bits and fragmentation sequencing depend on
 * negotiated extensions and message state and are the session's job.
 */
#ifndef WSREF_CODEC_FRAME_H
#define WSREF_CODEC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum wsref_opcode {
  WSREF_OP_CONT = 0x0,
  WSREF_OP_TEXT = 0x1,
  WSREF_OP_BINARY = 0x2,
  WSREF_OP_CLOSE = 0x8,
  WSREF_OP_PING = 0x9,
  WSREF_OP_PONG = 0xA,
};

#define WSREF_FRAME_HEADER_MAX 14
#define WSREF_CONTROL_MAX 125

typedef struct wsref_frame_header {
  bool fin;
  bool rsv1, rsv2, rsv3;
  uint8_t opcode;       /* 0-15 as on the wire */
  bool masked;
  uint8_t mask[4];
  uint64_t length;      /* declared payload length */
  uint8_t header_len;   /* 2..14 octets */
} wsref_frame_header;

/* Which side we parse for: a server parses client frames (must be masked), a client parses
 * server frames (must not be masked). WSREF_ROLE_ANY checks neither (for observers). */
enum wsref_role { WSREF_ROLE_SERVER = 0, WSREF_ROLE_CLIENT = 1, WSREF_ROLE_ANY = 2 };

typedef struct wsref_frame_parser_options {
  enum wsref_role role;     /* default WSREF_ROLE_SERVER */
  uint64_t max_frame;       /* largest declared payload accepted; 0 = no limit. default 0 */
  bool allow_non_minimal;   /* accept non-minimal length encodings; default false */
  bool allow_reserved;      /* report reserved opcodes instead of failing (observers) */
} wsref_frame_parser_options;

enum wsref_frame_event_type {
  WSREF_FRAME_EV_NONE = 0,   /* all input consumed, no event: feed more */
  WSREF_FRAME_EV_HEADER,     /* ev.header is complete */
  WSREF_FRAME_EV_PAYLOAD,    /* ev.data/ev.len: a piece of unmasked payload; ev.offset is its
                                position inside the frame payload */
  WSREF_FRAME_EV_END,        /* the frame's payload is complete */
};

typedef struct wsref_frame_event {
  enum wsref_frame_event_type type;
  const wsref_frame_header *header; /* valid from HEADER until END (points into the parser) */
  uint8_t *data;
  size_t len;
  uint64_t offset;
} wsref_frame_event;

typedef struct wsref_frame_parser {
  wsref_frame_parser_options opt;
  int state;
  uint8_t hbuf[WSREF_FRAME_HEADER_MAX];
  uint8_t hhave;
  wsref_frame_header hdr;
  uint64_t done;            /* payload bytes delivered of the current frame */
  int error;                /* sticky: once failed, every call returns it */
} wsref_frame_parser;

void wsref_frame_parser_init(wsref_frame_parser *p, const wsref_frame_parser_options *opt);

/* Consume input and report at most one event in *ev.
 * Returns the number of bytes consumed (possibly 0 when an END event needs no bytes) or a
 * negative wsref_err (sticky). ev->type == WSREF_FRAME_EV_NONE with return == len means
 * "need more". Payload bytes in buf are unmasked in place. Header is validated before
 * the HEADER event is reported. */
ssize_t wsref_frame_parse(wsref_frame_parser *p, uint8_t *buf, size_t len, wsref_frame_event *ev);

/* Encode a frame header; the length uses the minimal form. Returns header bytes written
 * (2..14). Does not touch the payload: mask it with wsref_mask_apply(). */
size_t wsref_frame_header_encode(uint8_t out[WSREF_FRAME_HEADER_MAX], const wsref_frame_header *h);

/* True for the opcodes RFC 6455 defines (0, 1, 2, 8, 9, 10). */
bool wsref_opcode_is_defined(unsigned opcode);
static inline bool wsref_opcode_is_control(unsigned opcode) { return (opcode & 0x8) != 0; }
const char *wsref_opcode_name(unsigned opcode); /* "text", "binary", ... "reserved-3" */

#endif
