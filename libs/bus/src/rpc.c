/* Core NATS request/reply: requests with headers, responders in queue groups (replicas share
 * the requests), and draining a responder so that no request in progress is lost. */
#include "bus_internal.h"

#include "vx/alloc.h"
#include "vx/log.h"

#include <string.h>
#include <time.h>

/* How long a drain may take while the connection is down (the server cannot confirm it). */
#define DRAIN_DISCONNECTED_MS 2000
/* How long vx_bus_sub_destroy waits for the last handler after nats.c's drain (30 s) ends. */
#define SUB_COMPLETE_WAIT_S 40

vx_status vx_bus_request(vx_bus *b, const char *subject, const void *data, size_t len,
                         const vx_bus_header *hdrs, size_t n_hdrs, int64_t timeout_ms, void **reply,
                         size_t *reply_len)
{
    if (b == NULL || reply == NULL || reply_len == NULL || timeout_ms <= 0)
        return VX_INVALID;
    natsMsg *req = NULL;
    vx_status st = bus_msg_new(subject, data, len, hdrs, n_hdrs, &req);
    if (st != VX_OK)
        return st;
    natsMsg *resp = NULL;
    natsStatus s = natsConnection_RequestMsg(&resp, b->nc, req, timeout_ms);
    natsMsg_Destroy(req);
    if (s != NATS_OK)
        return bus_status(s, 0, "request");

    int n = natsMsg_GetDataLength(resp);
    size_t rlen = n > 0 ? (size_t)n : 0;
    char *copy = vx_xmalloc(rlen + 1); /* NUL-terminated for callers that read text */
    if (rlen > 0)
        memcpy(copy, natsMsg_GetData(resp), rlen);
    copy[rlen] = '\0';
    natsMsg_Destroy(resp);
    *reply = copy;
    *reply_len = rlen;
    return VX_OK;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    vx_bus_sub *s = closure;
    (void)nc;
    (void)sub;
    vx_bus_msg m = {.bus = s->bus, .msg = msg, .borrowed = true};
    s->fn(s->ctx, &m);
    natsMsg_Destroy(msg);
}

static void on_complete(void *closure)
{
    vx_bus_sub *s = closure;
    pthread_mutex_lock(&s->mu);
    s->complete = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void sub_free(vx_bus_sub *s)
{
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    vx_free(s);
}

vx_status vx_bus_serve(vx_bus *b, const char *subject, const char *queue, vx_bus_handler fn,
                       void *ctx, vx_bus_sub **out)
{
    if (b == NULL || subject == NULL || subject[0] == '\0' || fn == NULL || out == NULL)
        return VX_INVALID;
    vx_bus_sub *s = vx_xcalloc(1, sizeof *s);
    s->bus = b;
    s->fn = fn;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);

    natsStatus ns;
    if (queue != NULL && queue[0] != '\0')
        ns = natsConnection_QueueSubscribe(&s->sub, b->nc, subject, queue, on_request, s);
    else
        ns = natsConnection_Subscribe(&s->sub, b->nc, subject, on_request, s);
    if (ns == NATS_OK)
        ns = natsSubscription_SetOnCompleteCB(s->sub, on_complete, s);
    if (ns != NATS_OK) {
        vx_status st = bus_status(ns, 0, "serve");
        if (s->sub != NULL) {
            /* The handler may have started already: leave s to it rather than race. */
            natsSubscription_Destroy(s->sub);
            return st;
        }
        sub_free(s);
        return st;
    }
    /* Make the interest known to the server before returning, so that a request sent right
     * after vx_bus_serve finds its responder. While disconnected this fails, and nats.c
     * subscribes again on reconnect. */
    natsConnection_FlushTimeout(b->nc, b->timeout_ms);
    *out = s;
    return VX_OK;
}

vx_status vx_bus_respond(vx_bus *b, vx_bus_msg *req, const void *data, size_t len,
                         const vx_bus_header *hdrs, size_t n_hdrs)
{
    if (b == NULL || req == NULL)
        return VX_INVALID;
    const char *reply_to = natsMsg_GetReply(req->msg);
    if (reply_to == NULL || reply_to[0] == '\0')
        return VX_INVALID; /* published without a reply subject: nobody waits for an answer */
    natsMsg *m = NULL;
    vx_status st = bus_msg_new(reply_to, data, len, hdrs, n_hdrs, &m);
    if (st != VX_OK)
        return st;
    natsStatus s = natsConnection_PublishMsg(b->nc, m);
    natsMsg_Destroy(m);
    return bus_status(s, 0, "respond");
}

void vx_bus_sub_destroy(vx_bus_sub *s)
{
    if (s == NULL)
        return;
    /* Drain: the server stops sending, queued requests are still handled. While disconnected
     * the server cannot confirm the drain, so it is given only DRAIN_DISCONNECTED_MS (nats.c
     * would wait its full 30 s, holding up a service's exit). If draining cannot start
     * (connection closed), unsubscribe: the queued requests are dropped. */
    natsStatus ds = vx_bus_connected(s->bus)
                        ? natsSubscription_Drain(s->sub)
                        : natsSubscription_DrainTimeout(s->sub, DRAIN_DISCONNECTED_MS);
    if (ds == NATS_OK)
        natsSubscription_WaitForDrainCompletion(s->sub, 0);
    else
        natsSubscription_Unsubscribe(s->sub);

    /* The handler may still be returning when the drain reports completion; the complete
     * callback runs after it has. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SUB_COMPLETE_WAIT_S;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (!s->complete && rc == 0)
        rc = pthread_cond_timedwait(&s->cond, &s->mu, &deadline);
    bool complete = s->complete;
    pthread_mutex_unlock(&s->mu);

    if (!complete)
        vx_log(VX_LOG_ERROR, "subscription never completed; leaking its handle",
               VX_STR("subject", natsSubscription_GetSubject(s->sub)));
    natsSubscription_Destroy(s->sub);
    if (complete)
        sub_free(s);
}
