/* The in-memory case model: what the case parser produces and the runner executes.
 *
 * A case file (cases/README.md documents the language) holds case definitions; a definition
 * with `each` lines expands into several cases. Everything below is the *expanded* form: one
 * struct wsc_case per runnable case, with every {var} already substituted, every `loop`
 * unrolled, every `finish` rewritten into its close + expect steps, and every flush of a
 * coalesced write made explicit. The runner never re-parses text.
 *
 * Ownership: a struct wsc_suite owns everything reachable from it (strings, arrays,
 * payloads). Nothing is shared between two cases, except the file names in suite->files
 * that struct wsc_srcloc points to. The suite is immutable after loading, so any number of
 * runner threads may read it concurrently (payload reads are thread-safe, see payload.h).
 *
 * Conventions: every array is a (pointer, count) pair; a count of 0 means an empty array and
 * the pointer may be NULL. Durations are microseconds (uint64_t, *_us). A duration of 0 in
 * an optional field means "not given: use the runner's default".
 */
#ifndef WSC_CASE_H
#define WSC_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "payload.h"

/* ------------------------------------------------------------------------------------------
 * Source locations: every case, step and expectation knows where it was written, so that
 * evidence and errors can say `file:line:col`.
 */
struct wsc_srcloc {
  const char *file; /* owned by the suite (suite->files); never NULL in a loaded suite */
  int line;         /* 1-based */
  int col;          /* 1-based; column of the directive keyword */
};

/* ------------------------------------------------------------------------------------------
 * Metadata
 */
enum wsc_level {
  WSC_LEVEL_MUST = 0,
  WSC_LEVEL_SHOULD,
  WSC_LEVEL_MAY,
  /* Behaviour the spec leaves open: the outcome is recorded, the verdict is INFO whatever
   * was observed (only ERROR, when the suite itself could not run the case, overrides it). */
  WSC_LEVEL_INFO,
};

/* Which side the target plays. Only WSC_ROLE_SERVER is run today: the suite is the client,
 * masks its frames and expects unmasked ones. WSC_ROLE_CLIENT parses (the language is the
 * same, mirrored) so client corpora can be written ahead of the runner supporting them; a
 * runner without client support reports such cases as ERROR "role not supported". */
enum wsc_role {
  WSC_ROLE_SERVER = 0,
  WSC_ROLE_CLIENT,
};

/* `requires subprotocol NAME` / `requires extension OFFER`.
 * The runner offers each requirement in the default handshake (Sec-WebSocket-Protocol:
 * NAME, Sec-WebSocket-Extensions: OFFER). If the target's 101 does not select it, the case
 * is UNSUPPORTED (not FAIL) and the runner closes normally. */
enum wsc_req_kind { WSC_REQ_SUBPROTOCOL = 0, WSC_REQ_EXTENSION };
struct wsc_requirement {
  enum wsc_req_kind kind;
  char *value; /* "chat", "permessage-deflate; client_max_window_bits" */
};

/* Grades that an expectation alternative confers when it is the one that matched, or that
 * a missed expectation confers instead of FAIL (`else=`). The case verdict is the grade
 * of the worst step, then the level applies (the runner does it, the model only carries
 * it; cases/README.md section 13): SHOULD turns FAIL into NON-STRICT, MAY turns FAIL into
 * INFO, INFO turns everything into INFO. Strict-observer violations stay FAIL. */
enum wsc_grade {
  WSC_GRADE_PASS = 0,
  WSC_GRADE_NON_STRICT,
  WSC_GRADE_INFO,
  WSC_GRADE_FAIL,
};

