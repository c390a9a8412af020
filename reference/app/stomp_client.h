/* A STOMP 1.0 / 1.1 / 1.2 client session over WebSocket: the C shape of Spring's
 * DefaultStompSession (StompSession) and WebSocketStompClient.
 *
 * Two halves in one object:
 *
 *  - a sans-I/O core. It is given the time and each received WebSocket message, and hands
 *    out whole STOMP frames (one WebSocket message each) and close requests through a
 *    wsref_stomp_transport. Unit tests and fuzz targets drive it with scripted messages and
 *    a virtual clock (wsref_stomp_client_new, _start, _recv, _tick, _transport_closed).
 *
 *  - io glue over the wsref WebSocket client (io/client.h): wsref_stomp_client_connect()
 *    opens the WebSocket, sends CONNECT, and the _process / _run / _fd functions drive both
 *    the socket and the STOMP timers (heart-beats, receipt and disconnect timeouts).
 *
 * The session: CONNECT (or STOMP) with accept-version, host, login/passcode and heart-beat;
 * the negotiated version then selects header escaping and the ACK/NACK headers; MESSAGE
 * frames are routed by their subscription header to per-subscription frame handlers;
 * RECEIPT frames to the callback of the frame that asked for them; ERROR to the session
 * handler. Heart-beats are sent at the negotiated interval (stomp-1.2.md "Heart-beating",
 * checklist HB-03/HB-04) and a server silent for heartbeat_read_factor times its interval
 * is reported dead. disconnect() is the graceful close of RC-05: DISCONNECT with a receipt,
 * then, once the RECEIPT is in (or disconnect_timeout_ms passed), the WebSocket close.
 *
 * Callbacks run only from inside the client's functions (_recv, _tick, _transport_closed,
 * and for the io glue _process / _run / _wait_connected); they may call any function of
 * this header except wsref_stomp_client_free(). Frames passed to callbacks point into
 * decoder memory valid only during the callback. Not thread-safe: one client, one thread.
 */
#ifndef WSREF_APP_STOMP_CLIENT_H
#define WSREF_APP_STOMP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/stomp.h"
#include "io/client.h"

typedef struct wsref_stomp_client wsref_stomp_client;
typedef struct wsref_stomp_subscription wsref_stomp_subscription;

/* A header given by the application: NUL-terminated name and value. Values are escaped on
 * the wire as the negotiated version requires (the caller writes them unescaped). */
typedef struct wsref_stomp_kv {
  const char *name;
  const char *value;
} wsref_stomp_kv;

enum wsref_stomp_ack_mode {
  WSREF_STOMP_ACK_AUTO = 0,
  WSREF_STOMP_ACK_CLIENT,            /* cumulative ACK (stomp-1.2.md "SUBSCRIBE ack Header") */
  WSREF_STOMP_ACK_CLIENT_INDIVIDUAL, /* 1.1+: ACK / NACK of one message */
};
/* "auto", "client", "client-individual". */
const char *wsref_stomp_ack_mode_name(enum wsref_stomp_ack_mode m);
/* The inverse (exact match); returns -1 if unknown. */
int wsref_stomp_ack_mode_parse(const char *s);

enum wsref_stomp_client_state {
  WSREF_STOMP_CLIENT_NEW = 0,       /* transport not open yet */
  WSREF_STOMP_CLIENT_CONNECTING,    /* CONNECT sent, waiting for CONNECTED */
  WSREF_STOMP_CLIENT_CONNECTED,     /* frames may be sent */
  WSREF_STOMP_CLIENT_DISCONNECTING, /* DISCONNECT sent, waiting for its RECEIPT */
  WSREF_STOMP_CLIENT_CLOSING,       /* the WebSocket is closing (after the DISCONNECT receipt,
                                       an ERROR frame, a failure or a timeout) */
  WSREF_STOMP_CLIENT_CLOSED,        /* the transport ended; on_closed has run */
};
const char *wsref_stomp_client_state_name(enum wsref_stomp_client_state s);

