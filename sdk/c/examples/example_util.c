/* example_util.c: key and counter files and argument parsing for the Linux examples. */
#include "example_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int file_load(void *ctx, uint64_t *value) {
    const char *path = (const char *)ctx;
    char buf[32];
    size_t n;
    FILE *f = fopen(path, "r");
    *value = 0;
    if (f == NULL) return errno == ENOENT ? 0 : -1; /* never written: start at 0 */
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
    buf[n] = '\0';
    if (n == 0 || n > 20) return -1;
    {
        char *end;
        errno = 0;
        *value = strtoull(buf, &end, 10);
        if (errno || *end || buf[0] < '0' || buf[0] > '9') return -1;
    }
    return 0;
}

/* Durable: a temporary file, fsync, rename over the old one, fsync of the directory. */
static int file_save(void *ctx, uint64_t value) {
    const char *path = (const char *)ctx;
    char tmp[600], text[32], dir[600], *slash;
    int fd, n;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    n = snprintf(text, sizeof text, "%" PRIu64 "\n", value);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) return -1;
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

int file_device_open(file_device *fd, const char *name, const char *prefix, uint64_t reserve) {
    char path[512], hex[80];
    uint8_t seed[32];
    size_t n;
    FILE *f;
    int err;
    snprintf(path, sizeof path, "%s.key", prefix);
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return M2MHUB_E_ARG;
    }
    n = fread(hex, 1, sizeof hex - 1, f);
    fclose(f);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r')) n--;
    if (m2mhub_hex_decode(hex, n, seed, 32) != M2MHUB_OK) {
        fprintf(stderr, "%s: not a 32-byte hex seed\n", path);
        return M2MHUB_E_ARG;
    }
    err = m2mhub_sodium_key_from_seed(&fd->key, seed, fd->public_key);
    memset(seed, 0, sizeof seed);
    if (err) return err;
    fd->signer.sign = m2mhub_sodium_sign;
    fd->signer.ctx = &fd->key;
    snprintf(fd->counter_path, sizeof fd->counter_path, "%s.counter", prefix);
    fd->store.load = file_load, fd->store.save = file_save, fd->store.ctx = fd->counter_path;
    err = m2mhub_counter_open(&fd->counter, &fd->store, reserve);
    if (err) {
        fprintf(stderr, "%s: not a counter\n", fd->counter_path);
        return err;
    }
    fd->device.name = name, fd->device.signer = &fd->signer, fd->device.counter = &fd->counter;
    return M2MHUB_OK;
}

const char *arg(int argc, char **argv, const char *flag) {
    int i;
    for (i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) return argv[i + 1];
    return NULL;
}

uint64_t arg_u64(int argc, char **argv, const char *flag, uint64_t dflt) {
    const char *v = arg(argc, argv, flag);
    char *end;
    uint64_t n;
    if (v == NULL) return dflt;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || *end || *v < '0' || *v > '9') {
        fprintf(stderr, "%s wants a number, not %s\n", flag, v);
        exit(64);
    }
    return n;
}

m2mhub_action arg_action(int argc, char **argv) {
    const char *a = arg(argc, argv, "--action");
    if (a == NULL || !strcmp(a, "begin")) return M2MHUB_BEGIN;
    if (!strcmp(a, "continue")) return M2MHUB_CONTINUE;
    if (!strcmp(a, "end")) return M2MHUB_END;
    fprintf(stderr, "--action is begin, continue or end\n");
    exit(64);
}

const char *m2mhub_strerror(int err) {
    switch (err) {
    case M2MHUB_OK: return "ok";
    case M2MHUB_E_ARG: return "bad argument";
    case M2MHUB_E_SPACE: return "buffer too small";
    case M2MHUB_E_UTF8: return "contents are not UTF-8";
    case M2MHUB_E_SIGNER: return "signer failed";
    case M2MHUB_E_STORE: return "counter store failed";
    case M2MHUB_E_EXHAUSTED: return "counter exhausted";
    case M2MHUB_E_JSON: return "malformed JSON";
    case M2MHUB_E_VERIFY: return "does not verify";
    default: return "unknown error";
    }
}