/* ------------------------------------------------------------------------------------------
 * How bytes reach the wire.
 *
 * A send step's bytes (or a flush's accumulated bytes, or the handshake request) are
 * written as follows: if nsplits > 0, cut at the given offsets (ascending, each strictly
 * inside the buffer: the parser cannot check this against runtime lengths, so offsets at or
 * past the end are ignored by the runner); else if chop > 0, cut into chop-byte pieces;
 * else written with one write call. delay_us is slept between consecutive pieces (never
 * before the first or after the last). Each piece must leave in its own TCP segment, so the
 * runner sets TCP_NODELAY and writes each piece with its own send() call.
 *
 * coalesce: set on SEND / SEND_RAW steps written while `write coalesce` was in force. Such a
 * step's bytes are NOT written; they are appended to a pending buffer. A WSC_STEP_FLUSH step
 * writes the pending buffer with the flush step's own policy. The parser guarantees that
 * every run of coalesced sends is followed by a FLUSH before any other step kind and at the
 * end of the case, so the runner never has to flush implicitly.
 */
struct wsc_write {
  uint64_t chop;     /* 0 = whole */
  uint64_t delay_us; /* pause between pieces */
  uint64_t *splits;  /* explicit cut offsets, ascending; overrides chop */
  size_t nsplits;
  bool coalesce;
};

/* ------------------------------------------------------------------------------------------
 * Frames the suite sends. Every header field is under the case's control.
 */
enum wsc_mask_mode {
  WSC_MASK_RANDOM = 0, /* masked with a fresh key chosen by the runner (the default) */
  WSC_MASK_KEY,        /* masked with key[] */
  WSC_MASK_NONE,       /* MASK bit clear, payload sent as is */
};

/* Which length encoding to put on the wire. AUTO is the minimal form; the others force a
 * form (7 only when the declared length is <= 125; the parser checks). */
enum wsc_len_form { WSC_LEN_AUTO = 0, WSC_LEN_7, WSC_LEN_16, WSC_LEN_64 };

struct wsc_frame_spec {
  bool fin;       /* default true */
  uint8_t rsv;    /* 3-bit RSV field as Autobahn numbers it: 4 = RSV1, 2 = RSV2, 1 = RSV3 */
  uint8_t opcode; /* 0-15, reserved ones included */
  enum wsc_mask_mode mask;
  uint8_t key[4]; /* WSC_MASK_KEY only */

  /* The payload bytes actually sent (masked per `mask`). Never NULL: an empty payload is a
   * payload of length 0. */
  struct wsc_payload *payload;

  /* Declared length in the header. When has_len is false it is the payload's length.
   * When true, the header says `len` whatever the payload is: the runner sends exactly
   * the payload bytes after the header (fewer or more than declared). */
  bool has_len;
  uint64_t len;
  enum wsc_len_form len_form;

  /* > 0: this is a message, not a frame: the payload is cut into frames of fragment_size
   * bytes (the last may be shorter; an empty payload gives one empty frame). The first
   * frame carries `opcode` and `rsv`, the following ones opcode 0 and rsv 0; FIN is set on
   * the last frame only; each frame gets its own mask per `mask`. The parser rejects
   * has_len and fin=0 together with fragment_size. All frames of one message form the
   * step's bytes for the write policy (a chop may span frames). */
  uint64_t fragment_size;
};

/* ------------------------------------------------------------------------------------------
 * Expectations on what the target sends after the handshake.
 *
 * The event stream the runner matches against, in arrival order:
 *   - each control frame (ping, pong, close) as it completes;
 *   - each complete data message, at the arrival of its final frame (frames interleaved
 *     inside a fragmented message therefore come first);
 *   - the end of the connection (TCP FIN/RST/timeout), which is terminal.
 * In a case with case->frame_level set (the case uses `expect frame`), data frames are
 * events individually instead of being reassembled into messages; the parser rejects
 * message expectations (text/binary/message) in such cases.
 *
 * Pings the target sends are answered by the runner with a pong (it is a conformant
 * client) and are still events that `expect ping` can match; an unexpected ping is not
 * consumed silently, it fails the next expectation like any other event.
 *
 * Sends after the connection has ended are skipped (recorded in the evidence, not an error),
 * and a close expectation evaluated after the end judges the recorded end. That is what
 * makes Autobahn's shape work: "send A; send B; expect fail 1002" and "... expect text X
 * else=non-strict; expect fail 1002" need no branches in the send script.
 */
