#include "result.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/error.h"

static const char *const verdict_names[WSC_VERDICT_COUNT] = {
    "PASS", "NON-STRICT", "INFO", "UNSUPPORTED", "FAIL", "ERROR",
};

const char *wsc_verdict_name(enum wsc_verdict v) {
  return (unsigned)v < WSC_VERDICT_COUNT ? verdict_names[v] : "ERROR";
}

int wsc_verdict_parse(const char *s, enum wsc_verdict *v) {
  if (!s) return WSREF_E_INVALID_ARG;
  for (int i = 0; i < WSC_VERDICT_COUNT; i++) {
    if (strcasecmp(s, verdict_names[i]) == 0) {
      *v = (enum wsc_verdict)i;
      return 0;
    }
  }
  if (strcasecmp(s, "NON_STRICT") == 0 || strcasecmp(s, "NONSTRICT") == 0) {
    *v = WSC_NON_STRICT;
    return 0;
  }
  return WSREF_E_INVALID_ARG;
}

bool wsc_verdict_is_failure(enum wsc_verdict v, bool strict) {
  return v == WSC_FAIL || v == WSC_ERROR || (strict && v == WSC_NON_STRICT);
}

const char *wsc_side_name(enum wsc_side c) {
  switch (c) {
    case WSC_SIDE_HARNESS:
      return "harness";
    case WSC_SIDE_TARGET:
      return "target";
    default:
      return "none";
  }
}

const char *wsc_tcp_end_name(enum wsc_tcp_end e) {
  switch (e) {
    case WSC_TCP_TARGET_FIN:
      return "target-fin";
    case WSC_TCP_TARGET_RESET:
      return "target-reset";
    case WSC_TCP_HARNESS:
      return "harness";
    case WSC_TCP_NEVER:
      return "never";
    default:
      return "open";
  }
}

static const char *const event_names[WSC_EV_TYPE_COUNT] = {
    "text",      "binary",  "ping", "pong",  "close", "frame",     "tcp-fin",
    "tcp-reset", "timeout", "http", "error", "stomp", "heartbeat",
};

const char *wsc_event_type_name(enum wsc_event_type t) {
  return (unsigned)t < WSC_EV_TYPE_COUNT ? event_names[t] : "error";
}

int wsc_event_type_parse(const char *s, enum wsc_event_type *t) {
  for (int i = 0; s && i < WSC_EV_TYPE_COUNT; i++) {
    if (strcmp(s, event_names[i]) == 0) {
      *t = (enum wsc_event_type)i;
      return 0;
    }
  }
  return WSREF_E_INVALID_ARG;
}

const char *wsc_wire_dir_name(enum wsc_wire_dir d) {
  switch (d) {
    case WSC_WIRE_TX:
      return "tx";
    case WSC_WIRE_RX:
      return "rx";
    default:
      return "note";
  }
}

/* ---- strings ---- */

char *wsc_strdup(const char *s) {
  return s ? strdup(s) : NULL;
}

char *wsc_strndup(const void *s, size_t n) {
  char *o = malloc(n + 1);
  if (!o) return NULL;
  if (n) memcpy(o, s, n);
  o[n] = 0;
  return o;
}

char *wsc_memdup(const void *p, size_t n) {
  if (!n) return NULL;
  char *o = malloc(n);
  if (o) memcpy(o, p, n);
  return o;
}

int wsc_strv_push(char ***v, size_t *n, const char *s) {
  char **nv = realloc(*v, (*n + 1) * sizeof *nv);
  if (!nv) return WSREF_E_NOMEM;
  *v = nv;
  nv[*n] = strdup(s ? s : "");
  if (!nv[*n]) return WSREF_E_NOMEM;
  (*n)++;
  return 0;
}

void wsc_strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static char *vformat(const char *fmt, va_list ap) {
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) return NULL;
  return s;
}

