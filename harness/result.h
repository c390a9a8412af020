/* The result model: what one run of the harness found, case by case, with its evidence.
 *
 * Every report format (JSON first, then HTML, TAP, JUnit, Markdown) is generated from these
 * structs, and the JSON report loads back into them (diff, baseline, replay), so the model
 * holds only data: no pointers into case definitions, no sockets.
 *
 * Ownership: a wsc_run owns its results; a wsc_result owns every string and buffer it points
 * to (all malloc'd). wsc_result_free()/wsc_run_free() release them.
 *
 * Times: t_us fields are microseconds since the case's connection attempt started; wall-clock
 * stamps are ISO 8601 UTC strings ("2025-01-31T12:00:00.123Z").
 */
#ifndef WSC_RESULT_H
#define WSC_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ordered from best to worst for summaries; names are the stable JSON spellings. */
enum wsc_verdict {
  WSC_PASS = 0,
  WSC_NON_STRICT,  /* a SHOULD was not met: still conformant (a failure under --strict) */
  WSC_INFO,        /* behaviour the spec leaves open: recorded, never a failure */
  WSC_UNSUPPORTED, /* an optional feature the target did not negotiate */
  WSC_FAIL,
  WSC_ERROR, /* the suite could not run the case */
  WSC_VERDICT_COUNT
};

const char *wsc_verdict_name(enum wsc_verdict v); /* "PASS", "NON-STRICT", ... */
/* Returns 0 and sets *v, or WSREF_E_INVALID_ARG. Case-insensitive, accepts "NON_STRICT". */
int wsc_verdict_parse(const char *s, enum wsc_verdict *v);
/* Does this verdict fail a run? FAIL and ERROR always; NON-STRICT when strict. */
bool wsc_verdict_is_failure(enum wsc_verdict v, bool strict);

/* Who ended the conversation: the side that sent the first close frame, or, when no close
 * frame was exchanged, the side that dropped the TCP connection first. */
enum wsc_side { WSC_SIDE_NONE = 0, WSC_SIDE_HARNESS, WSC_SIDE_TARGET };
const char *wsc_side_name(enum wsc_side c); /* "none", "harness", "target" */

/* How the TCP connection ended. */
enum wsc_tcp_end {
  WSC_TCP_OPEN = 0,     /* never ended (case ended before; harness then closed it) */
  WSC_TCP_TARGET_FIN,   /* the target closed its side (we read EOF) */
  WSC_TCP_TARGET_RESET, /* connection reset by the target */
  WSC_TCP_HARNESS,      /* the harness closed the socket first (gave up waiting) */
  WSC_TCP_NEVER,        /* no connection was established */
};
const char *wsc_tcp_end_name(enum wsc_tcp_end e); /* "open", "target-fin", "target-reset",
                                                     "harness", "never" */

typedef struct wsc_close_info {
  enum wsc_side initiated_by;
  bool sent;       /* the harness sent a close frame */
  int sent_code;   /* its code; -1 = none (empty payload) */
  bool received;   /* the target sent a close frame */
  int code;        /* its code; -1 = none (empty payload or no close frame) */
  uint8_t *reason; /* its reason bytes as received (may be invalid UTF-8) */
  size_t reason_len;
  enum wsc_tcp_end tcp;
  bool clean;    /* close frames both ways, then the TCP connection ended
                    with a FIN (not a reset, not dropped by the harness) */
  uint64_t t_us; /* when the TCP connection ended (0 if it did not) */
} wsc_close_info;

/* Something the harness observed from the target. */
enum wsc_event_type {
  WSC_EV_TEXT = 0, /* a complete text message */
  WSC_EV_BINARY,   /* a complete binary message */
  WSC_EV_PING,
  WSC_EV_PONG,
  WSC_EV_CLOSE,   /* a close frame */
  WSC_EV_FRAME,   /* any other frame (reserved opcode, or frame-level capture) */
  WSC_EV_TCP_FIN, /* the target closed the TCP connection */
  WSC_EV_TCP_RESET,
  WSC_EV_TIMEOUT,   /* nothing (more) arrived within the case's wait */
  WSC_EV_HTTP,      /* the handshake response head */
  WSC_EV_ERROR,     /* undecodable input (data after the response that is no frame) */
  WSC_EV_STOMP,     /* a complete STOMP frame (STOMP connections): detail = the command,
                       data = the frame's bytes from the command to the terminating NUL */
  WSC_EV_HEARTBEAT, /* STOMP heart-beat EOLs that began a WebSocket message */
  WSC_EV_TYPE_COUNT
};
const char *wsc_event_type_name(enum wsc_event_type t); /* "text", "binary", "ping", ... */
int wsc_event_type_parse(const char *s, enum wsc_event_type *t);

