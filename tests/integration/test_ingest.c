/* Integration tests of valdrix-ingest: the real binary, NATS JetStream and Postgres. Each test
 * runs its own stream, subjects and tenants, so tests can run in parallel with everything else
 * on the shared stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../support/events.h"
#include "../support/harness.h"
#include "../support/vx_test_env.h"
#include "vx/bus.h"
#include "vx/clock.h"
#include "vx/cost.h"
#include "vx/uuid.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char stream[64], dlq_stream[64], prefix[64], dlq_prefix[64];
    char env[16][160];
    const char *envp[17];
    int n_env;
    vx_bus *bus;
    PGconn *pg;
    char tenant[37];
    char id[48], log[256];
    h_service svc[4]; /* ingest replicas a test started; teardown stops those left running */
    int n_svc;
} fixture;

static void add_env(fixture *f, const char *k, const char *v)
{
    char kv[sizeof f->env[0]];
    snprintf(kv, sizeof kv, "%s=%s", k, v);
    memcpy(f->env[f->n_env], kv, sizeof kv);
    f->envp[f->n_env] = f->env[f->n_env];
    f->n_env++;
    f->envp[f->n_env] = NULL;
}

static int setup(void **state)
{
    if (!vx_test_env("VX_NATS_URL") || !vx_test_env("VX_PG_DSN") ||
        !vx_test_env("VX_PG_ADMIN_DSN")) {
        *state = NULL;
        return 0;
    }
    fixture *f = calloc(1, sizeof *f);
    char *id = f->id;
    h_unique(id, sizeof f->id, "ti");
    snprintf(f->stream, sizeof f->stream, "T_EV_%s", id);
    snprintf(f->dlq_stream, sizeof f->dlq_stream, "T_DLQ_%s", id);
    snprintf(f->prefix, sizeof f->prefix, "%s.events", id);
    snprintf(f->dlq_prefix, sizeof f->dlq_prefix, "%s.deadletter", id);
    const char *dir = getenv("VX_TEST_LOG_DIR");
    snprintf(f->log, sizeof f->log, "%s/ingest-%s.log", dir ? dir : "/tmp", id);
    add_env(f, "VX_INGEST_STREAM", f->stream);
    add_env(f, "VX_DLQ_STREAM", f->dlq_stream);
    add_env(f, "VX_INGEST_SUBJECT", f->prefix);
    add_env(f, "VX_DLQ_SUBJECT", f->dlq_prefix);
    add_env(f, "VX_INGEST_ACK_WAIT", "3s");
    add_env(f, "VX_LOG_LEVEL", "info");
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "test-ingest", .timeout_ms = 5000};
    assert_int_equal(vx_bus_connect(&bc, &f->bus), VX_OK);
    f->pg = h_admin();
    h_create_tenant(f->pg, f->tenant, "starter");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    for (int i = 0; i < f->n_svc; i++)
        h_service_signal(&f->svc[i], SIGKILL, 5000);
    vx_bus_destroy(f->bus);
    h_delete_test_streams(f->id);
    h_forget_tenants();
    PQfinish(f->pg);
    free(f);
    return 0;
}

#define SKIP_IF_NO_STACK(f)                                                                        \
    fixture *f = *state;                                                                           \
    if (!f)                                                                                        \
        skip();

/* Starts an ingest replica and waits until it is ready; `extra` may add one setting. */
static h_service *start_ingest(fixture *f, const char *extra)
{
    assert_true(f->n_svc < 4);
    const char *env[16];
    int n = 0;
    for (int i = 0; i < f->n_env; i++)
        env[n++] = f->envp[i];
    if (extra)
        env[n++] = extra;
    env[n] = NULL;
    h_service *s = &f->svc[f->n_svc++];
    h_service_start("valdrix-ingest", env, s);
    return s;
}

static void publish(fixture *f, const char *tenant_subject, vx_test_event *evs, size_t n,
                    const char *msg_id, bool *dup)
{
    vx_cost_event **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &evs[i].ev;
    Valdrix__V1__CostEventBatch b = VALDRIX__V1__COST_EVENT_BATCH__INIT;
    b.n_events = n;
    b.events = ptrs;
    size_t len = valdrix__v1__cost_event_batch__get_packed_size(&b);
    uint8_t *buf = malloc(len + 1);
    valdrix__v1__cost_event_batch__pack(&b, buf);
    char subject[160];
    snprintf(subject, sizeof subject, "%s.%s", f->prefix, tenant_subject);
    assert_int_equal(vx_bus_publish(f->bus, subject, buf, len, msg_id, NULL, 0, dup), VX_OK);
    free(buf);
    free(ptrs);
}

