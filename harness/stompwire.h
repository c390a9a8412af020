/* STOMP on the harness's side of the wire: building the frames a case sends (every byte under
 * the case's control), reading back the frames a target sends (for expectations), cutting
 * STOMP bytes into WebSocket messages, and the strict STOMP observer.
 *
 * Deliberately independent of reference/codec/stomp.h: a conformance judge must not share
 * its reading of the wire with the stack it judges, and it must see what a decoder hides
 * (which escapes were used, whether content-length was there, where a frame started in the
 * WebSocket messages). Everything here is lenient where the reference decoder is strict:
 * a broken frame becomes a finding and the observer resynchronises at the next WebSocket
 * message, it never stops reading.
 *
 * Versions are written 10, 11, 12 (STOMP 1.0, 1.1, 1.2).
 */
#ifndef WSC_STOMPWIRE_H
#define WSC_STOMPWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "result.h"

/* "1.2" -> 12, "1.0" -> 10 ...; 0 if not a STOMP version we know. */
int wsc_stomp_version_parse(const char *s, size_t n);
/* The highest known version in a comma-separated accept-version list, or 0. */
int wsc_stomp_version_max(const char *list, size_t n);
/* The version a subprotocol name stands for: "v12.stomp" -> 12; 0 otherwise. */
int wsc_stomp_subprotocol_version(const char *name);
/* Is this one of the commands a server sends (CONNECTED, MESSAGE, RECEIPT, ERROR)? */
bool wsc_stomp_is_server_command(const char *s, size_t n);
/* Any command of STOMP 1.2 (client or server), exact case. */
bool wsc_stomp_is_command(const char *s, size_t n);
/* CONNECT, STOMP and CONNECTED are never escaped (STOMP 1.2 "Value Encoding"). */
bool wsc_stomp_escape_exempt(const char *cmd, size_t n);

/* ------------------------------------------------------------------------------------------
 * Encoding what the suite sends
 */

/* Escape s[0..n) per version rules (12: CR LF ':' '\'; 11: LF ':' '\'; 10 or 0: nothing). */
int wsc_stomp_escape(wsref_buf *out, int rules, const char *s, size_t n);

typedef struct wsc_stomp_out_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
  bool line; /* value is the whole line, written as it is (name unused) */
} wsc_stomp_out_header;

typedef struct wsc_stomp_out {
  const char *command; /* bytes of the command line, written as they are */
  size_t command_len;
  const wsc_stomp_out_header *headers;
  size_t nheaders;
  const uint8_t *body;
  size_t body_len;
  int escape_rules;          /* 0: headers written raw; 11 or 12: escaped with those rules */
  bool crlf;                 /* CRLF line ends instead of LF */
  bool content_length;       /* append content-length:<clen> as the last header */
  uint64_t clen;             /* the declared length (need not match body_len) */
  const uint8_t *terminator; /* NULL: one NUL octet */
  size_t terminator_len;
  uint32_t trailing_eols; /* EOLs after the terminator */
} wsc_stomp_out;

/* Appends the frame's bytes. Returns 0 or WSREF_E_NOMEM. */
int wsc_stomp_encode(wsref_buf *out, const wsc_stomp_out *f);

/* ------------------------------------------------------------------------------------------
 * Reading a frame the target sent (for expectations and captures)
 */

typedef struct wsc_stomp_header {
  char *name; /* decoded; NUL-terminated copies (names and values may hold NULs: use lens) */
  size_t name_len;
  char *value;
  size_t value_len;
} wsc_stomp_header;

typedef struct wsc_stomp_msg {
  char *command; /* as on the wire (a CR before the LF removed in 1.2) */
  size_t command_len;
  wsc_stomp_header *headers; /* in wire order, repeated ones included */
  size_t nheaders;
  uint8_t *body;
  size_t body_len;
} wsc_stomp_msg;

/* Parses one complete frame p[0..n) (command through the terminating NUL, as the observer
 * stores it in a WSC_EV_STOMP event). Header values are unescaped per version (never for
 * CONNECT, STOMP, CONNECTED; undefined escapes are kept as they are: the observer reports
 * them). Returns 0, WSREF_E_INVALID_ARG if p does not hold a frame, or WSREF_E_NOMEM. */
int wsc_stomp_parse(const uint8_t *p, size_t n, int version, wsc_stomp_msg *out);
void wsc_stomp_msg_free(wsc_stomp_msg *m);
/* The first header of that name (repeated headers: the first wins), or NULL. */
const wsc_stomp_header *wsc_stomp_msg_header(const wsc_stomp_msg *m, const char *name,
                                             size_t name_len);
/* One line for reasons and reports: `MESSAGE destination:/q message-id:1 (5-octet body "hello")`.
 */
void wsc_stomp_describe(char *out, size_t cap, const uint8_t *frame, size_t n, int version);

/* ------------------------------------------------------------------------------------------
 * Cutting STOMP bytes into WebSocket messages
 */

/* Deterministic cut points for `split=random seed=N [cuts=K]`: K distinct offsets strictly
 * inside [0, len), ascending (K = 0: the seed also picks K, 1..min(len-1, 16)). Writes at
 * most cap offsets and returns how many. The same (seed, len, K) always gives the same
 * cuts, on every platform. */
size_t wsc_stomp_random_cuts(uint64_t seed, size_t len, uint32_t cuts, uint64_t *out, size_t cap);

