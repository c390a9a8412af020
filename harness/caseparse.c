/* Case-file parser (see cases/README.md for the language, case.h for the model).
 *
 * Pipeline per file: read -> lex into logical lines of raw tokens (comments, quotes,
 * parentheses, `+` glue and `\` continuations resolved) -> split into the defaults section
 * and case definitions -> per definition, expand `each` into bindings -> per binding,
 * interpret the lines (substituting {vars} token by token, unrolling `loop`) into one
 * struct wsc_case. Errors are collected, never fatal, so one run reports them all; a
 * definition whose first failing expansion reported errors is not expanded further (the
 * same mistake would be reported once per value otherwise).
 */
#include "caseparse.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "payload.h"
#include "stompwire.h"

/* ---------------------------------------------------------------------------------------
 * Small helpers
 */

/* Arrays in the model carry only a count; capacity is the next power of two, so growing
 * by one is amortised O(1) without a capacity field. */
static int grow(void **arr, size_t n, size_t elem) {
  if (n != 0 && (n & (n - 1)) != 0) return 0;
  size_t ncap = n ? n * 2 : 1;
  void *p = realloc(*arr, ncap * elem);
  if (!p) return WSREF_E_NOMEM;
  *arr = p;
  return 0;
}
#define PUSH(arr, n, val) \
  (grow((void **)&(arr), (n), sizeof *(arr)) == 0 ? ((arr)[(n)++] = (val), 0) : WSREF_E_NOMEM)

static char *xstrndup(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (!r) abort(); /* the harness cannot do anything useful without memory */
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}
static char *xstrdup(const char *s) {
  return xstrndup(s, strlen(s));
}

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz);
  if (!p) abort();
  return p;
}

#define XPUSH(arr, n, val)               \
  do {                                   \
    if (PUSH(arr, n, val) != 0) abort(); \
  } while (0)

static bool streq(const char *a, const char *b) {
  return strcmp(a, b) == 0;
}

static bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_id_text(const char *s) {
  if (!*s) return false;
  for (; *s; s++) {
    char c = *s;
    if (!(is_ident_char(c) || c == '.' || c == '-')) return false;
  }
  return true;
}

/* RFC 7230 tchar */
static bool is_token_text(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (is_ident_char(c)) continue;
    if (!strchr("!#$%&'*+-.^`|~", c) || c == 0) return false;
  }
  return true;
}

/* ---------------------------------------------------------------------------------------
 * Diagnostics
 */

void wsc_diags_free(struct wsc_diags *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].file);
    free(d->v[i].msg);
  }
  free(d->v);
  d->v = NULL;
  d->n = d->cap = 0;
}

void wsc_diags_print(const struct wsc_diags *d, FILE *out) {
  for (size_t i = 0; i < d->n; i++) {
    const struct wsc_diag *g = &d->v[i];
    if (g->line > 0)
      fprintf(out, "%s:%d:%d: %s\n", g->file, g->line, g->col, g->msg);
    else
      fprintf(out, "%s: %s\n", g->file, g->msg);
  }
}

struct loader {
  struct wsc_load_opts opts;
  struct wsc_diags *diags;
  size_t nerrors; /* all errors, also those past max_errors */
  int io_error;
};

static void vdiag(struct loader *L, const char *file, int line, int col, const char *suffix,
                  const char *fmt, va_list ap) {
  L->nerrors++;
  if (L->diags->n >= L->opts.max_errors) return;
  char buf[1024];
  int k = vsnprintf(buf, sizeof buf, fmt, ap);
  if (k < 0) k = 0;
  if (suffix && *suffix && (size_t)k < sizeof buf)
    snprintf(buf + k, sizeof buf - (size_t)k, "%s", suffix);
  if (L->diags->n == L->diags->cap) {
    size_t ncap = L->diags->cap ? L->diags->cap * 2 : 16;
    struct wsc_diag *v = realloc(L->diags->v, ncap * sizeof *v);
    if (!v) abort();
    L->diags->v = v;
    L->diags->cap = ncap;
  }
  struct wsc_diag *g = &L->diags->v[L->diags->n++];
  g->file = xstrdup(file);
  g->line = line;
  g->col = col;
  g->msg = xstrdup(buf);
}

static void diag(struct loader *L, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void diag(struct loader *L, const char *file, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdiag(L, file, line, col, NULL, fmt, ap);
  va_end(ap);
}

/* ---------------------------------------------------------------------------------------
 * Values shared with the runner
 */

void wsc_load_opts_default(struct wsc_load_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_payload = 1ull << 30;
  o->max_expansions = 100000;
  o->max_steps = 100000;
  o->max_errors = 100;
}

int wsc_parse_duration(const char *s, size_t len, uint64_t *us) {
  size_t i = 0;
  uint64_t whole = 0, frac = 0, fdiv = 1;
  size_t nd = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
    if (whole > UINT64_MAX / 10 - 10) return WSREF_E_INVALID_ARG;
    whole = whole * 10 + (uint64_t)(s[i] - '0');
  }
  if (i < len && s[i] == '.') {
    i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
      if (fdiv >= 1000000000ull) return WSREF_E_INVALID_ARG;
      frac = frac * 10 + (uint64_t)(s[i] - '0');
      fdiv *= 10;
    }
  }
  if (nd == 0) return WSREF_E_INVALID_ARG;
  uint64_t mul;
  size_t rest = len - i;
  if (rest == 2 && memcmp(s + i, "us", 2) == 0)
    mul = 1;
  else if (rest == 2 && memcmp(s + i, "ms", 2) == 0)
    mul = 1000;
  else if (rest == 1 && s[i] == 's')
    mul = 1000000;
  else
    return WSREF_E_INVALID_ARG;
  if (whole > UINT64_MAX / mul) return WSREF_E_INVALID_ARG;
  *us = whole * mul + frac * mul / fdiv;
  return 0;
}

/* ---------------------------------------------------------------------------------------
 * Lexer
 */

struct tok {
  const char *p; /* raw text inside its logical line */
  size_t n;
  int line, col;
  /* line/col of each byte of the token, so that an error at byte k of a payload can be
   * placed exactly, even in a token continued over several physical lines */
  const int *lmap, *cmap;
};

/* A logical line: physical lines joined by `\` continuations. */
struct lline {
  struct tok *t;
  size_t n;
  char *text; /* the joined text the tokens point into */
  int *lmap, *cmap;
};

struct srcfile {
  const char *name; /* suite-owned */
  char *buf;
  size_t len;
  struct lline *lines;
  size_t nlines;
  char *data_dir;
};

struct span {
  size_t a, b;
};

/* Splits one line into token spans. Returns the offset of an unterminated quote, or -1. */
static long scan_line(const char *ls, size_t len, struct span **out, size_t *nout) {
  size_t i = 0;
  *out = NULL;
  *nout = 0;
  while (i < len) {
    while (i < len && (ls[i] == ' ' || ls[i] == '\t')) i++;
    if (i >= len || ls[i] == '#') break;
    size_t start = i;
    if (ls[i] == ';') {
      i++;
    } else {
      int depth = 0;
      bool inq = false;
      size_t qpos = 0;
      for (;;) {
        while (i < len) {
          char c = ls[i];
          if (inq) {
            if (c == '\\' && i + 1 < len) {
              i += 2;
              continue;
            }
            if (c == '"') inq = false;
          } else if (c == '"') {
            inq = true;
            qpos = i;
          } else if (c == '(') {
            depth++;
          } else if (c == ')') {
            if (depth > 0) depth--;
          } else if (depth == 0 && (c == ' ' || c == '\t' || c == ';')) {
            break;
          }
          i++;
        }
        if (inq) return (long)qpos;
        /* `a + b` is one token: payload expressions read better with blanks. A `+`
         * followed only by a continuation `\` is glued after the lines are joined. */
        size_t j = i;
        while (j < len && (ls[j] == ' ' || ls[j] == '\t')) j++;
        bool glue = i > start && ls[i - 1] == '+';
        if (!glue && j < len && ls[j] == '+') {
          j++;
          while (j < len && (ls[j] == ' ' || ls[j] == '\t')) j++;
          glue = true;
        }
        if (glue && j < len && ls[j] != '#' && ls[j] != ';') {
          size_t k = j + 1;
          while (k < len && (ls[k] == ' ' || ls[k] == '\t')) k++;
          bool lone_backslash = ls[j] == '\\' && k >= len;
          if (!lone_backslash) {
            i = j;
            continue;
          }
        }
        break;
      }
    }
    struct span sp = {start, i};
    XPUSH(*out, *nout, sp);
  }
  return -1;
}

static void lline_free(struct lline *l) {
  free(l->t);
  free(l->text);
  free(l->lmap);
  free(l->cmap);
}

static void lex(struct loader *L, struct srcfile *f) {
  const char *b = f->buf, *end = f->buf + f->len;
  int line = 0;
  /* the logical line being built */
  char *text = NULL;
  int *lm = NULL, *cm = NULL;
  size_t tn = 0, tcap = 0;
  bool cont = false;
  while (b < end || cont) {
    bool last = b >= end;
    const char *ls = b;
    size_t len = 0;
    if (!last) {
      line++;
      const char *le = memchr(b, '\n', (size_t)(end - b));
      if (!le) le = end;
      len = (size_t)(le - ls);
      if (len > 0 && ls[len - 1] == '\r') len--;
      b = le < end ? le + 1 : end;
    }
    struct span *sp;
    size_t nsp;
    scan_line(ls, len, &sp, &nsp);
    bool more = nsp > 0 && sp[nsp - 1].b - sp[nsp - 1].a == 1 && ls[sp[nsp - 1].a] == '\\';
    size_t take = more ? sp[nsp - 1].a : len;
    free(sp);
    if (tn + take + 2 > tcap) {
      while (tn + take + 2 > tcap) tcap = tcap ? tcap * 2 : 128;
      text = realloc(text, tcap);
      lm = realloc(lm, tcap * sizeof *lm);
      cm = realloc(cm, tcap * sizeof *cm);
      if (!text || !lm || !cm) abort();
    }
    for (size_t k = 0; k < take; k++) {
      text[tn] = ls[k];
      lm[tn] = line;
      cm[tn] = (int)k + 1;
      tn++;
    }
    if (more && !last) {
      text[tn] = ' ';
      lm[tn] = line;
      cm[tn] = (int)take + 1;
      tn++;
      cont = true;
      continue;
    }
    cont = false;
    /* tokenize the logical line */
    long bad = scan_line(text, tn, &sp, &nsp);
    if (bad >= 0) {
      diag(L, f->name, lm[bad], cm[bad], "unterminated string");
    } else if (nsp > 0) {
      struct lline ll = {0};
      ll.text = xstrndup(text, tn);
      ll.lmap = xcalloc(tn, sizeof *ll.lmap);
      ll.cmap = xcalloc(tn, sizeof *ll.cmap);
      memcpy(ll.lmap, lm, tn * sizeof *lm);
      memcpy(ll.cmap, cm, tn * sizeof *cm);
      for (size_t k = 0; k < nsp; k++) {
        struct tok t = {ll.text + sp[k].a, sp[k].b - sp[k].a, ll.lmap[sp[k].a],
                        ll.cmap[sp[k].a],  ll.lmap + sp[k].a, ll.cmap + sp[k].a};
        XPUSH(ll.t, ll.n, t);
      }
      XPUSH(f->lines, f->nlines, ll);
    }
    free(sp);
    tn = 0;
    if (last) break;
  }
  free(text);
  free(lm);
  free(cm);
}

static bool tok_is(const struct tok *t, const char *s) {
  size_t n = strlen(s);
  return t->n == n && memcmp(t->p, s, n) == 0;
}

/* ---------------------------------------------------------------------------------------
 * Parse context
 */

struct binding {
  const char *name;
  const char *value;
};

/* A token after {var} substitution. */
struct stok {
  char *s;
  int line, col;
  bool changed;
  const struct tok *raw;
};

struct sline {
  struct stok *t;
  size_t n;
};

struct defaults {
  char **clauses;
  size_t nclauses;
  bool has_level, has_role;
  enum wsc_level level;
  enum wsc_role role;
  char **tags;
  size_t ntags;
  struct wsc_requirement *reqs;
  size_t nreqs;
  uint64_t timeout_us;
};

struct pctx {
  struct loader *L;
  struct srcfile *f;
  const char *suffix; /* appended to messages: " (with n=1)" */
  struct binding *b;
  size_t nb;
  struct wsc_case *c;
  size_t nerr;
  bool in_defaults;
  struct defaults *def;

  struct wsc_write pol; /* the current `write` policy */
  bool pending;         /* coalesced sends not yet flushed */

  /* connections and STOMP */
  size_t cur_conn;     /* the connection of the line being interpreted */
  bool prefixed;       /* the line named its connection */
  bool seen_step;      /* a step was emitted: `conn` lines must come first */
  size_t pending_conn; /* the connection whose sends are TCP-coalesced */
  bool spack;          /* `stomp coalesce` gathering on spack_conn */
  size_t spack_conn;
  int spack_line;
  long alt_conn; /* the connection of the either block being read, -1 none yet */
  char **caps;   /* names captured so far, in step order */
  size_t ncaps;
  struct {
    size_t conn;
    int line, col;
  } * wsmsg; /* WebSocket message expectations */
  size_t nwsmsg;

  bool seen_title, seen_level, seen_role, seen_timeout, seen_alias, own_clause;
  bool too_many_steps;
  int hs_raw_line;                   /* line of `handshake raw`, 0 if none */
  int hs_edit_line;                  /* line of the first request edit, 0 if none */
  int first_msg_line, first_msg_col; /* first text/binary/message expectation */
  int first_frame_line, first_frame_col;
};

static void perr(struct pctx *x, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void perr(struct pctx *x, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdiag(x->L, x->f->name, line, col, x->suffix, fmt, ap);
  va_end(ap);
  x->nerr++;
}

#define TERR(x, tk, ...) perr((x), (tk)->line, (tk)->col, __VA_ARGS__)

static const char *lookup(struct pctx *x, const char *name, size_t n) {
  for (size_t i = x->nb; i-- > 0;)
    if (strlen(x->b[i].name) == n && memcmp(x->b[i].name, name, n) == 0) return x->b[i].value;
  return NULL;
}

/* Substitute {name} (an identifier in braces). Anything else is literal, so JSON-looking
 * payloads need no escaping; the `{` of a \u{...} escape never starts a name, so
 * "\u{{cp}}" is the escape of the code point in variable cp. */
static int subst_tok(struct pctx *x, const struct tok *t, struct stok *out) {
  size_t cap = t->n + 16, n = 0;
  char *s = malloc(cap);
  if (!s) abort();
  bool changed = false;
  for (size_t i = 0; i < t->n;) {
    const char *add = t->p + i;
    size_t addn = 1, adv = 1;
    bool after_u = i >= 2 && t->p[i - 1] == 'u' && t->p[i - 2] == '\\';
    if (t->p[i] == '{' && !after_u && i + 1 < t->n && is_ident_start(t->p[i + 1])) {
      size_t j = i + 1;
      while (j < t->n && is_ident_char(t->p[j])) j++;
      if (j < t->n && t->p[j] == '}') {
        const char *v = lookup(x, t->p + i + 1, j - i - 1);
        if (!v) {
          perr(x, t->line, t->col + (int)i, "unknown variable '%.*s'", (int)(j - i - 1),
               t->p + i + 1);
          free(s);
          return -1;
        }
        add = v;
        addn = strlen(v);
        adv = j + 1 - i;
        changed = true;
      }
    }
    if (n + addn + 1 > cap) {
      while (n + addn + 1 > cap) cap *= 2;
      char *ns = realloc(s, cap);
      if (!ns) abort();
      s = ns;
    }
    memcpy(s + n, add, addn);
    n += addn;
    i += adv;
  }
  s[n] = 0;
  out->s = s;
  out->line = t->line;
  out->col = t->col;
  out->changed = changed;
  out->raw = t;
  return 0;
}

static void sline_free(struct sline *s) {
  for (size_t i = 0; i < s->n; i++) free(s->t[i].s);
  free(s->t);
  s->t = NULL;
  s->n = 0;
}

static int subst_line(struct pctx *x, const struct lline *l, struct sline *out) {
  out->t = xcalloc(l->n, sizeof *out->t);
  out->n = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (subst_tok(x, &l->t[i], &out->t[i]) != 0) {
      sline_free(out);
      return -1;
    }
    out->n++;
  }
  return 0;
}

/* The text from token i to the end of the logical line, with the original spacing between
 * tokens of one physical line (header values keep their inner whitespace). */
static char *rest_of_line(const struct sline *L, size_t i, size_t end) {
  size_t cap = 64, n = 0;
  char *s = malloc(cap);
  if (!s) abort();
  for (size_t k = i; k < end; k++) {
    const char *gap = "";
    size_t gapn = 0;
    if (k > i) {
      const struct tok *a = L->t[k - 1].raw, *b = L->t[k].raw;
      if (a->line == b->line) {
        gap = a->p + a->n;
        gapn = (size_t)(b->p - gap);
      } else {
        gap = " ";
        gapn = 1;
      }
    }
    size_t tn = strlen(L->t[k].s);
    while (n + gapn + tn + 1 > cap) cap *= 2;
    char *ns = realloc(s, cap);
    if (!ns) abort();
    s = ns;
    memcpy(s + n, gap, gapn);
    n += gapn;
    memcpy(s + n, L->t[k].s, tn);
    n += tn;
  }
  s[n] = 0;
  return s;
}

