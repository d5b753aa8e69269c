/* The consume loop of services/ingest. Nothing is acked before its rows have committed; while
 * Postgres is down the batch in hand is retried with backoff (its ack timer kept alive), a batch
 * whose write times out is written in halves, and on SIGTERM it is handed back (nak). */
#include "ingest.h"

#include "handlers/batch.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ingest_metrics_register(ingest_metrics *m, vx_metrics *reg)
{
    m->messages = vx_metrics_counter(reg, "valdrix_ingest_messages_total",
                                     "Messages fetched from the cost-event stream", NULL);
    m->received = vx_metrics_counter(reg, "valdrix_ingest_events_received_total",
                                     "Cost events decoded from messages", NULL);
    m->written = vx_metrics_counter(reg, "valdrix_ingest_events_written_total",
                                    "Cost events inserted as new rows", NULL);
    m->duplicate = vx_metrics_counter(reg, "valdrix_ingest_events_duplicate_total",
                                      "Cost events that changed nothing (already stored)", NULL);
    m->restated = vx_metrics_counter(reg, "valdrix_ingest_events_restated_total",
                                     "Stored rows replaced by a higher revision", NULL);
    m->store_retries = vx_metrics_counter(reg, "valdrix_ingest_store_retries_total",
                                          "Batch writes retried after Postgres failed", NULL);
    m->batches = vx_metrics_counter(reg, "valdrix_ingest_batches_total",
                                    "Batches written (each in its own transaction)", NULL);
    m->redelivered = vx_metrics_counter(reg, "valdrix_ingest_messages_redelivered_total",
                                        "Messages fetched again after an earlier delivery", NULL);
    m->timeouts = vx_metrics_counter(reg, "valdrix_ingest_store_timeouts_total",
                                     "Batch writes that ran past the statement timeout", NULL);
    m->splits = vx_metrics_counter(reg, "valdrix_ingest_batch_splits_total",
                                   "Batches split in halves after their write timed out", NULL);
    m->settle_failures = vx_metrics_counter(reg, "valdrix_ingest_settle_failures_total",
                                            "Acks or naks that did not reach the server", NULL);
    static const char *const kinds[4] = {"reason=\"decode\"", "reason=\"invalid\"",
                                         "reason=\"tenant\"", "reason=\"storage\""};
    for (int i = 0; i < 4; i++)
        m->dead[i] =
            vx_metrics_counter(reg, "valdrix_ingest_events_deadlettered_total",
                               "Messages or events sent to the dead-letter stream", kinds[i]);
    m->batch_seconds = vx_metrics_histogram(
        reg, "valdrix_ingest_batch_seconds", "Time to write one fetched batch, commit included",
        NULL, vx_metrics_latency_bounds, vx_metrics_latency_bounds_len);
    m->pending = vx_metrics_gauge(reg, "valdrix_ingest_consumer_pending",
                                  "Messages in the stream not yet delivered to ingest", NULL);
    m->ack_pending = vx_metrics_gauge(reg, "valdrix_ingest_consumer_ack_pending",
                                      "Messages delivered but not yet acked", NULL);
}

static bool stopping(const ingest_ctx *ctx)
{
    return vx_service_stopping(ctx->host);
}

/* Resets the messages' ack timers. Best effort: a message whose timer runs out is redelivered
 * and written again, which changes nothing (a duplicate revision is a no-op). */
static void keep_alive(vx_bus_msg **msgs, int n)
{
    for (int i = 0; i < n; i++)
        vx_status_ignore(vx_bus_msg_in_progress(msgs[i]));
}

/* Sleeps up to ms in small steps, keeping the messages' ack timers alive; false if asked to
 * stop meanwhile. */
static bool backoff(ingest_ctx *ctx, vx_bus_msg **msgs, int n, int64_t ms)
{
    int64_t until = vx_mono_ms() + ms;
    int64_t touch = 0;
    while (vx_mono_ms() < until) {
        if (stopping(ctx))
            return false;
        if (vx_mono_ms() >= touch) {
            keep_alive(msgs, n);
            touch = vx_mono_ms() + ctx->cfg->ack_wait_ms / 3;
        }
        vx_sleep_ms(50);
    }
    return true;
}