/* ------------------------------------------------------------------------------------------
 * The strict STOMP observer: everything a target (a server) sends on a STOMP connection.
 *
 * Fed with each complete WebSocket data message (in order), it yields WSC_EV_STOMP events
 * (one per complete frame: detail = the command, data = the frame's bytes from the command to
 * the terminating NUL, opcode = the WebSocket opcode of the message the frame began in,
 * frames = how many messages it spanned) and WSC_EV_HEARTBEAT events (one per run of EOLs that
 * begins a message: heart-beats; EOLs right after a frame's NUL in the same message belong to
 * that frame, STOMP 1.2 "frame = ... NULL *( EOL )").
 *
 * The client side is tracked too (wsc_stomp_obs_sent: the payloads of the data messages the
 * suite sends) so that rules about answers can be checked: which receipts were asked for,
 * which subscriptions exist and with which ack mode, which versions CONNECT offered.
 *
 * Rules checked on what the target sends (rule id, clause "STOMP1.x ID" with the session's
 * version), each a finding that fails the case:
 *   stomp-syntax              FR-01  not a frame: bytes where a command should start, a
 *                                    command line that is not a command, no terminating NUL
 *                                    before the connection ended
 *   stomp-command             FR-05  not a server command (CONNECTED, MESSAGE, RECEIPT, ERROR)
 *   stomp-header-syntax       FR-11  a header line without ':' or with an empty name
 *   stomp-cr                  FR-03  (1.2) a CR not followed by LF; (1.0, 1.1) a CR in an EOL
 *   stomp-utf8                FR-08  command or header not UTF-8
 *   stomp-escape              ES-04  an undefined escape sequence, or a raw ':' in a value
 *                                    (1.1+; never in CONNECTED): the encoder did not escape
 *   stomp-content-length      BD-01  content-length not a non-negative decimal
 *   stomp-terminator          BD-02  the octet after content-length octets is not NUL
 *   stomp-nul-in-body         BD-03  a body with NUL octets sent without content-length (seen
 *                                    as bytes after a frame's NUL that start no frame)
 *   stomp-body-not-allowed    FR-07  a body on CONNECTED (RECEIPT: RC-04)
 *   stomp-connected-version   CN-06  CONNECTED without version to a 1.1+ CONNECT
 *   stomp-version-not-offered CN-05  CONNECTED with a version CONNECT did not offer
 *   stomp-heart-beat          HB-01  a heart-beat header that is not two non-negative integers
 *   stomp-server-header       CN-09  a server header that is not name["/"version] *(comment)
 *   stomp-message-destination SF-01  MESSAGE without destination
 *   stomp-message-id          SF-02  MESSAGE without message-id, or one repeated on the
 *                                    connection
 *   stomp-message-subscription SF-03 MESSAGE without subscription (1.1+), or naming no
 *                                    subscription the suite made
 *   stomp-message-ack         AK-04  (1.2) MESSAGE for a client or client-individual
 *                                    subscription without ack
 *   stomp-receipt-id          RC-02  RECEIPT without receipt-id, or one nobody asked for
 *   stomp-receipt-body        RC-04  RECEIPT with a body
 *   stomp-heartbeat-eol       HB-05  (1.1) a heart-beat that is not LF
 *   stomp-after-error         SF-05  (1.2) a frame after ERROR (the close must follow it)
 * The runner adds stomp-error-not-closed (SF-05: the target did not close after ERROR).
 * SHOULD-level observations (SF-04, SF-06, SF-08) are wire-log notes, not findings: the
 * corpus checks them with its own SHOULD cases.
 */

typedef struct wsc_stomp_obs_options {
  int version;        /* the session's version until CONNECTED says (0: 1.2) */
  const char *conn;   /* connection name for findings, or NULL */
  wsc_wirelog *notes; /* where SHOULD-level notes go (may be NULL) */
  uint64_t max_kept;  /* frame octets kept per event; 0 = 64 MiB */
} wsc_stomp_obs_options;

typedef struct wsc_stomp_obs wsc_stomp_obs;

/* res receives the findings and must outlive the observer. NULL on allocation failure. */
wsc_stomp_obs *wsc_stomp_obs_new(const wsc_stomp_obs_options *opt, wsc_result *res);
void wsc_stomp_obs_free(wsc_stomp_obs *o);
/* One complete WebSocket data message from the target. rx_off is its position in the
 * received stream (for finding offsets). Returns 0 or WSREF_E_NOMEM. */
int wsc_stomp_obs_message(wsc_stomp_obs *o, const uint8_t *p, size_t n, uint8_t ws_opcode,
                          uint64_t t_us, uint64_t rx_off);
/* The connection ended: a frame left incomplete is a finding. */
void wsc_stomp_obs_end(wsc_stomp_obs *o, uint64_t t_us, uint64_t rx_off);
/* Pops the next event; false if none. The caller owns ev (wsc_event_free). */
bool wsc_stomp_obs_next(wsc_stomp_obs *o, wsc_event *ev);
/* Payload octets of a data message the suite sent (any cut: tracking is a byte stream). */
void wsc_stomp_obs_sent(wsc_stomp_obs *o, const uint8_t *p, size_t n);
/* The suite sent something it could not track (a deliberately broken WebSocket frame):
 * from now on, rules that depend on what was asked (receipts, subscriptions) are skipped. */
void wsc_stomp_obs_untracked(wsc_stomp_obs *o);
/* The session's version: CONNECTED's, else the initial one. */
int wsc_stomp_obs_version(const wsc_stomp_obs *o);
/* The negotiated heart-beat intervals in ms (STOMP 1.2 "Heart-beating": server-to-client
 * max(sx, cy), client-to-server max(cx, sy), 0 when either side said 0), from the CONNECT
 * the suite sent and the CONNECTED received. False before CONNECTED (or for 1.0). */
bool wsc_stomp_obs_heartbeats(const wsc_stomp_obs *o, uint64_t *s2c_ms, uint64_t *c2s_ms);
/* Set once ERROR arrives; *t_us its arrival. */
bool wsc_stomp_obs_error_seen(const wsc_stomp_obs *o, uint64_t *t_us);

#endif
