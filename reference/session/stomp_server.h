/* The server side of STOMP over WebSocket, per connection: Spring's StompSubProtocolHandler
 * (with the parts of SubProtocolWebSocketHandler that concern one endpoint).
 *
 * A wsref_stomp_server is a wsref_handler (register it at a path with
 * wsref_stomp_server_register: subprotocols v10.stomp, v11.stomp, v12.stomp, or none) that
 * turns WebSocket messages into STOMP frames (codec/stomp.h), negotiates the version and
 * heart-beats, enforces the protocol, and hands the frames of connected clients to a
 * backend (the message broker, app/stomp_broker.h, is one) through the inbound channel.
 * Frames for the client go through the outbound channel and a send-limit decorator
 * (session/send_limit.h: a client that does not read is closed with 4500, not buffered
 * for without bound).
 *
 * Sans-I/O like the session layer: time is wsref_session_now() and the heart-beat timers
 * are exposed as deadline()/tick() (wsref_stomp_session_deadline/_tick, meant for the io
 * server's handler timer hook, wsref_server_options.handler_deadline/_tick).
 *
 * Profiles (wsref_stomp_server_options.profile):
 *   spec    strict STOMP 1.0/1.1/1.2 (the default).
 *   spring  Spring Framework's wire behaviour (stomp-and-spring.md 2.5, 2.12), byte for byte
 *           where the notes define the bytes.
 *
 *                      spec                                spring
 * CONNECTED           version (omitted for a client       version, heart-beat (the server's
 *                     without accept-version), heart-beat  configured value), user-name if
 *                     (1.1+), session, server              the connection has a user
 * no accept-version   1.0 client: CONNECTED without        nothing sent, connection stays
 *                     version, no heart-beating            open (D1)
 * no common version   ERROR version:1.0,1.1,1.2 + close    nothing sent, stays open (D1)
 * frame before        ERROR + close (heart-beat EOLs are   ERROR "Unknown session: <id>"
 *   CONNECT           skipped, FR-04)                      + 1002, EOLs included (D9)
 * second CONNECT      ERROR + close                        ERROR "Session already exists"
 * required headers    checked: ERROR + close               not checked (D2)
 * RECEIPT             for every frame with receipt,        only for DISCONNECT (D3)
 *                     after it was processed
 * DISCONNECT          RECEIPT (if asked) then close 1000   RECEIPT and stay open; without
 *                                                          receipt ERROR "Session closed."
 *                                                          + 1002 (D4)
 * ERROR               message, receipt-id (if the frame    message, content-length:0, no
 *                     had receipt), content-type           receipt-id (D7)
 *                     text/plain and a body describing
 *                     the problem and the offending frame
 * a bad frame in a    frames before it were processed      the whole WebSocket message is
 *   WS message        (RC-07)                              discarded (2.5)
 *
 * WebSocket close code after ERROR: spring 1002 always. spec: 1002 for protocol errors
 * (malformed frames, frames out of order, missing headers, no common version, a silent
 * peer), 1009 when a size limit was exceeded (header count, line length, body, buffer),
 * 1008 when a backend or interceptor refused a frame (policy), 1011 on internal failure.
 *
 * Heart-beats (1.1+; HB-01..08): the CONNECT's heart-beat cx,cy and the configured sx,sy
 * give write = (cy && sx) ? max(cy, sx) : 0 and read = (cx && sy) ? max(cx, sy) : 0. A
 * heart-beat (one LF, as a text message) goes out when nothing was sent for `write` ms; a
 * client that sent nothing for read * heartbeat_read_factor ms gets ERROR + close (spec:
 * factor 2, i.e. a margin of one whole interval; spring: 3, as its simple broker). Any
 * received WebSocket data message resets the read timer, any sent one the write timer.
 * A client that sends heart-beats far faster than any interval needs (heartbeat_flood EOL
 * octets per second) gets ERROR + close 1008 (spec), as any other abuse.
 *
 * spring profile also checks content-type as Spring's MimeType parser does (no '/', empty
 * type or subtype: ERROR "Invalid mime type ..." + 1002).
 */
