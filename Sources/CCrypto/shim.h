#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H

// SHA-256 through EVP with an algorithm fetched once (OpenSSL 3, which the package bundles).
#include <openssl/sha.h>
#include <openssl/evp.h>

#endif
