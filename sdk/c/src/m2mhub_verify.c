/* m2mhub_verify.c: checking what the hub says: a delivery's signature, a checkpoint's signed
 * note (C2SP signed-note and tlog-checkpoint, SPEC §4.3) and an inclusion proof (RFC 9162
 * §2.1.3.2, SPEC §4.2). Read as strictly as the hub's own m2mhub-core reads them. */
#include "m2mhub.h"

#include <string.h>

int m2mhub_hex_decode(const char *in, size_t len, uint8_t *out, size_t n) {
    size_t i;
    if (in == NULL || out == NULL || len != 2 * n) return M2MHUB_E_ARG;
    for (i = 0; i < 2 * n; i++) {
        char c = in[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) return M2MHUB_E_ARG;
        if (i % 2 == 0) out[i / 2] = (uint8_t)(v << 4);
        else out[i / 2] |= (uint8_t)v;
    }
    return M2MHUB_OK;
}

static int b64val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int m2mhub_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
    size_t i, n = 0;
    if (in == NULL || len % 4 != 0) return M2MHUB_E_ARG;
    for (i = 0; i < len; i += 4) {
        int v[4], j, pad = 0;
        uint32_t w;
        for (j = 0; j < 4; j++) {
            if (in[i + j] == '=' && i + 4 == len && j >= 2) {
                v[j] = 0, pad++;
            } else {
                if (pad) return M2MHUB_E_ARG; /* data after padding */
                v[j] = b64val(in[i + j]);
                if (v[j] < 0) return M2MHUB_E_ARG;
            }
        }
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Canonical: the bits padding leaves unused are zero. */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))) return M2MHUB_E_ARG;
        if (n + 3 - (size_t)pad > cap) return M2MHUB_E_SPACE;
        out[n++] = (uint8_t)(w >> 16);
        if (pad < 2) out[n++] = (uint8_t)(w >> 8);
        if (pad < 1) out[n++] = (uint8_t)w;
    }
    if (out_len) *out_len = n;
    return M2MHUB_OK;
}

/* name as name@hub into out (M2MHUB_QNAME_MAX + 1): itself when already qualified. */
static int qualify(const char *name, const char *hub, char *out) {
    size_t n = strlen(name), h = strchr(name, '@') ? 0 : strlen(hub);
    if (n + (h ? 1 + h : 0) > M2MHUB_QNAME_MAX) return 1;
    memcpy(out, name, n);
    if (h) out[n] = '@', memcpy(out + n + 1, hub, h), n += 1 + h;
    out[n] = '\0';
    return 0;
}

int m2mhub_verify_delivery(const m2mhub_record *r, const uint8_t sender_key[32],
                           m2mhub_verify_fn verify) {
    m2mhub_fields f;
    uint8_t msg[M2MHUB_SIGNING_MAX];
    char sender[M2MHUB_QNAME_MAX + 1], receiver[M2MHUB_QNAME_MAX + 1];
    size_t len;
    if (r == NULL || sender_key == NULL || verify == NULL || !r->has_signature ||
        !r->has_contents)
        return M2MHUB_E_ARG;
    memset(&f, 0, sizeof f);
    f.sender = r->sender, f.receiver = r->receiver, f.action = r->action;
    if (r->has_hub) {
        /* The federation form (SPEC §7): every name as name@hub, the recording hub's own
         * devices bare in the record; tx_hub is that hub, empty for a begin. */
        if (qualify(r->sender, r->hub, sender) || qualify(r->receiver, r->hub, receiver))
            return M2MHUB_E_VERIFY;
        f.sender = sender, f.receiver = receiver;
        f.tx_hub = r->action == M2MHUB_BEGIN ? "" : r->hub;
    }
    f.tx = r->action == M2MHUB_BEGIN ? 0 : r->tx; /* a begin was signed before its tx existed */
    f.has_cause = r->has_cause, f.cause = r->cause, f.counter = r->counter;
    f.contents = r->contents, f.contents_len = r->contents_len;
    if (m2mhub_signing_bytes(&f, msg, sizeof msg, &len) != M2MHUB_OK) return M2MHUB_E_VERIFY;
    return verify(sender_key, msg, len, r->signature) == 0 ? M2MHUB_OK : M2MHUB_E_VERIFY;
}

