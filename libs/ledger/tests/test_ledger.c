/* Integration tests of libs/ledger against the real Postgres of the local stack: exact amounts,
 * duplicates, restatements and the rollup, partitions on demand, tenant isolation through the
 * service role, and concurrent writers. Each test uses fresh tenants, so tests can run in
 * parallel with others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../../tests/support/events.h"
#include "../../../tests/support/vx_test_env.h"
#include "vx/clock.h"
#include "vx/ledger.h"
#include "vx/pg.h"
#include "vx/uuid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *app_dsn, *admin_dsn;

static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(admin_dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static void create_tenant(char *id)
{
    vx_test_uuid(id);
    PGconn *c = admin();
    const char *p[2] = {id, id};
    PGresult *r = PQexecParams(
        c, "INSERT INTO tenants (id, name, plan) VALUES ($1, 'test-' || $2, 'starter')", 2, NULL, p,
        NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
}

/* One value of a query run as the owner (bypasses RLS), as text; caller frees. */
static char *admin_value(const char *sql, const char *tenant)
{
    PGconn *c = admin();
    const char *p[1] = {tenant};
    PGresult *r = PQexecParams(c, sql, tenant ? 1 : 0, NULL, tenant ? p : NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return v;
}

static void assert_value(const char *sql, const char *tenant, const char *want)
{
    char *v = admin_value(sql, tenant);
    if (strcmp(v, want) != 0)
        fail_msg("%s -> %s, want %s", sql, v, want);
    free(v);
}

/* The rollup equals the sums of the ledger for this tenant, day by dimension. */
static void assert_rollup_consistent(const char *tenant)
{
    assert_value(VX_TEST_ROLLUP_MISMATCH_SQL, tenant, "0");
}

static vx_pg_pool *pool;
static vx_ledger *ledger;

static int setup(void **state)
{
    (void)state;
    app_dsn = vx_test_env("VX_PG_DSN");
    admin_dsn = vx_test_env("VX_PG_ADMIN_DSN");
    if (!app_dsn || !admin_dsn)
        return 0;
    vx_pg_config cfg = vx_pg_defaults();
    cfg.dsn = app_dsn;
    assert_int_equal(vx_pg_pool_create(&cfg, &pool), VX_OK);
    ledger = vx_ledger_create();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vx_ledger_destroy(ledger);
    vx_pg_pool_destroy(pool);
    return 0;
}

static vx_status write_events(vx_test_event *evs, size_t n, vx_ledger_counts *counts)
{
    vx_cost_event **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &evs[i].ev;
    PGconn *c;
    assert_int_equal(vx_pg_acquire(pool, &c), VX_OK);
    char err[512] = "";
    vx_status st;
    /* concurrent writers of the same events may deadlock; the contract is to run it again */
    while ((st = vx_ledger_write(ledger, c, ptrs, n, counts, NULL, NULL, err, sizeof err)) ==
           VX_CONFLICT)
        ;
    if (st != VX_OK)
        fprintf(stderr, "ledger write: %s: %s\n", vx_status_str(st), err);
    vx_pg_release(pool, c, st == VX_UNAVAILABLE);
    free(ptrs);
    return st;
}

static void test_ledger_writes_exact_amounts_once(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], ids[3][37];
    create_tenant(tenant);
    int64_t day = vx_civil_to_unix(2025, 3, 14, 10, 0, 0);
    vx_test_event evs[3];
    for (int i = 0; i < 3; i++)
        vx_test_uuid(ids[i]);
    vx_test_event_fill(&evs[0], tenant, ids[0], day, 12, 340000000, 0, "AmazonEC2");
    vx_test_event_fill(&evs[1], tenant, ids[1], day + 60, 0, 1, 0, "AmazonEC2");
    vx_test_event_fill(&evs[2], tenant, ids[2], day + 120, -3, -500000000, 0, "AmazonS3");
    vx_ledger_counts counts;
    assert_int_equal(write_events(evs, 3, &counts), VX_OK);
    assert_int_equal(counts.inserted, 3);
    assert_int_equal(counts.duplicate, 0);
    assert_value("SELECT sum(billed_cost)::text FROM cost_records WHERE tenant_id = $1", tenant,
                 "8.840000001");
    assert_value("SELECT billed_cost::text FROM cost_daily WHERE tenant_id = $1 AND service_name = "
                 "'AmazonEC2'",
                 tenant, "12.340000001");
    assert_value("SELECT version::text FROM tenant_data_versions WHERE tenant_id = $1", tenant,
                 "1");

    /* The same events again, and twice within one batch: nothing changes. */
    vx_test_event again[4];
    vx_test_event_fill(&again[0], tenant, ids[0], day, 12, 340000000, 0, "AmazonEC2");
    vx_test_event_fill(&again[1], tenant, ids[1], day + 60, 0, 1, 0, "AmazonEC2");
    vx_test_event_fill(&again[2], tenant, ids[2], day + 120, -3, -500000000, 0, "AmazonS3");
    vx_test_event_fill(&again[3], tenant, ids[0], day, 12, 340000000, 0, "AmazonEC2");
    assert_int_equal(write_events(again, 4, &counts), VX_OK);
    assert_int_equal(counts.inserted, 0);
    assert_int_equal(counts.restated, 0);
    assert_int_equal(counts.duplicate, 4);
    assert_value("SELECT count(*)::text FROM cost_records WHERE tenant_id = $1", tenant, "3");
    assert_value("SELECT version::text FROM tenant_data_versions WHERE tenant_id = $1", tenant,
                 "1");
    assert_rollup_consistent(tenant);
}