/* A quoted single token "..." with \" \\ \n \r \t escapes, or NULL if not quoted. */
static char *unquote(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || s[0] != '"' || s[n - 1] != '"') return NULL;
  /* The closing quote must be the only unescaped one after the opening. */
  char *r = malloc(n);
  if (!r) abort();
  size_t k = 0;
  for (size_t i = 1; i < n - 1; i++) {
    char c = s[i];
    if (c == '"') {
      free(r);
      return NULL;
    }
    if (c == '\\' && i + 1 < n - 1) {
      char e = s[++i];
      switch (e) {
        case 'n':
          c = '\n';
          break;
        case 'r':
          c = '\r';
          break;
        case 't':
          c = '\t';
          break;
        case '"':
          c = '"';
          break;
        case '\\':
          c = '\\';
          break;
        default:
          r[k++] = '\\';
          c = e;
          break;
      }
    }
    r[k++] = c;
  }
  r[k] = 0;
  return r;
}

/* Text argument: one quoted token, or the rest of the line verbatim. */
static char *text_arg(const struct sline *L, size_t i, size_t end) {
  if (end == i + 1) {
    char *u = unquote(L->t[i].s);
    if (u) return u;
  }
  return rest_of_line(L, i, end);
}

/* Split "key=value" tokens: true if the token starts with an identifier followed by '='. */
static bool kv(const struct stok *t, const char **key, size_t *keyn, const char **val) {
  const char *s = t->s;
  if (!is_ident_start(s[0])) return false;
  size_t i = 1;
  while (is_ident_char(s[i]) || s[i] == '-') i++;
  if (s[i] != '=') return false;
  *key = s;
  *keyn = i;
  *val = s + i + 1;
  return true;
}

static bool key_is(const char *key, size_t n, const char *want) {
  return strlen(want) == n && memcmp(key, want, n) == 0;
}

/* Position of byte `off` of the value part of token t (the value starts `prefix` bytes
 * in). A substituted token no longer maps byte for byte: its start is the best we have. */
static void val_pos(const struct stok *t, size_t prefix, size_t off, int *line, int *col) {
  size_t k = prefix + off;
  const struct tok *r = t->raw;
  if (t->changed || r->n == 0) {
    *line = t->line;
    *col = t->col;
  } else if (k < r->n) {
    *line = r->lmap[k];
    *col = r->cmap[k];
  } else {
    *line = r->lmap[r->n - 1];
    *col = r->cmap[r->n - 1] + 1 + (int)(k - r->n);
  }
}

static int num_arg(struct pctx *x, const struct stok *t, const char *v, const char *what,
                   uint64_t max, uint64_t *out) {
  uint64_t n;
  if (wsc_parse_size(v, strlen(v), &n) != 0 || n > max) {
    if (max == UINT64_MAX)
      TERR(x, t, "bad %s '%s': a number", what, v);
    else
      TERR(x, t, "bad %s '%s': a number from 0 to %llu", what, v, (unsigned long long)max);
    return -1;
  }
  *out = n;
  return 0;
}

static int dur_arg(struct pctx *x, const struct stok *t, const char *v, uint64_t *out) {
  if (wsc_parse_duration(v, strlen(v), out) != 0) {
    TERR(x, t, "bad duration '%s': a number with us, ms or s", v);
    return -1;
  }
  return 0;
}

static int payload_arg(struct pctx *x, const struct stok *t, size_t prefix,
                       struct wsc_payload **out) {
  /* names captured on earlier lines are payload variables too */
  struct wsc_payload_parse_opts po = {.data_dir = x->f->data_dir,
                                      .max_len = x->L->opts.max_payload,
                                      .names = (const char *const *)x->caps,
                                      .nnames = x->ncaps};
  struct wsc_payload_error pe = {0};
  const char *src = t->s + prefix;
  int rc = wsc_payload_parse(src, strlen(src), &po, out, &pe);
  if (rc == WSREF_E_NOMEM) abort();
  if (rc) {
    int line, col;
    val_pos(t, prefix, pe.offset, &line, &col);
    perr(x, line, col, "%s", pe.msg);
    return -1;
  }
  return 0;
}

static int grade_arg(struct pctx *x, const struct stok *t, const char *v, enum wsc_grade *g) {
  if (streq(v, "pass"))
    *g = WSC_GRADE_PASS;
  else if (streq(v, "non-strict"))
    *g = WSC_GRADE_NON_STRICT;
  else if (streq(v, "info"))
    *g = WSC_GRADE_INFO;
  else if (streq(v, "fail"))
    *g = WSC_GRADE_FAIL;
  else {
    TERR(x, t, "bad grade '%s': pass, non-strict, info or fail", v);
    return -1;
  }
  return 0;
}

/* "1000", "3000..4999" (also used for HTTP statuses, with "4xx"). */
static int range_arg(const char *v, uint32_t max, struct wsc_code_range *r) {
  const char *dots = strstr(v, "..");
  uint64_t a, b;
  if (dots) {
    if (wsc_parse_size(v, (size_t)(dots - v), &a) || wsc_parse_size(dots + 2, strlen(dots + 2), &b))
      return -1;
  } else {
    if (wsc_parse_size(v, strlen(v), &a)) return -1;
    b = a;
  }
  if (a > b || b > max) return -1;
  r->lo = (uint32_t)a;
  r->hi = (uint32_t)b;
  return 0;
}

static int split_arg(struct pctx *x, const struct stok *t, const char *v, struct wsc_write *w) {
  free(w->splits);
  w->splits = NULL;
  w->nsplits = 0;
  uint64_t last = 0;
  const char *p = v;
  for (;;) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    uint64_t off;
    if (wsc_parse_size(p, n, &off) != 0 || off == 0 || off <= last) {
      TERR(x, t, "bad split '%s': ascending positive offsets separated by ','", v);
      free(w->splits);
      w->splits = NULL;
      w->nsplits = 0;
      return -1;
    }
    XPUSH(w->splits, w->nsplits, off);
    last = off;
    if (!c) break;
    p = c + 1;
  }
  return 0;
}

static void write_copy(struct wsc_write *dst, const struct wsc_write *src) {
  *dst = *src;
  if (src->nsplits) {
    dst->splits = xcalloc(src->nsplits, sizeof *dst->splits);
    memcpy(dst->splits, src->splits, src->nsplits * sizeof *dst->splits);
  } else {
    dst->splits = NULL;
  }
}

/* ---------------------------------------------------------------------------------------
 * Freeing the model
 */

static void text_free(struct wsc_text *t) {
  free(t->s);
  t->s = NULL;
  t->n = 0;
}

static void regex_free(void *re) {
  if (!re) return;
  regfree(re);
  free(re);
}

static void expect_free(struct wsc_expect *e) {
  wsc_payload_free(e->match.payload);
  free(e->close.codes);
  wsc_payload_free(e->close.reason);
  struct wsc_stomp_expect *se = &e->stomp;
  text_free(&se->command);
  for (size_t i = 0; i < se->nheaders; i++) {
    text_free(&se->headers[i].name);
    text_free(&se->headers[i].value);
    regex_free(se->headers[i].re);
  }
  free(se->headers);
  wsc_payload_free(se->raw);
  text_free(&se->body_re);
  regex_free(se->body_re_c);
  memset(se, 0, sizeof *se);
}

static void stomp_spec_free(struct wsc_stomp_frame_spec *f) {
  text_free(&f->command);
  for (size_t i = 0; i < f->nheaders; i++) {
    text_free(&f->headers[i].name);
    text_free(&f->headers[i].value);
  }
  free(f->headers);
  wsc_payload_free(f->body);
  wsc_payload_free(f->terminator);
  memset(f, 0, sizeof *f);
}

static void text_ptr_free(struct wsc_text *t) {
  if (!t) return;
  text_free(t);
  free(t);
}

static void conn_decl_free(struct wsc_conn_decl *d) {
  free(d->name);
  for (size_t i = 0; i < d->nsubprotocols; i++) free(d->subprotocols[i]);
  free(d->subprotocols);
  free(d->connect);
  text_ptr_free(d->login);
  text_ptr_free(d->passcode);
  text_ptr_free(d->host);
  memset(d, 0, sizeof *d);
}

static void alts_free(struct wsc_alt *alts, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < alts[i].nitems; k++) expect_free(&alts[i].items[k]);
    free(alts[i].items);
  }
  free(alts);
}

static void step_free(struct wsc_step *s) {
  free(s->write.splits);
  wsc_payload_free(s->frame.payload);
  wsc_payload_free(s->raw);
  alts_free(s->expect.alts, s->expect.nalts);
  stomp_spec_free(&s->stomp);
  free(s->msg.at);
  free(s->capture_name);
  text_free(&s->capture_header);
}

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void reqs_free(struct wsc_requirement *r, size_t n) {
  for (size_t i = 0; i < n; i++) free(r[i].value);
  free(r);
}

static void case_free(struct wsc_case *c) {
  free(c->id);
  free(c->title);
  free(c->alias);
  strv_free(c->clauses, c->nclauses);
  strv_free(c->tags, c->ntags);
  reqs_free(c->requires, c->nrequires);
  strv_free(c->notes, c->nnotes);
  free(c->vars);
  struct wsc_handshake *h = &c->hs;
  wsc_payload_free(h->raw);
  free(h->method);
  free(h->target);
  free(h->version);
  for (size_t i = 0; i < h->nedits; i++) {
    free(h->edits[i].name);
    free(h->edits[i].value);
  }
  free(h->edits);
  wsc_payload_free(h->body);
  free(h->write.splits);
  for (size_t i = 0; i < h->nexpects; i++) {
    free(h->expects[i].statuses);
    free(h->expects[i].name);
    free(h->expects[i].value);
    wsc_payload_free(h->expects[i].body);
  }
  free(h->expects);
  for (size_t i = 0; i < c->nsteps; i++) step_free(&c->steps[i]);
  free(c->steps);
  for (size_t i = 0; i < c->nconns; i++) conn_decl_free(&c->conns[i]);
  free(c->conns);
  memset(c, 0, sizeof *c);
}

