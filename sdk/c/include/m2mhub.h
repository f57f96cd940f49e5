/* m2mhub.h: M2MHub's C device SDK (portable C99, no heap allocation in the core).
 *
 * What it does, into caller-provided buffers:
 *  - builds the bytes a device signs (SPEC §4.1; the federation form v2 of SPEC §7) and signs
 *    them through a small signer interface (m2mhub_signer);
 *  - builds the signed message as the JSON body of POST /v1/messages, which is also the MQTT
 *    payload on m2m/out/{name} (docs/MQTT.md), with the JSON escaping done right;
 *  - builds the signed MQTT CONNECT password (SPEC §5.2);
 *  - keeps the message counter in caller-provided persistent storage, reserved ahead so that
 *    no value is ever reused across a power cut (m2mhub_counter);
 *  - parses acknowledgements (m2m/ack/{name}, or the HTTP answer) and deliveries
 *    (m2m/in/{name}), and verifies a delivery's signature with the sender's key;
 *  - checks a record against its entry bytes and the hub's signed checkpoint (C2SP signed
 *    note, SPEC §4.3) with an inclusion proof (RFC 9162, SPEC §4.2).
 *
 * What it does not do: transport (yours: see examples/ for libcurl and libmosquitto), time
 * (the CONNECT password takes unix seconds from you), key storage (you hand it a signer).
 *
 * Ed25519: the core never touches a key. m2mhub_sodium.h gives a signer and a verifier on
 * libsodium (Debian libsodium-dev; ESP-IDF ships libsodium as a component); another library
 * or a secure element drops in by filling m2mhub_signer and an m2mhub_verify_fn. Signatures
 * are RFC 8032 (deterministic), which every ZIP 215 verifier accepts. NOTE: libsodium's
 * verification is stricter than ZIP 215, the hub's rule (SPEC §3.2.1): it refuses some
 * signatures (small-order or non-canonical R, keys of small order) that ZIP 215 accepts.
 * SPEC §3.2.1 allows an SDK to be stricter; only a hostile signer makes such signatures.
 *
 * Thread safety: none needed by the core (no globals); one m2mhub_counter per device, used
 * by one thread at a time.
 */
#ifndef M2MHUB_H
#define M2MHUB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes. A name is 1-64 of A-Z a-z 0-9 _ . - (SPEC §3.4); v2 names are name@hub. */
#define M2MHUB_NAME_MAX 64
#define M2MHUB_QNAME_MAX (2 * M2MHUB_NAME_MAX + 1)
#define M2MHUB_CONTENTS_MAX 16384 /* bytes of UTF-8, SPEC §3.4 */
/* Longest signing bytes: v2 with two qualified names and a 64-character tx_hub. */
#define M2MHUB_SIGNING_MAX (18 + 2 + M2MHUB_QNAME_MAX + 2 + M2MHUB_QNAME_MAX + 1 + 8 + 2 + \
                            M2MHUB_NAME_MAX + 8 + 8 + 32)
/* "<up to 20 digits>.<128 hex digits>" and a NUL. */
#define M2MHUB_PASSWORD_MAX (20 + 1 + 128 + 1)
/* A JSON body never exceeds this: every contents byte escaped as \u00XX (6 bytes), plus the
 * other fields. A buffer of this size always suffices; usually far less is needed. */
#define M2MHUB_JSON_MAX (6 * M2MHUB_CONTENTS_MAX + 2 * M2MHUB_QNAME_MAX + M2MHUB_NAME_MAX + 320)

typedef enum {
    M2MHUB_OK = 0,
    M2MHUB_E_ARG = -1,       /* a bad argument: name, action, cause, tx_hub, NULL */
    M2MHUB_E_SPACE = -2,     /* the caller's buffer is too small (nothing was spent) */
    M2MHUB_E_UTF8 = -3,      /* contents are not valid UTF-8 */
    M2MHUB_E_SIGNER = -4,    /* the signer failed */
    M2MHUB_E_STORE = -5,     /* the counter store could not load or save durably */
    M2MHUB_E_EXHAUSTED = -6, /* the counter reached 2^64-1 */
    M2MHUB_E_JSON = -7,      /* a payload is not the JSON it should be */
    M2MHUB_E_VERIFY = -8     /* a signature, checkpoint or proof does not verify */
} m2mhub_err;