static void publish_raw(fixture *f, const char *tenant_subject, const void *data, size_t len)
{
    char subject[160];
    snprintf(subject, sizeof subject, "%s.%s", f->prefix, tenant_subject);
    assert_int_equal(vx_bus_publish(f->bus, subject, data, len, NULL, NULL, 0, NULL), VX_OK);
}

static const char COUNT_SQL[] = "SELECT count(*) FROM cost_records WHERE tenant_id = $1";
static const char ROLLUP_MISMATCH_SQL[] = VX_TEST_ROLLUP_MISMATCH_SQL;

static void test_ingest_published_events_arrive_exactly(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *ing = start_ingest(f, NULL);
    int port = ing->port;
    vx_test_event evs[3];
    char ids[3][37];
    int64_t t = vx_civil_to_unix(2025, 8, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        vx_test_uuid(ids[i]);
    vx_test_event_fill(&evs[0], f->tenant, ids[0], t, 1, 100000000, 0, "AmazonEC2");
    vx_test_event_fill(&evs[1], f->tenant, ids[1], t + 3600, 0, 20000000, 0, "AmazonEC2");
    vx_test_event_fill(&evs[2], f->tenant, ids[2], t + 86400, 1234567, 891011121, 0, "AmazonS3");
    publish(f, f->tenant, evs, 3, NULL, NULL);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 3, 15000), 3);
    PGresult *r = PQexecParams(f->pg,
                               "SELECT sum(billed_cost)::text, min(effective_cost)::text FROM "
                               "cost_records WHERE tenant_id = $1",
                               1, NULL, (const char *[]){f->tenant}, NULL, NULL, 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "1234569.011011121");
    /* effective cost defaults to billed cost when a publisher leaves it out */
    assert_string_equal(PQgetvalue(r, 0, 1), "0.020000000");
    PQclear(r);
    assert_int_equal(h_query_int(f->pg, ROLLUP_MISMATCH_SQL, f->tenant, NULL), 0);
    assert_int_equal(h_query_int(f->pg,
                                 "SELECT sum(record_count) FROM cost_daily WHERE tenant_id = $1",
                                 f->tenant, NULL),
                     3);
    int64_t until = vx_mono_ms() + 5000;
    while (h_metric(port, "valdrix_ingest_events_written_total") != 3 && vx_mono_ms() < until)
        vx_sleep_ms(50);
    assert_true(h_metric(port, "valdrix_ingest_events_written_total") == 3);
    assert_int_equal(h_service_stop(ing), 0);
}

static void test_ingest_resent_messages_and_events_store_nothing_twice(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *ing = start_ingest(f, NULL);
    int port = ing->port;
    vx_test_event evs[2];
    char ids[2][37];
    int64_t t = vx_civil_to_unix(2025, 8, 2, 0, 0, 0);
    vx_test_uuid(ids[0]);
    vx_test_uuid(ids[1]);
    vx_test_event_fill(&evs[0], f->tenant, ids[0], t, 5, 0, 0, "AmazonEC2");
    vx_test_event_fill(&evs[1], f->tenant, ids[1], t, 7, 0, 0, "AmazonEC2");
    bool dup = false;
    publish(f, f->tenant, evs, 2, "same-message-1", &dup);
    assert_false(dup);
    /* the same message again: JetStream drops it inside its duplicate window */
    publish(f, f->tenant, evs, 2, "same-message-1", &dup);
    assert_true(dup);
    /* the same events in new messages: the ledger keeps one row each */
    publish(f, f->tenant, evs, 2, "other-message-2", &dup);
    publish(f, f->tenant, evs, 1, NULL, &dup);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 2, 15000), 2);
    int64_t until = vx_mono_ms() + 10000;
    while (h_metric(port, "valdrix_ingest_events_duplicate_total") < 3 && vx_mono_ms() < until)
        vx_sleep_ms(50);
    assert_true(h_metric(port, "valdrix_ingest_events_duplicate_total") == 3);
    assert_int_equal(h_query_int(f->pg, COUNT_SQL, f->tenant, NULL), 2);
    assert_int_equal(h_query_int(f->pg,
                                 "SELECT sum(billed_cost) FROM cost_daily WHERE tenant_id = $1",
                                 f->tenant, NULL),
                     12);
    assert_int_equal(h_service_stop(ing), 0);
}