void wsc_sha256(const void *p, size_t n, uint8_t out[32]) {
  unsigned len = 32;
  EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

void wsc_iso_time(char out[32], long long sec, long nsec) {
  time_t t = (time_t)sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  unsigned ms = (unsigned)((nsec / 1000000) % 1000);
  /* strftime keeps the compiler's format-truncation analysis quiet about huge years */
  char base[24];
  if (!strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm)) base[0] = 0;
  snprintf(out, 32, "%.19s.%03uZ", base, ms);
}

/* ---- wire log ---- */

static int chunk_push(wsc_wirelog *w, wsc_wire_chunk **out) {
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 16;
    wsc_wire_chunk *c = realloc(w->chunks, nc * sizeof *c);
    if (!c) return WSREF_E_NOMEM;
    w->chunks = c;
    w->cap = nc;
  }
  *out = &w->chunks[w->n++];
  memset(*out, 0, sizeof **out);
  return 0;
}

int wsc_wirelog_add(wsc_wirelog *w, enum wsc_wire_dir dir, uint64_t t_us, const void *p, size_t n) {
  if (dir != WSC_WIRE_TX && dir != WSC_WIRE_RX) return WSREF_E_INVALID_ARG;
  if (!w->sha_ctx[dir] && !w->has_sha256) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return WSREF_E_NOMEM;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    w->sha_ctx[dir] = c;
  }
  if (w->sha_ctx[dir]) EVP_DigestUpdate(w->sha_ctx[dir], p, n);
  size_t max = w->max_stored ? w->max_stored : WSC_WIRE_CAP_DEFAULT;
  size_t room = w->stored[dir] < max ? max - w->stored[dir] : 0;
  size_t keep = n < room ? n : room;
  /* consecutive reads are merged: the reader's chunking says nothing about the target */
  if (dir == WSC_WIRE_RX && w->n && w->chunks[w->n - 1].dir == WSC_WIRE_RX &&
      w->chunks[w->n - 1].t_us == t_us && w->chunks[w->n - 1].data_len == w->chunks[w->n - 1].len) {
    wsc_wire_chunk *c = &w->chunks[w->n - 1];
    if (keep) {
      uint8_t *d = realloc(c->data, c->data_len + keep);
      if (!d) return WSREF_E_NOMEM;
      memcpy(d + c->data_len, p, keep);
      c->data = d;
      c->data_len += keep;
    }
    c->len += n;
  } else {
    wsc_wire_chunk *c;
    int rc = chunk_push(w, &c);
    if (rc) return rc;
    c->dir = dir;
    c->t_us = t_us;
    c->offset = w->total[dir];
    c->len = n;
    if (keep) {
      c->data = malloc(keep);
      if (!c->data) return WSREF_E_NOMEM;
      memcpy(c->data, p, keep);
    }
    c->data_len = keep;
  }
  w->total[dir] += n;
  w->stored[dir] += keep;
  return 0;
}

int wsc_wirelog_note(wsc_wirelog *w, uint64_t t_us, const char *fmt, ...) {
  wsc_wire_chunk *c;
  int rc = chunk_push(w, &c);
  if (rc) return rc;
  va_list ap;
  va_start(ap, fmt);
  c->note = vformat(fmt, ap);
  va_end(ap);
  c->dir = WSC_WIRE_NOTE;
  c->t_us = t_us;
  if (!c->note) {
    w->n--;
    return WSREF_E_NOMEM;
  }
  return 0;
}

void wsc_wirelog_finish(wsc_wirelog *w) {
  if (w->has_sha256) return;
  for (int d = 0; d < 2; d++) {
    EVP_MD_CTX *c = w->sha_ctx[d];
    if (!c) {
      wsc_sha256("", 0, w->sha256[d]);
      continue;
    }
    unsigned len = 32;
    EVP_DigestFinal_ex(c, w->sha256[d], &len);
    EVP_MD_CTX_free(c);
    w->sha_ctx[d] = NULL;
  }
  w->has_sha256 = true;
}

