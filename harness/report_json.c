/* The JSON report (schema in reports/README.md) and its loader. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "json.h"
#include "report.h"

static void kstrv(wsc_jw *w, const char *key, char *const *v, size_t n) {
  wsc_jw_key(w, key);
  wsc_jw_arr_begin(w);
  for (size_t i = 0; i < n; i++) wsc_jw_str(w, v[i]);
  wsc_jw_arr_end(w);
}

/* -1 means absent in the model; null in JSON. */
static void kcode(wsc_jw *w, const char *key, int code) {
  wsc_jw_key(w, key);
  if (code < 0)
    wsc_jw_null(w);
  else
    wsc_jw_int(w, code);
}

static void counts(wsc_jw *w, const wsc_counts *c) {
  wsc_jw_kuint(w, "total", c->total);
  for (int v = 0; v < WSC_VERDICT_COUNT; v++)
    wsc_jw_kuint(w, wsc_verdict_name((enum wsc_verdict)v), c->v[v]);
}

static void event(wsc_jw *w, const wsc_event *e) {
  wsc_jw_obj_begin(w);
  wsc_jw_kstr(w, "type", wsc_event_type_name(e->type));
  wsc_jw_kuint(w, "t_us", e->t_us);
  wsc_jw_kuint(w, "opcode", e->opcode);
  wsc_jw_kbool(w, "fin", e->fin);
  wsc_jw_kuint(w, "rsv", e->rsv);
  wsc_jw_kuint(w, "frames", e->frames);
  wsc_jw_kuint(w, "len", e->len);
  wsc_jw_khex(w, "data_hex", e->data, e->data_len);
  wsc_jw_kbool(w, "truncated", e->data_len < e->len);
  wsc_jw_key(w, "sha256");
  if (e->has_sha256)
    wsc_jw_hex(w, e->sha256, 32);
  else
    wsc_jw_null(w);
  kcode(w, "code", e->code);
  wsc_jw_kstr(w, "detail", e->detail);
  /* only in multi-connection cases: single-connection reports are unchanged */
  if (e->conn) wsc_jw_kstr(w, "conn", e->conn);
  wsc_jw_obj_end(w);
}