/* Spring's StompSessionHandler. Every callback is optional.
 * on_connected: the CONNECTED frame arrived and was accepted (version and heart-beat
 *   negotiated); the session may now subscribe and send.
 * on_error: an ERROR frame (Spring's handleFrame for ERROR). The server closes the
 *   connection after it; the client waits disconnect_timeout_ms for that, then closes.
 * on_transport_error: the session failed: a malformed or unexpected frame from the server
 *   (a WSREF_E_STOMP_* code; the client closes the WebSocket with 1002), a silent server
 *   (WSREF_E_STOMP_HEARTBEAT; close 1001), no CONNECTED within connect_timeout_ms
 *   (WSREF_E_TIMEOUT), or the connection lost before a graceful end (the transport's error,
 *   or WSREF_E_CLOSED: Spring's ConnectionLostException).
 * on_frame: every frame received (heart-beats excepted), before it is routed; for logging
 *   and for frames no one else handles (RECEIPTs nobody asked for, MESSAGEs of an
 *   unsubscribed id).
 * on_closed: exactly once, when the transport has ended (state CLOSED), after the pending
 *   receipt callbacks were told (received = false). */
typedef struct wsref_stomp_session_handler {
  void (*on_connected)(wsref_stomp_client *c, const wsref_stomp_frame *connected, void *ud);
  void (*on_error)(wsref_stomp_client *c, const wsref_stomp_frame *error, void *ud);
  void (*on_transport_error)(wsref_stomp_client *c, int err, void *ud);
  void (*on_frame)(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud);
  void (*on_closed)(wsref_stomp_client *c, void *ud);
  void *ud;
} wsref_stomp_session_handler;

/* Spring's StompFrameHandler: the MESSAGE frames of one subscription. */
typedef struct wsref_stomp_frame_handler {
  void (*on_message)(wsref_stomp_client *c, wsref_stomp_subscription *sub,
                     const wsref_stomp_frame *message, void *ud);
  void *ud;
} wsref_stomp_frame_handler;

/* A receipt request (Spring's Receiptable.addReceiptTask / addReceiptLostTask). Passing one
 * to a sending function adds a `receipt` header with a generated id ("r-1", "r-2", ...);
 * fn (may be NULL) runs once: received = true when the RECEIPT with that receipt-id
 * arrives, false when receipt_timeout_ms passes first or the session ends without it.
 * The struct is copied; it need not outlive the call. */
typedef struct wsref_stomp_receipt {
  void (*fn)(wsref_stomp_client *c, const char *receipt_id, bool received, void *ud);
  void *ud;
} wsref_stomp_receipt;

typedef struct wsref_stomp_transport {
  /* Send one WebSocket message holding exactly these bytes (text unless binary). Returns 0
   * or a negative wsref_err; a failure is reported to the caller of the sending function. */
  int (*send)(void *ud, const uint8_t *p, size_t n, bool binary);
  /* Start closing the WebSocket (closing handshake with code and reason). The core then
   * sends nothing more and waits for _transport_closed(). */
  void (*close)(void *ud, unsigned code, const char *reason);
  void *ud;
} wsref_stomp_transport;

typedef struct wsref_stomp_client_options {
  const char *accept_version;       /* CONNECT accept-version; default "1.0,1.1,1.2". The
                                       CONNECTED version must be one of these (absent: 1.0) */
  const char *host;                 /* CONNECT host (the virtual host; RabbitMQ: "/"); NULL =
                                       the URL's host name (connect) or "localhost" (core) */
  const char *login;                /* NULL = no login header */
  const char *passcode;             /* NULL = no passcode header */
  uint32_t heartbeat_send_ms;       /* heart-beat cx: how often we can send; default 10000 */
  uint32_t heartbeat_receive_ms;    /* heart-beat cy: how often we want the server's; default
                                       10000. 0,0 = no heart-beating */
  uint32_t heartbeat_read_factor;   /* the server is dead after this many of its negotiated
                                       intervals without data; default 3 (Spring) */
  uint32_t connect_timeout_ms;      /* CONNECT until CONNECTED; default 10000; 0 = none */
  uint32_t receipt_timeout_ms;      /* receipt requests fail after this; default 15000
                                       (Spring's receiptTimeLimit); 0 = never */
  uint32_t disconnect_timeout_ms;   /* wait for the DISCONNECT's RECEIPT, or for the server's
                                       close after an ERROR, before closing the WebSocket
                                       ourselves; default 5000 */
  bool use_stomp_command;           /* send STOMP instead of CONNECT (1.1+ servers only) */
  bool binary_frames;               /* send every frame as a binary message; default: text
                                       unless the frame is not valid UTF-8 */
  enum wsref_stomp_profile profile; /* codec rules for both directions; default spec */
  wsref_stomp_limits limits;        /* inbound frame limits; 0 fields = codec defaults */
  /* extra CONNECT headers, after ours */
  const wsref_stomp_kv *connect_headers;
  size_t nconnect_headers;
  /* io glue (wsref_stomp_client_connect) only: the WebSocket client's options. When
   * ws.subprotocols is NULL, v12.stomp, v11.stomp and v10.stomp are offered; a non-NULL
   * pointer with ws.nsubprotocols == 0 offers none. */
  wsref_client_options ws;
} wsref_stomp_client_options;