void m2mhub_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[32]) {
    m2mhub_sha256 s;
    uint8_t zero = 0;
    m2mhub_sha256_init(&s);
    m2mhub_sha256_update(&s, &zero, 1);
    m2mhub_sha256_update(&s, entry, len);
    m2mhub_sha256_final(&s, out);
}

static void node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32]) {
    m2mhub_sha256 s;
    uint8_t one = 1;
    m2mhub_sha256_init(&s);
    m2mhub_sha256_update(&s, &one, 1);
    m2mhub_sha256_update(&s, l, 32);
    m2mhub_sha256_update(&s, r, 32);
    m2mhub_sha256_final(&s, out);
}

int m2mhub_verify_inclusion(const uint8_t leaf[32], uint64_t index, uint64_t tree_size,
                            const uint8_t (*path)[32], size_t path_len, const uint8_t root[32]) {
    uint64_t fn = index, sn;
    uint8_t r[32];
    size_t i;
    if (leaf == NULL || root == NULL || (path == NULL && path_len)) return M2MHUB_E_ARG;
    if (index >= tree_size) return M2MHUB_E_VERIFY;
    sn = tree_size - 1;
    memcpy(r, leaf, 32);
    for (i = 0; i < path_len; i++) {
        if (sn == 0) return M2MHUB_E_VERIFY;
        if ((fn & 1) || fn == sn) {
            node_hash(path[i], r, r);
            while (!(fn & 1) && fn != 0) fn >>= 1, sn >>= 1;
        } else {
            node_hash(r, path[i], r);
        }
        fn >>= 1, sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, 32) == 0 ? M2MHUB_OK : M2MHUB_E_VERIFY;
}

/* ---- Signed notes and checkpoints ---- */

/* C2SP signed-note key names: non-empty, no Unicode space, '+' or ASCII control character
 * (checked for ASCII; a multi-byte space in a pinned key line is the caller's doing). */
static int key_name_ok(const char *s, size_t n) {
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == '+' || s[i] == 0x7f) return 0;
    return 1;
}

/* A decimal u64 without sign or leading zeros (except "0"). */
static int decimal(const char *s, size_t n, uint64_t *v) {
    size_t i;
    *v = 0;
    if (n == 0 || (n > 1 && s[0] == '0')) return 0;
    for (i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') return 0;
        d = (unsigned)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10) return 0;
        *v = *v * 10 + d;
    }
    return 1;
}

static int hash_b64(const char *s, size_t n, uint8_t out[32]) {
    size_t len;
    return n == 44 && m2mhub_base64_decode(s, n, out, 32, &len) == M2MHUB_OK && len == 32;
}

/* Next line of text[*pos..end) without its '\n' (which must be there). */
static int next_line(const char *text, size_t end, size_t *pos, const char **line, size_t *n) {
    const char *nl;
    if (*pos >= end) return 0;
    nl = memchr(text + *pos, '\n', end - *pos);
    if (nl == NULL) return 0;
    *line = text + *pos;
    *n = (size_t)(nl - *line);
    *pos += *n + 1;
    return *n > 0; /* C2SP: no empty lines in a checkpoint */
}

static int parse_body(const char *text, size_t len, const char *origin, size_t origin_len,
                      m2mhub_checkpoint *cp) {
    const char *line, *prev;
    size_t n, pos = 0;
    uint64_t t;
    uint8_t prev_hash[32];
    if (!next_line(text, len, &pos, &line, &n) || n != origin_len || memcmp(line, origin, n))
        return 0;
    if (!next_line(text, len, &pos, &line, &n) || !decimal(line, n, &cp->tree_size)) return 0;
    if (!next_line(text, len, &pos, &line, &n) || !hash_b64(line, n, cp->root)) return 0;
    if (!next_line(text, len, &pos, &line, &n) || n < 6 || memcmp(line, "block ", 6)) return 0;
    prev = memchr(line + 6, ' ', n - 6);
    if (prev == NULL || !decimal(line + 6, (size_t)(prev - line - 6), &cp->block)) return 0;
    n -= (size_t)(prev - line);
    if (n < 6 || memcmp(prev, " prev ", 6) || !hash_b64(prev + 6, n - 6, prev_hash)) return 0;
    if (pos == len) return 1;
    if (!next_line(text, len, &pos, &line, &n) || n < 5 || memcmp(line, "time ", 5) ||
        !decimal(line + 5, n - 5, &t))
        return 0;
    return pos == len;
}