void wsc_suite_free(struct wsc_suite *s) {
  if (!s) return;
  for (size_t i = 0; i < s->ncases; i++) case_free(&s->cases[i]);
  free(s->cases);
  strv_free(s->files, s->nfiles);
  memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------------------------------
 * Steps
 */

static struct wsc_srcloc loc_of(struct pctx *x, const struct stok *t) {
  struct wsc_srcloc l = {x->f->name, t->line, t->col};
  return l;
}

static void push_step_raw(struct pctx *x, struct wsc_step *s) {
  if (x->c->nsteps >= x->L->opts.max_steps) {
    if (!x->too_many_steps)
      perr(x, s->loc.line, s->loc.col, "too many steps: more than %zu", x->L->opts.max_steps);
    x->too_many_steps = true;
    step_free(s);
    return;
  }
  XPUSH(x->c->steps, x->c->nsteps, *s);
}

static void flush_pending(struct pctx *x, struct wsc_srcloc loc) {
  if (!x->pending) return;
  struct wsc_step s = {.kind = WSC_STEP_FLUSH, .loc = loc, .conn = x->pending_conn};
  write_copy(&s.write, &x->pol);
  s.write.coalesce = false;
  x->pending = false;
  push_step_raw(x, &s);
}

/* The STOMP frames gathered by `stomp coalesce` go out as one message (the default
 * policy) when anything else happens before `stomp flush`. */
static void flush_stomp_pack(struct pctx *x, struct wsc_srcloc loc) {
  if (!x->spack) return;
  x->spack = false;
  struct wsc_step s = {.kind = WSC_STEP_STOMP_FLUSH, .loc = loc, .conn = x->spack_conn};
  write_copy(&s.write, &x->pol);
  if (s.write.coalesce) {
    x->pending = true;
    x->pending_conn = s.conn;
  }
  push_step_raw(x, &s);
}

static bool writes_bytes(const struct wsc_step *s) {
  return s->kind == WSC_STEP_SEND || s->kind == WSC_STEP_SEND_RAW ||
         (s->kind == WSC_STEP_STOMP && !s->coalesce) || s->kind == WSC_STEP_STOMP_FLUSH;
}

static void push_step(struct pctx *x, struct wsc_step *s) {
  s->conn = x->cur_conn;
  x->seen_step = true;
  bool gathered = s->kind == WSC_STEP_STOMP && s->coalesce;
  if (x->spack && !gathered && s->kind != WSC_STEP_STOMP_FLUSH) flush_stomp_pack(x, s->loc);
  if (writes_bytes(s)) {
    if (x->pending && x->pending_conn != s->conn) flush_pending(x, s->loc);
    if (s->write.coalesce) {
      x->pending = true;
      x->pending_conn = s->conn;
    }
  } else if (s->kind != WSC_STEP_FLUSH && !gathered) {
    flush_pending(x, s->loc);
  }
  push_step_raw(x, s);
}

static int opcode_by_name(const char *s) {
  static const struct {
    const char *n;
    int op;
  } t[] = {{"cont", 0},  {"continuation", 0}, {"text", 1}, {"binary", 2},
           {"close", 8}, {"ping", 9},         {"pong", 10}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (streq(s, t[i].n)) return t[i].op;
  return -1;
}

/* chop= delay= split= on a send line; returns 1 if the token was one of them, -1 on error. */
static int write_opt(struct pctx *x, const struct stok *t, const char *key, size_t kn,
                     const char *v, struct wsc_write *w, bool *touched) {
  if (key_is(key, kn, "chop")) {
    *touched = true;
    return num_arg(x, t, v, "chop", UINT64_MAX, &w->chop) ? -1 : 1;
  }
  if (key_is(key, kn, "delay")) {
    *touched = true;
    return dur_arg(x, t, v, &w->delay_us) ? -1 : 1;
  }
  if (key_is(key, kn, "split")) {
    *touched = true;
    return split_arg(x, t, v, w) ? -1 : 1;
  }
  return 0;
}

/* The 2-byte status code of a close payload, written as hex"03e8" so that evidence shows
 * the bytes that went on the wire. */
static int be16_payload(struct pctx *x, uint64_t code, struct wsc_payload **out) {
  (void)x;
  char src[16];
  snprintf(src, sizeof src, "hex\"%04x\"", (unsigned)code);
  if (wsc_payload_parse(src, strlen(src), NULL, out, NULL) != 0) abort();
  return 0;
}

/* send TYPE ... | send raw PAYLOAD ... */
static void d_send(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  if (L->n < 2) {
    TERR(x, kw, "send needs a frame type: text, binary, cont, ping, pong, close, op=N or raw");
    return;
  }
  const struct stok *ty = &L->t[1];
  struct wsc_step s = {.loc = loc_of(x, kw)};
  write_copy(&s.write, &x->pol);
  bool touched = false;
  size_t nerr0 = x->nerr;
  const char *key, *v;
  size_t kn;

  if (streq(ty->s, "raw")) {
    s.kind = WSC_STEP_SEND_RAW;
    for (size_t i = 2; i < L->n; i++) {
      const struct stok *t = &L->t[i];
      if (kv(t, &key, &kn, &v)) {
        int r = write_opt(x, t, key, kn, v, &s.write, &touched);
        if (r == 0) {
          if (key_is(key, kn, "payload") && !s.raw) {
            payload_arg(x, t, kn + 1, &s.raw);
            continue;
          }
          TERR(x, t, "unknown option '%.*s' for send raw", (int)kn, key);
        }
        continue;
      }
      if (s.raw) {
        TERR(x, t, "unexpected '%s': send raw takes one payload", t->s);
        continue;
      }
      payload_arg(x, t, 0, &s.raw);
    }
    if (!s.raw && x->nerr == nerr0) TERR(x, kw, "send raw needs a payload");
  } else {
    s.kind = WSC_STEP_SEND;
    struct wsc_frame_spec *fr = &s.frame;
    fr->fin = true;
    fr->mask = WSC_MASK_RANDOM;
    int op = -1;
    const char *key0;
    size_t kn0;
    const char *v0;
    if (kv(ty, &key0, &kn0, &v0) && key_is(key0, kn0, "op")) {
      uint64_t n;
      if (num_arg(x, ty, v0, "opcode", 15, &n) == 0)
        op = (int)n;
      else
        op = 0;
    } else {
      op = opcode_by_name(ty->s);
      if (op < 0) {
        TERR(x, ty, "bad frame type '%s': text, binary, cont, ping, pong, close, op=N or raw",
             ty->s);
        step_free(&s);
        return;
      }
    }
    fr->opcode = (uint8_t)op;
    bool is_close = op == 8 && !streq(ty->s, "op=8") && opcode_by_name(ty->s) == 8;
    bool has_code = false, has_fin = false, has_key = false, mask_off = false;
    uint64_t code = 0;
    struct wsc_payload *reason = NULL;
    const struct stok *reason_tok = NULL, *payload_tok = NULL, *frag_tok = NULL;
    int npos = 0;
    for (size_t i = 2; i < L->n; i++) {
      const struct stok *t = &L->t[i];
      if (kv(t, &key, &kn, &v)) {
        int r = write_opt(x, t, key, kn, v, &s.write, &touched);
        if (r != 0) continue;
        uint64_t n;
        if (key_is(key, kn, "fin")) {
          if (num_arg(x, t, v, "fin", 1, &n) == 0) fr->fin = n == 1;
          has_fin = true;
        } else if (key_is(key, kn, "rsv")) {
          if (num_arg(x, t, v, "rsv", 7, &n) == 0) fr->rsv |= (uint8_t)n;
        } else if (key_is(key, kn, "rsv1") || key_is(key, kn, "rsv2") || key_is(key, kn, "rsv3")) {
          if (num_arg(x, t, v, "rsv bit", 1, &n) == 0 && n)
            fr->rsv |= (uint8_t)(key[3] == '1' ? 4 : key[3] == '2' ? 2 : 1);
        } else if (key_is(key, kn, "mask")) {
          if (streq(v, "on") || streq(v, "1")) {
            mask_off = false;
          } else if (streq(v, "off") || streq(v, "0")) {
            mask_off = true;
          } else {
            TERR(x, t, "bad mask '%s': on or off (key=HEX8 sets the key)", v);
          }
        } else if (key_is(key, kn, "key")) {
          size_t vl = strlen(v);
          bool ok = vl == 8;
          for (size_t k = 0; ok && k < 8; k++) ok = strchr("0123456789abcdefABCDEF", v[k]) != NULL;
          if (!ok) {
            TERR(x, t, "bad mask key '%s': 8 hex digits", v);
          } else {
            for (int k = 0; k < 4; k++) {
              char hx[3] = {v[2 * k], v[2 * k + 1], 0};
              fr->key[k] = (uint8_t)strtoul(hx, NULL, 16);
            }
            has_key = true;
          }
        } else if (key_is(key, kn, "len")) {
          if (num_arg(x, t, v, "len", UINT64_MAX, &n) == 0) {
            fr->has_len = true;
            fr->len = n;
          }
        } else if (key_is(key, kn, "lenform")) {
          if (streq(v, "7"))
            fr->len_form = WSC_LEN_7;
          else if (streq(v, "16"))
            fr->len_form = WSC_LEN_16;
          else if (streq(v, "64"))
            fr->len_form = WSC_LEN_64;
          else
            TERR(x, t, "bad lenform '%s': 7, 16 or 64", v);
        } else if (key_is(key, kn, "frag")) {
          if (num_arg(x, t, v, "frag", UINT64_MAX, &n) == 0) {
            if (n == 0) TERR(x, t, "frag= must be at least 1");
            fr->fragment_size = n;
            frag_tok = t;
          }
        } else if (key_is(key, kn, "payload")) {
          if (fr->payload) {
            TERR(x, t, "duplicate payload");
          } else {
            payload_arg(x, t, kn + 1, &fr->payload);
            payload_tok = t;
          }
        } else if (is_close && key_is(key, kn, "code")) {
          if (num_arg(x, t, v, "close code", 65535, &code) == 0) has_code = true;
        } else if (is_close && key_is(key, kn, "reason")) {
          if (!reason) payload_arg(x, t, kn + 1, &reason);
          reason_tok = t;
        } else {
          TERR(x, t, "unknown option '%.*s' for send", (int)kn, key);
        }
        continue;
      }
      /* positional */
      if (is_close) {
        if (npos == 0 && !has_code) {
          if (num_arg(x, t, t->s, "close code", 65535, &code) == 0) has_code = true;
        } else if (npos <= 1 && !reason) {
          payload_arg(x, t, 0, &reason);
          reason_tok = t;
        } else {
          TERR(x, t, "unexpected '%s': send close takes a code and a reason", t->s);
        }
        npos++;
        continue;
      }
      if (fr->payload) {
        TERR(x, t, "unexpected '%s': a frame takes one payload", t->s);
        continue;
      }
      payload_arg(x, t, 0, &fr->payload);
      payload_tok = t;
    }
    if (is_close && (has_code || reason)) {
      if (payload_tok) {
        TERR(x, payload_tok, "payload= cannot be combined with a close code or reason");
      } else if (reason && !has_code) {
        TERR(x, reason_tok, "a close reason needs a code (use payload= for raw bytes)");
      } else {
        be16_payload(x, code, &fr->payload);
        if (reason) {
          wsc_payload_append(fr->payload, reason);
          reason = NULL;
        }
      }
    }
    wsc_payload_free(reason);
    if (!fr->payload) {
      fr->payload = wsc_payload_from_bytes("", 0);
      if (!fr->payload) abort();
    }
    if (mask_off && has_key) TERR(x, kw, "key= needs mask=on");
    fr->mask = mask_off ? WSC_MASK_NONE : has_key ? WSC_MASK_KEY : WSC_MASK_RANDOM;
    if (frag_tok && fr->has_len) TERR(x, frag_tok, "frag= cannot be combined with len=");
    if (frag_tok && has_fin && !fr->fin) TERR(x, frag_tok, "frag= cannot be combined with fin=0");
    if (frag_tok && fr->len_form != WSC_LEN_AUTO)
      TERR(x, frag_tok, "frag= cannot be combined with lenform=");
    if (fr->len_form == WSC_LEN_7 || fr->len_form == WSC_LEN_16) {
      uint64_t n = fr->len;
      bool known = fr->has_len || (!wsc_payload_has_vars(fr->payload) &&
                                   wsc_payload_length(fr->payload, NULL, &n) == 0);
      uint64_t lim = fr->len_form == WSC_LEN_7 ? 125 : 65535;
      if (known && n > lim)
        TERR(x, kw, "lenform=%s needs a length of at most %llu",
             fr->len_form == WSC_LEN_7 ? "7" : "16", (unsigned long long)lim);
    }
  }
  if (touched && x->pol.coalesce)
    TERR(x, kw, "chop=, delay= and split= cannot be used while coalescing (set them on write)");
  if (x->nerr != nerr0) {
    step_free(&s);
    return;
  }
  push_step(x, &s);
}

/* close [CODE [REASON]] */
static void emit_close(struct pctx *x, const struct stok *kw, bool has_code, uint64_t code,
                       struct wsc_payload *reason) {
  struct wsc_step s = {.kind = WSC_STEP_SEND, .loc = loc_of(x, kw), .suite_close = true};
  write_copy(&s.write, &x->pol);
  s.frame.fin = true;
  s.frame.opcode = 8;
  s.frame.mask = WSC_MASK_RANDOM;
  if (has_code) {
    be16_payload(x, code, &s.frame.payload);
    if (reason) wsc_payload_append(s.frame.payload, reason);
  } else {
    s.frame.payload = wsc_payload_from_bytes("", 0);
    if (!s.frame.payload) abort();
  }
  push_step(x, &s);
}

static void d_close(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  uint64_t code = 0;
  bool has_code = false;
  struct wsc_payload *reason = NULL;
  size_t nerr0 = x->nerr;
  if (L->n >= 2) {
    if (num_arg(x, &L->t[1], L->t[1].s, "close code", 65535, &code) == 0) has_code = true;
  }
  if (L->n >= 3) payload_arg(x, &L->t[2], 0, &reason);
  for (size_t i = 3; i < L->n; i++)
    TERR(x, &L->t[i], "unexpected '%s': close takes a code and a reason", L->t[i].s);
  if (x->nerr != nerr0) {
    wsc_payload_free(reason);
    return;
  }
  emit_close(x, kw, has_code, code, reason);
}

static void push_alt_step(struct pctx *x, const struct stok *kw, struct wsc_expect *e,
                          bool has_else, enum wsc_grade else_grade) {
  struct wsc_step s = {.kind = WSC_STEP_EXPECT, .loc = loc_of(x, kw)};
  s.expect.nalts = has_else ? 2 : 1;
  s.expect.alts = xcalloc(s.expect.nalts, sizeof *s.expect.alts);
  s.expect.alts[0].grade = WSC_GRADE_PASS;
  s.expect.alts[0].loc = s.loc;
  s.expect.alts[0].items = xcalloc(1, sizeof *e);
  s.expect.alts[0].items[0] = *e;
  s.expect.alts[0].nitems = 1;
  if (has_else) {
    s.expect.alts[1].grade = else_grade;
    s.expect.alts[1].loc = s.loc;
  }
  push_step(x, &s);
}

static void d_finish(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  for (size_t i = 1; i < L->n; i++)
    TERR(x, &L->t[i], "unexpected '%s': finish takes no arguments", L->t[i].s);
  emit_close(x, kw, true, 1000, NULL);
  struct wsc_expect e = {
      .kind = WSC_EXP_CLOSE, .loc = loc_of(x, kw), .opcode = -1, .fin = -1, .rsv = -1};
  struct wsc_code_range r = {1000, 1000};
  XPUSH(e.close.codes, e.close.ncodes, r);
  e.close.no_code = true;
  e.close.clean = true;
  e.close.by = WSC_BY_SUITE;
  push_alt_step(x, kw, &e, false, WSC_GRADE_PASS);
}

static void d_write(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  struct wsc_write w = {0};
  bool touched = false;
  size_t nerr0 = x->nerr;
  if (L->n < 2) TERR(x, kw, "write needs whole, coalesce, chop=N, delay=D or split=A,B");
  for (size_t i = 1; i < L->n; i++) {
    const struct stok *t = &L->t[i];
    const char *key, *v;
    size_t kn;
    if (streq(t->s, "whole")) continue;
    if (streq(t->s, "coalesce")) {
      w.coalesce = true;
      continue;
    }
    if (kv(t, &key, &kn, &v) && write_opt(x, t, key, kn, v, &w, &touched) != 0) continue;
    TERR(x, t, "unknown write option '%s': whole, coalesce, chop=N, delay=D, split=A,B", t->s);
  }
  if (x->nerr != nerr0) {
    free(w.splits);
    return;
  }
  /* Bytes held under the old policy go out under it before the policy changes. */
  flush_pending(x, loc_of(x, kw));
  free(x->pol.splits);
  x->pol = w;
}

static void d_flush(struct pctx *x, const struct sline *L) {
  for (size_t i = 1; i < L->n; i++)
    TERR(x, &L->t[i], "unexpected '%s': flush takes no arguments", L->t[i].s);
  flush_stomp_pack(x, loc_of(x, &L->t[0]));
  flush_pending(x, loc_of(x, &L->t[0]));
}

static void d_sleep(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  if (L->n != 2) {
    TERR(x, kw, "sleep needs one duration, e.g. sleep 1s");
    return;
  }
  struct wsc_step s = {.kind = WSC_STEP_SLEEP, .loc = loc_of(x, kw)};
  if (dur_arg(x, &L->t[1], L->t[1].s, &s.sleep_us)) return;
  push_step(x, &s);
}

static void d_noarg_step(struct pctx *x, const struct sline *L, enum wsc_step_kind k) {
  for (size_t i = 1; i < L->n; i++)
    TERR(x, &L->t[i], "unexpected '%s': %s takes no arguments", L->t[i].s, L->t[0].s);
  struct wsc_step s = {.kind = k, .loc = loc_of(x, &L->t[0])};
  push_step(x, &s);
}

/* ---------------------------------------------------------------------------------------
 * Expectations
 */

/* Trailing else=/timeout= options shared by every expect form; returns the new end. */
static size_t trailing_opts(struct pctx *x, const struct sline *L, size_t from, size_t end,
                            bool *has_else, enum wsc_grade *g, uint64_t *timeout, bool allow_to) {
  while (end > from) {
    const struct stok *t = &L->t[end - 1];
    const char *key, *v;
    size_t kn;
    if (!kv(t, &key, &kn, &v)) break;
    if (key_is(key, kn, "else")) {
      if (grade_arg(x, t, v, g) == 0) *has_else = true;
    } else if (allow_to && key_is(key, kn, "timeout")) {
      dur_arg(x, t, v, timeout);
    } else {
      break;
    }
    end--;
  }
  return end;
}

static void add_hs_expect(struct pctx *x, struct wsc_hs_expect *h) {
  XPUSH(x->c->hs.expects, x->c->hs.nexpects, *h);
}

static void hs_expect_free(struct wsc_hs_expect *h) {
  free(h->statuses);
  free(h->name);
  free(h->value);
  wsc_payload_free(h->body);
}

static void expect_handshake_kind(struct pctx *x, const struct sline *L, const char *what) {
  const struct stok *kw = &L->t[0];
  struct wsc_hs_expect h = {.loc = loc_of(x, kw), .miss_grade = WSC_GRADE_FAIL};
  bool has_else = false;
  enum wsc_grade g = WSC_GRADE_FAIL;
  uint64_t dummy = 0;
  size_t nerr0 = x->nerr;
  size_t end = trailing_opts(x, L, 2, L->n, &has_else, &g, &dummy, false);
  if (has_else) h.miss_grade = g;
  if (streq(what, "handshake")) {
    if (end != 3 || (!streq(L->t[2].s, "ok") && !streq(L->t[2].s, "fail"))) {
      TERR(x, &L->t[1], "expect handshake needs ok or fail");
      return;
    }
    h.kind = streq(L->t[2].s, "ok") ? WSC_HSX_OK : WSC_HSX_FAIL;
  } else if (streq(what, "status")) {
    h.kind = WSC_HSX_STATUS;
    if (end < 3) TERR(x, &L->t[1], "expect status needs at least one status code, e.g. 426 or 4xx");
    for (size_t i = 2; i < end; i++) {
      const struct stok *t = &L->t[i];
      struct wsc_code_range r;
      size_t n = strlen(t->s);
      if (n == 3 && t->s[0] >= '1' && t->s[0] <= '5' && t->s[1] == 'x' && t->s[2] == 'x') {
        r.lo = (uint32_t)(t->s[0] - '0') * 100;
        r.hi = r.lo + 99;
      } else if (range_arg(t->s, 999, &r) != 0 || r.lo < 100) {
        TERR(x, t, "bad status '%s': 100..999, a range A..B, or a class like 4xx", t->s);
        continue;
      }
      XPUSH(h.statuses, h.nstatuses, r);
    }
  } else if (streq(what, "header")) {
    h.kind = WSC_HSX_HEADER;
    if (end < 4) {
      TERR(x, &L->t[1], "expect header needs a name and =, contains, lacks, absent or present");
      return;
    }
    const char *nm = L->t[2].s;
    size_t nl = strlen(nm);
    if (nl > 0 && nm[nl - 1] == ':') nl--;
    if (!is_token_text(nm, nl)) {
      TERR(x, &L->t[2], "bad header name '%s'", nm);
      return;
    }
    h.name = xstrndup(nm, nl);
    const struct stok *op = &L->t[3];
    if (streq(op->s, "=")) {
      if (end == 5 && streq(L->t[4].s, "$accept")) {
        h.op = WSC_HM_ACCEPT;
      } else {
        h.op = WSC_HM_EQUALS;
        h.value = end > 4 ? text_arg(L, 4, end) : xstrdup("");
      }
    } else if (streq(op->s, "contains") || streq(op->s, "lacks")) {
      h.op = streq(op->s, "lacks") ? WSC_HM_LACKS : WSC_HM_CONTAINS;
      if (end != 5)
        TERR(x, op, "%s needs one token", op->s);
      else
        h.value = text_arg(L, 4, end);
    } else if (streq(op->s, "absent") || streq(op->s, "present")) {
      h.op = streq(op->s, "absent") ? WSC_HM_ABSENT : WSC_HM_PRESENT;
      if (end != 4) TERR(x, &L->t[4], "unexpected '%s' after %s", L->t[4].s, op->s);
    } else {
      TERR(x, op, "bad header check '%s': =, contains, lacks, absent or present", op->s);
    }
  } else { /* body */
    h.kind = WSC_HSX_BODY;
    if (end != 4 || !streq(L->t[2].s, "contains")) {
      TERR(x, &L->t[1], "expect body needs: contains PAYLOAD");
    } else {
      payload_arg(x, &L->t[3], 0, &h.body);
    }
  }
  if (x->nerr != nerr0) {
    hs_expect_free(&h);
    return;
  }
  add_hs_expect(x, &h);
}

static bool is_stomp_word(const char *s);
static void parse_stomp_expect(struct pctx *x, const struct sline *L, size_t end,
                               struct wsc_expect *e);
static void mark_stomp(struct pctx *x);

/* Parses an event expectation (everything but the handshake forms) from L->t[1..]. */
static int parse_event_expect(struct pctx *x, const struct sline *L, struct wsc_expect *e,
                              bool *has_else, enum wsc_grade *g) {
  const struct stok *kw = &L->t[0], *ty = &L->t[1];
  size_t nerr0 = x->nerr;
  memset(e, 0, sizeof *e);
  e->loc = loc_of(x, kw);
  e->opcode = e->fin = e->rsv = -1;
  size_t end = trailing_opts(x, L, 2, L->n, has_else, g, &e->timeout_us, true);
  const char *t0 = ty->s;
  const char *key, *v;
  size_t kn;

  if (streq(t0, "close") || streq(t0, "fail")) {
    struct wsc_expect_close *c = &e->close;
    e->kind = WSC_EXP_CLOSE;
    bool fail = streq(t0, "fail");
    if (fail) {
      c->drop_ok = true;
      c->by = WSC_BY_PEER;
    }
    bool any_listed = false;
    for (size_t i = 2; i < end; i++) {
      const struct stok *t = &L->t[i];
      struct wsc_code_range r;
      if (streq(t->s, "clean")) {
        c->clean = true;
      } else if (streq(t->s, "none")) {
        c->no_code = true;
        any_listed = true;
      } else if (streq(t->s, "drop")) {
        c->drop_ok = true;
        any_listed = true;
      } else if (streq(t->s, "any")) {
        c->any_code = true;
        any_listed = true;
      } else if (kv(t, &key, &kn, &v) && key_is(key, kn, "by")) {
        if (fail)
          TERR(x, t, "by= is implied by expect fail (the peer)");
        else if (streq(v, "peer"))
          c->by = WSC_BY_PEER;
        else if (streq(v, "suite"))
          c->by = WSC_BY_SUITE;
        else if (streq(v, "any"))
          c->by = WSC_BY_ANY;
        else
          TERR(x, t, "bad by '%s': peer, suite or any", v);
      } else if (kv(t, &key, &kn, &v) && key_is(key, kn, "reason")) {
        if (!c->reason) payload_arg(x, t, kn + 1, &c->reason);
      } else if (range_arg(t->s, 65535, &r) == 0) {
        XPUSH(c->codes, c->ncodes, r);
        any_listed = true;
      } else {
        TERR(x, t,
             "bad close code '%s': 0..65535, A..B, none, drop, any, clean, by=, reason=", t->s);
      }
    }
    /* No codes at all: any close frame will do (and, for fail, a drop). */
    if (!any_listed) c->any_code = c->no_code = true;
  } else if (is_stomp_word(t0)) {
    parse_stomp_expect(x, L, end, e);
    if (x->nerr == nerr0) mark_stomp(x);
  } else if (streq(t0, "heartbeat")) {
    e->kind = WSC_EXP_HEARTBEAT;
    if (end == 4 && streq(L->t[2].s, "within")) {
      const char *wv = L->t[3].s;
      size_t vl = strlen(wv);
      if (e->timeout_us) {
        TERR(x, &L->t[2], "within and timeout= say the same: give one");
      } else if (vl > 1 && wv[vl - 1] == 'x') {
        /* a factor of the negotiated interval: 1.5x, 2x */
        uint64_t us = 0;
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.*ss", (int)(vl - 1), wv);
        if (vl > 30 || wsc_parse_duration(tmp, strlen(tmp), &us) || us == 0 || us > 1000000000ull)
          TERR(x, &L->t[3], "bad factor '%s': a number followed by x, e.g. 1.5x", wv);
        else
          e->interval_permille = (uint32_t)(us / 1000);
      } else {
        dur_arg(x, &L->t[3], wv, &e->timeout_us);
      }
    } else if (end != 2) {
      TERR(x, ty,
           "expect heartbeat takes 'within DURATION' or 'within FACTORx', e.g. "
           "expect heartbeat within 1500ms, expect heartbeat within 1.5x");
    }
    if (x->nerr == nerr0) mark_stomp(x);
  } else if (streq(t0, "no")) {
    e->kind = WSC_EXP_NO_FRAME;
    if (end != 5 || !streq(L->t[2].s, "frame") || !streq(L->t[3].s, "for"))
      TERR(x, ty, "expect no frame needs 'for DURATION', e.g. expect no frame for 500ms");
    else
      dur_arg(x, &L->t[4], L->t[4].s, &e->duration_us);
    if (e->timeout_us) TERR(x, ty, "expect no frame takes no timeout=");
    if (x->nerr == nerr0) mark_stomp(x);
  } else if (streq(t0, "nothing")) {
    e->kind = WSC_EXP_NOTHING;
    if (end != 3)
      TERR(x, ty, "expect nothing needs one duration, e.g. expect nothing 500ms");
    else
      dur_arg(x, &L->t[2], L->t[2].s, &e->duration_us);
    if (e->timeout_us) TERR(x, ty, "expect nothing takes no timeout=");
  } else {
    size_t i = 2;
    if (streq(t0, "text"))
      e->kind = WSC_EXP_TEXT;
    else if (streq(t0, "binary"))
      e->kind = WSC_EXP_BINARY;
    else if (streq(t0, "message"))
      e->kind = WSC_EXP_MESSAGE;
    else if (streq(t0, "ping"))
      e->kind = WSC_EXP_PING;
    else if (streq(t0, "pong"))
      e->kind = WSC_EXP_PONG;
    else if (streq(t0, "frame")) {
      e->kind = WSC_EXP_FRAME;
      if (i < end) {
        const struct stok *t = &L->t[i];
        int op = opcode_by_name(t->s);
        uint64_t n;
        if (op >= 0) {
          e->opcode = op;
          i++;
        } else if (kv(t, &key, &kn, &v) && key_is(key, kn, "op")) {
          if (num_arg(x, t, v, "opcode", 15, &n) == 0) e->opcode = (int)n;
          i++;
        }
      }
    } else {
      TERR(x, ty,
           "bad expectation '%s': text, binary, message, ping, pong, frame, close, fail, "
           "nothing, handshake, status, header or body",
           t0);
      return -1;
    }
    for (; i < end; i++) {
      const struct stok *t = &L->t[i];
      uint64_t n;
      if (kv(t, &key, &kn, &v)) {
        if (key_is(key, kn, "len")) {
          if (num_arg(x, t, v, "len", UINT64_MAX, &n) == 0) {
            e->match.has_len = true;
            e->match.len = n;
          }
        } else if (key_is(key, kn, "sha256")) {
          bool ok = strlen(v) == 64;
          for (size_t k = 0; ok && k < 64; k++) ok = strchr("0123456789abcdefABCDEF", v[k]) != NULL;
          if (!ok) {
            TERR(x, t, "bad sha256 '%s': 64 hex digits", v);
          } else {
            for (int k = 0; k < 32; k++) {
              char hx[3] = {v[2 * k], v[2 * k + 1], 0};
              e->match.sha256[k] = (uint8_t)strtoul(hx, NULL, 16);
            }
            e->match.has_sha256 = true;
          }
        } else if (key_is(key, kn, "payload")) {
          if (e->match.payload)
            TERR(x, t, "duplicate payload");
          else
            payload_arg(x, t, kn + 1, &e->match.payload);
        } else if (e->kind == WSC_EXP_FRAME && key_is(key, kn, "fin")) {
          if (num_arg(x, t, v, "fin", 1, &n) == 0) e->fin = (int)n;
        } else if (e->kind == WSC_EXP_FRAME && key_is(key, kn, "rsv")) {
          if (num_arg(x, t, v, "rsv", 7, &n) == 0) e->rsv = (int)n;
        } else {
          TERR(x, t, "unknown option '%.*s' for expect %s", (int)kn, key, t0);
        }
        continue;
      }
      if (e->match.payload) {
        TERR(x, t, "unexpected '%s': one payload per expectation", t->s);
        continue;
      }
      payload_arg(x, t, 0, &e->match.payload);
    }
    if (e->kind == WSC_EXP_TEXT || e->kind == WSC_EXP_BINARY || e->kind == WSC_EXP_MESSAGE) {
      if (!x->first_msg_line) {
        x->first_msg_line = kw->line;
        x->first_msg_col = kw->col;
      }
      size_t k = x->nwsmsg;
      if (grow((void **)&x->wsmsg, k, sizeof *x->wsmsg)) abort();
      x->wsmsg[k].conn = x->cur_conn;
      x->wsmsg[k].line = kw->line;
      x->wsmsg[k].col = kw->col;
      x->nwsmsg++;
    }
    if (e->kind == WSC_EXP_FRAME && (e->opcode < 0 || e->opcode < 8)) {
      x->c->frame_level = true;
      if (!x->first_frame_line) {
        x->first_frame_line = kw->line;
        x->first_frame_col = kw->col;
      }
    }
  }
  if (x->nerr != nerr0) {
    expect_free(e);
    memset(e, 0, sizeof *e);
    return -1;
  }
  return 0;
}

static bool is_hs_expect_word(const char *s) {
  return streq(s, "handshake") || streq(s, "status") || streq(s, "header") || streq(s, "body");
}

static void d_expect(struct pctx *x, const struct sline *L, struct wsc_alt *in_alt) {
  const struct stok *kw = &L->t[0];
  if (L->n < 2) {
    TERR(x, kw, "expect needs what to expect, e.g. expect text \"Hello\"");
    return;
  }
  if (is_hs_expect_word(L->t[1].s)) {
    if (in_alt) {
      TERR(x, kw, "handshake expectations are not allowed inside either/or");
      return;
    }
    expect_handshake_kind(x, L, L->t[1].s);
    return;
  }
  struct wsc_expect e;
  bool has_else = false;
  enum wsc_grade g = WSC_GRADE_FAIL;
  if (parse_event_expect(x, L, &e, &has_else, &g) != 0) return;
  if (in_alt) {
    if (has_else) {
      TERR(x, kw, "else= is not allowed inside either/or (give the branch a grade)");
      expect_free(&e);
      return;
    }
    if (x->alt_conn < 0) {
      x->alt_conn = (long)x->cur_conn;
    } else if ((size_t)x->alt_conn != x->cur_conn) {
      TERR(x, kw, "the expectations of one either block must be on one connection");
      expect_free(&e);
      return;
    }
    XPUSH(in_alt->items, in_alt->nitems, e);
    return;
  }
  push_alt_step(x, kw, &e, has_else, g);
}

/* ---------------------------------------------------------------------------------------
 * Handshake request
 */

static void d_handshake(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  struct wsc_handshake *h = &x->c->hs;
  static const char *usage =
      "handshake needs set, add, remove, method, target, version, body, raw, write or pipeline";
  if (L->n < 2) {
    TERR(x, kw, "%s", usage);
    return;
  }
  const struct stok *sub = &L->t[1];
  const char *s = sub->s;
  bool edits_request = !streq(s, "write") && !streq(s, "pipeline") && !streq(s, "raw");
  if (edits_request && x->hs_raw_line) {
    TERR(x, sub, "handshake %s cannot be combined with handshake raw (line %d)", s, x->hs_raw_line);
    return;
  }
  if (streq(s, "raw") && x->hs_edit_line) {
    TERR(x, sub, "handshake raw cannot be combined with request edits (line %d)", x->hs_edit_line);
    return;
  }
  if (streq(s, "set") || streq(s, "add")) {
    if (L->n < 3) {
      TERR(x, sub, "handshake %s needs Name: value", s);
      return;
    }
    const struct stok *nt = &L->t[2];
    const char *colon = strchr(nt->s, ':');
    if (!colon) {
      TERR(x, nt, "expected 'Name:' (a header name followed by a colon), got '%s'", nt->s);
      return;
    }
    size_t nl = (size_t)(colon - nt->s);
    if (!is_token_text(nt->s, nl)) {
      TERR(x, nt, "bad header name '%.*s'", (int)nl, nt->s);
      return;
    }
    struct wsc_hdr_edit ed = {.op = streq(s, "set") ? WSC_HDR_SET : WSC_HDR_ADD,
                              .loc = loc_of(x, kw)};
    ed.name = xstrndup(nt->s, nl);
    const char *after = colon + 1;
    if (*after) {
      /* "Name:value" glued: the value starts inside the token. */
      char *rest = L->n > 3 ? rest_of_line(L, 3, L->n) : xstrdup("");
      size_t al = strlen(after), rl = strlen(rest);
      ed.value = malloc(al + rl + 2);
      if (!ed.value) abort();
      memcpy(ed.value, after, al);
      size_t k = al;
      if (rl) {
        const struct tok *a = L->t[2].raw, *b = L->t[3].raw;
        size_t gap = a->line == b->line ? (size_t)(b->p - (a->p + a->n)) : 1;
        if (a->line == b->line)
          memcpy(ed.value + k, a->p + a->n, gap);
        else
          ed.value[k] = ' ';
        k += gap;
        ed.value = realloc(ed.value, al + gap + rl + 1);
        if (!ed.value) abort();
        memcpy(ed.value + k, rest, rl);
        k += rl;
      }
      ed.value[k] = 0;
      free(rest);
    } else {
      ed.value = L->n > 3 ? text_arg(L, 3, L->n) : xstrdup("");
    }
    XPUSH(h->edits, h->nedits, ed);
  } else if (streq(s, "remove")) {
    if (L->n != 3) {
      TERR(x, sub, "handshake remove needs one header name");
      return;
    }
    const char *nm = L->t[2].s;
    size_t nl = strlen(nm);
    if (nl && nm[nl - 1] == ':') nl--;
    if (!is_token_text(nm, nl)) {
      TERR(x, &L->t[2], "bad header name '%s'", nm);
      return;
    }
    struct wsc_hdr_edit ed = {.op = WSC_HDR_REMOVE, .loc = loc_of(x, kw)};
    ed.name = xstrndup(nm, nl);
    XPUSH(h->edits, h->nedits, ed);
  } else if (streq(s, "method") || streq(s, "target") || streq(s, "version")) {
    char **dst = streq(s, "method") ? &h->method : streq(s, "target") ? &h->target : &h->version;
    if (L->n != 3) {
      TERR(x, sub, "handshake %s needs one value", s);
      return;
    }
    if (*dst) {
      TERR(x, sub, "duplicate handshake %s", s);
      return;
    }
    char *u = unquote(L->t[2].s);
    *dst = u ? u : xstrdup(L->t[2].s);
  } else if (streq(s, "body") || streq(s, "raw")) {
    struct wsc_payload **dst = streq(s, "body") ? &h->body : &h->raw;
    if (L->n != 3) {
      TERR(x, sub, "handshake %s needs one payload", s);
      return;
    }
    if (*dst) {
      TERR(x, sub, "duplicate handshake %s", s);
      return;
    }
    payload_arg(x, &L->t[2], 0, dst);
    if (streq(s, "raw")) x->hs_raw_line = kw->line;
  } else if (streq(s, "write")) {
    struct wsc_write w = {0};
    bool touched = false;
    if (L->n < 3) TERR(x, sub, "handshake write needs chop=N, delay=D or split=A,B");
    for (size_t i = 2; i < L->n; i++) {
      const struct stok *t = &L->t[i];
      const char *key, *v;
      size_t kn;
      if (streq(t->s, "whole")) continue;
      if (kv(t, &key, &kn, &v) && write_opt(x, t, key, kn, v, &w, &touched) != 0) continue;
      TERR(x, t, "unknown handshake write option '%s': whole, chop=N, delay=D, split=A,B", t->s);
    }
    free(h->write.splits);
    h->write = w;
  } else if (streq(s, "pipeline")) {
    if (L->n != 2) TERR(x, &L->t[2], "unexpected '%s': pipeline takes no arguments", L->t[2].s);
    h->pipeline = true;
  } else {
    TERR(x, sub, "%s", usage);
    return;
  }
  if (edits_request && !x->hs_edit_line) x->hs_edit_line = kw->line;
}

/* ---------------------------------------------------------------------------------------
 * Metadata
 */

static bool has_str(char **v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (streq(v[i], s)) return true;
  return false;
}

static void d_clause(struct pctx *x, const struct sline *L, char ***v, size_t *n) {
  if (L->n < 3) {
    TERR(x, &L->t[0], "clause needs a document and at least one section: clause RFC6455 5.2");
    return;
  }
  if (!x->in_defaults && !x->own_clause) {
    /* The case's own clauses replace the file defaults. */
    strv_free(*v, *n);
    *v = NULL;
    *n = 0;
    x->own_clause = true;
  }
  for (size_t i = 2; i < L->n; i++) {
    size_t a = strlen(L->t[1].s), b = strlen(L->t[i].s);
    char *c = malloc(a + b + 2);
    if (!c) abort();
    memcpy(c, L->t[1].s, a);
    c[a] = ' ';
    memcpy(c + a + 1, L->t[i].s, b + 1);
    if (has_str(*v, *n, c)) {
      free(c);
      continue;
    }
    XPUSH(*v, *n, c);
  }
}

static void d_level(struct pctx *x, const struct sline *L, enum wsc_level *lv) {
  if (L->n != 2) {
    TERR(x, &L->t[0], "level needs one of MUST, SHOULD, MAY, INFO");
    return;
  }
  const char *s = L->t[1].s;
  if (streq(s, "MUST"))
    *lv = WSC_LEVEL_MUST;
  else if (streq(s, "SHOULD"))
    *lv = WSC_LEVEL_SHOULD;
  else if (streq(s, "MAY"))
    *lv = WSC_LEVEL_MAY;
  else if (streq(s, "INFO"))
    *lv = WSC_LEVEL_INFO;
  else
    TERR(x, &L->t[1], "bad level '%s': MUST, SHOULD, MAY or INFO", s);
}

static void d_role(struct pctx *x, const struct sline *L, enum wsc_role *r) {
  if (L->n != 2) {
    TERR(x, &L->t[0], "role needs server or client");
    return;
  }
  const char *s = L->t[1].s;
  if (streq(s, "server"))
    *r = WSC_ROLE_SERVER;
  else if (streq(s, "client"))
    *r = WSC_ROLE_CLIENT;
  else
    TERR(x, &L->t[1], "bad role '%s': server or client", s);
}

static void d_tags(struct pctx *x, const struct sline *L, char ***v, size_t *n) {
  if (L->n < 2) TERR(x, &L->t[0], "tags needs at least one tag");
  for (size_t i = 1; i < L->n; i++) {
    if (!is_id_text(L->t[i].s)) {
      TERR(x, &L->t[i], "bad tag '%s': letters, digits, '.', '_', '-'", L->t[i].s);
      continue;
    }
    if (!has_str(*v, *n, L->t[i].s)) XPUSH(*v, *n, xstrdup(L->t[i].s));
  }
}

static void d_requires(struct pctx *x, const struct sline *L, struct wsc_requirement **v,
                       size_t *n) {
  if (L->n < 3 || (!streq(L->t[1].s, "subprotocol") && !streq(L->t[1].s, "extension"))) {
    TERR(x, &L->t[0], "requires needs subprotocol NAME or extension OFFER");
    return;
  }
  struct wsc_requirement r = {.kind = streq(L->t[1].s, "subprotocol") ? WSC_REQ_SUBPROTOCOL
                                                                      : WSC_REQ_EXTENSION};
  if (r.kind == WSC_REQ_SUBPROTOCOL && L->n != 3) {
    TERR(x, &L->t[3], "unexpected '%s': one subprotocol per requires line", L->t[3].s);
    return;
  }
  r.value = text_arg(L, 2, L->n);
  XPUSH(*v, *n, r);
}

static void d_timeout(struct pctx *x, const struct sline *L, uint64_t *t) {
  if (L->n != 2) {
    TERR(x, &L->t[0], "timeout needs one duration, e.g. timeout 10s");
    return;
  }
  dur_arg(x, &L->t[1], L->t[1].s, t);
}

/* ---------------------------------------------------------------------------------------
 * Connections and STOMP (cases/README.md section 17)
 */

static const char *const builtin_text_vars[] = {"run",        "case",        "host",
                                                "stomp_host", "stomp_login", "stomp_passcode"};

static bool is_capture(const struct pctx *x, const char *n, size_t len) {
  for (size_t i = 0; i < x->ncaps; i++)
    if (strlen(x->caps[i]) == len && memcmp(x->caps[i], n, len) == 0) return true;
  return false;
}

static bool is_builtin_var(const char *n, size_t len) {
  for (size_t i = 0; i < sizeof builtin_text_vars / sizeof builtin_text_vars[0]; i++)
    if (strlen(builtin_text_vars[i]) == len && memcmp(builtin_text_vars[i], n, len) == 0)
      return true;
  return false;
}

/* Checks the $name references of a text. ({name} is the each/loop substitution, done
 * before: a ${...} form would clash with it.) */
static int check_text_vars(struct pctx *x, const struct stok *tk, const struct wsc_text *t) {
  for (size_t i = 0; i < t->n; i++) {
    if (t->s[i] != '$' || i + 1 >= t->n) continue;
    if (t->s[i + 1] == '$') {
      i++;
      continue;
    }
    size_t a = i + 1, b;
    if (!is_ident_start(t->s[a])) continue; /* a literal '$' */
    b = a;
    while (b < t->n && is_ident_char(t->s[b])) b++;
    if (!is_builtin_var(t->s + a, b - a) && !is_capture(x, t->s + a, b - a)) {
      TERR(x, tk,
           "unknown variable '$%.*s' (built in: run, case, host, stomp_host, stomp_login, "
           "stomp_passcode; or a name captured earlier in the case; $$ is a '$')",
           (int)(b - a), t->s + a);
      return -1;
    }
    i = b - 1;
  }
  return 0;
}

/* A text value src[0..n), which is token tk's text from byte `prefix`: a "quoted" string
 * (the payload language's escapes) or the bytes as written. */
static int text_value(struct pctx *x, const struct stok *tk, size_t prefix, size_t n,
                      struct wsc_text *out) {
  const char *src = tk->s + prefix;
  memset(out, 0, sizeof *out);
  if (n >= 2 && src[0] == '"' && src[n - 1] == '"') {
    struct wsc_payload *pl = NULL;
    struct wsc_payload_error pe = {0};
    int rc = wsc_payload_parse(src, n, NULL, &pl, &pe);
    if (rc == WSREF_E_NOMEM) abort();
    if (rc) {
      int line, col;
      val_pos(tk, prefix, pe.offset, &line, &col);
      perr(x, line, col, "%s", pe.msg);
      return -1;
    }
    uint8_t *b = NULL;
    size_t bl = 0;
    rc = wsc_payload_materialize(pl, NULL, &b, &bl);
    wsc_payload_free(pl);
    if (rc) {
      TERR(x, tk, "bad quoted text in '%s'", tk->s);
      return -1;
    }
    out->s = (char *)b;
    out->s[bl] = 0;
    out->n = bl;
  } else {
    out->s = xstrndup(src, n);
    out->n = n;
  }
  return 0;
}

/* Where the header name of a NAME:VALUE token ends (the first ':' outside a leading quoted
 * name), or -1 if the token is no header. */
static long header_colon(const char *s) {
  size_t i = 0;
  if (s[0] == '"') {
    for (i = 1; s[i] && s[i] != '"'; i++)
      if (s[i] == '\\' && s[i + 1]) i++;
    if (s[i] != '"') return -1;
    i++;
    return s[i] == ':' ? (long)i : -1;
  }
  const char *c = strchr(s, ':');
  return c ? (long)(c - s) : -1;
}

static int conn_index(const struct pctx *x, const char *name) {
  for (size_t i = 0; i < x->c->nconns; i++)
    if (x->c->conns[i].name && streq(x->c->conns[i].name, name)) return (int)i;
  return -1;
}

/* The connection the line acts on speaks STOMP (creating the implicit declaration of a case
 * that declares no connection). */
static void mark_stomp(struct pctx *x) {
  if (x->c->nconns == 0) {
    struct wsc_conn_decl d = {0};
    d.loc = x->c->loc;
    XPUSH(x->c->conns, x->c->nconns, d);
  }
  x->c->conns[x->cur_conn].stomp = true;
}

static int seed_of(const struct pctx *x, int line) {
  /* the default seed: stable for a case and a line, different across them */
  uint64_t h = 1469598103934665603ull;
  for (const char *p = x->c->id ? x->c->id : ""; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ (uint64_t)line) * 1099511628211ull;
  return (int)(h & 0x7fffffff);
}

/* Options that say how STOMP bytes become WebSocket messages (and reach TCP). Returns 1 if
 * the token was one, 0 if not, -1 on error. */
static int msg_opt(struct pctx *x, const struct stok *t, const char *key, size_t kn, const char *v,
                   struct wsc_msg_policy *m, struct wsc_write *w, bool *seed_given, bool *touched) {
  uint64_t n;
  if (key_is(key, kn, "split")) {
    free(m->at);
    m->at = NULL;
    m->nat = 0;
    if (streq(v, "random")) {
      m->split = WSC_SPLIT_RANDOM;
      return 1;
    }
    struct wsc_write tmp = {0};
    if (split_arg(x, t, v, &tmp)) return -1;
    m->split = WSC_SPLIT_AT;
    m->at = tmp.splits;
    m->nat = tmp.nsplits;
    return 1;
  }
  if (key_is(key, kn, "chunk")) {
    if (num_arg(x, t, v, "chunk", UINT64_MAX, &n)) return -1;
    if (n == 0) {
      TERR(x, t, "chunk= must be at least 1");
      return -1;
    }
    m->split = WSC_SPLIT_CHUNK;
    m->chunk = n;
    return 1;
  }
  if (key_is(key, kn, "seed")) {
    if (num_arg(x, t, v, "seed", UINT64_MAX, &m->seed)) return -1;
    *seed_given = true;
    return 1;
  }
  if (key_is(key, kn, "cuts")) {
    if (num_arg(x, t, v, "cuts", 1u << 20, &n)) return -1;
    if (n == 0) {
      TERR(x, t, "cuts= must be at least 1");
      return -1;
    }
    m->cuts = (uint32_t)n;
    return 1;
  }
  if (key_is(key, kn, "as")) {
    if (streq(v, "text") || streq(v, "binary")) {
      m->as_set = true;
      m->binary = streq(v, "binary");
      return 1;
    }
    TERR(x, t, "bad as '%s': text or binary", v);
    return -1;
  }
  if (key_is(key, kn, "frag")) {
    if (num_arg(x, t, v, "frag", UINT64_MAX, &n)) return -1;
    if (n == 0) {
      TERR(x, t, "frag= must be at least 1");
      return -1;
    }
    m->frag = n;
    return 1;
  }
  if (key_is(key, kn, "delay")) return dur_arg(x, t, v, &m->delay_us) ? -1 : 1;
  if (key_is(key, kn, "chop")) {
    *touched = true;
    return num_arg(x, t, v, "chop", UINT64_MAX, &w->chop) ? -1 : 1;
  }
  return 0;
}

static void msg_finish(struct pctx *x, const struct stok *kw, struct wsc_msg_policy *m,
                       bool seed_given) {
  if (m->split != WSC_SPLIT_RANDOM && (seed_given || m->cuts))
    TERR(x, kw, "seed= and cuts= go with split=random");
  if (m->split == WSC_SPLIT_RANDOM && !seed_given) m->seed = (uint64_t)seed_of(x, kw->line);
}

static bool eol_arg(struct pctx *x, const struct stok *t, const char *v, enum wsc_stomp_eol *e) {
  if (streq(v, "lf")) {
    *e = WSC_EOL_LF;
  } else if (streq(v, "crlf")) {
    *e = WSC_EOL_CRLF;
  } else {
    TERR(x, t, "bad eol '%s': lf or crlf", v);
    return false;
  }
  return true;
}

/* SEND destination:/q body="x" ... | stomp CMD ... (cmd_i: the command token) */
static void d_stomp_frame(struct pctx *x, const struct sline *L, size_t cmd_i) {
  const struct stok *kw = &L->t[0];
  const struct stok *ct = &L->t[cmd_i];
  struct wsc_step s = {.kind = WSC_STEP_STOMP, .loc = loc_of(x, kw)};
  write_copy(&s.write, &x->pol);
  struct wsc_stomp_frame_spec *f = &s.stomp;
  size_t nerr0 = x->nerr;
  bool seed_given = false, touched = false;
  if (text_value(x, ct, 0, strlen(ct->s), &f->command) != 0) {
    step_free(&s);
    return;
  }
  for (size_t i = cmd_i + 1; i < L->n; i++) {
    const struct stok *t = &L->t[i];
    const char *key, *v;
    size_t kn;
    if (kv(t, &key, &kn, &v)) {
      int r = msg_opt(x, t, key, kn, v, &s.msg, &s.write, &seed_given, &touched);
      if (r) continue;
      uint64_t n;
      if (key_is(key, kn, "body")) {
        if (f->body)
          TERR(x, t, "duplicate body");
        else
          payload_arg(x, t, kn + 1, &f->body);
      } else if (key_is(key, kn, "escape")) {
        if (streq(v, "auto") || streq(v, "on"))
          f->escape = WSC_ESC_AUTO;
        else if (streq(v, "off"))
          f->escape = WSC_ESC_OFF;
        else if (streq(v, "1.1"))
          f->escape = WSC_ESC_V11;
        else if (streq(v, "1.2"))
          f->escape = WSC_ESC_V12;
        else
          TERR(x, t, "bad escape '%s': auto, off, 1.1 or 1.2", v);
      } else if (key_is(key, kn, "content-length")) {
        if (streq(v, "auto")) {
          f->clen = WSC_CLEN_AUTO;
        } else if (streq(v, "none")) {
          f->clen = WSC_CLEN_NONE;
        } else if (num_arg(x, t, v, "content-length", UINT64_MAX, &n) == 0) {
          f->clen = WSC_CLEN_VALUE;
          f->clen_value = n;
        }
      } else if (key_is(key, kn, "eol")) {
        eol_arg(x, t, v, &f->eol);
      } else if (key_is(key, kn, "eols")) {
        if (num_arg(x, t, v, "eols", 1u << 20, &n) == 0) f->count = (uint32_t)n;
      } else if (key_is(key, kn, "line")) {
        struct wsc_stomp_hdr h = {.line = true};
        if (text_value(x, t, kn + 1, strlen(v), &h.value) == 0 &&
            check_text_vars(x, t, &h.value) == 0) {
          h.name.s = xstrdup("");
          XPUSH(f->headers, f->nheaders, h);
        } else {
          text_free(&h.value);
        }
      } else if (key_is(key, kn, "terminator")) {
        if (f->terminator)
          TERR(x, t, "duplicate terminator");
        else
          payload_arg(x, t, kn + 1, &f->terminator);
      } else {
        TERR(x, t, "unknown option '%.*s' for a STOMP frame", (int)kn, key);
      }
      continue;
    }
    long colon = header_colon(t->s);
    if (colon <= 0) {
      TERR(x, t,
           "expected a header NAME:VALUE or an option (body=, line=, escape=, "
           "content-length=, eol=, split=, ...), got '%s'",
           t->s);
      continue;
    }
    struct wsc_stomp_hdr h = {0};
    if (text_value(x, t, 0, (size_t)colon, &h.name) || check_text_vars(x, t, &h.name) ||
        text_value(x, t, (size_t)colon + 1, strlen(t->s) - (size_t)colon - 1, &h.value) ||
        check_text_vars(x, t, &h.value)) {
      text_free(&h.name);
      text_free(&h.value);
      continue;
    }
    XPUSH(f->headers, f->nheaders, h);
  }
  msg_finish(x, kw, &s.msg, seed_given);
  if (touched && x->pol.coalesce) TERR(x, kw, "chop= cannot be used while coalescing");
  if (x->spack && x->cur_conn == x->spack_conn) {
    s.coalesce = true;
    if (s.msg.split != WSC_SPLIT_WHOLE || s.msg.as_set || s.msg.frag || s.msg.delay_us)
      TERR(x, kw, "message options go on 'stomp flush' while coalescing (line %d)", x->spack_line);
  }
  if (x->nerr != nerr0) {
    step_free(&s);
    return;
  }
  mark_stomp(x);
  push_step(x, &s);
}

/* heartbeat [N] [eol=lf|crlf] [message options] */
static void d_heartbeat(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  struct wsc_step s = {.kind = WSC_STEP_STOMP, .loc = loc_of(x, kw)};
  write_copy(&s.write, &x->pol);
  s.stomp.heartbeat = true;
  s.stomp.count = 1;
  size_t nerr0 = x->nerr;
  bool seed_given = false, touched = false, counted = false;
  for (size_t i = 1; i < L->n; i++) {
    const struct stok *t = &L->t[i];
    const char *key, *v;
    size_t kn;
    uint64_t n;
    if (kv(t, &key, &kn, &v)) {
      int r = msg_opt(x, t, key, kn, v, &s.msg, &s.write, &seed_given, &touched);
      if (r) continue;
      if (key_is(key, kn, "eol"))
        eol_arg(x, t, v, &s.stomp.eol);
      else
        TERR(x, t, "unknown option '%.*s' for heartbeat", (int)kn, key);
      continue;
    }
    if (!counted && num_arg(x, t, t->s, "heart-beat EOL count", 1u << 20, &n) == 0) {
      if (n == 0) TERR(x, t, "heartbeat needs at least one EOL");
      s.stomp.count = (uint32_t)n;
      counted = true;
      continue;
    }
    if (counted) TERR(x, t, "unexpected '%s': heartbeat [N] [eol=lf|crlf]", t->s);
  }
  msg_finish(x, kw, &s.msg, seed_given);
  if (x->spack && x->cur_conn == x->spack_conn) s.coalesce = true;
  if (x->nerr != nerr0) {
    step_free(&s);
    return;
  }
  mark_stomp(x);
  push_step(x, &s);
}

/* stomp coalesce | stomp flush [message options] | stomp CMD [headers] [options] */
static void d_stomp(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  if (L->n < 2) {
    TERR(x, kw, "stomp needs coalesce, flush, or a command: stomp \"send\" destination:/q");
    return;
  }
  const char *w = L->t[1].s;
  if (streq(w, "coalesce")) {
    if (L->n > 2) TERR(x, &L->t[2], "unexpected '%s': stomp coalesce takes no options", L->t[2].s);
    if (x->spack) {
      TERR(x, kw, "stomp coalesce while already coalescing (line %d)", x->spack_line);
      return;
    }
    x->spack = true;
    x->spack_conn = x->cur_conn;
    x->spack_line = kw->line;
    mark_stomp(x);
    return;
  }
  if (streq(w, "flush")) {
    if (!x->spack || x->spack_conn != x->cur_conn) {
      TERR(x, kw, "stomp flush without stomp coalesce on this connection");
      return;
    }
    struct wsc_step s = {.kind = WSC_STEP_STOMP_FLUSH, .loc = loc_of(x, kw)};
    write_copy(&s.write, &x->pol);
    bool seed_given = false, touched = false;
    size_t nerr0 = x->nerr;
    for (size_t i = 2; i < L->n; i++) {
      const struct stok *t = &L->t[i];
      const char *key, *v;
      size_t kn;
      if (kv(t, &key, &kn, &v) &&
          msg_opt(x, t, key, kn, v, &s.msg, &s.write, &seed_given, &touched))
        continue;
      TERR(x, t,
           "unknown option '%s' for stomp flush: split=, chunk=, seed=, cuts=, as=, frag=, "
           "delay=, chop=",
           t->s);
    }
    msg_finish(x, kw, &s.msg, seed_given);
    x->spack = false;
    if (x->nerr != nerr0) {
      step_free(&s);
      return;
    }
    push_step(x, &s);
    return;
  }
  d_stomp_frame(x, L, 1);
}

/* capture NAME = header HNAME | body | command */
static void d_capture(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  static const char *usage = "capture needs NAME = header HNAME, NAME = body or NAME = command";
  if (L->n < 4 || !streq(L->t[2].s, "=")) {
    TERR(x, kw, "%s", usage);
    return;
  }
  const char *nm = L->t[1].s;
  bool ok = is_ident_start(nm[0]);
  for (const char *p = nm; ok && *p; p++) ok = is_ident_char(*p);
  if (!ok) {
    TERR(x, &L->t[1], "bad capture name '%s': letters, digits, '_'", nm);
    return;
  }
  if (is_builtin_var(nm, strlen(nm)) || streq(nm, "target") || streq(nm, "key") ||
      streq(nm, "origin")) {
    TERR(x, &L->t[1], "'%s' is a built-in variable; choose another name", nm);
    return;
  }
  struct wsc_step s = {.kind = WSC_STEP_CAPTURE, .loc = loc_of(x, kw)};
  const char *src = L->t[3].s;
  if (streq(src, "header")) {
    if (L->n != 5) {
      TERR(x, &L->t[3], "capture ... = header needs one header name");
      return;
    }
    s.capture_src = WSC_CAP_HEADER;
    if (text_value(x, &L->t[4], 0, strlen(L->t[4].s), &s.capture_header)) return;
  } else if (streq(src, "body") || streq(src, "command")) {
    if (L->n != 4) {
      TERR(x, &L->t[4], "unexpected '%s' after %s", L->t[4].s, src);
      return;
    }
    s.capture_src = streq(src, "body") ? WSC_CAP_BODY : WSC_CAP_COMMAND;
  } else {
    TERR(x, &L->t[3], "%s", usage);
    return;
  }
  s.capture_name = xstrdup(nm);
  if (!is_capture(x, nm, strlen(nm))) XPUSH(x->caps, x->ncaps, xstrdup(nm));
  mark_stomp(x);
  push_step(x, &s);
}

static const char *const reserved_conn_names[] = {
    "case",    "title", "alias",  "clause",    "level",  "role",  "tags", "requires",
    "timeout", "note",  "each",   "loop",      "either", "or",    "end",  "handshake",
    "send",    "close", "finish", "write",     "flush",  "sleep", "drop", "shutdown",
    "expect",  "conn",  "stomp",  "heartbeat", "capture"};

/* conn NAME... [subprotocol=LIST] [connect=VERSIONS] [login=] [passcode=] [host=]
 *      [heart-beat=CX,CY] [eol=lf|crlf] [as=text|binary] [stomp] */
static void d_conn(struct pctx *x, const struct sline *L) {
  const struct stok *kw = &L->t[0];
  if (x->seen_step) {
    TERR(x, kw, "conn lines come before the steps of the case");
    return;
  }
  if (x->c->nconns && !x->c->conns[0].name) {
    TERR(x, kw, "conn lines come before the steps of the case");
    return;
  }
  struct wsc_conn_decl opt = {0};
  char *heart_beat = NULL;
  size_t first = x->c->nconns;
  size_t nerr0 = x->nerr;
  bool any = false;
  for (size_t i = 1; i < L->n; i++) {
    const struct stok *t = &L->t[i];
    const char *key, *v;
    size_t kn;
    if (kv(t, &key, &kn, &v)) {
      if (key_is(key, kn, "subprotocol")) {
        for (const char *p = v; *p;) {
          const char *c = strchr(p, ',');
          size_t n = c ? (size_t)(c - p) : strlen(p);
          if (!is_token_text(p, n)) {
            TERR(x, t, "bad subprotocol list '%s'", v);
            break;
          }
          XPUSH(opt.subprotocols, opt.nsubprotocols, xstrndup(p, n));
          p += n;
          if (*p == ',') p++;
        }
      } else if (key_is(key, kn, "connect")) {
        bool ok = *v != 0;
        for (const char *p = v; ok && *p;) {
          const char *c = strchr(p, ',');
          size_t n = c ? (size_t)(c - p) : strlen(p);
          ok = wsc_stomp_version_parse(p, n) != 0;
          p += n;
          if (*p == ',') p++;
        }
        if (!ok)
          TERR(x, t, "bad connect '%s': STOMP versions such as 1.2 or 1.0,1.1,1.2", v);
        else {
          free(opt.connect);
          opt.connect = xstrdup(v);
        }
      } else if (key_is(key, kn, "login") || key_is(key, kn, "passcode") ||
                 key_is(key, kn, "host")) {
        struct wsc_text **dst = key_is(key, kn, "login")      ? &opt.login
                                : key_is(key, kn, "passcode") ? &opt.passcode
                                                              : &opt.host;
        struct wsc_text tv;
        if (text_value(x, t, kn + 1, strlen(v), &tv) == 0 && check_text_vars(x, t, &tv) == 0) {
          text_ptr_free(*dst);
          *dst = xcalloc(1, sizeof **dst);
          **dst = tv;
        } else {
          text_free(&tv);
        }
      } else if (key_is(key, kn, "heart-beat")) {
        const char *comma = strchr(v, ',');
        uint64_t a, b;
        if (!comma || wsc_parse_size(v, (size_t)(comma - v), &a) ||
            wsc_parse_size(comma + 1, strlen(comma + 1), &b))
          TERR(x, t, "bad heart-beat '%s': two numbers of milliseconds, e.g. 1000,0", v);
        else {
          free(heart_beat);
          heart_beat = xstrdup(v);
        }
      } else if (key_is(key, kn, "eol")) {
        eol_arg(x, t, v, &opt.eol);
      } else if (key_is(key, kn, "as")) {
        if (streq(v, "text") || streq(v, "binary"))
          opt.binary = streq(v, "binary");
        else
          TERR(x, t, "bad as '%s': text or binary", v);
      } else {
        TERR(x, t,
             "unknown conn option '%.*s': subprotocol=, connect=, login=, passcode=, "
             "host=, heart-beat=, eol=, as=",
             (int)kn, key);
      }
      continue;
    }
    if (streq(t->s, "stomp")) {
      opt.stomp = true;
      continue;
    }
    const char *nm = t->s;
    bool ok = nm[0] >= 'a' && nm[0] <= 'z';
    for (const char *p = nm; ok && *p; p++)
      ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    for (size_t k = 0; ok && k < sizeof reserved_conn_names / sizeof *reserved_conn_names; k++)
      if (streq(nm, reserved_conn_names[k])) ok = false;
    if (!ok) {
      TERR(x, t, "bad connection name '%s': lowercase letters, digits, '_', not a directive", nm);
      continue;
    }
    if (conn_index(x, nm) >= 0) {
      TERR(x, t, "connection '%s' declared twice", nm);
      continue;
    }
    struct wsc_conn_decl d = {0};
    d.name = xstrdup(nm);
    d.loc = loc_of(x, t);
    XPUSH(x->c->conns, x->c->nconns, d);
    any = true;
  }
  if (!any && x->nerr == nerr0) TERR(x, kw, "conn needs at least one name: conn a b pub ...");
  if (opt.connect) opt.stomp = true;
  for (size_t i = 0; i < opt.nsubprotocols; i++)
    if (wsc_stomp_subprotocol_version(opt.subprotocols[i])) opt.stomp = true;
  /* every name on the line gets the options */
  for (size_t k = first; k < x->c->nconns; k++) {
    struct wsc_conn_decl *d = &x->c->conns[k];
    for (size_t i = 0; i < opt.nsubprotocols; i++)
      XPUSH(d->subprotocols, d->nsubprotocols, xstrdup(opt.subprotocols[i]));
    d->connect = opt.connect ? xstrdup(opt.connect) : NULL;
    d->stomp = opt.stomp;
    d->eol = opt.eol;
    d->binary = opt.binary;
    if (opt.login) {
      d->login = xcalloc(1, sizeof *d->login);
      d->login->s = xstrndup(opt.login->s, opt.login->n);
      d->login->n = opt.login->n;
    }
    if (opt.passcode) {
      d->passcode = xcalloc(1, sizeof *d->passcode);
      d->passcode->s = xstrndup(opt.passcode->s, opt.passcode->n);
      d->passcode->n = opt.passcode->n;
    }
    if (opt.host) {
      d->host = xcalloc(1, sizeof *d->host);
      d->host->s = xstrndup(opt.host->s, opt.host->n);
      d->host->n = opt.host->n;
    }
  }
  /* connect=: CONNECT and expect CONNECTED, at this point of the case, per connection;
   * generated steps do not end the conn lines */
  bool seen = x->seen_step;
  for (size_t k = first; opt.connect && x->nerr == nerr0 && k < x->c->nconns; k++) {
    struct wsc_step s = {.kind = WSC_STEP_STOMP, .loc = loc_of(x, kw)};
    write_copy(&s.write, &x->pol);
    struct wsc_stomp_frame_spec *f = &s.stomp;
    f->command.s = xstrdup("CONNECT");
    f->command.n = 7;
    int max = wsc_stomp_version_max(opt.connect, strlen(opt.connect));
    bool only10 = max == 10;
    struct {
      const char *name, *value;
      bool optional;
    } hs[] = {{"accept-version", opt.connect, false},
              {"host", "$stomp_host", false},
              {"login", "$stomp_login", true},
              {"passcode", "$stomp_passcode", true},
              {"heart-beat", heart_beat, false}};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
      if (!hs[i].value) continue;
      /* a 1.0 client sends neither accept-version nor host */
      if (only10 && i < 2) continue;
      struct wsc_stomp_hdr h = {{xstrdup(hs[i].name), strlen(hs[i].name)},
                                {xstrdup(hs[i].value), strlen(hs[i].value)},
                                hs[i].optional,
                                false};
      XPUSH(f->headers, f->nheaders, h);
    }
    x->cur_conn = k;
    push_step(x, &s);
    struct wsc_expect e = {
        .kind = WSC_EXP_STOMP, .loc = loc_of(x, kw), .opcode = -1, .fin = -1, .rsv = -1};
    e.stomp.as = -1;
    e.stomp.command.s = xstrdup("CONNECTED");
    e.stomp.command.n = 9;
    if (!only10) {
      const char *vs = max == 12 ? "1.2" : max == 11 ? "1.1" : "1.0";
      struct wsc_stomp_hmatch hm = {.op = WSC_HMO_EQUALS};
      hm.name.s = xstrdup("version");
      hm.name.n = 7;
      hm.value.s = xstrdup(vs);
      hm.value.n = 3;
      XPUSH(e.stomp.headers, e.stomp.nheaders, hm);
    }
    push_alt_step(x, kw, &e, false, WSC_GRADE_PASS);
    x->cur_conn = 0;
  }
  x->seen_step = seen;
  conn_decl_free(&opt);
  free(heart_beat);
}

/* A whole-value regex, compiled now so that lint reports a bad one. */
static void *compile_re(struct pctx *x, const struct stok *t, const struct wsc_text *pat) {
  if (memchr(pat->s, 0, pat->n)) {
    TERR(x, t, "a regular expression cannot contain a NUL octet");
    return NULL;
  }
  char *full = xcalloc(pat->n + 8, 1);
  snprintf(full, pat->n + 8, "^(%s)$", pat->s);
  regex_t *re = xcalloc(1, sizeof *re);
  int rc = regcomp(re, full, REG_EXTENDED | REG_NOSUB);
  free(full);
  if (rc) {
    char eb[160];
    regerror(rc, re, eb, sizeof eb);
    TERR(x, t, "bad regular expression '%s': %s", pat->s, eb);
    free(re);
    return NULL;
  }
  return re;
}

static bool is_stomp_word(const char *s) {
  if (!(*s >= 'A' && *s <= 'Z')) return false;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
      return false;
  return true;
}

/* expect COMMAND checks... (tokens [2, end) of L; the command is L->t[1]) */
static void parse_stomp_expect(struct pctx *x, const struct sline *L, size_t end,
                               struct wsc_expect *e) {
  struct wsc_stomp_expect *se = &e->stomp;
  e->kind = WSC_EXP_STOMP;
  se->as = -1;
  se->command.s = xstrdup(L->t[1].s);
  se->command.n = strlen(L->t[1].s);
  for (size_t i = 2; i < end; i++) {
    const struct stok *t = &L->t[i];
    const char *key, *v;
    size_t kn;
    uint64_t n;
    if (kv(t, &key, &kn, &v)) {
      if (key_is(key, kn, "body")) {
        if (v[0] == '~') {
          if (se->body_re.n)
            TERR(x, t, "duplicate body=~");
          else if (text_value(x, t, kn + 2, strlen(v + 1), &se->body_re) == 0)
            se->body_re_c = compile_re(x, t, &se->body_re);
        } else if (e->match.payload) {
          TERR(x, t, "duplicate body");
        } else {
          payload_arg(x, t, kn + 1, &e->match.payload);
        }
      } else if (key_is(key, kn, "raw")) {
        if (se->raw)
          TERR(x, t, "duplicate raw");
        else
          payload_arg(x, t, kn + 1, &se->raw);
      } else if (key_is(key, kn, "len")) {
        if (num_arg(x, t, v, "len", UINT64_MAX, &n) == 0) {
          e->match.has_len = true;
          e->match.len = n;
        }
      } else if (key_is(key, kn, "as")) {
        if (streq(v, "text") || streq(v, "binary"))
          se->as = streq(v, "text") ? 1 : 2;
        else
          TERR(x, t, "bad as '%s': text or binary", v);
      } else {
        TERR(x, t,
             "unknown option '%.*s' for expect %s (body=, body=~, raw=, len=, as=, "
             "timeout=, else=)",
             (int)kn, key, L->t[1].s);
      }
      continue;
    }
    struct wsc_stomp_hmatch hm = {0};
    size_t tl = strlen(t->s);
    long colon = header_colon(t->s);
    if (t->s[0] == '!' && tl > 1 && colon < 0) {
      hm.op = WSC_HMO_ABSENT;
      if (text_value(x, t, 1, tl - 1, &hm.name)) continue;
    } else if (colon < 0 && tl > 1 && t->s[tl - 1] == '?') {
      hm.op = WSC_HMO_PRESENT;
      if (text_value(x, t, 0, tl - 1, &hm.name)) continue;
    } else if (colon > 0) {
      if (text_value(x, t, 0, (size_t)colon, &hm.name)) continue;
      const char *val = t->s + colon + 1;
      if (val[0] == '~') {
        hm.op = WSC_HMO_REGEX;
        if (text_value(x, t, (size_t)colon + 2, strlen(val + 1), &hm.value) == 0)
          hm.re = compile_re(x, t, &hm.value);
      } else {
        hm.op = WSC_HMO_EQUALS;
        if (text_value(x, t, (size_t)colon + 1, strlen(val), &hm.value) == 0)
          check_text_vars(x, t, &hm.value);
      }
    } else {
      TERR(x, t,
           "expected a header check (NAME:VALUE, NAME:~REGEX, NAME?, !NAME) or an option "
           "(body=, body=~, raw=, len=, as=), got '%s'",
           t->s);
      continue;
    }
    XPUSH(se->headers, se->nheaders, hm);
  }
}

/* ---------------------------------------------------------------------------------------
 * Dispatch
 */

static const char *const meta_words[] = {"clause", "level", "role", "tags", "requires", "timeout"};

/* Directives that act on one connection (and take its name in front in a case with
 * several). */
static bool conn_directive(const char *k) {
  static const char *const v[] = {"send",   "close", "finish",    "drop",   "shutdown",
                                  "expect", "stomp", "heartbeat", "capture"};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++)
    if (streq(k, v[i])) return true;
  return is_stomp_word(k) && wsc_stomp_is_command(k, strlen(k));
}

