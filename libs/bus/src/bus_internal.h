/* Shared between the files of libs/bus: the structs behind the opaque handles, nats.c status
 * mapping and the little helpers every call needs (JetStream options, messages with headers). */
#ifndef VX_BUS_INTERNAL_H
#define VX_BUS_INTERNAL_H

#include "vx/bus.h"

#include <nats/nats.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Async publishes in flight before vx_bus_publish_async blocks (nats.c's MaxPending). */
#define VX_BUS_ASYNC_MAX_PENDING 4096
#define VX_BUS_DEFAULT_TIMEOUT_MS 5000
#define VX_BUS_DEFAULT_ACK_WAIT_MS 30000
#define VX_BUS_RECONNECT_WAIT_MS 1000

struct vx_bus {
    natsConnection *nc;
    jsCtx *js;
    char *name;
    int64_t timeout_ms;
    atomic_uint_fast64_t async_failed; /* async publishes that failed since the last complete */
    atomic_bool async_full;            /* one of them because the stream was full */
    atomic_bool closing;               /* destroy has begun: a disconnect is expected */
    atomic_uint_fast64_t disconnects;  /* times the connection was lost */

    /* nats.c calls the closed callback last; destroy waits for it before freeing this. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool closed;
};

struct vx_bus_consumer {
    vx_bus *bus;
    natsSubscription *sub;
    char *stream;
    char *durable;
};

struct vx_bus_msg {
    vx_bus *bus;
    natsMsg *msg;
    uint64_t stream_seq;
    uint64_t deliveries;
    bool borrowed; /* handed to a vx_bus_handler: the library frees it after the handler */
};

struct vx_bus_sub {
    vx_bus *bus;
    natsSubscription *sub;
    vx_bus_handler fn;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool complete; /* nats.c's on-complete callback ran: no handler runs any more */
};

/* Maps a nats.c status (and JetStream error code, 0 if none) to a vx_status. Unexpected errors
 * (those that become VX_IO) are logged with `op` and nats.c's last error text, unless op is
 * NULL (the caller logs). */
vx_status bus_status(natsStatus s, jsErrCode jerr, const char *op);
/* Whether JetStream refused to store for want of room (a full stream or store). */
bool bus_full_error(jsErrCode jerr);

/* JetStream call options with the bus's API timeout. */
void bus_js_opts(const vx_bus *b, jsOptions *jo);

/* A new message carrying data and headers; VX_INVALID on bad arguments (too long, no subject). */
vx_status bus_msg_new(const char *subject, const void *data, size_t len, const vx_bus_header *hdrs,
                      size_t n_hdrs, natsMsg **out);

/* Copies nats.c's last error text of this thread into err (may be NULL). */
void bus_last_error(char *err, size_t err_cap);

#endif
