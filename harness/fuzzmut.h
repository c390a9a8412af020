/* The mutation engine of `wsconform fuzz`, and the case writer.
 *
 * A mutant is a loaded, expanded case of the corpus (case.h) plus a short list of mutations,
 * each aimed at one step of that case (or at its opening handshake): frame fields, declared
 * lengths, how bytes are cut into TCP writes and how long the suite waits between them,
 * payload bytes and UTF-8 sequences, handshake request lines and headers, STOMP commands,
 * headers, content-length, terminators and message cuts, plus steps dropped, duplicated or
 * inserted (crafted frames from a table). Mutations never touch the case in memory: they are
 * applied when the case is written back as text in the case language (cases/README.md), so
 * every mutant the campaign runs is a case file by construction, and a finding is that file.
 *
 * Determinism: generation draws everything from one splitmix64 state, so the same case and
 * the same state always give the same mutations, and the same mutations always render to the
 * same text. Parameters that depend on the case (a payload's length) are resolved when
 * rendering, from the case alone.
 *
 * Two renderings:
 *   - faithful (opts->fuzz false): the case as the parser understood it; loading the text
 *     gives the same model (the unit tests check text -> model -> text is a fixpoint over the
 *     whole corpus);
 *   - campaign form (opts->fuzz true): expectations become lenient (`else=pass` with short
 *     timeouts: they pace the script without judging the target), sleeps and delays are
 *     clamped, and the oracles the campaign relies on are added, so that a replay with
 *     `wsconform run --case FILE URL` FAILs exactly when the finding reproduces:
 *       family STEPS:     a second connection `fzprobe`, opened with the case, sends a ping
 *                         after the last step and must get its pong within probe_timeout
 *                         (a crashed or hung target cannot answer); only for cases that
 *                         send the default request, since request edits apply to it too;
 *       family HANDSHAKE: `expect status 100..599`: a complete HTTP response must come;
 *     the strict observer's findings fail a replay anyway. A mutant without a probe
 *     connection (the handshake family, whose edits apply to every connection of a case;
 *     edited, pipelined or refused requests) can get a second case (opts->probe_case): a probe
 *     whose request is written in two pieces, the second after the first case's deadline,
 *     so that it is connected before the mutant runs whatever order or parallelism the
 *     replay uses, and fails if the target dies or hangs meanwhile.
 */
#ifndef WSC_FUZZMUT_H
#define WSC_FUZZMUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "case.h"

/* Mutations per mutant at most (generation draws 1 + a geometric count up to this). */
#define WSC_MUT_MAX 6

/* Largest payload that is materialised to be mutated (bytes, UTF-8, truncation). */
#define WSC_MUT_MAX_PAYLOAD_DEFAULT (64u * 1024u)
#define WSC_MUT_EXPECT_TIMEOUT_DEFAULT_US 250000u
#define WSC_MUT_PROBE_TIMEOUT_DEFAULT_US 2000000u
#define WSC_MUT_MAX_SLEEP_DEFAULT_US 250000u
/* The expectations of one mutant share this wait when their own timeouts would add up to
 * more (each keeps at least 10 ms). */
#define WSC_MUT_EXPECT_TOTAL_US 4000000u

/* A mutant mutates either the steps or the opening handshake: the oracle of a replay differs
 * (see above), and a handshake edit applies to every connection of a case. */
enum wsc_mut_family { WSC_MUT_STEPS = 0, WSC_MUT_HANDSHAKE };

