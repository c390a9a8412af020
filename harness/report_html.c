/* A self-contained HTML page (inline CSS and JS, no network): the summary matrix by area,
 * a verdict filter, and per-case details with expected/observed events, findings, close
 * behaviour, the handshake and a hex wire log. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/utf8.h"
#include "report.h"

/* The page shows at most this many wire bytes per direction and case; the JSON has them all
 * (up to the wire log's own cap). */
#define HTML_WIRE_MAX 16384
#define HTML_WIRE_MAX_PASS 2048 /* for PASS and INFO cases */
#define HTML_PREVIEW 64
/* Rows of expected and observed events shown per case (a 1000-round-trip case has 1000). */
#define HTML_MAX_ROWS 200

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.2em 0 .4em}"
    "h3{font-size:1.05em;margin:1em 0 .3em;border-bottom:1px solid #ddd}"
    "h4{font-size:.95em;margin:.8em 0 .2em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
    "text-align:left;vertical-align:top}"
    ".matrix td.n{text-align:right}.matrix td.zero{color:#bbb}.matrix tr.total td{font-weight:bold}"
    ".badge{display:inline-block;min-width:7em;text-align:center;border-radius:3px;color:#fff;"
    "font-size:.85em;padding:0 4px;margin-right:.4em}"
    ".v-PASS{background:#2e7d32;color:#fff}.v-NON-STRICT{background:#f9a825;color:#222}"
    ".v-INFO{background:#1565c0;color:#fff}.v-UNSUPPORTED{background:#757575;color:#fff}"
    ".v-FAIL{background:#c62828;color:#fff}.v-ERROR{background:#6a1b9a;color:#fff}"
    "details.case{margin:2px 0;border:1px solid #e0e0e0;border-radius:3px}"
    "details.case>summary{cursor:pointer;padding:2px 4px}"
    "details.case[open]>summary{background:#f5f5f5}"
    ".body{padding:4px 12px 10px}.alias{color:#555}.reason{color:#555}"
    "pre{background:#fafafa;border:1px solid #eee;padding:6px;overflow-x:auto;margin:.2em 0;"
    "font:12px/1.35 ui-monospace,monospace}"
    ".tx{color:#0d47a1}.rx{color:#1b5e20}.note{color:#777}"
    "li.matched{font-weight:bold}#f label{margin-right:1em}#q{margin-left:1em;width:20em}";

static const char js[] =
    "(function(){"
    "var boxes=[].slice.call(document.querySelectorAll('#f input[type=checkbox]'));"
    "var q=document.getElementById('q');"
    "function apply(){var on={};boxes.forEach(function(b){on[b.getAttribute('data-v')]="
    "b.checked});var t=q.value.toLowerCase();"
    "[].forEach.call(document.querySelectorAll('details.case'),function(d){"
    "d.hidden=!(on[d.getAttribute('data-v')]&&(!t||d.getAttribute('data-k').indexOf(t)>=0))});"
    "[].forEach.call(document.querySelectorAll('section.area'),function(s){"
    "s.hidden=!s.querySelector('details.case:not([hidden])')})}"
    "boxes.forEach(function(b){b.addEventListener('change',apply)});"
    "q.addEventListener('input',apply);"
    "function openHash(){var e=location.hash&&document.getElementById(location.hash.slice(1));"
    "if(e&&e.tagName==='DETAILS')e.open=true}"
    "window.addEventListener('hashchange',openHash);openHash();apply()})();";

static void lower_xml(wsc_out *o, const char *s) {
  if (!s) return;
  size_t n = strlen(s);
  char *t = malloc(n + 1);
  if (!t) {
    o->err = WSREF_E_NOMEM;
    return;
  }
  for (size_t i = 0; i <= n; i++) t[i] = (char)tolower((unsigned char)s[i]);
  wsc_out_xml(o, t);
  free(t);
}

/* Element ids: keep [A-Za-z0-9._-], everything else becomes '_'. */
static void anchor(wsc_out *o, const char *prefix, const char *s) {
  wsc_out_str(o, prefix);
  for (; s && *s; s++) {
    char c = *s;
    bool ok = isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
    wsc_out_put(o, ok ? &c : "_", 1);
  }
}

static void badge(wsc_out *o, enum wsc_verdict v) {
  const char *n = wsc_verdict_name(v);
  wsc_out_printf(o, "<span class=\"badge v-%s\">%s</span>", n, n);
}

