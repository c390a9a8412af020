/* WebSocketSession: the sans-I/O connection state machine (RFC 6455 sections 4-7) and the
 * handler API modelled on Spring's WebSocketHandler.
 *
 * A session owns one connection from the first byte of the opening handshake to the end of
 * the closing handshake. The io layer feeds it received bytes with wsref_session_recv(),
 * drains its output with wsref_session_output()/wsref_session_output_done(), tells it the
 * time (every entry point takes now_ms from a monotonic clock), calls wsref_session_tick()
 * at wsref_session_deadline(), and closes the transport when
 * wsref_session_transport_done() says so. Nothing here touches a socket or a clock, so tests
 * and fuzz targets drive a session with scripted chunks and a virtual clock.
 *
 * Callbacks into the handler happen only from inside wsref_session_recv(), _tick(),
 * _transport_closed() and the send functions (on_close may fire from a close/terminate).
 * Handlers may call any function of this header from inside a callback, including
 * wsref_session_close(). Handlers must not free the session: the io layer owns it.
 */
#ifndef WSREF_SESSION_SESSION_H
#define WSREF_SESSION_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/attrs.h"
#include "codec/close.h"
#include "handshake/handshake.h"
#include "handshake/http.h"
#include "handshake/registry.h"

typedef struct wsref_session wsref_session;

enum wsref_message_type {
  WSREF_MSG_TEXT = 1,   /* same values as the opcodes */
  WSREF_MSG_BINARY = 2,
  WSREF_MSG_PING = 9,
  WSREF_MSG_PONG = 10,
};

/* Spring's WebSocketMessage. data is valid only during the callback. */
typedef struct wsref_message {
  enum wsref_message_type type;
  const uint8_t *data;
  size_t len;
  bool is_last;   /* false only for partial delivery / partial sends */
} wsref_message;

#define WSREF_ACCEPT_TEXT 0x1u
#define WSREF_ACCEPT_BINARY 0x2u

/* Spring's WebSocketHandler. Every callback is optional.
 * on_open / on_message returning non-zero fail the session with 1011 (handler error).
 * on_message receives text and binary messages (whole ones, or pieces when
 * partial_messages is set: each received piece of a frame is delivered as it arrives, with
 * is_last true on the final piece of the final frame) and pongs. Pings are answered by the
 * session and not delivered.
 * on_transport_error reports a transport or protocol failure (before on_close).
 * on_close is called exactly once, when the session reaches CLOSED, with the peer's close
 * status (1005 if its close frame had no code, 1006 if the connection ended without a
 * close handshake). */
typedef struct wsref_handler {
  int (*on_open)(wsref_session *s, void *ud);
  int (*on_message)(wsref_session *s, const wsref_message *m, void *ud);
  void (*on_transport_error)(wsref_session *s, int err, void *ud);
  void (*on_close)(wsref_session *s, const wsref_close_status *status, void *ud);
  bool partial_messages;
  unsigned accept;   /* WSREF_ACCEPT_* mask; 0 means both. A data message of a type not in
                        the mask closes the session with 1003 (TextWebSocketHandler). */
  void *ud;
} wsref_handler;

/* Spring's TextWebSocketHandler / BinaryWebSocketHandler. */
wsref_handler wsref_text_handler(int (*on_message)(wsref_session *, const wsref_message *, void *),
                                 void *ud);
wsref_handler wsref_binary_handler(int (*on_message)(wsref_session *, const wsref_message *,
                                                     void *),
                                   void *ud);

enum wsref_session_state {
  WSREF_STATE_CONNECTING = 0,  /* opening handshake */
  WSREF_STATE_OPEN,
  WSREF_STATE_CLOSING,         /* a close frame was sent or received */
  WSREF_STATE_CLOSED,          /* handshake done or connection failed; on_close has run */
};

typedef struct wsref_session_options {
  uint64_t max_message;      /* reassembled message limit; over it: close 1009. default 64 MiB */
  uint64_t max_frame;        /* declared frame length limit; 0 = max_message. over: 1009 */
  size_t max_output;         /* unsent output limit for sends; over it send returns
                                WSREF_E_LIMIT. default 256 MiB */
  wsref_http_limits http;    /* handshake head limits (0 = defaults 8192 / 64) */
  uint32_t handshake_timeout_ms; /* whole opening handshake; default 10000 */
  uint32_t close_timeout_ms;     /* wait for the peer's close frame / TCP close; default 3000 */
  uint32_t idle_timeout_ms;      /* no bytes received while OPEN; 0 (default) = off */
  bool allow_non_minimal;    /* accept non-minimal length encodings from the peer */
  uint64_t seed;             /* client mask PRNG seed (io layer passes random bytes) */
  uint64_t id;               /* session id, shown in hex; 0 (default) = derived from the
                                session's address, clock and seed. The embeddable server
                                numbers its sessions from this value (1, 2, ... when 0), so
                                ids are unique per server and repeatable (fuzz reproducers,
                                logs of a replayed run). */
} wsref_session_options;

/* Defaults for every field. */
void wsref_session_options_default(wsref_session_options *o);

