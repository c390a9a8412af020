/* TAP version 13: one test point per case, YAML diagnostics for every verdict but PASS, so
 * `prove` can consume a run (see reports/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "report.h"

/* A test description may not contain a newline, and '#' would start a directive. */
static void desc(wsc_out *o, const char *s) {
  for (; s && *s; s++) {
    if (*s == '#')
      wsc_out_str(o, "\\#");
    else if (*s == '\n' || *s == '\r')
      wsc_out_str(o, " ");
    else if (*s == '\\')
      wsc_out_str(o, "\\\\");
    else
      wsc_out_put(o, s, 1);
  }
}

/* YAML double-quoted scalars accept JSON string escapes. */
static void yq(wsc_out *o, const char *s) {
  wsc_out_str(o, "\"");
  wsc_out_json(o, s ? s : "", s ? strlen(s) : 0);
  wsc_out_str(o, "\"");
}

static void ykv(wsc_out *o, const char *key, const char *val) {
  if (!val) return;
  wsc_out_printf(o, "  %s: ", key);
  yq(o, val);
  wsc_out_str(o, "\n");
}

int wsc_report_tap(const wsc_run *run, wsref_buf *b) {
  wsc_out o = {b, 0};
  wsc_out_printf(&o, "TAP version 13\n1..%zu\n", run->n);
  for (size_t i = 0; i < run->n; i++) {
    const wsc_result *r = &run->results[i];
    bool notok = wsc_verdict_is_failure(r->verdict, run->strict);
    wsc_out_printf(&o, "%s %zu - ", notok ? "not ok" : "ok", i + 1);
    desc(&o, r->id);
    if (r->title) {
      wsc_out_str(&o, ": ");
      desc(&o, r->title);
    }
    if (r->verdict == WSC_UNSUPPORTED) {
      wsc_out_str(&o, " # SKIP unsupported");
      if (r->reason) {
        wsc_out_str(&o, ": ");
        desc(&o, r->reason);
      }
    }
    wsc_out_str(&o, "\n");
    if (r->verdict == WSC_PASS) continue;
    wsc_out_str(&o, "  ---\n");
    ykv(&o, "verdict", wsc_verdict_name(r->verdict));
    ykv(&o, "alias", r->alias);
    ykv(&o, "clause", r->clause);
    ykv(&o, "level", r->level);
    ykv(&o, "reason", r->reason);
    if (r->nfindings) {
      wsc_out_str(&o, "  findings:\n");
      for (size_t k = 0; k < r->nfindings; k++) {
        const wsc_finding *f = &r->findings[k];
        char *line = NULL;
        if (asprintf(&line, "%s %s: %s", f->clause ? f->clause : "", f->rule ? f->rule : "",
                     f->message ? f->message : "") < 0) {
          o.err = WSREF_E_NOMEM;
          break;
        }
        wsc_out_str(&o, "    - ");
        yq(&o, line);
        wsc_out_str(&o, "\n");
        free(line);
      }
    }
    if (r->file) {
      char *src = NULL;
      if (asprintf(&src, "%s:%d", r->file, r->line) >= 0) {
        ykv(&o, "source", src);
        free(src);
      }
    }
    wsc_out_str(&o, "  ...\n");
  }
  wsc_counts c;
  wsc_run_count(run, &c);
  wsc_out_printf(&o, "# wsconform %s: %zu cases", run->target ? run->target : "", c.total);
  for (int v = 0; v < WSC_VERDICT_COUNT; v++)
    if (c.v[v]) wsc_out_printf(&o, ", %zu %s", c.v[v], wsc_verdict_name((enum wsc_verdict)v));
  wsc_out_str(&o, "\n");
  return o.err;
}
