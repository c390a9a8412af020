#include "registry_fixture.h"

#include <stdlib.h>
#include <string.h>

#include "base/attrs.h"
#include "base/error.h"
#include "handshake/http.h"
#include "support/common.h"

static char *value_dup(const wsref_http_header *h, size_t max) {
  size_t n = h->value.n < max ? h->value.n : max;
  char *s = malloc(n + 1);
  if (!s) abort();
  if (n) memcpy(s, h->value.p, n);
  s[n] = '\0';
  return s;
}

static int ic_before(const wsref_http_request *req, const char *remote_addr, wsref_attrs *attrs,
                     wsref_reject *reject, void *ud) {
  fuzz_reg_ctx *c = ud;
  c->before_calls++;
  const wsref_http_header *u = wsref_http_find(req->headers, req->nheaders, "X-User");
  if (u) {
    char *v = value_dup(u, 256);
    FUZZ_CHECK(wsref_attrs_set(attrs, "user", v) == 0);
    FUZZ_CHECK(strcmp(wsref_attrs_get(attrs, "user"), v) == 0);
    free(v);
  }
  if (remote_addr) FUZZ_CHECK(wsref_attrs_set(attrs, "remote", remote_addr) == 0);
  /* The rest of the attribute map's API, on a scratch key and a copy. */
  FUZZ_CHECK(wsref_attrs_set(attrs, "scratch", "1") == 0);
  FUZZ_CHECK(wsref_attrs_set(attrs, "scratch", "2") == 0);
  FUZZ_CHECK(strcmp(wsref_attrs_get(attrs, "scratch"), "2") == 0);
  wsref_attrs copy = WSREF_ATTRS_INIT;
  FUZZ_CHECK(wsref_attrs_copy(&copy, attrs) == 0);
  FUZZ_CHECK(copy.n == attrs->n);
  wsref_attrs_free(&copy);
  FUZZ_CHECK(wsref_attrs_remove(attrs, "scratch") == 0);
  FUZZ_CHECK(wsref_attrs_remove(attrs, "scratch") != 0);
  FUZZ_CHECK(wsref_attrs_get(attrs, "scratch") == NULL);
  const wsref_http_header *x = wsref_http_find(req->headers, req->nheaders, "X-Reject");
  if (!x) return 0;
  int status = 0;
  for (size_t i = 0; i < x->value.n && i < 4; i++) {
    char ch = x->value.p[i];
    if (ch < '0' || ch > '9') break;
    status = status * 10 + (ch - '0');
  }
  reject->status = status;
  const wsref_http_header *b = wsref_http_find(req->headers, req->nheaders, "X-Reject-Body");
  if (b) {
    /* Fill the whole array: the handshake must not rely on a NUL we did not write. */
    size_t n = b->value.n < sizeof reject->body ? b->value.n : sizeof reject->body;
    memcpy(reject->body, b->value.p, n);
  }
  return 1;
}

static void ic_after(const wsref_http_request *req, int status, void *ud, unsigned idx) {
  fuzz_reg_ctx *c = ud;
  FUZZ_CHECK(c->after_calls < 2);
  c->after_status[c->after_calls] = status;
  c->after_order |= idx << (2 * c->after_calls);
  c->after_calls++;
}

static void ic0_after(const wsref_http_request *req, int status, void *ud) {
  ic_after(req, status, ud, 0);
}
static void ic1_after(const wsref_http_request *req, int status, void *ud) {
  ic_after(req, status, ud, 1);
}

static int ext_fuzz(const wsref_http_request *req, wsref_buf *response, unsigned *rsv_mask,
                    void **state, void *ud) {
  fuzz_reg_ctx *c = ud;
  c->negotiate_calls++;
  switch (c->ext_mode) {
    case 0:
      FUZZ_CHECK(wsref_buf_appendf(response, "x-fuzz; v=1") == 0);
      *rsv_mask = 4;
      *state = malloc(16);
      if (!*state) abort();
      c->live_states++;
      c->last_state = *state;
      return 1;
    case 1:
      return 0;
    case 2:
      return -1;
    default:
      /* A buggy hook: a CR LF in its answer must not reach the wire. */
      FUZZ_CHECK(wsref_buf_appendf(response, "x-fuzz\r\nInjected: 1") == 0);
      *rsv_mask = 0xFF;
      *state = malloc(16);
      if (!*state) abort();
      c->live_states++;
      c->last_state = *state;
      return 1;
  }
}

