/* test_m2mhub.c: unit tests of the C SDK, built with -Wall -Wextra -Werror under
 * AddressSanitizer and UBSan. The known answers are testdata/'s (vectors.h is generated from
 * them): the same contract the Rust and Python SDKs pass. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2mhub.h"
#include "m2mhub_sodium.h"

struct sig_case {
    const char *name, *sender, *receiver;
    int action;
    uint64_t tx;
    int has_cause;
    uint64_t cause, counter;
    const char *contents;
    size_t contents_len;
    const char *tx_hub, *contents_sha256, *signing_bytes, *seed, *public_key, *signature;
};
struct connect_case {
    const char *device;
    uint64_t unix_s;
    const char *signing_bytes, *seed, *password;
};
struct incl_case {
    uint64_t index, tree_size;
    size_t path_len;
    const char *path;
};
struct cp_case {
    const char *note;
    uint64_t tree_size;
    const char *root;
    uint64_t block;
};
/* The 16 KiB contents of the "BIG" vectors (testdata's big_contents_rule), filled by main. */
static char BIG_CONTENTS[16384];
#include "vectors.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int failures, checks;
#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
        }                                                                        \
    } while (0)

static void unhex(const char *hex, uint8_t *out, size_t n) {
    if (m2mhub_hex_decode(hex, strlen(hex), out, n) != M2MHUB_OK) {
        fprintf(stderr, "bad hex in vectors: %s\n", hex);
        exit(2);
    }
}

static void tohex(const uint8_t *in, size_t n, char *out) { m2mhub_hex_encode(in, n, out); }

static m2mhub_fields fields_of(const struct sig_case *c) {
    m2mhub_fields f;
    memset(&f, 0, sizeof f);
    f.sender = c->sender, f.receiver = c->receiver, f.action = (m2mhub_action)c->action;
    f.tx = c->tx, f.has_cause = c->has_cause, f.cause = c->cause, f.counter = c->counter;
    f.contents = c->contents, f.contents_len = c->contents_len, f.tx_hub = c->tx_hub;
    return f;
}

static void test_signing_vectors(const struct sig_case *cases, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        const struct sig_case *c = &cases[i];
        m2mhub_fields f = fields_of(c);
        uint8_t msg[M2MHUB_SIGNING_MAX], seed[32], pk[32], sig[64], hash[32];
        char hex[2 * M2MHUB_SIGNING_MAX + 1];
        size_t len;
        m2mhub_sodium_key key;
        m2mhub_sha256 s;
        m2mhub_sha256_init(&s);
        m2mhub_sha256_update(&s, c->contents, c->contents_len);
        m2mhub_sha256_final(&s, hash);
        tohex(hash, 32, hex);
        CHECK(!strcmp(hex, c->contents_sha256), "%s: contents hash", c->name);
        CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_OK, "%s", c->name);
        tohex(msg, len, hex);
        CHECK(!strcmp(hex, c->signing_bytes), "%s: signing bytes\n%s", c->name, hex);
        CHECK(m2mhub_signing_bytes(&f, msg, len - 1, &len) == M2MHUB_E_SPACE, "%s", c->name);
        unhex(c->seed, seed, 32);
        CHECK(m2mhub_sodium_key_from_seed(&key, seed, pk) == 0, "%s", c->name);
        tohex(pk, 32, hex);
        CHECK(!strcmp(hex, c->public_key), "%s: public key", c->name);
        m2mhub_signing_bytes(&f, msg, sizeof msg, &len);
        CHECK(m2mhub_sodium_sign(&key, msg, len, sig) == 0, "%s", c->name);
        tohex(sig, 64, hex);
        CHECK(!strcmp(hex, c->signature), "%s: signature", c->name);
        CHECK(m2mhub_sodium_verify(pk, msg, len, sig) == 0, "%s", c->name);
        sig[17] ^= 4;
        CHECK(m2mhub_sodium_verify(pk, msg, len, sig) != 0, "%s: flipped bit", c->name);
    }
}

