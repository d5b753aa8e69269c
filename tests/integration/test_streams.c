/* Ingest's streams against the real NATS and Postgres: the events stream is bounded (work
 * queue, size bound, refusing new messages when full) and the dead-letter stream ages out; what
 * was dead-lettered is listed by `valdrix dlq list` and, once its cause is fixed, replayed by
 * `valdrix dlq replay`, each event stored once however often it is replayed. */
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char id[48], stream[64], dlq[64], prefix[64], dlq_prefix[64];
    char env[8][160];
    const char *envp[9];
    vx_bus *bus;
    PGconn *pg;
    h_service ingest;
    bool running;
} fixture;

static int setup(void **state)
{
    if (!vx_test_env("VX_NATS_URL") || !vx_test_env("VX_PG_DSN") ||
        !vx_test_env("VX_PG_ADMIN_DSN")) {
        *state = NULL;
        return 0;
    }
    fixture *f = calloc(1, sizeof *f);
    h_unique(f->id, sizeof f->id, "ts");
    snprintf(f->stream, sizeof f->stream, "T_EV_%s", f->id);
    snprintf(f->dlq, sizeof f->dlq, "T_DLQ_%s", f->id);
    snprintf(f->prefix, sizeof f->prefix, "%s.events", f->id);
    snprintf(f->dlq_prefix, sizeof f->dlq_prefix, "%s.deadletter", f->id);
    int n = 0;
    snprintf(f->env[n++], sizeof f->env[0], "VX_INGEST_STREAM=%s", f->stream);
    snprintf(f->env[n++], sizeof f->env[0], "VX_DLQ_STREAM=%s", f->dlq);
    snprintf(f->env[n++], sizeof f->env[0], "VX_INGEST_SUBJECT=%s", f->prefix);
    snprintf(f->env[n++], sizeof f->env[0], "VX_DLQ_SUBJECT=%s", f->dlq_prefix);
    snprintf(f->env[n++], sizeof f->env[0], "VX_INGEST_STREAM_MAX_MB=16");
    snprintf(f->env[n++], sizeof f->env[0], "VX_DLQ_MAX_AGE=48h");
    for (int i = 0; i < n; i++)
        f->envp[i] = f->env[i];
    f->envp[n] = NULL;
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "test-streams", .timeout_ms = 5000};
    assert_int_equal(vx_bus_connect(&bc, &f->bus), VX_OK);
    f->pg = h_admin();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    if (f->running)
        h_service_stop(&f->ingest);
    vx_bus_destroy(f->bus);
    h_delete_test_streams(f->id);
    h_forget_tenants();
    PQfinish(f->pg);
    free(f);
    return 0;
}

#define FIXTURE(f)                                                                                 \
    fixture *f = *state;                                                                           \
    if (!f)                                                                                        \
        skip();

/* Starts ingest; max_mb (0: the fixture's 16) bounds the events stream. */
static void start_ingest_bounded(fixture *f, int max_mb)
{
    const char *env[10];
    char bound[64];
    int n = 0;
    for (int i = 0; f->envp[i]; i++)
        if (max_mb == 0 || strncmp(f->envp[i], "VX_INGEST_STREAM_MAX_MB=", 24) != 0)
            env[n++] = f->envp[i];
    if (max_mb) {
        snprintf(bound, sizeof bound, "VX_INGEST_STREAM_MAX_MB=%d", max_mb);
        env[n++] = bound;
    }
    env[n] = NULL;
    h_service_start("valdrix-ingest", env, &f->ingest);
    f->running = true;
}

static void start_ingest(fixture *f)
{
    start_ingest_bounded(f, 0);
}