enum wsc_expect_kind {
  WSC_EXP_TEXT = 0, /* a complete text message */
  WSC_EXP_BINARY,   /* a complete binary message */
  WSC_EXP_MESSAGE,  /* a complete data message of either type */
  WSC_EXP_PING,
  WSC_EXP_PONG,
  WSC_EXP_FRAME,     /* one frame (frame-level cases): filters below */
  WSC_EXP_CLOSE,     /* the end of the connection, judged as a whole (see wsc_expect_close) */
  WSC_EXP_NOTHING,   /* no event at all for `duration_us` (the connection must stay open) */
  WSC_EXP_STOMP,     /* a STOMP frame (STOMP connections): see wsc_expect.stomp */
  WSC_EXP_HEARTBEAT, /* STOMP heart-beat EOLs, within timeout_us when given */
  WSC_EXP_NO_FRAME,  /* no STOMP frame for duration_us (heart-beats allowed; stays open) */
};

/* A check on bytes received. All given checks must hold; none given matches anything. */
struct wsc_match {
  struct wsc_payload *payload; /* exact bytes, or NULL */
  bool has_len;
  uint64_t len;
  bool has_sha256;
  uint8_t sha256[32];
};

/* Acceptable close codes are unions of inclusive ranges ("1000", "3000..4999"). */
struct wsc_code_range {
  uint32_t lo, hi;
};

/* Who started the close: the side whose close frame came first, or whose TCP close came
 * first when no close frame was sent. */
enum wsc_closer { WSC_BY_ANY = 0, WSC_BY_PEER, WSC_BY_SUITE };

/* `expect close CODES... [clean] [by=peer|suite] [reason=PAYLOAD]`, `expect fail CODES...`.
 * The runner waits until the connection has ended (close frames exchanged and TCP closed,
 * or TCP closed). If the item's timeout expires first: when another alternative of the
 * step can still be chosen (`else=`, `or`), the item just dies and the connection stays
 * open for the following steps (Autobahn 6.4.x fail-fast: "fail within 1 s, else
 * NON-STRICT and keep sending"); otherwise the runner drops TCP and judges what it saw
 * (a peer that never closed fails any close expectation with by=peer).
 *   - a close frame from the peer with a status code: the code must be in codes[] (or any_code);
 *   - a close frame from the peer with an empty payload: needs no_code ("none");
 *   - no close frame from the peer, TCP just ended: needs drop_ok ("drop");
 *   - clean: the closing handshake completed (a close frame each way) and the TCP
 *     connection ended with FIN, not RST and not a suite-side timeout drop;
 *   - by: who started the close (ANY accepts both).
 * `expect fail C...` is parsed into codes C..., drop_ok, by = PEER (Autobahn's "fail the
 * connection": the peer must act, a close frame or a bare TCP drop). */
struct wsc_expect_close {
  struct wsc_code_range *codes;
  size_t ncodes;
  bool any_code;
  bool no_code;
  bool drop_ok;
  bool clean;
  enum wsc_closer by;
  struct wsc_payload *reason; /* NULL: any reason */
};

/* ------------------------------------------------------------------------------------------
 * STOMP.
 *
 * Text that the runner completes: header names and values, CONNECT options. The bytes are
 * literal except `$name` (a built-in value or a capture, see cases/README.md section 17),
 * and `$$` for one '$'. The parser has checked every name.
 */
struct wsc_text {
  char *s; /* NUL-terminated for convenience; may hold NULs (use n) */
  size_t n;
};

/* One header of a frame the suite sends, in the order written. */
struct wsc_stomp_hdr {
  struct wsc_text name, value;
  bool optional; /* omitted when the value comes out empty (generated CONNECT headers) */
  bool line;     /* `line=TEXT`: value is a whole header line, written as it is (no ':',
                    no escaping): malformed lines on purpose */
};

/* How header bytes are written: AUTO escapes per the connection's version (never CONNECT,
 * STOMP, CONNECTED; nothing in 1.0), OFF writes them as given, V11/V12 force those rules. */