static void test_connect_vectors(void) {
    size_t i;
    for (i = 0; i < N(CONNECT); i++) {
        const struct connect_case *c = &CONNECT[i];
        uint8_t msg[128], seed[32];
        char hex[257], pw[M2MHUB_PASSWORD_MAX];
        size_t len;
        m2mhub_sodium_key key;
        m2mhub_signer signer;
        CHECK(m2mhub_connect_signing_bytes(c->device, c->unix_s, msg, sizeof msg, &len) == 0,
              "%s", c->device);
        tohex(msg, len, hex);
        CHECK(!strcmp(hex, c->signing_bytes), "%s: connect bytes", c->device);
        unhex(c->seed, seed, 32);
        m2mhub_sodium_key_from_seed(&key, seed, NULL);
        signer.sign = m2mhub_sodium_sign, signer.ctx = &key;
        CHECK(m2mhub_connect_password(&signer, c->device, c->unix_s, pw) == 0, "%s", c->device);
        CHECK(!strcmp(pw, c->password), "%s: password %s", c->device, pw);
    }
}

static void test_bad_fields(void) {
    m2mhub_fields f;
    uint8_t msg[M2MHUB_SIGNING_MAX];
    size_t len;
    const char *names[] = {"", "a b", "x\"y", "ab@", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde"};
    size_t i;
    memset(&f, 0, sizeof f);
    f.sender = "a", f.receiver = "b", f.action = M2MHUB_BEGIN;
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == 0, "minimal message");
    for (i = 0; i < N(names); i++) {
        f.receiver = names[i];
        CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_E_ARG, "name %s", names[i]);
    }
    f.receiver = "b";
    f.action = (m2mhub_action)3;
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_E_ARG, "action 3");
    f.action = M2MHUB_END, f.has_cause = 1, f.cause = UINT64_MAX;
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_E_ARG, "cause max");
    f.has_cause = 0;
    f.tx_hub = "h"; /* v2 needs qualified names */
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_E_ARG, "v2 bare names");
    f.sender = "a@h", f.receiver = "b@h", f.tx_hub = "";
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_E_ARG, "v2 end, no tx_hub");
    f.action = M2MHUB_BEGIN, f.tx_hub = "h";
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == M2MHUB_E_ARG, "v2 begin, tx_hub");
}

/* A counter store in "flash": counts saves and can be made to fail. */
struct flash {
    uint64_t value;
    int saves, fail;
};
static int flash_load(void *ctx, uint64_t *v) { return *v = ((struct flash *)ctx)->value, 0; }
static int flash_save(void *ctx, uint64_t v) {
    struct flash *f = (struct flash *)ctx;
    if (f->fail) return -1;
    f->value = v, f->saves++;
    return 0;
}

static void test_counter(void) {
    struct flash fl = {0, 0, 0};
    m2mhub_counter_store store;
    m2mhub_counter c;
    uint64_t v = 0, i, highest = 0;
    store.load = flash_load, store.save = flash_save, store.ctx = &fl;
    CHECK(m2mhub_counter_open(&c, &store, 4) == 0, "open");
    for (i = 1; i <= 6; i++) {
        CHECK(m2mhub_counter_next(&c, &v) == 0 && v == i, "value %" PRIu64, v);
        /* The reservation is durable before the value is handed out. */
        CHECK(fl.value >= v, "stored %" PRIu64 " < handed out %" PRIu64, fl.value, v);
        highest = v;
    }
    CHECK(fl.saves == 2, "one save per 4 values, got %d", fl.saves);
    /* A power cut now: RAM is lost, the store keeps its last save. */
    CHECK(m2mhub_counter_open(&c, &store, 4) == 0, "reopen");
    CHECK(m2mhub_counter_next(&c, &v) == 0 && v > highest, "after power cut: %" PRIu64, v);
    /* A store that cannot save hands out nothing. */
    c.reserved = c.last;
    fl.fail = 1;
    i = c.last;
    CHECK(m2mhub_counter_next(&c, &v) == M2MHUB_E_STORE && c.last == i, "failed save");
    fl.fail = 0;
    fl.value = UINT64_MAX - 1;
    CHECK(m2mhub_counter_open(&c, &store, 1000) == 0, "open near the end");
    CHECK(m2mhub_counter_next(&c, &v) == 0 && v == UINT64_MAX && fl.value == UINT64_MAX, "last");
    CHECK(m2mhub_counter_next(&c, &v) == M2MHUB_E_EXHAUSTED, "exhausted");
}