static void result(wsc_jw *w, const wsc_result *r) {
  wsc_jw_obj_begin(w);
  wsc_jw_kstr(w, "id", r->id);
  wsc_jw_kstr(w, "title", r->title);
  wsc_jw_kstr(w, "alias", r->alias);
  wsc_jw_kstr(w, "clause", r->clause);
  wsc_jw_kstr(w, "level", r->level);
  wsc_jw_kstr(w, "area", r->area);
  kstrv(w, "tags", r->tags, r->ntags);
  wsc_jw_kstr(w, "file", r->file);
  wsc_jw_kint(w, "line", r->line);
  wsc_jw_kstr(w, "verdict", wsc_verdict_name(r->verdict));
  wsc_jw_kstr(w, "reason", r->reason);
  wsc_jw_kstr(w, "started", r->started);
  wsc_jw_kuint(w, "duration_us", r->duration_us);

  wsc_jw_key(w, "expected");
  wsc_jw_arr_begin(w);
  for (size_t i = 0; i < r->nexpected; i++) {
    const wsc_expect_alt *a = &r->expected[i];
    wsc_jw_obj_begin(w);
    wsc_jw_kint(w, "line", a->line);
    wsc_jw_kstr(w, "grade", wsc_verdict_name(a->grade));
    kstrv(w, "events", a->items, a->n);
    wsc_jw_kbool(w, "matched", a->matched);
    wsc_jw_kstr(w, "outcome", a->outcome);
    wsc_jw_obj_end(w);
  }
  wsc_jw_arr_end(w);

  wsc_jw_key(w, "observed");
  wsc_jw_arr_begin(w);
  for (size_t i = 0; i < r->nobserved; i++) event(w, &r->observed[i]);
  wsc_jw_arr_end(w);

  wsc_jw_key(w, "findings");
  wsc_jw_arr_begin(w);
  for (size_t i = 0; i < r->nfindings; i++) {
    const wsc_finding *f = &r->findings[i];
    wsc_jw_obj_begin(w);
    wsc_jw_kstr(w, "rule", f->rule);
    wsc_jw_kstr(w, "clause", f->clause);
    wsc_jw_kstr(w, "message", f->message);
    wsc_jw_kuint(w, "t_us", f->t_us);
    wsc_jw_kuint(w, "rx_offset", f->rx_offset);
    if (f->conn) wsc_jw_kstr(w, "conn", f->conn);
    wsc_jw_obj_end(w);
  }
  wsc_jw_arr_end(w);

  const wsc_close_info *c = &r->close;
  wsc_jw_key(w, "close");
  wsc_jw_obj_begin(w);
  wsc_jw_kstr(w, "initiated_by", wsc_side_name(c->initiated_by));
  wsc_jw_kbool(w, "sent", c->sent);
  kcode(w, "sent_code", c->sent_code);
  wsc_jw_kbool(w, "received", c->received);
  kcode(w, "code", c->code);
  wsc_jw_key(w, "reason");
  wsc_jw_strn(w, c->reason ? (const char *)c->reason : "", c->reason_len);
  wsc_jw_khex(w, "reason_hex", c->reason, c->reason_len);
  wsc_jw_kstr(w, "tcp", wsc_tcp_end_name(c->tcp));
  wsc_jw_kbool(w, "clean", c->clean);
  wsc_jw_kuint(w, "t_us", c->t_us);
  wsc_jw_obj_end(w);

  wsc_jw_key(w, "handshake");
  wsc_jw_obj_begin(w);
  wsc_jw_kint(w, "status", r->status);
  wsc_jw_key(w, "request");
  wsc_jw_strn(w, r->request ? (const char *)r->request : "", r->request_len);
  wsc_jw_khex(w, "request_hex", r->request, r->request_len);
  wsc_jw_key(w, "response");
  wsc_jw_strn(w, r->response ? (const char *)r->response : "", r->response_len);
  wsc_jw_khex(w, "response_hex", r->response, r->response_len);
  wsc_jw_obj_end(w);

  const wsc_wirelog *wl = &r->wire;
  wsc_jw_key(w, "wire");
  wsc_jw_obj_begin(w);
  wsc_jw_kuint(w, "tx_bytes", wl->total[WSC_WIRE_TX]);
  wsc_jw_kuint(w, "rx_bytes", wl->total[WSC_WIRE_RX]);
  wsc_jw_kuint(w, "tx_stored", wl->stored[WSC_WIRE_TX]);
  wsc_jw_kuint(w, "rx_stored", wl->stored[WSC_WIRE_RX]);
  wsc_jw_key(w, "tx_sha256");
  if (wl->has_sha256)
    wsc_jw_hex(w, wl->sha256[WSC_WIRE_TX], 32);
  else
    wsc_jw_null(w);
  wsc_jw_key(w, "rx_sha256");
  if (wl->has_sha256)
    wsc_jw_hex(w, wl->sha256[WSC_WIRE_RX], 32);
  else
    wsc_jw_null(w);
  wsc_jw_key(w, "log");
  wsc_jw_arr_begin(w);
  for (size_t i = 0; i < wl->n; i++) {
    const wsc_wire_chunk *ch = &wl->chunks[i];
    wsc_jw_obj_begin(w);
    wsc_jw_kstr(w, "dir", wsc_wire_dir_name(ch->dir));
    wsc_jw_kuint(w, "t_us", ch->t_us);
    if (ch->conn) wsc_jw_kstr(w, "conn", ch->conn);
    if (ch->dir == WSC_WIRE_NOTE) {
      wsc_jw_kstr(w, "note", ch->note);
    } else {
      wsc_jw_kuint(w, "offset", ch->offset);
      wsc_jw_kuint(w, "len", ch->len);
      wsc_jw_khex(w, "hex", ch->data, ch->data_len);
    }
    wsc_jw_obj_end(w);
  }
  wsc_jw_arr_end(w);
  wsc_jw_obj_end(w);

  wsc_jw_obj_end(w);
}