typedef enum { M2MHUB_BEGIN = 0, M2MHUB_CONTINUE = 1, M2MHUB_END = 2 } m2mhub_action;

/* ---- Signing -------------------------------------------------------------------------- */

/* Signs msg[0..len) with the device's Ed25519 key into sig. Returns 0 on success. */
typedef struct m2mhub_signer {
    int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64]);
    void *ctx;
} m2mhub_signer;

/* Returns 0 when sig is a valid Ed25519 signature of msg under public_key. */
typedef int (*m2mhub_verify_fn)(const uint8_t public_key[32], const uint8_t *msg, size_t len,
                                const uint8_t sig[64]);

/* The fields of a message. contents need not be NUL-terminated. tx_hub NULL: the one-hub
 * form v1 (SPEC §4.1); non-NULL: the federation form v2 (SPEC §7) with sender and receiver
 * as name@hub and tx_hub the transaction's home hub ("" for a begin), pinned by the testdata
 * vectors. Send it to the device's own hub, which records it or forwards it to tx_hub. */
typedef struct m2mhub_fields {
    const char *sender;
    const char *receiver;
    m2mhub_action action;
    uint64_t tx;      /* ignored (signed as 0) for a begin */
    int has_cause;    /* 0: no cause */
    uint64_t cause;   /* the seq of the message that caused this one; < 2^64-1 */
    uint64_t counter; /* set by m2mhub_sign_message */
    const char *contents;
    size_t contents_len;
    const char *tx_hub;
} m2mhub_fields;

/* The exact bytes the sender signs, into out[0..cap); *len gets their length. */
int m2mhub_signing_bytes(const m2mhub_fields *f, uint8_t *out, size_t cap, size_t *len);

/* The SPEC §5.2 CONNECT bytes: "m2mhub/connect/v1\n" u16 len(name) name u64 unix_s. */
int m2mhub_connect_signing_bytes(const char *name, uint64_t unix_s, uint8_t *out, size_t cap,
                                 size_t *len);

/* The CONNECT password "<unix_s>.<hex signature>" (NUL-terminated) of device name; the MQTT
 * username is the name. The hub accepts it within ±300 s of its clock: sign afresh for every
 * connection. */
int m2mhub_connect_password(const m2mhub_signer *signer, const char *name, uint64_t unix_s,
                            char out[M2MHUB_PASSWORD_MAX]);

/* ---- The counter ---------------------------------------------------------------------- */

/* Persistent storage for one 64-bit value. save must be durable when it returns 0 (flash
 * written and verified, fsync'd file, NVS committed). load gives 0 for storage never
 * written. Both return 0 on success. */
typedef struct m2mhub_counter_store {
    int (*load)(void *ctx, uint64_t *value);
    int (*save)(void *ctx, uint64_t value);
    void *ctx;
} m2mhub_counter_store;

/* A counter that only grows. The store holds the highest value that may have been handed
 * out: a block of `reserve` values is saved *before* any of them is used, so after a power
 * cut the device resumes above everything it used (skipping the rest of the block, which is
 * fine: counters must grow, not be contiguous). One save per `reserve` messages spares the
 * flash; the Rust SDK reserves 1024. */
typedef struct m2mhub_counter {
    uint64_t last;     /* the last value handed out */
    uint64_t reserved; /* the highest value the store allows */
    uint64_t reserve;
    const m2mhub_counter_store *store;
} m2mhub_counter;

int m2mhub_counter_open(m2mhub_counter *c, const m2mhub_counter_store *store, uint64_t reserve);
/* The next value in *value; saves a new reservation first when needed. */
int m2mhub_counter_next(m2mhub_counter *c, uint64_t *value);

