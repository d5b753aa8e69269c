/* Durable JetStream pull consumers shared by replicas, and the messages they fetch: metadata,
 * headers, and settling them (ack, nak with delay, in progress, term), each confirmed by the
 * server. */
#include "bus_internal.h"

#include "vx/alloc.h"
#include "vx/log.h"

#include <limits.h>
#include <string.h>

#define NANOS_PER_MS INT64_C(1000000)

/* Creates the durable consumer or brings an existing one to this configuration. Creating it
 * ourselves (rather than letting js_PullSubscribe do it) means nats.c never deletes it when a
 * subscription goes away. */
static vx_status ensure_consumer(vx_bus *b, const vx_consumer_config *cfg)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = cfg->durable;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait =
        (cfg->ack_wait_ms > 0 ? cfg->ack_wait_ms : VX_BUS_DEFAULT_ACK_WAIT_MS) * NANOS_PER_MS;
    if (cfg->max_ack_pending > 0)
        cc.MaxAckPending = cfg->max_ack_pending;
    if (cfg->filter_subject != NULL && cfg->filter_subject[0] != '\0')
        cc.FilterSubject = cfg->filter_subject;

    jsOptions jo;
    bus_js_opts(b, &jo);
    jsErrCode jerr = 0;
    natsStatus s = js_AddConsumer(NULL, b->js, cfg->stream, &cc, &jo, &jerr);
    if (s != NATS_OK && (jerr == JSConsumerNameExistErr || jerr == JSConsumerExistingActiveErr))
        s = js_UpdateConsumer(NULL, b->js, cfg->stream, &cc, &jo, &jerr);
    if (s != NATS_OK && jerr == JSStreamNotFoundErr)
        return VX_NOT_FOUND;
    return bus_status(s, jerr, "add_consumer");
}

vx_status vx_bus_consumer_create(vx_bus *b, const vx_consumer_config *cfg, vx_bus_consumer **out)
{
    if (b == NULL || cfg == NULL || out == NULL || cfg->stream == NULL || cfg->stream[0] == '\0' ||
        cfg->durable == NULL || cfg->durable[0] == '\0' || strpbrk(cfg->durable, ".*> ") != NULL ||
        cfg->ack_wait_ms < 0 || cfg->max_ack_pending < 0)
        return VX_INVALID;

    vx_status st = ensure_consumer(b, cfg);
    if (st != VX_OK)
        return st;

    jsOptions jo;
    bus_js_opts(b, &jo);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = cfg->stream;
    so.Consumer = cfg->durable; /* bind to the consumer made above */
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s =
        js_PullSubscribe(&sub, b->js, cfg->filter_subject, cfg->durable, &jo, &so, &jerr);
    if (s != NATS_OK)
        return bus_status(s, jerr, "pull_subscribe");

    vx_bus_consumer *c = vx_xcalloc(1, sizeof *c);
    c->bus = b;
    c->sub = sub;
    c->stream = vx_xstrdup(cfg->stream);
    c->durable = vx_xstrdup(cfg->durable);
    *out = c;
    return VX_OK;
}

void vx_bus_consumer_destroy(vx_bus_consumer *c)
{
    if (c == NULL)
        return;
    /* Since nats.c 3.4.0 destroying a subscription never deletes its JetStream consumer, and
     * this one was bound, not created, by the subscription anyway. */
    natsSubscription_Destroy(c->sub);
    vx_free(c->stream);
    vx_free(c->durable);
    vx_free(c);
}

static vx_bus_msg *wrap(vx_bus *b, natsMsg *m)
{
    vx_bus_msg *w = vx_xcalloc(1, sizeof *w);
    w->bus = b;
    w->msg = m;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        w->stream_seq = meta->Sequence.Stream;
        w->deliveries = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
    }
    return w;
}

