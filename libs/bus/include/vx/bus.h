/* NATS and JetStream through nats.c: a connection that reconnects forever, streams created or
 * updated idempotently, publishing with Nats-Msg-Id and headers (waiting for JetStream's ack,
 * one at a time or many in flight), durable pull consumers shared by replicas, core
 * request/reply and queue-group subscriptions. Services and tools use this instead of nats.c. */
#ifndef VX_BUS_H
#define VX_BUS_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vx_bus vx_bus;
typedef struct vx_bus_consumer vx_bus_consumer;
typedef struct vx_bus_msg vx_bus_msg;
typedef struct vx_bus_sub vx_bus_sub;

/* Who the connection is and how it is secured (every field may be NULL or empty). The server
 * decides what the user may publish and subscribe to (nats-server authorization). */
typedef struct {
    /* The user and password. When user is set, user:password@ in the URL is ignored; when not,
     * the URL's (nats://user:password@host:port) are used. */
    const char *user;
    const char *password;
    /* TLS: the CA that signed the server's certificate (setting it requires TLS), and this
     * client's certificate chain and key for servers that verify clients (both or neither). */
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
} vx_bus_credentials;

/* The credentials from VX_NATS_USER, VX_NATS_PASSWORD, VX_NATS_TLS_CA, VX_NATS_TLS_CERT and
 * VX_NATS_TLS_KEY (borrowed from the environment; unset ones NULL), for tools and tests. */
vx_bus_credentials vx_bus_credentials_from_env(void);

typedef struct {
    const char *url;    /* e.g. "nats://127.0.0.1:14222", or several separated by ','; copied */
    const char *name;   /* client name shown by the server; copied */
    int64_t timeout_ms; /* connect and JetStream API timeout (5 s) */
    bool send_asap;     /* flush every publish at once (responders; lower latency) */
    vx_bus_credentials creds;
} vx_bus_config;

/* A message header. Publishing refuses (VX_INVALID) an empty key, a key with ':', a blank or
 * a line break, and a value with CR or LF: a line break would end the header block early. */
typedef struct {
    const char *key;
    const char *value;
} vx_bus_header;

/* Connects; afterwards the connection reconnects by itself forever, logging each disconnect
 * and reconnect. With a user (from creds or the URL), reply subjects are "_INBOX.<user>.*",
 * so the server can let each user subscribe to its own replies only; VX_INVALID for a user
 * that cannot be a subject token ('.', '*', '>', blanks), and for TLS files that do not load
 * (the reason is logged). VX_DENIED when the server refuses the credentials. While it is
 * disconnected, publishing fails at once (VX_UNAVAILABLE): nothing is buffered to be sent later.
 * VX_UNAVAILABLE if the first connection fails. Thread-safe afterwards.
 */
VX_MUST_CHECK vx_status vx_bus_connect(const vx_bus_config *cfg, vx_bus **out);
/* Flushes what is buffered, waits up to timeout_ms for outstanding async publishes (logging
 * any left unacknowledged), closes, frees. Destroy consumers and subscriptions first. NULL is
 * fine. */
void vx_bus_destroy(vx_bus *b);
/* Whether the connection is up now (for /readyz). */
bool vx_bus_connected(vx_bus *b);
/* How many times the connection has been lost since connect: a change means core messages
 * (announcements) may have been missed meanwhile. Thread-safe. */
uint64_t vx_bus_disconnects(vx_bus *b);

typedef struct {
    const char *name;            /* e.g. "COST_EVENTS" */
    const char *subjects;        /* one subject pattern, e.g. "cost.events.>" */
    int64_t duplicate_window_ms; /* Nats-Msg-Id de-duplication window (0: server default 2 min) */
    int64_t max_age_ms;          /* 0: keep until consumed limits say otherwise (forever) */
    int64_t max_bytes;           /* 0: no bound on the stream's size */
    bool work_queue;             /* a message goes once a consumer acks it (else: limits) */
    bool discard_new;            /* when full, refuse new messages (else: drop the oldest) */
    bool memory;                 /* memory storage instead of file (tests only) */
} vx_stream_config;

/* Creates the stream, or updates it to this configuration if it exists. Safe when replicas call
 * it together. nats-server cannot change the retention of a stream in place: an existing stream
 * whose retention differs keeps it (a warning says so and how to change it) and gets the rest
 * of the configuration. VX_CONFLICT (reason in err) when the server refuses the change, e.g. of
 * storage type. err (may be NULL) gets nats.c's error text on failure. */