void wsref_stomp_client_options_default(wsref_stomp_client_options *o);

/* ---- sans-I/O core ---- */

/* o may be NULL (defaults); its strings are copied. h (may be NULL) and t must outlive the
 * client. Returns NULL on allocation failure. */
wsref_stomp_client *wsref_stomp_client_new(const wsref_stomp_client_options *o,
                                           const wsref_stomp_session_handler *h,
                                           const wsref_stomp_transport *t);
/* Frees the client and its subscriptions; runs no callback. A connect()ed client whose
 * WebSocket is still open is dropped without DISCONNECT and without a closing handshake
 * (an abrupt disconnect, as when a process dies). */
void wsref_stomp_client_free(wsref_stomp_client *c);

/* The WebSocket is open: send CONNECT. Returns 0, WSREF_E_STATE (not NEW), or the
 * transport's / encoder's error. */
int wsref_stomp_client_start(wsref_stomp_client *c, uint64_t now_ms);
/* A WebSocket message (text or binary) arrived: any part of one or several frames. Returns
 * 0, or the negative error that failed the session (already reported and acted on). */
int wsref_stomp_client_recv(wsref_stomp_client *c, const uint8_t *p, size_t n, uint64_t now_ms);
/* Earliest time tick() must run (0 = no timer). */
uint64_t wsref_stomp_client_deadline(const wsref_stomp_client *c);
/* Timers: heart-beat to send, silent server, connect / receipt / disconnect timeouts. */
void wsref_stomp_client_tick(wsref_stomp_client *c, uint64_t now_ms);
/* The WebSocket ended (err: the transport's error, 0 for a close). State becomes CLOSED. */
void wsref_stomp_client_transport_closed(wsref_stomp_client *c, int err, uint64_t now_ms);

/* ---- session state ---- */

enum wsref_stomp_client_state wsref_stomp_client_state(const wsref_stomp_client *c);
/* Negotiated version (0 before CONNECTED). */
enum wsref_stomp_version wsref_stomp_client_version(const wsref_stomp_client *c);
/* Negotiated heart-beat intervals in ms (0 = off): ours to send, the server's to expect. */
void wsref_stomp_client_heartbeat(const wsref_stomp_client *c, uint32_t *send_ms,
                                  uint32_t *receive_ms);
/* The error that ended or failed the session (what on_transport_error got), 0 if none. */
int wsref_stomp_client_error(const wsref_stomp_client *c);
/* True once an ERROR frame was received. */
bool wsref_stomp_client_error_received(const wsref_stomp_client *c);
/* Receipt requests still waiting for their RECEIPT. */
size_t wsref_stomp_client_pending_receipts(const wsref_stomp_client *c);

/* ---- frames (Spring's StompSession). All need state CONNECTED (else WSREF_E_STATE) and
 * return 0 or a negative wsref_err: WSREF_E_INVALID_ARG for a value the negotiated version
 * cannot carry (1.0: LF), or the transport's error. `extra` headers follow ours; as the
 * first of repeated headers wins they cannot override them. ---- */

/* SEND to destination with body (may hold NULs); the codec adds content-length to any
 * non-empty body. */
int wsref_stomp_client_send(wsref_stomp_client *c, const char *destination, const void *body,
                            size_t len, const wsref_stomp_kv *extra, size_t nextra,
                            const wsref_stomp_receipt *r);

/* SUBSCRIBE with a generated id ("0", "1", ...) and the ack mode (client-individual needs
 * 1.1+: WSREF_E_INVALID_ARG on 1.0). h is copied. *out (may be NULL) receives the
 * subscription, owned by the client until unsubscribed or the client is freed. */
int wsref_stomp_client_subscribe(wsref_stomp_client *c, const char *destination,
                                 enum wsref_stomp_ack_mode ack, const wsref_stomp_frame_handler *h,
                                 const wsref_stomp_kv *extra, size_t nextra,
                                 const wsref_stomp_receipt *r, wsref_stomp_subscription **out);
/* UNSUBSCRIBE by id (1.0 too) and free sub at once: MESSAGE frames still in flight for it
 * go to on_frame only. */
int wsref_stomp_client_unsubscribe(wsref_stomp_client *c, wsref_stomp_subscription *sub,
                                   const wsref_stomp_receipt *r);