static void test_sign_message_json(void) {
    const struct sig_case *vc = &V1[0];
    struct flash fl = {vc->counter - 1, 0, 0};
    m2mhub_counter_store store;
    m2mhub_counter counter;
    m2mhub_sodium_key key;
    m2mhub_signer signer;
    m2mhub_device d;
    m2mhub_fields f;
    uint8_t seed[32], sig[64];
    char json[512], back[256], hex[129];
    size_t len, blen;
    static const char tricky[] = "q\"uote \\ back\nnew\001ctl\037 \342\230\203 \360\237\230\200 </x>";
    unhex(vc->seed, seed, 32);
    m2mhub_sodium_key_from_seed(&key, seed, NULL);
    signer.sign = m2mhub_sodium_sign, signer.ctx = &key;
    store.load = flash_load, store.save = flash_save, store.ctx = &fl;
    m2mhub_counter_open(&counter, &store, 1);
    d.name = vc->sender, d.signer = &signer, d.counter = &counter;
    f = fields_of(vc);
    /* Too small a buffer: an error, and no counter value spent. */
    CHECK(m2mhub_sign_message(&d, &f, sig, json, 40, &len) == M2MHUB_E_SPACE, "small buffer");
    CHECK(counter.last == vc->counter - 1, "nothing spent");
    CHECK(m2mhub_sign_message(&d, &f, sig, json, sizeof json, &len) == 0, "sign");
    CHECK(f.counter == vc->counter && strlen(json) == len, "counter %" PRIu64, f.counter);
    tohex(sig, 64, hex);
    CHECK(!strcmp(hex, vc->signature), "the vector's signature");
    {
        char want[512];
        snprintf(want, sizeof want, "{\"sender\":\"sensor-1\",\"receiver\":\"hub.gateway\","
                 "\"action\":\"begin\",\"counter\":1,\"contents\":\"hello\",\"signature\":\"%s\"}",
                 hex);
        CHECK(!strcmp(json, want), "json %s", json);
    }
    /* Escaping: whatever the contents, the JSON string reads back as the same bytes. */
    f.contents = tricky, f.contents_len = sizeof tricky - 1;
    f.action = M2MHUB_CONTINUE, f.tx = 7, f.has_cause = 1, f.cause = 0;
    CHECK(m2mhub_sign_message(&d, &f, sig, json, sizeof json, &len) == 0, "tricky");
    CHECK(m2mhub_json_string(json, len, "contents", back, sizeof back, &blen) == 0, "%s", json);
    CHECK(blen == sizeof tricky - 1 && !memcmp(back, tricky, blen), "round trip: %s", json);
    CHECK(strstr(json, "\"tx\":7,\"cause\":0,") != NULL, "%s", json);
    /* Not UTF-8: refused, nothing spent. */
    {
        uint64_t last = counter.last;
        const char *bad[] = {"\300\200", "\355\240\200", "\364\220\200\200", "\342\230", "\377"};
        size_t i;
        for (i = 0; i < N(bad); i++) {
            f.contents = bad[i], f.contents_len = strlen(bad[i]);
            CHECK(m2mhub_sign_message(&d, &f, sig, json, sizeof json, &len) == M2MHUB_E_UTF8,
                  "bad utf-8 %zu", i);
        }
        CHECK(counter.last == last, "nothing spent on bad contents");
    }
}

static const char RECORD[] =
    "{\"seq\":12,\"tx\":7,\"provenance\":\"phone\",\"sender\":\"tv\",\"receiver\":\"oven\","
    "\"action\":\"continue\",\"cause\":3,\"counter\":9,\"contents\":null,\"valid\":false,"
    "\"notices\":[\"not_a_participant\",\"bad_cause\"],\"block\":2,\"time\":\"2026-01-01T00:00:00.000Z\","
    "\"leaf_hash\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}";