int wsc_report_json(const wsc_run *run, wsref_buf *out) {
  wsc_jw w;
  wsc_jw_init(&w, out, 1);
  wsc_jw_obj_begin(&w);
  wsc_jw_kstr(&w, "schema", WSC_REPORT_SCHEMA);
  wsc_jw_key(&w, "tool");
  wsc_jw_obj_begin(&w);
  wsc_jw_kstr(&w, "name", "wsconform");
  wsc_jw_kstr(&w, "version", run->tool_version);
  wsc_jw_obj_end(&w);

  wsc_jw_key(&w, "run");
  wsc_jw_obj_begin(&w);
  wsc_jw_kstr(&w, "id", run->run_id);
  wsc_jw_kstr(&w, "target", run->target);
  if (run->stomp_target) wsc_jw_kstr(&w, "stomp_target", run->stomp_target);
  wsc_jw_kbool(&w, "embedded", run->embedded);
  wsc_jw_kstr(&w, "agent", run->agent);
  wsc_jw_kstr(&w, "started", run->started);
  wsc_jw_kstr(&w, "finished", run->finished);
  wsc_jw_kuint(&w, "duration_us", run->duration_us);
  wsc_jw_key(&w, "options");
  wsc_jw_obj_begin(&w);
  wsc_jw_kuint(&w, "jobs", run->jobs);
  wsc_jw_kuint(&w, "timeout_ms", run->timeout_ms);
  wsc_jw_kbool(&w, "strict", run->strict);
  kstrv(&w, "cases", run->select, run->nselect);
  kstrv(&w, "exclude", run->exclude, run->nexclude);
  wsc_jw_kstr(&w, "origin", run->origin);
  wsc_jw_kstr(&w, "subprotocol", run->subprotocol);
  kstrv(&w, "headers", run->headers, run->nheaders);
  wsc_jw_kstr(&w, "proxy", run->proxy);
  wsc_jw_kstr(&w, "sni", run->sni);
  wsc_jw_kstr(&w, "cacert", run->cacert);
  wsc_jw_kbool(&w, "insecure", run->insecure);
  wsc_jw_obj_end(&w);
  wsc_jw_obj_end(&w);

  wsc_counts all;
  wsc_run_count(run, &all);
  wsc_jw_key(&w, "summary");
  wsc_jw_obj_begin(&w);
  counts(&w, &all);
  wsc_jw_key(&w, "areas");
  wsc_jw_arr_begin(&w);
  size_t na = 0;
  const char **areas = wsc_run_areas(run, &na);
  if (!areas) w.err = WSREF_E_NOMEM;
  for (size_t i = 0; areas && i < na; i++) {
    wsc_counts c;
    wsc_run_count_area(run, areas[i], &c);
    wsc_jw_obj_begin(&w);
    wsc_jw_kstr(&w, "area", areas[i]);
    counts(&w, &c);
    wsc_jw_obj_end(&w);
  }
  free(areas);
  wsc_jw_arr_end(&w);
  wsc_jw_obj_end(&w);

  wsc_jw_key(&w, "cases");
  wsc_jw_arr_begin(&w);
  for (size_t i = 0; i < run->n; i++) result(&w, &run->results[i]);
  wsc_jw_arr_end(&w);
  wsc_jw_obj_end(&w);
  return wsc_jw_finish(&w);
}

/* ---- loader ---- */

typedef struct ld {
  char *err;
  size_t err_len;
  int rc;
} ld;

static void lfail(ld *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lfail(ld *l, const char *fmt, ...) {
  if (l->rc) return;
  l->rc = WSREF_E_INVALID_ARG;
  if (l->err && l->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, l->err_len, fmt, ap);
    va_end(ap);
  }
}

static char *gstr(const wsc_json *o, const char *k) {
  const char *s = wsc_json_get_str(o, k, NULL);
  return s ? strdup(s) : NULL;
}

static int gcode(const wsc_json *o, const char *k) {
  const wsc_json *v = wsc_json_get(o, k);
  return v && v->type == WSC_JSON_NUMBER ? (int)v->i : -1;
}

