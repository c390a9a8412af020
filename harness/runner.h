/* The runner: executes expanded cases (case.h) against a target and judges them into results
 * (result.h).
 *
 * One case = fresh connections (one, or the case's `conn` declarations, opened in order): the
 * opening handshake (default request for the URL, or the case's edits, or its raw bytes),
 * then its steps in order, each on its connection. Everything the target sends goes
 * through the strict observer (observer.h); expectations are matched against the decoded
 * event stream as case.h describes (alternatives fed in parallel, the first surviving one in
 * written order decides). A case ends as soon as its outcome is decided; the runner waits out
 * a timeout only when waiting is the thing being tested (`expect nothing`, a close that never
 * comes).
 *
 * The runner behaves as a conformant client where the case does not say otherwise: it masks
 * frames with fresh keys, answers pings with pongs and a close frame with a close frame (at
 * step boundaries only, never inside a chopped write), and after the last step it closes the
 * connection politely (close 1000, brief wait) without judging that exchange, except for
 * strict-observer findings.
 *
 * STOMP connections (case.h struct wsc_conn_decl) read every data message as STOMP: the
 * STOMP observer (stompwire.h) turns them into STOMP frame and heart-beat events and checks
 * the sender's rules; heart-beats and pings are skipped by expectations that do not ask for
 * them. STOMP steps are encoded for the connection's negotiated version and cut into
 * WebSocket messages as the step says; captures keep values of matched frames for later
 * steps ($name). A target that does not close after a STOMP 1.2 ERROR is a finding.
 *
 * Verdict of a case: the worst grade of its handshake checks and expectation steps
 * (FAIL > NON-STRICT > INFO > PASS); level SHOULD turns FAIL into NON-STRICT, MAY turns it
 * into INFO, level INFO turns every outcome into INFO. Once a case has failed its remaining
 * steps are skipped (the verdict cannot change). A strict-observer finding is a FAIL whatever the level (it is
 * a MUST of its own clause). A requirement (`requires`) the 101 did not select gives
 * UNSUPPORTED. ERROR when the suite could not run the case (connection refused, a payload file
 * unreadable, a client-role case).
 */
#ifndef WSC_RUNNER_H
#define WSC_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "case.h"
#include "conn.h"
#include "result.h"

#define WSC_TIMEOUT_DEFAULT_US (5u * 1000000u)
#define WSC_CONNECT_TIMEOUT_DEFAULT_US (5u * 1000000u)
#define WSC_CLOSE_WAIT_DEFAULT_US (1000000u)
#define WSC_WIRE_PASS_CAP_DEFAULT (16u * 1024u)
#define WSC_STOMP_ERROR_WAIT_DEFAULT_US (1000000u)

typedef struct wsc_runner_options {
  const char *url;            /* the target */
  wsc_conn_options conn;      /* TLS and proxy settings */
  const char *origin;         /* --origin: Origin header in default requests */
  const char *subprotocol;    /* --subprotocol: offered in default requests */
  const char *const *headers; /* --header "Name: value", added to default requests */
  size_t nheaders;
  uint64_t timeout_us;         /* whole-case deadline unless the case sets one;
                                  default WSC_TIMEOUT_DEFAULT_US */
  uint64_t connect_timeout_us; /* TCP + TLS + proxy; default WSC_CONNECT_TIMEOUT_DEFAULT_US */
  uint64_t close_wait_us;      /* the polite close after the last step; default 1 s */
  unsigned jobs;               /* worker threads; 0 = the number of online CPUs */
  size_t wire_cap;             /* wire log octets kept per direction; 0 = WSC_WIRE_CAP_DEFAULT */
  size_t wire_pass_cap;        /* ... for PASS and INFO results; 0 = 16 KiB */
  uint64_t max_kept;           /* payload octets kept per event; 0 = observer default */
  /* STOMP cases (case->stomp) run against stomp_url when it is set, else against url. */
  const char *stomp_url;
  /* $stomp_login, $stomp_passcode, $stomp_host of STOMP cases (connect= sends them) unless a
   * conn line gives login=, passcode=, host=. NULL: login and passcode are not sent, the
   * host is the target URL's host name. */
  const char *stomp_login, *stomp_passcode, *stomp_host;
  /* $run: names unique to the run (queues on real brokers outlive a run). NULL: the runner
   * makes one from the time and its process id. Copied. */
  const char *run_id;
  /* How long a target has to close the connection after sending ERROR (STOMP 1.2 SF-05)
   * before that is a finding; default WSC_STOMP_ERROR_WAIT_DEFAULT_US. */
  uint64_t stomp_error_wait_us;
  /* Called after each case (from worker threads, serialised by the runner). */
  void (*progress)(void *ud, size_t done, size_t total, const wsc_result *r);
  void *progress_ud;
} wsc_runner_options;

void wsc_runner_options_default(wsc_runner_options *o);

/* Shared, read-only state of a run: the parsed URL and the TLS context. */
typedef struct wsc_runner wsc_runner;

/* Returns NULL with a one-line reason (bad URL or stomp_url: WSREF_E_URL in *rc; bad CA file:
 * WSREF_E_TLS). */
wsc_runner *wsc_runner_new(const wsc_runner_options *o, int *rc, char *err, size_t err_len);
void wsc_runner_free(wsc_runner *r);

/* Connect (and TLS-handshake) once without sending anything: is the target (and the STOMP
 * target, when it is another one) reachable? Returns 0 or the connect error with its
 * reason. */
int wsc_runner_probe(wsc_runner *r, char *err, size_t err_len);

/* Run one case into res (zeroed first; metadata copied from the case). Thread-safe. */
void wsc_runner_run_case(wsc_runner *r, const struct wsc_case *c, wsc_result *res);

/* Run cases[0..n) with the configured jobs, appending one result per case to run->results
 * in the given order. Returns 0 or WSREF_E_NOMEM. */
int wsc_runner_run(wsc_runner *r, const struct wsc_case *const *cases, size_t n, wsc_run *run);

/* The request the runner would send for a case (before any write policy): exposed for tests
 * and `wsconform list --verbose`. key is the Sec-WebSocket-Key to use. Returns 0 or an error;
 * *out is malloc'd. */
int wsc_runner_build_request(const wsc_runner *r, const struct wsc_case *c, const char *key,
                             uint8_t **out, size_t *len);

#endif