static void test_parse_acks(void) {
    m2mhub_ack a;
    char buf[64];
    size_t i;
    CHECK(m2mhub_parse_ack(RECORD, strlen(RECORD), &a, NULL, 0) == 0, "record");
    CHECK(!a.refused && a.record.seq == 12 && a.record.tx == 7 && a.record.has_cause &&
              a.record.cause == 3 && a.record.counter == 9 && !a.record.valid &&
              a.record.action == M2MHUB_CONTINUE && !a.record.has_contents &&
              !strcmp(a.record.provenance, "phone") && a.record.leaf_hash[31] == 0xff,
          "fields");
    CHECK(a.record.notices == (M2MHUB_NOTICE_NOT_A_PARTICIPANT | M2MHUB_NOTICE_BAD_CAUSE),
          "notices %x", a.record.notices);
    {
        static const char refused[] = " {\"counter\":4,\"error\":\"bad_signature\",\"message\":\"no \\u00e9\"} ";
        CHECK(m2mhub_parse_ack(refused, strlen(refused), &a, buf, sizeof buf) == 0, "refusal");
        CHECK(a.refused && a.has_counter && a.counter == 4 && !strcmp(a.error, "bad_signature") &&
                  !strcmp(a.message, "no \303\251"),
              "refusal fields");
        CHECK(!m2mhub_refusal_is_transient(a.error) && m2mhub_refusal_is_transient("unavailable"),
              "transient");
    }
    {
        /* Unknown fields of any shape are skipped; an unknown notice is flagged OTHER. */
        static const char extra[] =
            "{\"new\":{\"a\":[1,2.5e3,{\"b\":null}],\"c\":\"\\ud83d\\ude00\"},\"seq\":1,\"tx\":2,"
            "\"provenance\":null,\"sender\":\"a\",\"receiver\":\"b\",\"action\":\"end\","
            "\"cause\":null,\"counter\":18446744073709551615,\"contents\":\"x\\ny\",\"valid\":true,"
            "\"notices\":[\"brand_new\"],\"block\":0,\"leaf_hash\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\",\"duplicate\":true}";
        CHECK(m2mhub_parse_ack(extra, strlen(extra), &a, buf, sizeof buf) == 0, "extra");
        CHECK(a.record.counter == UINT64_MAX && a.record.duplicate && !a.record.has_provenance &&
                  a.record.notices == M2MHUB_NOTICE_OTHER && a.record.has_contents &&
                  a.record.contents_len == 3 && !strcmp(a.record.contents, "x\ny"),
              "extra fields");
    }
    {
        /* Each of these is refused. */
        const char *bad[] = {
            "", "[]", "{", "{\"seq\":1}", "{\"error\":1}", "{\"error\":\"x\",\"error\":\"y\"}",
            "{\"seq\":01}", "{\"seq\":-1}", "{\"seq\":1.0}", "{\"seq\":18446744073709551616}",
            "{\"seq\":1}x", "{\"error\":\"\\ud800\"}", "{\"error\":\"a\001\"}",
            "{\"error\":\"\\x\"}", "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]],\"error\":\"e\"}",
            "{\"error\":\"e\",}", "{\"error\" \"e\"}",
        };
        for (i = 0; i < N(bad); i++)
            CHECK(m2mhub_parse_ack(bad[i], strlen(bad[i]), &a, buf, sizeof buf) == M2MHUB_E_JSON,
                  "accepted %s", bad[i]);
        /* Each field of a record must be there, once, of its type. */
        {
            const char *keys[] = {"\"seq\"", "\"tx\"", "\"sender\"", "\"valid\"", "\"notices\"",
                                  "\"leaf_hash\"", "\"action\"", "\"block\""};
            char copy[sizeof RECORD];
            size_t k;
            for (k = 0; k < N(keys); k++) {
                char *at;
                memcpy(copy, RECORD, sizeof RECORD);
                at = strstr(copy, keys[k]);
                at[1] = 'X'; /* rename the key: the field is then missing */
                CHECK(m2mhub_parse_ack(copy, strlen(copy), &a, NULL, 0) == M2MHUB_E_JSON,
                      "missing %s", keys[k]);
            }
        }
        /* Contents that do not fit the caller's buffer. */
        CHECK(m2mhub_parse_ack("{\"contents\":\"toolong\",\"error\":\"e\"}", 35, &a, buf, 4) ==
                  M2MHUB_E_JSON, "contents too long");
    }
}