enum wsc_stomp_escape { WSC_ESC_AUTO = 0, WSC_ESC_OFF, WSC_ESC_V11, WSC_ESC_V12 };
/* content-length: AUTO adds one (last) when the frame has a non-empty body and the case
 * wrote none itself; NONE never adds one; VALUE declares clen_value whatever the body is. */
enum wsc_stomp_clen { WSC_CLEN_AUTO = 0, WSC_CLEN_NONE, WSC_CLEN_VALUE };
/* Line ends: DEFAULT is the connection's (LF unless `conn ... eol=crlf`). */
enum wsc_stomp_eol { WSC_EOL_DEFAULT = 0, WSC_EOL_LF, WSC_EOL_CRLF };

struct wsc_stomp_frame_spec {
  bool heartbeat;          /* `heartbeat [N]`: N EOLs and nothing else */
  uint32_t count;          /* heartbeat: how many EOLs; frame: EOLs after the terminator (eols=) */
  struct wsc_text command; /* the command line's bytes (any text: `stomp "send"` too) */
  struct wsc_stomp_hdr *headers;
  size_t nheaders;
  struct wsc_payload *body; /* NULL: no body */
  enum wsc_stomp_escape escape;
  enum wsc_stomp_clen clen;
  uint64_t clen_value;
  enum wsc_stomp_eol eol;
  struct wsc_payload *terminator; /* NULL: one NUL octet */
};

/* How STOMP bytes become WebSocket messages (one message by default):
 *   AT      cut at the offsets at[] (ascending, each strictly inside; past the end ignored)
 *   CHUNK   messages of `chunk` octets (chunk=1: one octet per message)
 *   RANDOM  cuts drawn from `seed` (wsc_stomp_random_cuts): `cuts` of them, 0 = seed decides
 * Each message is one WebSocket frame, or frames of `frag` octets; `binary` sends binary
 * messages (default: the connection's, text unless `conn ... as=binary`; as_set says the
 * step chose); delay_us is slept between consecutive messages. */
enum wsc_split_kind { WSC_SPLIT_WHOLE = 0, WSC_SPLIT_AT, WSC_SPLIT_CHUNK, WSC_SPLIT_RANDOM };
struct wsc_msg_policy {
  enum wsc_split_kind split;
  uint64_t *at;
  size_t nat;
  uint64_t chunk;
  uint64_t seed;
  uint32_t cuts;
  bool as_set, binary;
  uint64_t frag;
  uint64_t delay_us;
};

/* A check on one header of a received frame (the first one of that name: repeated headers,
 * the first wins). */
enum wsc_hm_op { WSC_HMO_EQUALS = 0, WSC_HMO_REGEX, WSC_HMO_PRESENT, WSC_HMO_ABSENT };
struct wsc_stomp_hmatch {
  struct wsc_text name;
  enum wsc_hm_op op;
  struct wsc_text value; /* EQUALS: completed by the runner ($captures); REGEX: the pattern */
  void *re;              /* REGEX: compiled (regex_t, POSIX ERE, whole value) */
};

/* `expect COMMAND [checks]`: every check must hold. */
struct wsc_stomp_expect {
  struct wsc_text command; /* exact bytes */
  struct wsc_stomp_hmatch *headers;
  size_t nheaders;
  struct wsc_payload *raw; /* the frame's bytes, command through NUL, or NULL */
  struct wsc_text body_re; /* body=~REGEX pattern (n == 0: none) */
  void *body_re_c;         /* compiled */
  int as;                  /* the WebSocket message type: -1 any, 1 text, 2 binary */
};

struct wsc_expect {
  enum wsc_expect_kind kind;
  struct wsc_srcloc loc;

  /* TEXT, BINARY, MESSAGE, PING, PONG, FRAME */
  struct wsc_match match;

  /* FRAME only: -1 = any, else the exact value (opcode 0-15, fin 0/1, rsv 0-7). */
  int opcode;
  int fin;
  int rsv;

  /* CLOSE only */
  struct wsc_expect_close close;

