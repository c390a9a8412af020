/* STOMP 1.0 / 1.1 / 1.2 frames: an incremental decoder and an encoder with version-aware
 * header escaping (stomp-1.2.md "Value Encoding"), content-length bodies that may hold NULs,
 * CRLF line ends (1.2), heart-beat EOLs between frames, repeated headers (first wins) and
 * limits reported as named errors (base/error.h, WSREF_E_STOMP_*).
 *
 * The decoder is a push decoder: feed any split of a byte stream (one WebSocket message may
 * carry several frames, or a fraction of one) and it calls on_frame once per complete frame,
 * in order, with exactly the frames one contiguous buffer would give. Bytes of an incomplete
 * frame are buffered up to limits.max_buffer. Errors are sticky.
 *
 * Two profiles: WSREF_STOMP_PROFILE_SPEC follows the specification; WSREF_STOMP_PROFILE_SPRING
 * reproduces Spring's StompDecoder/StompEncoder wire behaviour where it diverges (decoder not
 * version-aware: \r escape accepted in 1.1; a CR at the end of the available input is an
 * error; a non-numeric or negative content-length is ignored; the encoder always escapes with
 * the 1.2 rules and appends content-length last on SEND/MESSAGE/ERROR, even content-length:0).
 */
#ifndef WSREF_CODEC_STOMP_H
#define WSREF_CODEC_STOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum wsref_stomp_version {
  WSREF_STOMP_V10 = 10,
  WSREF_STOMP_V11 = 11,
  WSREF_STOMP_V12 = 12,
};

enum wsref_stomp_profile { WSREF_STOMP_PROFILE_SPEC = 0, WSREF_STOMP_PROFILE_SPRING = 1 };

enum wsref_stomp_command {
  WSREF_STOMP_HEARTBEAT = 0, /* one or more EOLs between frames (reported once per run) */
  WSREF_STOMP_CONNECT,
  WSREF_STOMP_STOMP,
  WSREF_STOMP_CONNECTED,
  WSREF_STOMP_SEND,
  WSREF_STOMP_SUBSCRIBE,
  WSREF_STOMP_UNSUBSCRIBE,
  WSREF_STOMP_ACK,
  WSREF_STOMP_NACK,
  WSREF_STOMP_BEGIN,
  WSREF_STOMP_COMMIT,
  WSREF_STOMP_ABORT,
  WSREF_STOMP_DISCONNECT,
  WSREF_STOMP_MESSAGE,
  WSREF_STOMP_RECEIPT,
  WSREF_STOMP_ERROR,
  WSREF_STOMP_COMMAND_COUNT
};

/* "SEND", ...; "HEARTBEAT" for WSREF_STOMP_HEARTBEAT. */
const char *wsref_stomp_command_name(enum wsref_stomp_command c);
/* Exact (case-sensitive) lookup; returns -1 if unknown. */
int wsref_stomp_command_parse(const char *s, size_t n);
/* May a frame with this command carry a body (SEND, MESSAGE, ERROR)? */
bool wsref_stomp_body_allowed(enum wsref_stomp_command c);

/* A header as decoded (unescaped). Not NUL-terminated in general: use the lengths
 * (the decoder does NUL-terminate both, for convenience). */
typedef struct wsref_stomp_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} wsref_stomp_header;

/* A frame. Decoded frames point into decoder-owned memory valid only during on_frame
 * (a body that arrived whole in one wsref_stomp_decode() call may point into that call's
 * input instead, with the same lifetime). Frames built by callers for the encoder may
 * point anywhere. */
typedef struct wsref_stomp_frame {
  enum wsref_stomp_command command;
  const wsref_stomp_header *headers;
  size_t nheaders;
  const uint8_t *body;
  size_t body_len;
} wsref_stomp_frame;

/* First header with this exact (case-sensitive) name, or NULL (repeated headers: the first
 * wins, stomp-1.2.md "Repeated Header Entries"). */
