/* POST /v1/cost-events: decode the JSON body (array or NDJSON), publish every valid event to
 * JetStream as one CostEventBatch message (so a request is published whole or not at all) and
 * answer 202 only after JetStream has acked it. An Idempotency-Key makes the message id, so a
 * retried request is dropped by JetStream's duplicate window (and the ledger keeps one row per
 * event id after it). */
#include "handlers.h"

#include "vx/alloc.h"
#include "vx/cost.h"
#include "vx/log.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 10000

static void msg_id(const char *tenant, const char *idem, const uint8_t *bytes, size_t len,
                   char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, tenant, strlen(tenant));
    /* The key and the events together: a retry (same key, same events) is dropped as a
     * duplicate; the same key reused for other events is not mistaken for a retry. */
    if (idem) {
        EVP_DigestUpdate(ctx, "|idem|", 6);
        EVP_DigestUpdate(ctx, idem, strlen(idem));
    }
    EVP_DigestUpdate(ctx, "|body|", 6);
    EVP_DigestUpdate(ctx, bytes, len);
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void hex_sha256(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, alen);
    if (b)
        EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Binds an Idempotency-Key to the events it came with, atomically: the first use stores the
 * events' digest (0), a retry finds the same digest (1), a reuse for other events finds another
 * (2). KEYS[1] the binding, ARGV[1] the digest, ARGV[2] its lifetime in ms. */
static const char api_idem_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 0 end\n"
    "if v == ARGV[1] then return 1 end\n"
    "return 2\n";

vx_redis_script *api_idem_script_create(void)
{
    return vx_redis_script_create(api_idem_lua);
}

typedef enum { IDEM_NEW, IDEM_RETRY, IDEM_REUSED, IDEM_UNKNOWN } idem_verdict;

static idem_verdict idem_check(api_call *c, const char *idem, const uint8_t *packed, size_t plen)
{
    char key_digest[65], body_digest[65], ttl[24], key[128];
    hex_sha256(c->key.tenant_id, strlen(c->key.tenant_id), idem, strlen(idem), key_digest);
    hex_sha256(packed, plen, NULL, 0, body_digest);
    snprintf(key, sizeof key, "vx:idem:%s", key_digest);
    snprintf(ttl, sizeof ttl, "%lld", (long long)c->ctx->cfg->idempotency_ttl_ms);
    const char *keys[] = {key};
    const char *args[] = {body_digest, ttl};
    int64_t v = -1;
    size_t n = 0;
    char why[128] = "";
    vx_status st = vx_redis_eval_ints(c->ctx->redis, c->ctx->idem_script, keys, 1, args, 2, &v, 1,
                                      &n, why, sizeof why);
    if (st != VX_OK || n != 1 || v < 0 || v > 2) {
        /* Without Redis a reused key is not caught here; the events still get their own message
         * id, so nothing is lost or stored twice (rows are keyed by EventId). Said once per
         * outage; the Redis client's metrics count every failed command. */
        if (!atomic_exchange(&c->ctx->idem_unchecked, true))
            vx_log(VX_LOG_WARN, "idempotency keys not checked until Redis answers again",
                   VX_STR("status", vx_status_str(st)), VX_STR("error", why));
        return IDEM_UNKNOWN;
    }
    if (atomic_exchange(&c->ctx->idem_unchecked, false))
        vx_logm(VX_LOG_INFO, "idempotency keys checked again");
    return (idem_verdict)v;
}

static json_t *error_list(const vx_cost_json_batch *b)
{
    json_t *errs = json_array();
    for (size_t i = 0; i < b->n_errors; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer((json_int_t)b->errors[i].index));
        json_object_set_new(e, "detail", json_string(b->errors[i].reason));
        json_array_append_new(errs, e);
    }
    return errs;
}