static void test_ingest_restatement_replaces_row_and_rollup(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *ing = start_ingest(f, NULL);
    int port = ing->port;
    vx_test_event ev;
    char id[37];
    vx_test_uuid(id);
    int64_t t = vx_civil_to_unix(2025, 8, 3, 12, 0, 0);
    vx_test_event_fill(&ev, f->tenant, id, t, 100, 0, 1, "AmazonEC2");
    publish(f, f->tenant, &ev, 1, NULL, NULL);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 1, 15000), 1);
    vx_test_event_fill(&ev, f->tenant, id, t, 60, 0, 2, "AmazonEC2");
    publish(f, f->tenant, &ev, 1, NULL, NULL);
    const char *sql = "SELECT sum(billed_cost) FROM cost_daily WHERE tenant_id = $1";
    assert_int_equal(h_wait_query(f->pg, sql, f->tenant, NULL, 60, 15000), 60);
    assert_int_equal(h_query_int(f->pg, "SELECT revision FROM cost_records WHERE tenant_id = $1",
                                 f->tenant, NULL),
                     2);
    /* a late lower revision changes nothing */
    vx_test_event_fill(&ev, f->tenant, id, t, 999, 0, 1, "AmazonEC2");
    publish(f, f->tenant, &ev, 1, NULL, NULL);
    int64_t until = vx_mono_ms() + 10000;
    while (h_metric(port, "valdrix_ingest_events_duplicate_total") < 1 && vx_mono_ms() < until)
        vx_sleep_ms(50);
    assert_int_equal(h_query_int(f->pg, sql, f->tenant, NULL), 60);
    assert_true(h_metric(port, "valdrix_ingest_events_restated_total") == 1);
    assert_int_equal(h_query_int(f->pg, ROLLUP_MISMATCH_SQL, f->tenant, NULL), 0);
    assert_int_equal(h_service_stop(ing), 0);
}

/* Reads every message of the dead-letter stream; returns how many, and counts reason codes. */
static int drain_dlq(fixture *f, int *decode, int *invalid, int *tenant, char *reasons, size_t cap)
{
    vx_bus_consumer *c;
    vx_consumer_config cc = {.stream = f->dlq_stream, .durable = "test", .ack_wait_ms = 30000};
    assert_int_equal(vx_bus_consumer_create(f->bus, &cc, &c), VX_OK);
    int total = 0;
    size_t rl = 0;
    for (;;) {
        vx_bus_msg *msgs[64];
        int n = 0;
        assert_int_equal(vx_bus_fetch(c, msgs, 64, 500, &n), VX_OK);
        if (n == 0)
            break;
        for (int i = 0; i < n; i++) {
            const char *code = vx_bus_msg_header(msgs[i], "Vx-Reason-Code");
            const char *why = vx_bus_msg_header(msgs[i], "Vx-Reason");
            assert_non_null(code);
            assert_non_null(why);
            *decode += strcmp(code, "decode") == 0;
            *invalid += strcmp(code, "invalid") == 0;
            *tenant += strcmp(code, "tenant") == 0;
            rl += (size_t)snprintf(reasons + rl, rl < cap ? cap - rl : 0, "%s|", why);
            assert_int_equal(vx_bus_msg_ack(msgs[i]), VX_OK);
            vx_bus_msg_destroy(msgs[i]);
            total++;
        }
    }
    vx_bus_consumer_destroy(c);
    return total;
}

static void test_ingest_poison_goes_to_dead_letters_with_reason(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *ing = start_ingest(f, NULL);
    int port = ing->port;
    int64_t t = vx_civil_to_unix(2025, 8, 4, 0, 0, 0);
    /* bytes that are not a CostEventBatch */
    const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    publish_raw(f, f->tenant, garbage, sizeof garbage);
    /* one valid and one invalid event in the same batch */
    vx_test_event evs[2];
    char ids[2][37];
    vx_test_uuid(ids[0]);
    vx_test_uuid(ids[1]);
    vx_test_event_fill(&evs[0], f->tenant, ids[0], t, 3, 0, 0, "AmazonEC2");
    vx_test_event_fill(&evs[1], f->tenant, ids[1], t, 3, 0, 0, "AmazonEC2");
    evs[1].ev.billing_currency = vx_pb_str("usd");
    publish(f, f->tenant, evs, 2, NULL, NULL);
    /* an event naming another tenant than its subject */
    char other[37], idx[37];
    h_create_tenant(f->pg, other, "starter");
    vx_test_uuid(idx);
    vx_test_event forged;
    vx_test_event_fill(&forged, other, idx, t, 1, 0, 0, "AmazonEC2");
    publish(f, f->tenant, &forged, 1, NULL, NULL);
    /* a tenant that does not exist */
    char ghost[37], idg[37];
    vx_test_uuid(ghost);
    vx_test_uuid(idg);
    vx_test_event ghost_ev;
    vx_test_event_fill(&ghost_ev, ghost, idg, t, 1, 0, 0, "AmazonEC2");
    publish(f, ghost, &ghost_ev, 1, NULL, NULL);

    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 1, 15000), 1);
    int64_t until = vx_mono_ms() + 10000;
    double dead = 0;
    while (vx_mono_ms() < until) {
        dead = h_metric(port, "valdrix_ingest_events_deadlettered_total{reason=\"decode\"}") +
               h_metric(port, "valdrix_ingest_events_deadlettered_total{reason=\"invalid\"}") +
               h_metric(port, "valdrix_ingest_events_deadlettered_total{reason=\"tenant\"}");
        if (dead >= 4)
            break;
        vx_sleep_ms(50);
    }
    assert_true(dead == 4);
    int decode = 0, invalid = 0, tenant = 0;
    char reasons[4096] = "";
    assert_int_equal(drain_dlq(f, &decode, &invalid, &tenant, reasons, sizeof reasons), 4);
    assert_int_equal(decode, 1);
    assert_int_equal(invalid, 1);
    assert_int_equal(tenant, 2);
    assert_non_null(strstr(reasons, "billing_currency"));
    assert_non_null(strstr(reasons, "unknown tenant"));
    assert_int_equal(h_query_int(f->pg, COUNT_SQL, other, NULL), 0);
    /* still serving: a good event after the poison is stored */
    vx_test_event after;
    char ida[37];
    vx_test_uuid(ida);
    vx_test_event_fill(&after, f->tenant, ida, t, 1, 0, 0, "AmazonEC2");
    publish(f, f->tenant, &after, 1, NULL, NULL);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 2, 15000), 2);
    assert_int_equal(h_http_get(port, "/readyz", NULL, 0), 200);
    assert_int_equal(h_service_stop(ing), 0);
}

