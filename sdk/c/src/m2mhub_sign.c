/* m2mhub_sign.c: signing bytes (SPEC §4.1, §7), the CONNECT password (SPEC §5.2), the counter
 * reserved ahead, and the signed message's JSON body. No heap, no globals. */
#include "m2mhub.h"

#include <string.h>

static const char MESSAGE_V1[] = "m2mhub/message/v1\n";
static const char MESSAGE_V2[] = "m2mhub/message/v2\n";
static const char CONNECT_V1[] = "m2mhub/connect/v1\n";
static const char ACTIONS[3][9] = {"begin", "continue", "end"};

static int name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Length of a SPEC §3.4 name of at most max characters ending at stop or NUL, else 0. */
static size_t name_len(const char *s, char stop) {
    size_t n = 0;
    while (s[n] != '\0' && s[n] != stop) {
        if (!name_char(s[n]) || ++n > M2MHUB_NAME_MAX) return 0;
    }
    return n;
}

static int valid_name(const char *s) { return s != NULL && name_len(s, '\0') > 0; }

/* name@hub, each part a name. */
static int valid_qualified(const char *s) {
    size_t n;
    if (s == NULL) return 0;
    n = name_len(s, '@');
    return n > 0 && s[n] == '@' && valid_name(s + n + 1);
}

typedef struct {
    uint8_t *p;
    size_t cap, len;
} out_buf;

static void put(out_buf *o, const void *data, size_t n) {
    if (o->len + n <= o->cap) memcpy(o->p + o->len, data, n);
    o->len += n;
}

static void put_u64(out_buf *o, uint64_t v) {
    uint8_t b[8];
    int i;
    for (i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (56 - 8 * i));
    put(o, b, 8);
}

static void put_str(out_buf *o, const char *s) {
    size_t n = strlen(s);
    uint8_t b[2];
    b[0] = (uint8_t)(n >> 8), b[1] = (uint8_t)n;
    put(o, b, 2);
    put(o, s, n);
}

static int check_fields(const m2mhub_fields *f) {
    if (f == NULL || (f->contents == NULL && f->contents_len != 0)) return M2MHUB_E_ARG;
    if ((unsigned)f->action > M2MHUB_END) return M2MHUB_E_ARG;
    if (f->has_cause && f->cause == UINT64_MAX) return M2MHUB_E_ARG; /* cause + 1 overflows */
    if (f->tx_hub == NULL) {
        if (!valid_name(f->sender) || !valid_name(f->receiver)) return M2MHUB_E_ARG;
    } else {
        if (!valid_qualified(f->sender) || !valid_qualified(f->receiver)) return M2MHUB_E_ARG;
        if (f->action == M2MHUB_BEGIN ? f->tx_hub[0] != '\0' : !valid_name(f->tx_hub))
            return M2MHUB_E_ARG;
    }
    return M2MHUB_OK;
}

int m2mhub_signing_bytes(const m2mhub_fields *f, uint8_t *out, size_t cap, size_t *len) {
    out_buf o;
    uint8_t action, hash[32];
    m2mhub_sha256 h;
    int err = check_fields(f);
    if (err) return err;
    o.p = out, o.cap = out ? cap : 0, o.len = 0;
    put(&o, f->tx_hub ? MESSAGE_V2 : MESSAGE_V1, sizeof MESSAGE_V1 - 1);
    put_str(&o, f->sender);
    put_str(&o, f->receiver);
    action = (uint8_t)f->action;
    put(&o, &action, 1);
    put_u64(&o, f->action == M2MHUB_BEGIN ? 0 : f->tx);
    if (f->tx_hub) put_str(&o, f->tx_hub);
    put_u64(&o, f->has_cause ? f->cause + 1 : 0);
    put_u64(&o, f->counter);
    m2mhub_sha256_init(&h);
    m2mhub_sha256_update(&h, f->contents ? f->contents : "", f->contents_len);
    m2mhub_sha256_final(&h, hash);
    put(&o, hash, 32);
    if (len) *len = o.len;
    return o.len <= o.cap ? M2MHUB_OK : M2MHUB_E_SPACE;
}

