#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "report.h"

static const char *const kind_names[WSC_CHANGE_KIND_COUNT] = {
    "regression", "fixed", "changed", "added", "removed",
};

const char *wsc_change_kind_name(enum wsc_change_kind k) {
  return (unsigned)k < WSC_CHANGE_KIND_COUNT ? kind_names[k] : "changed";
}

static int by_id(const void *x, const void *y) {
  const wsc_result *a = *(const wsc_result *const *)x, *b = *(const wsc_result *const *)y;
  return strcmp(a->id ? a->id : "", b->id ? b->id : "");
}

/* Sorted pointers to a run's results, for lookups by id. */
static const wsc_result **index_of(const wsc_run *r) {
  const wsc_result **ix = malloc((r->n + 1) * sizeof *ix);
  if (!ix) return NULL;
  for (size_t i = 0; i < r->n; i++) ix[i] = &r->results[i];
  qsort(ix, r->n, sizeof *ix, by_id);
  return ix;
}

static const wsc_result *lookup(const wsc_result **ix, size_t n, const char *id) {
  wsc_result key;
  memset(&key, 0, sizeof key);
  key.id = (char *)id;
  const wsc_result *kp = &key;
  const wsc_result **hit = bsearch(&kp, ix, n, sizeof *ix, by_id);
  return hit ? *hit : NULL;
}

static int push(wsc_diff *d, enum wsc_change_kind k, const wsc_result *a, const wsc_result *b) {
  wsc_change *v = realloc(d->v, (d->n + 1) * sizeof *v);
  if (!v) return WSREF_E_NOMEM;
  d->v = v;
  v[d->n++] = (wsc_change){k, a, b};
  d->count[k]++;
  return 0;
}

int wsc_diff_runs(const wsc_run *a, const wsc_run *b, bool strict, wsc_diff *out) {
  memset(out, 0, sizeof *out);
  const wsc_result **ia = index_of(a), **ib = index_of(b);
  int rc = (!ia || !ib) ? WSREF_E_NOMEM : 0;
  for (size_t i = 0; !rc && i < b->n; i++) {
    const wsc_result *rb = &b->results[i];
    const wsc_result *ra = lookup(ia, a->n, rb->id ? rb->id : "");
    if (!ra) {
      rc = push(out, WSC_CHANGE_ADDED, NULL, rb);
      continue;
    }
    bool fa = wsc_verdict_is_failure(ra->verdict, strict);
    bool fb = wsc_verdict_is_failure(rb->verdict, strict);
    if (!fa && fb)
      rc = push(out, WSC_CHANGE_REGRESSION, ra, rb);
    else if (fa && !fb)
      rc = push(out, WSC_CHANGE_FIXED, ra, rb);
    else if (ra->verdict != rb->verdict)
      rc = push(out, WSC_CHANGE_VERDICT, ra, rb);
    else
      out->unchanged++;
  }
  for (size_t i = 0; !rc && i < a->n; i++) {
    const wsc_result *ra = &a->results[i];
    if (!lookup(ib, b->n, ra->id ? ra->id : "")) rc = push(out, WSC_CHANGE_REMOVED, ra, NULL);
  }
  free(ia);
  free(ib);
  if (rc) wsc_diff_free(out);
  return rc;
}

int wsc_diff_format(const wsc_diff *d, wsref_buf *b) {
  wsc_out o = {b, 0};
  for (size_t i = 0; i < d->n; i++) {
    const wsc_change *c = &d->v[i];
    const wsc_result *r = c->b ? c->b : c->a;
    wsc_out_printf(&o, "%-10s %s", wsc_change_kind_name(c->kind), r->id ? r->id : "");
    if (r->alias) wsc_out_printf(&o, " [%s]", r->alias);
    wsc_out_printf(&o, ": %s -> %s", c->a ? wsc_verdict_name(c->a->verdict) : "(none)",
                   c->b ? wsc_verdict_name(c->b->verdict) : "(none)");
    if (c->b && c->b->reason && c->b->verdict != WSC_PASS) wsc_out_printf(&o, ": %s", c->b->reason);
    wsc_out_str(&o, "\n");
  }
  wsc_out_printf(&o,
                 "%zu regressions, %zu fixed, %zu changed, %zu added, %zu removed, %zu "
                 "unchanged\n",
                 d->count[WSC_CHANGE_REGRESSION], d->count[WSC_CHANGE_FIXED],
                 d->count[WSC_CHANGE_VERDICT], d->count[WSC_CHANGE_ADDED],
                 d->count[WSC_CHANGE_REMOVED], d->unchanged);
  return o.err;
}

void wsc_diff_free(wsc_diff *d) {
  free(d->v);
  memset(d, 0, sizeof *d);
}