static int cmp_tenant(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Removes events of tenants that do not exist (they go to the dead-letter stream): each distinct
 * tenant of the batch is checked once, and those the ledger's cache does not know are asked
 * about in one query. */
static vx_status check_tenants(ingest_ctx *ctx, PGconn *c, ingest_work *w, char *err,
                               size_t err_cap)
{
    if (w->n_events == 0)
        return VX_OK;
    const char **ids = vx_xmalloc(w->n_events * sizeof *ids);
    for (size_t i = 0; i < w->n_events; i++)
        ids[i] = w->events[i]->tenant_id;
    qsort(ids, w->n_events, sizeof *ids, cmp_tenant);
    size_t n = 0;
    for (size_t i = 0; i < w->n_events; i++)
        if (n == 0 || strcmp(ids[n - 1], ids[i]) != 0)
            ids[n++] = ids[i];
    bool *exists = vx_xmalloc(n * sizeof *exists);
    vx_status st = vx_ledger_tenants_exist(ctx->ledger, c, ids, n, exists, err, err_cap);
    /* Rejecting drops events (and the strings ids point to stay in the decoded batches). */
    for (size_t i = 0; st == VX_OK && i < n; i++) {
        if (exists[i])
            continue;
        char reason[100];
        snprintf(reason, sizeof reason, "tenant_id: unknown tenant %.40s", ids[i]);
        ingest_work_reject_tenant(w, ids[i], INGEST_REJECT_TENANT, reason);
    }
    vx_free(exists);
    vx_free(ids);
    return st;
}

static void log_counts(const ingest_work *w, const vx_ledger_counts *k, double secs,
                       double store_secs)
{
    vx_log(VX_LOG_DEBUG, "batch committed", VX_INT("messages", w->n_msgs),
           VX_DBL("store_seconds", store_secs), VX_INT("events", w->n_events),
           VX_INT("inserted", k->inserted), VX_INT("restated", k->restated),
           VX_INT("duplicate", k->duplicate), VX_INT("rejected", w->n_rejects),
           VX_DBL("seconds", secs));
}

static void dlq_subject(const ingest_ctx *ctx, const char *subject, char *out, size_t cap)
{
    const char *t = vx_cost_subject_tenant(ctx->cfg->subject_prefix, subject);
    snprintf(out, cap, "%s.%s", ctx->cfg->dlq_prefix, t ? t : "unknown");
}

/* Publishes one reject to the dead-letter stream (with its reason in headers). */
/* What of a refused message the dead-letter stream can always take: the first 64 KiB. */
#define DLQ_TRUNCATE_BYTES (64u * 1024u)

/* Publishes one reject to the dead-letter stream with its reason in headers. With `truncate`,
 * only the first DLQ_TRUNCATE_BYTES of the payload go, and Vx-Truncated gives the original
 * size (for a message the stream refuses whole, e.g. one at the server's size limit). */
static vx_status dead_letter(ingest_ctx *ctx, const ingest_work *w, const ingest_reject *r,
                             vx_bus_msg *msg, bool truncate)
{
    char subject[256], seq[32], id[96], event[16], original[24], reason[sizeof r->reason];
    ingest_reason_one_line(r->reason, reason, sizeof reason);
    dlq_subject(ctx, vx_bus_msg_subject(msg), subject, sizeof subject);
    uint64_t sseq = vx_bus_msg_stream_seq(msg);
    snprintf(seq, sizeof seq, "%" PRIu64, sseq);
    snprintf(event, sizeof event, "%d", r->event);
    snprintf(id, sizeof id, "dlq-%s-%" PRIu64 "-%d", ctx->cfg->stream, sseq, r->event);
    vx_bus_header h[] = {
        {"Vx-Reason", reason},
        {"Vx-Reason-Code", ingest_reject_kind_str(r->kind)},
        {"Vx-Original-Subject", vx_bus_msg_subject(msg)},
        {"Vx-Original-Seq", seq},
        {"Vx-Event-Index", event},
        {"Vx-Truncated", original},
    };
    size_t n_headers = sizeof h / sizeof h[0] - 1;
    const void *data = vx_bus_msg_data(msg);
    size_t len = vx_bus_msg_len(msg);
    uint8_t *packed = NULL;
    if (r->event >= 0 && w->batches[r->msg]) {
        /* only the bad event, as a batch of one */
        Valdrix__V1__CostEventBatch one = VALDRIX__V1__COST_EVENT_BATCH__INIT;
        vx_cost_event *ev = w->batches[r->msg]->events[r->event];
        one.n_events = 1;
        one.events = &ev;
        len = valdrix__v1__cost_event_batch__get_packed_size(&one);
        packed = vx_xmalloc(len);
        valdrix__v1__cost_event_batch__pack(&one, packed);
        data = packed;
    }
    if (truncate && len > DLQ_TRUNCATE_BYTES) {
        snprintf(original, sizeof original, "%zu", len);
        len = DLQ_TRUNCATE_BYTES;
        n_headers++;
    }
    vx_status st = vx_bus_publish(ctx->bus, subject, data, len, id, h, n_headers, NULL);
    vx_free(packed);
    if (st == VX_OK) {
        vx_counter_inc(ctx->m.dead[r->kind]);
        vx_log(VX_LOG_WARN, "dead-lettered", VX_STR("subject", subject),
               VX_STR("reason_code", ingest_reject_kind_str(r->kind)), VX_STR("reason", r->reason),
               VX_INT("stream_seq", sseq), VX_INT("event", r->event),
               VX_BOOL("truncated", n_headers == sizeof h / sizeof h[0]),
               VX_STR("trace_id", vx_bus_msg_header(msg, "traceparent")));
    }
    return st;
}

/* Dead-letters a reject, retrying while NATS is away (true once it is stored); a publish the
 * stream refuses for good is sent again truncated. false if asked to stop meanwhile. */
static bool dead_letter_reliably(ingest_ctx *ctx, const ingest_work *w, const ingest_reject *r,
                                 vx_bus_msg **msgs, int n)
{
    vx_bus_msg *msg = msgs[r->msg];
    bool truncate = false;
    int64_t d = 100;
    for (;;) {
        vx_status st = dead_letter(ctx, w, r, msg, truncate);
        if (st == VX_OK)
            return true;
        if (st != VX_UNAVAILABLE && st != VX_TIMEOUT && !truncate) {
            vx_log(VX_LOG_WARN, "dead-letter stream refused the message, sending it truncated",
                   VX_STR("status", vx_status_str(st)), VX_INT("bytes", vx_bus_msg_len(msg)));
            truncate = true;
            continue;
        }
        vx_log(VX_LOG_WARN, "dead-letter publish failed, will retry",
               VX_STR("status", vx_status_str(st)), VX_INT("retry_in_ms", d));
        if (!backoff(ctx, msgs, n, d))
            return false;
        d = d * 2 > 5000 ? 5000 : d * 2;
    }
}

/* Acks (or hands back) every message. A lost ack only means a redelivery, which the ledger
 * finds duplicate; it is counted and logged. */
static void settle_all_later(ingest_ctx *ctx, vx_bus_msg **msgs, int n, bool ack,
                             int64_t nak_delay_ms)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        vx_status st = ack ? vx_bus_msg_ack(msgs[i]) : vx_bus_msg_nak(msgs[i], nak_delay_ms);
        failed += st != VX_OK;
        vx_bus_msg_destroy(msgs[i]);
    }
    if (failed) {
        vx_counter_add(ctx->m.settle_failures, (uint64_t)failed);
        vx_log(VX_LOG_WARN, ack ? "acks failed: the messages will be redelivered" : "naks failed",
               VX_INT("messages", failed));
    }
}

