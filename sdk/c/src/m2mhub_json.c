/* m2mhub_json.c: a small strict JSON reader (RFC 8259) for the hub's payloads: records,
 * refusals, deliveries, entries and proofs.
 *
 * Hand-written rather than vendored: the SDK needs strings unescaped into the caller's
 * buffers (jsmn, the usual single-header choice, only tokenizes and leaves \uXXXX decoding
 * and number conversion to the caller, which is most of the work here), exact u64 numbers
 * (no doubles), a nesting limit, duplicate-key refusal, and no heap. The reader walks the text
 * once per call; payloads are small. Unknown keys are skipped (the hub may add fields). */
#include "m2mhub.h"

#include <string.h>

#define MAX_DEPTH 16

typedef struct {
    const char *p, *end;
} reader;

static void ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int eat(reader *r, char c) {
    ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return 1;
    }
    return 0;
}

static int eat_word(reader *r, const char *w) {
    size_t n = strlen(w);
    ws(r);
    if ((size_t)(r->end - r->p) >= n && memcmp(r->p, w, n) == 0) {
        r->p += n;
        return 1;
    }
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(reader *r, unsigned *v) {
    int i;
    *v = 0;
    if (r->end - r->p < 4) return 0;
    for (i = 0; i < 4; i++) {
        int h = hexval(r->p[i]);
        if (h < 0) return 0;
        *v = *v << 4 | (unsigned)h;
    }
    r->p += 4;
    return 1;
}

/* Appends byte c to out (when out is not NULL); counts always. */
static void emit(char *out, size_t cap, size_t *n, char c) {
    if (out && *n + 1 < cap) out[*n] = c;
    (*n)++;
}

/* Reads a JSON string, unescaped into out[0..cap) NUL-terminated (out may be NULL: skip).
 * Control characters must be escaped; other raw bytes are copied as they are (the hub sends
 * UTF-8, and a delivery's signature check covers the contents' exact bytes). Returns 0 if
 * malformed, or if it does not fit. */
static int read_string(reader *r, char *out, size_t cap, size_t *len) {
    size_t n = 0;
    ws(r);
    if (r->p >= r->end || *r->p != '"') return 0;
    r->p++;
    for (;;) {
        unsigned char c;
        if (r->p >= r->end) return 0;
        c = (unsigned char)*r->p++;
        if (c == '"') break;
        if (c < 0x20) return 0;
        if (c != '\\') {
            emit(out, cap, &n, (char)c);
            continue;
        }
        if (r->p >= r->end) return 0;
        c = (unsigned char)*r->p++;
        switch (c) {
        case '"': case '\\': case '/': emit(out, cap, &n, (char)c); break;
        case 'b': emit(out, cap, &n, '\b'); break;
        case 'f': emit(out, cap, &n, '\f'); break;
        case 'n': emit(out, cap, &n, '\n'); break;
        case 'r': emit(out, cap, &n, '\r'); break;
        case 't': emit(out, cap, &n, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (!read_hex4(r, &cp)) return 0;
            if (cp >= 0xdc00 && cp <= 0xdfff) return 0; /* a lone low surrogate */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return 0;
                r->p += 2;
                if (!read_hex4(r, &lo) || lo < 0xdc00 || lo > 0xdfff) return 0;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x80) {
                emit(out, cap, &n, (char)cp);
            } else if (cp < 0x800) {
                emit(out, cap, &n, (char)(0xc0 | cp >> 6));
                emit(out, cap, &n, (char)(0x80 | (cp & 0x3f)));
            } else if (cp < 0x10000) {
                emit(out, cap, &n, (char)(0xe0 | cp >> 12));
                emit(out, cap, &n, (char)(0x80 | (cp >> 6 & 0x3f)));
                emit(out, cap, &n, (char)(0x80 | (cp & 0x3f)));
            } else {
                emit(out, cap, &n, (char)(0xf0 | cp >> 18));
                emit(out, cap, &n, (char)(0x80 | (cp >> 12 & 0x3f)));
                emit(out, cap, &n, (char)(0x80 | (cp >> 6 & 0x3f)));
                emit(out, cap, &n, (char)(0x80 | (cp & 0x3f)));
            }
            break;
        }
        default: return 0;
        }
    }
    if (out) {
        if (n >= cap) return 0;
        out[n] = '\0';
    }
    if (len) *len = n;
    return 1;
}