static uint64_t guint(const wsc_json *o, const char *k) {
  return (uint64_t)wsc_json_get_int(o, k, 0);
}

static void gstrv(ld *l, const wsc_json *o, const char *k, char ***v, size_t *n) {
  const wsc_json *a = wsc_json_get(o, k);
  if (!a) return;
  if (a->type != WSC_JSON_ARRAY) {
    lfail(l, "%s: not an array", k);
    return;
  }
  for (const wsc_json *e = a->child; e; e = e->next)
    if (e->type == WSC_JSON_STRING && wsc_strv_push(v, n, e->str)) lfail(l, "out of memory");
}

static void ghex(ld *l, const wsc_json *o, const char *k, uint8_t **out, size_t *len) {
  const wsc_json *v = wsc_json_get(o, k);
  *out = NULL;
  *len = 0;
  if (!v || v->type != WSC_JSON_STRING) return;
  if (wsc_hex_decode(v->str, v->str_len, out, len)) lfail(l, "%s: bad hex", k);
}

static void gsha(ld *l, const wsc_json *o, const char *k, uint8_t out[32], bool *has) {
  uint8_t *b;
  size_t n;
  ghex(l, o, k, &b, &n);
  if (b && n == 32) {
    memcpy(out, b, 32);
    *has = true;
  }
  free(b);
}

