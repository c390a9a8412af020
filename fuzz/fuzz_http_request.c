/* Server side of the opening handshake: wsref_http_parse_request() and
 * wsref_handshake_server() (reference/handshake/).
 *
 * Input: [options][registry byte][chunk plan][request bytes]
 *   options bits 0-2 parser limits (see k_limits), bit 3 pass a remote address.
 *   registry byte: see support/registry_fixture.h.
 *
 * Checks: the parse result is a documented code; a parsed head obeys the grammar; prefixes
 * cut where the chunk plan says give "need more" and then the whole-buffer result (with the
 * very same fields); token iteration is sane. For a parsed request, the handshake's answer
 * parses as a response with the reported status; a 101 is accepted by
 * wsref_handshake_client_verify() for a client that sent this very request (key,
 * subprotocols, extension offers); an error response has a correct Content-Length, a
 * one-line body, Connection: close, and the headers its status requires; interceptors'
 * after() calls match their before() calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "handshake/handshake.h"
#include "handshake/http.h"
#include "session/session.h"
#include "support/common.h"
#include "support/http_check.h"
#include "support/registry_fixture.h"

static const wsref_http_limits k_limits[8] = {
    {0, 0}, {8192, 64}, {64, 4}, {200, 2}, {1000, 300}, {100000, 256}, {30, 1}, {4096, 16},
};

static bool digits_value(wsref_str v, size_t *out) {
  if (v.n == 0 || v.n > 9) return false;
  size_t x = 0;
  for (size_t i = 0; i < v.n; i++) {
    if (v.p[i] < '0' || v.p[i] > '9') return false;
    x = x * 10 + (size_t)(v.p[i] - '0');
  }
  *out = x;
  return true;
}

/* A client that sent exactly this request must accept the 101 written for it. */
static void verify_as_client(const wsref_http_request *req, const wsref_http_response *res,
                             const char *chosen) {
  wsref_handshake_client c;
  memset(&c, 0, sizeof c);
  const wsref_http_header *key = wsref_http_find(req->headers, req->nheaders, "Sec-WebSocket-Key");
  FUZZ_CHECK(key && key->value.n == WSREF_KEY_LEN);
  memcpy(c.key, key->value.p, WSREF_KEY_LEN);
  c.key[WSREF_KEY_LEN] = '\0';

  char **protos = NULL;
  size_t np = 0, pos = 0;
  wsref_str t;
  while (wsref_http_next_token(req->headers, req->nheaders, "Sec-WebSocket-Protocol", &pos, &t)) {
    protos = realloc(protos, (np + 1) * sizeof *protos);
    if (!protos) abort();
    protos[np] = malloc(t.n + 1);
    if (!protos[np]) abort();
    memcpy(protos[np], t.p, t.n);
    protos[np][t.n] = '\0';
    np++;
  }
  c.subprotocols = (const char *const *)protos;
  c.nsubprotocols = np;

  /* The offer as one string of extension names: joining the raw header lines instead would
   * let an unbalanced quote on one line swallow the next line's elements. */
  wsref_buf ext = WSREF_BUF_INIT;
  pos = 0;
  while (wsref_http_next_token(req->headers, req->nheaders, "Sec-WebSocket-Extensions", &pos, &t)) {
    size_t e = 0;
    while (e < t.n && t.p[e] != ';') e++;
    while (e > 0 && (t.p[e - 1] == ' ' || t.p[e - 1] == '\t')) e--;
    if (e == 0 || memchr(t.p, '"', e) || memchr(t.p, ',', e)) continue;
    if (wsref_buf_len(&ext)) FUZZ_CHECK(wsref_buf_append(&ext, ", ", 2) == 0);
    FUZZ_CHECK(wsref_buf_append(&ext, t.p, e) == 0);
  }
  FUZZ_CHECK(wsref_buf_append(&ext, "", 1) == 0);
  c.extensions = (const char *)wsref_buf_head(&ext);

  char sp[WSREF_SUBPROTOCOL_MAX];
  int vr = wsref_handshake_client_verify(&c, res, sp);
  if (vr != 0) fprintf(stderr, "client_verify: %s\n", wsref_err_name(vr));
  FUZZ_CHECK(vr == 0);
  FUZZ_CHECK(strcmp(sp, chosen) == 0);
  for (size_t i = 0; i < np; i++) free(protos[i]);
  free(protos);
  wsref_buf_free(&ext);
}