#ifndef WSREF_SESSION_STOMP_SERVER_H
#define WSREF_SESSION_STOMP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/stomp.h"
#include "handshake/registry.h"
#include "session/session.h"

#define WSREF_STOMP_SERVER_NAME "wsref/0.1"
/* The session attribute that names the connection's user (a handshake interceptor sets
 * it); without it the CONNECT's login is the user. */
#define WSREF_STOMP_USER_ATTRIBUTE "user"

typedef struct wsref_stomp_server wsref_stomp_server;
typedef struct wsref_stomp_conn wsref_stomp_conn;

typedef struct wsref_stomp_server_options {
  enum wsref_stomp_profile profile;
  wsref_stomp_limits limits;      /* decoder limits; 0 fields: codec defaults (spec), 65536
                                     each (spring: its messageSizeLimit) */
  uint32_t heartbeat_send_ms;     /* sx: the server can send every sx ms; 0 = never.
                                     default 10000 (spec), 0 (spring: no scheduler) */
  uint32_t heartbeat_recv_ms;     /* sy: the server wants a beat every sy ms; same defaults */
  uint32_t heartbeat_read_factor; /* silence allowed = factor * read interval; 0 = profile
                                     default (spec 2, spring 3) */
  uint32_t connect_timeout_ms;    /* no CONNECT within this time: spec ERROR + 1008, spring
                                     close 4500 (timeToFirstMessage); default 60000; 0 = off */
  uint32_t heartbeat_flood;       /* octets of WebSocket messages made only of EOLs accepted
                                     per second; more: ERROR + close 1008. default 1024
                                     (spec), 0 = no limit (spring: Spring has none) */
  uint32_t send_time_limit_ms;    /* send-limit decorator: default 10000 (Spring) */
  size_t send_buffer_limit;       /* send-limit decorator: default 512 KiB (Spring) */
  const char *server_name;        /* CONNECTED server header (spec); default
                                     WSREF_STOMP_SERVER_NAME; copied */
  const char *user_attribute;     /* default WSREF_STOMP_USER_ATTRIBUTE; copied */
} wsref_stomp_server_options;

/* Defaults for every field, for a profile. */
void wsref_stomp_server_options_default(wsref_stomp_server_options *o,
                                        enum wsref_stomp_profile profile);

/* ---- channels and interceptors (Spring's ChannelInterceptor) ---- */

enum wsref_stomp_channel {
  WSREF_STOMP_INBOUND = 0,  /* client -> backend: every decoded frame, heart-beats included */
  WSREF_STOMP_OUTBOUND = 1, /* server -> client: CONNECTED, MESSAGE, RECEIPT, heart-beats (the
                               ERROR of the protocol handler's own error path bypasses the
                               channel, as in Spring) */
};

/* All callbacks optional. c is the connection the frame comes from (inbound) or goes to
 * (outbound).
 * pre_send runs in registration order: return f to pass it on, another frame to rewrite it
 * (it must stay valid until after_send_completion of that interceptor ran, e.g. storage in
 * ud), or NULL to drop it: later interceptors and the send are skipped and the interceptors
 * that already ran get after_send_completion(sent = false). To refuse a frame with an ERROR
 * (Spring: an interceptor that throws), call wsref_stomp_conn_reject() and return NULL.
 * post_send (registration order) and after_send_completion (reverse order) see the frame as
 * finally sent; sent is false when the backend refused it (inbound) or the send failed. */
typedef struct wsref_stomp_interceptor {
  const wsref_stomp_frame *(*pre_send)(wsref_stomp_conn *c, const wsref_stomp_frame *f,
                                       enum wsref_stomp_channel ch, void *ud);
  void (*post_send)(wsref_stomp_conn *c, const wsref_stomp_frame *f, enum wsref_stomp_channel ch,
                    bool sent, void *ud);
  void (*after_send_completion)(wsref_stomp_conn *c, const wsref_stomp_frame *f,
                                enum wsref_stomp_channel ch, bool sent, void *ud);
  void *ud;
} wsref_stomp_interceptor;

/* ---- the backend (Spring's clientInboundChannel subscribers: broker, app handlers) ---- */

