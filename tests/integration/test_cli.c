/* Integration tests of the valdrix command line against the real stack: keys are stored only as
 * hashes, a FOCUS CSV with a bad row publishes the rest and names the bad row's line and column,
 * and publishing the same file twice stores nothing twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../support/harness.h"
#include "../support/vx_test_env.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool have_stack(void)
{
    return vx_test_env("VX_NATS_URL") && vx_test_env("VX_PG_DSN") && vx_test_env("VX_PG_ADMIN_DSN");
}

static void test_cli_key_is_printed_once_and_stored_as_hash(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    char out[512];
    const char *create[] = {"valdrix",      "tenant", "create", "--name",
                            "cli-key-test", "--plan", "pro",    NULL};
    char name[64];
    snprintf(name, sizeof name, "cli-key-%d", (int)getpid());
    create[4] = name;
    assert_int_equal(h_run("valdrix", create, NULL, out, sizeof out), 0);
    char tenant[64];
    assert_int_equal(sscanf(out, "%63s", tenant), 1);
    h_track_tenant(tenant);
    const char *key_args[] = {"valdrix", "key", "create", "--tenant", tenant, NULL};
    assert_int_equal(h_run("valdrix", key_args, NULL, out, sizeof out), 0);
    char key[128];
    assert_int_equal(sscanf(out, "%127s", key), 1);
    assert_true(strncmp(key, "vxk_", 4) == 0);
    PGconn *pg = h_admin();
    /* the table holds the hash of the secret, never the secret */
    assert_int_equal(
        h_query_int(pg,
                    "SELECT count(*) FROM api_keys WHERE key_id = split_part($1, '.', 1) "
                    "AND tenant_id = $2 AND secret_sha256 = sha256(convert_to(split_part($1, '.', "
                    "2), 'UTF8'))",
                    key, tenant),
        1);
    assert_int_equal(
        h_query_int(pg,
                    "SELECT count(*) FROM api_keys WHERE position(convert_to(split_part($1, '.', "
                    "2), 'UTF8') in secret_sha256) > 0",
                    key, NULL),
        0);
    /* the service role finds the key (and only it) through the lookup function */
    PGconn *app = PQconnectdb(getenv("VX_PG_DSN"));
    assert_int_equal(PQstatus(app), CONNECTION_OK);
    const char *lookup = "SELECT tenant_id::text || '/' || revoked || '/' || plan FROM "
                         "vx_api_key_lookup(split_part($1, '.', 1))";
    PGresult *r = PQexecParams(app, lookup, 1, NULL, (const char *[]){key}, NULL, NULL, 0);
    assert_int_equal(PQntuples(r), 1);
    char want[128];
    snprintf(want, sizeof want, "%s/false/pro", tenant);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
    r = PQexec(app, "SELECT count(*) FROM api_keys");
    assert_string_equal(PQgetvalue(r, 0, 0), "0"); /* no tenant set: row-level security hides all */
    PQclear(r);
    const char *revoke[] = {"valdrix", "key", "revoke", "--key", key, NULL};
    assert_int_equal(h_run("valdrix", revoke, NULL, out, sizeof out), 0);
    r = PQexecParams(app, lookup, 1, NULL, (const char *[]){key}, NULL, NULL, 0);
    snprintf(want, sizeof want, "%s/true/pro", tenant);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
    PQfinish(app);
    assert_int_equal(h_run("valdrix", revoke, NULL, out, sizeof out), 1);
    assert_non_null(strstr(out, "no active key"));
    /* bad input is named */
    const char *bad_plan[] = {"valdrix", "tenant", "create", "--name", "x", "--plan", "gold", NULL};
    assert_int_equal(h_run("valdrix", bad_plan, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "--plan must be starter, growth, pro or enterprise, not 'gold'"));
    PQfinish(pg);
    h_forget_tenants();
}

static const char CSV[] =
    "\xef\xbb\xbf"
    "BillingCurrency,BilledCost,EffectiveCost,ListCost,ChargePeriodStart,ChargePeriodEnd,"
    "ProviderName,SubAccountId,ServiceName,ServiceCategory,RegionId,ResourceId,ChargeCategory,Tags,"
    "Extra\r\n"
    "USD,12.3456789,12.00,13,2025-09-01T00:00:00Z,2025-09-01T01:00:00Z,AWS,1111,AmazonEC2,Compute,"
    "us-east-1,i-1,Usage,\"{\"\"team\"\": \"\"core, infra\"\"}\",ignored\r\n"
    "USD,twelve,1,1,2025-09-01T00:00:00Z,2025-09-01T01:00:00Z,AWS,1111,AmazonEC2,Compute,"
    "us-east-1,i-2,Usage,{},ignored\r\n"
    "USD,0.000000001,0,0,2025-09-02,2025-09-03,GCP,proj-1,BigQuery,Analytics,europe-west1,ds-1,"
    "Usage,{},ignored\r\n";

/* One row more, published after the file again: once it is stored, ingest has seen everything
 * published before it. */
static const char SENTINEL_CSV[] =
    "BillingCurrency,BilledCost,EffectiveCost,ListCost,ChargePeriodStart,ChargePeriodEnd,"
    "ProviderName,SubAccountId,ServiceName,ServiceCategory,RegionId,ResourceId,ChargeCategory,Tags"
    "\r\n"
    "USD,1,1,1,2025-09-03,2025-09-04,GCP,proj-1,BigQuery,Analytics,europe-west1,ds-sentinel,"
    "Usage,{}\r\n";

