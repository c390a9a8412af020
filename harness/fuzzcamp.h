/* `wsconform fuzz URL`: live fuzz campaigns against a running server.
 *
 * Each iteration takes a case of the corpus, mutates it (fuzzmut.h: the mutant is a case file
 * by construction), runs it with the runner (runner.h) and watches the target:
 *
 *   crash     with --exec, the target process exited; otherwise a new connection is refused
 *             after the case;
 *   hang      a new connection gets no handshake response or no pong within --hang-timeout
 *             after the case, or the mutant's probe connection got no pong within it while
 *             the case ran;
 *   protocol  the strict observer found a rule the target broke as a sender (observer.h,
 *             stompwire.h), keyed by rule and clause; and, for mutated requests, a target
 *             that closed the connection without any HTTP response (RFC 6455 4.2.1 wants an
 *             error response: rule handshake-unanswered);
 *   memory    with --exec, the target's RSS (/proc/PID/statm, sampled every 20 ms while the
 *             case runs) grew more than --rss-growth above its RSS after start-up.
 *
 * Deterministic: iteration i of a campaign with seed S is always the same mutant of the same
 * base case (wsc_mut_iter_state); --time and --iterations bound the campaign, --shrink-time
 * each finding's minimisation, --hang-timeout every wait. A finding is confirmed by running
 * it again (on a restarted target for crashes, hangs and memory growth), then shrunk: each
 * mutation is dropped while the finding still reproduces, then each step of the base case,
 * then the payloads are halved. It is written as OUT/<kind>-NNN.case (a case with the
 * campaign's oracles, see fuzzmut.h) with OUT/<kind>-NNN.txt (what was seen, the target's
 * output around a crash), and replayed from the file once more to record that it
 * reproduces. Duplicates (same rule, or same shrunk mutation kinds) are counted, not
 * written again.
 *
 * Targets other than loopback addresses need --allow-remote: a campaign is an attack.
 */
#ifndef WSC_FUZZCAMP_H
#define WSC_FUZZCAMP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "case.h"
#include "runner.h"

#define WSC_FUZZ_TIME_DEFAULT_US (60u * 1000000u)
#define WSC_FUZZ_HANG_TIMEOUT_DEFAULT_US (2u * 1000000u)
#define WSC_FUZZ_SHRINK_TIME_DEFAULT_US (30u * 1000000u)
#define WSC_FUZZ_START_TIMEOUT_DEFAULT_US (10u * 1000000u)
#define WSC_FUZZ_RSS_GROWTH_DEFAULT_KIB (256u * 1024u)
#define WSC_FUZZ_MAX_FINDINGS_DEFAULT 10u
/* Base cases with more steps than this (long loops) are left out: too slow per mutant. */
#define WSC_FUZZ_MAX_BASE_STEPS 2000u

extern const char wsc_fuzz_usage[];

/* The `fuzz` subcommand: argv[0] is "fuzz". Returns the exit status: 0 no finding,
 * 1 findings, 2 usage error, 3 target unreachable. */
int wsc_fuzz_main(int argc, char **argv);

enum wsc_fuzz_kind {
  WSC_FUZZ_NONE = 0,
  WSC_FUZZ_CRASH,
  WSC_FUZZ_HANG,
  WSC_FUZZ_PROTOCOL,
  WSC_FUZZ_MEMORY,
  WSC_FUZZ_KIND_COUNT
};
const char *wsc_fuzz_kind_name(enum wsc_fuzz_kind k); /* "crash", "hang", ... */

