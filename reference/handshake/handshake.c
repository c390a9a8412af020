#include "handshake/handshake.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"

static bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) return true;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool token_n(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i])) return false;
  return true;
}

/* A field value we are willing to put on the wire: no CTLs (so no CR/LF injection). */
static bool field_value_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
  }
  return true;
}

void wsref_handshake_write_error(wsref_buf *out, int status, const char *body_line,
                                 const char *extra_headers) {
  if (status < 100 || status > 599) status = 500;
  const char *reason = wsref_http_reason(status);
  const char *body = (body_line && *body_line) ? body_line : reason;
  size_t blen = strcspn(body, "\r\n"); /* the body is one line by contract */
  const char *extra = extra_headers ? extra_headers : "";
  size_t elen = strlen(extra);
  bool need_crlf = elen > 0 && (elen < 2 || strcmp(extra + elen - 2, "\r\n") != 0);
  /* RFC 9110 15.5.22: a 426 MUST carry Upgrade, and a sender of Upgrade MUST list
   * "Upgrade" in Connection (7.8). */
  const char *conn = status == 426 ? "Upgrade: websocket\r\nConnection: Upgrade, close"
                                   : "Connection: close";
  wsref_buf_appendf(out,
                    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                    "%s\r\n%s%s\r\n%.*s\n",
                    status, reason, blen + 1, conn, extra, need_crlf ? "\r\n" : "", (int)blen,
                    body);
}

/* The path part of the request target: origin-form up to '?', or the path of an
 * absolute-form target (RFC 9112 3.2.2: a server MUST accept it; RFC 6455 4.1 allows
 * http/https URIs, ws/wss are accepted for the same reason). */
static wsref_str target_path(wsref_str t) {
  size_t i = 0;
  if (t.n && t.p[0] != '/') {
    static const char *const schemes[] = {"http://", "https://", "ws://", "wss://"};
    for (size_t s = 0; s < sizeof schemes / sizeof schemes[0]; s++) {
      size_t sl = strlen(schemes[s]);
      wsref_str pre = {t.p, sl};
      if (t.n >= sl && wsref_str_ieq(pre, schemes[s])) {
        i = sl;
        while (i < t.n && t.p[i] != '/' && t.p[i] != '?') i++;
        if (i == t.n || t.p[i] == '?') return (wsref_str){"/", 1};
        break;
      }
    }
  }
  size_t e = i;
  while (e < t.n && t.p[e] != '?') e++;
  return (wsref_str){t.p + i, e - i};
}

/* The extension name of one Sec-WebSocket-Extensions element (before any ';'). */
static wsref_str ext_name(wsref_str el) {
  size_t e = 0;
  while (e < el.n && el.p[e] != ';') e++;
  while (e > 0 && (el.p[e - 1] == ' ' || el.p[e - 1] == '\t')) e--;
  return (wsref_str){el.p, e};
}

/* RFC 6455 4.3 / 9.1: Sec-WebSocket-Protocol is 1#token. Empty list elements are allowed
 * (RFC 9110 5.6.1: a recipient accepts them). */
static bool token_list_ok(wsref_str v) {
  size_t i = 0;
  while (i <= v.n) {
    size_t j = i;
    while (j < v.n && v.p[j] != ',') j++;
    size_t a = i, b = j;
    while (a < b && (v.p[a] == ' ' || v.p[a] == '\t')) a++;
    while (b > a && (v.p[b - 1] == ' ' || v.p[b - 1] == '\t')) b--;
    if (b > a && !token_n(v.p + a, b - a)) return false;
    i = j + 1;
  }
  return true;
}

/* RFC 6455 9.1: extension-list = 1#extension; extension = token *(";" param);
 * param = token ["=" (token / quoted-string)], with optional whitespace around the
 * separators. */