typedef struct wsc_event {
  enum wsc_event_type type;
  uint64_t t_us;
  uint8_t opcode; /* first frame's opcode for messages */
  bool fin;
  uint8_t rsv;     /* RSV1..3 as bits 2..0 (of the first frame for messages) */
  uint32_t frames; /* frames that made up a message */
  uint64_t len;    /* full payload length */
  uint8_t *data;   /* stored payload: the first data_len bytes, byte-exact */
  size_t data_len; /* < len when the stored copy was capped */
  bool has_sha256;
  uint8_t sha256[32]; /* of the full payload */
  int code;           /* close code, -1 none; HTTP status for WSC_EV_HTTP */
  char *detail;       /* short free text (error name, close reason as text); may be NULL */
  char *conn;         /* the connection's name in a case with several connections, else NULL */
} wsc_event;

/* One acceptable outcome of one expectation step (or one handshake check), as the case
 * stated it, with the grade it earns and what became of it. */
typedef struct wsc_expect_alt {
  int line;               /* source line of the expectation (0 if unknown) */
  enum wsc_verdict grade; /* PASS, NON-STRICT, INFO, or FAIL for an explicit failing branch */
  char **items;           /* human-readable expected events, in order */
  size_t n;
  bool matched;  /* this alternative decided its step */
  char *outcome; /* "matched", or why it did not match; may be NULL */
} wsc_expect_alt;

/* A strict-observer finding: a rule the target broke as a sender, with its clause. */
typedef struct wsc_finding {
  char *rule;    /* stable id: "server-frame-masked", "non-minimal-length", ... */
  char *clause;  /* "RFC6455 5.1" */
  char *message; /* what was seen */
  uint64_t t_us;
  uint64_t rx_offset; /* offset of the offending octet in the received stream */
  char *conn;         /* the connection's name in a case with several connections, else NULL
                         (rx_offset is then an offset in that connection's stream) */
} wsc_finding;

enum wsc_wire_dir { WSC_WIRE_TX = 0, WSC_WIRE_RX, WSC_WIRE_NOTE };
const char *wsc_wire_dir_name(enum wsc_wire_dir d); /* "tx", "rx", "note" */

/* One write, one read, or a note (a sleep, a deadline, a close of the socket). */
typedef struct wsc_wire_chunk {
  enum wsc_wire_dir dir;
  uint64_t t_us;
  uint64_t offset; /* position of the first byte in its direction's stream */
  size_t len;      /* bytes written/read */
  uint8_t *data;   /* the first data_len of them (byte-exact); NULL for notes */
  size_t data_len; /* < len when the log reached its cap */
  char *note;      /* WSC_WIRE_NOTE only */
  char *conn;      /* the connection's name in a case with several connections (offsets are
                      then per connection), NULL for the case's only connection and for notes
                      about the whole case */
} wsc_wire_chunk;

#define WSC_WIRE_CAP_DEFAULT (1u << 20)

typedef struct wsc_wirelog {
  wsc_wire_chunk *chunks;
  size_t n, cap;
  uint64_t total[2];  /* bytes per direction (tx, rx) */
  uint64_t stored[2]; /* bytes stored per direction */
  size_t max_stored;  /* per direction; 0 = WSC_WIRE_CAP_DEFAULT */
  bool has_sha256;
  uint8_t sha256[2][32]; /* of each full stream; set by wsc_wirelog_finish() */
  void *sha_ctx[2];      /* internal (EVP_MD_CTX), NULL once finished or loaded */
} wsc_wirelog;