static void ms(wsc_out *o, uint64_t us) {
  wsc_out_printf(o, "%llu.%03llu", (unsigned long long)(us / 1000),
                 (unsigned long long)(us % 1000));
}

/* Shown as text only when that is exact: UTF-8 without control characters. A preview cut
 * inside a sequence is still text (the cut is not the payload's fault). */
static bool printable(const uint8_t *p, size_t n, bool cut) {
  for (size_t i = 0; i < n; i++)
    if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7F) return false;
  wsref_utf8 u;
  wsref_utf8_init(&u);
  if (wsref_utf8_feed(&u, p, n, NULL) < 0) return false;
  return cut || wsref_utf8_complete(&u);
}

static void preview(wsc_out *o, const uint8_t *p, size_t n, uint64_t total) {
  size_t k = n < HTML_PREVIEW ? n : HTML_PREVIEW;
  if (!k) {
    wsc_out_str(o, total ? "" : "(empty)");
  } else if (printable(p, k, k < total)) {
    wsc_out_str(o, "<code>");
    wsc_out_xmln(o, p, k);
    wsc_out_str(o, "</code>");
  } else {
    static const char dg[] = "0123456789abcdef";
    wsc_out_str(o, "<code>hex ");
    for (size_t i = 0; i < k; i++) {
      char h[3] = {dg[p[i] >> 4], dg[p[i] & 15], ' '};
      wsc_out_put(o, h, i + 1 < k ? 3 : 2);
    }
    wsc_out_str(o, "</code>");
  }
  if (total > k) wsc_out_printf(o, " &hellip; (%llu octets)", (unsigned long long)total);
}

static void count_row(wsc_out *o, const char *area, const wsc_counts *c, bool total) {
  wsc_out_str(o, total ? "<tr class=\"total\"><td>total" : "<tr><td>");
  if (!total) {
    wsc_out_str(o, "<a href=\"#");
    anchor(o, "area-", area);
    wsc_out_str(o, "\">");
    wsc_out_xml(o, area[0] ? area : "(none)");
    wsc_out_str(o, "</a>");
  }
  wsc_out_printf(o, "</td><td class=\"n\">%zu</td>", c->total);
  for (int v = 0; v < WSC_VERDICT_COUNT; v++) {
    if (c->v[v]) {
      wsc_out_printf(o, "<td class=\"n v-%s\">%zu</td>", wsc_verdict_name((enum wsc_verdict)v),
                     c->v[v]);
    } else {
      wsc_out_str(o, "<td class=\"n zero\">0</td>");
    }
  }
  wsc_out_str(o, "</tr>\n");
}

static void meta_row(wsc_out *o, const char *k, const char *v) {
  if (!v) return;
  wsc_out_printf(o, "<tr><th>%s</th><td>", k);
  wsc_out_xml(o, v);
  wsc_out_str(o, "</td></tr>");
}

static void code_str(char *buf, size_t n, int code) {
  if (code < 0)
    snprintf(buf, n, "none");
  else
    snprintf(buf, n, "%d", code);
}