static void test_ledger_restatement_replaces_and_moves_rollup(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], id[37];
    create_tenant(tenant);
    vx_test_uuid(id);
    int64_t t = vx_civil_to_unix(2025, 4, 1, 23, 30, 0);
    vx_test_event ev;
    vx_ledger_counts counts;
    vx_test_event_fill(&ev, tenant, id, t, 100, 0, 1, "AmazonEC2");
    assert_int_equal(write_events(&ev, 1, &counts), VX_OK);
    /* revision 2 changes the amount and the service: the rollup moves between groups */
    vx_test_event_fill(&ev, tenant, id, t, 40, 250000000, 2, "AmazonRDS");
    assert_int_equal(write_events(&ev, 1, &counts), VX_OK);
    assert_int_equal(counts.restated, 1);
    assert_int_equal(counts.inserted, 0);
    assert_value(
        "SELECT billed_cost::text || '/' || revision FROM cost_records WHERE tenant_id = $1",
        tenant, "40.250000000/2");
    assert_value("SELECT billed_cost::text || '/' || record_count FROM cost_daily WHERE tenant_id "
                 "= $1 AND service_name = 'AmazonEC2'",
                 tenant, "0.000000000/0");
    assert_value("SELECT billed_cost::text || '/' || record_count FROM cost_daily WHERE tenant_id "
                 "= $1 AND service_name = 'AmazonRDS'",
                 tenant, "40.250000000/1");
    /* equal and lower revisions are duplicates */
    vx_test_event_fill(&ev, tenant, id, t, 999, 0, 2, "AmazonEC2");
    assert_int_equal(write_events(&ev, 1, &counts), VX_OK);
    assert_int_equal(counts.duplicate, 1);
    vx_test_event_fill(&ev, tenant, id, t, 999, 0, 1, "AmazonEC2");
    assert_int_equal(write_events(&ev, 1, &counts), VX_OK);
    assert_int_equal(counts.duplicate, 1);
    assert_value("SELECT billed_cost::text FROM cost_records WHERE tenant_id = $1", tenant,
                 "40.250000000");
    assert_value("SELECT version::text FROM tenant_data_versions WHERE tenant_id = $1", tenant,
                 "2");
    assert_rollup_consistent(tenant);
}

static void test_ledger_rollup_sum_beyond_int64_units_is_exact(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], a[37], b[37];
    create_tenant(tenant);
    vx_test_uuid(a);
    vx_test_uuid(b);
    int64_t t = vx_civil_to_unix(2025, 2, 2, 2, 0, 0);
    vx_test_event evs[2];
    vx_test_event_fill(&evs[0], tenant, a, t, 5000000000000000000LL, 1, 0, "Big");
    vx_test_event_fill(&evs[1], tenant, b, t + 1, 5000000000000000000LL, 2, 0, "Big");
    vx_ledger_counts counts;
    assert_int_equal(write_events(evs, 2, &counts), VX_OK);
    assert_int_equal(counts.inserted, 2);
    assert_value("SELECT billed_cost::text FROM cost_daily WHERE tenant_id = $1", tenant,
                 "10000000000000000000.000000003");
    assert_rollup_consistent(tenant);
}

