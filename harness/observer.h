/* The strict observer: decodes everything the target sends after its handshake response and
 * checks it against the sender's rules of RFC 6455, whatever the case is about.
 *
 * Sans-I/O: feed received bytes, pop decoded events. Each broken rule becomes a finding
 * (rule id + clause + what was seen) appended to the result; the runner fails a case with
 * findings even when its expectations matched.
 *
 * Checked on every frame the target sends (a server, as seen by a client):
 *   server-frame-masked      RFC6455 5.1     a server MUST NOT mask its frames
 *   non-minimal-length       RFC6455 5.2     the minimal length encoding MUST be used
 *   rsv-without-extension    RFC6455 5.2     RSV bits MUST be 0 unless an extension claims them
 *   reserved-opcode          RFC6455 5.2     opcodes 3-7 and 11-15 are reserved
 *   length-msb               RFC6455 5.2     the most significant bit of a 64-bit length MUST be 0
 *   control-too-long         RFC6455 5.5     control payloads MUST be <= 125 octets
 *   control-fragmented       RFC6455 5.5     control frames MUST NOT be fragmented
 *   continuation-unexpected  RFC6455 5.4     a continuation frame without a message started
 *   message-interleaved      RFC6455 5.4     a new data frame inside a fragmented message
 *   text-invalid-utf8        RFC6455 5.6     text messages MUST be UTF-8 (checked fail-fast)
 *   close-payload-1          RFC6455 5.5.1   a close payload of one octet
 *   close-code-invalid       RFC6455 7.4.1   a code that must not appear on the wire
 *   close-reason-utf8        RFC6455 5.5.1   a close reason that is not UTF-8
 *   frame-after-close        RFC6455 5.5.1   anything sent after the close frame
 * and on a 101 response (wsc_observer_check_response):
 *   accept-mismatch, upgrade-token, connection-token (RFC6455 4.2.2), subprotocol-not-offered,
 *   extension-not-offered (RFC6455 4.2.2, 4.1).
 * Violations that leave the stream undecodable (length-msb, control-too-long,
 * control-fragmented) end decoding: one WSC_EV_ERROR event follows and later input is only
 * counted.
 *
 * Events (the stream case.h describes): complete data messages (or data frames one by one when
 * frame_level), ping, pong and close frames as they complete, frames with reserved opcodes as
 * WSC_EV_FRAME. Event data is the whole payload (malloc'd, owned by the popped event) up to
 * max_kept octets; past that only the length and the SHA-256 of the whole payload are kept.
 */
#ifndef WSC_OBSERVER_H
#define WSC_OBSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/frame.h"
#include "codec/utf8.h"
#include "handshake/http.h"
#include "result.h"

#define WSC_OBSERVER_MAX_KEPT_DEFAULT (64u << 20)

typedef struct wsc_observer_options {
  uint8_t rsv_allowed; /* RSV bits negotiated extensions claim: 4 = RSV1, 2 = RSV2, 1 = RSV3;
                          default 0 */
  bool frame_level;    /* data frames are events one by one; default false */
  uint64_t max_kept;   /* payload octets kept per event; 0 = WSC_OBSERVER_MAX_KEPT_DEFAULT */
  const char *conn;    /* findings name this connection (multi-connection cases); NULL: none.
                          Must outlive the observer. */
} wsc_observer_options;

/* An event being assembled: its payload grows up to max_kept, the hash covers all of it. */
typedef struct wsc_obs_acc {
  wsc_event ev;
  size_t cap;
  void *sha; /* EVP_MD_CTX, created once the payload passes max_kept */
  bool active;
} wsc_obs_acc;

typedef struct wsc_observer {
  wsc_observer_options opt;
  wsc_result *res; /* findings go here */
  wsref_frame_parser fp;
  uint64_t rx_base;   /* rx stream offset of the first octet fed */
  uint64_t rx_off;    /* rx stream offset of the next octet */
  uint64_t frame_off; /* rx stream offset where the current frame started */
  bool in_frame;
  wsref_frame_header hdr;
  wsc_obs_acc msg;  /* a data message (not frame_level) */
  wsc_obs_acc frm;  /* a frame that is an event of its own */
  wsc_obs_acc *acc; /* where the current frame's payload goes */
  /* fragmentation state, independent of how events are assembled */
  bool in_message;
  uint8_t msg_opcode;
  bool utf8_check; /* a text message whose payload is not transformed */
  wsref_utf8 utf8;
  bool utf8_bad;
  bool close_seen;
  bool after_close_reported;
  bool dead;        /* decoding stopped */
  uint8_t *scratch; /* writable copy of input for the in-place unmasking parser */
  size_t scratch_cap;
  wsc_event *q; /* queued events */
  size_t qhead, qn, qcap;
  int err; /* sticky allocation failure */
} wsc_observer;

/* opt may be NULL (defaults). res receives the findings and must outlive the observer. */
void wsc_observer_init(wsc_observer *o, const wsc_observer_options *opt, wsc_result *res);
/* rx offset of the first octet that will be fed (the handshake response's length), so that
 * finding offsets are offsets in the whole received stream. */
void wsc_observer_set_base(wsc_observer *o, uint64_t rx_base);
/* Feed received octets. Returns 0 or WSREF_E_NOMEM. */
int wsc_observer_feed(wsc_observer *o, const uint8_t *p, size_t n, uint64_t t_us);
/* Pop the next decoded event; false if none. The caller owns ev (wsc_event_free). */
bool wsc_observer_next(wsc_observer *o, wsc_event *ev);
/* True while a message or frame is partly received (the connection ended mid-frame). */
bool wsc_observer_partial(const wsc_observer *o);
void wsc_observer_free(wsc_observer *o);

/* Checks a 101 response against the request that was actually sent (both byte-exact heads):
 * the accept value for the request's key (skipped when the request had no single valid key),
 * the Upgrade and Connection tokens, and that a chosen subprotocol / extensions were offered.
 * Findings go to res. */
void wsc_observer_check_response(wsc_result *res, const uint8_t *req, size_t req_len,
                                 const wsref_http_response *resp, uint64_t t_us);

#endif