static bool ext_list_ok(wsref_str v) {
  const char *p = v.p, *end = v.p + v.n;
#define SKIP_OWS() while (p < end && (*p == ' ' || *p == '\t')) p++
#define TOKEN()                                                  \
  do {                                                           \
    const char *t0 = p;                                          \
    while (p < end && is_tchar((unsigned char)*p)) p++;          \
    if (p == t0) return false;                                   \
  } while (0)
  for (;;) {
    SKIP_OWS();
    if (p == end) return true;
    if (*p == ',') {
      p++;
      continue;
    }
    TOKEN(); /* extension name */
    for (;;) {
      SKIP_OWS();
      if (p == end || *p == ',') break;
      if (*p != ';') return false;
      p++;
      SKIP_OWS();
      TOKEN(); /* parameter name */
      SKIP_OWS();
      if (p < end && *p == '=') {
        p++;
        SKIP_OWS();
        if (p < end && *p == '"') {
          for (p++; p < end && *p != '"'; p++)
            if (*p == '\\' && ++p == end) return false;
          if (p == end) return false;
          p++;
        } else {
          TOKEN();
        }
      }
    }
  }
#undef SKIP_OWS
#undef TOKEN
}

static bool ext_offered(const wsref_http_header *h, size_t n, const char *name) {
  size_t pos = 0;
  wsref_str el;
  while (wsref_http_next_token(h, n, "Sec-WebSocket-Extensions", &pos, &el))
    if (wsref_str_ieq(ext_name(el), name)) return true;
  return false;
}

static void run_after(const wsref_registration *r, const wsref_http_request *req, size_t ran,
                      int status) {
  while (ran--) {
    const wsref_interceptor *ic = wsref_registration_interceptor(r, ran);
    if (ic->after) ic->after(req, status, ic->ud);
  }
}

