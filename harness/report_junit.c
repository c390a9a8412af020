/* JUnit XML: one <testsuite> per area, one <testcase> per case. FAIL (and NON-STRICT under
 * --strict) is a <failure>, ERROR an <error>, UNSUPPORTED <skipped>. The attribute set is the
 * common subset that Jenkins, GitLab and the Ant schema agree on (reports/junit.xsd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "report.h"

static void secs(wsc_out *o, uint64_t us) {
  wsc_out_printf(o, "%llu.%06llu", (unsigned long long)(us / 1000000),
                 (unsigned long long)(us % 1000000));
}

/* The body of a <failure>/<error>: enough to argue the verdict without the JSON. */
static void details(wsc_out *o, const wsc_result *r) {
  if (r->reason) {
    wsc_out_xml(o, r->reason);
    wsc_out_str(o, "\n");
  }
  if (r->clause) {
    wsc_out_str(o, "clause: ");
    wsc_out_xml(o, r->clause);
    wsc_out_str(o, r->level ? " (" : "\n");
    if (r->level) {
      wsc_out_xml(o, r->level);
      wsc_out_str(o, ")\n");
    }
  }
  if (r->alias) {
    wsc_out_str(o, "alias: ");
    wsc_out_xml(o, r->alias);
    wsc_out_str(o, "\n");
  }
  for (size_t i = 0; i < r->nexpected; i++) {
    const wsc_expect_alt *a = &r->expected[i];
    wsc_out_printf(o, "expected (line %d, %s):", a->line, wsc_verdict_name(a->grade));
    for (size_t k = 0; k < a->n; k++) {
      wsc_out_str(o, k ? "; " : " ");
      wsc_out_xml(o, a->items[k]);
    }
    if (a->outcome) {
      wsc_out_str(o, " => ");
      wsc_out_xml(o, a->outcome);
    }
    wsc_out_str(o, "\n");
  }
  for (size_t i = 0; i < r->nfindings; i++) {
    wsc_out_str(o, "finding: ");
    wsc_out_xml(o, r->findings[i].clause);
    wsc_out_str(o, " ");
    wsc_out_xml(o, r->findings[i].rule);
    wsc_out_str(o, ": ");
    wsc_out_xml(o, r->findings[i].message);
    wsc_out_str(o, "\n");
  }
  if (r->file) {
    wsc_out_str(o, "source: ");
    wsc_out_xml(o, r->file);
    wsc_out_printf(o, ":%d\n", r->line);
  }
}

int wsc_report_junit(const wsc_run *run, wsref_buf *b) {
  wsc_out o = {b, 0};
  wsc_counts all;
  wsc_run_count(run, &all);
  size_t fails = 0, errors = 0;
  for (size_t i = 0; i < run->n; i++) {
    enum wsc_verdict v = run->results[i].verdict;
    if (v == WSC_ERROR)
      errors++;
    else if (wsc_verdict_is_failure(v, run->strict))
      fails++;
  }
  wsc_out_str(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  wsc_out_printf(&o,
                 "<testsuites name=\"wsconform\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
                 "skipped=\"%zu\" time=\"",
                 all.total, fails, errors, all.v[WSC_UNSUPPORTED]);
  secs(&o, run->duration_us);
  wsc_out_str(&o, "\">\n");

  size_t na = 0;
  const char **areas = wsc_run_areas(run, &na);
  if (!areas) return WSREF_E_NOMEM;
  for (size_t a = 0; a < na; a++) {
    size_t n = 0, f = 0, e = 0, s = 0;
    uint64_t t = 0;
    for (size_t i = 0; i < run->n; i++) {
      const wsc_result *r = &run->results[i];
      if (strcmp(r->area ? r->area : "", areas[a]) != 0) continue;
      n++;
      t += r->duration_us;
      if (r->verdict == WSC_ERROR)
        e++;
      else if (wsc_verdict_is_failure(r->verdict, run->strict))
        f++;
      else if (r->verdict == WSC_UNSUPPORTED)
        s++;
    }
    wsc_out_str(&o, "  <testsuite name=\"");
    wsc_out_xml(&o, areas[a]);
    wsc_out_printf(&o, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"",
                   n, f, e, s);
    secs(&o, t);
    wsc_out_str(&o, "\">\n");
    for (size_t i = 0; i < run->n; i++) {
      const wsc_result *r = &run->results[i];
      if (strcmp(r->area ? r->area : "", areas[a]) != 0) continue;
      wsc_out_str(&o, "    <testcase classname=\"");
      wsc_out_str(&o, "wsconform.");
      wsc_out_xml(&o, areas[a]);
      wsc_out_str(&o, "\" name=\"");
      wsc_out_xml(&o, r->id);
      if (r->title) {
        wsc_out_str(&o, ": ");
        wsc_out_xml(&o, r->title);
      }
      wsc_out_str(&o, "\" time=\"");
      secs(&o, r->duration_us);
      wsc_out_str(&o, "\"");
      const char *tag = NULL;
      if (r->verdict == WSC_ERROR)
        tag = "error";
      else if (wsc_verdict_is_failure(r->verdict, run->strict))
        tag = "failure";
      if (tag) {
        wsc_out_printf(&o, ">\n      <%s message=\"", tag);
        wsc_out_xml(&o, r->reason ? r->reason : wsc_verdict_name(r->verdict));
        wsc_out_printf(&o, "\" type=\"%s\">", wsc_verdict_name(r->verdict));
        details(&o, r);
        wsc_out_printf(&o, "</%s>\n    </testcase>\n", tag);
      } else if (r->verdict == WSC_UNSUPPORTED) {
        wsc_out_str(&o, ">\n      <skipped message=\"");
        wsc_out_xml(&o, r->reason ? r->reason : "unsupported");
        wsc_out_str(&o, "\"/>\n    </testcase>\n");
      } else if (r->verdict != WSC_PASS) {
        /* NON-STRICT and INFO pass, but the reader should see why they are not plain PASS */
        wsc_out_printf(&o, ">\n      <system-out>%s: ", wsc_verdict_name(r->verdict));
        wsc_out_xml(&o, r->reason);
        wsc_out_str(&o, "</system-out>\n    </testcase>\n");
      } else {
        wsc_out_str(&o, "/>\n");
      }
    }
    wsc_out_str(&o, "  </testsuite>\n");
  }
  free(areas);
  wsc_out_str(&o, "</testsuites>\n");
  return o.err;
}