typedef struct wsc_fuzz_options {
  /* the runner's options: url (required), stomp_url, connection settings, headers; the
   * campaign sets its own timeouts, jobs and run id */
  wsc_runner_options runner;
  const struct wsc_case *const *bases; /* the corpus to mutate (see wsc_fuzz_eligible) */
  size_t nbases;
  uint64_t seed;
  uint64_t time_us;    /* 0 = WSC_FUZZ_TIME_DEFAULT_US */
  uint64_t iterations; /* 0 = no limit */
  /* --exec: the command (with {port} already substituted), run as sh -c 'exec CMD', and the
   * loopback port it listens on; NULL = the target runs on its own */
  const char *exec_cmd;
  uint64_t start_timeout_us;   /* 0 = default */
  uint64_t hang_timeout_us;    /* 0 = default */
  uint64_t expect_timeout_us;  /* 0 = fuzzmut's default */
  uint64_t shrink_time_us;     /* 0 = default */
  uint64_t rss_growth_kib;     /* 0 = default */
  size_t max_findings;         /* per kind; 0 = default */
  const char *out_dir;         /* required: created if missing */
  const char *run_id;          /* names in findings; NULL = "fuzz" */
  FILE *progress;              /* progress line and finding lines; NULL = silent */
  bool verbose;                /* and a line per mutant */
  volatile sig_atomic_t *stop; /* set asynchronously to end the campaign; may be NULL */
} wsc_fuzz_options;

typedef struct wsc_fuzz_finding {
  enum wsc_fuzz_kind kind;
  char *path;      /* the .case file written */
  char *detail;    /* one line: what was seen */
  char *signature; /* what duplicates share */
  char *base_id;   /* the corpus case it came from */
  uint64_t iteration;
  size_t nmutations; /* after shrinking */
  bool confirmed;    /* reproduced when run again */
  bool replayed;     /* the written file reproduced it (the campaign's oracles) */
  bool replay_fails; /* ... and its verdict was FAIL or ERROR, as `wsconform run` shows */
} wsc_fuzz_finding;

typedef struct wsc_fuzz_stats {
  uint64_t iterations;  /* mutants run */
  uint64_t execs;       /* cases run, shrinking and replays included */
  uint64_t invalid;     /* mutants that did not load back (writer limits) */
  uint64_t restarts;    /* --exec target starts after the first */
  uint64_t duplicates;  /* findings like one already written */
  uint64_t unconfirmed; /* findings that did not reproduce (not written, crashes aside) */
  uint64_t elapsed_us;  /* the fuzzing loop */
  uint64_t total_us;    /* everything, shrinking included */
  size_t found[WSC_FUZZ_KIND_COUNT]; /* every detection, duplicates included */
  wsc_fuzz_finding *findings;        /* written */
  size_t nfindings;
  char stop_reason[200]; /* why the campaign ended */
} wsc_fuzz_stats;

/* Which cases can be mutated: a server-role case with at most WSC_FUZZ_MAX_BASE_STEPS steps
 * whose campaign form loads back. */
bool wsc_fuzz_eligible(const struct wsc_case *c);

/* Runs a campaign. Returns 0 (stats filled; findings may be empty), WSREF_E_CONNECT when the
 * target is unreachable (or --exec's command does not come up), WSREF_E_INVALID_ARG for bad
 * options, WSREF_E_IO when the output folder cannot be written; err says why. */
int wsc_fuzz_campaign(const wsc_fuzz_options *o, wsc_fuzz_stats *st, char *err, size_t err_len);
void wsc_fuzz_stats_free(wsc_fuzz_stats *st);

/* The summary table (iterations, exec/s, findings by kind) as printed at the end. */
void wsc_fuzz_print_summary(FILE *out, const wsc_fuzz_options *o, const wsc_fuzz_stats *st);

/* Helpers, exposed for tests. */
bool wsc_fuzz_is_loopback(const char *host); /* localhost, 127.0.0.0/8, ::1 */
/* Replaces every "{port}" in `in` by port; *out malloc'd. Returns 0 or WSREF_E_NOMEM. */
int wsc_fuzz_subst_port(const char *in, unsigned port, char **out);
/* A free TCP port on 127.0.0.1 (bound and released). */
int wsc_fuzz_free_port(uint16_t *port);
/* Resident set size of a process, in KiB (/proc/PID/statm). */
int wsc_fuzz_rss_kib(int pid, uint64_t *kib);

#endif
