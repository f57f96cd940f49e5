/* mqtt_mosquitto.c: a device on the hub's broker with libmosquitto, MQTT 3.1.1 or 5: a signed
 * CONNECT (SPEC §5.2), deliveries checked with their senders' keys, and one message sent and
 * acknowledged (docs/MQTT.md).
 *
 *   m2mhub-mqtt --host 127.0.0.1 --port 1883 --name NAME --key PREFIX [--protocol 5|3.1.1]
 *               [--sender-key NAME=HEX ...]   keys to check deliveries with (from
 *                                             GET /v1/devices/{name}: the key at their seq)
 *               [--await-delivery]            wait for one delivery, check it, and answer it:
 *                                             --tx and --cause default to its tx and seq
 *               [--listen N]                  print N deliveries (checked), then exit
 *               [--to RECEIVER --action A --tx N --cause N --contents TEXT]  send one message
 *               [--seconds N]                 give up after N seconds (default 30)
 *
 * Prints each checked delivery and then the acknowledgement's record as JSON lines on stdout.
 * Exit status: 0 done, 2 refused by the hub, 3 a delivery did not verify, 4 CONNECT refused,
 * 1 anything else (a timeout included).
 *
 * At-least-once: an unacknowledged message is published again byte for byte every 5 s (the
 * hub answers an exact resubmission with the original record); stale_counter makes it sign the
 * message again with the next counter value. A reconnection signs a fresh password. */
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example_util.h"

#define PAYLOAD_MAX (8 * M2MHUB_CONTENTS_MAX)

static struct {
    int connected, refused, subscribed, subs_failed;
    int ack_ready, delivery_ready;
    char ack[4096];
    size_t ack_len;
    char delivery[PAYLOAD_MAX];
    size_t delivery_len;
    char ack_topic[128], in_topic[128];
} st;

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *p) {
    (void)m, (void)obj, (void)flags, (void)p;
    if (rc != 0) st.refused = rc;
    else st.connected = 1;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted) {
    int i;
    (void)m, (void)obj, (void)mid;
    for (i = 0; i < n; i++)
        if (granted[i] >= 0x80) st.subs_failed = 1;
    st.subscribed++;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg) {
    (void)m, (void)obj;
    if (!strcmp(msg->topic, st.ack_topic) && (size_t)msg->payloadlen < sizeof st.ack) {
        memcpy(st.ack, msg->payload, (size_t)msg->payloadlen);
        st.ack_len = (size_t)msg->payloadlen;
        st.ack[st.ack_len] = '\0';
        st.ack_ready = 1;
    } else if (!strcmp(msg->topic, st.in_topic) && (size_t)msg->payloadlen < sizeof st.delivery &&
               !st.delivery_ready) {
        /* One at a time: the loop consumes it before the next is taken (QoS 1 redelivers). */
        memcpy(st.delivery, msg->payload, (size_t)msg->payloadlen);
        st.delivery_len = (size_t)msg->payloadlen;
        st.delivery[st.delivery_len] = '\0';
        st.delivery_ready = 1;
    }
}

static time_t deadline;

/* Runs the network loop until *flag is set or the deadline passes; reconnects with a freshly
 * signed password when the connection drops. */
static int wait_for(struct mosquitto *mosq, file_device *fd, const char *name, volatile int *flag,
                    time_t until) {
    while (!*flag && !st.refused) {
        int rc;
        if (time(NULL) > until || time(NULL) > deadline) return 0;
        rc = mosquitto_loop(mosq, 100, 1);
        if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
            char pw[M2MHUB_PASSWORD_MAX];
            if (m2mhub_connect_password(&fd->signer, name, (uint64_t)time(NULL), pw)) return 0;
            mosquitto_username_pw_set(mosq, name, pw);
            mosquitto_reconnect(mosq);
        }
    }
    return *flag;
}

/* The key given for `sender` by --sender-key NAME=HEX, or 0 if none. */
static int sender_key(int argc, char **argv, const char *sender, uint8_t key[32]) {
    int i;
    size_t n = strlen(sender);
    for (i = 1; i + 1 < argc; i++) {
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--sender-key") && !strncmp(v, sender, n) && v[n] == '=')
            return m2mhub_hex_decode(v + n + 1, strlen(v + n + 1), key, 32) == M2MHUB_OK;
    }
    return 0;
}

