/* A small string-to-string map: session attributes (Spring's WebSocketSession attributes),
 * filled by handshake interceptors and read by handlers. Keys and values are copied. */
#ifndef WSREF_BASE_ATTRS_H
#define WSREF_BASE_ATTRS_H

#include <stddef.h>

typedef struct wsref_attrs {
  struct wsref_attr { char *key; char *value; } *items;
  size_t n, cap;
} wsref_attrs;

#define WSREF_ATTRS_INIT {0, 0, 0}

/* Set (insert or replace). Returns 0 or WSREF_E_NOMEM. */
int wsref_attrs_set(wsref_attrs *a, const char *key, const char *value);
/* Value or NULL; the pointer is valid until the key is set again or removed. */
const char *wsref_attrs_get(const wsref_attrs *a, const char *key);
int wsref_attrs_remove(wsref_attrs *a, const char *key); /* 0, or WSREF_E_INVALID_ARG if absent */
int wsref_attrs_copy(wsref_attrs *dst, const wsref_attrs *src);
void wsref_attrs_free(wsref_attrs *a);

#endif
