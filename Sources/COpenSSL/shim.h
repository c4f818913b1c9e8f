#ifndef PERIGEE_COPENSSL_SHIM_H
#define PERIGEE_COPENSSL_SHIM_H

// Only libcrypto's one-shot SHA-1 and its base64 block codec are used: the RFC 6455 §4.2.2
// accept value is base64(SHA-1(key + GUID)).
#include <openssl/sha.h>
#include <openssl/evp.h>

#endif