void wsc_wirelog_trim(wsc_wirelog *w, size_t max) {
  size_t kept[2] = {0, 0};
  size_t out = 0;
  /* a run of chunks that keep no bytes collapses into one note: a thousand empty entries say
   * less than "1000 writes, 4 MiB, not kept" */
  size_t run_n = 0, run_io[2] = {0, 0};
  uint64_t run_oct[2] = {0, 0}, run_t = 0;
  for (size_t i = 0; i <= w->n; i++) {
    wsc_wire_chunk *c = i < w->n ? &w->chunks[i] : NULL;
    bool empty = false;
    if (c && c->dir != WSC_WIRE_NOTE) {
      size_t room = kept[c->dir] < max ? max - kept[c->dir] : 0;
      if (c->data_len > room) {
        c->data_len = room;
        if (!room) {
          free(c->data);
          c->data = NULL;
        }
      }
      kept[c->dir] += c->data_len;
      empty = c->data_len == 0 && c->len > 0;
    }
    if (empty) {
      free(c->conn);
      c->conn = NULL;
      if (!run_n) run_t = c->t_us;
      run_n++;
      run_io[c->dir]++;
      run_oct[c->dir] += c->len;
      continue;
    }
    if (run_n) {
      wsc_wire_chunk *nc = &w->chunks[out++];
      memset(nc, 0, sizeof *nc);
      nc->dir = WSC_WIRE_NOTE;
      nc->t_us = run_t;
      if (asprintf(&nc->note, "%zu writes (%llu octets) and %zu reads (%llu octets) not kept",
                   run_io[0], (unsigned long long)run_oct[0], run_io[1],
                   (unsigned long long)run_oct[1]) < 0)
        nc->note = NULL;
      if (!nc->note) out--;
      run_n = 0;
      run_io[0] = run_io[1] = 0;
      run_oct[0] = run_oct[1] = 0;
    }
    if (c) w->chunks[out++] = *c;
  }
  w->n = out;
  w->stored[0] = kept[0];
  w->stored[1] = kept[1];
}

void wsc_result_trim_events(wsc_result *r, size_t max) {
  for (size_t i = 0; i < r->nobserved; i++) {
    wsc_event *e = &r->observed[i];
    if (e->data_len > max) e->data_len = max;
    if (!e->data_len) {
      free(e->data);
      e->data = NULL;
    }
  }
}

int wsc_wirelog_merge(wsc_wirelog *dst, wsc_wirelog *src, const char *conn) {
  wsc_wirelog_finish(src);
  size_t n = dst->n + src->n;
  wsc_wire_chunk *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) {
    wsc_wirelog_free(src);
    return WSREF_E_NOMEM;
  }
  size_t i = 0, j = 0, k = 0;
  /* by time; on equal times what dst already had comes first */
  while (i < dst->n || j < src->n) {
    if (j >= src->n || (i < dst->n && dst->chunks[i].t_us <= src->chunks[j].t_us)) {
      v[k++] = dst->chunks[i++];
    } else {
      v[k] = src->chunks[j++];
      v[k].conn = conn ? strdup(conn) : NULL;
      k++;
    }
  }
  free(dst->chunks);
  dst->chunks = v;
  dst->n = dst->cap = n;
  for (int d = 0; d < 2; d++) {
    dst->total[d] += src->total[d];
    dst->stored[d] += src->stored[d];
  }
  free(src->chunks);
  src->chunks = NULL;
  src->n = src->cap = 0;
  wsc_wirelog_free(src);
  return 0;
}

void wsc_wirelog_free(wsc_wirelog *w) {
  for (size_t i = 0; i < w->n; i++) {
    free(w->chunks[i].data);
    free(w->chunks[i].note);
    free(w->chunks[i].conn);
  }
  free(w->chunks);
  for (int d = 0; d < 2; d++)
    if (w->sha_ctx[d]) EVP_MD_CTX_free(w->sha_ctx[d]);
  memset(w, 0, sizeof *w);
}