const wsref_stomp_header *wsref_stomp_frame_header(const wsref_stomp_frame *f, const char *name);
/* Its value as a NUL-terminated string, or NULL (decoded frames only). */
const char *wsref_stomp_frame_get(const wsref_stomp_frame *f, const char *name);

#define WSREF_STOMP_MAX_HEADERS_DEFAULT 64
#define WSREF_STOMP_MAX_HEADER_LINE_DEFAULT 8192
#define WSREF_STOMP_MAX_BODY_DEFAULT (1u << 20)
#define WSREF_STOMP_MAX_BUFFER_DEFAULT (1u << 20)

typedef struct wsref_stomp_limits {
  size_t max_headers;      /* header lines per frame; default 64 */
  size_t max_header_line;  /* octets of a command or header line; default 8192 */
  size_t max_body;         /* body octets (declared content-length or actual); default 1 MiB */
  size_t max_buffer;       /* octets of one incomplete frame kept across feeds; default 1 MiB
                              (Spring: messageSizeLimit 64 KiB) */
} wsref_stomp_limits;

typedef struct wsref_stomp_decoder_options {
  enum wsref_stomp_version version; /* escaping and EOL rules; default 1.2 until negotiated */
  enum wsref_stomp_profile profile;
  wsref_stomp_limits limits;        /* 0 fields take the defaults */
} wsref_stomp_decoder_options;

typedef struct wsref_stomp_decoder wsref_stomp_decoder;

/* Returns NULL on allocation failure. opt may be NULL (1.2, spec profile, default limits). */
wsref_stomp_decoder *wsref_stomp_decoder_new(const wsref_stomp_decoder_options *opt);
void wsref_stomp_decoder_free(wsref_stomp_decoder *d);
/* Switch escaping/EOL rules once the version is negotiated (affects frames not yet begun). */
void wsref_stomp_decoder_set_version(wsref_stomp_decoder *d, enum wsref_stomp_version v);

/* Feed bytes. on_frame runs once per complete frame (and once per run of heart-beat EOLs
 * between frames); a non-zero return from it stops decoding and is returned. Returns 0 or
 * a negative wsref_err (sticky; a non-zero on_frame return is sticky too).
 * Heart-beat events: spec profile, split invariant: EOLs after a frame's NUL belong to it
 * (`NULL *(EOL)`) and never yield one; only a run of EOLs at the start of the stream does.
 * Spring profile, as Spring: one per feed that holds only EOLs while no frame is in
 * progress. Liveness must therefore be judged on received bytes, not on these events.
 * Spring profile: a feed's frames are delivered when the whole feed has decoded, and not at
 * all if it fails (stomp.c has the full list of the profile's rules). */
int wsref_stomp_decode(wsref_stomp_decoder *d, const uint8_t *p, size_t n,
                       int (*on_frame)(const wsref_stomp_frame *f, void *ud), void *ud);
/* Bytes of an incomplete frame currently buffered. */
size_t wsref_stomp_decoder_buffered(const wsref_stomp_decoder *d);

/* Encode a frame (or a heart-beat: one LF) and append it to out. Headers are escaped per
 * version and profile (never for CONNECT, STOMP and CONNECTED); a content-length header is
 * added when the body contains a NUL or, for SEND/MESSAGE/ERROR with a body, always (spring
 * profile: always on those three, last). Returns 0, WSREF_E_NOMEM, or WSREF_E_INVALID_ARG
 * (a 1.0 value that cannot be written: LF in it; a body on a frame that must not have one). */
int wsref_stomp_encode(wsref_buf *out, enum wsref_stomp_version v, enum wsref_stomp_profile pr,
                       const wsref_stomp_frame *f);

/* Header escaping as a standalone function (1.1: LF ':' '\'; 1.2 also CR). */
int wsref_stomp_escape(wsref_buf *out, enum wsref_stomp_version v, const char *s, size_t n);

#endif