  /* STOMP only (the body check is match.payload / match.len) */
  struct wsc_stomp_expect stomp;
  /* HEARTBEAT with `within 1.5x`: the wait is this many thousandths of the negotiated
   * server-to-client interval (max(sx, cy) from CONNECTED and CONNECT), 0 = timeout_us. */
  uint32_t interval_permille;

  /* NOTHING: the quiet period. Others: how long to wait for the event (0 = the runner's
   * per-expectation default, itself bounded by the case timeout). */
  uint64_t duration_us;
  uint64_t timeout_us;
};

/* One way the target may behave, as a sequence of expectations, and the grade it earns.
 * An alternative with nitems == 0 matches immediately without consuming anything. */
struct wsc_alt {
  enum wsc_grade grade;
  struct wsc_srcloc loc; /* the `expect`, `either` or `or` line */
  struct wsc_expect *items;
  size_t nitems;
};

/* An expectation step: alternatives in order of preference.
 *   `expect X`                  -> 1 alt: [X] PASS
 *   `expect X else=non-strict`  -> 2 alts: [X] PASS, [] NON-STRICT
 *   `either` / `or GRADE` / `end` blocks -> one alt per branch, in the written order
 * Matching (the Autobahn "expected lists" model made incremental): feed events to all
 * alternatives in parallel; an alternative dies on an event its next item does not match,
 * on the end of the connection before it completed (unless its next item is a CLOSE), or
 * when its next item times out. The step is decided as soon as the first alternative in
 * written order that is still alive completes, or all earlier ones are dead and a later one
 * has completed; the events that alternative consumed are consumed, later events stay
 * queued for the next step. All dead: the step FAILs, its evidence lists every
 * alternative with the event that killed it. Alternatives are written in order of
 * preference, which is normally best grade first. */
struct wsc_expect_step {
  struct wsc_alt *alts;
  size_t nalts;
};

/* ------------------------------------------------------------------------------------------
 * Steps, executed in order after the opening handshake.
 */
enum wsc_step_kind {
  WSC_STEP_SEND = 0, /* frame (or fragmented message, see fragment_size) */
  WSC_STEP_SEND_RAW, /* raw bytes, nothing added, nothing masked */
  WSC_STEP_FLUSH,    /* write the pending coalesced bytes with `write` */
  WSC_STEP_SLEEP,    /* pause sleep_us; incoming events are queued meanwhile */
  WSC_STEP_EXPECT,
  WSC_STEP_DROP,        /* the suite closes the TCP connection without a close frame */
  WSC_STEP_SHUTDOWN,    /* the suite half-closes (shutdown(SHUT_WR)); reading continues */
  WSC_STEP_STOMP,       /* a STOMP frame or heart-beat EOLs, as WebSocket message(s) per msg */
  WSC_STEP_STOMP_FLUSH, /* the STOMP bytes gathered since `stomp coalesce`, per msg */
  WSC_STEP_CAPTURE,     /* remember a value of the last STOMP frame matched on the connection */
};

enum wsc_capture_src { WSC_CAP_HEADER = 0, WSC_CAP_BODY, WSC_CAP_COMMAND };

struct wsc_step {
  enum wsc_step_kind kind;
  struct wsc_srcloc loc;
  /* The connection the step acts on: an index into case->conns (0 when the case declares
   * none: its only connection). SLEEP ignores it. */
  size_t conn;

  /* SEND, SEND_RAW, FLUSH */
  struct wsc_write write;

  /* SEND */
  struct wsc_frame_spec frame;
  /* SEND from `close` / `finish`: the suite starts an orderly closing handshake. Purely
   * informational (evidence, "who closed"): a close frame sent with `send close` counts
   * the same on the wire. */
  bool suite_close;

  /* SEND_RAW */
  struct wsc_payload *raw;

  /* SLEEP */
  uint64_t sleep_us;

  /* EXPECT */
  struct wsc_expect_step expect;