static void dispatch_step(struct pctx *x, const struct sline *L, struct wsc_alt *in_alt);

static void dispatch(struct pctx *x, const struct sline *L, struct wsc_alt *in_alt) {
  const struct stok *kw = &L->t[0];
  int ci = x->in_defaults ? -1 : conn_index(x, kw->s);
  x->prefixed = false;
  x->cur_conn = 0;
  if (ci >= 0) {
    if (L->n < 2) {
      TERR(x, kw, "a connection name needs a step after it, e.g. %s SEND destination:/q", kw->s);
      return;
    }
    const char *k = L->t[1].s;
    bool hs = streq(k, "expect") && L->n > 2 && is_hs_expect_word(L->t[2].s);
    if (!conn_directive(k) || hs) {
      TERR(x, &L->t[1], "'%s' does not take a connection name%s", hs ? "expect handshake" : k,
           hs ? " (it checks the first connection)" : "");
      return;
    }
    struct sline sub = {L->t + 1, L->n - 1};
    x->cur_conn = (size_t)ci;
    x->prefixed = true;
    dispatch_step(x, &sub, in_alt);
    x->prefixed = false;
    x->cur_conn = 0;
    return;
  }
  const char *k = kw->s;
  size_t named = 0;
  for (size_t i = 0; i < x->c->nconns; i++) named += x->c->conns[i].name != NULL;
  bool hs = streq(k, "expect") && L->n > 1 && is_hs_expect_word(L->t[1].s);
  if (named > 1 && conn_directive(k) && !hs) {
    TERR(x, kw, "this case has several connections: name one first, e.g. '%s %s ...'",
         x->c->conns[0].name, k);
    return;
  }
  dispatch_step(x, L, in_alt);
}

