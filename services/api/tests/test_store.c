/* Integration test of services/api's store against the real Postgres through the service role:
 * key lookups (found, unknown, revoked, the tenant's overrides), a page of records with every
 * field and the next page after it, summary groups that add up, another tenant kept out, the
 * readiness ping, and an unreachable database reported as VX_UNAVAILABLE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define VX_API_TEST_PG
#include "fixture.h"
#include "handlers/costs_json.h"
#include "store.h"
#include "vx/alloc.h"
#include "vx/clock.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t SECRET[] = "integration-secret";

static void admin(const char *sql, int n, const char *const *p)
{
    PGconn *c = PQconnectdb(getenv("VX_PG_ADMIN_DSN"));
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static void create_tenant(char *id)
{
    vx_test_uuid(id);
    const char *p[2] = {id, id};
    admin("INSERT INTO tenants (id, name, plan, api_per_min) VALUES ($1, 'st-' || $2, 'pro', 77)",
          2, p);
}

/* Everything a tenant left: its rows (no foreign key) and the tenant with its keys. */
static void drop_tenant(const char *id)
{
    const char *p[1] = {id};
    admin("DELETE FROM cost_records WHERE tenant_id = $1", 1, p);
    admin("DELETE FROM cost_daily WHERE tenant_id = $1", 1, p);
    admin("DELETE FROM tenant_data_versions WHERE tenant_id = $1", 1, p);
    admin("DELETE FROM tenants WHERE id = $1", 1, p);
}

static void test_store_key_lookup_finds_unknown_and_revoked_keys(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], live[17], revoked[17];
    create_tenant(tenant);
    /* key ids from the tenant's own id, so parallel runs do not collide */
    snprintf(live, sizeof live, "vxk_%.8s0001", tenant);
    snprintf(revoked, sizeof revoked, "vxk_%.8s0002", tenant);
    const char *p[3] = {live, tenant, revoked};
    admin("INSERT INTO api_keys (key_id, tenant_id, secret_sha256) VALUES "
          "($1, $2, decode(repeat('ab', 31) || '01', 'hex')), "
          "($3, $2, decode(repeat('cd', 32), 'hex'))",
          3, p);
    admin("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", 1, &p[2]);

    api_key_record k;
    bool found = false;
    assert_int_equal(api_store_key_lookup(pool, live, &k, &found), VX_OK);
    assert_true(found);
    assert_string_equal(k.tenant_id, tenant);
    for (int i = 0; i < 31; i++)
        assert_int_equal(k.secret_sha256[i], 0xab);
    assert_int_equal(k.secret_sha256[31], 0x01);
    assert_false(k.revoked);
    assert_string_equal(k.plan, "pro");
    assert_int_equal(k.api_per_min, 77);
    assert_int_equal(k.llm_per_day, 0);
    assert_int_equal(k.remediation_per_hour, 0);

    assert_int_equal(api_store_key_lookup(pool, revoked, &k, &found), VX_OK);
    assert_true(found);
    assert_true(k.revoked);
    assert_int_equal(k.secret_sha256[0], 0xcd);

    assert_int_equal(api_store_key_lookup(pool, "vxk_zzzzzzzzzzzz", &k, &found), VX_OK);
    assert_false(found);
    drop_tenant(tenant);
    assert_int_equal(api_store_key_lookup(pool, live, &k, &found), VX_OK);
    assert_false(found);
}

#define N 7