static void settle_all(ingest_ctx *ctx, vx_bus_msg **msgs, int n, bool ack)
{
    settle_all_later(ctx, msgs, n, ack, 0);
}

/* Tells the readers (their caches) which tenants' costs changed. A lost notice leaves a cached
 * answer in place until it expires, so failures are logged, once per batch, and not retried. */
static void announce(ingest_ctx *ctx, const char **changed, size_t n)
{
    size_t failed = 0;
    vx_status last = VX_OK;
    for (size_t i = 0; i < n; i++) {
        char subject[256];
        snprintf(subject, sizeof subject, "%s.%s", ctx->cfg->changed_prefix, changed[i]);
        vx_status st = vx_bus_publish_core(ctx->bus, subject, "", 0);
        if (st != VX_OK) {
            failed++;
            last = st;
        }
    }
    if (failed)
        vx_log(VX_LOG_WARN, "change notices not sent: cached answers stay until they expire",
               VX_INT("tenants", failed), VX_STR("error", vx_status_str(last)));
}

/* A fetched batch between the two stages of the pipeline. */
typedef struct {
    vx_bus_msg **msgs;
    int n;
    ingest_work w;
    vx_ledger_batch *batch; /* prepared COPY rows of w's valid events */
    int64_t t0_ns;
} pending;

