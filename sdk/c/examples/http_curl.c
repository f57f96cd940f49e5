/* http_curl.c: a device sends one signed message over HTTP with libcurl, and, given the hub's
 * pinned key line, checks that its record is in the tree of the hub's signed checkpoint.
 *
 *   m2mhub-http --url http://127.0.0.1:8080 --name NAME --key PREFIX --to RECEIVER
 *               [--action begin|continue|end] [--tx N] [--cause N] [--contents TEXT]
 *               [--hub-key "<name>+<id>+<key>"] [--reserve N]
 *
 * Prints the hub's record (JSON) on stdout; with --hub-key, checks it against its entry bytes
 * and their inclusion in the tree of the hub's signed checkpoint. Exit status: 0 recorded (and verified, with
 * --hub-key), 2 refused, 3 verification failed, 1 anything else.
 *
 * Retries are safe: an unanswered POST (connection error, timeout, 5xx, 429) is sent again
 * byte for byte; the hub answers an exact resubmission with the original record (SPEC §3.2).
 * A stale_counter refusal proves nothing was recorded: the message is signed again with the
 * next counter value, as the Rust and Python SDKs do. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example_util.h"

/* Answers are small (a record, a proof, a checkpoint); contents are at most 16 KiB. */
#define ANSWER_MAX (8 * M2MHUB_CONTENTS_MAX)

typedef struct {
    char data[ANSWER_MAX];
    size_t len;
    int overflow;
} answer;

static size_t collect(char *p, size_t size, size_t n, void *ctx) {
    answer *a = (answer *)ctx;
    size_t bytes = size * n;
    if (a->len + bytes >= sizeof a->data) {
        a->overflow = 1;
        return 0;
    }
    memcpy(a->data + a->len, p, bytes);
    a->len += bytes;
    a->data[a->len] = '\0';
    return bytes;
}

/* One request; returns the HTTP status, or -1 when the hub could not be reached. */
static long request(CURL *curl, const char *url, const char *body, size_t body_len, answer *a) {
    struct curl_slist *headers = NULL;
    long status = -1;
    CURLcode rc;
    a->len = 0, a->overflow = 0, a->data[0] = '\0';
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK && !a->overflow) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else fprintf(stderr, "%s: %s\n", url, a->overflow ? "answer too long" : curl_easy_strerror(rc));
    curl_slist_free_all(headers);
    return status;
}

static void pause_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000, t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* Checks that the record is entry `seq` of the tree of the hub's signed checkpoint: the entry
 * bytes hash to the record's leaf hash and say what the record says, and the inclusion proof
 * leads to the signed root. */
static int verify_included(CURL *curl, const char *base, const char *key_line,
                           const m2mhub_record *r) {
    static answer a;
    static uint8_t entry[4096], path[64][32];
    static char b64[8192];
    char url[1024];
    m2mhub_checkpoint cp;
    uint8_t leaf[32];
    size_t n, len;
    int err;
    snprintf(url, sizeof url, "%s/v1/checkpoint", base);
    if (request(curl, url, NULL, 0, &a) != 200) return M2MHUB_E_VERIFY;
    err = m2mhub_checkpoint_open(a.data, a.len, key_line, m2mhub_sodium_verify, &cp);
    if (err) return fprintf(stderr, "checkpoint: %s\n", m2mhub_strerror(err)), err;
    snprintf(url, sizeof url, "%s/v1/entries/%" PRIu64, base, r->seq);
    if (request(curl, url, NULL, 0, &a) != 200) return M2MHUB_E_VERIFY;
    if (m2mhub_json_string(a.data, a.len, "entry_bytes", b64, sizeof b64, &n) ||
        m2mhub_base64_decode(b64, n, entry, sizeof entry, &len))
        return M2MHUB_E_VERIFY;
    m2mhub_leaf_hash(entry, len, leaf);
    if (memcmp(leaf, r->leaf_hash, 32) != 0 || m2mhub_check_record_entry(r, entry, len)) {
        fprintf(stderr, "record %" PRIu64 ": it is not what its entry says\n", r->seq);
        return M2MHUB_E_VERIFY;
    }
    snprintf(url, sizeof url, "%s/v1/proof/inclusion?seq=%" PRIu64 "&tree_size=%" PRIu64, base,
             r->seq, cp.tree_size);
    if (request(curl, url, NULL, 0, &a) != 200 ||
        m2mhub_json_hashes(a.data, a.len, "path", path, 64, &n))
        return M2MHUB_E_VERIFY;
    err = m2mhub_verify_inclusion(leaf, r->seq, cp.tree_size, (const uint8_t(*)[32])path, n,
                                  cp.root);
    if (err == M2MHUB_OK)
        fprintf(stderr, "record %" PRIu64 " is in the signed tree of size %" PRIu64 " (block %"
                PRIu64 ")\n", r->seq, cp.tree_size, cp.block);
    return err;
}