/* ---- Messages ------------------------------------------------------------------------- */

typedef struct m2mhub_device {
    const char *name; /* for v2, the sender's qualified name name@hub goes in fields */
    const m2mhub_signer *signer;
    m2mhub_counter *counter;
} m2mhub_device;

/* Checks f, takes the next counter value into f->counter (and f->sender = d->name unless
 * f->tx_hub is set and f->sender given), signs into signature, and writes the JSON body
 * (NUL-terminated) into json[0..cap), its length in *json_len. Nothing is spent when the
 * fields are bad or the buffer is too small. Keep the JSON: a retry sends it again byte for
 * byte (an exact resubmission, SPEC §3.2, returns the original record). */
int m2mhub_sign_message(m2mhub_device *d, m2mhub_fields *f, uint8_t signature[64], char *json,
                        size_t cap, size_t *json_len);

/* The JSON body of an already signed message (no counter spent), as above. */
int m2mhub_message_json(const m2mhub_fields *f, const uint8_t signature[64], char *json,
                        size_t cap, size_t *json_len);

/* ---- Acknowledgements and deliveries -------------------------------------------------- */

/* Notice bits (SPEC §3.3 order), as the ledger encodes them. */
#define M2MHUB_NOTICE_SENDER_REVOKED (1u << 0)
#define M2MHUB_NOTICE_UNKNOWN_RECEIVER (1u << 1)
#define M2MHUB_NOTICE_RECEIVER_REVOKED (1u << 2)
#define M2MHUB_NOTICE_UNKNOWN_TRANSACTION (1u << 3)
#define M2MHUB_NOTICE_TRANSACTION_REJECTED (1u << 4)
#define M2MHUB_NOTICE_TRANSACTION_CLOSED (1u << 5)
#define M2MHUB_NOTICE_NOT_A_PARTICIPANT (1u << 6)
#define M2MHUB_NOTICE_INSUFFICIENT_CLEARANCE (1u << 7)
#define M2MHUB_NOTICE_BAD_CAUSE (1u << 8)
#define M2MHUB_NOTICE_OTHER (1u << 15) /* a code this SDK does not know */

/* A record (SPEC §5), as an acknowledgement, an HTTP answer or a delivery carries it. */
typedef struct m2mhub_record {
    uint64_t seq, tx, counter, block;
    int has_cause;
    uint64_t cause;
    m2mhub_action action;
    int valid, duplicate;
    int has_provenance;
    char provenance[M2MHUB_QNAME_MAX + 1];
    char sender[M2MHUB_QNAME_MAX + 1];
    char receiver[M2MHUB_QNAME_MAX + 1];
    uint16_t notices;
    uint8_t leaf_hash[32];
    int has_contents;   /* contents are null in acknowledgements and once pruned */
    char *contents;     /* points into the caller's buffer (NUL-terminated) */
    size_t contents_len;
    int has_signature;  /* deliveries carry the sender's signature */
    uint8_t signature[64];
    /* A delivery of a message signed in the federation form (SPEC §7) names the hub that
     * recorded it; that hub's own devices are bare in the record. */
    int has_hub;
    char hub[M2MHUB_QNAME_MAX + 1];
} m2mhub_record;

/* An acknowledgement: a record, or a refusal (nothing recorded). */
typedef struct m2mhub_ack {
    int refused;
    m2mhub_record record;     /* when !refused */
    char error[32];           /* when refused: malformed, bad_signature, stale_counter, ... */
    char message[160];        /* for people; truncated */
    int has_counter;          /* the refused message's counter, when the hub names one */
    uint64_t counter;
} m2mhub_ack;

/* Parses an m2m/ack payload or the answer of POST /v1/messages (a record, or the error body
 * {"error","message"}). Unescaped contents, if any, go to contents_buf (may be NULL with
 * cap 0 for acknowledgements, whose contents are null). */
int m2mhub_parse_ack(const char *json, size_t len, m2mhub_ack *ack, char *contents_buf,
                     size_t cap);