/* Decodes, validates and formats the messages (owned by the result from now on). */
static pending *build(ingest_ctx *ctx, vx_bus_msg **msgs, int n)
{
    pending *p = vx_xcalloc(1, sizeof *p);
    p->t0_ns = vx_mono_ns();
    p->msgs = msgs;
    p->n = n;
    ingest_msg *in = vx_xmalloc((size_t)n * sizeof *in);
    for (int i = 0; i < n; i++)
        in[i] = (ingest_msg){vx_bus_msg_subject(msgs[i]), vx_bus_msg_data(msgs[i]),
                             vx_bus_msg_len(msgs[i])};
    ingest_work_build(&p->w, in, (size_t)n, ctx->cfg->subject_prefix);
    vx_free(in);
    p->batch = vx_ledger_batch_create(p->w.events, p->w.n_events);
    return p;
}

/* Stage 1 (fetching thread): decode, validate, format. */
static pending *prepare(ingest_ctx *ctx, vx_bus_msg **msgs, int n)
{
    pending *p = build(ctx, msgs, n);
    vx_counter_add(ctx->m.messages, (uint64_t)n);
    vx_counter_add(ctx->m.received, p->w.received);
    for (int i = 0; i < n; i++)
        if (vx_bus_msg_deliveries(msgs[i]) > 1)
            vx_counter_inc(ctx->m.redelivered);
    return p;
}

/* A new batch of messages [from, to) of p, decoded again; p keeps no claim on them (only its
 * own array of pointers, freed with it). */
static pending *sub_batch(ingest_ctx *ctx, const pending *p, int from, int to)
{
    vx_bus_msg **msgs = vx_xmalloc((size_t)(to - from) * sizeof *msgs);
    memcpy(msgs, p->msgs + from, (size_t)(to - from) * sizeof *msgs);
    pending *s = build(ctx, msgs, to - from);
    s->t0_ns = p->t0_ns;
    return s;
}

static void pending_destroy(pending *p)
{
    vx_ledger_batch_destroy(p->batch);
    ingest_work_cleanup(&p->w);
    vx_free(p->msgs);
    vx_free(p);
}

/* Writes the batch; tenants that do not exist are dead-lettered first (the prepared rows are
 * then rebuilt without them), and when Postgres refuses the batch as a whole it is written
 * message by message so that one bad message goes to the dead-letter stream and the rest is
 * kept. */
