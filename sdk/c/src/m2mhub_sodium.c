/* m2mhub_sodium.c: Ed25519 signing and verification on libsodium (see m2mhub_sodium.h). */
#include "m2mhub_sodium.h"

#include <sodium.h>
#include <string.h>

int m2mhub_sodium_key_from_seed(m2mhub_sodium_key *key, const uint8_t seed[32],
                                uint8_t public_key[32]) {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (key == NULL || seed == NULL || sodium_init() < 0) return M2MHUB_E_SIGNER;
    if (crypto_sign_seed_keypair(pk, key->sk, seed) != 0) return M2MHUB_E_SIGNER;
    if (public_key) memcpy(public_key, pk, 32);
    return M2MHUB_OK;
}

int m2mhub_sodium_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64]) {
    const m2mhub_sodium_key *key = (const m2mhub_sodium_key *)ctx;
    if (key == NULL) return -1;
    return crypto_sign_detached(sig, NULL, msg, len, key->sk);
}

int m2mhub_sodium_verify(const uint8_t public_key[32], const uint8_t *msg, size_t len,
                         const uint8_t sig[64]) {
    if (sodium_init() < 0) return -1;
    return crypto_sign_verify_detached(sig, msg, len, public_key);
}