/* Parses an m2m/in delivery: the record with its contents and the sender's signature. */
int m2mhub_parse_delivery(const char *json, size_t len, m2mhub_record *r, char *contents_buf,
                          size_t cap);

/* Checks a delivery's signature with its sender's key (GET /v1/devices/{name}: the key in
 * force at the delivery's seq). A begin was signed with tx 0. M2MHUB_OK or M2MHUB_E_VERIFY. */
int m2mhub_verify_delivery(const m2mhub_record *r, const uint8_t sender_key[32],
                           m2mhub_verify_fn verify);

/* True when a refusal's code says nothing about the message: send the same bytes again. */
int m2mhub_refusal_is_transient(const char *error);

/* ---- Checking records against the hub's signed checkpoint ----------------------------- */

typedef struct m2mhub_checkpoint {
    uint64_t tree_size;
    uint8_t root[32];
    uint64_t block;
} m2mhub_checkpoint;

/* Opens a signed checkpoint note (GET /v1/checkpoint) with the hub's pinned key line
 * "<name>+<key id>+<base64(0x01 || key)>" (GET /v1/key, obtained out of band): the key id
 * must match, a signature line by that key must verify, and the origin must be the key name. */
int m2mhub_checkpoint_open(const char *note, size_t note_len, const char *key_line,
                           m2mhub_verify_fn verify, m2mhub_checkpoint *cp);

/* SHA-256(0x00 || entry bytes): an entry's Merkle leaf hash. */
void m2mhub_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[32]);

/* RFC 9162 §2.1.3.2: leaf `index` of the tree of `tree_size` with `root`. */
int m2mhub_verify_inclusion(const uint8_t leaf[32], uint64_t index, uint64_t tree_size,
                            const uint8_t (*path)[32], size_t path_len, const uint8_t root[32]);

/* Checks every field of a record against its entry bytes (base64 in GET /v1/entries/{seq};
 * the ledger's encoding v1, kind 5: crates/m2mhub-core/src/entry.rs): sender, receiver,
 * action, tx, cause, counter, provenance, the verdict (valid and every notice), the contents
 * by SHA-256 (unless the record has none: pruned, or an acknowledgement) and, for a delivery,
 * the signature. With m2mhub_leaf_hash and m2mhub_verify_inclusion, a hub that shows a record
 * other than the one it committed is caught. M2MHUB_OK or M2MHUB_E_VERIFY. */
int m2mhub_check_record_entry(const m2mhub_record *r, const uint8_t *entry, size_t len);

/* ---- Small helpers the examples and tests use ----------------------------------------- */

/* Reads top-level field `key` of a JSON object: a string (unescaped, NUL-terminated into
 * out[0..cap)), or an array of 32-byte hex strings (into hashes, at most max). */
int m2mhub_json_string(const char *json, size_t len, const char *key, char *out, size_t cap,
                       size_t *out_len);
int m2mhub_json_hashes(const char *json, size_t len, const char *key, uint8_t (*hashes)[32],
                       size_t max, size_t *n);

/* Standard base64 (padded, canonical) into out[0..cap). */
int m2mhub_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* Exactly 2*n hex digits (either case) into out[0..n). */
int m2mhub_hex_decode(const char *in, size_t len, uint8_t *out, size_t n);
void m2mhub_hex_encode(const uint8_t *in, size_t n, char *out /* 2n+1 */);

/* SHA-256 (FIPS 180-4), streaming, portable: the core needs it for the contents hash and
 * Merkle hashes and must not depend on the signer's library. */
typedef struct m2mhub_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    size_t fill;
} m2mhub_sha256;
void m2mhub_sha256_init(m2mhub_sha256 *s);
void m2mhub_sha256_update(m2mhub_sha256 *s, const void *data, size_t len);
void m2mhub_sha256_final(m2mhub_sha256 *s, uint8_t out[32]);

#ifdef __cplusplus
}
#endif
#endif