/* What the publish test made: its streams (ids tc*), its ingest, its files. */
static struct {
    char id[48];
    h_service ingest;
    char paths[2][256];
} pub;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int publish_teardown(void **state)
{
    (void)state;
    h_service_stop(&pub.ingest);
    if (pub.id[0])
        h_delete_test_streams(pub.id);
    for (int i = 0; i < 2; i++)
        if (pub.paths[i][0])
            unlink(pub.paths[i]);
    h_forget_tenants();
    memset(&pub, 0, sizeof pub);
    return 0;
}

static void test_cli_publish_reports_bad_rows_and_stores_the_rest_once(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    h_create_tenant(pg, tenant, "growth");
    char stream[128], dlq[128], prefix[128], dlq_prefix[128];
    char *id = pub.id, *path = pub.paths[0];
    h_unique(id, sizeof pub.id, "tc");
    snprintf(stream, sizeof stream, "VX_INGEST_STREAM=T_EV_%s", id);
    snprintf(dlq, sizeof dlq, "VX_DLQ_STREAM=T_DLQ_%s", id);
    snprintf(prefix, sizeof prefix, "VX_INGEST_SUBJECT=%s.events", id);
    snprintf(dlq_prefix, sizeof dlq_prefix, "VX_DLQ_SUBJECT=%s.deadletter", id);
    const char *env[] = {stream, dlq, prefix, dlq_prefix, NULL};
    snprintf(path, sizeof pub.paths[0], "/tmp/vx-cli-%s.csv", id);
    write_file(path, CSV);

    /* ingest makes the stream (publishers may not) */
    h_service_start("valdrix-ingest", env, &pub.ingest);
    char out[4096];
    const char *args[] = {"valdrix", "publish", "--tenant", tenant, path, NULL};
    assert_int_equal(h_run("valdrix", args, env, out, sizeof out), 1);
    assert_non_null(strstr(out, "line 3, column BilledCost"));
    assert_non_null(strstr(out, "1 row(s) rejected"));

    const char *count = "SELECT count(*) FROM cost_records WHERE tenant_id = $1";
    assert_int_equal(h_wait_query(pg, count, tenant, NULL, 2, 15000), 2);
    PGresult *r = PQexecParams(pg,
                               "SELECT billed_cost::text, effective_cost::text, tags->>'team' FROM "
                               "cost_records WHERE tenant_id = $1 ORDER BY recorded_at",
                               1, NULL, (const char *[]){tenant}, NULL, NULL, 0);
    assert_int_equal(PQntuples(r), 2);
    assert_string_equal(PQgetvalue(r, 0, 0), "12.345678900");
    assert_string_equal(PQgetvalue(r, 0, 1), "12.000000000");
    assert_string_equal(PQgetvalue(r, 0, 2), "core, infra");
    assert_string_equal(PQgetvalue(r, 1, 0), "0.000000001");
    PQclear(r);

    /* the same file again: the same event ids, so nothing new is stored */
    assert_int_equal(h_run("valdrix", args, env, out, sizeof out), 1);
    /* JetStream drops the identical message inside its duplicate window (and the ledger would
     * keep one row per event if it came through): once a row published after it is stored,
     * ingest has seen all there was, and the file's rows are still two */
    char *sentinel = pub.paths[1];
    snprintf(sentinel, sizeof pub.paths[1], "/tmp/vx-cli-%s-sentinel.csv", id);
    write_file(sentinel, SENTINEL_CSV);
    const char *args2[] = {"valdrix", "publish", "--tenant", tenant, sentinel, NULL};
    if (h_run("valdrix", args2, env, out, sizeof out) != 0)
        fail_msg("valdrix publish of the sentinel row: %s", out);
    assert_int_equal(h_wait_query(pg, count, tenant, NULL, 3, 15000), 3);
    assert_int_equal(h_query_int(pg,
                                 "SELECT count(*) FROM cost_records WHERE tenant_id = $1 AND "
                                 "resource_id <> 'ds-sentinel'",
                                 tenant, NULL),
                     2);
    assert_int_equal(h_service_stop(&pub.ingest), 0);
    PQfinish(pg);
}

static void test_cli_usage_errors_are_clear(void **state)
{
    (void)state;
    char out[2048];
    const char *no_cmd[] = {"valdrix", "frobnicate", NULL};
    assert_int_equal(h_run("valdrix", no_cmd, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown command 'frobnicate'"));
    const char *bad_days[] = {
        "valdrix", "generate", "--tenant",         "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01",
        "--days",  "many",     "--events-per-day", "10",
        NULL};
    assert_int_equal(h_run("valdrix", bad_days, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "--days must be a whole number"));
    const char *missing[] = {"valdrix",
                             "publish",
                             "--tenant",
                             "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01",
                             "/nonexistent/file.csv",
                             NULL};
    assert_int_equal(h_run("valdrix", missing, NULL, out, sizeof out), 1);
    assert_non_null(strstr(out, "cannot open /nonexistent/file.csv"));
    const char *help[] = {"valdrix", "--help", NULL};
    assert_int_equal(h_run("valdrix", help, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "publish --tenant T FILE.csv"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_key_is_printed_once_and_stored_as_hash),
        cmocka_unit_test_teardown(test_cli_publish_reports_bad_rows_and_stores_the_rest_once,
                                  publish_teardown),
        cmocka_unit_test(test_cli_usage_errors_are_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