const char *wsref_stomp_subscription_id(const wsref_stomp_subscription *sub);
const char *wsref_stomp_subscription_destination(const wsref_stomp_subscription *sub);
enum wsref_stomp_ack_mode wsref_stomp_subscription_ack(const wsref_stomp_subscription *sub);
/* The subscription with this id, or NULL. */
wsref_stomp_subscription *wsref_stomp_client_subscription(wsref_stomp_client *c, const char *id);

/* ACK / NACK a received MESSAGE with the headers of the negotiated version: 1.2 `id` = the
 * MESSAGE's ack header; 1.1 message-id and subscription; 1.0 message-id (NACK does not
 * exist in 1.0: WSREF_E_STATE). transaction may be NULL. WSREF_E_STOMP_MISSING_HEADER if
 * the MESSAGE lacks the header the version needs. */
int wsref_stomp_client_ack(wsref_stomp_client *c, const wsref_stomp_frame *message,
                           const char *transaction, const wsref_stomp_receipt *r);
int wsref_stomp_client_nack(wsref_stomp_client *c, const wsref_stomp_frame *message,
                            const char *transaction, const wsref_stomp_receipt *r);
/* The same from values the caller kept (a frame lives only during its callback): ack_id
 * (1.2), message_id and subscription (1.1; 1.0 uses message_id). */
int wsref_stomp_client_ack_ids(wsref_stomp_client *c, bool nack, const char *ack_id,
                               const char *message_id, const char *subscription,
                               const char *transaction, const wsref_stomp_receipt *r);

/* BEGIN / COMMIT / ABORT of transaction tx. */
int wsref_stomp_client_begin(wsref_stomp_client *c, const char *tx, const wsref_stomp_receipt *r);
int wsref_stomp_client_commit(wsref_stomp_client *c, const char *tx, const wsref_stomp_receipt *r);
int wsref_stomp_client_abort(wsref_stomp_client *c, const char *tx, const wsref_stomp_receipt *r);

/* Graceful disconnect: DISCONNECT with a receipt (r's callback, if any, hears of it), then
 * the WebSocket close 1000 once the RECEIPT arrives or disconnect_timeout_ms passed. No
 * frame is sent after it (RC-06). Allowed in CONNECTED only. */
int wsref_stomp_client_disconnect(wsref_stomp_client *c, const wsref_stomp_receipt *r);

/* Any frame, headers as given (plus a receipt header when r != NULL), for tests and tools
 * (state CONNECTED). */
int wsref_stomp_client_send_frame(wsref_stomp_client *c, const wsref_stomp_frame *f,
                                  const wsref_stomp_receipt *r);

/* ---- io glue: WebSocketStompClient over the wsref WebSocket client ---- */

/* Open the WebSocket (blocking, at most o->ws.timeout_ms), then send CONNECT. on_connected
 * runs later, from _process / _run / _wait_connected. o may be NULL; h must outlive the
 * client. Returns NULL with a one-line reason in err (as wsref_client_connect). */
wsref_stomp_client *wsref_stomp_client_connect(const char *url,
                                               const wsref_stomp_session_handler *h,
                                               const wsref_stomp_client_options *o, char *err,
                                               size_t errlen);

/* Non-blocking step: run due STOMP timers, write pending output, read and process what is
 * available. Returns 0 while the connection lives, 1 once it is closed, or a negative error
 * (WSREF_E_STATE for a sans-I/O client). */
int wsref_stomp_client_process(wsref_stomp_client *c);
/* Process and poll for up to timeout_ms (-1 = until closed). Returns 1 once closed, 0 when
 * the time is up, or a negative error. */
int wsref_stomp_client_run(wsref_stomp_client *c, int timeout_ms);
/* Run until CONNECTED (0), the session ends first (its error, or WSREF_E_CLOSED), or
 * timeout_ms passes (WSREF_E_TIMEOUT). */
int wsref_stomp_client_wait_connected(wsref_stomp_client *c, int timeout_ms);

/* For callers multiplexing with poll(): the socket (-1 once closed), the events to wait
 * for, and the ms until the next WebSocket or STOMP timer (-1 = none). */
int wsref_stomp_client_fd(const wsref_stomp_client *c);
short wsref_stomp_client_poll_events(const wsref_stomp_client *c);
int wsref_stomp_client_timeout_ms(const wsref_stomp_client *c);
/* The WebSocket client (NULL for a sans-I/O client), e.g. for its close status. */
wsref_client *wsref_stomp_client_ws(wsref_stomp_client *c);

#endif