static void events_job(api_call *c)
{
    size_t len;
    const char *body = vx_http_request_body(c->req, &len);
    vx_cost_json_batch b;
    char why[256];
    if (vx_cost_json_decode(body, len, c->key.tenant_id, MAX_EVENTS, &b, why, sizeof why) !=
        VX_OK) {
        api_set_problem(c, 400, "invalid-body", "Invalid body", "%s", why);
        return;
    }
    json_t *out = json_object();
    json_object_set_new(out, "received", json_integer((json_int_t)b.total));
    if (b.n_events == 0) {
        api_set_problem(c, 400, "invalid-events", "No valid event",
                        "none of the %zu events is valid; the first: %s", b.total,
                        b.n_errors ? b.errors[0].reason : "(none)");
        vx_cost_json_batch_cleanup(&b);
        json_decref(out);
        return;
    }
    Valdrix__V1__CostEventBatch batch = VALDRIX__V1__COST_EVENT_BATCH__INIT;
    batch.n_events = b.n_events;
    batch.events = b.events;
    size_t plen = valdrix__v1__cost_event_batch__get_packed_size(&batch);
    uint8_t *packed = vx_xmalloc(plen ? plen : 1);
    valdrix__v1__cost_event_batch__pack(&batch, packed);
    const char *idem = vx_http_request_header(c->req, "idempotency-key");
    if (idem && *idem && idem_check(c, idem, packed, plen) == IDEM_REUSED) {
        vx_free(packed);
        vx_cost_json_batch_cleanup(&b);
        json_decref(out);
        api_set_problem(c, 422, "idempotency-key-reused", "Idempotency-Key reused",
                        "this Idempotency-Key was first sent with other events; use a new key for "
                        "new events");
        return;
    }
    char id[65];
    msg_id(c->key.tenant_id, idem && *idem ? idem : NULL, packed, plen, id);
    char subject[256], traceparent[VX_TRACEPARENT_LEN + 1];
    snprintf(subject, sizeof subject, "%s.%s", c->ctx->cfg->events_subject, c->key.tenant_id);
    vx_trace child;
    vx_trace_child(vx_http_request_trace(c->req), &child);
    vx_trace_format(&child, traceparent);
    vx_bus_header h[] = {{"traceparent", traceparent}};
    bool duplicate = false;
    /* Not connected: publish nothing (nats.c would otherwise wait for its timeout), so the
     * answer can say for sure that nothing was published. */
    vx_status st = vx_bus_connected(c->ctx->bus)
                       ? vx_bus_publish(c->ctx->bus, subject, packed, plen, id, h, 1, &duplicate)
                       : VX_UNAVAILABLE;
    vx_free(packed);
    if (st != VX_OK) {
        vx_cost_json_batch_cleanup(&b);
        json_decref(out);
        if (st == VX_LIMIT)
            api_set_problem(c, 413, "too-large", "Too large",
                            "the events do not fit in one message; send fewer per request");
        else if (st == VX_FULL) {
            /* JetStream refused to store: the event stream is at its size bound (ingest is
             * behind or stopped). Nothing was stored; the same request later is safe. */
            api_set_problem(c, 503, "unavailable", "Service unavailable",
                            "the event stream is full (ingest has not caught up); nothing was "
                            "stored, send the request again later");
            c->retry_after_s = 30;
        } else if (st == VX_TIMEOUT) {
            /* sent, but not confirmed: it may or may not be stored */
            api_set_problem(c, 503, "unavailable", "Service unavailable",
                            "the event stream did not confirm the events in time; send the "
                            "request again (events are stored once per EventId)");
            c->retry_after_s = 5;
        } else {
            api_set_problem(c, 503, "unavailable", "Service unavailable",
                            "the event stream is unreachable (%s); nothing was published, send "
                            "the request again",
                            vx_status_str(st));
            c->retry_after_s = 5;
        }
        return;
    }
    json_object_set_new(out, "accepted", json_integer((json_int_t)b.n_events));
    json_object_set_new(out, "rejected", json_integer((json_int_t)b.n_errors));
    json_object_set_new(out, "duplicate_request", json_boolean(duplicate));
    json_object_set_new(out, "errors", error_list(&b));
    vx_cost_json_batch_cleanup(&b);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    api_set_json(c, 202, vx_xstrdup(text));
    free(text);
}

void handle_events(api_call *c)
{
    api_run_job(c, events_job);
}