static void test_delivery(void) {
    const struct sig_case *vc = &V1[3]; /* end-with-cause */
    uint8_t seed[32], pk[32], sig[64], msg[M2MHUB_SIGNING_MAX];
    m2mhub_sodium_key key;
    m2mhub_fields f = fields_of(vc);
    m2mhub_record r;
    char json[1024], contents[64], sighex[129];
    size_t len;
    unhex(vc->seed, seed, 32);
    m2mhub_sodium_key_from_seed(&key, seed, pk);
    m2mhub_signing_bytes(&f, msg, sizeof msg, &len);
    m2mhub_sodium_sign(&key, msg, len, sig);
    tohex(sig, 64, sighex);
    snprintf(json, sizeof json,
             "{\"seq\":50,\"tx\":%" PRIu64 ",\"provenance\":\"x\",\"sender\":\"%s\",\"receiver\":"
             "\"%s\",\"action\":\"end\",\"cause\":%" PRIu64 ",\"counter\":%" PRIu64 ",\"contents\":"
             "\"%s\",\"valid\":true,\"notices\":[],\"block\":4,\"leaf_hash\":\"%064d\","
             "\"signature\":\"%s\"}",
             vc->tx, vc->sender, vc->receiver, vc->cause, vc->counter, vc->contents, 0, sighex);
    CHECK(m2mhub_parse_delivery(json, strlen(json), &r, contents, sizeof contents) == 0, "%s", json);
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == 0, "verifies");
    r.counter++;
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == M2MHUB_E_VERIFY, "counter");
    r.counter--;
    r.contents[0] ^= 1;
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == M2MHUB_E_VERIFY, "contents");
    r.contents[0] ^= 1;
    pk[0] ^= 1;
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == M2MHUB_E_VERIFY, "key");
    /* An acknowledgement is not a delivery (no signature, no contents). */
    CHECK(m2mhub_parse_delivery(RECORD, strlen(RECORD), &r, contents, sizeof contents) ==
              M2MHUB_E_JSON, "ack as delivery");
}

/* A delivery of a federated message (SPEC §7): signed with every name qualified and tx_hub
 * the recording hub; the record names that hub's own device bare and carries "hub". */
static void test_federated_delivery(void) {
    uint8_t seed[32] = {7}, pk[32], sig[64], msg[M2MHUB_SIGNING_MAX];
    m2mhub_sodium_key key;
    m2mhub_fields f;
    m2mhub_record r;
    char json[1024], contents[64], sighex[129];
    size_t len;
    m2mhub_sodium_key_from_seed(&key, seed, pk);
    memset(&f, 0, sizeof f);
    f.sender = "meter@home", f.receiver = "controller@grid", f.action = M2MHUB_CONTINUE;
    f.tx = 4, f.tx_hub = "grid", f.has_cause = 1, f.cause = 2, f.counter = 9;
    f.contents = "2.1 kW", f.contents_len = 6;
    CHECK(m2mhub_signing_bytes(&f, msg, sizeof msg, &len) == 0, "v2 bytes");
    m2mhub_sodium_sign(&key, msg, len, sig);
    tohex(sig, 64, sighex);
    const char *fmt =
        "{\"seq\":5,\"tx\":4,\"provenance\":\"controller\",\"sender\":\"meter@home\","
        "\"receiver\":\"controller\",\"action\":\"continue\",\"cause\":2,\"counter\":9,"
        "\"contents\":\"2.1 kW\",\"valid\":true,\"notices\":[],\"block\":3,"
        "\"leaf_hash\":\"%064d\",\"signature\":\"%s\"%s}";
    snprintf(json, sizeof json, fmt, 0, sighex, ",\"hub\":\"grid\"");
    CHECK(m2mhub_parse_delivery(json, strlen(json), &r, contents, sizeof contents) == 0, "%s", json);
    CHECK(r.has_hub && !strcmp(r.hub, "grid"), "hub parsed");
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == 0, "federated verifies");
    /* Another recording hub, or none (the one-hub bytes), is another message. */
    strcpy(r.hub, "home");
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == M2MHUB_E_VERIFY, "hub");
    snprintf(json, sizeof json, fmt, 0, sighex, "");
    CHECK(m2mhub_parse_delivery(json, strlen(json), &r, contents, sizeof contents) == 0, "%s", json);
    CHECK(!r.has_hub, "no hub");
    CHECK(m2mhub_verify_delivery(&r, pk, m2mhub_sodium_verify) == M2MHUB_E_VERIFY, "one-hub");
}