int m2mhub_checkpoint_open(const char *note, size_t note_len, const char *key_line,
                           m2mhub_verify_fn verify, m2mhub_checkpoint *cp) {
    static const char dash[] = "\xe2\x80\x94 "; /* U+2014 EM DASH, then a space */
    const char *plus1, *plus2, *sigs;
    size_t name_len, i, text_len, pos, klen = 0;
    uint8_t kraw[33], id[4], want_id[32];
    m2mhub_sha256 s;
    int verified = 0;
    if (note == NULL || key_line == NULL || verify == NULL || cp == NULL) return M2MHUB_E_ARG;
    /* The key line: <name>+<8 lowercase hex>+<base64(0x01 || key)>. */
    plus1 = strchr(key_line, '+');
    if (plus1 == NULL) return M2MHUB_E_ARG;
    plus2 = strchr(plus1 + 1, '+');
    name_len = (size_t)(plus1 - key_line);
    if (plus2 == NULL || plus2 - plus1 != 9 || !key_name_ok(key_line, name_len)) return M2MHUB_E_ARG;
    for (i = 1; i < 9; i++)
        if (!((plus1[i] >= '0' && plus1[i] <= '9') || (plus1[i] >= 'a' && plus1[i] <= 'f')))
            return M2MHUB_E_ARG;
    if (m2mhub_hex_decode(plus1 + 1, 8, id, 4) != M2MHUB_OK) return M2MHUB_E_ARG;
    i = strlen(plus2 + 1);
    while (i > 0 && (plus2[i] == '\n' || plus2[i] == '\r')) i--; /* a trailing newline */
    if (m2mhub_base64_decode(plus2 + 1, i, kraw, sizeof kraw, &klen) != M2MHUB_OK ||
        klen != 33 || kraw[0] != 0x01)
        return M2MHUB_E_ARG;
    m2mhub_sha256_init(&s);
    m2mhub_sha256_update(&s, key_line, name_len);
    m2mhub_sha256_update(&s, "\n", 1);
    m2mhub_sha256_update(&s, kraw, 33);
    m2mhub_sha256_final(&s, want_id);
    if (memcmp(want_id, id, 4) != 0) return M2MHUB_E_ARG;

    /* The note: text, a blank line, signature lines; no control characters but '\n'. */
    for (i = 0; i < note_len; i++)
        if ((unsigned char)note[i] < 0x20 && note[i] != '\n') return M2MHUB_E_VERIFY;
    for (i = note_len; i >= 2; i--)
        if (note[i - 1] == '\n' && note[i - 2] == '\n') break;
    if (i < 2 || i == note_len || note[note_len - 1] != '\n') return M2MHUB_E_VERIFY;
    text_len = i - 1; /* the text keeps its final newline */
    sigs = note + i;
    pos = 0;
    while (pos < note_len - i) {
        const char *line = sigs + pos, *sp, *nl = memchr(line, '\n', note_len - i - pos);
        size_t n = (size_t)(nl - line), blen;
        uint8_t blob[4 + 256];
        int err;
        pos += n + 1;
        if (n < 4 || memcmp(line, dash, 4) != 0) return M2MHUB_E_VERIFY;
        sp = memchr(line + 4, ' ', n - 4);
        if (sp == NULL || !key_name_ok(line + 4, (size_t)(sp - line - 4))) return M2MHUB_E_VERIFY;
        err = m2mhub_base64_decode(sp + 1, n - (size_t)(sp + 1 - line), blob, sizeof blob,
                                   &blen);
        if (err == M2MHUB_E_SPACE) continue; /* another algorithm's long signature: not ours */
        if (err != M2MHUB_OK) return M2MHUB_E_VERIFY;
        if (blen < 5) return M2MHUB_E_VERIFY;
        if ((size_t)(sp - line - 4) != name_len || memcmp(line + 4, key_line, name_len) ||
            memcmp(blob, id, 4))
            continue; /* C2SP: ignore other keys */
        if (blen != 68 || verify(kraw + 1, (const uint8_t *)note, text_len, blob + 4) != 0)
            return M2MHUB_E_VERIFY;
        verified = 1;
    }
    if (!verified) return M2MHUB_E_VERIFY;
    return parse_body(note, text_len, key_line, name_len, cp) ? M2MHUB_OK : M2MHUB_E_VERIFY;
}