  /* STOMP: the frame; coalesce: gathered for the next STOMP_FLUSH instead of sent.
   * STOMP and STOMP_FLUSH: msg says how the bytes become messages; `write` still says how
   * each message's bytes reach TCP (chop=). */
  struct wsc_stomp_frame_spec stomp;
  bool coalesce;
  struct wsc_msg_policy msg;

  /* CAPTURE: capture_name = the source of the last STOMP frame an expectation matched on
   * the connection (a header's value, the body, or the command). */
  char *capture_name;
  enum wsc_capture_src capture_src;
  struct wsc_text capture_header;
};

/* `conn NAME... [options]`: the connections of a multi-connection case, each a WebSocket
 * connection of its own to the case's target, opened (handshake) in declaration order when
 * the case starts. The handshake edits of the case apply to each; its handshake
 * expectations are judged on the first connection, the others must upgrade.
 * A case that declares none has one connection and nconns == 0, unless it speaks STOMP:
 * then the parser adds one unnamed declaration (name NULL) to carry the STOMP flag. */
struct wsc_conn_decl {
  char *name; /* NULL: the case's only, implicit connection */
  struct wsc_srcloc loc;
  char **subprotocols; /* offered instead of the case's `requires subprotocol` lines; the 101
                          must select one of them (else UNSUPPORTED) */
  size_t nsubprotocols;
  /* connect=: the accept-version value ("1.2", "1.0,1.1,1.2"; "1.0" sends none), or NULL
   * for no automatic CONNECT. The CONNECT / expect CONNECTED steps are in the step list
   * (generated by the parser at the conn line), so nothing here is run implicitly. */
  char *connect;
  bool stomp;             /* data messages are read as STOMP frames */
  enum wsc_stomp_eol eol; /* default line ends of the STOMP frames sent on it */
  bool binary;            /* STOMP frames go in binary messages */
  /* login=, passcode=, host= (text with $vars), NULL = the runner's --stomp-* options */
  struct wsc_text *login, *passcode, *host;
};

/* ------------------------------------------------------------------------------------------
 * The opening handshake.
 *
 * Default request, built by the runner for the target URL:
 *   GET <path?query> HTTP/1.1
 *   Host: <host[:port]>
 *   Upgrade: websocket
 *   Connection: Upgrade
 *   Sec-WebSocket-Key: <fresh random 16 bytes, base64>
 *   Sec-WebSocket-Version: 13
 * plus Origin (--origin), every --header, and the `requires` offers; then the case's edits
 * are applied in order; then the body, if any, follows the blank line. A case that sets
 * Sec-WebSocket-Key itself gets the accept value computed from its key.
 * If raw is set, none of that happens: raw's bytes are the request, verbatim (payload
 * variables $host, $target, $key, $origin let raw requests still address the target).
 */
enum wsc_hdr_edit_op {
  WSC_HDR_SET = 0, /* replace every field of that name by one (append if absent) */
  WSC_HDR_ADD,     /* append one more field, even if the name exists */
  WSC_HDR_REMOVE,  /* remove every field of that name */
};

struct wsc_hdr_edit {
  enum wsc_hdr_edit_op op;
  char *name;  /* as written (the runner compares case-insensitively) */
  char *value; /* SET/ADD: written verbatim after ": "; may be ""; NULL for REMOVE */
  struct wsc_srcloc loc;
};

enum wsc_hsx_kind {
  WSC_HSX_OK = 0, /* 101, Upgrade: websocket, Connection: upgrade, correct accept, and
                     any subprotocol/extension chosen was offered */
  WSC_HSX_FAIL,   /* the upgrade was refused: a non-101 status, or the connection ended
                     (or timed out) without a complete response */
  WSC_HSX_STATUS, /* status code in statuses[] */
  WSC_HSX_HEADER, /* see wsc_hdr_match */
  WSC_HSX_BODY,   /* body contains `body` (bytes) */
};

