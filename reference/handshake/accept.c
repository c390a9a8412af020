#include "handshake/accept.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

/* RFC 6455 section 1.3 / 4.2.2. */
static const char k_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define GUID_LEN (sizeof k_guid - 1)

void wsref_accept_compute(const char *key, size_t key_len, char out[WSREF_ACCEPT_LEN + 1]) {
  unsigned char md[SHA_DIGEST_LENGTH];
  char tmp[128];
  out[0] = '\0';
  if (key_len <= sizeof tmp - GUID_LEN) {
    /* Real keys are 24 bytes: hash from the stack without touching the allocator. */
    memcpy(tmp, key, key_len);
    memcpy(tmp + key_len, k_guid, GUID_LEN);
    SHA1((const unsigned char *)tmp, key_len + GUID_LEN, md);
  } else {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* On failure out stays "": it never equals a real accept value. */
    if (!ctx) return;
    int ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key, key_len) &&
             EVP_DigestUpdate(ctx, k_guid, GUID_LEN) && EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    if (!ok) return;
  }
  EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

static inline bool is_b64(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

/* 16 bytes are 22 alphabet characters plus "==" in RFC 4648 base64; nothing else decodes to
 * exactly 16 bytes. The 4 unused bits of the last character are not required to be zero
 * (RFC 4648 3.5 makes rejecting them optional; common clients and servers accept them). */
bool wsref_key_valid(const char *key, size_t key_len) {
  if (key_len != WSREF_KEY_LEN) return false;
  for (size_t i = 0; i < 22; i++)
    if (!is_b64((unsigned char)key[i])) return false;
  return key[22] == '=' && key[23] == '=';
}

void wsref_key_encode(const uint8_t nonce[16], char out[WSREF_KEY_LEN + 1]) {
  EVP_EncodeBlock((unsigned char *)out, nonce, 16);
}
