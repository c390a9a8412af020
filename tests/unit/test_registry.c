/* Registry of paths, origins, subprotocols, interceptors and extensions (handshake/registry.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "handshake/registry.h"

/* The registry never dereferences handlers, so any distinct addresses do. */
static int g_h1, g_h2;
#define H1 ((const struct wsref_handler *)(const void *)&g_h1)
#define H2 ((const struct wsref_handler *)(const void *)&g_h2)

static void test_paths(void **state) {
  (void)state;
  wsref_registry *reg = wsref_registry_new();
  assert_non_null(reg);
  wsref_registration *a = wsref_registry_add(reg, "/chat", H1);
  wsref_registration *b = wsref_registry_add(reg, "/chat/", H2);
  wsref_registration *root = wsref_registry_add(reg, "/", NULL);
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(root);
  assert_ptr_not_equal(a, b);
  assert_ptr_equal(wsref_registry_find(reg, "/chat", 5), a);
  assert_ptr_equal(wsref_registry_find(reg, "/chat/", 6), b);
  assert_ptr_equal(wsref_registry_find(reg, "/", 1), root);
  /* Exact only: no prefix, no case folding, length decides. */
  assert_null(wsref_registry_find(reg, "/cha", 4));
  assert_null(wsref_registry_find(reg, "/chatx", 6));
  assert_null(wsref_registry_find(reg, "/Chat", 5));
  assert_null(wsref_registry_find(reg, "", 0));
  assert_ptr_equal(wsref_registry_find(reg, "/chat?x=1", 5), a);
  assert_ptr_equal(wsref_registration_handler(a), H1);
  assert_ptr_equal(wsref_registration_handler(b), H2);
  assert_null(wsref_registration_handler(root));
  assert_string_equal(wsref_registration_path(a), "/chat");
  /* Duplicates and paths that could never match a request target. */
  assert_null(wsref_registry_add(reg, "/chat", H2));
  assert_null(wsref_registry_add(reg, NULL, H1));
  assert_null(wsref_registry_add(reg, "", H1));
  assert_null(wsref_registry_add(reg, "chat", H1));
  assert_null(wsref_registry_add(reg, "/a?b", H1));
  assert_null(wsref_registry_add(reg, "/a#b", H1));
  assert_null(wsref_registry_add(reg, "/a b", H1));
  assert_null(wsref_registry_add(reg, "/a\tb", H1));
  assert_null(wsref_registry_add(reg, "/caf\xc3\xa9", H1));
  assert_ptr_equal(wsref_registry_find(reg, "/chat", 5), a);
  wsref_registry_free(reg);
  wsref_registry_free(NULL);
}

static void test_many_paths(void **state) {
  (void)state;
  wsref_registry *reg = wsref_registry_new();
  wsref_registration *r[100];
  char p[32];
  for (int i = 0; i < 100; i++) {
    snprintf(p, sizeof p, "/p%d", i);
    r[i] = wsref_registry_add(reg, p, H1);
    assert_non_null(r[i]);
  }
  for (int i = 0; i < 100; i++) {
    snprintf(p, sizeof p, "/p%d", i);
    assert_ptr_equal(wsref_registry_find(reg, p, strlen(p)), r[i]);
    assert_string_equal(wsref_registration_path(r[i]), p);
  }
  wsref_registry_free(reg);
}