enum wsc_hdr_match {
  WSC_HM_EQUALS = 0, /* some field of that name has exactly `value` (OWS trimmed) */
  WSC_HM_CONTAINS,   /* the comma-separated token lists of all fields of that name contain
                        `value` (tokens compared case-insensitively) */
  WSC_HM_ABSENT,
  WSC_HM_PRESENT,
  WSC_HM_ACCEPT, /* `= $accept`: equals base64(SHA-1(key + GUID)) for the key sent */
  WSC_HM_LACKS,  /* no field of that name lists the token `value` (absent fields lack it) */
};

struct wsc_hs_expect {
  enum wsc_hsx_kind kind;
  struct wsc_srcloc loc;
  enum wsc_grade miss_grade; /* grade when not met: FAIL unless `else=` */
  bool implicit;             /* inserted by the parser (the default `handshake ok`) */

  /* STATUS: e.g. 426, or 400..499 for "4xx" */
  struct wsc_code_range *statuses;
  size_t nstatuses;

  /* HEADER */
  char *name;
  enum wsc_hdr_match op;
  char *value; /* EQUALS, CONTAINS */

  /* BODY */
  struct wsc_payload *body;
};

struct wsc_handshake {
  struct wsc_payload *raw; /* non-NULL: send these bytes instead of building a request */

  char *method;  /* NULL = "GET" */
  char *target;  /* NULL = the URL's path and query */
  char *version; /* NULL = "HTTP/1.1" (the request-line's version token, verbatim) */
  struct wsc_hdr_edit *edits;
  size_t nedits;
  struct wsc_payload *body; /* NULL = no body (Content-Length is NOT added automatically) */

  struct wsc_write write; /* how the request is written (coalesce is never set) */

  /* `handshake pipeline`: the SEND/SEND_RAW steps at the start of the step list (up to the
   * first other step) are written right behind the request, in the same write sequence,
   * before the response is read. */
  bool pipeline;

  /* Checked once the response is in, in order. A case without an OK, FAIL or STATUS
   * expectation gets an implicit WSC_HSX_OK appended (implicit = true), so header/body
   * checks alone refine a successful upgrade. If the upgrade did not succeed, the steps
   * are not run (a case expecting failure is done once its handshake expectations are). */
  struct wsc_hs_expect *expects;
  size_t nexpects;
};

/* ------------------------------------------------------------------------------------------
 * A case, fully expanded.
 */
struct wsc_case {
  char *id;       /* unique in the suite: [A-Za-z0-9._-]+ */
  char *title;    /* one line, substituted */
  char *alias;    /* e.g. the Autobahn id "1.1.3", or NULL; unique in the suite */
  char **clauses; /* "RFC6455 5.5.1", at least one */
  size_t nclauses;
  enum wsc_level level;
  enum wsc_role role;
  char **tags; /* file defaults first, then the case's own; no duplicates */
  size_t ntags;
  struct wsc_requirement *requires;
  size_t nrequires;
  char **notes; /* free text from `note` lines, for reports */
  size_t nnotes;

  /* Whole-case deadline (0 = the runner's --timeout); expectations without their own
   * timeout wait at most until this deadline. */
  uint64_t timeout_us;

  struct wsc_srcloc loc; /* the `case` line */
  /* The expansion this case came from: "n=125 i=3" (variables in `each` order), or "" for
   * a definition without `each`; expansion is its 0-based index in the definition. */
  char *vars;
  size_t expansion;

  bool frame_level; /* the case uses `expect frame`: data frames are events one by one */

  /* A STOMP case (a STOMP step, expectation or connection, or `requires subprotocol
   * v1x.stomp`): selected with --stomp and run against the STOMP endpoint. Tagged `stomp`. */
  bool stomp;
  struct wsc_conn_decl *conns;
  size_t nconns;

  struct wsc_handshake hs;
  struct wsc_step *steps;
  size_t nsteps;
};

struct wsc_suite {
  struct wsc_case *cases; /* in load order: files sorted by path, then as written */
  size_t ncases;
  char **files; /* every file loaded; struct wsc_srcloc.file points into these */
  size_t nfiles;
};

/* ------------------------------------------------------------------------------------------
 * Diagnostics: one per error, in the order found, printable as `file:line:col: message`.
 */
