/* Batching, message ids and progress for `valdrix publish` and `valdrix generate`. A batch is
 * built by appending each event as a length-delimited field 1, which is exactly the wire form
 * of CostEventBatch, so events are encoded once and need not outlive the call. */
#include "publisher.h"

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/trace.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct publisher {
    vx_bus *bus;
    char *subject;
    const char *what;
    size_t batch_events;
    vx_buf msg;
    size_t in_msg;
    uint8_t *scratch;
    size_t scratch_cap;
    uint64_t events, messages, failed, total;
    bool full; /* a message was refused because the stream was full */
    int64_t started_ms, next_progress_ms;
    char traceparent[VX_TRACEPARENT_LEN + 1];
    bool tty;
};

publisher *publisher_create(vx_bus *bus, const char *what, const char *subject, size_t batch_events,
                            uint64_t total)
{
    publisher *p = vx_xcalloc(1, sizeof *p);
    p->bus = bus;
    p->what = what;
    p->subject = vx_xstrdup(subject);
    p->batch_events = batch_events;
    p->total = total;
    vx_buf_init(&p->msg);
    p->started_ms = vx_mono_ms();
    p->next_progress_ms = p->started_ms + 1000;
    vx_trace t;
    vx_trace_new(&t);
    vx_trace_format(&t, p->traceparent);
    p->tty = isatty(2);
    return p;
}

static void progress(publisher *p, bool last)
{
    int64_t now = vx_mono_ms();
    if (!last && now < p->next_progress_ms)
        return;
    p->next_progress_ms = now + (p->tty ? 500 : 2000);
    double secs = (double)(now - p->started_ms) / 1000.0;
    double rate = secs > 0 ? (double)p->events / secs : 0;
    char of[32] = "";
    if (p->total)
        snprintf(of, sizeof of, "/%llu", (unsigned long long)p->total);
    fprintf(stderr, "%svaldrix %s: %llu%s events in %llu messages, %.0f events/s%s",
            p->tty ? "\r" : "", p->what, (unsigned long long)p->events, of,
            (unsigned long long)p->messages, rate, (p->tty && !last) ? "" : "\n");
}

static vx_status send(publisher *p)
{
    if (p->in_msg == 0)
        return VX_OK;
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_Digest(p->msg.data, p->msg.len, digest, &dlen, EVP_sha256(), NULL);
    char id[33];
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", digest[i]);
    vx_bus_header h[] = {{"traceparent", p->traceparent}};
    vx_status st = vx_bus_publish_async(p->bus, p->subject, p->msg.data, p->msg.len, id, h, 1);
    if (st != VX_OK)
        return st;
    p->messages++;
    p->events += p->in_msg;
    p->in_msg = 0;
    vx_buf_reset(&p->msg);
    if (p->messages % 256 == 0) {
        uint64_t failed = 0;
        st = vx_bus_publish_async_complete(p->bus, 30000, &failed);
        p->failed += failed;
        p->full |= st == VX_FULL;
        if (st != VX_OK)
            return st;
    }
    progress(p, false);
    return VX_OK;
}

vx_status publisher_add(publisher *p, const vx_cost_event *ev)
{
    size_t len = valdrix__v1__cost_event__get_packed_size(ev);
    if (len > p->scratch_cap) {
        p->scratch_cap = len * 2;
        p->scratch = vx_xrealloc(p->scratch, p->scratch_cap);
    }
    valdrix__v1__cost_event__pack(ev, p->scratch);
    /* field 1, wire type 2, then the length as a varint */
    vx_buf_putc(&p->msg, 0x0a);
    size_t v = len;
    do {
        unsigned char b = (unsigned char)(v & 0x7f);
        v >>= 7;
        vx_buf_putc(&p->msg, (char)(v ? b | 0x80 : b));
    } while (v);
    vx_buf_append(&p->msg, p->scratch, len);
    p->in_msg++;
    if (p->in_msg >= p->batch_events || p->msg.len >= VX_COST_MAX_MESSAGE_BYTES / 2)
        return send(p);
    return VX_OK;
}

vx_status publisher_finish(publisher *p, uint64_t *events, uint64_t *messages, uint64_t *failed)
{
    vx_status st = send(p);
    uint64_t f = 0;
    vx_status st2 = vx_bus_publish_async_complete(p->bus, 60000, &f);
    p->failed += f;
    p->full |= st2 == VX_FULL;
    if (p->full)
        st = st2 = VX_FULL;
    progress(p, true);
    *events = p->events;
    *messages = p->messages;
    *failed = p->failed;
    if (st != VX_OK)
        return st;
    if (st2 != VX_OK)
        return st2;
    return p->failed ? VX_IO : VX_OK;
}

void publisher_destroy(publisher *p)
{
    if (!p)
        return;
    vx_buf_cleanup(&p->msg);
    vx_free(p->scratch);
    vx_free(p->subject);
    vx_free(p);
}