int wsref_handshake_server(const wsref_registry *reg, const wsref_http_request *req,
                           const char *remote_addr, wsref_handshake_result *res, wsref_buf *out) {
  memset(res, 0, sizeof *res);
  const wsref_http_header *h = req->headers;
  size_t n = req->nheaders;
  const wsref_registration *r = NULL;
  size_t ran = 0; /* interceptors whose before() ran */
  int err, status;
  const char *body, *extra = NULL;
  char reject_body[sizeof(((wsref_reject *)0)->body)];
  const wsref_http_header *hh;

  if (!wsref_str_eq(req->method, "GET")) {
    err = WSREF_E_HTTP_METHOD, status = 405, body = "WebSocket handshake requires GET";
    extra = "Allow: GET\r\n";
    goto fail;
  }
  if (req->version_major != 1 || req->version_minor < 1) {
    /* A 2.x major version in HTTP/1 syntax is not "older", so it gets 505, not 400. */
    err = WSREF_E_HTTP_VERSION, status = req->version_major > 1 ? 505 : 400;
    body = "HTTP/1.1 required";
    goto fail;
  }
  /* RFC 9112 3.2: 400 for a missing Host, several Host lines, or an invalid value. */
  hh = wsref_http_find(h, n, "Host");
  if (!hh || wsref_http_count(h, n, "Host") != 1 || hh->value.n == 0 ||
      memchr(hh->value.p, ',', hh->value.n) || memchr(hh->value.p, ' ', hh->value.n) ||
      memchr(hh->value.p, '\t', hh->value.n)) {
    err = WSREF_E_HS_HOST, status = 400, body = "missing or invalid Host header";
    goto fail;
  }
  wsref_str path = target_path(req->target);
  r = wsref_registry_find(reg, path.p, path.n);
  if (!r) {
    err = WSREF_E_HS_PATH, status = 404, body = "no WebSocket endpoint at this path";
    goto fail;
  }
  res->registration = r;
  res->handler = wsref_registration_handler(r);
  if (!wsref_http_has_token(h, n, "Upgrade", "websocket")) {
    err = WSREF_E_HS_UPGRADE, status = 400, body = "Upgrade header must contain websocket";
    goto fail;
  }
  if (!wsref_http_has_token(h, n, "Connection", "upgrade")) {
    err = WSREF_E_HS_CONNECTION, status = 400, body = "Connection header must contain upgrade";
    goto fail;
  }
  hh = wsref_http_find(h, n, "Sec-WebSocket-Version");
  if (!hh || wsref_http_count(h, n, "Sec-WebSocket-Version") != 1 ||
      !wsref_str_eq(hh->value, "13")) {
    err = WSREF_E_HS_VERSION, status = 426, body = "Sec-WebSocket-Version must be 13";
    extra = "Sec-WebSocket-Version: 13\r\n";
    goto fail;
  }
  const wsref_http_header *key = wsref_http_find(h, n, "Sec-WebSocket-Key");
  if (!key || wsref_http_count(h, n, "Sec-WebSocket-Key") != 1 ||
      !wsref_key_valid(key->value.p, key->value.n)) {
    err = WSREF_E_HS_KEY, status = 400, body = "Sec-WebSocket-Key missing or invalid";
    goto fail;
  }
  /* The upgrade happens after the request; a body (RFC 9112 6.3) would be read as frames. */
  hh = wsref_http_find(h, n, "Content-Length");
  if (wsref_http_find(h, n, "Transfer-Encoding") ||
      (hh && (wsref_http_count(h, n, "Content-Length") != 1 || !wsref_str_eq(hh->value, "0")))) {
    err = WSREF_E_HS_BODY, status = 400, body = "a WebSocket upgrade request has no body";
    goto fail;
  }
  /* Malformed negotiation headers are refused whether or not the endpoint negotiates
   * (RFC 6455 4.2.1: a request that does not follow the rules is answered with an error). */
  for (size_t i = 0; i < n; i++) {
    if (wsref_str_ieq(h[i].name, "Sec-WebSocket-Protocol") && !token_list_ok(h[i].value)) {
      err = WSREF_E_HS_PROTOCOL_SYNTAX, status = 400;
      body = "Sec-WebSocket-Protocol must be a list of tokens";
      goto fail;
    }
    if (wsref_str_ieq(h[i].name, "Sec-WebSocket-Extensions") && !ext_list_ok(h[i].value)) {
      err = WSREF_E_HS_EXTENSION_SYNTAX, status = 400;
      body = "Sec-WebSocket-Extensions is malformed";
      goto fail;
    }
  }
  /* Several Origin lines: each must be allowed, so none slips past the list. */
  bool origin_ok = true, any_origin = false;
  for (size_t i = 0; i < n; i++) {
    if (!wsref_str_ieq(h[i].name, "Origin")) continue;
    any_origin = true;
    if (!wsref_registration_origin_allowed(r, h[i].value.p, h[i].value.n)) origin_ok = false;
  }
  if (!any_origin) origin_ok = wsref_registration_origin_allowed(r, NULL, 0);
  if (!origin_ok) {
    err = WSREF_E_HS_ORIGIN, status = 403, body = "Origin not allowed";
    goto fail;
  }

  size_t nic = wsref_registration_ninterceptors(r);
  for (size_t i = 0; i < nic; i++) {
    const wsref_interceptor *ic = wsref_registration_interceptor(r, i);
    ran = i + 1;
    if (!ic->before) continue;
    wsref_reject rej;
    memset(&rej, 0, sizeof rej);
    if (ic->before(req, remote_addr, &res->attrs, &rej, ic->ud) != 0) {
      /* 1xx/2xx would read as success to the client: only 3xx-5xx are honoured. */
      status = (rej.status >= 300 && rej.status <= 599) ? rej.status : 403;
      rej.body[sizeof rej.body - 1] = '\0';
      memcpy(reject_body, rej.body, sizeof reject_body);
      err = WSREF_E_HS_REJECTED, body = reject_body[0] ? reject_body : "handshake rejected";
      goto fail;
    }
  }

  /* Client order decides: the client lists by preference (RFC 6455 4.1). */
  size_t pos = 0, nproto = wsref_registration_nsubprotocols(r);
  wsref_str tok;
  while (!res->subprotocol[0] &&
         wsref_http_next_token(h, n, "Sec-WebSocket-Protocol", &pos, &tok)) {
    for (size_t j = 0; j < nproto; j++) {
      const char *p = wsref_registration_subprotocol(r, j);
      if (wsref_str_eq(tok, p)) {
        memcpy(res->subprotocol, p, strlen(p) + 1); /* registry caps names at 127 */
        break;
      }
    }
  }

  size_t next = wsref_registration_nextensions(r);
  if (next && wsref_http_find(h, n, "Sec-WebSocket-Extensions")) {
    for (size_t i = 0; i < next; i++) {
      const wsref_extension *ext = wsref_registration_extension(r, i);
      /* Never let a hook answer with an extension the client did not offer. */
      if (!ext_offered(h, n, ext->name)) continue;
      wsref_buf resp = WSREF_BUF_INIT;
      unsigned rsv = 0;
      void *state = NULL;
      int rc = ext->negotiate(req, &resp, &rsv, &state, ext->ud);
      if (rc < 0) {
        wsref_buf_free(&resp);
        err = WSREF_E_HS_EXTENSION, status = 400, body = "Sec-WebSocket-Extensions not acceptable";
        goto fail;
      }
      if (rc == 0) {
        wsref_buf_free(&resp);
        continue;
      }
      size_t len = wsref_buf_len(&resp);
      const char *val = (const char *)wsref_buf_head(&resp);
      res->rsv_mask = rsv & 0x7u;
      res->extension = ext;
      res->extension_state = state;
      if (len == 0 || len >= sizeof res->extensions || !field_value_ok(val, len)) {
        /* A hook bug: answer 500; the state is released below. */
        wsref_buf_free(&resp);
        err = WSREF_E_HANDLER, status = 500, body = "extension negotiation failed";
        goto fail;
      }
      memcpy(res->extensions, val, len);
      res->extensions[len] = '\0';
      wsref_buf_free(&resp);
      break;
    }
  }

  char accept[WSREF_ACCEPT_LEN + 1];
  wsref_accept_compute(key->value.p, key->value.n, accept);
  bool sp = res->subprotocol[0] != '\0', ex = res->extensions[0] != '\0';
  if (wsref_buf_appendf(out,
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s%s%s%s\r\n",
                        accept, sp ? "Sec-WebSocket-Protocol: " : "", res->subprotocol,
                        sp ? "\r\n" : "", ex ? "Sec-WebSocket-Extensions: " : "", res->extensions,
                        ex ? "\r\n" : "") != 0) {
    err = WSREF_E_NOMEM, status = 500, body = NULL;
    goto fail;
  }
  res->status = 101;
  res->err = 0;
  run_after(r, req, ran, 101);
  return 0;

fail:
  /* Nothing was negotiated: release what an accepting hook allocated. */
  if (res->extension && res->extension_state && res->extension->free_state)
    res->extension->free_state(res->extension_state, res->extension->ud);
  res->extension = NULL;
  res->extension_state = NULL;
  res->rsv_mask = 0;
  res->subprotocol[0] = '\0';
  res->extensions[0] = '\0';
  wsref_handshake_write_error(out, status, body, extra);
  res->status = status;
  res->err = err;
  run_after(r, req, ran, status);
  return err;
}