/* An independent encoder of a message entry (v1, kind 5), from the layout in entry.rs. */
static size_t encode_entry(uint8_t *out, const char *sender, const char *receiver, int action,
                           uint64_t tx, int has_cause, uint64_t cause, uint64_t counter,
                           const char *contents, const uint8_t sig[64], const char *provenance,
                           uint16_t notices) {
    size_t n = 0, k;
    const char *names[2];
    m2mhub_sha256 s;
    uint64_t ints[3];
    int i;
    out[n++] = 1, out[n++] = 5;
    names[0] = sender, names[1] = receiver;
    for (k = 0; k < 2; k++) {
        size_t len = strlen(names[k]);
        out[n++] = (uint8_t)(len >> 8), out[n++] = (uint8_t)len;
        memcpy(out + n, names[k], len), n += len;
    }
    out[n++] = (uint8_t)action;
    ints[0] = tx, ints[1] = has_cause ? cause + 1 : 0, ints[2] = counter;
    for (k = 0; k < 3; k++)
        for (i = 7; i >= 0; i--) out[n++] = (uint8_t)(ints[k] >> (8 * i));
    m2mhub_sha256_init(&s);
    m2mhub_sha256_update(&s, contents, strlen(contents));
    m2mhub_sha256_final(&s, out + n), n += 32;
    memcpy(out + n, sig, 64), n += 64;
    k = provenance ? strlen(provenance) : 0;
    out[n++] = (uint8_t)(k >> 8), out[n++] = (uint8_t)k;
    if (k) memcpy(out + n, provenance, k), n += k;
    out[n++] = (uint8_t)(notices >> 8), out[n++] = (uint8_t)notices;
    return n;
}

static void test_record_against_entry(void) {
    static const char json[] =
        "{\"seq\":12,\"tx\":7,\"provenance\":\"phone\",\"sender\":\"tv\",\"receiver\":\"oven\","
        "\"action\":\"continue\",\"cause\":3,\"counter\":9,\"contents\":\"heat\",\"valid\":false,"
        "\"notices\":[\"not_a_participant\"],\"block\":2,\"leaf_hash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"signature\":"
        "\"01010101010101010101010101010101010101010101010101010101010101010101010101010101"
        "010101010101010101010101010101010101010101010101\"}";
    uint8_t sig[64], entry[512];
    char contents[16];
    m2mhub_record r, bad;
    size_t n;
    int i;
    memset(sig, 1, sizeof sig);
    n = encode_entry(entry, "tv", "oven", 1, 7, 1, 3, 9, "heat", sig, "phone",
                     M2MHUB_NOTICE_NOT_A_PARTICIPANT);
    CHECK(m2mhub_parse_delivery(json, strlen(json), &r, contents, sizeof contents) == 0, "parse");
    CHECK(m2mhub_check_record_entry(&r, entry, n) == M2MHUB_OK, "matches its entry");
    for (i = 0; i < 12; i++) {
        char other[16];
        bad = r;
        switch (i) {
        case 0: strcpy(bad.sender, "phone"); break;
        case 1: strcpy(bad.receiver, "tv"); break;
        case 2: bad.action = M2MHUB_END; break;
        case 3: bad.tx = 8; break;
        case 4: bad.has_cause = 0; break;
        case 5: bad.counter = 10; break;
        case 6: strcpy(bad.provenance, "tv"); break;
        case 7: bad.has_provenance = 0; break;
        case 8: bad.valid = 1; break;
        case 9: bad.notices = M2MHUB_NOTICE_BAD_CAUSE; break;
        case 10: strcpy(other, "freeze"), bad.contents = other, bad.contents_len = 6; break;
        default: bad.signature[5] ^= 1; break;
        }
        CHECK(m2mhub_check_record_entry(&bad, entry, n) == M2MHUB_E_VERIFY, "field %d", i);
    }
    bad = r, bad.has_contents = 0; /* pruned contents are not a difference */
    CHECK(m2mhub_check_record_entry(&bad, entry, n) == M2MHUB_OK, "pruned");
    CHECK(m2mhub_check_record_entry(&r, entry, n - 1) == M2MHUB_E_VERIFY, "short");
    entry[n] = 0;
    CHECK(m2mhub_check_record_entry(&r, entry, n + 1) == M2MHUB_E_VERIFY, "trailing");
    entry[1] = 1;
    CHECK(m2mhub_check_record_entry(&r, entry, n) == M2MHUB_E_VERIFY, "not a message");
}