/* An unsigned integer that fits a u64: digits, no sign, fraction, exponent or leading 0. */
static int read_u64(reader *r, uint64_t *v) {
    const char *start;
    ws(r);
    start = r->p;
    *v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        unsigned d = (unsigned)(*r->p - '0');
        if (*v > (UINT64_MAX - d) / 10) return 0;
        *v = *v * 10 + d;
        r->p++;
    }
    if (r->p == start || (r->p - start > 1 && *start == '0')) return 0;
    return !(r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'));
}

static int skip_value(reader *r, int depth);

static int skip_number(reader *r) {
    const char *start;
    ws(r);
    start = r->p;
    if (r->p < r->end && *r->p == '-') r->p++;
    while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') || *r->p == '.' || *r->p == 'e' ||
                             *r->p == 'E' || *r->p == '+' || *r->p == '-'))
        r->p++;
    return r->p > start;
}

static int skip_value(reader *r, int depth) {
    if (depth > MAX_DEPTH) return 0;
    ws(r);
    if (r->p >= r->end) return 0;
    if (*r->p == '"') return read_string(r, NULL, 0, NULL);
    if (eat(r, '{')) {
        if (eat(r, '}')) return 1;
        do {
            if (!read_string(r, NULL, 0, NULL) || !eat(r, ':') || !skip_value(r, depth + 1))
                return 0;
        } while (eat(r, ','));
        return eat(r, '}');
    }
    if (eat(r, '[')) {
        if (eat(r, ']')) return 1;
        do {
            if (!skip_value(r, depth + 1)) return 0;
        } while (eat(r, ','));
        return eat(r, ']');
    }
    if (eat_word(r, "true") || eat_word(r, "false") || eat_word(r, "null")) return 1;
    return skip_number(r);
}

/* Walks the top-level object; calls field(ctx, key, r) for each key, which reads the value
 * (or returns -1 to have it skipped). Refuses duplicate keys among those it is told about. */
typedef int (*field_fn)(void *ctx, const char *key, reader *r);

static int walk_object(const char *json, size_t len, field_fn field, void *ctx) {
    reader r;
    char key[32];
    r.p = json, r.end = json + len;
    if (json == NULL || !eat(&r, '{')) return M2MHUB_E_JSON;
    if (!eat(&r, '}')) {
        do {
            size_t klen;
            int got;
            reader save = r;
            if (!read_string(&r, key, sizeof key, &klen)) {
                /* a key too long to be one of ours: skip it and its value */
                r = save;
                if (!read_string(&r, NULL, 0, NULL) || !eat(&r, ':') || !skip_value(&r, 1))
                    return M2MHUB_E_JSON;
                continue;
            }
            if (strlen(key) != klen || !eat(&r, ':')) return M2MHUB_E_JSON;
            got = field(ctx, key, &r);
            if (got == 0) return M2MHUB_E_JSON;
            if (got < 0 && !skip_value(&r, 1)) return M2MHUB_E_JSON;
        } while (eat(&r, ','));
        if (!eat(&r, '}')) return M2MHUB_E_JSON;
    }
    ws(&r);
    return r.p == r.end ? M2MHUB_OK : M2MHUB_E_JSON;
}

/* ---- Records, refusals, deliveries ---- */

enum {
    F_SEQ = 1 << 0, F_TX = 1 << 1, F_PROVENANCE = 1 << 2, F_SENDER = 1 << 3,
    F_RECEIVER = 1 << 4, F_ACTION = 1 << 5, F_CAUSE = 1 << 6, F_COUNTER = 1 << 7,
    F_CONTENTS = 1 << 8, F_VALID = 1 << 9, F_NOTICES = 1 << 10, F_BLOCK = 1 << 11,
    F_LEAF = 1 << 12, F_DUPLICATE = 1 << 13, F_SIGNATURE = 1 << 14, F_ERROR = 1 << 15,
    F_MESSAGE = 1 << 16, F_TIME = 1 << 17
};
#define F_RECORD (F_SEQ | F_TX | F_PROVENANCE | F_SENDER | F_RECEIVER | F_ACTION | F_CAUSE | \
                  F_COUNTER | F_VALID | F_NOTICES | F_BLOCK | F_LEAF)

static const char NOTICES[9][24] = {
    "sender_revoked", "unknown_receiver", "receiver_revoked", "unknown_transaction",
    "transaction_rejected", "transaction_closed", "not_a_participant",
    "insufficient_clearance", "bad_cause"};

typedef struct {
    m2mhub_ack *ack;
    char *contents;
    size_t cap;
    unsigned long seen;
} rec_ctx;

