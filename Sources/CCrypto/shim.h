#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H

// Only the one-shot digest and MAC functions, which exist unchanged from OpenSSL 1.0.2 to 3.x.
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>

#endif
