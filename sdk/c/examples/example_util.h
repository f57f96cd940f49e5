/* example_util.h: what the Linux examples share: key and counter files in the layout of
 * `m2mhub device keygen` (PREFIX.key: the 32-byte seed as hex; PREFIX.counter: the counter's
 * reservation in decimal, the Rust and Python SDKs' format), and argument parsing. On a
 * microcontroller these become a secure element or NVS and a flash page. */
#ifndef M2MHUB_EXAMPLE_UTIL_H
#define M2MHUB_EXAMPLE_UTIL_H

#include "m2mhub.h"
#include "m2mhub_sodium.h"

/* A device assembled from files: key, signer, counter in PREFIX.counter. */
typedef struct {
    char counter_path[512];
    m2mhub_sodium_key key;
    uint8_t public_key[32];
    m2mhub_signer signer;
    m2mhub_counter_store store;
    m2mhub_counter counter;
    m2mhub_device device;
} file_device;

/* Loads PREFIX.key and opens PREFIX.counter reserving `reserve` values per write. */
int file_device_open(file_device *fd, const char *name, const char *prefix, uint64_t reserve);

/* The value of --flag in argv, or NULL. */
const char *arg(int argc, char **argv, const char *flag);
/* --flag as a u64 (default when absent); exits with a message when malformed. */
uint64_t arg_u64(int argc, char **argv, const char *flag, uint64_t dflt);
/* The action named by --action (default begin). */
m2mhub_action arg_action(int argc, char **argv);

const char *m2mhub_strerror(int err);

#endif