struct wsc_diag {
  char *file;
  int line; /* 0 when the error is about the whole file (unreadable) */
  int col;
  char *msg;
};

struct wsc_diags {
  struct wsc_diag *v;
  size_t n, cap;
};

void wsc_diags_free(struct wsc_diags *d);
/* Prints each diagnostic as "file:line:col: message\n" ("file: message" when line is 0). */
void wsc_diags_print(const struct wsc_diags *d, FILE *out);

/* ------------------------------------------------------------------------------------------
 * Loading. Options and their defaults (a NULL opts pointer means all defaults).
 */
struct wsc_load_opts {
  /* Where file("name") payloads are found. NULL (default): for each case file, the first
   * `data` directory found walking up from the file's directory (cases/data for
   * cases/framing/text.case). */
  const char *data_dir;
  uint64_t max_payload;  /* largest payload a spec may describe; default 1 GiB */
  size_t max_expansions; /* cases one definition may expand to; default 100000 */
  size_t max_steps;      /* steps per case after loop unrolling; default 100000 */
  size_t max_errors;     /* stop collecting after this many diagnostics; default 100 */
};

/* Load case files. Each path is a .case file or a directory searched recursively for
 * *.case files (sorted by path; directories named `data` are skipped). All files are
 * parsed even after errors, so one call reports every error (up to max_errors); ids and
 * aliases are checked for duplicates across all files.
 * Returns 0 with *out filled, or a negative wsref_err with *out empty:
 *   WSREF_E_INVALID_ARG  at least one case-file error (diags says which)
 *   WSREF_E_IO           a path could not be read (also in diags)
 *   WSREF_E_NOMEM
 * diags may be NULL; otherwise it is appended to (initialise it to {0}). */
int wsc_suite_load_files(const char *const *paths, size_t npaths, const struct wsc_load_opts *opts,
                         struct wsc_suite *out, struct wsc_diags *diags);

/* Parse case text from memory as if it were the file `name` (tests, fuzzing). Same
 * contract as wsc_suite_load_files; relative data paths resolve as for a file `name`. */
int wsc_suite_load_buffer(const char *name, const char *text, size_t len,
                          const struct wsc_load_opts *opts, struct wsc_suite *out,
                          struct wsc_diags *diags);

void wsc_suite_free(struct wsc_suite *s);

/* `wsconform lint FILES...`: load the files (and directories) and print every diagnostic
 * to out (may be NULL) as `file:line:col: message`. Returns the number of diagnostics
 * printed (0 = clean; at most max_errors). */
size_t wsc_lint_files(const char *const *paths, size_t npaths, const struct wsc_load_opts *opts,
                      FILE *out);

/* ------------------------------------------------------------------------------------------
 * Selection.
 */

/* Shell-style glob on whole strings: `*` any run (dots included), `?` one character,
 * `[abc]`/`[a-z]`/`[!a]` classes, `\x` a literal x. */
bool wsc_glob_match(const char *pattern, const char *str);

/* True if glob matches the case's id or its alias. */
bool wsc_case_matches(const struct wsc_case *c, const char *glob);

bool wsc_case_has_tag(const struct wsc_case *c, const char *tag);

/* The run's selection rule (-c/--cases, -x/--exclude):
 *   - no include patterns: every case not tagged `perf`;
 *   - an include pattern "all": every case;
 *   - otherwise: the cases some include pattern matches (perf ones too when matched);
 * minus the cases some exclude pattern matches. */
bool wsc_case_selected(const struct wsc_case *c, const char *const *include, size_t ninclude,
                       const char *const *exclude, size_t nexclude);

/* Printable names: "MUST", "server", "PASS", "NON-STRICT", "text", "close" ... never NULL. */
const char *wsc_level_name(enum wsc_level l);
const char *wsc_role_name(enum wsc_role r);
const char *wsc_grade_name(enum wsc_grade g);
const char *wsc_expect_kind_name(enum wsc_expect_kind k);
const char *wsc_step_kind_name(enum wsc_step_kind k);

#endif