static void test_store_pages_and_sums_the_tenants_records(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], other[37];
    create_tenant(tenant);
    create_tenant(other);
    vx_test_event evs[N];
    char ids[N][37];
    int64_t t0 = vx_civil_to_unix(2025, 5, 1, 0, 0, 0);
    for (int i = 0; i < N; i++) {
        vx_test_uuid(ids[i]);
        vx_test_event_fill(&evs[i], tenant, ids[i], t0 + i * 3600, i + 1, 250000000, (uint32_t)i,
                           i % 2 ? "Odd" : "Even");
    }
    write_events(evs, N);
    vx_test_event noise;
    char nid[37];
    vx_test_uuid(nid);
    vx_test_event_fill(&noise, other, nid, t0, 5, 0, 0, "Odd");
    write_events(&noise, 1);

    /* the first page: limit rows, more to come, every field of the first record */
    params p = {{"from", "2025-05-01", "to", "2025-05-02", "limit", "4", NULL}};
    api_query q;
    api_refusal why;
    assert_int_equal(api_costs_query_parse(get, &p, tenant, SECRET, sizeof SECRET, &q, &why),
                     VX_OK);
    api_cost_rows page;
    char err[256] = "";
    assert_int_equal(api_store_cost_page(pool, tenant, &q, &page, err, sizeof err), VX_OK);
    assert_int_equal(page.n, 4);
    assert_true(page.more);
    const api_cost_row *r = &page.rows[0];
    assert_string_equal(r->charge_period_start, "2025-05-01T00:00:00.000000Z");
    assert_true(r->recorded_at_us == t0 * 1000000);
    assert_string_equal(r->event_id, ids[0]);
    assert_true(r->revision == 0);
    assert_string_equal(r->charge_period_end, "2025-05-01T01:00:00Z");
    assert_string_equal(r->provider, "AWS");
    assert_string_equal(r->sub_account_id, "123456789012");
    assert_string_equal(r->service_name, "Even");
    assert_string_equal(r->service_category, "Compute");
    assert_string_equal(r->region_id, "us-east-1");
    assert_string_equal(r->resource_id, "i-0abc");
    assert_string_equal(r->charge_category, "Usage");
    assert_string_equal(r->billed_cost, "1.250000000");
    assert_string_equal(r->billing_currency, "USD");
    assert_string_equal(r->consumed_unit, "Hrs");
    assert_string_equal(r->tags, "{}");
    for (size_t i = 0; i < page.n; i++) {
        assert_string_equal(page.rows[i].event_id, ids[i]);
        assert_true(page.rows[i].revision == (int64_t)i);
    }
    /* the answer's cursor leads to the rest, and nothing more */
    char *text = api_render_costs(&page, &q, tenant, SECRET, sizeof SECRET);
    api_cost_rows_cleanup(&page);
    json_t *j = json_loads(text, 0, NULL);
    vx_free(text);
    assert_null(page.storage);
    assert_non_null(j);
    char cursor[API_CURSOR_MAX];
    snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(j, "next_cursor")));
    json_decref(j);
    p.kv[6] = "cursor";
    p.kv[7] = cursor;
    assert_int_equal(api_costs_query_parse(get, &p, tenant, SECRET, sizeof SECRET, &q, &why),
                     VX_OK);
    assert_int_equal(api_store_cost_page(pool, tenant, &q, &page, err, sizeof err), VX_OK);
    assert_int_equal(page.n, N - 4);
    assert_false(page.more);
    for (size_t i = 0; i < page.n; i++)
        assert_string_equal(page.rows[i].event_id, ids[4 + i]);
    api_cost_rows_cleanup(&page);

    /* sums by service from the rollup; the other tenant's Odd row is not in them */
    params g = {{"from", "2025-05-01", "to", "2025-05-02", "group_by", "service", NULL}};
    assert_int_equal(api_summary_query_parse(get, &g, &q, &why), VX_OK);
    api_summary_rows sum;
    assert_int_equal(api_store_summary(pool, tenant, &q, &sum, err, sizeof err), VX_OK);
    assert_int_equal(sum.n, 2);
    assert_string_equal(sum.rows[0].group[0], "Even"); /* 1 + 3 + 5 + 7, each + 0.25 */
    assert_string_equal(sum.rows[0].billing_currency, "USD");
    assert_string_equal(sum.rows[0].billed_cost, "17.000000000");
    assert_true(sum.rows[0].record_count == 4);
    assert_string_equal(sum.rows[1].group[0], "Odd"); /* 2 + 4 + 6, each + 0.25 */
    assert_string_equal(sum.rows[1].billed_cost, "12.750000000");
    assert_true(sum.rows[1].record_count == 3);
    api_summary_rows_cleanup(&sum);
    /* the other tenant's view holds its own row only */
    assert_int_equal(api_store_summary(pool, other, &q, &sum, err, sizeof err), VX_OK);
    assert_int_equal(sum.n, 1);
    assert_string_equal(sum.rows[0].billed_cost, "5.000000000");
    api_summary_rows_cleanup(&sum);
    drop_tenant(tenant);
    drop_tenant(other);
}

static void test_store_unreachable_database_is_unavailable(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char why[200] = "";
    assert_true(api_store_ping(pool, why, sizeof why));
    vx_pg_config cfg = vx_pg_defaults();
    cfg.dsn = "postgresql://valdrix_app@127.0.0.1:1/valdrix"; /* nothing listens on port 1 */
    cfg.connect_timeout_ms = 1000;
    cfg.acquire_timeout_ms = 1000;
    vx_pg_pool *down;
    assert_int_equal(vx_pg_pool_create(&cfg, &down), VX_OK);
    assert_false(api_store_ping(down, why, sizeof why));
    assert_true(why[0] != '\0');
    api_key_record k;
    bool found = false;
    assert_int_equal(api_store_key_lookup(down, "vxk_zzzzzzzzzzzz", &k, &found), VX_UNAVAILABLE);
    params p = {{"from", "2025-05-01", "to", "2025-05-02", "group_by", "service", NULL}};
    api_query q;
    api_refusal r;
    assert_int_equal(api_summary_query_parse(get, &p, &q, &r), VX_OK);
    api_summary_rows sum = {0};
    char err[256] = "";
    assert_int_equal(
        api_store_summary(down, "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01", &q, &sum, err, sizeof err),
        VX_UNAVAILABLE);
    assert_null(sum.rows); /* written on success only */
    vx_pg_pool_destroy(down);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_key_lookup_finds_unknown_and_revoked_keys),
        cmocka_unit_test(test_store_pages_and_sums_the_tenants_records),
        cmocka_unit_test(test_store_unreachable_database_is_unavailable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