/* Publishes n events of tenant (one message, event ids id-0..id-(n-1) as UUIDv5 of them). */
static void publish(fixture *f, const char *tenant, int n, const char *msg_id)
{
    vx_test_event *evs = calloc((size_t)n, sizeof *evs);
    vx_cost_event **ptrs = calloc((size_t)n, sizeof *ptrs);
    vx_uuid ns;
    assert_true(vx_uuid_parse(tenant, 36, &ns));
    for (int i = 0; i < n; i++) {
        char name[64], eid[37];
        snprintf(name, sizeof name, "%s-%d", msg_id, i);
        vx_uuid u;
        vx_uuid_v5(&ns, name, strlen(name), &u);
        vx_uuid_format(&u, eid);
        vx_test_event_fill(&evs[i], tenant, eid, 1764547200 + 3600 * i, 2, 500000000, 1, "EC2");
        ptrs[i] = &evs[i].ev;
    }
    Valdrix__V1__CostEventBatch b = VALDRIX__V1__COST_EVENT_BATCH__INIT;
    b.n_events = (size_t)n;
    b.events = ptrs;
    size_t len = valdrix__v1__cost_event_batch__get_packed_size(&b);
    uint8_t *buf = malloc(len + 1);
    valdrix__v1__cost_event_batch__pack(&b, buf);
    char subject[160];
    snprintf(subject, sizeof subject, "%s.%s", f->prefix, tenant);
    assert_int_equal(vx_bus_publish(f->bus, subject, buf, len, msg_id, NULL, 0, NULL), VX_OK);
    free(buf);
    free(ptrs);
    free(evs);
}

/* Runs `valdrix dlq ARGS...` with the fixture's stream names; returns the exit code. */
static int dlq(fixture *f, const char *const *args, char *out, size_t cap)
{
    return h_run("valdrix", args, f->envp, out, cap);
}

static void test_streams_are_bounded(void **state)
{
    FIXTURE(f);
    start_ingest(f);
    vx_stream_info ev, dl;
    assert_int_equal(vx_bus_stream_info(f->bus, f->stream, &ev), VX_OK);
    assert_int_equal(vx_bus_stream_info(f->bus, f->dlq, &dl), VX_OK);
    /* events: leave once stored, bounded, refuse new ones when full */
    assert_true(ev.work_queue);
    assert_true(ev.discard_new);
    assert_int_equal(ev.max_bytes, 16 * 1024 * 1024);
    /* dead letters: age out, the oldest go when full */
    assert_false(dl.work_queue);
    assert_false(dl.discard_new);
    assert_int_equal(dl.max_age_ms, 48LL * 3600 * 1000);
    assert_int_equal(dl.max_bytes, 512 * 1024 * 1024);
    /* an event ingest stored is no longer in the stream */
    char tenant[37];
    h_create_tenant(f->pg, tenant, "starter");
    publish(f, tenant, 3, "bounded-1");
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  tenant, NULL, 3, 20000),
                     3);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(vx_bus_stream_info(f->bus, f->stream, &ev), VX_OK);
        if (ev.msgs == 0)
            break;
        vx_sleep_ms(50);
    }
    assert_int_equal(ev.msgs, 0);
    /* the fullness gauges are exported */
    char series[160];
    snprintf(series, sizeof series, "valdrix_ingest_stream_max_bytes{stream=\"%s\"}", f->stream);
    assert_int_equal(h_wait_metric(f->ingest.port, series, 16.0 * 1024 * 1024, 15000),
                     16.0 * 1024 * 1024);
}

/* A publisher meets a full stream: `valdrix generate` says so and how to go on; once ingest has
 * drained the stream, the same command again stores every event once. */
static void test_full_stream_refuses_publishers_until_drained(void **state)
{
    FIXTURE(f);
    start_ingest_bounded(f, 1);
    assert_int_equal(h_service_stop(&f->ingest), 0);
    f->running = false;
    char tenant[37];
    h_create_tenant(f->pg, tenant, "starter");
    /* 20 000 events of about 200 bytes: more than the 1 MiB the stream may hold */
    const char *gen[] = {"valdrix", "generate",         "--tenant", tenant,   "--days",
                         "10",      "--events-per-day", "2000",     "--seed", "5",
                         "--end",   "2026-10-01",       NULL};
    static char out[1 << 16];
    int rc = h_run("valdrix", gen, f->envp, out, sizeof out);
    if (rc != 1 || !strstr(out, "the event stream is full") || !strstr(out, "again later")) {
        fprintf(stderr, "---- valdrix generate, exit %d ----\n%s----\n", rc, out);
        fail_msg("valdrix generate did not say the stream is full");
    }
    vx_stream_info ev;
    assert_int_equal(vx_bus_stream_info(f->bus, f->stream, &ev), VX_OK);
    assert_true(ev.bytes <= 1024 * 1024);
    assert_true(ev.msgs > 0);
    /* ingest drains it; the same command again completes, and each event is stored once */
    start_ingest_bounded(f, 1);
    for (int i = 0; i < 400; i++) {
        assert_int_equal(vx_bus_stream_info(f->bus, f->stream, &ev), VX_OK);
        if (ev.msgs == 0)
            break;
        vx_sleep_ms(50);
    }
    assert_int_equal(ev.msgs, 0);
    /* as the message advises, the same command again (ingest drains while it publishes, and
     * 20 000 events do not fit at once: again until one run goes through) */
    for (int i = 0; i < 30 && (rc = h_run("valdrix", gen, f->envp, out, sizeof out)) != 0; i++)
        vx_sleep_ms(1000);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  tenant, NULL, 20000, 60000),
                     20000);
}