/* Callbacks run inside the session callbacks of the connection (and of the connections a
 * backend sends to). A negative return refuses the frame: the handler answers with ERROR
 * and closes (message text: wsref_stomp_conn_set_error(), else wsref_strerror()). */
typedef struct wsref_stomp_backend {
  /* CONNECT / STOMP, after negotiation and the inbound interceptors. 0 accepts: CONNECTED
   * follows. */
  int (*on_connect)(wsref_stomp_conn *c, const wsref_stomp_frame *f, void *ud);
  /* Every later frame except heart-beats: SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN,
   * COMMIT, ABORT, DISCONNECT (spring profile: also MESSAGE, treated as SEND by Spring's
   * broker). spec: required headers were checked. The RECEIPT follows a 0 return. */
  int (*on_frame)(wsref_stomp_conn *c, const wsref_stomp_frame *f, void *ud);
  /* The connection left: after DISCONNECT, after an ERROR, or when the WebSocket closed;
   * exactly once for every connection whose on_connect returned 0, before it is freed.
   * No more sends to c after it. */
  void (*on_disconnect)(wsref_stomp_conn *c, void *ud);
  /* Optional: the output of c drained below the low-water mark after the backend asked
   * with wsref_stomp_conn_notify_writable() (flow control for queue consumers). Runs from
   * wsref_stomp_conn_tick(), which the io server calls as soon as the deadline says so. */
  void (*on_writable)(wsref_stomp_conn *c, void *ud);
  void *ud;
} wsref_stomp_backend;

/* ---- the server (one endpoint) ---- */

/* o may be NULL (spec defaults); be is copied and may be NULL (frames are then only
 * answered with receipts). Returns NULL on allocation failure. */
wsref_stomp_server *wsref_stomp_server_new(const wsref_stomp_server_options *o,
                                           const wsref_stomp_backend *be);
/* Every session served by it must be gone (freed) first. */
void wsref_stomp_server_free(wsref_stomp_server *srv);
const wsref_stomp_server_options *wsref_stomp_server_options_of(const wsref_stomp_server *srv);
/* The wsref_handler to register (lives as long as srv). */
const wsref_handler *wsref_stomp_server_handler(const wsref_stomp_server *srv);
/* wsref_registry_add(reg, path, handler) with subprotocols v12.stomp, v11.stomp, v10.stomp.
 * Returns the registration (for interceptors, origins) or NULL (duplicate path, memory). */
wsref_registration *wsref_stomp_server_register(wsref_stomp_server *srv, wsref_registry *reg,
                                                const char *path);
/* Appends to the channel's chain (the struct is copied). 0 or WSREF_E_NOMEM. */
int wsref_stomp_server_add_interceptor(wsref_stomp_server *srv, enum wsref_stomp_channel ch,
                                       const wsref_stomp_interceptor *ic);
size_t wsref_stomp_server_ninterceptors(const wsref_stomp_server *srv, enum wsref_stomp_channel ch);
/* Open connections (sessions between on_open and on_close). */
size_t wsref_stomp_server_connections(const wsref_stomp_server *srv);

/* ---- timers: the io server's handler timer hook ---- */

/* The STOMP connection served on s, or NULL (not a STOMP session, or already closed). */
wsref_stomp_conn *wsref_stomp_conn_of(wsref_session *s);
/* Earliest time wsref_stomp_conn_tick() must run (0 = none): heart-beat write and read
 * timers, connect timeout, and "now" when a writable notification is due (the io server
 * evaluates the deadline after every flush, so the notification needs no polling). */
uint64_t wsref_stomp_conn_deadline(const wsref_stomp_conn *c);
void wsref_stomp_conn_tick(wsref_stomp_conn *c, uint64_t now_ms);
/* The same for any session (0 / nothing for non-STOMP sessions); ud is unused, so these fit
 * wsref_server_options.handler_deadline / handler_tick directly. Call the tick after
 * wsref_session_tick() so that the session knows the time. */
uint64_t wsref_stomp_session_deadline(wsref_session *s, void *ud);
void wsref_stomp_session_tick(wsref_session *s, uint64_t now_ms, void *ud);

/* ---- the connection, for backends and interceptors ---- */