int m2mhub_connect_signing_bytes(const char *name, uint64_t unix_s, uint8_t *out, size_t cap,
                                 size_t *len) {
    out_buf o;
    if (!valid_name(name)) return M2MHUB_E_ARG;
    o.p = out, o.cap = out ? cap : 0, o.len = 0;
    put(&o, CONNECT_V1, sizeof CONNECT_V1 - 1);
    put_str(&o, name);
    put_u64(&o, unix_s);
    if (len) *len = o.len;
    return o.len <= o.cap ? M2MHUB_OK : M2MHUB_E_SPACE;
}

void m2mhub_hex_encode(const uint8_t *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Decimal digits of v into out (no NUL); returns their number (1-20). */
static size_t u64_decimal(uint64_t v, char out[20]) {
    char tmp[20];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

int m2mhub_connect_password(const m2mhub_signer *signer, const char *name, uint64_t unix_s,
                            char out[M2MHUB_PASSWORD_MAX]) {
    uint8_t msg[18 + 2 + M2MHUB_NAME_MAX + 8], sig[64];
    size_t len, n;
    int err;
    if (signer == NULL || signer->sign == NULL || out == NULL) return M2MHUB_E_ARG;
    err = m2mhub_connect_signing_bytes(name, unix_s, msg, sizeof msg, &len);
    if (err) return err;
    if (signer->sign(signer->ctx, msg, len, sig) != 0) return M2MHUB_E_SIGNER;
    n = u64_decimal(unix_s, out);
    out[n] = '.';
    m2mhub_hex_encode(sig, 64, out + n + 1);
    return M2MHUB_OK;
}

/* ---- The counter ---- */

int m2mhub_counter_open(m2mhub_counter *c, const m2mhub_counter_store *store, uint64_t reserve) {
    uint64_t v = 0;
    if (c == NULL || store == NULL || store->load == NULL || store->save == NULL)
        return M2MHUB_E_ARG;
    if (store->load(store->ctx, &v) != 0) return M2MHUB_E_STORE;
    c->last = v;
    c->reserved = v; /* nothing above the stored value is reserved until saved */
    c->reserve = reserve ? reserve : 1;
    c->store = store;
    return M2MHUB_OK;
}

int m2mhub_counter_next(m2mhub_counter *c, uint64_t *value) {
    uint64_t next;
    if (c == NULL || value == NULL || c->store == NULL) return M2MHUB_E_ARG;
    if (c->last == UINT64_MAX) return M2MHUB_E_EXHAUSTED;
    next = c->last + 1;
    if (next > c->reserved) {
        uint64_t reserved = UINT64_MAX - next < c->reserve - 1 ? UINT64_MAX : next + (c->reserve - 1);
        /* Durable before any value of the block is handed out. */
        if (c->store->save(c->store->ctx, reserved) != 0) return M2MHUB_E_STORE;
        c->reserved = reserved;
    }
    c->last = next;
    *value = next;
    return M2MHUB_OK;
}

/* ---- JSON ---- */

typedef struct {
    char *p;
    size_t cap, len;
} json_buf;

static void jput(json_buf *j, const char *s, size_t n) {
    if (j->len + n < j->cap) memcpy(j->p + j->len, s, n);
    j->len += n;
}

static void jputs(json_buf *j, const char *s) { jput(j, s, strlen(s)); }

static void jput_u64(json_buf *j, uint64_t v) {
    char d[20];
    jput(j, d, u64_decimal(v, d));
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len, i;
    unsigned long cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return 0;
    if (n < len) return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped (RFC 8259 §7); UTF-8
 * passes through after validation. */
static int jput_string(json_buf *j, const char *s, size_t n) {
    static const char hexd[] = "0123456789abcdef";
    size_t i = 0;
    jput(j, "\"", 1);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k;
        if (c == '"' || c == '\\') {
            char e[2];
            e[0] = '\\', e[1] = (char)c;
            jput(j, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', 0, 0};
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                              : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named) {
                jput(j, named, 2);
            } else {
                e[4] = hexd[c >> 4], e[5] = hexd[c & 15];
                jput(j, e, 6);
            }
            i++;
        } else {
            k = utf8_seq((const unsigned char *)s + i, n - i);
            if (k == 0) return M2MHUB_E_UTF8;
            jput(j, s + i, k);
            i += k;
        }
    }
    jput(j, "\"", 1);
    return M2MHUB_OK;
}

int m2mhub_message_json(const m2mhub_fields *f, const uint8_t signature[64], char *json,
                        size_t cap, size_t *json_len) {
    json_buf j;
    char sig_hex[129];
    int err = check_fields(f);
    if (err) return err;
    if (signature == NULL) return M2MHUB_E_ARG;
    j.p = json, j.cap = json ? cap : 0, j.len = 0;
    jputs(&j, "{\"sender\":\"");
    jputs(&j, f->sender); /* names need no escaping: A-Z a-z 0-9 _ . - @ */
    jputs(&j, "\",\"receiver\":\"");
    jputs(&j, f->receiver);
    jputs(&j, "\",\"action\":\"");
    jputs(&j, ACTIONS[f->action]);
    jputs(&j, "\"");
    if (f->action != M2MHUB_BEGIN && f->tx != 0) {
        jputs(&j, ",\"tx\":");
        jput_u64(&j, f->tx);
    }
    if (f->tx_hub && f->tx_hub[0]) {
        jputs(&j, ",\"tx_hub\":\"");
        jputs(&j, f->tx_hub);
        jputs(&j, "\"");
    }
    if (f->has_cause) {
        jputs(&j, ",\"cause\":");
        jput_u64(&j, f->cause);
    }
    jputs(&j, ",\"counter\":");
    jput_u64(&j, f->counter);
    jputs(&j, ",\"contents\":");
    err = jput_string(&j, f->contents ? f->contents : "", f->contents_len);
    if (err) return err;
    m2mhub_hex_encode(signature, 64, sig_hex);
    jputs(&j, ",\"signature\":\"");
    jputs(&j, sig_hex);
    jputs(&j, "\"}");
    if (json_len) *json_len = j.len;
    if (j.len >= j.cap) return M2MHUB_E_SPACE; /* room for the NUL too */
    json[j.len] = '\0';
    return M2MHUB_OK;
}

int m2mhub_sign_message(m2mhub_device *d, m2mhub_fields *f, uint8_t signature[64], char *json,
                        size_t cap, size_t *json_len) {
    uint8_t msg[M2MHUB_SIGNING_MAX];
    uint8_t zero[64] = {0};
    size_t len, need;
    uint64_t counter;
    int err;
    if (d == NULL || f == NULL || d->signer == NULL || d->signer->sign == NULL ||
        d->counter == NULL || signature == NULL)
        return M2MHUB_E_ARG;
    if (f->tx_hub == NULL || f->sender == NULL) f->sender = d->name;
    /* Check everything that can fail before a counter value is spent: the fields, the
     * contents' UTF-8 and the buffer's size (the counter's digits do not change the length
     * by more than the 20 digits of the largest value, so size with UINT64_MAX). */
    f->counter = UINT64_MAX;
    err = m2mhub_message_json(f, zero, NULL, 0, &need);
    if (err != M2MHUB_OK && err != M2MHUB_E_SPACE) return err;
    if (need >= cap) {
        if (json_len) *json_len = need;
        return M2MHUB_E_SPACE;
    }
    err = m2mhub_counter_next(d->counter, &counter);
    if (err) return err;
    f->counter = counter;
    err = m2mhub_signing_bytes(f, msg, sizeof msg, &len);
    if (err) return err;
    if (d->signer->sign(d->signer->ctx, msg, len, signature) != 0) return M2MHUB_E_SIGNER;
    return m2mhub_message_json(f, signature, json, cap, json_len);
}