static void load_case(ld *l, const wsc_json *c, wsc_result *r) {
  r->id = gstr(c, "id");
  if (!r->id) {
    lfail(l, "cases: a case without an id");
    return;
  }
  r->title = gstr(c, "title");
  r->alias = gstr(c, "alias");
  r->clause = gstr(c, "clause");
  r->level = gstr(c, "level");
  r->area = gstr(c, "area");
  gstrv(l, c, "tags", &r->tags, &r->ntags);
  r->file = gstr(c, "file");
  r->line = (int)wsc_json_get_int(c, "line", 0);
  if (wsc_verdict_parse(wsc_json_get_str(c, "verdict", NULL), &r->verdict))
    lfail(l, "case %s: bad verdict", r->id);
  r->reason = gstr(c, "reason");
  r->started = gstr(c, "started");
  r->duration_us = guint(c, "duration_us");

  const wsc_json *ex = wsc_json_get(c, "expected");
  for (const wsc_json *a = ex && ex->type == WSC_JSON_ARRAY ? ex->child : NULL; a; a = a->next) {
    enum wsc_verdict g = WSC_PASS;
    wsc_verdict_parse(wsc_json_get_str(a, "grade", "PASS"), &g);
    wsc_expect_alt *alt = wsc_result_add_expect(r, (int)wsc_json_get_int(a, "line", 0), g, NULL, 0);
    if (!alt) {
      lfail(l, "out of memory");
      return;
    }
    gstrv(l, a, "events", &alt->items, &alt->n);
    alt->matched = wsc_json_get_bool(a, "matched", false);
    alt->outcome = gstr(a, "outcome");
  }

  const wsc_json *ob = wsc_json_get(c, "observed");
  for (const wsc_json *e = ob && ob->type == WSC_JSON_ARRAY ? ob->child : NULL; e; e = e->next) {
    wsc_event ev;
    memset(&ev, 0, sizeof ev);
    if (wsc_event_type_parse(wsc_json_get_str(e, "type", ""), &ev.type)) {
      lfail(l, "case %s: bad event type", r->id);
      return;
    }
    ev.t_us = guint(e, "t_us");
    ev.opcode = (uint8_t)guint(e, "opcode");
    ev.fin = wsc_json_get_bool(e, "fin", false);
    ev.rsv = (uint8_t)guint(e, "rsv");
    ev.frames = (uint32_t)guint(e, "frames");
    ev.len = guint(e, "len");
    ghex(l, e, "data_hex", &ev.data, &ev.data_len);
    gsha(l, e, "sha256", ev.sha256, &ev.has_sha256);
    ev.code = gcode(e, "code");
    ev.detail = gstr(e, "detail");
    ev.conn = gstr(e, "conn");
    if (wsc_result_add_event(r, &ev)) lfail(l, "out of memory");
    wsc_event_free(&ev);
  }

  const wsc_json *fi = wsc_json_get(c, "findings");
  for (const wsc_json *f = fi && fi->type == WSC_JSON_ARRAY ? fi->child : NULL; f; f = f->next) {
    if (wsc_result_add_finding_conn(
            r, wsc_json_get_str(f, "conn", NULL), wsc_json_get_str(f, "rule", ""),
            wsc_json_get_str(f, "clause", ""), guint(f, "t_us"), guint(f, "rx_offset"), "%s",
            wsc_json_get_str(f, "message", "")))
      lfail(l, "out of memory");
  }

  const wsc_json *cl = wsc_json_get(c, "close");
  if (cl) {
    const char *ib = wsc_json_get_str(cl, "initiated_by", "none");
    r->close.initiated_by = strcmp(ib, "harness") == 0  ? WSC_SIDE_HARNESS
                            : strcmp(ib, "target") == 0 ? WSC_SIDE_TARGET
                                                        : WSC_SIDE_NONE;
    r->close.sent = wsc_json_get_bool(cl, "sent", false);
    r->close.sent_code = gcode(cl, "sent_code");
    r->close.received = wsc_json_get_bool(cl, "received", false);
    r->close.code = gcode(cl, "code");
    ghex(l, cl, "reason_hex", &r->close.reason, &r->close.reason_len);
    const char *tcp = wsc_json_get_str(cl, "tcp", "open");
    for (int t = WSC_TCP_OPEN; t <= WSC_TCP_NEVER; t++)
      if (strcmp(tcp, wsc_tcp_end_name((enum wsc_tcp_end)t)) == 0) r->close.tcp = t;
    r->close.clean = wsc_json_get_bool(cl, "clean", false);
    r->close.t_us = guint(cl, "t_us");
  }

  const wsc_json *hs = wsc_json_get(c, "handshake");
  if (hs) {
    r->status = (int)wsc_json_get_int(hs, "status", 0);
    ghex(l, hs, "request_hex", &r->request, &r->request_len);
    ghex(l, hs, "response_hex", &r->response, &r->response_len);
  }

  const wsc_json *wi = wsc_json_get(c, "wire");
  if (wi) {
    wsc_wirelog *wl = &r->wire;
    wl->total[WSC_WIRE_TX] = guint(wi, "tx_bytes");
    wl->total[WSC_WIRE_RX] = guint(wi, "rx_bytes");
    wl->stored[WSC_WIRE_TX] = guint(wi, "tx_stored");
    wl->stored[WSC_WIRE_RX] = guint(wi, "rx_stored");
    bool h1 = false, h2 = false;
    gsha(l, wi, "tx_sha256", wl->sha256[WSC_WIRE_TX], &h1);
    gsha(l, wi, "rx_sha256", wl->sha256[WSC_WIRE_RX], &h2);
    wl->has_sha256 = h1 && h2;
    const wsc_json *lg = wsc_json_get(wi, "log");
    size_t cnt = lg && lg->type == WSC_JSON_ARRAY ? lg->n : 0;
    if (cnt) {
      wl->chunks = calloc(cnt, sizeof *wl->chunks);
      if (!wl->chunks) {
        lfail(l, "out of memory");
        return;
      }
      wl->cap = cnt;
    }
    for (const wsc_json *e = cnt ? lg->child : NULL; e; e = e->next) {
      wsc_wire_chunk *ch = &wl->chunks[wl->n++];
      const char *d = wsc_json_get_str(e, "dir", "note");
      ch->dir = strcmp(d, "tx") == 0   ? WSC_WIRE_TX
                : strcmp(d, "rx") == 0 ? WSC_WIRE_RX
                                       : WSC_WIRE_NOTE;
      ch->t_us = guint(e, "t_us");
      ch->conn = gstr(e, "conn");
      if (ch->dir == WSC_WIRE_NOTE) {
        ch->note = gstr(e, "note");
        if (!ch->note) ch->note = strdup("");
      } else {
        ch->offset = guint(e, "offset");
        ch->len = (size_t)guint(e, "len");
        ghex(l, e, "hex", &ch->data, &ch->data_len);
      }
    }
  }
}