void fuzz_registry_free_state(void *state, void *ud) {
  fuzz_reg_ctx *c = ud;
  FUZZ_CHECK(state != NULL && state == c->last_state);
  FUZZ_CHECK(c->live_states > 0);
  c->live_states--;
  c->last_state = NULL;
  free(state);
}

static int ext_decline(const wsref_http_request *req, wsref_buf *response, unsigned *rsv_mask,
                       void **state, void *ud) {
  return 0;
}

wsref_registry *fuzz_registry_new(uint8_t o, const struct wsref_handler *h, fuzz_reg_ctx *ctx) {
  static const char *const origins[4][2] = {
      {NULL, NULL}, {"http://example.com", "https://example.org"}, {"*", NULL}, {"null", NULL}};
  static const size_t norigins[4] = {0, 2, 1, 1};
  static const char *const chat[] = {"chat", "superchat", "v12.stomp", "v11.stomp"};
  static const char *const stomp[] = {"v12.stomp", "v10.stomp"};
  ctx->ext_mode = (o >> 2) & 3;
  wsref_registry *reg = wsref_registry_new();
  FUZZ_CHECK(reg != NULL);
  wsref_registration *echo = wsref_registry_add(reg, "/echo", h);
  wsref_registration *ch = wsref_registry_add(reg, "/chat", h);
  wsref_registration *st = wsref_registry_add(reg, "/stomp", h);
  FUZZ_CHECK(echo && ch && st);
  FUZZ_CHECK(wsref_registry_add(reg, "/echo", h) == NULL); /* duplicate */
  FUZZ_CHECK(wsref_registration_subprotocols(ch, chat, 4) == 0);
  FUZZ_CHECK(wsref_registration_subprotocols(st, stomp, 2) == 0);
  if (norigins[o & 3]) {
    FUZZ_CHECK(wsref_registration_allow_origins(echo, origins[o & 3], norigins[o & 3]) == 0);
    FUZZ_CHECK(wsref_registration_allow_origins(ch, origins[o & 3], norigins[o & 3]) == 0);
    FUZZ_CHECK(wsref_registration_allow_origins(st, origins[o & 3], norigins[o & 3]) == 0);
  }
  /* Invalid configuration is refused, all or nothing. */
  static const char *const bad_protos[] = {"ok", "not a token"};
  static const char *const dup_protos[] = {"chat"};
  static const char *const bad_origins[] = {"http://a.example", ""};
  FUZZ_CHECK(wsref_registration_subprotocols(ch, bad_protos, 2) == WSREF_E_INVALID_ARG);
  FUZZ_CHECK(wsref_registration_subprotocols(ch, dup_protos, 1) == WSREF_E_INVALID_ARG);
  FUZZ_CHECK(wsref_registration_nsubprotocols(ch) == 4);
  FUZZ_CHECK(wsref_registration_allow_origins(st, bad_origins, 2) == WSREF_E_INVALID_ARG);
  FUZZ_CHECK(wsref_registry_add(reg, "/a?b", h) == NULL && wsref_registry_add(reg, "x", h) == NULL);
  const wsref_interceptor none = {NULL, NULL, ctx};
  FUZZ_CHECK(wsref_registration_add_interceptor(echo, &none) == WSREF_E_INVALID_ARG);
  const wsref_extension badname = {"bad name", ext_decline, NULL, ctx};
  FUZZ_CHECK(wsref_registration_add_extension(echo, &badname) == WSREF_E_INVALID_ARG);
  wsref_registration *regs[4] = {echo, ch, st, NULL};
  if (o & 0x20) {
    regs[3] = wsref_registry_add(reg, "/", h);
    FUZZ_CHECK(regs[3] != NULL);
  }
  const wsref_extension xf = {"x-fuzz", ext_fuzz, fuzz_registry_free_state, ctx};
  const wsref_extension pmd = {"permessage-deflate", ext_decline, NULL, ctx};
  const wsref_interceptor ic0 = {NULL, ic0_after, ctx};
  const wsref_interceptor ic1 = {ic_before, ic1_after, ctx};
  for (int i = 0; i < 4 && regs[i]; i++) {
    FUZZ_CHECK(wsref_registration_add_extension(regs[i], &pmd) == 0);
    FUZZ_CHECK(wsref_registration_add_extension(regs[i], &xf) == 0);
    FUZZ_CHECK(wsref_registration_add_extension(regs[i], &xf) == WSREF_E_INVALID_ARG);
    if (o & 0x10) {
      FUZZ_CHECK(wsref_registration_add_interceptor(regs[i], &ic0) == 0);
      FUZZ_CHECK(wsref_registration_add_interceptor(regs[i], &ic1) == 0);
    }
  }
  return reg;
}