static void test_ledger_creates_partitions_on_demand(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], id[37];
    create_tenant(tenant);
    vx_test_uuid(id);
    /* a month nobody has written yet */
    int year = 2040 + (int)(vx_wall_ms() % 50);
    vx_test_event ev;
    vx_test_event_fill(&ev, tenant, id, vx_civil_to_unix(year, 7, 31, 23, 0, 0), 1, 0, 0,
                       "Storage");
    vx_ledger_counts counts;
    assert_int_equal(write_events(&ev, 1, &counts), VX_OK);
    assert_int_equal(counts.inserted, 1);
    char name[64];
    snprintf(name, sizeof name, "SELECT to_regclass('cost_records_%d_07') IS NOT NULL", year);
    assert_value(name, NULL, "t");
}

static void test_ledger_service_role_sees_only_its_tenant(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char a[37], b[37], ida[37], idb[37];
    create_tenant(a);
    create_tenant(b);
    vx_test_uuid(ida);
    vx_test_uuid(idb);
    int64_t t = vx_civil_to_unix(2025, 5, 5, 5, 0, 0);
    vx_test_event evs[2];
    vx_test_event_fill(&evs[0], a, ida, t, 5, 0, 0, "A");
    vx_test_event_fill(&evs[1], b, idb, t, 7, 0, 0, "B");
    vx_ledger_counts counts;
    assert_int_equal(write_events(evs, 2, &counts), VX_OK);
    assert_int_equal(counts.inserted, 2);

    PGconn *c;
    assert_int_equal(vx_pg_acquire(pool, &c), VX_OK);
    assert_int_equal(vx_pg_begin_tenant(c, a), VX_OK);
    const char *p[1] = {b};
    /* a forged filter naming the other tenant finds nothing */
    PGresult *r = PQexecParams(c, "SELECT count(*) FROM cost_records WHERE tenant_id = $1::uuid", 1,
                               NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    r = PQexec(c, "SELECT count(*), min(tenant_id::text) FROM cost_records");
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    assert_string_equal(PQgetvalue(r, 0, 1), a);
    PQclear(r);
    /* writing a row of another tenant is refused by the policy */
    r = PQexecParams(c, "UPDATE cost_daily SET record_count = 0 WHERE tenant_id = $1::uuid", 1,
                     NULL, p, NULL, NULL, 0);
    assert_string_equal(PQcmdTuples(r), "0");
    PQclear(r);
    assert_int_equal(vx_pg_exec(c, "ROLLBACK", NULL, 0), VX_OK);
    /* without a tenant nothing is visible */
    r = PQexec(c, "SELECT count(*) FROM cost_records");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    /* and partitions cannot be read directly */
    r = PQexec(c, "SELECT count(*) FROM cost_records_2025_05");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    vx_pg_release(pool, c, false);
}

/* The whole-batch write is allowed by vx.batch_tenants (migration 0007): a row of a tenant the
 * setting does not name is refused, and the setting lets no one read cost_records. */
static void test_ledger_batch_tenants_bound_the_write(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char a[37], b[37], id[37];
    create_tenant(a);
    create_tenant(b);
    vx_test_uuid(id);
    vx_test_event ev;
    vx_ledger_counts counts;
    vx_test_event_fill(&ev, b, id, vx_civil_to_unix(2025, 5, 6, 0, 0, 0), 3, 0, 0, "B");
    assert_int_equal(write_events(&ev, 1, &counts), VX_OK);

    PGconn *c;
    assert_int_equal(vx_pg_acquire(pool, &c), VX_OK);
    char sql[512];
    snprintf(sql, sizeof sql, "BEGIN; SELECT set_config('vx.batch_tenants', '{%s}', true)", a);
    assert_int_equal(vx_pg_exec(c, sql, NULL, 0), VX_OK);
    /* reads stay closed: no tenant set, nothing visible, whatever the batch names */
    PGresult *r = PQexec(c, "SELECT count(*) FROM cost_records");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    const char *p[1] = {b};
    r = PQexecParams(c,
                     "INSERT INTO cost_records (tenant_id, recorded_at, event_id, revision, "
                     "charge_period_end, provider, sub_account_id, service_name, "
                     "service_category, region_id, resource_id, charge_category, billed_cost, "
                     "effective_cost, list_cost, billing_currency, usage_quantity, usage_unit, "
                     "tags) VALUES ($1::uuid, '2025-05-06', gen_random_uuid(), 0, '2025-05-07', "
                     "'aws', '', 'B', '', '', '', 'Usage', 1, 1, 1, 'USD', 0, '', '{}')",
                     1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
    PQclear(r);
    assert_int_equal(vx_pg_exec(c, "ROLLBACK", NULL, 0), VX_OK);
    vx_pg_release(pool, c, false);
    assert_value("SELECT count(*)::text FROM cost_records WHERE tenant_id = $1", b, "1");
}

#define WRITERS 4
#define EVENTS_PER_WRITER 400

typedef struct {
    const char *tenant;
    char (*ids)[37];
    int seed;
    vx_status st;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    vx_test_event *evs = calloc(EVENTS_PER_WRITER, sizeof *evs);
    int64_t t0 = vx_civil_to_unix(2025, 6, 28, 0, 0, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < EVENTS_PER_WRITER; i++) {
            int k = (i * 7 + w->seed * 13 + round * 31) % EVENTS_PER_WRITER;
            uint32_t rev = (uint32_t)((k + w->seed + round) % 4);
            /* the amount and service depend on the revision, so restatements move money */
            vx_test_event_fill(&evs[i], w->tenant, w->ids[k], t0 + (int64_t)(k % 5) * 86400 + k,
                               (int64_t)(k + 1) * (rev + 1), (int32_t)(rev * 1000), rev,
                               rev % 2 ? "Odd" : "Even");
        }
        vx_ledger_counts counts;
        w->st = write_events(evs, EVENTS_PER_WRITER, &counts);
        if (w->st != VX_OK)
            break;
    }
    free(evs);
    return NULL;
}

static void test_ledger_concurrent_writers_keep_rollup_exact(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37];
    create_tenant(tenant);
    char(*ids)[37] = calloc(EVENTS_PER_WRITER, sizeof *ids);
    for (int i = 0; i < EVENTS_PER_WRITER; i++)
        vx_test_uuid(ids[i]);
    pthread_t th[WRITERS];
    writer_arg args[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (writer_arg){.tenant = tenant, .ids = ids, .seed = i};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].st, VX_OK);
    }
    char want[16];
    snprintf(want, sizeof want, "%d", EVENTS_PER_WRITER);
    assert_value("SELECT count(*)::text FROM cost_records WHERE tenant_id = $1", tenant, want);
    /* every row holds the highest revision any writer sent for it: 3 for all k that reach it */
    assert_value("SELECT count(*)::text FROM cost_records WHERE tenant_id = $1 AND revision <> 3",
                 tenant, "0");
    assert_rollup_consistent(tenant);
    free(ids);
}