static vx_status store(ingest_ctx *ctx, pending *p, vx_ledger_counts *counts, const char **changed,
                       size_t *n_changed, char *err, size_t err_cap)
{
    ingest_work *w = &p->w;
    PGconn *c;
    vx_status st = vx_pg_acquire(ctx->pool, &c);
    if (st != VX_OK) {
        vx_pg_pool_last_error(ctx->pool, err, err_cap);
        /* no free connection in time is not the batch's write timing out */
        return st == VX_TIMEOUT ? VX_UNAVAILABLE : st;
    }
    st = check_tenants(ctx, c, w, err, err_cap);
    /* Rejects (unknown tenants now, or a refused message in an earlier attempt) change the
     * events: the prepared rows must follow. */
    if (st == VX_OK && w->n_events != vx_ledger_batch_size(p->batch)) {
        vx_ledger_batch_destroy(p->batch);
        p->batch = vx_ledger_batch_create(w->events, w->n_events);
    }
    if (st == VX_OK)
        st = vx_ledger_write_batch(ctx->ledger, c, p->batch, counts, changed, n_changed, err,
                                   err_cap);
    if (st == VX_INVALID) {
        vx_log(VX_LOG_WARN, "batch refused, writing message by message", VX_STR("error", err));
        *counts = (vx_ledger_counts){0};
        *n_changed = 0;
        st = VX_OK;
        for (size_t m = 0; m < w->n_msgs && st == VX_OK; m++) {
            size_t start = SIZE_MAX, end = 0;
            for (size_t i = 0; i < w->n_events; i++) {
                if (w->event_msg[i] == m) {
                    if (start == SIZE_MAX)
                        start = i;
                    end = i + 1;
                }
            }
            if (start == SIZE_MAX)
                continue;
            vx_ledger_counts k;
            size_t nch = 0;
            st = vx_ledger_write(ctx->ledger, c, w->events + start, end - start, &k,
                                 changed + *n_changed, &nch, err, err_cap);
            if (st == VX_INVALID) {
                ingest_work_reject_msg(w, m, INGEST_REJECT_STORAGE, err);
                st = VX_OK;
                continue;
            }
            counts->inserted += k.inserted;
            counts->restated += k.restated;
            counts->duplicate += k.duplicate;
            *n_changed += nch;
        }
    }
    vx_pg_release(ctx->pool, c, st == VX_UNAVAILABLE || st == VX_TIMEOUT);
    return st;
}

/* Where a writer shows the batch whose rows it is writing, so that the progress thread can keep
 * the batch's ack timers alive while the writer waits on Postgres. The writer touches no message
 * of the batch while it is shown here. */
typedef struct {
    pthread_mutex_t mu;
    pending *p;
} progress_slot;

static void show_progress(progress_slot *slot, pending *p)
{
    pthread_mutex_lock(&slot->mu);
    slot->p = p;
    pthread_mutex_unlock(&slot->mu);
}

static bool commit(ingest_ctx *ctx, progress_slot *slot, pending *p);

/* The batch's write ran past the statement timeout: write each half on its own (and so on down
 * to single messages), so that one slow or locked part does not hold back the rest and the
 * same batch is never retried unchanged. false if handed back because of shutdown. */
static bool split(ingest_ctx *ctx, progress_slot *slot, pending *p)
{
    int half = p->n / 2;
    vx_counter_inc(ctx->m.splits);
    vx_log(VX_LOG_WARN, "batch write timed out: writing it in halves", VX_INT("messages", p->n));
    pending *left = sub_batch(ctx, p, 0, half);
    pending *right = sub_batch(ctx, p, half, p->n);
    bool ok = commit(ctx, slot, left);
    if (ok) {
        ok = commit(ctx, slot, right);
    } else {
        settle_all(ctx, right->msgs, right->n, false);
    }
    pending_destroy(left);
    pending_destroy(right);
    return ok;
}

/* A single message whose write still times out: handed back with a growing delay, and on its
 * timeout_deliveries-th delivery given up (its events dead-lettered, reason given). true if it
 * is to be dead-lettered now. */
static bool give_up_on_timeout(ingest_ctx *ctx, pending *p, const char *err)
{
    uint64_t deliveries = vx_bus_msg_deliveries(p->msgs[0]);
    if (deliveries >= (uint64_t)ctx->cfg->timeout_deliveries) {
        char reason[200];
        snprintf(reason, sizeof reason,
                 "storage: writing it timed out (statement timeout) on each of %llu deliveries",
                 (unsigned long long)deliveries);
        ingest_work_reject_msg(&p->w, 0, INGEST_REJECT_STORAGE, reason);
        return true;
    }
    int64_t delay = 1000;
    for (uint64_t i = 1; i < deliveries && delay < 60000; i++)
        delay *= 2;
    delay = delay > 60000 ? 60000 : delay;
    vx_log(VX_LOG_WARN, "message write timed out alone: handed back for later",
           VX_STR("error", err), VX_INT("deliveries", deliveries), VX_INT("retry_in_ms", delay),
           VX_INT("stream_seq", vx_bus_msg_stream_seq(p->msgs[0])));
    settle_all_later(ctx, p->msgs, p->n, false, delay);
    return false;
}