vx_status vx_bus_fetch(vx_bus_consumer *c, vx_bus_msg **msgs, int max, int64_t timeout_ms, int *n)
{
    if (c == NULL || msgs == NULL || max <= 0 || n == NULL)
        return VX_INVALID;
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s =
        natsSubscription_Fetch(&list, c->sub, max, timeout_ms > 0 ? timeout_ms : 1, &jerr);
    if (s == NATS_TIMEOUT || (s == NATS_NOT_FOUND && jerr == 0)) {
        /* Nothing came before the timeout (or the server said there is nothing now). */
        natsMsgList_Destroy(&list);
        *n = 0;
        return VX_OK;
    }
    if (s != NATS_OK) {
        natsMsgList_Destroy(&list);
        return bus_status(s, jerr, "fetch");
    }
    int count = list.Count < max ? list.Count : max;
    for (int i = 0; i < count; i++) {
        msgs[i] = wrap(c->bus, list.Msgs[i]);
        list.Msgs[i] = NULL;
    }
    natsMsgList_Destroy(&list); /* frees the array and anything not taken above */
    *n = count;
    return VX_OK;
}

vx_status vx_bus_consumer_pending(vx_bus_consumer *c, uint64_t *pending, uint64_t *ack_pending)
{
    if (c == NULL)
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(c->bus, &jo);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, c->bus->js, c->stream, c->durable, &jo, &jerr);
    if (s != NATS_OK)
        return bus_status(s, jerr, "consumer_info");
    if (pending != NULL)
        *pending = ci->NumPending;
    if (ack_pending != NULL)
        *ack_pending = ci->NumAckPending > 0 ? (uint64_t)ci->NumAckPending : 0;
    jsConsumerInfo_Destroy(ci);
    return VX_OK;
}

/* ---- messages ---- */

const char *vx_bus_msg_subject(const vx_bus_msg *m)
{
    return natsMsg_GetSubject(m->msg);
}

const void *vx_bus_msg_data(const vx_bus_msg *m)
{
    return natsMsg_GetData(m->msg);
}

size_t vx_bus_msg_len(const vx_bus_msg *m)
{
    int len = natsMsg_GetDataLength(m->msg);
    return len > 0 ? (size_t)len : 0;
}

const char *vx_bus_msg_header(const vx_bus_msg *m, const char *key)
{
    const char *value = NULL;
    if (m == NULL || key == NULL || natsMsgHeader_Get(m->msg, key, &value) != NATS_OK)
        return NULL;
    return value;
}

uint64_t vx_bus_msg_stream_seq(const vx_bus_msg *m)
{
    return m->stream_seq;
}

uint64_t vx_bus_msg_deliveries(const vx_bus_msg *m)
{
    return m->deliveries;
}

/* Settling calls wait for the server's confirmation: nats.c turns an ack into a request when
 * the options carry a Wait. */
vx_status vx_bus_msg_ack(vx_bus_msg *m)
{
    if (m == NULL)
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(m->bus, &jo);
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_AckSync(m->msg, &jo, &jerr);
    return bus_status(s, jerr, "ack");
}

vx_status vx_bus_msg_nak(vx_bus_msg *m, int64_t delay_ms)
{
    if (m == NULL || delay_ms < 0)
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(m->bus, &jo);
    natsStatus s =
        delay_ms > 0 ? natsMsg_NakWithDelay(m->msg, delay_ms, &jo) : natsMsg_Nak(m->msg, &jo);
    return bus_status(s, 0, "nak");
}

vx_status vx_bus_msg_in_progress(vx_bus_msg *m)
{
    if (m == NULL)
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(m->bus, &jo);
    return bus_status(natsMsg_InProgress(m->msg, &jo), 0, "in_progress");
}

vx_status vx_bus_msg_term(vx_bus_msg *m)
{
    if (m == NULL)
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(m->bus, &jo);
    return bus_status(natsMsg_Term(m->msg, &jo), 0, "term");
}

int64_t vx_bus_msg_stored_ms(const vx_bus_msg *m)
{
    int64_t ns = natsMsg_GetTime(m->msg);
    return ns > 0 ? ns / 1000000 : 0;
}

void vx_bus_msg_destroy(vx_bus_msg *m)
{
    if (m == NULL || m->borrowed)
        return;
    natsMsg_Destroy(m->msg);
    vx_free(m);
}