/* Takes the pending delivery, checks its signature, prints it. 0 ok, 3 bad. */
static int take_delivery(int argc, char **argv, m2mhub_record *r) {
    static char contents[M2MHUB_CONTENTS_MAX + 1];
    uint8_t key[32];
    int err = m2mhub_parse_delivery(st.delivery, st.delivery_len, r, contents, sizeof contents);
    st.delivery_ready = 0;
    if (err) return fprintf(stderr, "delivery: %s\n", m2mhub_strerror(err)), 3;
    if (!sender_key(argc, argv, r->sender, key))
        return fprintf(stderr, "no --sender-key for %s\n", r->sender), 3;
    err = m2mhub_verify_delivery(r, key, m2mhub_sodium_verify);
    if (err) return fprintf(stderr, "delivery %" PRIu64 ": %s\n", r->seq, m2mhub_strerror(err)), 3;
    fprintf(stderr, "delivery %" PRIu64 " from %s: signature verified\n", r->seq, r->sender);
    printf("%s\n", st.delivery);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    static file_device fd;
    static char json[M2MHUB_JSON_MAX];
    const char *host = arg(argc, argv, "--host"), *name = arg(argc, argv, "--name");
    const char *prefix = arg(argc, argv, "--key"), *to = arg(argc, argv, "--to");
    const char *proto = arg(argc, argv, "--protocol"), *contents = arg(argc, argv, "--contents");
    /* In a federation (SPEC §7): the device's hub, and the transaction's home hub. */
    const char *hub = arg(argc, argv, "--hub"), *tx_hub = arg(argc, argv, "--tx-hub");
    char qualified[M2MHUB_QNAME_MAX + 1], prefix_topic[M2MHUB_NAME_MAX + 8];
    int port = (int)arg_u64(argc, argv, "--port", 1883), await = 0, i, err, resigns = 0;
    uint64_t listen = arg_u64(argc, argv, "--listen", 0), got;
    char pw[M2MHUB_PASSWORD_MAX], client_id[M2MHUB_NAME_MAX + 16], out_topic[128];
    struct mosquitto *mosq;
    m2mhub_fields f;
    m2mhub_record r;
    uint8_t sig[64];
    size_t len;
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--await-delivery")) await = 1;
    if (!host || !name || !prefix) {
        fprintf(stderr, "usage: %s --host H --port P --name NAME --key PREFIX [--protocol 5|3.1.1]"
                        " [--sender-key NAME=HEX]... [--await-delivery] [--listen N]"
                        " [--hub HUB [--tx-hub HUB]]"
                        " [--to R --action A --tx N --cause N --contents TEXT]\n", argv[0]);
        return 64;
    }
    deadline = time(NULL) + (time_t)arg_u64(argc, argv, "--seconds", 30);
    if (file_device_open(&fd, name, prefix, arg_u64(argc, argv, "--reserve", 1))) return 1;
    /* Topics carry the hub in a federation: m2m/{hub}/out|ack|in/{name} (docs/MQTT.md). */
    snprintf(prefix_topic, sizeof prefix_topic, hub ? "m2m/%s" : "m2m", hub ? hub : "");
    snprintf(st.ack_topic, sizeof st.ack_topic, "%s/ack/%s", prefix_topic, name);
    snprintf(st.in_topic, sizeof st.in_topic, "%s/in/%s", prefix_topic, name);
    snprintf(out_topic, sizeof out_topic, "%s/out/%s", prefix_topic, name);
    /* The broker binds client ids to names: "{name}:{anything}". */
    snprintf(client_id, sizeof client_id, "%s:c%ld", name, (long)time(NULL) % 100000);

    mosquitto_lib_init();
    mosq = mosquitto_new(client_id, true, NULL);
    if (mosq == NULL) return 1;
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         proto && !strcmp(proto, "3.1.1") ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_subscribe_callback_set(mosq, on_subscribe);
    mosquitto_message_callback_set(mosq, on_message);
    if (m2mhub_connect_password(&fd.signer, name, (uint64_t)time(NULL), pw)) return 1;
    mosquitto_username_pw_set(mosq, name, pw);
    if (mosquitto_connect(mosq, host, port, 30) != MOSQ_ERR_SUCCESS)
        return fprintf(stderr, "cannot reach %s:%d\n", host, port), 1;
    if (!wait_for(mosq, &fd, name, &st.connected, deadline))
        return fprintf(stderr, "CONNECT refused (%d)\n", st.refused), st.refused ? 4 : 1;
    mosquitto_subscribe(mosq, NULL, st.ack_topic, 1);
    if (await || listen) mosquitto_subscribe(mosq, NULL, st.in_topic, 1);
    {
        int want = 1 + (await || listen);
        while (st.subscribed < want && !st.subs_failed && time(NULL) <= deadline)
            mosquitto_loop(mosq, 100, 1);
        if (st.subscribed < want || st.subs_failed)
            return fprintf(stderr, "subscriptions refused\n"), 1;
    }
    fprintf(stderr, "%s connected (MQTT %s)\n", name, proto ? proto : "5");

    memset(&f, 0, sizeof f);
    for (got = 0; got < listen; got++) {
        if (!wait_for(mosq, &fd, name, &st.delivery_ready, deadline))
            return fprintf(stderr, "no delivery in time\n"), 1;
        if (take_delivery(argc, argv, &r)) return 3;
    }
    if (await) {
        if (!wait_for(mosq, &fd, name, &st.delivery_ready, deadline))
            return fprintf(stderr, "no delivery in time\n"), 1;
        if (take_delivery(argc, argv, &r)) return 3;
        /* Answer it: its transaction, caused by it (a tx handle, in C). */
        f.tx = r.tx, f.has_cause = 1, f.cause = r.seq;
        if (!to) to = r.sender;
    }
    if (to) {
        m2mhub_ack ack;
        int attempts = 0;
        f.receiver = to, f.action = arg_action(argc, argv);
        f.tx = arg_u64(argc, argv, "--tx", f.tx);
        if (arg(argc, argv, "--cause")) f.has_cause = 1, f.cause = arg_u64(argc, argv, "--cause", 0);
        f.contents = contents ? contents : "", f.contents_len = strlen(f.contents);
        if (hub) {
            /* The federation form: this device as name@hub, the receiver qualified by the
             * caller, tx_hub the transaction's home ("" for a begin). */
            snprintf(qualified, sizeof qualified, "%s@%s", name, hub);
            f.sender = qualified;
            f.tx_hub = f.action == M2MHUB_BEGIN ? "" : (tx_hub ? tx_hub : hub);
        }
        err = m2mhub_sign_message(&fd.device, &f, sig, json, sizeof json, &len);
        if (err) return fprintf(stderr, "signing: %s\n", m2mhub_strerror(err)), 1;
        for (;;) {
            if (++attempts > 12) return fprintf(stderr, "no acknowledgement\n"), 1;
            st.ack_ready = 0;
            mosquitto_publish(mosq, NULL, out_topic, (int)len, json, 1, false);
            /* Wait for the acknowledgement of this counter; others are old answers. */
            for (;;) {
                if (!wait_for(mosq, &fd, name, &st.ack_ready, time(NULL) + 5)) break;
                st.ack_ready = 0;
                if (m2mhub_parse_ack(st.ack, st.ack_len, &ack, NULL, 0) != M2MHUB_OK) continue;
                if (ack.refused ? (ack.has_counter && ack.counter == f.counter)
                                : ack.record.counter == f.counter)
                    goto answered;
            }
            if (time(NULL) > deadline) return fprintf(stderr, "no acknowledgement\n"), 1;
            continue; /* the same bytes again */
        answered:
            if (!ack.refused) break;
            if (m2mhub_refusal_is_transient(ack.error)) continue;
            if (!strcmp(ack.error, "stale_counter") && resigns++ < 3) {
                err = m2mhub_sign_message(&fd.device, &f, sig, json, sizeof json, &len);
                if (err) return 1;
                attempts = 0;
                continue;
            }
            return fprintf(stderr, "refused: %s: %s\n", ack.error, ack.message), 2;
        }
        printf("%s\n", st.ack);
        fflush(stdout);
    }
    mosquitto_disconnect(mosq);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return 0;
}
