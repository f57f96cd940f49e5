/* stack_probe.c: peak stack of signing one message (core + libsodium), for `make size`. It
 * paints a stack region below the caller, signs, and counts the bytes overwritten. An
 * estimate (the compiler may place frames differently), but a measured one: Debian's
 * libsodium carries no -fstack-usage data. */
#include <stdio.h>
#include <string.h>

#include "m2mhub.h"
#include "m2mhub_sodium.h"

#define PAINT 65536

static uint64_t stored;
static int load(void *ctx, uint64_t *v) { (void)ctx; *v = stored; return 0; }
static int save(void *ctx, uint64_t v) { (void)ctx; stored = v; return 0; }

__attribute__((noinline)) static void paint(void) {
    volatile unsigned char region[PAINT];
    size_t i;
    for (i = 0; i < PAINT; i++) region[i] = 0xA5;
}

__attribute__((noinline)) static size_t measure(void) {
    volatile unsigned char region[PAINT];
    size_t i = 0;
    while (i < PAINT && region[i] == 0xA5) i++;
    return PAINT - i;
}

__attribute__((noinline)) static int sign_one(m2mhub_device *d) {
    static char json[512];
    m2mhub_fields f;
    uint8_t sig[64];
    size_t len;
    memset(&f, 0, sizeof f);
    f.receiver = "oven", f.action = M2MHUB_BEGIN, f.contents = "on", f.contents_len = 2;
    return m2mhub_sign_message(d, &f, sig, json, sizeof json, &len);
}

int main(void) {
    static const uint8_t seed[32] = {1};
    static m2mhub_sodium_key key;
    static m2mhub_signer signer;
    static m2mhub_counter_store store = {load, save, 0};
    static m2mhub_counter counter;
    static m2mhub_device d;
    size_t used;
    if (m2mhub_sodium_key_from_seed(&key, seed, 0) != 0) return 1;
    signer.sign = m2mhub_sodium_sign, signer.ctx = &key;
    m2mhub_counter_open(&counter, &store, 64);
    d.name = "door", d.signer = &signer, d.counter = &counter;
    paint();
    if (sign_one(&d) != 0) return 1;
    used = measure();
    printf("peak stack of signing one message (core + libsodium): about %zu bytes\n", used);
    return 0;
}