static void test_origins(void **state) {
  (void)state;
  wsref_registry *reg = wsref_registry_new();
  wsref_registration *r = wsref_registry_add(reg, "/o", H1);
  /* None configured: everything, and no Origin at all. */
  assert_true(wsref_registration_origin_allowed(r, "http://evil.example", 19));
  assert_true(wsref_registration_origin_allowed(r, NULL, 0));
  assert_int_equal(wsref_registration_allow_origins(r, NULL, 0), 0);
  assert_true(wsref_registration_origin_allowed(r, NULL, 0));

  const char *const list[] = {"http://example.com", "https://a.example:8443"};
  assert_int_equal(wsref_registration_allow_origins(r, list, 2), 0);
  assert_true(wsref_registration_origin_allowed(r, "http://example.com", 18));
  assert_true(wsref_registration_origin_allowed(r, "HTTP://EXAMPLE.COM", 18));
  assert_true(wsref_registration_origin_allowed(r, "https://a.example:8443", 22));
  /* Length matters: n, not the NUL. */
  assert_true(wsref_registration_origin_allowed(r, "http://example.comX", 18));
  assert_false(wsref_registration_origin_allowed(r, "http://example.comX", 19));
  assert_false(wsref_registration_origin_allowed(r, "http://example.co", 17));
  assert_false(wsref_registration_origin_allowed(r, "https://example.com", 19));
  assert_false(wsref_registration_origin_allowed(r, "null", 4));
  /* No Origin header: a non-browser client, allowed as in Spring. */
  assert_true(wsref_registration_origin_allowed(r, NULL, 0));

  /* Duplicates (case-insensitive, also within one call) and invalid values are refused as
   * a whole. */
  const char *const dup[] = {"http://b.example", "HTTP://EXAMPLE.COM"};
  assert_int_equal(wsref_registration_allow_origins(r, dup, 2), WSREF_E_INVALID_ARG);
  assert_false(wsref_registration_origin_allowed(r, "http://b.example", 16));
  const char *const dup2[] = {"http://b.example", "http://B.example"};
  assert_int_equal(wsref_registration_allow_origins(r, dup2, 2), WSREF_E_INVALID_ARG);
  const char *const bad[] = {"http://c.example", ""};
  assert_int_equal(wsref_registration_allow_origins(r, bad, 2), WSREF_E_INVALID_ARG);
  const char *const bad2[] = {"http://c .example"};
  assert_int_equal(wsref_registration_allow_origins(r, bad2, 1), WSREF_E_INVALID_ARG);
  const char *const bad3[] = {NULL};
  assert_int_equal(wsref_registration_allow_origins(r, bad3, 1), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_registration_allow_origins(r, NULL, 1), WSREF_E_INVALID_ARG);
  assert_false(wsref_registration_origin_allowed(r, "http://c.example", 16));
  /* Later calls add. */
  const char *const more[] = {"http://b.example"};
  assert_int_equal(wsref_registration_allow_origins(r, more, 1), 0);
  assert_true(wsref_registration_origin_allowed(r, "http://b.example", 16));
  assert_true(wsref_registration_origin_allowed(r, "http://example.com", 18));

  /* "*" allows any origin and a missing one. */
  wsref_registration *any = wsref_registry_add(reg, "/any", H1);
  const char *const star[] = {"http://example.com", "*"};
  assert_int_equal(wsref_registration_allow_origins(any, star, 2), 0);
  assert_true(wsref_registration_origin_allowed(any, "http://x", 8));
  assert_true(wsref_registration_origin_allowed(any, NULL, 0));
  wsref_registry_free(reg);
}

static void test_subprotocols(void **state) {
  (void)state;
  wsref_registry *reg = wsref_registry_new();
  wsref_registration *r = wsref_registry_add(reg, "/s", H1);
  assert_int_equal(wsref_registration_nsubprotocols(r), 0);
  assert_null(wsref_registration_subprotocol(r, 0));
  const char *const p[] = {"v12.stomp", "chat", "Chat"};
  assert_int_equal(wsref_registration_subprotocols(r, p, 3), 0);
  assert_int_equal(wsref_registration_nsubprotocols(r), 3);
  assert_string_equal(wsref_registration_subprotocol(r, 0), "v12.stomp");
  assert_string_equal(wsref_registration_subprotocol(r, 1), "chat");
  assert_string_equal(wsref_registration_subprotocol(r, 2), "Chat");
  assert_null(wsref_registration_subprotocol(r, 3));
  /* Exact duplicates, non-tokens and names too long for the result are refused whole. */
  const char *const dup[] = {"x", "chat"};
  assert_int_equal(wsref_registration_subprotocols(r, dup, 2), WSREF_E_INVALID_ARG);
  const char *const dup2[] = {"x", "x"};
  assert_int_equal(wsref_registration_subprotocols(r, dup2, 2), WSREF_E_INVALID_ARG);
  const char *const bad[] = {"a b"};
  assert_int_equal(wsref_registration_subprotocols(r, bad, 1), WSREF_E_INVALID_ARG);
  const char *const bad2[] = {"a,b"};
  assert_int_equal(wsref_registration_subprotocols(r, bad2, 1), WSREF_E_INVALID_ARG);
  const char *const bad3[] = {""};
  assert_int_equal(wsref_registration_subprotocols(r, bad3, 1), WSREF_E_INVALID_ARG);
  char longp[129];
  memset(longp, 'p', 128);
  longp[128] = '\0';
  const char *const toolong[] = {longp};
  assert_int_equal(wsref_registration_subprotocols(r, toolong, 1), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_registration_nsubprotocols(r), 3);
  longp[127] = '\0';
  assert_int_equal(wsref_registration_subprotocols(r, toolong, 1), 0);
  assert_int_equal(wsref_registration_nsubprotocols(r), 4);
  assert_string_equal(wsref_registration_subprotocol(r, 3), longp);
  wsref_registry_free(reg);
}