/* ---- results ---- */

int wsc_result_add_event(wsc_result *r, const wsc_event *ev) {
  if (r->nobserved == r->observed_cap) {
    size_t nc = r->observed_cap ? r->observed_cap * 2 : 8;
    wsc_event *e = realloc(r->observed, nc * sizeof *e);
    if (!e) return WSREF_E_NOMEM;
    r->observed = e;
    r->observed_cap = nc;
  }
  wsc_event *e = &r->observed[r->nobserved];
  *e = *ev;
  e->data = NULL;
  e->detail = NULL;
  e->conn = NULL;
  if (ev->conn) {
    e->conn = strdup(ev->conn);
    if (!e->conn) return WSREF_E_NOMEM;
  }
  if (ev->data_len) {
    e->data = (uint8_t *)wsc_memdup(ev->data, ev->data_len);
    if (!e->data) return WSREF_E_NOMEM;
  }
  if (ev->detail) {
    e->detail = strdup(ev->detail);
    if (!e->detail) {
      free(e->data);
      return WSREF_E_NOMEM;
    }
  }
  r->nobserved++;
  return 0;
}

static int add_finding(wsc_result *r, const char *conn, const char *rule, const char *clause,
                       uint64_t t_us, uint64_t rx_offset, const char *fmt, va_list ap) {
  wsc_finding *f = realloc(r->findings, (r->nfindings + 1) * sizeof *f);
  if (!f) return WSREF_E_NOMEM;
  r->findings = f;
  f += r->nfindings;
  memset(f, 0, sizeof *f);
  f->message = vformat(fmt, ap);
  if (conn) {
    f->conn = strdup(conn);
    if (!f->conn) {
      free(f->message);
      return WSREF_E_NOMEM;
    }
  }
  f->rule = wsc_strdup(rule);
  f->clause = wsc_strdup(clause);
  f->t_us = t_us;
  f->rx_offset = rx_offset;
  r->nfindings++;
  if (!f->message || !f->rule || !f->clause) return WSREF_E_NOMEM;
  return 0;
}

int wsc_result_add_finding(wsc_result *r, const char *rule, const char *clause, uint64_t t_us,
                           uint64_t rx_offset, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = add_finding(r, NULL, rule, clause, t_us, rx_offset, fmt, ap);
  va_end(ap);
  return rc;
}

int wsc_result_add_finding_conn(wsc_result *r, const char *conn, const char *rule,
                                const char *clause, uint64_t t_us, uint64_t rx_offset,
                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = add_finding(r, conn, rule, clause, t_us, rx_offset, fmt, ap);
  va_end(ap);
  return rc;
}

wsc_expect_alt *wsc_result_add_expect(wsc_result *r, int line, enum wsc_verdict grade,
                                      const char *const *items, size_t n) {
  wsc_expect_alt *a = realloc(r->expected, (r->nexpected + 1) * sizeof *a);
  if (!a) return NULL;
  r->expected = a;
  a += r->nexpected++;
  memset(a, 0, sizeof *a);
  a->line = line;
  a->grade = grade;
  for (size_t i = 0; i < n; i++)
    if (wsc_strv_push(&a->items, &a->n, items[i])) return NULL;
  return a;
}

int wsc_expect_alt_push(wsc_expect_alt *a, const char *item) {
  return wsc_strv_push(&a->items, &a->n, item);
}

int wsc_expect_alt_outcome(wsc_expect_alt *a, bool matched, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = vformat(fmt, ap);
  va_end(ap);
  if (!s) return WSREF_E_NOMEM;
  free(a->outcome);
  a->outcome = s;
  a->matched = matched;
  return 0;
}

int wsc_result_set_reason(wsc_result *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = vformat(fmt, ap);
  va_end(ap);
  if (!s) return WSREF_E_NOMEM;
  free(r->reason);
  r->reason = s;
  return 0;
}

