/* A short Markdown summary for CI logs and job summaries: totals by area, then every case
 * that needs attention (FAIL, ERROR, NON-STRICT) with its clause and reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "report.h"

/* Table cells: no newlines, and '|' would end the cell. */
static void cell(wsc_out *o, const char *s) {
  for (; s && *s; s++) {
    if (*s == '|')
      wsc_out_str(o, "\\|");
    else if (*s == '\n' || *s == '\r')
      wsc_out_str(o, " ");
    else
      wsc_out_put(o, s, 1);
  }
}

static void count_row(wsc_out *o, const char *name, const wsc_counts *c, bool bold) {
  wsc_out_str(o, "| ");
  if (bold) wsc_out_str(o, "**");
  cell(o, name);
  if (bold) wsc_out_str(o, "**");
  wsc_out_printf(o, " | %zu |", c->total);
  for (int v = 0; v < WSC_VERDICT_COUNT; v++) wsc_out_printf(o, " %zu |", c->v[v]);
  wsc_out_str(o, "\n");
}

static void case_table(wsc_out *o, const wsc_run *run, const char *title, enum wsc_verdict v) {
  size_t n = 0;
  for (size_t i = 0; i < run->n; i++) n += run->results[i].verdict == v;
  if (!n) return;
  wsc_out_printf(o,
                 "\n### %s (%zu)\n\n| Case | Alias | Clause | Level | Reason |\n"
                 "|---|---|---|---|---|\n",
                 title, n);
  for (size_t i = 0; i < run->n; i++) {
    const wsc_result *r = &run->results[i];
    if (r->verdict != v) continue;
    wsc_out_str(o, "| `");
    cell(o, r->id);
    wsc_out_str(o, "` | ");
    cell(o, r->alias ? r->alias : "");
    wsc_out_str(o, " | ");
    cell(o, r->clause);
    wsc_out_str(o, " | ");
    cell(o, r->level);
    wsc_out_str(o, " | ");
    cell(o, r->reason);
    for (size_t k = 0; k < r->nfindings; k++) {
      wsc_out_str(o, k || r->reason ? "; " : "");
      wsc_out_str(o, "finding ");
      cell(o, r->findings[k].clause);
      wsc_out_str(o, ": ");
      cell(o, r->findings[k].message);
    }
    wsc_out_str(o, " |\n");
  }
}

int wsc_report_md(const wsc_run *run, wsref_buf *b) {
  wsc_out o = {b, 0};
  wsc_counts all;
  wsc_run_count(run, &all);
  size_t failing = 0;
  for (size_t i = 0; i < run->n; i++)
    failing += wsc_verdict_is_failure(run->results[i].verdict, run->strict);

  wsc_out_str(&o, "## wsconform: ");
  wsc_out_str(&o, failing ? "FAILED" : "passed");
  wsc_out_str(&o, "\n\n");
  wsc_out_str(&o, "- target: `");
  cell(&o, run->target);
  wsc_out_str(&o, run->embedded ? "` (embedded reference server)\n" : "`\n");
  if (run->stomp_target) {
    wsc_out_str(&o, "- STOMP target: `");
    cell(&o, run->stomp_target);
    wsc_out_str(&o, "`\n");
  }
  if (run->agent) {
    wsc_out_str(&o, "- agent: ");
    cell(&o, run->agent);
    wsc_out_str(&o, "\n");
  }
  wsc_out_printf(&o, "- run: %s, started %s, %llu.%03llu s, %u jobs%s\n",
                 run->run_id ? run->run_id : "-", run->started ? run->started : "-",
                 (unsigned long long)(run->duration_us / 1000000),
                 (unsigned long long)(run->duration_us % 1000000 / 1000), run->jobs,
                 run->strict ? ", strict" : "");
  wsc_out_printf(&o, "- result: %zu cases, %zu failing (%zu FAIL, %zu ERROR%s)\n\n", all.total,
                 failing, all.v[WSC_FAIL], all.v[WSC_ERROR],
                 run->strict ? ", NON-STRICT counts" : "");

  wsc_out_str(&o, "| Area | Cases |");
  for (int v = 0; v < WSC_VERDICT_COUNT; v++)
    wsc_out_printf(&o, " %s |", wsc_verdict_name((enum wsc_verdict)v));
  wsc_out_str(&o, "\n|---|---:|");
  for (int v = 0; v < WSC_VERDICT_COUNT; v++) wsc_out_str(&o, "---:|");
  wsc_out_str(&o, "\n");
  size_t na = 0;
  const char **areas = wsc_run_areas(run, &na);
  if (!areas) return WSREF_E_NOMEM;
  for (size_t a = 0; a < na; a++) {
    wsc_counts c;
    wsc_run_count_area(run, areas[a], &c);
    count_row(&o, areas[a], &c, false);
  }
  free(areas);
  count_row(&o, "total", &all, true);

  case_table(&o, run, "FAIL", WSC_FAIL);
  case_table(&o, run, "ERROR", WSC_ERROR);
  case_table(&o, run, "NON-STRICT", WSC_NON_STRICT);
  return o.err;
}