/* Many tenants in one batch share one round trip of fast paths; a tenant in the middle whose
 * event was stored before takes the exact path, and the tenants after it are still written. */
static void test_ledger_many_tenants_in_one_batch_with_one_seen_before(void **state)
{
    (void)state;
    if (!pool)
        skip();
    enum { T = 5 };
    char tenants[T][37], ids[T][37];
    int64_t t = vx_civil_to_unix(2025, 5, 2, 8, 0, 0);
    vx_test_event evs[T];
    for (int i = 0; i < T; i++) {
        create_tenant(tenants[i]);
        vx_test_uuid(ids[i]);
    }
    vx_ledger_counts counts;
    /* the third tenant (in the batch's sorted order it may be anywhere) stored its event before */
    vx_test_event_fill(&evs[2], tenants[2], ids[2], t, 5, 0, 1, "AmazonEC2");
    assert_int_equal(write_events(&evs[2], 1, &counts), VX_OK);
    for (int i = 0; i < T; i++)
        vx_test_event_fill(&evs[i], tenants[i], ids[i], t, 10 + i, 0, 2, "AmazonEC2");
    assert_int_equal(write_events(evs, T, &counts), VX_OK);
    assert_int_equal(counts.inserted, T - 1);
    assert_int_equal(counts.restated, 1);
    assert_int_equal(counts.duplicate, 0);
    for (int i = 0; i < T; i++) {
        char want[32];
        snprintf(want, sizeof want, "%d.000000000/2", 10 + i);
        assert_value("SELECT billed_cost::text || '/' || revision FROM cost_records WHERE "
                     "tenant_id = $1",
                     tenants[i], want);
        assert_value("SELECT version::text FROM tenant_data_versions WHERE tenant_id = $1",
                     tenants[i], i == 2 ? "2" : "1");
        assert_rollup_consistent(tenants[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ledger_writes_exact_amounts_once),
        cmocka_unit_test(test_ledger_restatement_replaces_and_moves_rollup),
        cmocka_unit_test(test_ledger_many_tenants_in_one_batch_with_one_seen_before),
        cmocka_unit_test(test_ledger_rollup_sum_beyond_int64_units_is_exact),
        cmocka_unit_test(test_ledger_creates_partitions_on_demand),
        cmocka_unit_test(test_ledger_service_role_sees_only_its_tenant),
        cmocka_unit_test(test_ledger_batch_tenants_bound_the_write),
        cmocka_unit_test(test_ledger_concurrent_writers_keep_rollup_exact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