static void dispatch_step(struct pctx *x, const struct sline *L, struct wsc_alt *in_alt) {
  const struct stok *kw = &L->t[0];
  const char *k = kw->s;
  struct wsc_case *c = x->c;
  if (in_alt && !streq(k, "expect")) {
    TERR(x, kw, "only expect lines are allowed inside either/or, not '%s'", k);
    return;
  }
  if (x->in_defaults) {
    bool ok = false;
    for (size_t i = 0; i < sizeof meta_words / sizeof meta_words[0]; i++)
      if (streq(k, meta_words[i])) ok = true;
    if (!ok) {
      bool known = streq(k, "title") || streq(k, "alias") || streq(k, "note") || streq(k, "send") ||
                   streq(k, "close") || streq(k, "expect") || streq(k, "handshake") ||
                   streq(k, "write") || streq(k, "sleep") || streq(k, "finish") ||
                   streq(k, "each") || streq(k, "flush") || streq(k, "drop") ||
                   streq(k, "shutdown") || streq(k, "loop") || streq(k, "either") ||
                   streq(k, "conn") || streq(k, "stomp") || streq(k, "heartbeat") ||
                   streq(k, "capture") || (is_stomp_word(k) && wsc_stomp_is_command(k, strlen(k)));
      if (known)
        TERR(x, kw,
             "'%s' is not allowed before the first case (only clause, level, role, tags, "
             "requires, timeout)",
             k);
      else
        TERR(x, kw, "unknown directive '%s'", k);
      return;
    }
  }
  if (streq(k, "title")) {
    if (x->seen_title)
      TERR(x, kw, "duplicate title");
    else if (L->n < 2)
      TERR(x, kw, "title needs text");
    else {
      free(c->title);
      c->title = text_arg(L, 1, L->n);
      x->seen_title = true;
    }
  } else if (streq(k, "alias")) {
    if (x->seen_alias)
      TERR(x, kw, "duplicate alias");
    else if (L->n != 2)
      TERR(x, kw, "alias needs one id, e.g. alias 1.1.{i}");
    else if (!is_id_text(L->t[1].s))
      TERR(x, &L->t[1], "bad alias '%s': letters, digits, '.', '_', '-'", L->t[1].s);
    else {
      c->alias = xstrdup(L->t[1].s);
      x->seen_alias = true;
    }
  } else if (streq(k, "clause")) {
    d_clause(x, L, &c->clauses, &c->nclauses);
  } else if (streq(k, "level")) {
    if (x->seen_level)
      TERR(x, kw, "duplicate level");
    else {
      d_level(x, L, &c->level);
      x->seen_level = true;
    }
  } else if (streq(k, "role")) {
    if (x->seen_role)
      TERR(x, kw, "duplicate role");
    else {
      d_role(x, L, &c->role);
      x->seen_role = true;
    }
  } else if (streq(k, "tags")) {
    d_tags(x, L, &c->tags, &c->ntags);
  } else if (streq(k, "requires")) {
    d_requires(x, L, &c->requires, &c->nrequires);
  } else if (streq(k, "timeout")) {
    if (x->seen_timeout)
      TERR(x, kw, "duplicate timeout");
    else {
      d_timeout(x, L, &c->timeout_us);
      x->seen_timeout = true;
    }
  } else if (streq(k, "note")) {
    if (L->n < 2)
      TERR(x, kw, "note needs text");
    else
      XPUSH(c->notes, c->nnotes, text_arg(L, 1, L->n));
  } else if (streq(k, "each")) {
    /* handled by the expansion pass */
  } else if (streq(k, "handshake")) {
    d_handshake(x, L);
  } else if (streq(k, "send")) {
    d_send(x, L);
  } else if (streq(k, "close")) {
    d_close(x, L);
  } else if (streq(k, "finish")) {
    d_finish(x, L);
  } else if (streq(k, "write")) {
    d_write(x, L);
  } else if (streq(k, "flush")) {
    d_flush(x, L);
  } else if (streq(k, "sleep")) {
    d_sleep(x, L);
  } else if (streq(k, "drop")) {
    d_noarg_step(x, L, WSC_STEP_DROP);
  } else if (streq(k, "shutdown")) {
    d_noarg_step(x, L, WSC_STEP_SHUTDOWN);
  } else if (streq(k, "expect")) {
    d_expect(x, L, in_alt);
  } else if (streq(k, "conn")) {
    d_conn(x, L);
  } else if (streq(k, "stomp")) {
    d_stomp(x, L);
  } else if (streq(k, "heartbeat")) {
    d_heartbeat(x, L);
  } else if (streq(k, "capture")) {
    d_capture(x, L);
  } else if (is_stomp_word(k) && wsc_stomp_is_command(k, strlen(k))) {
    d_stomp_frame(x, L, 0);
  } else if (streq(k, "case")) {
    TERR(x, kw, "case must start a line of its own");
  } else {
    TERR(x, kw, "unknown directive '%s'", k);
  }
}