int main(int argc, char **argv) {
    static file_device fd;
    static char json[M2MHUB_JSON_MAX], contents_back[M2MHUB_CONTENTS_MAX + 1];
    static answer a;
    const char *url = arg(argc, argv, "--url"), *name = arg(argc, argv, "--name");
    const char *prefix = arg(argc, argv, "--key"), *to = arg(argc, argv, "--to");
    const char *contents = arg(argc, argv, "--contents"), *key_line = arg(argc, argv, "--hub-key");
    char post_url[1024];
    m2mhub_fields f;
    m2mhub_ack ack;
    uint8_t sig[64];
    size_t len;
    int err, attempt, resigns = 0;
    long status = -1;
    CURL *curl;
    if (!url || !name || !prefix || !to) {
        fprintf(stderr, "usage: %s --url URL --name NAME --key PREFIX --to RECEIVER [--action A]"
                        " [--tx N] [--cause N] [--contents TEXT] [--hub-key LINE]\n", argv[0]);
        return 64;
    }
    if (file_device_open(&fd, name, prefix, arg_u64(argc, argv, "--reserve", 1))) return 1;
    memset(&f, 0, sizeof f);
    f.receiver = to, f.action = arg_action(argc, argv), f.tx = arg_u64(argc, argv, "--tx", 0);
    f.has_cause = arg(argc, argv, "--cause") != NULL;
    f.cause = arg_u64(argc, argv, "--cause", 0);
    f.contents = contents ? contents : "", f.contents_len = strlen(f.contents);
    err = m2mhub_sign_message(&fd.device, &f, sig, json, sizeof json, &len);
    if (err) return fprintf(stderr, "signing: %s\n", m2mhub_strerror(err)), 1;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    snprintf(post_url, sizeof post_url, "%s/v1/messages", url);
    for (attempt = 0; attempt < 6; attempt++) {
        if (attempt) pause_ms(100L << (attempt < 5 ? attempt : 5));
        status = request(curl, post_url, json, len, &a);
        if (status == 200) break;
        if (status < 0 || status >= 500 || status == 429) continue; /* the same bytes again */
        if (m2mhub_parse_ack(a.data, a.len, &ack, NULL, 0) == M2MHUB_OK && ack.refused &&
            !strcmp(ack.error, "stale_counter") && resigns++ < 3) {
            err = m2mhub_sign_message(&fd.device, &f, sig, json, sizeof json, &len);
            if (err) break;
            attempt = -1; /* a new message: its own retries */
            continue;
        }
        break;
    }
    if (status < 0) return fprintf(stderr, "no answer from %s\n", url), 1;
    err = m2mhub_parse_ack(a.data, a.len, &ack, contents_back, sizeof contents_back);
    if (err) return fprintf(stderr, "answer %ld: %s: %s\n", status, m2mhub_strerror(err), a.data), 1;
    if (ack.refused) return fprintf(stderr, "refused: %s: %s\n", ack.error, ack.message), 2;
    printf("%s\n", a.data);
    fflush(stdout);
    if (key_line) {
        err = verify_included(curl, url, key_line, &ack.record);
        if (err) return fprintf(stderr, "verification: %s\n", m2mhub_strerror(err)), 3;
    }
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return 0;
}
