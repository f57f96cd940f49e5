/* footprint.c: signs one message with the C core and libsodium, for `make size`. */
#include "m2mhub.h"
#include "m2mhub_sodium.h"

static uint64_t stored;
static int load(void *ctx, uint64_t *v) { (void)ctx; *v = stored; return 0; }
static int save(void *ctx, uint64_t v) { (void)ctx; stored = v; return 0; }

int main(void) {
    static const uint8_t seed[32] = {1};
    static char json[512];
    m2mhub_sodium_key key;
    m2mhub_signer signer = {m2mhub_sodium_sign, 0};
    m2mhub_counter_store store = {load, save, 0};
    m2mhub_counter counter;
    m2mhub_device d;
    m2mhub_fields f = {0, "oven", M2MHUB_BEGIN, 0, 0, 0, 0, "on", 2, 0};
    uint8_t sig[64];
    size_t len;
    if (m2mhub_sodium_key_from_seed(&key, seed, 0) != 0) return 1;
    signer.ctx = &key;
    if (m2mhub_counter_open(&counter, &store, 64) != 0) return 1;
    d.name = "door", d.signer = &signer, d.counter = &counter;
    return m2mhub_sign_message(&d, &f, sig, json, sizeof json, &len) == 0 ? 0 : 1;
}