static int before_a(const wsref_http_request *req, const char *addr, wsref_attrs *attrs,
                    wsref_reject *rej, void *ud) {
  (void)req, (void)addr, (void)attrs, (void)rej, (void)ud;
  return 0;
}
static void after_a(const wsref_http_request *req, int status, void *ud) {
  (void)req, (void)status, (void)ud;
}
static int negotiate_a(const wsref_http_request *req, wsref_buf *resp, unsigned *rsv, void **st,
                       void *ud) {
  (void)req, (void)resp, (void)rsv, (void)st, (void)ud;
  return 0;
}

static void test_interceptors_extensions(void **state) {
  (void)state;
  wsref_registry *reg = wsref_registry_new();
  wsref_registration *r = wsref_registry_add(reg, "/i", H1);
  int ud1, ud2;
  wsref_interceptor ic = {before_a, NULL, &ud1};
  assert_int_equal(wsref_registration_add_interceptor(r, &ic), 0);
  ic.before = NULL;
  ic.after = after_a;
  ic.ud = &ud2;
  assert_int_equal(wsref_registration_add_interceptor(r, &ic), 0);
  ic.after = NULL;
  assert_int_equal(wsref_registration_add_interceptor(r, &ic), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_registration_add_interceptor(r, NULL), WSREF_E_INVALID_ARG);
  /* Stored by value, in order. */
  assert_int_equal(wsref_registration_ninterceptors(r), 2);
  assert_ptr_equal(wsref_registration_interceptor(r, 0)->before, before_a);
  assert_ptr_equal(wsref_registration_interceptor(r, 0)->ud, &ud1);
  assert_null(wsref_registration_interceptor(r, 1)->before);
  assert_ptr_equal(wsref_registration_interceptor(r, 1)->after, after_a);
  assert_ptr_equal(wsref_registration_interceptor(r, 1)->ud, &ud2);
  assert_null(wsref_registration_interceptor(r, 2));

  char name[] = "permessage-deflate";
  wsref_extension ext = {name, negotiate_a, NULL, &ud1};
  assert_int_equal(wsref_registration_add_extension(r, &ext), 0);
  name[0] = 'X'; /* the name was copied */
  assert_string_equal(wsref_registration_extension(r, 0)->name, "permessage-deflate");
  assert_ptr_equal(wsref_registration_extension(r, 0)->negotiate, negotiate_a);
  assert_ptr_equal(wsref_registration_extension(r, 0)->ud, &ud1);
  wsref_extension dup = {"PerMessage-Deflate", negotiate_a, NULL, NULL};
  assert_int_equal(wsref_registration_add_extension(r, &dup), WSREF_E_INVALID_ARG);
  wsref_extension nohook = {"x-other", NULL, NULL, NULL};
  assert_int_equal(wsref_registration_add_extension(r, &nohook), WSREF_E_INVALID_ARG);
  wsref_extension badname = {"x other", negotiate_a, NULL, NULL};
  assert_int_equal(wsref_registration_add_extension(r, &badname), WSREF_E_INVALID_ARG);
  wsref_extension noname = {NULL, negotiate_a, NULL, NULL};
  assert_int_equal(wsref_registration_add_extension(r, &noname), WSREF_E_INVALID_ARG);
  wsref_extension other = {"x-other", negotiate_a, NULL, &ud2};
  assert_int_equal(wsref_registration_add_extension(r, &other), 0);
  assert_int_equal(wsref_registration_nextensions(r), 2);
  assert_string_equal(wsref_registration_extension(r, 1)->name, "x-other");
  assert_null(wsref_registration_extension(r, 2));
  wsref_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_paths),
      cmocka_unit_test(test_many_paths),
      cmocka_unit_test(test_origins),
      cmocka_unit_test(test_subprotocols),
      cmocka_unit_test(test_interceptors_extensions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