static void test_ingest_oversized_poison_is_dead_lettered_truncated(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *ing = start_ingest(f, NULL);
    /* junk just under the server's 8 MiB payload limit: its dead letter, with headers added,
     * would be over it, so it goes truncated */
    size_t big = 8 * 1024 * 1024 - 64;
    uint8_t *junk = malloc(big);
    memset(junk, 0xff, big);
    publish_raw(f, f->tenant, junk, big);
    free(junk);
    vx_test_event ev;
    char id[37];
    vx_test_uuid(id);
    vx_test_event_fill(&ev, f->tenant, id, vx_civil_to_unix(2025, 8, 7, 0, 0, 0), 4, 0, 0, "S");
    publish(f, f->tenant, &ev, 1, NULL, NULL);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 1, 20000), 1);
    vx_bus_consumer *c;
    vx_consumer_config cc = {.stream = f->dlq_stream, .durable = "test", .ack_wait_ms = 30000};
    assert_int_equal(vx_bus_consumer_create(f->bus, &cc, &c), VX_OK);
    vx_bus_msg *msgs[4];
    int n = 0;
    int64_t until = vx_mono_ms() + 10000;
    while (n == 0 && vx_mono_ms() < until)
        assert_int_equal(vx_bus_fetch(c, msgs, 4, 500, &n), VX_OK);
    assert_int_equal(n, 1);
    assert_non_null(vx_bus_msg_header(msgs[0], "Vx-Reason-Code"));
    assert_string_equal(vx_bus_msg_header(msgs[0], "Vx-Reason-Code"), "decode");
    assert_non_null(vx_bus_msg_header(msgs[0], "Vx-Truncated"));
    char want[32];
    snprintf(want, sizeof want, "%zu", big);
    assert_string_equal(vx_bus_msg_header(msgs[0], "Vx-Truncated"), want);
    assert_int_equal(vx_bus_msg_len(msgs[0]), 64 * 1024);
    assert_int_equal(vx_bus_msg_ack(msgs[0]), VX_OK);
    vx_bus_msg_destroy(msgs[0]);
    vx_bus_consumer_destroy(c);
    assert_int_equal(h_service_stop(ing), 0);
}

/* Runs `valdrix generate` for the fixture's tenant and stream; returns its pid. */
static pid_t spawn_generate(fixture *f, int days, int per_day, const char *seed)
{
    static char d[16], p[16];
    snprintf(d, sizeof d, "%d", days);
    snprintf(p, sizeof p, "%d", per_day);
    const char *args[] = {"valdrix", "generate",         "--tenant", f->tenant, "--days",
                          d,         "--events-per-day", p,          "--seed",  seed,
                          "--end",   "2025-06-01",       NULL};
    return h_spawn("valdrix", args, f->envp, f->log);
}

static int wait_exit(pid_t pid, int64_t timeout_ms)
{
    return h_stop(pid, 0, timeout_ms);
}