int wsref_handshake_client_request(wsref_handshake_client *c, wsref_buf *out) {
  const char *path = c->path ? c->path : "/";
  if (!c->host || !*c->host || !field_value_ok(c->host, strlen(c->host)) ||
      strpbrk(c->host, " \t,"))
    return WSREF_E_INVALID_ARG;
  if (!*path) return WSREF_E_INVALID_ARG;
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) return WSREF_E_INVALID_ARG;
  if (c->origin && !field_value_ok(c->origin, strlen(c->origin))) return WSREF_E_INVALID_ARG;
  if (c->extensions && (!*c->extensions || !field_value_ok(c->extensions, strlen(c->extensions))))
    return WSREF_E_INVALID_ARG;
  if (c->nsubprotocols && !c->subprotocols) return WSREF_E_INVALID_ARG;
  /* RFC 6455 4.1: non-empty tokens, all unique. */
  for (size_t i = 0; i < c->nsubprotocols; i++) {
    const char *p = c->subprotocols[i];
    if (!p || !token_n(p, strlen(p))) return WSREF_E_INVALID_ARG;
    for (size_t j = 0; j < i; j++)
      if (strcmp(p, c->subprotocols[j]) == 0) return WSREF_E_INVALID_ARG;
  }
  if (c->nheaders && !c->headers) return WSREF_E_INVALID_ARG;
  for (size_t i = 0; i < c->nheaders; i++) {
    const char *line = c->headers[i];
    const char *colon = line ? strchr(line, ':') : NULL;
    if (!colon || !token_n(line, (size_t)(colon - line)) ||
        !field_value_ok(colon + 1, strlen(colon + 1)))
      return WSREF_E_INVALID_ARG;
  }

  wsref_key_encode(c->nonce, c->key);
  size_t before = wsref_buf_len(out);
  int rc = wsref_buf_appendf(out,
                             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n",
                             path, c->host, c->key);
  if (!rc && c->origin) rc = wsref_buf_appendf(out, "Origin: %s\r\n", c->origin);
  for (size_t i = 0; !rc && i < c->nsubprotocols; i++)
    rc = wsref_buf_appendf(out, "%s%s", i ? ", " : "Sec-WebSocket-Protocol: ", c->subprotocols[i]);
  if (!rc && c->nsubprotocols) rc = wsref_buf_append(out, "\r\n", 2);
  if (!rc && c->extensions)
    rc = wsref_buf_appendf(out, "Sec-WebSocket-Extensions: %s\r\n", c->extensions);
  for (size_t i = 0; !rc && i < c->nheaders; i++)
    rc = wsref_buf_appendf(out, "%s\r\n", c->headers[i]);
  if (!rc) rc = wsref_buf_append(out, "\r\n", 2);
  if (rc) out->end = out->start + before; /* all or nothing */
  return rc;
}

