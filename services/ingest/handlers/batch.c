/* Decoding and validation of fetched cost-event messages into events and rejects. */
#include "batch.h"

#include "vx/alloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *ingest_reject_kind_str(ingest_reject_kind k)
{
    switch (k) {
    case INGEST_REJECT_DECODE:
        return "decode";
    case INGEST_REJECT_INVALID:
        return "invalid";
    case INGEST_REJECT_TENANT:
        return "tenant";
    case INGEST_REJECT_STORAGE:
        return "storage";
    }
    return "unknown";
}

void ingest_reason_one_line(const char *in, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t n = 0;
    bool space = true; /* drops leading blanks */
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 1 < cap; p++) {
        bool blank = *p < 0x20 || *p == 0x7f || *p == ' ';
        if (blank) {
            if (!space)
                out[n++] = ' ';
            space = true;
        } else {
            out[n++] = (char)*p;
            space = false;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static ingest_reject *add_reject(ingest_work *w, size_t msg, int event, ingest_reject_kind kind)
{
    if (w->n_rejects == w->cap_rejects) {
        w->cap_rejects = w->cap_rejects ? w->cap_rejects * 2 : 16;
        w->rejects = vx_xrealloc(w->rejects, w->cap_rejects * sizeof *w->rejects);
    }
    ingest_reject *r = &w->rejects[w->n_rejects++];
    r->msg = msg;
    r->event = event;
    r->kind = kind;
    r->reason[0] = '\0';
    return r;
}

void ingest_work_build(ingest_work *w, const ingest_msg *msgs, size_t n, const char *subject_prefix)
{
    memset(w, 0, sizeof *w);
    w->n_msgs = n;
    w->batches = vx_xcalloc(n ? n : 1, sizeof *w->batches);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        char why[200];
        const char *tenant = vx_cost_subject_tenant(subject_prefix, msgs[i].subject);
        if (!tenant) {
            ingest_reject *r = add_reject(w, i, -1, INGEST_REJECT_TENANT);
            snprintf(r->reason, sizeof r->reason, "subject %.150s is not %s.<tenant_id>",
                     msgs[i].subject, subject_prefix);
            continue;
        }
        if (vx_cost_batch_decode(msgs[i].data, msgs[i].len, &w->batches[i], why, sizeof why) !=
            VX_OK) {
            ingest_reject *r = add_reject(w, i, -1, INGEST_REJECT_DECODE);
            snprintf(r->reason, sizeof r->reason, "%s", why);
            continue;
        }
        vx_cost_batch *b = w->batches[i];
        w->received += b->n_events;
        if (w->n_events + b->n_events > cap) {
            cap = (w->n_events + b->n_events) * 2;
            w->events = vx_xrealloc(w->events, cap * sizeof *w->events);
            w->event_msg = vx_xrealloc(w->event_msg, cap * sizeof *w->event_msg);
        }
        for (size_t e = 0; e < b->n_events; e++) {
            vx_cost_event *ev = b->events[e];
            if (vx_cost_event_validate(ev, tenant, why, sizeof why) != VX_OK) {
                bool mismatch = strstr(why, "differs from the subject's tenant") != NULL;
                ingest_reject *r = add_reject(
                    w, i, (int)e, mismatch ? INGEST_REJECT_TENANT : INGEST_REJECT_INVALID);
                snprintf(r->reason, sizeof r->reason, "events[%zu].%s", e, why);
                continue;
            }
            vx_cost_event_normalize(ev);
            w->events[w->n_events] = ev;
            w->event_msg[w->n_events] = i;
            w->n_events++;
        }
    }
}

/* Index of event `ev` within its message's batch. */
static int event_index(const ingest_work *w, size_t msg, const vx_cost_event *ev)
{
    const vx_cost_batch *b = w->batches[msg];
    for (size_t e = 0; e < b->n_events; e++)
        if (b->events[e] == ev)
            return (int)e;
    return -1;
}

static void reject_where(ingest_work *w, const char *tenant, size_t msg, ingest_reject_kind kind,
                         const char *reason)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_events; i++) {
        vx_cost_event *ev = w->events[i];
        bool hit = tenant ? strcmp(ev->tenant_id, tenant) == 0 : w->event_msg[i] == msg;
        if (hit) {
            int e = event_index(w, w->event_msg[i], ev);
            ingest_reject *r = add_reject(w, w->event_msg[i], e, kind);
            snprintf(r->reason, sizeof r->reason, "events[%d].%s", e, reason);
        } else {
            w->events[k] = ev;
            w->event_msg[k] = w->event_msg[i];
            k++;
        }
    }
    w->n_events = k;
}

void ingest_work_reject_tenant(ingest_work *w, const char *tenant, ingest_reject_kind kind,
                               const char *reason)
{
    reject_where(w, tenant, 0, kind, reason);
}

void ingest_work_reject_msg(ingest_work *w, size_t msg, ingest_reject_kind kind, const char *reason)
{
    reject_where(w, NULL, msg, kind, reason);
}

void ingest_work_cleanup(ingest_work *w)
{
    for (size_t i = 0; i < w->n_msgs; i++)
        vx_cost_batch_free(w->batches[i]);
    vx_free(w->batches);
    vx_free(w->events);
    vx_free(w->event_msg);
    vx_free(w->rejects);
    memset(w, 0, sizeof *w);
}

size_t ingest_batch_take(const size_t *lens, size_t n, uint64_t max_bytes)
{
    uint64_t bytes = 0;
    size_t k = 0;
    while (k < n) {
        bytes += lens[k++];
        if (bytes >= max_bytes)
            break;
    }
    return k;
}