/* ---- A record against its entry bytes ---- */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} entry_reader;

static const uint8_t *take(entry_reader *e, size_t n) {
    const uint8_t *at;
    if (e->len - e->pos < n) return NULL;
    at = e->p + e->pos;
    e->pos += n;
    return at;
}

static int take_u64(entry_reader *e, uint64_t *v) {
    const uint8_t *b = take(e, 8);
    int i;
    if (b == NULL) return 0;
    for (*v = 0, i = 0; i < 8; i++) *v = *v << 8 | b[i];
    return 1;
}

/* A u16-length-prefixed name equal to `want` (NULL or "" for an empty one). */
static int take_name_eq(entry_reader *e, const char *want) {
    const uint8_t *b = take(e, 2), *name;
    size_t n, wn = want ? strlen(want) : 0;
    if (b == NULL) return 0;
    n = (size_t)b[0] << 8 | b[1];
    name = take(e, n);
    return name != NULL && n == wn && (n == 0 || memcmp(name, want, n) == 0);
}

int m2mhub_check_record_entry(const m2mhub_record *r, const uint8_t *entry, size_t len) {
    entry_reader e;
    const uint8_t *b, *hash, *sig;
    uint64_t tx, cause1, counter;
    uint16_t notices;
    if (r == NULL || entry == NULL) return M2MHUB_E_ARG;
    e.p = entry, e.len = len, e.pos = 0;
    b = take(&e, 2);
    if (b == NULL || b[0] != 1 || b[1] != 5) return M2MHUB_E_VERIFY; /* v1, a message */
    if (!take_name_eq(&e, r->sender) || !take_name_eq(&e, r->receiver)) return M2MHUB_E_VERIFY;
    b = take(&e, 1);
    if (b == NULL || b[0] != (uint8_t)r->action) return M2MHUB_E_VERIFY;
    if (!take_u64(&e, &tx) || !take_u64(&e, &cause1) || !take_u64(&e, &counter))
        return M2MHUB_E_VERIFY;
    if (tx != r->tx || counter != r->counter) return M2MHUB_E_VERIFY;
    if (r->has_cause ? cause1 == 0 || cause1 - 1 != r->cause : cause1 != 0) return M2MHUB_E_VERIFY;
    hash = take(&e, 32);
    sig = take(&e, 64);
    if (hash == NULL || sig == NULL) return M2MHUB_E_VERIFY;
    if (!take_name_eq(&e, r->has_provenance ? r->provenance : NULL)) return M2MHUB_E_VERIFY;
    b = take(&e, 2);
    if (b == NULL || e.pos != e.len) return M2MHUB_E_VERIFY;
    notices = (uint16_t)(b[0] << 8 | b[1]);
    if (notices != r->notices || r->valid != (notices == 0)) return M2MHUB_E_VERIFY;
    if (r->has_contents) {
        m2mhub_sha256 s;
        uint8_t h[32];
        m2mhub_sha256_init(&s);
        m2mhub_sha256_update(&s, r->contents, r->contents_len);
        m2mhub_sha256_final(&s, h);
        if (memcmp(h, hash, 32) != 0) return M2MHUB_E_VERIFY;
    }
    if (r->has_signature && memcmp(sig, r->signature, 64) != 0) return M2MHUB_E_VERIFY;
    return M2MHUB_OK;
}