static void test_dlq_list_and_replay_store_each_event_once(void **state)
{
    FIXTURE(f);
    start_ingest(f);
    /* a tenant ingest does not know yet: its events are dead-lettered */
    char tenant[37];
    vx_test_uuid(tenant);
    publish(f, tenant, 4, "dlq-1");
    publish(f, tenant, 2, "dlq-2");
    /* every event is dead-lettered (one dead letter per event, or per message) */
    assert_int_equal(h_wait_metric(f->ingest.port,
                                   "valdrix_ingest_events_deadlettered_total{reason=\"tenant\"}", 6,
                                   20000),
                     6);
    vx_stream_info dl;
    assert_int_equal(vx_bus_stream_info(f->bus, f->dlq, &dl), VX_OK);
    assert_true(dl.msgs >= 2 && dl.msgs <= 6);
    char out[8192];
    const char *list[] = {"valdrix", "dlq", "list", "--tenant", tenant, NULL};
    assert_int_equal(dlq(f, list, out, sizeof out), 0);
    assert_non_null(strstr(out, tenant));
    assert_non_null(strstr(out, "tenant")); /* the reason code */
    /* replay needs a choice */
    const char *bare[] = {"valdrix", "dlq", "replay", NULL};
    assert_int_equal(dlq(f, bare, out, sizeof out), 2);
    assert_non_null(strstr(out, "--tenant T, --seq N or --all"));
    const char *bad[] = {"valdrix", "dlq", "replay", "--tenant", "not-a-tenant", NULL};
    assert_int_equal(dlq(f, bad, out, sizeof out), 2);

    /* the cause fixed (the tenant exists now), a replay stores every event */
    const char *p[2] = {tenant, tenant};
    PGresult *r = PQexecParams(f->pg,
                               "INSERT INTO tenants (id, name, plan) VALUES ($1, 'it-' || $2, "
                               "'starter')",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s", PQresultErrorMessage(r));
    PQclear(r);
    h_track_tenant(tenant);
    const char *replay[] = {"valdrix", "dlq", "replay", "--tenant", tenant, NULL};
    assert_int_equal(dlq(f, replay, out, sizeof out), 0);
    char want[64];
    snprintf(want, sizeof want, "%llu replayed, 0 skipped, 0 failed", (unsigned long long)dl.msgs);
    if (!strstr(out, want))
        fail_msg("%s", out);
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  tenant, NULL, 6, 20000),
                     6);
    /* replayed dead letters are gone: a second replay finds nothing */
    assert_int_equal(dlq(f, replay, out, sizeof out), 0);
    assert_non_null(strstr(out, "0 replayed"));
    /* the same events again (a publisher retrying) change nothing; then 4 new ones */
    publish(f, tenant, 4, "dlq-1");
    publish(f, tenant, 4, "dlq-3");
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  tenant, NULL, 10, 20000),
                     10);
    assert_int_equal(
        h_wait_metric(f->ingest.port, "valdrix_ingest_events_written_total", 10, 20000), 10);
    const char *missing[] = {"valdrix", "dlq", "replay", "--seq", "999999", NULL};
    int rc = dlq(f, missing, out, sizeof out);
    if (rc != 1)
        fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "no message #999999"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streams_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_stream_refuses_publishers_until_drained, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dlq_list_and_replay_store_each_event_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