/* Stage 2 (writing thread): store with retries, dead-letter, ack, announce. false if the batch
 * was handed back because of shutdown. Its messages are settled (and destroyed) either way. */
static bool commit(ingest_ctx *ctx, progress_slot *slot, pending *p)
{
    vx_bus_msg **msgs = p->msgs;
    int n = p->n;
    ingest_work *w = &p->w;
    const char **changed = vx_xmalloc((w->n_events + 1) * sizeof *changed);
    size_t n_changed = 0;
    vx_ledger_counts counts = {0};
    int64_t delay = 100;
    int64_t t_store = vx_mono_ns();
    bool done = false;
    for (;;) {
        char err[512] = "";
        show_progress(slot, p);
        vx_status st = store(ctx, p, &counts, changed, &n_changed, err, sizeof err);
        show_progress(slot, NULL);
        atomic_store(&ctx->pg_ok, st == VX_OK || st == VX_TIMEOUT);
        if (st == VX_OK)
            break;
        if (st == VX_TIMEOUT) {
            vx_counter_inc(ctx->m.timeouts);
            counts = (vx_ledger_counts){0};
            n_changed = 0;
            if (n > 1) {
                done = split(ctx, slot, p);
                goto out;
            }
            if (give_up_on_timeout(ctx, p, err))
                break;
            done = true;
            goto out;
        }
        vx_counter_inc(ctx->m.store_retries);
        vx_log(VX_LOG_WARN, "batch not stored, will retry", VX_STR("status", vx_status_str(st)),
               VX_STR("error", err), VX_INT("retry_in_ms", delay), VX_INT("messages", n));
        if (!backoff(ctx, msgs, n, delay)) {
            vx_log(VX_LOG_INFO, "stopping: batch handed back", VX_INT("messages", n));
            settle_all(ctx, msgs, n, false);
            goto out;
        }
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    double store_secs = (double)(vx_mono_ns() - t_store) / 1e9;
    /* Rows are committed. Dead-letter the rejects, then ack everything. */
    for (size_t i = 0; i < w->n_rejects; i++) {
        if (!dead_letter_reliably(ctx, w, &w->rejects[i], msgs, n)) {
            /* The rows are committed; redelivery finds them duplicates and retries this. */
            settle_all(ctx, msgs, n, false);
            goto out;
        }
    }
    settle_all(ctx, msgs, n, true);
    announce(ctx, changed, n_changed);
    vx_counter_inc(ctx->m.batches);
    vx_counter_add(ctx->m.written, counts.inserted);
    vx_counter_add(ctx->m.restated, counts.restated);
    vx_counter_add(ctx->m.duplicate, counts.duplicate);
    double secs = (double)(vx_mono_ns() - p->t0_ns) / 1e9;
    vx_histogram_observe(ctx->m.batch_seconds, secs);
    log_counts(w, &counts, secs, store_secs);
    done = true;
out:
    vx_free(changed);
    return done;
}

/* The hand-over between the stages: the fetching thread queues prepared batches for a few
 * writer threads (each with its own connection), so decoding overlaps with Postgres and
 * Postgres works on more than one batch at a time. A progress thread keeps the ack timers of
 * the batches being written alive. */
#define QUEUE_MAX 16

typedef struct {
    ingest_ctx *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pending *queue[QUEUE_MAX];
    int head, count, cap;
    bool closed;          /* no more batches will come */
    bool handed_back;     /* a writer stopped on shutdown */
    progress_slot *slots; /* one per writer */
    int n_slots, next_slot;
    atomic_bool progress_stop;
} pipeline;

static void *writer_main(void *arg)
{
    pipeline *pl = arg;
    pthread_mutex_lock(&pl->mu);
    progress_slot *slot = &pl->slots[pl->next_slot++];
    pthread_mutex_unlock(&pl->mu);
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        while (pl->count == 0 && !pl->closed && !pl->handed_back)
            pthread_cond_wait(&pl->cond, &pl->mu);
        pending *p = NULL;
        if (pl->count > 0 && !pl->handed_back) {
            p = pl->queue[pl->head];
            pl->head = (pl->head + 1) % QUEUE_MAX;
            pl->count--;
            pthread_cond_broadcast(&pl->cond);
        }
        pthread_mutex_unlock(&pl->mu);
        if (!p)
            break;
        bool ok = commit(pl->ctx, slot, p);
        pending_destroy(p);
        if (!ok) {
            pthread_mutex_lock(&pl->mu);
            pl->handed_back = true;
            pthread_cond_broadcast(&pl->cond);
            pthread_mutex_unlock(&pl->mu);
            break;
        }
    }
    return NULL;
}