void wsc_event_free(wsc_event *ev) {
  free(ev->data);
  free(ev->detail);
  free(ev->conn);
  ev->data = NULL;
  ev->detail = NULL;
  ev->conn = NULL;
}

void wsc_result_free(wsc_result *r) {
  free(r->id);
  free(r->title);
  free(r->alias);
  free(r->clause);
  free(r->level);
  free(r->area);
  wsc_strv_free(r->tags, r->ntags);
  free(r->file);
  free(r->reason);
  free(r->started);
  for (size_t i = 0; i < r->nexpected; i++) {
    wsc_strv_free(r->expected[i].items, r->expected[i].n);
    free(r->expected[i].outcome);
  }
  free(r->expected);
  for (size_t i = 0; i < r->nobserved; i++) wsc_event_free(&r->observed[i]);
  free(r->observed);
  for (size_t i = 0; i < r->nfindings; i++) {
    free(r->findings[i].rule);
    free(r->findings[i].clause);
    free(r->findings[i].message);
    free(r->findings[i].conn);
  }
  free(r->findings);
  free(r->close.reason);
  free(r->request);
  free(r->response);
  wsc_wirelog_free(&r->wire);
  memset(r, 0, sizeof *r);
}

wsc_result *wsc_run_add(wsc_run *run) {
  if (run->n == run->cap) {
    size_t nc = run->cap ? run->cap * 2 : 64;
    wsc_result *r = realloc(run->results, nc * sizeof *r);
    if (!r) return NULL;
    run->results = r;
    run->cap = nc;
  }
  wsc_result *r = &run->results[run->n++];
  memset(r, 0, sizeof *r);
  r->close.sent_code = -1;
  r->close.code = -1;
  return r;
}

void wsc_run_free(wsc_run *run) {
  free(run->tool_version);
  free(run->run_id);
  free(run->target);
  free(run->stomp_target);
  free(run->agent);
  free(run->started);
  free(run->finished);
  wsc_strv_free(run->select, run->nselect);
  wsc_strv_free(run->exclude, run->nexclude);
  free(run->origin);
  free(run->subprotocol);
  free(run->proxy);
  free(run->sni);
  free(run->cacert);
  wsc_strv_free(run->headers, run->nheaders);
  for (size_t i = 0; i < run->n; i++) wsc_result_free(&run->results[i]);
  free(run->results);
  memset(run, 0, sizeof *run);
}

void wsc_run_count(const wsc_run *run, wsc_counts *all) {
  memset(all, 0, sizeof *all);
  for (size_t i = 0; i < run->n; i++) {
    all->total++;
    all->v[run->results[i].verdict < WSC_VERDICT_COUNT ? run->results[i].verdict : WSC_ERROR]++;
  }
}

void wsc_run_count_area(const wsc_run *run, const char *area, wsc_counts *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < run->n; i++) {
    const wsc_result *r = &run->results[i];
    if (strcmp(r->area ? r->area : "", area) != 0) continue;
    c->total++;
    c->v[r->verdict < WSC_VERDICT_COUNT ? r->verdict : WSC_ERROR]++;
  }
}

const char **wsc_run_areas(const wsc_run *run, size_t *n) {
  const char **a = calloc(run->n + 1, sizeof *a);
  *n = 0;
  if (!a) return NULL;
  for (size_t i = 0; i < run->n; i++) {
    const char *ar = run->results[i].area ? run->results[i].area : "";
    size_t k = 0;
    while (k < *n && strcmp(a[k], ar) != 0) k++;
    if (k == *n) a[(*n)++] = ar;
  }
  return a;
}

const wsc_result *wsc_run_find(const wsc_run *run, const char *id) {
  for (size_t i = 0; i < run->n; i++)
    if (run->results[i].id && strcmp(run->results[i].id, id) == 0) return &run->results[i];
  return NULL;
}