/* Index of the `end` closing the block opened at `at`, or `to` if none. For `either`,
 * also collects the indexes of its top-level `or` lines. */
static size_t block_end(struct srcfile *f, size_t at, size_t to, size_t **ors, size_t *nors) {
  int depth = 0;
  for (size_t i = at + 1; i < to; i++) {
    const struct tok *k = &f->lines[i].t[0];
    if (tok_is(k, "loop") || tok_is(k, "either"))
      depth++;
    else if (tok_is(k, "end")) {
      if (depth == 0) return i;
      depth--;
    } else if (depth == 0 && tok_is(k, "or") && ors) {
      XPUSH(*ors, *nors, i);
    }
  }
  return to;
}

static void interp(struct pctx *x, size_t from, size_t to, struct wsc_alt *in_alt);

static void do_loop(struct pctx *x, size_t at, size_t end) {
  struct sline L;
  if (subst_line(x, &x->f->lines[at], &L) != 0) return;
  const struct stok *kw = &L.t[0];
  char **vals = NULL;
  size_t nvals = 0;
  const char *var = NULL;
  uint64_t count = 0;
  if (L.n == 2) {
    if (num_arg(x, &L.t[1], L.t[1].s, "loop count", x->L->opts.max_steps, &count) != 0) {
      sline_free(&L);
      return;
    }
  } else if (L.n >= 4 && streq(L.t[2].s, "=") && is_ident_start(L.t[1].s[0])) {
    var = L.t[1].s;
    for (size_t i = 3; i < L.n; i++) {
      const char *s = L.t[i].s;
      const char *dots = strstr(s, "..");
      uint64_t a, b;
      if (dots && wsc_parse_size(s, (size_t)(dots - s), &a) == 0 &&
          wsc_parse_size(dots + 2, strlen(dots + 2), &b) == 0 && a <= b &&
          b - a < x->L->opts.max_steps) {
        for (uint64_t k = a; k <= b; k++) {
          char buf[32];
          snprintf(buf, sizeof buf, "%llu", (unsigned long long)k);
          XPUSH(vals, nvals, xstrdup(buf));
        }
      } else {
        char *u = unquote(s);
        XPUSH(vals, nvals, u ? u : xstrdup(s));
      }
    }
    count = nvals;
  } else {
    TERR(x, kw, "loop needs a count or VAR = VALUES, e.g. loop 10 or loop k = 1..10");
    sline_free(&L);
    return;
  }
  for (uint64_t it = 0; it < count; it++) {
    size_t e0 = x->nerr;
    if (var) {
      struct binding bd = {var, vals[it]};
      XPUSH(x->b, x->nb, bd);
    }
    interp(x, at + 1, end, NULL);
    if (var) x->nb--;
    if (x->nerr != e0 || x->too_many_steps) break;
  }
  strv_free(vals, nvals);
  sline_free(&L);
}

