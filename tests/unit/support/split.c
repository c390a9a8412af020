#include "split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

const split_plan split_plan_default = {.two_way = 1, .max_chunk = 17, .max3 = 48};

enum { MAX_REPORTS = 3 };

int split_run(const split_target *t, const uint8_t *data, size_t n, const size_t *cuts,
              size_t ncuts, wsref_buf *out) {
  wsref_buf_reset(out);
  /* An empty buffer's data pointer may be NULL; make the transcript always a C string. */
  if (!wsref_buf_reserve(out, 1)) return WSREF_E_NOMEM;
  t->reset(t->ctx);
  size_t at = 0;
  for (size_t c = 0; c <= ncuts; c++) {
    size_t end = c < ncuts ? cuts[c] : n;
    size_t len = end - at;
    /* malloc(0) may return NULL; keep one spare byte so a piece always has an address. */
    uint8_t *piece = malloc(len ? len : 1);
    if (!piece) return WSREF_E_NOMEM;
    if (len) memcpy(piece, data + at, len);
    t->feed(t->ctx, piece, len, out);
    free(piece);
    at = end;
  }
  if (t->finish) t->finish(t->ctx, out);
  if (!wsref_buf_reserve(out, 1)) return WSREF_E_NOMEM;
  wsref_buf_head(out)[wsref_buf_len(out)] = '\0';
  return 0;
}

static void describe(const size_t *cuts, size_t ncuts, char *s, size_t cap) {
  size_t w = (size_t)snprintf(s, cap, "cuts at");
  for (size_t i = 0; i < ncuts && w < cap; i++)
    w += (size_t)snprintf(s + w, cap - w, " %zu", cuts[i]);
  if (ncuts == 0 && w < cap) snprintf(s + w, cap - w, " (none)");
}

static size_t compare(const split_target *t, const uint8_t *data, size_t n, const size_t *cuts,
                      size_t ncuts, const wsref_buf *ref, wsref_buf *got, size_t *reported) {
  if (split_run(t, data, n, cuts, ncuts, got) != 0) return 1;
  if (wsref_buf_len(got) == wsref_buf_len(ref) &&
      memcmp(wsref_buf_head(got), wsref_buf_head(ref), wsref_buf_len(ref)) == 0)
    return 0;
  if (*reported < MAX_REPORTS) {
    char what[256];
    describe(cuts, ncuts, what, sizeof what);
    fprintf(stderr, "# split mismatch (%s, %zu octets)\n# whole:\n%s\n# split:\n%s\n", what, n,
            (const char *)wsref_buf_head(ref), (const char *)wsref_buf_head(got));
  }
  (*reported)++;
  return 1;
}

size_t split_check(const split_target *t, const uint8_t *data, size_t n, const split_plan *plan) {
  if (!plan) plan = &split_plan_default;
  wsref_buf ref = WSREF_BUF_INIT, got = WSREF_BUF_INIT;
  size_t bad = 0, reported = 0;
  if (split_run(t, data, n, NULL, 0, &ref) != 0) {
    bad = 1;
    goto out;
  }
  if (plan->two_way) {
    for (size_t k = 1; k < n; k++) bad += compare(t, data, n, &k, 1, &ref, &got, &reported);
  }
  if (plan->max_chunk && n > 1) {
    size_t *cuts = malloc(n * sizeof *cuts);
    if (!cuts) {
      bad++;
      goto out;
    }
    for (size_t c = 1; c <= plan->max_chunk && c < n; c++) {
      size_t nc = 0;
      for (size_t at = c; at < n; at += c) cuts[nc++] = at;
      bad += compare(t, data, n, cuts, nc, &ref, &got, &reported);
    }
    free(cuts);
  }
  if (plan->max3 && n <= plan->max3) {
    for (size_t a = 1; a < n; a++)
      for (size_t b = a + 1; b < n; b++) {
        size_t cuts[2] = {a, b};
        bad += compare(t, data, n, cuts, 2, &ref, &got, &reported);
      }
  }
out:
  wsref_buf_free(&ref);
  wsref_buf_free(&got);
  return bad;
}
