/* m2mhub_sodium.h: an m2mhub_signer and an m2mhub_verify_fn on libsodium (Ed25519, RFC 8032).
 *
 * libsodium's crypto_sign_verify_detached is stricter than ZIP 215, the hub's rule (SPEC
 * §3.2.1): it refuses signatures whose R has small order or is non-canonical and public keys
 * of small order, all of which ZIP 215 accepts. Only a hostile signer makes such signatures;
 * SPEC §3.2.1 lets an SDK be stricter. Signing is deterministic RFC 8032, accepted by every
 * verifier. On ESP-IDF, libsodium is a component; elsewhere swap these two functions for your
 * library's (or a secure element's). */
#ifndef M2MHUB_SODIUM_H
#define M2MHUB_SODIUM_H

#include "m2mhub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* libsodium's expanded secret key (seed || public key). Wipe it with sodium_memzero when done. */
typedef struct m2mhub_sodium_key {
    uint8_t sk[64];
} m2mhub_sodium_key;

/* The key of a 32-byte seed (the hex in PREFIX.key of `m2mhub device keygen`); its public key
 * into public_key (may be NULL). Calls sodium_init. */
int m2mhub_sodium_key_from_seed(m2mhub_sodium_key *key, const uint8_t seed[32],
                                uint8_t public_key[32]);

/* An m2mhub_signer's sign function; ctx is an m2mhub_sodium_key. */
int m2mhub_sodium_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64]);

/* An m2mhub_verify_fn. */
int m2mhub_sodium_verify(const uint8_t public_key[32], const uint8_t *msg, size_t len,
                         const uint8_t sig[64]);

#ifdef __cplusplus
}
#endif
#endif