VX_MUST_CHECK vx_status vx_bus_ensure_stream(vx_bus *b, const vx_stream_config *cfg, char *err,
                                             size_t err_cap);
/* Deletes a stream (tests and benchmarks). VX_NOT_FOUND if there is none. */
VX_MUST_CHECK vx_status vx_bus_delete_stream(vx_bus *b, const char *name);

typedef struct {
    uint64_t msgs, bytes;         /* held now */
    uint64_t first_seq, last_seq; /* first held and last stored sequence */
    int64_t max_bytes;            /* its bound (0: none) */
    int64_t max_age_ms;           /* 0: none */
    bool work_queue, discard_new;
} vx_stream_info;

/* What the stream holds and its limits. VX_NOT_FOUND if there is no such stream. */
VX_MUST_CHECK vx_status vx_bus_stream_info(vx_bus *b, const char *name, vx_stream_info *out);
/* The stored message `seq` of the stream (subject, data and headers as published); the caller
 * destroys it (vx_bus_msg_destroy; it cannot be acked). VX_NOT_FOUND if the stream holds no
 * message with that sequence (never stored, deleted or aged out). */
VX_MUST_CHECK vx_status vx_bus_stream_get(vx_bus *b, const char *stream, uint64_t seq,
                                          vx_bus_msg **out);
/* Removes message `seq` from the stream. VX_NOT_FOUND if it is not there. */
VX_MUST_CHECK vx_status vx_bus_stream_delete_msg(vx_bus *b, const char *stream, uint64_t seq);

/* Publishes to JetStream and waits for the stream's ack. msg_id (may be NULL) becomes the
 * Nats-Msg-Id header; *duplicate (may be NULL) says JetStream dropped it as already seen.
 * VX_UNAVAILABLE when no stream answered (NATS down, no stream for the subject), VX_TIMEOUT,
 * VX_LIMIT when the message is larger than the server takes, VX_FULL when the stream (or
 * JetStream's storage) is full and refuses new messages. */
VX_MUST_CHECK vx_status vx_bus_publish(vx_bus *b, const char *subject, const void *data, size_t len,
                                       const char *msg_id, const vx_bus_header *hdrs, size_t n_hdrs,
                                       bool *duplicate);
/* As vx_bus_publish without waiting: many messages in flight (bounded by the library; blocks
 * when too many are outstanding). */
VX_MUST_CHECK vx_status vx_bus_publish_async(vx_bus *b, const char *subject, const void *data,
                                             size_t len, const char *msg_id,
                                             const vx_bus_header *hdrs, size_t n_hdrs);
/* Waits until every async publish is acked or failed (timeout_ms <= 0: without limit). *failed
 * gets the failures since the last call. VX_TIMEOUT if some are still outstanding after
 * timeout_ms: those are given up and counted in *failed too (written on VX_TIMEOUT as well).
 * VX_FULL when some failed because the stream was full. Failed messages are not re-sent:
 * callers re-publish them (same msg_id) if they need to. */
VX_MUST_CHECK vx_status vx_bus_publish_async_complete(vx_bus *b, int64_t timeout_ms,
                                                      uint64_t *failed);

/* Core NATS publish (no stream, no ack): announcements that may be lost. */
VX_MUST_CHECK vx_status vx_bus_publish_core(vx_bus *b, const char *subject, const void *data,
                                            size_t len);

typedef struct {
    const char *stream;         /* e.g. "COST_EVENTS" */
    const char *durable;        /* consumer name shared by every replica, e.g. "ingest" */
    const char *filter_subject; /* may be NULL */
    int64_t ack_wait_ms;        /* redelivery after this long without ack (30 s) */
    int max_ack_pending;        /* messages outstanding across replicas (0: server default) */
} vx_consumer_config;

/* Binds to (creating if needed) the durable pull consumer (explicit acks, delivering from the
 * start of the stream), updating an existing one to this configuration. VX_NOT_FOUND if the
 * stream does not exist; VX_INVALID for a durable name with '.', '*', '>' or a space. */
VX_MUST_CHECK vx_status vx_bus_consumer_create(vx_bus *b, const vx_consumer_config *cfg,
                                               vx_bus_consumer **out);