/* How the session reaches the io layer. */
typedef struct wsref_session_io {
  /* Output went from empty to non-empty (arm EPOLLOUT). May be NULL: then the io layer
   * must poll wsref_session_output() after every call. */
  void (*want_write)(wsref_session *s, void *io_ud);
  /* One line per connection event ("open /echo", "close 1000 clean"); may be NULL. */
  void (*log)(wsref_session *s, const char *line, void *io_ud);
  void *io_ud;
} wsref_session_io;

/* Server session: parses the opening handshake, looks the path up in reg (which must
 * outlive the session), runs wsref_handshake_server(), then speaks WebSocket.
 * opt and io may be NULL. remote_addr is copied. Returns NULL on allocation failure. */
wsref_session *wsref_session_new_server(const wsref_registry *reg,
                                        const wsref_session_options *opt,
                                        const wsref_session_io *io, const char *remote_addr,
                                        uint64_t now_ms);

/* Client session: queues the request (hs->nonce must be random), verifies the response,
 * then speaks WebSocket with masked frames. hs is copied; its string pointers need only
 * live through this call. */
wsref_session *wsref_session_new_client(wsref_handshake_client *hs, const wsref_handler *h,
                                        const wsref_session_options *opt,
                                        const wsref_session_io *io, uint64_t now_ms);

void wsref_session_free(wsref_session *s);

/* ---- io layer side ---- */

/* Feed received bytes (unmasked in place, hence not const). Returns 0, or the negative
 * error that failed the connection (the close frame / error response is already queued). */
int wsref_session_recv(wsref_session *s, uint8_t *data, size_t len, uint64_t now_ms);
/* Unsent output: pointer and length of the next contiguous bytes (NULL/0 if none). */
const uint8_t *wsref_session_output(wsref_session *s, size_t *len);
/* n bytes of that output were written to the transport. */
void wsref_session_output_done(wsref_session *s, size_t n, uint64_t now_ms);
/* Earliest time tick() must be called (0 = no timer). */
uint64_t wsref_session_deadline(const wsref_session *s);
void wsref_session_tick(wsref_session *s, uint64_t now_ms);
/* The peer closed its side (EOF) or the transport failed (err < 0, e.g. WSREF_E_IO/TLS). */
void wsref_session_transport_closed(wsref_session *s, int err, uint64_t now_ms);
/* True when the io layer should close the transport once the output is flushed (server:
 * after the closing handshake or a failed opening handshake; client: after the close
 * timeout). After closing it, call wsref_session_transport_closed(s, 0, now). */
bool wsref_session_transport_done(const wsref_session *s);

/* ---- handler / application side (Spring's WebSocketSession) ---- */

const char *wsref_session_id(const wsref_session *s);     /* hex, e.g. "1f"; see options.id */
wsref_attrs *wsref_session_attributes(wsref_session *s);  /* from interceptors; writable */
const char *wsref_session_subprotocol(const wsref_session *s); /* "" if none */
const char *wsref_session_extensions(const wsref_session *s);  /* "" if none */
const char *wsref_session_remote_addr(const wsref_session *s); /* "" if unknown */
const char *wsref_session_path(const wsref_session *s);        /* request path, no query */
/* A request header of the opening handshake (first line with that name), or NULL. */
const char *wsref_session_request_header(const wsref_session *s, const char *name);
enum wsref_session_state wsref_session_state(const wsref_session *s);
bool wsref_session_is_open(const wsref_session *s);
const wsref_handler *wsref_session_handler(const wsref_session *s);
void wsref_session_set_user_data(wsref_session *s, void *ud);
void *wsref_session_user_data(const wsref_session *s);
uint64_t wsref_session_now(const wsref_session *s);        /* last time the io layer gave */
size_t wsref_session_buffered(const wsref_session *s);     /* unsent output bytes */
/* The time output last went from empty to non-empty (0 if it is empty). */
uint64_t wsref_session_output_since(const wsref_session *s);

/* Send a message. is_last == false sends a fragment of a message continued by later calls
 * of the same type (the first fragment carries the opcode, later ones are continuations).
 * Ping/pong payloads are at most 125 bytes; control frames may interleave fragments.
 * Text must be valid UTF-8 (checked; WSREF_E_UTF8 otherwise). Returns 0 or
 * WSREF_E_STATE (not open), WSREF_E_LIMIT (max_output), WSREF_E_INVALID_ARG. */
int wsref_session_send(wsref_session *s, const wsref_message *m);
int wsref_session_send_text(wsref_session *s, const char *text, size_t len);
int wsref_session_send_binary(wsref_session *s, const void *data, size_t len);

/* Start the closing handshake with code (0 = no code) and reason (may be NULL). Returns 0,
 * or WSREF_E_STATE if a close frame was already sent. */
int wsref_session_close(wsref_session *s, unsigned code, const char *reason);
/* Drop the connection without a closing handshake (after queueing a close frame with
 * code if code != 0): on_close gets `code`; the transport is closed once output flushes.
 * The close frame carries only what may be on the wire: a code that must not be sent
 * (1005, 1006, 1015, 5000...) goes out as 1011, a reason that is not UTF-8 is left out. */
void wsref_session_terminate(wsref_session *s, unsigned code, const char *reason);

/* Hook called after output_done() leaves the output empty; used by the send-limit
 * decorator. One hook per session; NULL clears it. */
void wsref_session_set_drain_hook(wsref_session *s, void (*fn)(wsref_session *, void *),
                                  void *ud);

#endif