int wsref_handshake_client_verify(const wsref_handshake_client *c, const wsref_http_response *res,
                                  char subprotocol_out[WSREF_SUBPROTOCOL_MAX]) {
  const wsref_http_header *h = res->headers;
  size_t n = res->nheaders;
  if (subprotocol_out) subprotocol_out[0] = '\0';
  if (res->status != 101) return WSREF_E_HS_STATUS;
  if (!wsref_http_has_token(h, n, "Upgrade", "websocket")) return WSREF_E_HS_UPGRADE;
  if (!wsref_http_has_token(h, n, "Connection", "upgrade")) return WSREF_E_HS_CONNECTION;

  char key[WSREF_KEY_LEN + 1], accept[WSREF_ACCEPT_LEN + 1];
  if (c->key[0]) {
    memcpy(key, c->key, sizeof key);
    key[WSREF_KEY_LEN] = '\0';
  } else {
    wsref_key_encode(c->nonce, key);
  }
  wsref_accept_compute(key, strlen(key), accept);
  const wsref_http_header *acc = wsref_http_find(h, n, "Sec-WebSocket-Accept");
  if (!acc || wsref_http_count(h, n, "Sec-WebSocket-Accept") != 1 ||
      !wsref_str_eq(acc->value, accept))
    return WSREF_E_HS_ACCEPT;

  /* RFC 6455 4.1: exactly one value, and one we offered. */
  size_t np = wsref_http_count(h, n, "Sec-WebSocket-Protocol");
  const char *match = NULL;
  if (np > 1) return WSREF_E_HS_SUBPROTOCOL;
  if (np == 1) {
    wsref_str v = wsref_http_find(h, n, "Sec-WebSocket-Protocol")->value;
    for (size_t i = 0; i < c->nsubprotocols && !match; i++)
      if (wsref_str_eq(v, c->subprotocols[i])) match = c->subprotocols[i];
    if (!match || v.n >= WSREF_SUBPROTOCOL_MAX) return WSREF_E_HS_SUBPROTOCOL;
  }

  size_t pos = 0;
  wsref_str el;
  wsref_http_header offer = {{"Sec-WebSocket-Extensions", 24}, {"", 0}};
  if (c->extensions) offer.value = (wsref_str){c->extensions, strlen(c->extensions)};
  while (wsref_http_next_token(h, n, "Sec-WebSocket-Extensions", &pos, &el)) {
    wsref_str name = ext_name(el);
    bool offered = false;
    size_t opos = 0;
    wsref_str oel;
    while (!offered && wsref_http_next_token(&offer, 1, "Sec-WebSocket-Extensions", &opos, &oel)) {
      wsref_str oname = ext_name(oel);
      offered = oname.n == name.n && name.n > 0 && strncasecmp(oname.p, name.p, name.n) == 0;
    }
    if (!offered) return WSREF_E_HS_EXTENSION;
  }
  /* Only a verified response reports a subprotocol. */
  if (subprotocol_out && match) memcpy(subprotocol_out, match, strlen(match) + 1);
  return 0;
}