/* Unsubscribes without deleting the durable consumer. Settle and destroy its messages first.
 * NULL is fine. */
void vx_bus_consumer_destroy(vx_bus_consumer *c);

/* Fetches up to `max` messages, waiting at most timeout_ms for the first. Writes up to max
 * message pointers into msgs and their number into *n (0 when nothing came: still VX_OK).
 * Each message is owned by the caller: settle it (ack/nak/term) and then destroy it, before
 * the consumer is destroyed. One thread at a time per consumer handle (replicas and threads
 * each create their own handle on the same durable). */
VX_MUST_CHECK vx_status vx_bus_fetch(vx_bus_consumer *c, vx_bus_msg **msgs, int max,
                                     int64_t timeout_ms, int *n);
/* Messages not yet delivered to any replica, and delivered but not yet acked. */
VX_MUST_CHECK vx_status vx_bus_consumer_pending(vx_bus_consumer *c, uint64_t *pending,
                                                uint64_t *ack_pending);

const char *vx_bus_msg_subject(const vx_bus_msg *m);
const void *vx_bus_msg_data(const vx_bus_msg *m);
size_t vx_bus_msg_len(const vx_bus_msg *m);
/* The first value of header `key`, borrowed from the message, or NULL. Not thread-safe for one
 * message (nats.c parses headers on first use). */
const char *vx_bus_msg_header(const vx_bus_msg *m, const char *key);
/* JetStream metadata: the stream sequence and how many times it has been delivered (1 first). */
uint64_t vx_bus_msg_stream_seq(const vx_bus_msg *m);
/* When the stream stored it (Unix ms) for a message from vx_bus_stream_get; 0 otherwise. */
int64_t vx_bus_msg_stored_ms(const vx_bus_msg *m);
uint64_t vx_bus_msg_deliveries(const vx_bus_msg *m);
/* Acknowledges and waits for the server to confirm (so an ack is not lost silently). */
VX_MUST_CHECK vx_status vx_bus_msg_ack(vx_bus_msg *m);
/* Asks for redelivery after delay_ms (0: at once). */
VX_MUST_CHECK vx_status vx_bus_msg_nak(vx_bus_msg *m, int64_t delay_ms);
/* Resets the ack timer while work on it continues. */
VX_MUST_CHECK vx_status vx_bus_msg_in_progress(vx_bus_msg *m);
/* Never redeliver. */
VX_MUST_CHECK vx_status vx_bus_msg_term(vx_bus_msg *m);
void vx_bus_msg_destroy(vx_bus_msg *m);

/* Core request/reply. On success *reply (caller frees with vx_free; NUL-terminated after
 * reply_len bytes) and *reply_len hold the answer. VX_TIMEOUT after timeout_ms, VX_UNAVAILABLE
 * when no responder. The subject must not be one a stream captures: JetStream would answer
 * with a publish ack. */
VX_MUST_CHECK vx_status vx_bus_request(vx_bus *b, const char *subject, const void *data, size_t len,
                                       const vx_bus_header *hdrs, size_t n_hdrs, int64_t timeout_ms,
                                       void **reply, size_t *reply_len);

/* Handles one request; answers by calling vx_bus_respond with the request. Runs on a nats.c
 * thread, one request at a time per subscription. `req` is borrowed: valid until the handler
 * returns, then freed by the library (vx_bus_msg_destroy on it does nothing). */
typedef void (*vx_bus_handler)(void *ctx, vx_bus_msg *req);
/* Subscribes to `subject` in queue group `queue` (replicas share the messages; NULL: every
 * subscriber gets each message). The interest reaches the server before this returns. */
VX_MUST_CHECK vx_status vx_bus_serve(vx_bus *b, const char *subject, const char *queue,
                                     vx_bus_handler fn, void *ctx, vx_bus_sub **out);
/* Answers `req` on its reply subject; VX_INVALID if it has none (a core publish). */
VX_MUST_CHECK vx_status vx_bus_respond(vx_bus *b, vx_bus_msg *req, const void *data, size_t len,
                                       const vx_bus_header *hdrs, size_t n_hdrs);
/* Stops delivering new requests and waits for handlers in progress (drain). Never call it from
 * a handler of the same subscription. NULL is fine. */
void vx_bus_sub_destroy(vx_bus_sub *s);

#endif