static int is_null(reader *r) { return eat_word(r, "null"); }

static int read_bool(reader *r, int *v) {
    if (eat_word(r, "true")) return *v = 1, 1;
    if (eat_word(r, "false")) return *v = 0, 1;
    return 0;
}

static int read_name(reader *r, char *out) {
    size_t n;
    return read_string(r, out, M2MHUB_QNAME_MAX + 1, &n) && n > 0 && strlen(out) == n;
}

static int read_hex_fixed(reader *r, uint8_t *out, size_t n) {
    char buf[129];
    size_t len;
    if (n > 64 || !read_string(r, buf, sizeof buf, &len)) return 0;
    return m2mhub_hex_decode(buf, len, out, n) == M2MHUB_OK;
}

static int record_field(void *vctx, const char *key, reader *r) {
    rec_ctx *c = (rec_ctx *)vctx;
    m2mhub_record *rec = &c->ack->record;
    unsigned long bit = 0;
    int ok = 1;
    if (!strcmp(key, "seq")) bit = F_SEQ, ok = read_u64(r, &rec->seq);
    else if (!strcmp(key, "tx")) bit = F_TX, ok = read_u64(r, &rec->tx);
    else if (!strcmp(key, "counter")) {
        bit = F_COUNTER, ok = read_u64(r, &rec->counter);
        c->ack->counter = rec->counter, c->ack->has_counter = ok;
    } else if (!strcmp(key, "block")) bit = F_BLOCK, ok = read_u64(r, &rec->block);
    else if (!strcmp(key, "cause")) {
        bit = F_CAUSE;
        rec->has_cause = !is_null(r);
        ok = !rec->has_cause || read_u64(r, &rec->cause);
    } else if (!strcmp(key, "provenance")) {
        bit = F_PROVENANCE;
        rec->has_provenance = !is_null(r);
        ok = !rec->has_provenance || read_name(r, rec->provenance);
    } else if (!strcmp(key, "sender")) bit = F_SENDER, ok = read_name(r, rec->sender);
    else if (!strcmp(key, "receiver")) bit = F_RECEIVER, ok = read_name(r, rec->receiver);
    else if (!strcmp(key, "action")) {
        char a[16];
        bit = F_ACTION;
        ok = read_string(r, a, sizeof a, NULL);
        if (ok && !strcmp(a, "begin")) rec->action = M2MHUB_BEGIN;
        else if (ok && !strcmp(a, "continue")) rec->action = M2MHUB_CONTINUE;
        else if (ok && !strcmp(a, "end")) rec->action = M2MHUB_END;
        else ok = 0;
    } else if (!strcmp(key, "valid")) bit = F_VALID, ok = read_bool(r, &rec->valid);
    else if (!strcmp(key, "duplicate")) bit = F_DUPLICATE, ok = read_bool(r, &rec->duplicate);
    else if (!strcmp(key, "leaf_hash")) bit = F_LEAF, ok = read_hex_fixed(r, rec->leaf_hash, 32);
    else if (!strcmp(key, "hub")) ok = rec->has_hub = read_name(r, rec->hub);
    else if (!strcmp(key, "signature")) {
        bit = F_SIGNATURE;
        ok = rec->has_signature = read_hex_fixed(r, rec->signature, 64);
    } else if (!strcmp(key, "contents")) {
        bit = F_CONTENTS;
        rec->has_contents = !is_null(r);
        if (rec->has_contents) {
            ok = c->contents != NULL &&
                 read_string(r, c->contents, c->cap, &rec->contents_len);
            rec->contents = c->contents;
        }
    } else if (!strcmp(key, "notices")) {
        bit = F_NOTICES;
        rec->notices = 0;
        ok = eat(r, '[');
        if (ok && !eat(r, ']')) {
            do {
                char code[32];
                int i, known = 0;
                if (!read_string(r, code, sizeof code, NULL)) {
                    /* A code longer than any we know: still a string, still a notice. */
                    if (!read_string(r, NULL, 0, NULL)) return 0;
                    rec->notices |= M2MHUB_NOTICE_OTHER;
                    continue;
                }
                for (i = 0; i < 9; i++)
                    if (!strcmp(code, NOTICES[i])) rec->notices |= (uint16_t)(1u << i), known = 1;
                if (!known) rec->notices |= M2MHUB_NOTICE_OTHER;
            } while (eat(r, ','));
            ok = eat(r, ']');
        }
    } else if (!strcmp(key, "error")) {
        bit = F_ERROR, ok = read_string(r, c->ack->error, sizeof c->ack->error, NULL);
    } else if (!strcmp(key, "message")) {
        /* For people: keep what fits. */
        reader save = *r;
        bit = F_MESSAGE;
        if (!read_string(r, c->ack->message, sizeof c->ack->message, NULL)) {
            *r = save;
            ok = read_string(r, NULL, 0, NULL);
            c->ack->message[0] = '\0';
        }
    } else if (!strcmp(key, "time")) {
        bit = F_TIME;
        ok = is_null(r) || read_string(r, NULL, 0, NULL);
    } else {
        return -1;
    }
    if (!ok || (c->seen & bit)) return 0;
    c->seen |= bit;
    return 1;
}