/* Sends in-progress acks (+WIP) for every batch being written, a third of the ack wait apart,
 * so a write that takes longer than the ack wait is not delivered a second time meanwhile. */
static void *progress_main(void *arg)
{
    pipeline *pl = arg;
    int64_t every = pl->ctx->cfg->ack_wait_ms / 3;
    int64_t next = vx_mono_ms() + every;
    while (!atomic_load(&pl->progress_stop)) {
        vx_sleep_ms(50);
        if (vx_mono_ms() < next)
            continue;
        for (int i = 0; i < pl->n_slots; i++) {
            progress_slot *slot = &pl->slots[i];
            pthread_mutex_lock(&slot->mu);
            if (slot->p)
                keep_alive(slot->p->msgs, slot->p->n);
            pthread_mutex_unlock(&slot->mu);
        }
        next = vx_mono_ms() + every;
    }
    return NULL;
}

/* Queues a batch once there is room, keeping its ack timers alive while it waits; false if
 * the writers stopped (the batch is then handed back here). */
static bool hand_over(pipeline *pl, pending *p)
{
    int64_t touch = vx_mono_ms() + pl->ctx->cfg->ack_wait_ms / 3;
    pthread_mutex_lock(&pl->mu);
    while (pl->count >= pl->cap && !pl->handed_back) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pl->cond, &pl->mu, &ts);
        if (pl->count >= pl->cap && vx_mono_ms() >= touch) {
            pthread_mutex_unlock(&pl->mu);
            keep_alive(p->msgs, p->n);
            touch = vx_mono_ms() + pl->ctx->cfg->ack_wait_ms / 3;
            pthread_mutex_lock(&pl->mu);
        }
    }
    bool ok = !pl->handed_back;
    if (ok) {
        pl->queue[(pl->head + pl->count) % QUEUE_MAX] = p;
        pl->count++;
        pthread_cond_broadcast(&pl->cond);
    }
    pthread_mutex_unlock(&pl->mu);
    if (!ok) {
        settle_all(pl->ctx, p->msgs, p->n, false);
        pending_destroy(p);
    }
    return ok;
}

/* Cuts a fetch into batches bounded by VX_INGEST_BATCH_BYTES and queues them; false if the
 * writers stopped (what was not queued is then handed back). Takes the messages and the array. */
static bool hand_over_fetch(pipeline *pl, vx_bus_msg **msgs, int n)
{
    ingest_ctx *ctx = pl->ctx;
    size_t *lens = vx_xmalloc((size_t)n * sizeof *lens);
    for (int i = 0; i < n; i++)
        lens[i] = vx_bus_msg_len(msgs[i]);
    bool ok = true, cut = false;
    int at = 0;
    while (at < n) {
        int k =
            (int)ingest_batch_take(lens + at, (size_t)(n - at), (uint64_t)ctx->cfg->batch_bytes);
        if (!ok) {
            settle_all(ctx, msgs + at, k, false);
        } else {
            vx_bus_msg **part = msgs;
            if (at > 0 || k < n) {
                cut = true;
                part = vx_xmalloc((size_t)k * sizeof *part);
                memcpy(part, msgs + at, (size_t)k * sizeof *part);
            }
            ok = hand_over(pl, prepare(ctx, part, k));
        }
        at += k;
    }
    if (cut)
        vx_free(msgs); /* each part has its own array */
    vx_free(lens);
    return ok;
}