static void test_ingest_two_replicas_share_the_stream(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *a = start_ingest(f, "VX_INGEST_FETCH=8");
    h_service *b = start_ingest(f, "VX_INGEST_FETCH=8");
    int port1 = a->port, port2 = b->port;
    pid_t gen = spawn_generate(f, 40, 500, "7");
    assert_int_equal(wait_exit(gen, 60000), 0);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 20000, 60000), 20000);
    double w1 = h_metric(port1, "valdrix_ingest_events_written_total");
    double w2 = h_metric(port2, "valdrix_ingest_events_written_total");
    fprintf(stderr, "replica a wrote %.0f, replica b wrote %.0f\n", w1, w2);
    assert_true(w1 > 0 && w2 > 0);
    assert_true(w1 + w2 == 20000);
    assert_int_equal(h_query_int(f->pg, ROLLUP_MISMATCH_SQL, f->tenant, NULL), 0);
    assert_int_equal(h_service_stop(a), 0);
    assert_int_equal(h_service_stop(b), 0);
}

static void test_ingest_kill9_during_publish_loses_and_duplicates_nothing(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_service *ing = start_ingest(f, NULL);
    const int total = 120 * 1000;
    pid_t gen = spawn_generate(f, 120, 1000, "42");
    /* kill the consumer in the middle of the stream */
    int64_t rows = 0, until = vx_mono_ms() + 60000;
    while ((rows = h_query_int(f->pg, COUNT_SQL, f->tenant, NULL)) < 20000 && vx_mono_ms() < until)
        vx_sleep_ms(20);
    assert_true(rows >= 20000);
    assert_int_equal(h_service_signal(ing, SIGKILL, 5000), 128 + SIGKILL);
    int64_t at_kill = h_query_int(f->pg, COUNT_SQL, f->tenant, NULL);
    fprintf(stderr, "killed ingest at %lld rows\n", (long long)at_kill);
    ing = start_ingest(f, NULL);
    /* and once more, while it catches up */
    until = vx_mono_ms() + 60000;
    while ((rows = h_query_int(f->pg, COUNT_SQL, f->tenant, NULL)) < at_kill + 15000 &&
           rows < total && vx_mono_ms() < until)
        vx_sleep_ms(20);
    assert_int_equal(h_service_signal(ing, SIGKILL, 5000), 128 + SIGKILL);
    ing = start_ingest(f, NULL);
    assert_int_equal(wait_exit(gen, 120000), 0);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, total, 120000), total);
    assert_int_equal(
        h_query_int(f->pg, "SELECT count(DISTINCT event_id) FROM cost_records WHERE tenant_id = $1",
                    f->tenant, NULL),
        total);
    assert_int_equal(h_query_int(f->pg, ROLLUP_MISMATCH_SQL, f->tenant, NULL), 0);
    assert_int_equal(h_service_stop(ing), 0);
}

/* Starts ingest with its Postgres connections going through a proxy the test can cut. */
static h_service *start_ingest_via_proxy(fixture *f, h_proxy **proxy)
{
    char host[64], dsn[512] = "VX_PG_DSN=";
    int pg_port;
    const char *real = getenv("VX_PG_DSN");
    assert_true(
        h_dsn_via(real, "127.0.0.1", 1, dsn + 10, sizeof dsn - 10, host, sizeof host, &pg_port));
    *proxy = h_proxy_start(host, pg_port);
    assert_non_null(*proxy);
    assert_true(h_dsn_via(real, "127.0.0.1", h_proxy_port(*proxy), dsn + 10, sizeof dsn - 10, host,
                          sizeof host, &pg_port));
    return start_ingest(f, dsn);
}

static void test_ingest_rides_out_a_postgres_outage(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_proxy *proxy;
    h_service *ing = start_ingest_via_proxy(f, &proxy);
    int port = ing->port;
    h_proxy_cut(proxy);
    vx_test_event evs[5];
    char ids[5][37];
    int64_t t = vx_civil_to_unix(2025, 8, 5, 0, 0, 0);
    for (int i = 0; i < 5; i++) {
        vx_test_uuid(ids[i]);
        vx_test_event_fill(&evs[i], f->tenant, ids[i], t + i, 2, 0, 0, "AmazonEC2");
    }
    publish(f, f->tenant, evs, 5, NULL, NULL);
    /* while Postgres is unreachable nothing is stored, nothing acked, and readiness says so */
    int64_t until = vx_mono_ms() + 10000;
    while (h_http_get(port, "/readyz", NULL, 0) != 503 && vx_mono_ms() < until)
        vx_sleep_ms(50);
    assert_int_equal(h_http_get(port, "/readyz", NULL, 0), 503);
    /* it has tried to store the batch and failed, and nothing is there */
    until = vx_mono_ms() + 10000;
    while (h_metric(port, "valdrix_ingest_store_retries_total") < 2 && vx_mono_ms() < until)
        vx_sleep_ms(50);
    assert_int_equal(h_query_int(f->pg, COUNT_SQL, f->tenant, NULL), 0);
    assert_true(h_metric(port, "valdrix_ingest_store_retries_total") >= 1);
    h_proxy_restore(proxy);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 5, 20000), 5);
    assert_true(h_wait_ready(port, 10000));
    assert_int_equal(h_service_stop(ing), 0);
    h_proxy_stop(proxy);
}

