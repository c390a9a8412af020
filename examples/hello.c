/* A greeting server: one text handler and one handshake interceptor. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "io/server.h"

static wsref_server *srv;
static void on_term(int sig) { (void)sig; wsref_server_stop(srv); }

/* Interceptor: refuse clients without a name, keep the name as a session attribute. */
static int need_name(const wsref_http_request *req, const char *addr, wsref_attrs *attrs,
                     wsref_reject *reject, void *ud) {
  const wsref_http_header *h = wsref_http_find(req->headers, req->nheaders, "X-Name");
  if (!h) { reject->status = 401; strcpy(reject->body, "X-Name header required"); return 1; }
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)h->value.n, h->value.p);
  return wsref_attrs_set(attrs, "name", name);
}

static int greet(wsref_session *s, const wsref_message *m, void *ud) {
  char out[256];
  int n = snprintf(out, sizeof out, "hello %s, you said %.*s",
                   wsref_attrs_get(wsref_session_attributes(s), "name"), (int)m->len, m->data);
  return wsref_session_send_text(s, out, n < (int)sizeof out ? (size_t)n : sizeof out - 1);
}

int main(void) {
  wsref_handler h = wsref_text_handler(greet, NULL);
  wsref_interceptor ic = {.before = need_name};
  wsref_registry *reg = wsref_registry_new();
  wsref_registration_add_interceptor(wsref_registry_add(reg, "/greet", &h), &ic);
  char err[256];
  srv = wsref_server_new(reg, NULL, err, sizeof err);
  if (!srv || wsref_server_bind(srv, err, sizeof err)) return fprintf(stderr, "%s\n", err), 2;
  printf("listening on %s/greet\n", wsref_server_url(srv));
  fflush(stdout);
  signal(SIGTERM, on_term);
  return wsref_server_run(srv) ? 1 : 0;
}