static void test_merkle(void) {
    size_t i, j;
    uint8_t leaves[64][32], roots[65][32];
    CHECK(N(LEAVES) <= 64 && N(ROOTS) <= 65, "sizes");
    for (i = 0; i < N(LEAVES); i++) {
        uint8_t raw[256];
        char hex[65];
        size_t n = strlen(LEAVES[i]) / 2;
        unhex(LEAVES[i], raw, n);
        m2mhub_leaf_hash(raw, n, leaves[i]);
        tohex(leaves[i], 32, hex);
        CHECK(!strcmp(hex, LEAF_HASHES[i]), "leaf %zu", i);
    }
    for (i = 0; i < N(ROOTS); i++) unhex(ROOTS[i], roots[i], 32);
    for (i = 0; i < N(INCLUSION); i++) {
        const struct incl_case *c = &INCLUSION[i];
        uint8_t path[64][32];
        for (j = 0; j < c->path_len; j++) m2mhub_hex_decode(c->path + 64 * j, 64, path[j], 32);
        CHECK(m2mhub_verify_inclusion(leaves[c->index], c->index, c->tree_size,
                                      (const uint8_t(*)[32])path, c->path_len,
                                      roots[c->tree_size]) == 0,
              "inclusion %" PRIu64 " in %" PRIu64, c->index, c->tree_size);
        for (j = 0; j < c->path_len * 256; j += 37) {
            path[j / 256][(j % 256) / 8] ^= (uint8_t)(1 << (j % 8));
            CHECK(m2mhub_verify_inclusion(leaves[c->index], c->index, c->tree_size,
                                          (const uint8_t(*)[32])path, c->path_len,
                                          roots[c->tree_size]) == M2MHUB_E_VERIFY, "flip %zu", j);
            path[j / 256][(j % 256) / 8] ^= (uint8_t)(1 << (j % 8));
        }
        CHECK(m2mhub_verify_inclusion(leaves[c->index], c->index, c->tree_size,
                                      (const uint8_t(*)[32])path, c->path_len + 1 <= 64 ? c->path_len + 1 : c->path_len,
                                      roots[c->tree_size]) == M2MHUB_E_VERIFY, "longer path");
        CHECK(m2mhub_verify_inclusion(leaves[c->index], c->tree_size, c->tree_size,
                                      (const uint8_t(*)[32])path, c->path_len,
                                      roots[c->tree_size]) == M2MHUB_E_VERIFY, "index past size");
    }
}

static void test_checkpoints(void) {
    size_t i;
    m2mhub_checkpoint cp;
    for (i = 0; i < N(CHECKPOINTS); i++) {
        const struct cp_case *c = &CHECKPOINTS[i];
        CHECK(m2mhub_checkpoint_open(c->note, strlen(c->note), LOG_KEY, m2mhub_sodium_verify,
                                     &cp) == 0, "checkpoint %zu", i);
        if (c->root) {
            uint8_t root[32];
            unhex(c->root, root, 32);
            CHECK(cp.tree_size == c->tree_size && cp.block == c->block &&
                      !memcmp(cp.root, root, 32), "checkpoint %zu fields", i);
        }
    }
    for (i = 0; i < N(BAD_CHECKPOINTS); i++)
        CHECK(m2mhub_checkpoint_open(BAD_CHECKPOINTS[i], strlen(BAD_CHECKPOINTS[i]), LOG_KEY,
                                     m2mhub_sodium_verify, &cp) != 0, "bad checkpoint %zu", i);
    {
        /* A wrong key id or a key line that is no key line. */
        char key[256];
        const char *note = CHECKPOINTS[1].note;
        strcpy(key, LOG_KEY);
        *strchr(key, '+') = '+';
        strchr(key, '+')[1] ^= 1;
        CHECK(m2mhub_checkpoint_open(note, strlen(note), key, m2mhub_sodium_verify, &cp) ==
                  M2MHUB_E_ARG, "wrong key id");
        CHECK(m2mhub_checkpoint_open(note, strlen(note), "no key", m2mhub_sodium_verify, &cp) ==
                  M2MHUB_E_ARG, "not a key line");
    }
}