static void case_detail(wsc_out *o, const wsc_result *r) {
  const char *vn = wsc_verdict_name(r->verdict);
  wsc_out_printf(o, "<details class=\"case\" data-v=\"%s\" data-k=\"", vn);
  lower_xml(o, r->id);
  wsc_out_str(o, " ");
  lower_xml(o, r->alias);
  wsc_out_str(o, " ");
  lower_xml(o, r->clause);
  wsc_out_str(o, " ");
  lower_xml(o, r->title);
  wsc_out_str(o, "\" id=\"");
  anchor(o, "case-", r->id);
  wsc_out_str(o, "\"><summary>");
  badge(o, r->verdict);
  wsc_out_str(o, "<code>");
  wsc_out_xml(o, r->id);
  wsc_out_str(o, "</code> ");
  if (r->alias) {
    wsc_out_str(o, "<span class=\"alias\">[");
    wsc_out_xml(o, r->alias);
    wsc_out_str(o, "]</span> ");
  }
  wsc_out_xml(o, r->title);
  if (r->reason && r->verdict != WSC_PASS) {
    wsc_out_str(o, " &mdash; <span class=\"reason\">");
    wsc_out_xml(o, r->reason);
    wsc_out_str(o, "</span>");
  }
  wsc_out_str(o, "</summary>\n<div class=\"body\"><table class=\"meta\">");
  meta_row(o, "verdict", vn);
  meta_row(o, "reason", r->reason);
  meta_row(o, "clause", r->clause);
  meta_row(o, "level", r->level);
  meta_row(o, "area", r->area);
  if (r->ntags) {
    wsc_out_str(o, "<tr><th>tags</th><td>");
    for (size_t i = 0; i < r->ntags; i++) {
      if (i) wsc_out_str(o, ", ");
      wsc_out_xml(o, r->tags[i]);
    }
    wsc_out_str(o, "</td></tr>");
  }
  if (r->file) {
    wsc_out_str(o, "<tr><th>source</th><td>");
    wsc_out_xml(o, r->file);
    wsc_out_printf(o, ":%d</td></tr>", r->line);
  }
  meta_row(o, "started", r->started);
  wsc_out_str(o, "<tr><th>duration</th><td>");
  ms(o, r->duration_us);
  wsc_out_str(o, " ms</td></tr></table>\n");

  if (r->nexpected) {
    wsc_out_str(o, "<h4>Expected</h4><ol>");
    for (size_t i = 0; i < r->nexpected; i++) {
      if (i == HTML_MAX_ROWS) {
        wsc_out_printf(o, "<li>&hellip; %zu more (see report.json)</li>", r->nexpected - i);
        break;
      }
      const wsc_expect_alt *a = &r->expected[i];
      wsc_out_str(o, a->matched ? "<li class=\"matched\">" : "<li>");
      badge(o, a->grade);
      if (a->line) wsc_out_printf(o, "line %d: ", a->line);
      if (!a->n) wsc_out_str(o, "(nothing)");
      for (size_t k = 0; k < a->n; k++) {
        if (k) wsc_out_str(o, " &rarr; ");
        wsc_out_xml(o, a->items[k]);
      }
      if (a->outcome) {
        wsc_out_str(o, " &mdash; <i>");
        wsc_out_xml(o, a->outcome);
        wsc_out_str(o, "</i>");
      }
      wsc_out_str(o, "</li>");
    }
    wsc_out_str(o, "</ol>\n");
  }

  wsc_out_str(o, "<h4>Observed</h4>");
  if (!r->nobserved) {
    wsc_out_str(o, "<p>nothing</p>\n");
  } else {
    wsc_out_str(o,
                "<table class=\"events\"><tr><th>t (ms)</th><th>event</th><th>octets</th>"
                "<th>payload / detail</th></tr>");
    for (size_t i = 0; i < r->nobserved; i++) {
      if (i == HTML_MAX_ROWS) {
        wsc_out_printf(o,
                       "<tr><td colspan=\"4\">&hellip; %zu more events (see report.json)</td></tr>",
                       r->nobserved - i);
        break;
      }
      const wsc_event *e = &r->observed[i];
      wsc_out_str(o, "<tr><td>");
      ms(o, e->t_us);
      wsc_out_str(o, "</td><td>");
      if (e->conn) {
        wsc_out_xml(o, e->conn);
        wsc_out_str(o, ": ");
      }
      wsc_out_printf(o, "%s", wsc_event_type_name(e->type));
      if (e->type == WSC_EV_STOMP && e->detail) {
        wsc_out_str(o, " ");
        wsc_out_xml(o, e->detail);
      }
      if (e->type == WSC_EV_CLOSE || e->type == WSC_EV_HTTP) {
        char c[16];
        code_str(c, sizeof c, e->code);
        wsc_out_printf(o, " %s", c);
      }
      if (e->type == WSC_EV_FRAME)
        wsc_out_printf(o, " opcode=%u fin=%d rsv=%u", e->opcode, e->fin, e->rsv);
      if (e->frames > 1) wsc_out_printf(o, " (%u frames)", e->frames);
      wsc_out_printf(o, "</td><td>%llu</td><td>", (unsigned long long)e->len);
      preview(o, e->data, e->data_len, e->len);
      if (e->detail && e->type != WSC_EV_STOMP) {
        wsc_out_str(o, e->data_len ? " " : "");
        wsc_out_xml(o, e->detail);
      }
      wsc_out_str(o, "</td></tr>");
    }
    wsc_out_str(o, "</table>\n");
  }

  if (r->nfindings) {
    wsc_out_str(o, "<h4>Strict-observer findings</h4><ul>");
    for (size_t i = 0; i < r->nfindings; i++) {
      const wsc_finding *f = &r->findings[i];
      wsc_out_str(o, "<li><b>");
      wsc_out_xml(o, f->clause);
      wsc_out_str(o, "</b> <code>");
      wsc_out_xml(o, f->rule);
      wsc_out_str(o, "</code>: ");
      if (f->conn) {
        wsc_out_xml(o, f->conn);
        wsc_out_str(o, ": ");
      }
      wsc_out_xml(o, f->message);
      wsc_out_printf(o, " (rx octet %llu, t=", (unsigned long long)f->rx_offset);
      ms(o, f->t_us);
      wsc_out_str(o, " ms)</li>");
    }
    wsc_out_str(o, "</ul>\n");
  }

  const wsc_close_info *c = &r->close;
  char sc[16], rc[16];
  code_str(sc, sizeof sc, c->sent_code);
  code_str(rc, sizeof rc, c->code);
  wsc_out_printf(o,
                 "<h4>Close</h4><table class=\"meta\"><tr><th>initiated by</th><td>%s</td>"
                 "</tr><tr><th>close sent</th><td>%s</td></tr><tr><th>close received</th><td>%s",
                 wsc_side_name(c->initiated_by), c->sent ? sc : "no", c->received ? rc : "no");
  if (c->received && c->reason_len) {
    wsc_out_str(o, " reason ");
    preview(o, c->reason, c->reason_len, c->reason_len);
  }
  wsc_out_printf(o,
                 "</td></tr><tr><th>TCP</th><td>%s</td></tr><tr><th>clean</th><td>%s</td>"
                 "</tr></table>\n",
                 wsc_tcp_end_name(c->tcp), c->clean ? "yes" : "no");

  if (r->request_len || r->response_len) {
    wsc_out_printf(o, "<h4>Handshake</h4>");
    if (r->request_len) {
      wsc_out_str(o, "<pre class=\"tx\">");
      wsc_out_xmln(o, r->request, r->request_len);
      wsc_out_str(o, "</pre>");
    }
    if (r->response_len) {
      wsc_out_str(o, "<pre class=\"rx\">");
      wsc_out_xmln(o, r->response, r->response_len);
      wsc_out_str(o, "</pre>");
    } else {
      wsc_out_str(o, "<p>no complete response</p>");
    }
    wsc_out_str(o, "\n");
  }

  const wsc_wirelog *w = &r->wire;
  if (w->n) {
    wsc_out_printf(o, "<h4>Wire log</h4><p>%llu octets sent, %llu received",
                   (unsigned long long)w->total[WSC_WIRE_TX],
                   (unsigned long long)w->total[WSC_WIRE_RX]);
    if (w->has_sha256) {
      static const char dg[] = "0123456789abcdef";
      for (int d = 0; d < 2; d++) {
        wsc_out_str(o, d ? "; rx sha256 " : "; tx sha256 ");
        for (int i = 0; i < 32; i++) {
          char h[2] = {dg[w->sha256[d][i] >> 4], dg[w->sha256[d][i] & 15]};
          wsc_out_put(o, h, 2);
        }
      }
    }
    wsc_out_str(o, "</p><pre class=\"wire\">");
    size_t shown[2] = {0, 0};
    for (size_t i = 0; i < w->n; i++) {
      const wsc_wire_chunk *ch = &w->chunks[i];
      if (ch->dir == WSC_WIRE_NOTE) {
        wsc_out_str(o, "<span class=\"note\">");
        ms(o, ch->t_us);
        wsc_out_str(o, " ms  -- ");
        if (ch->conn) {
          wsc_out_str(o, "[");
          wsc_out_xml(o, ch->conn);
          wsc_out_str(o, "] ");
        }
        wsc_out_xml(o, ch->note);
        wsc_out_str(o, "</span>\n");
        continue;
      }
      const char *dn = wsc_wire_dir_name(ch->dir);
      wsc_out_printf(o, "<span class=\"%s\">", dn);
      ms(o, ch->t_us);
      wsc_out_str(o, " ms  ");
      if (ch->conn) {
        wsc_out_str(o, "[");
        wsc_out_xml(o, ch->conn);
        wsc_out_str(o, "] ");
      }
      wsc_out_printf(o, "%s %zu octets @%llu\n", ch->dir == WSC_WIRE_TX ? ">>" : "<<", ch->len,
                     (unsigned long long)ch->offset);
      size_t cap =
          r->verdict == WSC_PASS || r->verdict == WSC_INFO ? HTML_WIRE_MAX_PASS : HTML_WIRE_MAX;
      size_t room = shown[ch->dir] < cap ? cap - shown[ch->dir] : 0;
      size_t k = ch->data_len < room ? ch->data_len : room;
      wsc_out_hexdump(o, ch->data, k, ch->offset);
      shown[ch->dir] += k;
      if (k < ch->len)
        wsc_out_printf(o, "         ... %zu more octets not shown (see report.json)\n",
                       ch->len - k);
      wsc_out_str(o, "</span>");
    }
    wsc_out_str(o, "</pre>\n");
  }
  wsc_out_str(o, "</div></details>\n");
}