static void do_either(struct pctx *x, size_t at, size_t end, const size_t *ors, size_t nors) {
  struct srcfile *f = x->f;
  struct wsc_step s = {.kind = WSC_STEP_EXPECT};
  size_t nerr0 = x->nerr;
  x->alt_conn = -1;
  for (size_t b = 0; b <= nors; b++) {
    size_t head = b == 0 ? at : ors[b - 1];
    size_t stop = b == nors ? end : ors[b];
    struct sline L;
    if (subst_line(x, &f->lines[head], &L) != 0) continue;
    struct wsc_alt alt = {.grade = WSC_GRADE_PASS, .loc = loc_of(x, &L.t[0])};
    if (b == 0) s.loc = alt.loc;
    if (L.n > 2)
      TERR(x, &L.t[2], "unexpected '%s': %s takes one grade", L.t[2].s, L.t[0].s);
    else if (L.n == 2)
      grade_arg(x, &L.t[1], L.t[1].s, &alt.grade);
    sline_free(&L);
    interp(x, head + 1, stop, &alt);
    XPUSH(s.expect.alts, s.expect.nalts, alt);
  }
  if (nors == 0) perr(x, s.loc.line, s.loc.col, "either needs at least one 'or'");
  if (x->nerr != nerr0) {
    step_free(&s);
    return;
  }
  x->cur_conn = x->alt_conn >= 0 ? (size_t)x->alt_conn : 0;
  push_step(x, &s);
  x->cur_conn = 0;
}

static void interp(struct pctx *x, size_t from, size_t to, struct wsc_alt *in_alt) {
  struct srcfile *f = x->f;
  for (size_t i = from; i < to; i++) {
    const struct lline *l = &f->lines[i];
    const struct tok *k = &l->t[0];
    if (tok_is(k, "loop") || tok_is(k, "either")) {
      size_t *ors = NULL, nors = 0;
      bool either = tok_is(k, "either");
      size_t e = block_end(f, i, to, either ? &ors : NULL, &nors);
      if (in_alt) {
        perr(x, k->line, k->col, "only expect lines are allowed inside either/or, not '%.*s'",
             (int)k->n, k->p);
      } else if (x->in_defaults) {
        perr(x, k->line, k->col,
             "'%.*s' is not allowed before the first case (only clause, level, role, tags, "
             "requires, timeout)",
             (int)k->n, k->p);
      } else if (e == to) {
        perr(x, k->line, k->col, "%.*s without end", (int)k->n, k->p);
      } else if (either) {
        do_either(x, i, e, ors, nors);
      } else {
        do_loop(x, i, e);
      }
      free(ors);
      if (e == to) return;
      i = e;
      continue;
    }
    if (tok_is(k, "end")) {
      perr(x, k->line, k->col, "'end' without loop or either");
      continue;
    }
    if (tok_is(k, "or")) {
      perr(x, k->line, k->col, "'or' without either");
      continue;
    }
    struct sline L;
    if (subst_line(x, l, &L) != 0) continue;
    dispatch(x, &L, in_alt);
    sline_free(&L);
  }
}

/* ---------------------------------------------------------------------------------------
 * Definitions and expansion
 */

struct evar {
  const struct tok *name;
  char **vals;
  size_t n;
};

static void evars_free(struct evar *v, size_t n) {
  for (size_t i = 0; i < n; i++) strv_free(v[i].vals, v[i].n);
  free(v);
}

/* Parses the `each` lines of a definition into groups of zipped variables. Returns -1 on
 * error (diagnosed). */
static int parse_each(struct loader *L, struct srcfile *f, size_t from, size_t to,
                      struct evar **vars, size_t *nvars, size_t **group_of, size_t *ngroups) {
  size_t nerr0 = L->nerrors;
  for (size_t li = from; li < to; li++) {
    const struct lline *l = &f->lines[li];
    if (!tok_is(&l->t[0], "each")) continue;
    size_t g = (*ngroups)++;
    size_t i = 1, first_in_group = *nvars;
    if (l->n < 2) diag(L, f->name, l->t[0].line, l->t[0].col, "each needs NAME = VALUES");
    while (i < l->n) {
      const struct tok *nt = &l->t[i];
      struct evar v = {.name = nt};
      size_t nl = nt->n;
      const char *eq = memchr(nt->p, '=', nt->n);
      size_t vi;
      struct tok inl = {0};
      if (eq) {
        nl = (size_t)(eq - nt->p);
        if (eq + 1 < nt->p + nt->n) {
          inl.p = eq + 1;
          inl.n = (size_t)(nt->p + nt->n - eq - 1);
          inl.line = nt->line;
          inl.col = nt->col + (int)nl + 1;
        }
        vi = i + 1;
      } else if (i + 1 < l->n && tok_is(&l->t[i + 1], "=")) {
        vi = i + 2;
      } else {
        diag(L, f->name, nt->line, nt->col, "each: expected NAME = VALUES, got '%.*s'", (int)nt->n,
             nt->p);
        return -1;
      }
      bool name_ok = nl > 0 && is_ident_start(nt->p[0]);
      for (size_t k = 1; name_ok && k < nl; k++) name_ok = is_ident_char(nt->p[k]);
      if (!name_ok) {
        diag(L, f->name, nt->line, nt->col, "bad variable name '%.*s'", (int)nl, nt->p);
        return -1;
      }
      for (size_t k = 0; k < *nvars; k++) {
        const struct tok *o = (*vars)[k].name;
        const char *oe = memchr(o->p, '=', o->n);
        size_t ol = oe ? (size_t)(oe - o->p) : o->n;
        if (ol == nl && memcmp(o->p, nt->p, nl) == 0) {
          diag(L, f->name, nt->line, nt->col, "variable '%.*s' defined twice", (int)nl, nt->p);
          return -1;
        }
      }
      /* values up to ';' (the first may be glued to the name: n=0) */
      size_t j = vi;
      bool use_inl = inl.n > 0;
      for (;;) {
        const struct tok *vt;
        if (use_inl) {
          vt = &inl;
          use_inl = false;
        } else {
          if (j >= l->n || tok_is(&l->t[j], ";")) break;
          vt = &l->t[j++];
        }
        char *s = xstrndup(vt->p, vt->n);
        char *dots = strstr(s, "..");
        uint64_t a, b;
        if (dots && s[0] != '"' && wsc_parse_size(s, (size_t)(dots - s), &a) == 0 &&
            wsc_parse_size(dots + 2, strlen(dots + 2), &b) == 0) {
          if (a > b || b - a >= L->opts.max_expansions) {
            diag(L, f->name, vt->line, vt->col, "bad range '%s'", s);
            free(s);
            strv_free(v.vals, v.n);
            return -1;
          }
          for (uint64_t k = a; k <= b; k++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)k);
            XPUSH(v.vals, v.n, xstrdup(buf));
          }
          free(s);
        } else {
          char *u = unquote(s);
          if (u) {
            free(s);
            s = u;
          }
          XPUSH(v.vals, v.n, s);
        }
      }
      if (v.n == 0) {
        diag(L, f->name, nt->line, nt->col, "variable '%.*s' has no values", (int)nl, nt->p);
        return -1;
      }
      if (*nvars > first_in_group && (*vars)[first_in_group].n != v.n) {
        const struct tok *ft = (*vars)[first_in_group].name;
        const char *fe = memchr(ft->p, '=', ft->n);
        size_t fl = fe ? (size_t)(fe - ft->p) : ft->n;
        diag(L, f->name, nt->line, nt->col,
             "expansion list length mismatch: '%.*s' has %zu values, '%.*s' has %zu", (int)nl,
             nt->p, v.n, (int)fl, ft->p, (*vars)[first_in_group].n);
        strv_free(v.vals, v.n);
        return -1;
      }
      size_t ng = *nvars;
      XPUSH(*group_of, ng, g);
      XPUSH(*vars, *nvars, v);
      i = j;
      if (i < l->n && tok_is(&l->t[i], ";")) i++;
    }
  }
  return L->nerrors == nerr0 ? 0 : -1;
}

static size_t var_name_len(const struct tok *t) {
  const char *e = memchr(t->p, '=', t->n);
  return e ? (size_t)(e - t->p) : t->n;
}

/* Copies file defaults into a fresh case. */
static void apply_defaults(struct wsc_case *c, const struct defaults *d) {
  for (size_t i = 0; i < d->nclauses; i++) XPUSH(c->clauses, c->nclauses, xstrdup(d->clauses[i]));
  for (size_t i = 0; i < d->ntags; i++) XPUSH(c->tags, c->ntags, xstrdup(d->tags[i]));
  for (size_t i = 0; i < d->nreqs; i++) {
    struct wsc_requirement r = {d->reqs[i].kind, xstrdup(d->reqs[i].value)};
    XPUSH(c->requires, c->nrequires, r);
  }
  if (d->has_level) c->level = d->level;
  if (d->has_role) c->role = d->role;
  c->timeout_us = d->timeout_us;
}

struct out_cases {
  struct wsc_case *v;
  size_t n;
};

/* Builds one case from definition lines [from, to) (from is the `case` line). */
static bool build_case(struct loader *L, struct srcfile *f, size_t from, size_t to,
                       struct defaults *d, struct binding *b, size_t nb, const char *suffix,
                       const char *vars, size_t expansion, struct out_cases *out) {
  struct wsc_case c = {0};
  struct pctx x = {.L = L, .f = f, .suffix = suffix, .b = NULL, .nb = 0, .c = &c, .def = d};
  for (size_t i = 0; i < nb; i++) XPUSH(x.b, x.nb, b[i]);
  apply_defaults(&c, d);
  c.vars = xstrdup(vars);
  c.expansion = expansion;

  /* The case line itself: case ID ["TITLE"] */
  struct sline H;
  const struct tok *ck = &f->lines[from].t[0];
  c.loc = (struct wsc_srcloc){f->name, ck->line, ck->col};
  if (subst_line(&x, &f->lines[from], &H) == 0) {
    if (H.n < 2) {
      TERR(&x, &H.t[0], "case needs an id: case framing.text.empty \"title\"");
    } else {
      if (!is_id_text(H.t[1].s))
        TERR(&x, &H.t[1], "bad case id '%s': letters, digits, '.', '_', '-'", H.t[1].s);
      c.id = xstrdup(H.t[1].s);
      if (H.n >= 3) {
        c.title = text_arg(&H, 2, H.n);
        x.seen_title = true;
      }
    }
    sline_free(&H);
  }
  interp(&x, from + 1, to, NULL);
  flush_stomp_pack(&x, c.loc);
  flush_pending(&x, c.loc);
  free(x.pol.splits);

  /* STOMP connections read STOMP frames, not WebSocket messages */
  for (size_t i = 0; i < x.nwsmsg; i++) {
    size_t k = x.wsmsg[i].conn;
    if (k < c.nconns && c.conns[k].stomp)
      perr(&x, x.wsmsg[i].line, x.wsmsg[i].col,
           "%s%s%sspeaks STOMP: expect its frames (expect MESSAGE ..., raw= for exact bytes), "
           "not WebSocket messages",
           c.conns[k].name ? "connection " : "this connection ",
           c.conns[k].name ? c.conns[k].name : "", c.conns[k].name ? " " : "");
  }
  if (c.nconns > 1 && c.hs.pipeline)
    perr(&x, ck->line, ck->col, "handshake pipeline needs a case with one connection");
  for (size_t i = 0; i < c.nconns; i++) {
    if (c.conns[i].stomp) c.stomp = true;
    if (c.frame_level && c.conns[i].stomp)
      perr(&x, x.first_frame_line, x.first_frame_col,
           "expect frame cannot be used in a case with STOMP connections");
  }
  for (size_t i = 0; i < c.nrequires; i++)
    if (c.requires[i].kind == WSC_REQ_SUBPROTOCOL &&
        wsc_stomp_subprotocol_version(c.requires[i].value))
      c.stomp = true;
  if (c.stomp && !has_str(c.tags, c.ntags, "stomp")) XPUSH(c.tags, c.ntags, xstrdup("stomp"));
  strv_free(x.caps, x.ncaps);
  free(x.wsmsg);

  if (c.id) {
    if (!c.title) perr(&x, ck->line, ck->col, "case '%s' has no title", c.id);
    if (c.nclauses == 0) perr(&x, ck->line, ck->col, "case '%s' has no clause", c.id);
    if (!x.seen_level && !d->has_level) perr(&x, ck->line, ck->col, "case '%s' has no level", c.id);
  }
  if (c.frame_level && x.first_msg_line)
    perr(&x, x.first_msg_line, x.first_msg_col,
         "message expectations cannot be mixed with expect frame (line %d) in one case",
         x.first_frame_line);
  /* A case gets the implicit `expect handshake ok` unless it says how the handshake ends
   * itself (header and body checks alone refine a successful upgrade). */
  bool decided = false;
  for (size_t i = 0; i < c.hs.nexpects; i++) {
    enum wsc_hsx_kind k = c.hs.expects[i].kind;
    if (k == WSC_HSX_OK || k == WSC_HSX_FAIL || k == WSC_HSX_STATUS) decided = true;
  }
  if (!decided) {
    struct wsc_hs_expect h = {
        .kind = WSC_HSX_OK, .loc = c.loc, .miss_grade = WSC_GRADE_FAIL, .implicit = true};
    XPUSH(c.hs.expects, c.hs.nexpects, h);
  }
  free(x.b);
  if (x.nerr) {
    case_free(&c);
    return false;
  }
  XPUSH(out->v, out->n, c);
  return true;
}