static void test_ingest_sigterm_during_outage_hands_batch_back(void **state)
{
    SKIP_IF_NO_STACK(f);
    h_proxy *proxy;
    h_service *ing = start_ingest_via_proxy(f, &proxy);
    int port = ing->port;
    h_proxy_cut(proxy);
    vx_test_event ev;
    char id[37];
    vx_test_uuid(id);
    vx_test_event_fill(&ev, f->tenant, id, vx_civil_to_unix(2025, 8, 6, 0, 0, 0), 9, 0, 0,
                       "AmazonEC2");
    publish(f, f->tenant, &ev, 1, NULL, NULL);
    int64_t until = vx_mono_ms() + 10000;
    while (h_metric(port, "valdrix_ingest_store_retries_total") < 1 && vx_mono_ms() < until)
        vx_sleep_ms(50);
    /* stops promptly even though its batch could not be written... */
    assert_int_equal(h_service_stop(ing), 0);
    h_proxy_restore(proxy);
    /* ...and the batch it handed back is written by the next replica */
    ing = start_ingest(f, NULL);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 1, 20000), 1);
    assert_int_equal(h_service_stop(ing), 0);
    h_proxy_stop(proxy);
}

/* Creates the fixture's event stream as ingest would, so that messages can be published before
 * ingest starts (and one fetch then takes them together). */
static void ensure_stream(fixture *f)
{
    char subjects[96];
    snprintf(subjects, sizeof subjects, "%s.>", f->prefix);
    vx_stream_config sc = {
        .name = f->stream, .subjects = subjects, .work_queue = true, .discard_new = true};
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, NULL, 0), VX_OK);
}

/* Publishes one message of one event for the tenant, in month `t`, without waiting for acks. */
static void publish_one_async(fixture *f, const char *tenant, int64_t t)
{
    vx_test_event ev;
    char id[37];
    vx_test_uuid(id);
    vx_test_event_fill(&ev, tenant, id, t, 1, 0, 0, "AmazonEC2");
    vx_cost_event *ptr = &ev.ev;
    Valdrix__V1__CostEventBatch b = VALDRIX__V1__COST_EVENT_BATCH__INIT;
    b.n_events = 1;
    b.events = &ptr;
    uint8_t buf[1024];
    size_t len = valdrix__v1__cost_event_batch__get_packed_size(&b);
    assert_true(len <= sizeof buf);
    valdrix__v1__cost_event_batch__pack(&b, buf);
    char subject[160];
    snprintf(subject, sizeof subject, "%s.%s", f->prefix, tenant);
    assert_int_equal(vx_bus_publish_async(f->bus, subject, buf, len, NULL, NULL, 0), VX_OK);
}