int m2mhub_parse_ack(const char *json, size_t len, m2mhub_ack *ack, char *contents_buf,
                     size_t cap) {
    rec_ctx c;
    int err;
    if (ack == NULL) return M2MHUB_E_ARG;
    memset(ack, 0, sizeof *ack);
    c.ack = ack, c.contents = contents_buf, c.cap = cap, c.seen = 0;
    err = walk_object(json, len, record_field, &c);
    if (err) return err;
    if (c.seen & F_ERROR) {
        ack->refused = 1;
        return M2MHUB_OK;
    }
    ack->has_counter = 0;
    if ((c.seen & F_RECORD) != F_RECORD) return M2MHUB_E_JSON;
    return M2MHUB_OK;
}

int m2mhub_parse_delivery(const char *json, size_t len, m2mhub_record *r, char *contents_buf,
                          size_t cap) {
    m2mhub_ack ack;
    int err;
    if (r == NULL) return M2MHUB_E_ARG;
    err = m2mhub_parse_ack(json, len, &ack, contents_buf, cap);
    if (err) return err;
    if (ack.refused || !ack.record.has_signature || !ack.record.has_contents)
        return M2MHUB_E_JSON;
    *r = ack.record;
    return M2MHUB_OK;
}

int m2mhub_refusal_is_transient(const char *error) {
    return error != NULL && (!strcmp(error, "unavailable") || !strcmp(error, "internal") ||
                             !strcmp(error, "too_many_failures"));
}

/* ---- Generic top-level fields ---- */

typedef struct {
    const char *key;
    char *out;
    size_t cap, len;
    uint8_t (*hashes)[32];
    size_t max, n;
    int found;
} get_ctx;

static int get_string_field(void *vctx, const char *key, reader *r) {
    get_ctx *g = (get_ctx *)vctx;
    if (strcmp(key, g->key) != 0) return -1;
    if (g->found) return 0;
    g->found = 1;
    return read_string(r, g->out, g->cap, &g->len);
}

static int get_hashes_field(void *vctx, const char *key, reader *r) {
    get_ctx *g = (get_ctx *)vctx;
    if (strcmp(key, g->key) != 0) return -1;
    if (g->found) return 0;
    g->found = 1;
    if (!eat(r, '[')) return 0;
    if (eat(r, ']')) return 1;
    do {
        if (g->n >= g->max || !read_hex_fixed(r, g->hashes[g->n], 32)) return 0;
        g->n++;
    } while (eat(r, ','));
    return eat(r, ']');
}

int m2mhub_json_string(const char *json, size_t len, const char *key, char *out, size_t cap,
                       size_t *out_len) {
    get_ctx g;
    int err;
    memset(&g, 0, sizeof g);
    g.key = key, g.out = out, g.cap = cap;
    if (key == NULL || out == NULL) return M2MHUB_E_ARG;
    err = walk_object(json, len, get_string_field, &g);
    if (err) return err;
    if (!g.found) return M2MHUB_E_JSON;
    if (out_len) *out_len = g.len;
    return M2MHUB_OK;
}

int m2mhub_json_hashes(const char *json, size_t len, const char *key, uint8_t (*hashes)[32],
                       size_t max, size_t *n) {
    get_ctx g;
    int err;
    memset(&g, 0, sizeof g);
    g.key = key, g.hashes = hashes, g.max = max;
    if (key == NULL || (hashes == NULL && max) || n == NULL) return M2MHUB_E_ARG;
    err = walk_object(json, len, get_hashes_field, &g);
    if (err) return err;
    if (!g.found) return M2MHUB_E_JSON;
    *n = g.n;
    return M2MHUB_OK;
}
