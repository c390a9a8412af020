/* String map of session attributes (reference/base/attrs.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/attrs.h"
#include "base/error.h"

static void test_set_get(void **state) {
  (void)state;
  wsref_attrs a = WSREF_ATTRS_INIT;
  assert_null(wsref_attrs_get(&a, "user"));
  assert_int_equal(wsref_attrs_set(&a, "user", "alice"), 0);
  assert_int_equal(wsref_attrs_set(&a, "role", "admin"), 0);
  assert_string_equal(wsref_attrs_get(&a, "user"), "alice");
  assert_string_equal(wsref_attrs_get(&a, "role"), "admin");
  assert_null(wsref_attrs_get(&a, "User")); /* keys are case-sensitive */
  assert_int_equal(a.n, 2);
  wsref_attrs_free(&a);
  assert_int_equal(a.n, 0);
  assert_null(a.items);
}

static void test_replace(void **state) {
  (void)state;
  wsref_attrs a = WSREF_ATTRS_INIT;
  assert_int_equal(wsref_attrs_set(&a, "k", "v1"), 0);
  assert_int_equal(wsref_attrs_set(&a, "k", "v2"), 0);
  assert_int_equal(a.n, 1);
  assert_string_equal(wsref_attrs_get(&a, "k"), "v2");
  wsref_attrs_free(&a);
}

/* Keys and values are copied: the caller's strings may change afterwards. */
static void test_copies(void **state) {
  (void)state;
  wsref_attrs a = WSREF_ATTRS_INIT;
  char key[8] = "name", value[8] = "bob";
  assert_int_equal(wsref_attrs_set(&a, key, value), 0);
  strcpy(key, "xxxx");
  strcpy(value, "yyy");
  assert_string_equal(wsref_attrs_get(&a, "name"), "bob");
  assert_null(wsref_attrs_get(&a, "xxxx"));
  /* Empty key and value are ordinary strings. */
  assert_int_equal(wsref_attrs_set(&a, "", ""), 0);
  assert_string_equal(wsref_attrs_get(&a, ""), "");
  wsref_attrs_free(&a);
}

static void test_invalid_args(void **state) {
  (void)state;
  wsref_attrs a = WSREF_ATTRS_INIT;
  assert_int_equal(wsref_attrs_set(&a, NULL, "v"), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_attrs_set(&a, "k", NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(a.n, 0);
  assert_int_equal(wsref_attrs_remove(&a, "absent"), WSREF_E_INVALID_ARG);
  wsref_attrs_free(&a);
}

static void test_remove(void **state) {
  (void)state;
  wsref_attrs a = WSREF_ATTRS_INIT;
  assert_int_equal(wsref_attrs_set(&a, "a", "1"), 0);
  assert_int_equal(wsref_attrs_set(&a, "b", "2"), 0);
  assert_int_equal(wsref_attrs_set(&a, "c", "3"), 0);
  assert_int_equal(wsref_attrs_remove(&a, "a"), 0);
  assert_int_equal(a.n, 2);
  assert_null(wsref_attrs_get(&a, "a"));
  assert_string_equal(wsref_attrs_get(&a, "b"), "2");
  assert_string_equal(wsref_attrs_get(&a, "c"), "3");
  assert_int_equal(wsref_attrs_remove(&a, "a"), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_attrs_remove(&a, "c"), 0);
  assert_int_equal(wsref_attrs_remove(&a, "b"), 0);
  assert_int_equal(a.n, 0);
  assert_int_equal(wsref_attrs_set(&a, "a", "again"), 0);
  assert_string_equal(wsref_attrs_get(&a, "a"), "again");
  wsref_attrs_free(&a);
}

static void test_many(void **state) {
  (void)state;
  wsref_attrs a = WSREF_ATTRS_INIT;
  char k[32], v[32];
  for (int i = 0; i < 500; i++) {
    snprintf(k, sizeof k, "key%d", i);
    snprintf(v, sizeof v, "value%d", i * 3);
    assert_int_equal(wsref_attrs_set(&a, k, v), 0);
  }
  assert_int_equal(a.n, 500);
  for (int i = 0; i < 500; i += 2) {
    snprintf(k, sizeof k, "key%d", i);
    assert_int_equal(wsref_attrs_remove(&a, k), 0);
  }
  for (int i = 0; i < 500; i++) {
    snprintf(k, sizeof k, "key%d", i);
    snprintf(v, sizeof v, "value%d", i * 3);
    if (i % 2)
      assert_string_equal(wsref_attrs_get(&a, k), v);
    else
      assert_null(wsref_attrs_get(&a, k));
  }
  wsref_attrs_free(&a);
}

static void test_copy(void **state) {
  (void)state;
  wsref_attrs src = WSREF_ATTRS_INIT, dst = WSREF_ATTRS_INIT;
  assert_int_equal(wsref_attrs_set(&src, "a", "1"), 0);
  assert_int_equal(wsref_attrs_set(&src, "b", "2"), 0);
  assert_int_equal(wsref_attrs_set(&dst, "b", "old"), 0);
  assert_int_equal(wsref_attrs_set(&dst, "z", "26"), 0);
  assert_int_equal(wsref_attrs_copy(&dst, &src), 0);
  assert_int_equal(dst.n, 3);
  assert_string_equal(wsref_attrs_get(&dst, "a"), "1");
  assert_string_equal(wsref_attrs_get(&dst, "b"), "2"); /* source wins */
  assert_string_equal(wsref_attrs_get(&dst, "z"), "26");
  /* Independent copies. */
  assert_int_equal(wsref_attrs_set(&src, "a", "changed"), 0);
  assert_string_equal(wsref_attrs_get(&dst, "a"), "1");
  wsref_attrs_free(&src);
  assert_string_equal(wsref_attrs_get(&dst, "b"), "2");
  wsref_attrs_free(&dst);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_get), cmocka_unit_test(test_replace),
      cmocka_unit_test(test_copies),  cmocka_unit_test(test_invalid_args),
      cmocka_unit_test(test_remove),  cmocka_unit_test(test_many),
      cmocka_unit_test(test_copy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