wsref_session *wsref_stomp_conn_session(const wsref_stomp_conn *c);
wsref_stomp_server *wsref_stomp_conn_server(const wsref_stomp_conn *c);
const char *wsref_stomp_conn_id(const wsref_stomp_conn *c); /* the WebSocket session id */
/* Negotiated version (1.2 before CONNECT). */
enum wsref_stomp_version wsref_stomp_conn_version(const wsref_stomp_conn *c);
enum wsref_stomp_profile wsref_stomp_conn_profile(const wsref_stomp_conn *c);
/* CONNECTED was sent (or, spring, CONNECT accepted) and no DISCONNECT/ERROR since. */
bool wsref_stomp_conn_is_connected(const wsref_stomp_conn *c);
/* The user (attribute, else CONNECT login), or NULL. */
const char *wsref_stomp_conn_user(const wsref_stomp_conn *c);
/* Spring's accessor.setUser from an inbound interceptor on CONNECT; copied. 0 or NOMEM. */
int wsref_stomp_conn_set_user(wsref_stomp_conn *c, const char *user);
/* Negotiated heart-beat intervals in ms (0 = none). */
uint32_t wsref_stomp_conn_write_interval(const wsref_stomp_conn *c);
uint32_t wsref_stomp_conn_read_interval(const wsref_stomp_conn *c);
/* Backend per-connection data. */
void wsref_stomp_conn_set_data(wsref_stomp_conn *c, void *data);
void *wsref_stomp_conn_data(const wsref_stomp_conn *c);

/* Send a frame to the client through the outbound channel (encoded for the connection's
 * version and profile). 0, WSREF_E_STATE (not connected / closing), or the send-limit
 * decorator's error (the client is then being closed with 4500). */
int wsref_stomp_conn_send(wsref_stomp_conn *c, const wsref_stomp_frame *f);
/* Octets queued for the client and not yet written (session output + decorator queue).
 * The send-limit decorator closes the connection once this passes send_buffer_limit, so a
 * backend that can wait (queue delivery) stops below it and asks for a notification. */
size_t wsref_stomp_conn_unsent(const wsref_stomp_conn *c);
/* The backend's high-water mark for waiting deliveries: send_buffer_limit / 2. */
size_t wsref_stomp_conn_high_water(const wsref_stomp_conn *c);
/* Ask for one on_writable once unsent <= send_buffer_limit / 4. */
void wsref_stomp_conn_notify_writable(wsref_stomp_conn *c);
/* Producer flow control: from the frame being processed on, the RECEIPTs of c wait (in
 * order, at most 65536, then the connection is failed) until release. A client that paces
 * itself on receipts (stompjs, our load clients) thereby slows to what the consumers take,
 * as RabbitMQ's credit flow slows a publisher. DISCONNECT releases them. */
void wsref_stomp_conn_hold_receipts(wsref_stomp_conn *c);
void wsref_stomp_conn_release_receipts(wsref_stomp_conn *c);
/* Send frame bytes that are already encoded for this connection, bypassing the outbound
 * channel (only when wsref_stomp_server_ninterceptors(OUTBOUND) is 0): the broker's
 * encode-once fan-out. binary selects the WebSocket message type. */
int wsref_stomp_conn_send_encoded(wsref_stomp_conn *c, const uint8_t *p, size_t n, bool binary);
/* Text of the ERROR message header for the error a backend callback is about to return;
 * printf-style, truncated to 200 octets. */
void wsref_stomp_conn_set_error(wsref_stomp_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* From an inbound interceptor's pre_send: refuse the frame with an ERROR carrying message,
 * then close (spec 1008, spring 1002); the interceptor returns NULL. */
void wsref_stomp_conn_reject(wsref_stomp_conn *c, const char *message);
/* Fail the connection now: ERROR (message, plus receipt-id when receipt_id != NULL in the
 * spec profile) and close, as for a protocol error err. For backends acting outside a
 * callback (a template send that cannot be delivered, an administrative kick). */
void wsref_stomp_conn_error(wsref_stomp_conn *c, int err, const char *message,
                            const char *receipt_id);

#endif