static void test_ingest_8000_tenants_each_stored_exactly_once(void **state)
{
    SKIP_IF_NO_STACK(f);
    enum { TENANTS = 8000, GHOSTS = 3 };
    char like[80];
    snprintf(like, sizeof like, "it8k-%s-%%", f->id);
    /* the tenants in one statement */
    const char *p[1] = {f->id};
    PGresult *r = PQexecParams(f->pg,
                               "INSERT INTO tenants (id, name, plan) SELECT gen_random_uuid(), "
                               "'it8k-' || $1 || '-' || g, 'starter' FROM generate_series(1, "
                               "8000) g RETURNING id::text",
                               1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), TENANTS);
    int64_t t = vx_civil_to_unix(2025, 9, 9, 0, 0, 0);
    ensure_stream(f);
    for (int i = 0; i < TENANTS; i++) {
        publish_one_async(f, PQgetvalue(r, i, 0), t + (i % 24) * 3600);
        if (i == TENANTS / 2) {
            /* tenants that do not exist, in the middle of the stream */
            for (int g = 0; g < GHOSTS; g++) {
                char ghost[37];
                vx_test_uuid(ghost);
                publish_one_async(f, ghost, t);
            }
        }
    }
    PQclear(r);
    uint64_t failed = 0;
    assert_int_equal(vx_bus_publish_async_complete(f->bus, 60000, &failed), VX_OK);
    assert_int_equal(failed, 0);
    /* a cache smaller than the tenants: it must keep admitting, evicting the oldest */
    h_service *ing = start_ingest(f, "VX_INGEST_TENANT_CACHE=1000");
    int port = ing->port;
    const char *rows_sql = "SELECT count(*) FROM cost_records WHERE tenant_id IN (SELECT id FROM "
                           "tenants WHERE name LIKE $1)";
    assert_int_equal(h_wait_query(f->pg, rows_sql, like, NULL, TENANTS, 120000), TENANTS);
    assert_true(h_wait_metric(port, "valdrix_ingest_events_deadlettered_total{reason=\"tenant\"}",
                              GHOSTS, 20000) == GHOSTS);
    /* every tenant has exactly its one row: none lost, none twice */
    assert_int_equal(h_query_int(f->pg,
                                 "SELECT count(*) FROM (SELECT t.id FROM tenants t LEFT JOIN "
                                 "cost_records c ON c.tenant_id = t.id WHERE t.name LIKE $1 "
                                 "GROUP BY t.id HAVING count(c.tenant_id) = 1) x",
                                 like, NULL),
                     TENANTS);
    assert_int_equal(h_query_int(f->pg,
                                 "SELECT coalesce(sum(record_count), 0) FROM cost_daily WHERE "
                                 "tenant_id IN (SELECT id FROM tenants WHERE name LIKE $1)",
                                 like, NULL),
                     TENANTS);
    assert_true(h_metric(port, "valdrix_ingest_events_written_total") == TENANTS);
    assert_true(h_metric(port, "valdrix_ingest_events_duplicate_total") == 0);
    assert_int_equal(h_service_stop(ing), 0);
    r = PQexecParams(f->pg,
                     "WITH t AS (SELECT id FROM tenants WHERE name LIKE $1), "
                     "d1 AS (DELETE FROM cost_daily WHERE tenant_id IN (SELECT id FROM t)), "
                     "d2 AS (DELETE FROM cost_records WHERE tenant_id IN (SELECT id FROM t)), "
                     "d3 AS (DELETE FROM tenant_data_versions WHERE tenant_id IN (SELECT id FROM "
                     "t)) SELECT 1",
                     1, NULL, (const char *[]){like}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
}

static void test_ingest_batches_close_at_the_byte_bound(void **state)
{
    SKIP_IF_NO_STACK(f);
    /* published before ingest starts, so that one fetch takes them all */
    int64_t t = vx_civil_to_unix(2025, 8, 8, 0, 0, 0);
    ensure_stream(f);
    for (int i = 0; i < 5; i++) {
        vx_test_event evs[3];
        char ids[3][37];
        for (int e = 0; e < 3; e++) {
            vx_test_uuid(ids[e]);
            vx_test_event_fill(&evs[e], f->tenant, ids[e], t + i * 60 + e, 1, 0, 0, "S");
        }
        publish(f, f->tenant, evs, 3, NULL, NULL);
    }
    /* a bound below one message: every batch is one message */
    h_service *ing = start_ingest(f, "VX_INGEST_BATCH_BYTES=1");
    int port = ing->port;
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 15, 15000), 15);
    assert_true(h_wait_metric(port, "valdrix_ingest_batches_total", 5, 10000) == 5);
    assert_true(h_metric(port, "valdrix_ingest_messages_total") == 5);
    assert_int_equal(h_service_stop(ing), 0);
}

/* Makes the month partition of `unix_s` and takes a lock on it that blocks inserts (not reads)
 * until the returned connection rolls back. */