static void test_codecs(void) {
    uint8_t out[8];
    size_t n;
    CHECK(m2mhub_base64_decode("YWJj", 4, out, sizeof out, &n) == 0 && n == 3, "abc");
    CHECK(m2mhub_base64_decode("YQ==", 4, out, sizeof out, &n) == 0 && n == 1 && out[0] == 'a', "a");
    CHECK(m2mhub_base64_decode("YR==", 4, out, sizeof out, &n) == M2MHUB_E_ARG, "non-canonical");
    CHECK(m2mhub_base64_decode("Y===", 4, out, sizeof out, &n) == M2MHUB_E_ARG, "3 pads");
    CHECK(m2mhub_base64_decode("YQ=a", 4, out, sizeof out, &n) == M2MHUB_E_ARG, "pad inside");
    CHECK(m2mhub_base64_decode("YWJ", 3, out, sizeof out, &n) == M2MHUB_E_ARG, "unpadded");
    CHECK(m2mhub_base64_decode("YWJjYWJjYWJj", 12, out, sizeof out, &n) == M2MHUB_E_SPACE, "space");
    CHECK(m2mhub_hex_decode("0aFf", 4, out, 2) == 0 && out[0] == 10 && out[1] == 255, "hex");
    CHECK(m2mhub_hex_decode("0g", 2, out, 1) == M2MHUB_E_ARG, "bad hex");
}

/* Mutated payloads (bytes flipped, cut short, spliced) must be parsed or refused, never read
 * out of bounds (ASan) or overflow (UBSan). A deterministic PRNG keeps failures repeatable. */
static uint32_t rng = 2463534242u;
static uint32_t next_rand(void) {
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return rng;
}

static void test_mutations(void) {
    const char *seeds[3];
    char buf[1024], contents[32];
    int i, ok = 0;
    m2mhub_ack a;
    m2mhub_record r;
    m2mhub_checkpoint cp;
    uint8_t hashes[4][32];
    size_t n;
    seeds[0] = RECORD, seeds[1] = CHECKPOINTS[2].note,
    seeds[2] = "{\"path\":[\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"],\"seq\":1}";
    for (i = 0; i < 30000; i++) {
        const char *seed = seeds[i % 3];
        size_t len = strlen(seed), k, flips = 1 + next_rand() % 4;
        memcpy(buf, seed, len);
        for (k = 0; k < flips; k++) {
            size_t at = next_rand() % len;
            switch (next_rand() % 4) {
            case 0: buf[at] = (char)next_rand(); break;
            case 1: buf[at] = "{}[]\",:\\0-e.u"[next_rand() % 14]; break;
            case 2: len = at; break; /* cut short */
            default: buf[at] ^= (char)(1 << (next_rand() % 8)); break;
            }
            if (len == 0) break;
        }
        /* Parsers get exactly len bytes in a buffer of that size: ASan sees any read past. */
        {
            char *exact = (char *)malloc(len ? len : 1);
            if (exact == NULL) exit(2);
            memcpy(exact, buf, len);
            ok += m2mhub_parse_ack(exact, len, &a, contents, sizeof contents) == M2MHUB_OK;
            ok += m2mhub_parse_delivery(exact, len, &r, contents, sizeof contents) == M2MHUB_OK;
            ok += m2mhub_json_hashes(exact, len, "path", hashes, 4, &n) == M2MHUB_OK;
            ok += m2mhub_checkpoint_open(exact, len, LOG_KEY, m2mhub_sodium_verify, &cp) == M2MHUB_OK;
            free(exact);
        }
    }
    CHECK(ok > 0, "some mutations still parse");
}

int main(void) {
    size_t i;
    for (i = 0; i < sizeof BIG_CONTENTS; i++) BIG_CONTENTS[i] = (char)('a' + i % 26);
    test_signing_vectors(V1, N(V1));
    test_signing_vectors(V2, N(V2));
    test_connect_vectors();
    test_bad_fields();
    test_counter();
    test_sign_message_json();
    test_parse_acks();
    test_delivery();
    test_federated_delivery();
    test_record_against_entry();
    test_merkle();
    test_checkpoints();
    test_codecs();
    test_mutations();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