void ingest_run(ingest_ctx *ctx)
{
    int max = ctx->cfg->fetch_max;
    int n_writers = ctx->cfg->writers;
    pipeline pl = {.ctx = ctx, .cap = n_writers < QUEUE_MAX ? n_writers : QUEUE_MAX};
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cond, NULL);
    pl.slots = vx_xcalloc((size_t)n_writers, sizeof *pl.slots);
    pl.n_slots = n_writers;
    for (int i = 0; i < n_writers; i++)
        pthread_mutex_init(&pl.slots[i].mu, NULL);
    atomic_init(&pl.progress_stop, false);
    pthread_t progress;
    bool progress_started = pthread_create(&progress, NULL, progress_main, &pl) == 0;
    if (!progress_started)
        vx_log(VX_LOG_WARN, "cannot start the progress thread: long writes may be redelivered",
               VX_INT("writers", n_writers));
    pthread_t *writers = vx_xcalloc((size_t)n_writers, sizeof *writers);
    int started = 0;
    for (int i = 0; i < n_writers; i++) {
        if (pthread_create(&writers[started], NULL, writer_main, &pl) != 0) {
            vx_log(VX_LOG_ERROR, "cannot start a writer thread", VX_INT("writer", i));
            continue;
        }
        started++;
    }
    if (started == 0) {
        vx_service_fail(ctx->host, "no writer thread could be started: not consuming");
    }
    int64_t next_gauges = 0, fetch_delay = 100;
    while (!stopping(ctx)) {
        vx_bus_msg **msgs = vx_xmalloc((size_t)max * sizeof *msgs);
        int n = 0;
        vx_status st = vx_bus_fetch(ctx->consumer, msgs, max, ctx->cfg->fetch_wait_ms, &n);
        if (st != VX_OK || n == 0)
            vx_free(msgs);
        if (st != VX_OK) {
            vx_log(VX_LOG_WARN, "fetch failed", VX_STR("status", vx_status_str(st)),
                   VX_INT("retry_in_ms", fetch_delay));
            for (int64_t waited = 0; waited < fetch_delay && !stopping(ctx); waited += 50)
                vx_sleep_ms(50);
            fetch_delay = fetch_delay * 2 > 5000 ? 5000 : fetch_delay * 2;
            continue;
        }
        fetch_delay = 100;
        if (n > 0 && !hand_over_fetch(&pl, msgs, n))
            break;
        if (vx_mono_ms() >= next_gauges) {
            uint64_t pending_msgs, ack_pending;
            if (vx_bus_consumer_pending(ctx->consumer, &pending_msgs, &ack_pending) == VX_OK) {
                vx_gauge_set(ctx->m.pending, (double)pending_msgs);
                vx_gauge_set(ctx->m.ack_pending, (double)ack_pending);
            }
            next_gauges = vx_mono_ms() + 2000;
        }
    }
    /* Let the writers finish (or hand back) what they hold and what waits for them. */
    pthread_mutex_lock(&pl.mu);
    pl.closed = true;
    pthread_cond_broadcast(&pl.cond);
    pthread_mutex_unlock(&pl.mu);
    for (int i = 0; i < started; i++)
        pthread_join(writers[i], NULL);
    vx_free(writers);
    atomic_store(&pl.progress_stop, true);
    if (progress_started)
        pthread_join(progress, NULL);
    for (int i = 0; i < n_writers; i++)
        pthread_mutex_destroy(&pl.slots[i].mu);
    vx_free(pl.slots);
    while (pl.count > 0) {
        pending *p = pl.queue[pl.head];
        pl.head = (pl.head + 1) % QUEUE_MAX;
        pl.count--;
        settle_all(ctx, p->msgs, p->n, false);
        pending_destroy(p);
    }
    pthread_cond_destroy(&pl.cond);
    pthread_mutex_destroy(&pl.mu);
}