int wsc_report_load_json(const char *text, size_t n, wsc_run *run, char *err, size_t err_len) {
  memset(run, 0, sizeof *run);
  ld l = {err, err_len, 0};
  char perr[128];
  wsc_json *root = wsc_json_parse(text, n, perr, sizeof perr);
  if (!root) {
    lfail(&l, "%s", perr);
    return l.rc;
  }
  const char *schema = wsc_json_get_str(root, "schema", NULL);
  if (!schema || strcmp(schema, WSC_REPORT_SCHEMA) != 0) {
    lfail(&l, "schema: expected \"%s\", got %s%s%s", WSC_REPORT_SCHEMA, schema ? "\"" : "",
          schema ? schema : "none", schema ? "\"" : "");
    wsc_json_free(root);
    return l.rc;
  }
  run->tool_version = gstr(wsc_json_get(root, "tool"), "version");
  const wsc_json *ru = wsc_json_get(root, "run");
  run->run_id = gstr(ru, "id");
  run->target = gstr(ru, "target");
  run->stomp_target = gstr(ru, "stomp_target");
  run->embedded = wsc_json_get_bool(ru, "embedded", false);
  run->agent = gstr(ru, "agent");
  run->started = gstr(ru, "started");
  run->finished = gstr(ru, "finished");
  run->duration_us = guint(ru, "duration_us");
  const wsc_json *op = wsc_json_get(ru, "options");
  run->jobs = (unsigned)guint(op, "jobs");
  run->timeout_ms = guint(op, "timeout_ms");
  run->strict = wsc_json_get_bool(op, "strict", false);
  gstrv(&l, op, "cases", &run->select, &run->nselect);
  gstrv(&l, op, "exclude", &run->exclude, &run->nexclude);
  run->origin = gstr(op, "origin");
  run->subprotocol = gstr(op, "subprotocol");
  gstrv(&l, op, "headers", &run->headers, &run->nheaders);
  run->proxy = gstr(op, "proxy");
  run->sni = gstr(op, "sni");
  run->cacert = gstr(op, "cacert");
  run->insecure = wsc_json_get_bool(op, "insecure", false);

  const wsc_json *cs = wsc_json_get(root, "cases");
  if (!cs || cs->type != WSC_JSON_ARRAY) lfail(&l, "cases: missing or not an array");
  for (const wsc_json *c = cs && cs->type == WSC_JSON_ARRAY ? cs->child : NULL; c && !l.rc;
       c = c->next) {
    wsc_result *r = wsc_run_add(run);
    if (!r) {
      lfail(&l, "out of memory");
      break;
    }
    load_case(&l, c, r);
  }
  wsc_json_free(root);
  if (l.rc) wsc_run_free(run);
  return l.rc;
}

int wsc_report_load_file(const char *path, wsc_run *run, char *err, size_t err_len) {
  memset(run, 0, sizeof *run);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_len, "%s: %s", path, strerror(errno));
    return WSREF_E_IO;
  }
  wsref_buf b = WSREF_BUF_INIT;
  char tmp[65536];
  size_t k;
  int rc = 0;
  while ((k = fread(tmp, 1, sizeof tmp, f)) > 0 && rc == 0) rc = wsref_buf_append(&b, tmp, k);
  bool ioerr = ferror(f);
  fclose(f);
  if (rc || ioerr) {
    snprintf(err, err_len, "%s: %s", path, rc ? "out of memory" : "read error");
    wsref_buf_free(&b);
    return rc ? rc : WSREF_E_IO;
  }
  char e2[200];
  rc =
      wsc_report_load_json((const char *)wsref_buf_head(&b), wsref_buf_len(&b), run, e2, sizeof e2);
  if (rc) snprintf(err, err_len, "%s:%s", path, e2);
  wsref_buf_free(&b);
  return rc;
}