enum wsc_mut_kind {
  /* any step (step == nsteps: at the end) */
  WSC_MUT_DROP_STEP = 0, /* the step is left out */
  WSC_MUT_DUP_STEP,      /* a bytes-writing step is written twice */
  WSC_MUT_INSERT,        /* a crafted frame before the step: template a, parameter b */
  WSC_MUT_SLEEP,         /* a pause of a us before the step */
  /* frames (send TYPE) */
  WSC_MUT_FIN,     /* FIN flipped */
  WSC_MUT_RSV,     /* RSV field = a (1-7) */
  WSC_MUT_OPCODE,  /* opcode = a (0-15) */
  WSC_MUT_MASK,    /* a = 0: unmasked; else the fixed key b */
  WSC_MUT_LEN,     /* declared length = a, whatever is sent */
  WSC_MUT_LENFORM, /* length encoding: a = 16 or 64 (7 when it fits) */
  WSC_MUT_FRAG,    /* sent as a message of a-octet frames */
  /* payloads: frame payloads, raw bytes, STOMP bodies */
  WSC_MUT_BYTES,  /* a (1-4) octets changed, flipped or inserted, drawn from b */
  WSC_MUT_UTF8,   /* UTF-8 sequence a of the table inserted at position b % (len + 1) */
  WSC_MUT_TRUNC,  /* only the first a octets are kept (shrinking uses it too) */
  WSC_MUT_EXTEND, /* a octets appended, pattern from b */
  /* how bytes reach the wire (frames, raw bytes, flushes, STOMP steps) */
  WSC_MUT_CHOP,  /* TCP writes of a octets */
  WSC_MUT_SPLIT, /* cut at a (and b when b > a) */
  WSC_MUT_DELAY, /* a us between the pieces (clamped) */
  /* the opening handshake */
  WSC_MUT_HS_REMOVE,  /* header a of the name table removed */
  WSC_MUT_HS_SET,     /* header a set to value b of the value table */
  WSC_MUT_HS_ADD,     /* one more header a with value b */
  WSC_MUT_HS_CASE,    /* header a removed and added back with its name's case changed */
  WSC_MUT_HS_MANY,    /* many filler headers: count a, value size b (table indexes) */
  WSC_MUT_HS_METHOD,  /* method a of its table */
  WSC_MUT_HS_TARGET,  /* request target a of its table */
  WSC_MUT_HS_VERSION, /* HTTP version token a of its table */
  WSC_MUT_HS_BODY,    /* a body of table size a; b: with (or a wrong) Content-Length */
  WSC_MUT_HS_WRITE,   /* the request written in pieces: chop a, delay b (table indexes) */
  /* STOMP frames */
  WSC_MUT_ST_COMMAND,   /* command a of the table (relative to the frame's own command) */
  WSC_MUT_ST_HDR_DROP,  /* header a % n left out */
  WSC_MUT_ST_HDR_DUP,   /* header a % n repeated */
  WSC_MUT_ST_HDR_VALUE, /* header a % n gets value b of the table */
  WSC_MUT_ST_HDR_ADD,   /* header a of the name table with value b of the value table */
  WSC_MUT_ST_CLEN,      /* content-length: a selects none / length + 1 / length - 1 / huge */
  WSC_MUT_ST_TERM,      /* terminator a of the table */
  WSC_MUT_ST_ESCAPE,    /* escape=off, 1.1 or 1.2 (a) */
  WSC_MUT_ST_EOL,       /* eol=lf/crlf (a), b EOLs after the frame */
  WSC_MUT_ST_MSG,       /* how the frame becomes messages: a selects, b parameterises */
  WSC_MUT_KIND_COUNT
};

struct wsc_mutation {
  enum wsc_mut_kind kind;
  size_t step; /* index into the base case's steps; ignored by the handshake kinds */
  uint64_t a, b;
};

/* "rsv", "hs-remove", ... never NULL. */
const char *wsc_mut_kind_name(enum wsc_mut_kind k);

/* One line for notes and reports: "step 3 (send, line 12): rsv=4". */
void wsc_mut_describe(const struct wsc_case *c, const struct wsc_mutation *m, char *out,
                      size_t cap);

/* splitmix64: the next value of *state. */
uint64_t wsc_mut_rand(uint64_t *state);

/* The state of iteration `iter` of a campaign seeded with `seed`: each iteration has its own
 * stream, so iteration i is the same mutant whatever ran before it. */
uint64_t wsc_mut_iter_state(uint64_t seed, uint64_t iter);

/* May this case be mutated as `fam`? HANDSHAKE needs a case with at most one connection and
 * a request built by the runner (not `handshake raw`). */
bool wsc_mut_family_ok(const struct wsc_case *c, enum wsc_mut_family fam);

/* Draws a family (HANDSHAKE one time in five when the case allows it) and 1..cap mutations
 * (cap <= WSC_MUT_MAX) for case c from *rng. Returns the number written to out. */
size_t wsc_mut_generate(const struct wsc_case *c, uint64_t *rng, enum wsc_mut_family *fam,
                        struct wsc_mutation *out, size_t cap);

/* ------------------------------------------------------------------------------------------
 * The case writer.
 */
struct wsc_render_opts {
  const char *id;           /* case id; NULL = the base case's */
  const char *title;        /* NULL = the base case's */
  const char *const *notes; /* note lines written first (then the base case's own notes) */
  size_t nnotes;
  bool fuzz; /* campaign form (see the top of this file) */
  enum wsc_mut_family family;
  uint64_t expect_timeout_us; /* fuzz: wait per expectation; 0 = default */
  uint64_t probe_timeout_us;  /* fuzz: the probe's wait for its pong; 0 = default */
  uint64_t max_sleep_us;      /* fuzz: sleeps and the delays of one write are clamped to it */
  uint64_t max_payload;       /* payloads materialised to be mutated; 0 = default */
  bool probe_case;            /* fuzz: a second, probing case when there is no probe connection */
};

void wsc_render_opts_default(struct wsc_render_opts *o);

struct wsc_render_info {
  int probe_line;      /* line (1-based) of the probe's `expect pong`, 0 if none */
  uint64_t timeout_us; /* fuzz: the `timeout` written, an upper bound on the case's run */
  size_t applied;      /* mutations that changed something (others did not apply) */
  bool probe_case;     /* the text holds a second case, the probe (opts->probe_case) */
};

/* Writes case c with mutations m[0..nm) as case-language text (*text malloc'd, NUL-
 * terminated; *len its length; info may be NULL). Returns 0, WSREF_E_INVALID_ARG with a
 * reason in err when the case cannot be written back (a payload with a $variable that must
 * be materialised, a value no token can hold), or WSREF_E_NOMEM. */
int wsc_mut_render(const struct wsc_case *c, const struct wsc_mutation *m, size_t nm,
                   const struct wsc_render_opts *o, char **text, size_t *len,
                   struct wsc_render_info *info, char *err, size_t err_len);

#endif
