#include "base/attrs.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static struct wsref_attr *find(const wsref_attrs *a, const char *key) {
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->items[i].key, key) == 0) return &a->items[i];
  return NULL;
}

int wsref_attrs_set(wsref_attrs *a, const char *key, const char *value) {
  if (!key || !value) return WSREF_E_INVALID_ARG;
  char *v = strdup(value);
  if (!v) return WSREF_E_NOMEM;
  struct wsref_attr *it = find(a, key);
  if (it) {
    free(it->value);
    it->value = v;
    return 0;
  }
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 4;
    struct wsref_attr *items = realloc(a->items, cap * sizeof *items);
    if (!items) {
      free(v);
      return WSREF_E_NOMEM;
    }
    a->items = items;
    a->cap = cap;
  }
  char *k = strdup(key);
  if (!k) {
    free(v);
    return WSREF_E_NOMEM;
  }
  a->items[a->n].key = k;
  a->items[a->n].value = v;
  a->n++;
  return 0;
}

const char *wsref_attrs_get(const wsref_attrs *a, const char *key) {
  struct wsref_attr *it = find(a, key);
  return it ? it->value : NULL;
}

int wsref_attrs_remove(wsref_attrs *a, const char *key) {
  struct wsref_attr *it = find(a, key);
  if (!it) return WSREF_E_INVALID_ARG;
  free(it->key);
  free(it->value);
  *it = a->items[--a->n];
  return 0;
}

int wsref_attrs_copy(wsref_attrs *dst, const wsref_attrs *src) {
  for (size_t i = 0; i < src->n; i++) {
    int rc = wsref_attrs_set(dst, src->items[i].key, src->items[i].value);
    if (rc) return rc;
  }
  return 0;
}

void wsref_attrs_free(wsref_attrs *a) {
  for (size_t i = 0; i < a->n; i++) {
    free(a->items[i].key);
    free(a->items[i].value);
  }
  free(a->items);
  a->items = NULL;
  a->n = a->cap = 0;
}