static PGconn *lock_partition(fixture *f, int64_t unix_s)
{
    char ts[32];
    vx_format_date(unix_s, ts, sizeof ts);
    PGresult *r = PQexecParams(f->pg, "SELECT vx_ensure_month_partition($1::timestamptz)", 1, NULL,
                               (const char *[]){ts}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s IN SHARE MODE", PQgetvalue(r, 0, 0));
    PQclear(r);
    PGconn *lock = h_admin();
    r = PQexec(lock, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    return lock;
}

static void unlock_partition(PGconn *lock)
{
    PQclear(PQexec(lock, "ROLLBACK"));
    PQfinish(lock);
}

static void test_ingest_timed_out_batch_is_split_and_the_stuck_message_dead_lettered(void **state)
{
    SKIP_IF_NO_STACK(f);
    /* a month no other test writes, its partition locked against inserts */
    int64_t stuck_t = vx_civil_to_unix(2011, 2, 3, 0, 0, 0);
    PGconn *lock = lock_partition(f, stuck_t);
    int64_t t = vx_civil_to_unix(2025, 8, 9, 0, 0, 0);
    ensure_stream(f);
    for (int m = 0; m < 4; m++) {
        vx_test_event evs[2];
        char ids[2][37];
        for (int e = 0; e < 2; e++) {
            vx_test_uuid(ids[e]);
            vx_test_event_fill(&evs[e], f->tenant, ids[e], (m == 3 ? stuck_t : t) + m * 60 + e, 1,
                               0, 0, "S");
        }
        publish(f, f->tenant, evs, 2, NULL, NULL);
    }
    add_env(f, "VX_PG_STATEMENT_TIMEOUT", "1s");
    h_service *ing = start_ingest(f, "VX_INGEST_TIMEOUT_DELIVERIES=2");
    int port = ing->port;
    /* the three messages without the stuck month are stored while the lock is held */
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 6, 20000), 6);
    /* the stuck one timed out alone twice, and its events went to the dead-letter stream */
    assert_true(h_wait_metric(port, "valdrix_ingest_events_deadlettered_total{reason=\"storage\"}",
                              2, 30000) == 2);
    assert_true(h_metric(port, "valdrix_ingest_batch_splits_total") >= 2);
    assert_true(h_metric(port, "valdrix_ingest_store_timeouts_total") >= 3);
    unlock_partition(lock);
    vx_bus_consumer *c;
    vx_consumer_config cc = {.stream = f->dlq_stream, .durable = "test", .ack_wait_ms = 30000};
    assert_int_equal(vx_bus_consumer_create(f->bus, &cc, &c), VX_OK);
    vx_bus_msg *msgs[4];
    int n = 0;
    assert_int_equal(vx_bus_fetch(c, msgs, 4, 2000, &n), VX_OK);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        assert_string_equal(vx_bus_msg_header(msgs[i], "Vx-Reason-Code"), "storage");
        assert_non_null(strstr(vx_bus_msg_header(msgs[i], "Vx-Reason"), "timed out"));
        assert_int_equal(vx_bus_msg_ack(msgs[i]), VX_OK);
        vx_bus_msg_destroy(msgs[i]);
    }
    vx_bus_consumer_destroy(c);
    /* it was acked after dead-lettering: not stored later either */
    assert_int_equal(h_query_int(f->pg, COUNT_SQL, f->tenant, NULL), 6);
    assert_int_equal(h_http_get(port, "/readyz", NULL, 0), 200);
    assert_int_equal(h_service_stop(ing), 0);
}

static void test_ingest_long_write_is_kept_in_progress_not_redelivered(void **state)
{
    SKIP_IF_NO_STACK(f);
    /* a write blocked for well over the ack wait (3 s here) */
    int64_t t = vx_civil_to_unix(2011, 3, 4, 0, 0, 0);
    PGconn *lock = lock_partition(f, t);
    add_env(f, "VX_PG_STATEMENT_TIMEOUT", "60s");
    h_service *ing = start_ingest(f, NULL);
    int port = ing->port;
    vx_test_event evs[2];
    char ids[2][37];
    for (int e = 0; e < 2; e++) {
        vx_test_uuid(ids[e]);
        vx_test_event_fill(&evs[e], f->tenant, ids[e], t + e, 1, 0, 0, "S");
    }
    publish(f, f->tenant, evs, 2, NULL, NULL);
    assert_true(h_wait_metric(port, "valdrix_ingest_messages_total", 1, 10000) == 1);
    vx_sleep_ms(8000);
    assert_int_equal(h_query_int(f->pg, COUNT_SQL, f->tenant, NULL), 0);
    unlock_partition(lock);
    assert_int_equal(h_wait_query(f->pg, COUNT_SQL, f->tenant, NULL, 2, 20000), 2);
    assert_true(h_wait_metric(port, "valdrix_ingest_batches_total", 1, 10000) == 1);
    /* held in progress: delivered once, written once */
    assert_true(h_metric(port, "valdrix_ingest_messages_redelivered_total") == 0);
    assert_true(h_metric(port, "valdrix_ingest_messages_total") == 1);
    assert_true(h_metric(port, "valdrix_ingest_events_duplicate_total") == 0);
    assert_int_equal(h_service_stop(ing), 0);
}

static void test_ingest_bad_configuration_exits_78_naming_the_variable(void **state)
{
    SKIP_IF_NO_STACK(f);
    char out[256];
    const char *env[] = {"VX_INGEST_FETCH=lots", NULL};
    const char *args[] = {"valdrix-ingest", NULL};
    assert_int_equal(h_run("valdrix-ingest", args, env, out, sizeof out), 78);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_published_events_arrive_exactly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_resent_messages_and_events_store_nothing_twice,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_restatement_replaces_row_and_rollup, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_poison_goes_to_dead_letters_with_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_oversized_poison_is_dead_lettered_truncated,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_two_replicas_share_the_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ingest_kill9_during_publish_loses_and_duplicates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_rides_out_a_postgres_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_sigterm_during_outage_hands_batch_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_8000_tenants_each_stored_exactly_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ingest_batches_close_at_the_byte_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_ingest_timed_out_batch_is_split_and_the_stuck_message_dead_lettered, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_ingest_long_write_is_kept_in_progress_not_redelivered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_bad_configuration_exits_78_naming_the_variable,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