int wsc_wirelog_add(wsc_wirelog *w, enum wsc_wire_dir dir, uint64_t t_us, const void *p, size_t n);
int wsc_wirelog_note(wsc_wirelog *w, uint64_t t_us, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wsc_wirelog_finish(wsc_wirelog *w);
/* Keep at most max bytes per direction (PASS results do not need a megabyte of evidence).
 * Chunks past the limit are summarised: each run of them becomes one note with their count
 * and octets; the totals and hashes still cover every byte. */
void wsc_wirelog_trim(wsc_wirelog *w, size_t max);
/* Moves src's chunks into dst in time order, tagged with conn (copied; may be NULL), adds
 * its totals and frees src. dst's hashes no longer describe one stream: callers clear
 * has_sha256 after wsc_wirelog_finish(dst). Returns 0 or WSREF_E_NOMEM (src freed anyway). */
int wsc_wirelog_merge(wsc_wirelog *dst, wsc_wirelog *src, const char *conn);
void wsc_wirelog_free(wsc_wirelog *w);

typedef struct wsc_result {
  /* what the case is (copied from its definition) */
  char *id;
  char *title;
  char *alias;  /* Autobahn id or NULL */
  char *clause; /* "RFC6455 5.2 5.6" */
  char *level;  /* "MUST", "SHOULD", "MAY", "INFO" */
  char *area;   /* first component of the id unless the case names one */
  char **tags;
  size_t ntags;
  char *file; /* case file, relative to the cases folder */
  int line;

  /* what happened */
  enum wsc_verdict verdict;
  char *reason;  /* one line: why this verdict */
  char *started; /* ISO 8601 UTC */
  uint64_t duration_us;

  wsc_expect_alt *expected; /* every step's alternatives, in step order */
  size_t nexpected;

  wsc_event *observed;
  size_t nobserved, observed_cap;

  wsc_finding *findings;
  size_t nfindings;

  wsc_close_info close;

  /* the opening handshake, byte-exact */
  uint8_t *request;
  size_t request_len;
  uint8_t *response; /* the response head through the empty line */
  size_t response_len;
  int status; /* 0 if no response head was complete */

  wsc_wirelog wire;
} wsc_result;

/* Run-level facts and options, as recorded in the report. */
typedef struct wsc_run {
  char *tool_version;
  char *run_id;
  char *target;       /* the URL */
  char *stomp_target; /* where STOMP cases ran when not at target (--stomp-url, the embedded
                         server's /stomp), else NULL */
  bool embedded;      /* the target was the embedded reference server */
  char *agent;        /* --agent, else the Server header, else NULL */
  char *started, *finished;
  uint64_t duration_us;
  unsigned jobs;
  uint64_t timeout_ms;
  bool strict;
  char **select; /* --cases patterns */
  size_t nselect;
  char **exclude; /* --exclude patterns */
  size_t nexclude;
  char *origin, *subprotocol, *proxy, *sni, *cacert;
  bool insecure;
  char **headers; /* --header values, "Name: value" */
  size_t nheaders;

  wsc_result *results;
  size_t n, cap;
} wsc_run;

typedef struct wsc_counts {
  size_t total;
  size_t v[WSC_VERDICT_COUNT];
} wsc_counts;

/* Append helpers; strings are copied. Return 0 or WSREF_E_NOMEM. */
int wsc_result_add_event(wsc_result *r, const wsc_event *ev); /* deep copy */
int wsc_result_add_finding(wsc_result *r, const char *rule, const char *clause, uint64_t t_us,
                           uint64_t rx_offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The same for a named connection of a multi-connection case (conn may be NULL). */
int wsc_result_add_finding_conn(wsc_result *r, const char *conn, const char *rule,
                                const char *clause, uint64_t t_us, uint64_t rx_offset,
                                const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Appends an alternative (items copied) and returns it, or NULL on allocation failure. */
wsc_expect_alt *wsc_result_add_expect(wsc_result *r, int line, enum wsc_verdict grade,
                                      const char *const *items, size_t n);
int wsc_expect_alt_push(wsc_expect_alt *a, const char *item);
int wsc_expect_alt_outcome(wsc_expect_alt *a, bool matched, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int wsc_result_set_reason(wsc_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Keep at most max payload octets per observed event (lengths and hashes stay). */
void wsc_result_trim_events(wsc_result *r, size_t max);
void wsc_event_free(wsc_event *ev);
void wsc_result_free(wsc_result *r);

/* Appends a zeroed result and returns it (NULL on allocation failure). */
wsc_result *wsc_run_add(wsc_run *run);
void wsc_run_free(wsc_run *run);
void wsc_run_count(const wsc_run *run, wsc_counts *all);
/* Counts for the results whose area is `area`. */
void wsc_run_count_area(const wsc_run *run, const char *area, wsc_counts *c);
/* Distinct areas in first-appearance order; *n receives the count. Pointers are into run;
 * the array is malloc'd (free it). */
const char **wsc_run_areas(const wsc_run *run, size_t *n);
const wsc_result *wsc_run_find(const wsc_run *run, const char *id);

/* SHA-256 of p[0..n). */
void wsc_sha256(const void *p, size_t n, uint8_t out[32]);

/* "2025-01-31T12:00:00.123Z" for a CLOCK_REALTIME timespec. */
void wsc_iso_time(char out[32], long long sec, long nsec);

/* String helpers used across the harness. */
char *wsc_strdup(const char *s); /* NULL-safe */
char *wsc_strndup(const void *s, size_t n);
char *wsc_memdup(const void *p, size_t n);
int wsc_strv_push(char ***v, size_t *n, const char *s);
void wsc_strv_free(char **v, size_t n);

#endif