int wsc_report_html(const wsc_run *run, wsref_buf *b) {
  wsc_out o = {b, 0};
  wsc_counts all;
  wsc_run_count(run, &all);
  wsc_out_str(&o,
              "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width\">\n<title>wsconform: ");
  wsc_out_xml(&o, run->target);
  wsc_out_printf(&o, "</title>\n<style>%s</style>\n</head><body>\n<h1>wsconform report</h1>\n",
                 css);
  wsc_out_str(&o, "<table class=\"meta\">");
  meta_row(&o, "target", run->target);
  if (run->stomp_target) meta_row(&o, "STOMP target", run->stomp_target);
  if (run->embedded) meta_row(&o, "server", "embedded reference server");
  meta_row(&o, "agent", run->agent);
  meta_row(&o, "run", run->run_id);
  meta_row(&o, "started", run->started);
  wsc_out_str(&o, "<tr><th>duration</th><td>");
  ms(&o, run->duration_us);
  wsc_out_printf(&o, " ms</td></tr><tr><th>options</th><td>jobs %u, timeout %llu ms%s</td></tr>",
                 run->jobs, (unsigned long long)run->timeout_ms, run->strict ? ", strict" : "");
  meta_row(&o, "tool", run->tool_version);
  wsc_out_str(&o, "</table>\n");

  wsc_out_str(&o, "<h2>Summary</h2>\n<table class=\"matrix\"><tr><th>area</th><th>cases</th>");
  for (int v = 0; v < WSC_VERDICT_COUNT; v++)
    wsc_out_printf(&o, "<th>%s</th>", wsc_verdict_name((enum wsc_verdict)v));
  wsc_out_str(&o, "</tr>\n");
  size_t na = 0;
  const char **areas = wsc_run_areas(run, &na);
  if (!areas) return WSREF_E_NOMEM;
  for (size_t a = 0; a < na; a++) {
    wsc_counts c;
    wsc_run_count_area(run, areas[a], &c);
    count_row(&o, areas[a], &c, false);
  }
  count_row(&o, "", &all, true);
  wsc_out_str(&o, "</table>\n");

  wsc_out_str(&o, "<h2>Cases</h2>\n<form id=\"f\" onsubmit=\"return false\">show: ");
  for (int v = 0; v < WSC_VERDICT_COUNT; v++) {
    const char *n = wsc_verdict_name((enum wsc_verdict)v);
    wsc_out_printf(&o, "<label><input type=\"checkbox\" data-v=\"%s\" checked> %s (%zu)</label>", n,
                   n, all.v[v]);
  }
  wsc_out_str(&o,
              "<input type=\"search\" id=\"q\" placeholder=\"id, alias, clause, title\">"
              "</form>\n");
  for (size_t a = 0; a < na; a++) {
    wsc_out_str(&o, "<section class=\"area\" id=\"");
    anchor(&o, "area-", areas[a]);
    wsc_out_str(&o, "\"><h3>");
    wsc_out_xml(&o, areas[a][0] ? areas[a] : "(none)");
    wsc_out_str(&o, "</h3>\n");
    for (size_t i = 0; i < run->n; i++) {
      const wsc_result *r = &run->results[i];
      if (strcmp(r->area ? r->area : "", areas[a]) == 0) case_detail(&o, r);
    }
    wsc_out_str(&o, "</section>\n");
  }
  free(areas);
  wsc_out_printf(&o, "<script>%s</script>\n</body></html>\n", js);
  return o.err;
}