static void parse_defaults(struct loader *L, struct srcfile *f, size_t to, struct defaults *d) {
  struct wsc_case c = {0};
  struct pctx x = {.L = L, .f = f, .suffix = "", .c = &c, .in_defaults = true, .def = d};
  interp(&x, 0, to, NULL);
  d->clauses = c.clauses;
  d->nclauses = c.nclauses;
  c.clauses = NULL;
  c.nclauses = 0;
  d->tags = c.tags;
  d->ntags = c.ntags;
  c.tags = NULL;
  c.ntags = 0;
  d->reqs = c.requires;
  d->nreqs = c.nrequires;
  c.requires = NULL;
  c.nrequires = 0;
  d->has_level = x.seen_level;
  d->level = c.level;
  d->has_role = x.seen_role;
  d->role = c.role;
  d->timeout_us = c.timeout_us;
  free(x.pol.splits);
  free(x.b);
  case_free(&c);
}

static void defaults_free(struct defaults *d) {
  strv_free(d->clauses, d->nclauses);
  strv_free(d->tags, d->ntags);
  reqs_free(d->reqs, d->nreqs);
}

static void parse_definition(struct loader *L, struct srcfile *f, size_t from, size_t to,
                             struct defaults *d, struct out_cases *out) {
  struct evar *vars = NULL;
  size_t nvars = 0, ngroups = 0;
  size_t *group_of = NULL;
  if (parse_each(L, f, from + 1, to, &vars, &nvars, &group_of, &ngroups) != 0) {
    evars_free(vars, nvars);
    free(group_of);
    return;
  }
  /* Group sizes: each group is zipped, groups are multiplied (first group outermost). */
  size_t *gsize = xcalloc(ngroups, sizeof *gsize);
  size_t total = 1;
  for (size_t v = 0; v < nvars; v++) gsize[group_of[v]] = vars[v].n;
  for (size_t g = 0; g < ngroups; g++) {
    if (total > L->opts.max_expansions / gsize[g] + 1) {
      total = SIZE_MAX;
      break;
    }
    total *= gsize[g];
  }
  const struct tok *ck = &f->lines[from].t[0];
  if (total > L->opts.max_expansions) {
    diag(L, f->name, ck->line, ck->col, "too many expansions: more than %zu",
         L->opts.max_expansions);
    goto done;
  }
  size_t first_out = out->n;
  struct binding *b = xcalloc(nvars, sizeof *b);
  char **names = xcalloc(nvars, sizeof *names);
  for (size_t v = 0; v < nvars; v++)
    names[v] = xstrndup(vars[v].name->p, var_name_len(vars[v].name));
  for (size_t e = 0; e < total; e++) {
    /* mixed-radix decode: the last group varies fastest */
    size_t rem = e;
    size_t *idx = xcalloc(ngroups, sizeof *idx);
    for (size_t g = ngroups; g-- > 0;) {
      idx[g] = rem % gsize[g];
      rem /= gsize[g];
    }
    size_t vl = 1;
    for (size_t v = 0; v < nvars; v++)
      vl += strlen(names[v]) + strlen(vars[v].vals[idx[group_of[v]]]) + 2;
    char *vs = xcalloc(vl, 1);
    for (size_t v = 0; v < nvars; v++) {
      b[v].name = names[v];
      b[v].value = vars[v].vals[idx[group_of[v]]];
      if (v) strcat(vs, " ");
      strcat(vs, names[v]);
      strcat(vs, "=");
      strcat(vs, b[v].value);
    }
    char *suffix = xcalloc(strlen(vs) + 10, 1);
    if (nvars) sprintf(suffix, " (with %s)", vs);
    size_t before = out->n;
    bool ok = build_case(L, f, from, to, d, b, nvars, suffix, vs, e, out);
    free(suffix);
    free(vs);
    free(idx);
    if (!ok) break;
    /* An id without the variables repeats for every expansion: say so once, here. */
    const struct wsc_case *nc = &out->v[before];
    bool dup = false;
    for (size_t k = first_out; k < before && !dup; k++) dup = streq(out->v[k].id, nc->id);
    if (dup) {
      diag(L, f->name, ck->line, ck->col,
           "every expansion must have its own id: '%s' repeats (use the each variables in it)",
           nc->id);
      case_free(&out->v[before]);
      out->n = before;
      break;
    }
  }
  for (size_t v = 0; v < nvars; v++) free(names[v]);
  free(names);
  free(b);
done:
  free(gsize);
  evars_free(vars, nvars);
  free(group_of);
}

/* ---------------------------------------------------------------------------------------
 * Files
 */

static char *find_data_dir(const char *file) {
  char *dup = xstrdup(file);
  char *slash = strrchr(dup, '/');
  const char *dir = ".";
  if (slash) {
    *slash = 0;
    dir = slash == dup ? "/" : dup;
  }
  char *abs = realpath(dir, NULL);
  free(dup);
  if (!abs) return NULL;
  for (;;) {
    size_t n = strlen(abs);
    char *cand = malloc(n + 6);
    if (!cand) abort();
    snprintf(cand, n + 6, "%s/data", strcmp(abs, "/") == 0 ? "" : abs);
    struct stat st;
    if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
      free(abs);
      return cand;
    }
    free(cand);
    char *s = strrchr(abs, '/');
    if (!s || strcmp(abs, "/") == 0) break;
    if (s == abs)
      s[1] = 0;
    else
      *s = 0;
  }
  free(abs);
  return NULL;
}

static void parse_file(struct loader *L, struct srcfile *f, struct out_cases *out) {
  f->data_dir = L->opts.data_dir ? xstrdup(L->opts.data_dir) : find_data_dir(f->name);
  lex(L, f);
  size_t first = f->nlines;
  for (size_t i = 0; i < f->nlines; i++)
    if (tok_is(&f->lines[i].t[0], "case")) {
      first = i;
      break;
    }
  struct defaults d = {0};
  parse_defaults(L, f, first, &d);
  size_t i = first;
  while (i < f->nlines) {
    size_t j = i + 1;
    while (j < f->nlines && !tok_is(&f->lines[j].t[0], "case")) j++;
    parse_definition(L, f, i, j, &d, out);
    i = j;
  }
  defaults_free(&d);
}

static void srcfile_free(struct srcfile *f) {
  for (size_t i = 0; i < f->nlines; i++) lline_free(&f->lines[i]);
  free(f->lines);
  free(f->buf);
  free(f->data_dir);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct loader *L, const char *dir, char ***files, size_t *n) {
  DIR *d = opendir(dir);
  if (!d) {
    diag(L, dir, 0, 0, "cannot read directory: %s", strerror(errno));
    L->io_error = 1;
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    size_t dl = strlen(dir), nl = strlen(e->d_name);
    char *p = malloc(dl + nl + 2);
    if (!p) abort();
    snprintf(p, dl + nl + 2, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
    struct stat st;
    if (stat(p, &st) != 0) {
      free(p);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (strcmp(e->d_name, "data") != 0) walk(L, p, files, n);
      free(p);
    } else if (nl > 5 && strcmp(e->d_name + nl - 5, ".case") == 0) {
      XPUSH(*files, *n, p);
    } else {
      free(p);
    }
  }
  closedir(d);
  return 0;
}

static bool read_whole(const char *path, char **buf, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return false;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  if (!b) abort();
  for (;;) {
    if (n == cap) {
      cap *= 2;
      char *nb = realloc(b, cap);
      if (!nb) abort();
      b = nb;
    }
    size_t r = fread(b + n, 1, cap - n, fp);
    n += r;
    if (r == 0) break;
  }
  bool ok = !ferror(fp);
  fclose(fp);
  if (!ok) {
    free(b);
    return false;
  }
  *buf = b;
  *len = n;
  return true;
}

struct idref {
  const char *key;
  size_t idx;
};

static int cmp_idref(const void *a, const void *b) {
  const struct idref *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void check_dups(struct loader *L, struct out_cases *cs, bool alias) {
  struct idref *r = xcalloc(cs->n, sizeof *r);
  size_t n = 0;
  for (size_t i = 0; i < cs->n; i++) {
    const char *k = alias ? cs->v[i].alias : cs->v[i].id;
    if (k) r[n++] = (struct idref){k, i};
  }
  qsort(r, n, sizeof *r, cmp_idref);
  for (size_t i = 1; i < n; i++) {
    size_t g = i;
    while (g > 0 && strcmp(r[g - 1].key, r[i].key) == 0) g--;
    if (g == i) continue;
    const struct wsc_case *first = &cs->v[r[g].idx], *c = &cs->v[r[i].idx];
    if (alias)
      diag(L, c->loc.file, c->loc.line, c->loc.col,
           "duplicate alias '%s' (first at %s:%d, case '%s')", r[i].key, first->loc.file,
           first->loc.line, first->id);
    else
      diag(L, c->loc.file, c->loc.line, c->loc.col, "duplicate case id '%s' (first at %s:%d)",
           r[i].key, first->loc.file, first->loc.line);
  }
  free(r);
}

/* Loads the named sources; texts[i] non-NULL means "use this buffer for names[i]". */
static int load(char **names, size_t nnames, const char *text, size_t textlen,
                const struct wsc_load_opts *opts, struct wsc_suite *out, struct wsc_diags *diags) {
  struct wsc_diags local = {0};
  struct loader L = {.diags = diags ? diags : &local};
  wsc_load_opts_default(&L.opts);
  if (opts) {
    L.opts.data_dir = opts->data_dir;
    if (opts->max_payload) L.opts.max_payload = opts->max_payload;
    if (opts->max_expansions) L.opts.max_expansions = opts->max_expansions;
    if (opts->max_steps) L.opts.max_steps = opts->max_steps;
    if (opts->max_errors) L.opts.max_errors = opts->max_errors;
  }
  memset(out, 0, sizeof *out);
  struct out_cases cs = {0};
  out->files = names;
  out->nfiles = nnames;
  for (size_t i = 0; i < nnames; i++) {
    struct srcfile f = {.name = names[i]};
    if (text) {
      f.buf = xstrndup(text, textlen);
      f.len = textlen;
    } else if (!read_whole(names[i], &f.buf, &f.len)) {
      diag(&L, names[i], 0, 0, "cannot read: %s", strerror(errno));
      L.io_error = 1;
      continue;
    }
    parse_file(&L, &f, &cs);
    srcfile_free(&f);
  }
  check_dups(&L, &cs, false);
  check_dups(&L, &cs, true);
  out->cases = cs.v;
  out->ncases = cs.n;
  int rc = 0;
  if (L.nerrors) {
    rc = L.io_error ? WSREF_E_IO : WSREF_E_INVALID_ARG;
    wsc_suite_free(out);
  }
  wsc_diags_free(&local);
  return rc;
}

int wsc_suite_load_files(const char *const *paths, size_t npaths, const struct wsc_load_opts *opts,
                         struct wsc_suite *out, struct wsc_diags *diags) {
  struct wsc_diags local = {0};
  struct wsc_diags *dg = diags ? diags : &local;
  struct loader L = {.diags = dg};
  wsc_load_opts_default(&L.opts);
  char **files = NULL;
  size_t n = 0;
  for (size_t i = 0; i < npaths; i++) {
    struct stat st;
    if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      walk(&L, paths[i], &files, &n);
    } else {
      XPUSH(files, n, xstrdup(paths[i]));
    }
  }
  if (n > 1) qsort(files, n, sizeof *files, cmp_str);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && strcmp(files[k - 1], files[i]) == 0) {
      free(files[i]);
      continue;
    }
    files[k++] = files[i];
  }
  n = k;
  int rc = load(files, n, NULL, 0, opts, out, dg);
  if (rc == 0 && L.nerrors) {
    rc = WSREF_E_IO;
    wsc_suite_free(out);
  }
  wsc_diags_free(&local);
  return rc;
}

int wsc_suite_load_buffer(const char *name, const char *text, size_t len,
                          const struct wsc_load_opts *opts, struct wsc_suite *out,
                          struct wsc_diags *diags) {
  char **names = xcalloc(1, sizeof *names);
  names[0] = xstrdup(name);
  return load(names, 1, text, len, opts, out, diags);
}

size_t wsc_lint_files(const char *const *paths, size_t npaths, const struct wsc_load_opts *opts,
                      FILE *out) {
  struct wsc_diags d = {0};
  struct wsc_suite s;
  wsc_suite_load_files(paths, npaths, opts, &s, &d);
  wsc_suite_free(&s);
  size_t n = d.n;
  if (out) wsc_diags_print(&d, out);
  wsc_diags_free(&d);
  return n;
}

/* ---------------------------------------------------------------------------------------
 * Selection and names
 */

bool wsc_glob_match(const char *p, const char *s) {
  const char *star_p = NULL, *star_s = NULL;
  for (;;) {
    if (*p == '*') {
      while (*p == '*') p++;
      star_p = p;
      star_s = s;
      continue;
    }
    if (*s == 0) {
      if (*p == 0) return true;
      goto backtrack;
    }
    if (*p == '?') {
      p++;
      s++;
      continue;
    }
    if (*p == '[') {
      const char *q = p + 1;
      bool neg = false, hit = false;
      if (*q == '!' || *q == '^') {
        neg = true;
        q++;
      }
      const char *cls = q;
      while (*q && (*q != ']' || q == cls)) {
        if (q[1] == '-' && q[2] && q[2] != ']') {
          if ((unsigned char)*s >= (unsigned char)q[0] && (unsigned char)*s <= (unsigned char)q[2])
            hit = true;
          q += 3;
        } else {
          if (*q == *s) hit = true;
          q++;
        }
      }
      if (*q != ']') { /* unterminated class: '[' is literal */
        if (*s == '[') {
          p++;
          s++;
          continue;
        }
        goto backtrack;
      }
      if (hit != neg) {
        p = q + 1;
        s++;
        continue;
      }
      goto backtrack;
    }
    if (*p == '\\' && p[1]) p++;
    if (*p == *s) {
      p++;
      s++;
      continue;
    }
  backtrack:
    if (!star_p || *star_s == 0) return false;
    p = star_p;
    s = ++star_s;
  }
}

bool wsc_case_matches(const struct wsc_case *c, const char *glob) {
  return wsc_glob_match(glob, c->id) || (c->alias && wsc_glob_match(glob, c->alias));
}

bool wsc_case_has_tag(const struct wsc_case *c, const char *tag) {
  return has_str(c->tags, c->ntags, tag);
}

bool wsc_case_selected(const struct wsc_case *c, const char *const *include, size_t ninclude,
                       const char *const *exclude, size_t nexclude) {
  bool in;
  if (ninclude == 0) {
    in = !wsc_case_has_tag(c, "perf");
  } else {
    in = false;
    for (size_t i = 0; i < ninclude && !in; i++)
      in = streq(include[i], "all") || wsc_case_matches(c, include[i]);
  }
  for (size_t i = 0; i < nexclude && in; i++)
    if (wsc_case_matches(c, exclude[i])) in = false;
  return in;
}

const char *wsc_level_name(enum wsc_level l) {
  switch (l) {
    case WSC_LEVEL_MUST:
      return "MUST";
    case WSC_LEVEL_SHOULD:
      return "SHOULD";
    case WSC_LEVEL_MAY:
      return "MAY";
    case WSC_LEVEL_INFO:
      return "INFO";
  }
  return "?";
}

const char *wsc_role_name(enum wsc_role r) {
  return r == WSC_ROLE_CLIENT ? "client" : r == WSC_ROLE_SERVER ? "server" : "?";
}

const char *wsc_grade_name(enum wsc_grade g) {
  switch (g) {
    case WSC_GRADE_PASS:
      return "PASS";
    case WSC_GRADE_NON_STRICT:
      return "NON-STRICT";
    case WSC_GRADE_INFO:
      return "INFO";
    case WSC_GRADE_FAIL:
      return "FAIL";
  }
  return "?";
}

const char *wsc_expect_kind_name(enum wsc_expect_kind k) {
  switch (k) {
    case WSC_EXP_TEXT:
      return "text";
    case WSC_EXP_BINARY:
      return "binary";
    case WSC_EXP_MESSAGE:
      return "message";
    case WSC_EXP_PING:
      return "ping";
    case WSC_EXP_PONG:
      return "pong";
    case WSC_EXP_FRAME:
      return "frame";
    case WSC_EXP_CLOSE:
      return "close";
    case WSC_EXP_NOTHING:
      return "nothing";
    case WSC_EXP_STOMP:
      return "stomp";
    case WSC_EXP_HEARTBEAT:
      return "heartbeat";
    case WSC_EXP_NO_FRAME:
      return "no frame";
  }
  return "?";
}

const char *wsc_step_kind_name(enum wsc_step_kind k) {
  switch (k) {
    case WSC_STEP_SEND:
      return "send";
    case WSC_STEP_SEND_RAW:
      return "send raw";
    case WSC_STEP_FLUSH:
      return "flush";
    case WSC_STEP_SLEEP:
      return "sleep";
    case WSC_STEP_EXPECT:
      return "expect";
    case WSC_STEP_DROP:
      return "drop";
    case WSC_STEP_SHUTDOWN:
      return "shutdown";
    case WSC_STEP_STOMP:
      return "stomp";
    case WSC_STEP_STOMP_FLUSH:
      return "stomp flush";
    case WSC_STEP_CAPTURE:
      return "capture";
  }
  return "?";
}

static bool cases_is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The cases folder: --cases-dir, $WSC_CASES, then relative to the executable (build/bin,
 * build/asan/bin, an installed bin/ with share/wsconform/cases), then ./cases. */
char *wsc_cases_dir_find(const char *opt) {
  if (opt) return strdup(opt);
  const char *env = getenv("WSC_CASES");
  if (env && *env) return strdup(env);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    static const char *const rel[] = {"/../../cases", "/../../../cases", "/../cases",
                                      "/../share/wsconform/cases", "/cases"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
      char cand[PATH_MAX + 64];
      snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
      if (cases_is_dir(cand)) {
        char *real = realpath(cand, NULL);
        return real ? real : strdup(cand);
      }
    }
  }
  return strdup("cases");
}