static void handshake(const wsref_http_request *req, uint8_t o, uint8_t ro) {
  fuzz_reg_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  wsref_handler dummy;
  memset(&dummy, 0, sizeof dummy);
  wsref_registry *reg = fuzz_registry_new(ro, &dummy, &ctx);
  wsref_handshake_result res;
  wsref_buf out = WSREF_BUF_INIT;
  int hr = wsref_handshake_server(reg, req, (o & 8) ? "192.0.2.1:4242" : NULL, &res, &out);

  FUZZ_CHECK(hr == res.err);
  FUZZ_CHECK((hr == 0) == (res.status == 101));
  /* A failed handshake released what the hook negotiated; a successful one hands it to us. */
  if (hr == 0 && ctx.live_states) {
    FUZZ_CHECK(res.extension_state == ctx.last_state);
    fuzz_registry_free_state(res.extension_state, &ctx);
  }
  FUZZ_CHECK(ctx.live_states == 0);
  /* Interceptors: every before() that ran is paired with after() calls of both, in
   * reverse order, with the final status. */
  if (!(ro & 0x10)) FUZZ_CHECK(ctx.before_calls == 0 && ctx.after_calls == 0);
  FUZZ_CHECK(ctx.before_calls <= 1);
  FUZZ_CHECK(ctx.after_calls == 2 * ctx.before_calls);
  if (ctx.after_calls) {
    FUZZ_CHECK(ctx.after_order == 1); /* interceptor 1, then 0 */
    FUZZ_CHECK(ctx.after_status[0] == res.status && ctx.after_status[1] == res.status);
  }

  size_t olen = wsref_buf_len(&out);
  const char *ob = (const char *)fuzz_buf_head(&out);
  wsref_http_response *resp = malloc(sizeof *resp);
  if (!resp) abort();
  ssize_t r = wsref_http_parse_response(ob, olen, NULL, resp);
  FUZZ_CHECK(r > 0);
  fuzz_check_response(resp, ob, olen);
  FUZZ_CHECK(resp->status == res.status);
  FUZZ_CHECK(resp->version_major == 1 && resp->version_minor == 1);
  const wsref_http_header *h = resp->headers;
  size_t nh = resp->nheaders;

  if (hr == 0) {
    FUZZ_CHECK((size_t)r == olen);
    FUZZ_CHECK(res.handler == &dummy && res.registration != NULL);
    if (res.subprotocol[0]) {
      const wsref_registration *reg_r = res.registration;
      bool listed = false;
      for (size_t i = 0; i < wsref_registration_nsubprotocols(reg_r); i++)
        listed |= strcmp(wsref_registration_subprotocol(reg_r, i), res.subprotocol) == 0;
      FUZZ_CHECK(listed);
    }
    if (res.extensions[0]) {
      FUZZ_CHECK(ctx.ext_mode == 0 && strcmp(res.extensions, "x-fuzz; v=1") == 0);
      FUZZ_CHECK(res.rsv_mask == 4);
    } else {
      FUZZ_CHECK(res.rsv_mask == 0);
    }
    const wsref_http_header *u = wsref_http_find(req->headers, req->nheaders, "X-User");
    if (ctx.before_calls && u) FUZZ_CHECK(wsref_attrs_get(&res.attrs, "user") != NULL);
    verify_as_client(req, resp, res.subprotocol);
  } else {
    FUZZ_CHECK(res.status >= 300 && res.status <= 599);
    FUZZ_CHECK(res.subprotocol[0] == '\0' && res.extensions[0] == '\0');
    switch (hr) {
      case WSREF_E_HTTP_METHOD:
        FUZZ_CHECK(res.status == 405);
        FUZZ_CHECK(wsref_http_has_token(h, nh, "Allow", "GET"));
        break;
      case WSREF_E_HTTP_VERSION:
        FUZZ_CHECK(res.status == 400 || res.status == 505);
        break;
      case WSREF_E_HS_VERSION: {
        FUZZ_CHECK(res.status == 426);
        const wsref_http_header *v = wsref_http_find(h, nh, "Sec-WebSocket-Version");
        FUZZ_CHECK(v && wsref_str_eq(v->value, "13"));
        FUZZ_CHECK(wsref_http_has_token(h, nh, "Upgrade", "websocket"));
        FUZZ_CHECK(wsref_http_has_token(h, nh, "Connection", "upgrade"));
        break;
      }
      case WSREF_E_HS_ORIGIN:
        FUZZ_CHECK(res.status == 403);
        break;
      case WSREF_E_HS_PATH:
        FUZZ_CHECK(res.status == 404);
        break;
      case WSREF_E_HS_REJECTED:
        FUZZ_CHECK(ctx.before_calls == 1);
        break;
      case WSREF_E_HANDLER:
        FUZZ_CHECK(res.status == 500 && ctx.ext_mode == 3);
        break;
      case WSREF_E_HS_HOST:
      case WSREF_E_HS_UPGRADE:
      case WSREF_E_HS_CONNECTION:
      case WSREF_E_HS_KEY:
      case WSREF_E_HS_EXTENSION:
      case WSREF_E_HS_BODY:
      case WSREF_E_HS_PROTOCOL_SYNTAX:
      case WSREF_E_HS_EXTENSION_SYNTAX:
        FUZZ_CHECK(res.status == 400);
        break;
      default:
        /* A code added since this target was written: still a named error and a 4xx/5xx. */
        fprintf(stderr, "handshake error %s (%d)\n", wsref_err_name(hr), res.status);
        FUZZ_CHECK(strcmp(wsref_err_name(hr), "WSREF_E_UNKNOWN") != 0);
        FUZZ_CHECK(res.status >= 400);
    }
    FUZZ_CHECK(wsref_http_has_token(h, nh, "Connection", "close"));
    const wsref_http_header *cl = wsref_http_find(h, nh, "Content-Length");
    size_t clen = 0;
    FUZZ_CHECK(cl && digits_value(cl->value, &clen));
    FUZZ_CHECK(clen == olen - (size_t)r && clen >= 1);
    /* One line of text. */
    FUZZ_CHECK(ob[olen - 1] == '\n');
    FUZZ_CHECK(memchr(ob + r, '\n', clen - 1) == NULL && memchr(ob + r, '\r', clen) == NULL);
    /* No header the server did not mean to send (CR LF injection). */
    FUZZ_CHECK(wsref_http_find(h, nh, "Injected") == NULL);
  }
  free(resp);
  wsref_attrs_free(&res.attrs);
  wsref_buf_free(&out);
  wsref_registry_free(reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size, 0};
  uint8_t o = fuzz_u8(&in), ro = fuzz_u8(&in);
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);
  const wsref_http_limits *lim = (o & 7) ? &k_limits[o & 7] : NULL;
  size_t n = fuzz_left(&in);
  char *buf = (char *)fuzz_dup(fuzz_rest(&in), n);

  wsref_http_request *req = malloc(sizeof *req), *req2 = malloc(sizeof *req2);
  if (!req || !req2) abort();
  ssize_t rw = wsref_http_parse_request(buf, n, lim, req);
  FUZZ_CHECK(fuzz_http_result_ok(rw));
  wsref_buf dw = WSREF_BUF_INIT, dp = WSREF_BUF_INIT;
  if (rw > 0) {
    FUZZ_CHECK((size_t)rw <= n && buf[rw - 1] == '\n');
    fuzz_check_request(req, buf, (size_t)rw);
    fuzz_check_tokens(req->headers, req->nheaders);
    fuzz_describe_request(req, buf, &dw);
  }

  /* Prefixes, as a caller accumulating reads would see them. */
  ssize_t settled = WSREF_NEED_MORE;
  size_t cut = 0;
  for (int k = 0; k < 16 && plan.progress; k++) {
    cut += fuzz_chunks_next(&plan, n - cut);
    if (cut >= n) break;
    char *pb = (char *)fuzz_dup(buf, cut);
    ssize_t rp = wsref_http_parse_request(pb, cut, lim, req2);
    FUZZ_CHECK(fuzz_http_result_ok(rp));
    if (settled != WSREF_NEED_MORE) FUZZ_CHECK(rp == settled);
    if (rp != WSREF_NEED_MORE) {
      FUZZ_CHECK(rp == rw);
      settled = rp;
    }
    if (rw > 0 && cut >= (size_t)rw) FUZZ_CHECK(rp == rw);
    if (rp > 0) {
      wsref_buf_reset(&dp);
      fuzz_describe_request(req2, pb, &dp);
      FUZZ_CHECK(wsref_buf_len(&dp) == wsref_buf_len(&dw));
      FUZZ_CHECK(memcmp(fuzz_buf_head(&dp), fuzz_buf_head(&dw), wsref_buf_len(&dw)) == 0);
    }
    free(pb);
  }

  if (rw > 0) handshake(req, o, ro);
  wsref_buf_free(&dw);
  wsref_buf_free(&dp);
  free(req);
  free(req2);
  free(buf);
  return 0;
}
