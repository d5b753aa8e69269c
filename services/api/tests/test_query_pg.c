/* Integration test of the read endpoints' SQL against the real Postgres through the service
 * role: paging with keyset cursors misses and repeats no row while new events arrive, filters
 * hold, summaries add up, and row-level security keeps other tenants out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define VX_API_TEST_PG
#include "fixture.h"
#include "handlers/query.h"
#include "vx/clock.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t SECRET[] = "integration-secret";

static void create_tenant(char *id)
{
    PGconn *c = PQconnectdb(getenv("VX_PG_ADMIN_DSN"));
    vx_test_uuid(id);
    const char *p[2] = {id, id};
    PGresult *r =
        PQexecParams(c, "INSERT INTO tenants (id, name, plan) VALUES ($1, 'q-' || $2, 'pro')", 2,
                     NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
}

/* Runs one statement as the service role inside the tenant's transaction. */
static PGresult *run(const char *tenant, const api_sql *s)
{
    PGconn *c;
    assert_int_equal(vx_pg_acquire(pool, &c), VX_OK);
    assert_int_equal(vx_pg_begin_tenant(c, tenant), VX_OK);
    PGresult *r = PQexecParams(c, s->sql, s->n_params, NULL, s->params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", s->sql, PQresultErrorMessage(r));
    assert_int_equal(vx_pg_exec(c, "COMMIT", NULL, 0), VX_OK);
    vx_pg_release(pool, c, false);
    return r;
}

#define N 2500

static void test_query_paging_misses_and_repeats_nothing_while_events_arrive(void **state)
{
    (void)state;
    if (!pool)
        skip();
    char tenant[37], other[37];
    create_tenant(tenant);
    create_tenant(other);
    vx_test_event *evs = calloc(N, sizeof *evs);
    char(*ids)[37] = calloc(N, sizeof *ids);
    int64_t t0 = vx_civil_to_unix(2025, 3, 1, 0, 0, 0);
    for (int i = 0; i < N; i++) {
        vx_test_uuid(ids[i]);
        /* several events share a timestamp, so the event id must break ties */
        vx_test_event_fill(&evs[i], tenant, ids[i], t0 + (i / 3) * 600, i + 1, 0, 0,
                           i % 2 ? "Odd" : "Even");
    }
    write_events(evs, N);
    vx_test_event noise;
    char nid[37];
    vx_test_uuid(nid);
    vx_test_event_fill(&noise, other, nid, t0, 1, 0, 0, "Odd");
    write_events(&noise, 1);

    char *seen = calloc(N, 1);
    char cursor[API_CURSOR_MAX] = "";
    int pages = 0, rows = 0, extra = 0;
    for (;;) {
        params p = {{"from", "2025-03-01", "to", "2025-04-01", "limit", "1000", NULL}};
        if (cursor[0]) {
            p.kv[6] = "cursor";
            p.kv[7] = cursor;
        }
        api_query q;
        api_refusal why;
        assert_int_equal(api_costs_query_parse(get, &p, tenant, SECRET, sizeof SECRET, &q, &why),
                         VX_OK);
        api_sql s;
        api_costs_sql(&q, tenant, &s);
        PGresult *r = run(tenant, &s);
        int n = PQntuples(r);
        int page = n > q.limit ? q.limit : n;
        for (int i = 0; i < page; i++) {
            const char *id = PQgetvalue(r, i, 2);
            int k;
            for (k = 0; k < N && strcmp(ids[k], id) != 0; k++)
                ;
            if (k == N) {
                extra++; /* arrived after the test started */
                continue;
            }
            assert_int_equal(seen[k], 0);
            seen[k] = 1;
            rows++;
        }
        pages++;
        if (n <= q.limit) {
            PQclear(r);
            break;
        }
        api_cursor_encode(&q, tenant, strtoll(PQgetvalue(r, page - 1, 1), NULL, 10),
                          PQgetvalue(r, page - 1, 2), SECRET, sizeof SECRET, cursor);
        PQclear(r);
        /* new events arrive between pages: one before the cursor, one after */
        vx_test_event late[2];
        char l1[37], l2[37];
        vx_test_uuid(l1);
        vx_test_uuid(l2);
        vx_test_event_fill(&late[0], tenant, l1, t0, 1, 0, 0, "Late");
        vx_test_event_fill(&late[1], tenant, l2, t0 + 29 * 86400, 1, 0, 0, "Late");
        write_events(late, 2);
    }
    assert_int_equal(rows, N);
    assert_int_equal(pages, 3);
    assert_true(extra >= 1); /* the late events after the cursor are found on later pages */

    /* summary: sums by service over the same range, exact; the other tenant stays invisible */
    params g = {{"from", "2025-03-01", "to", "2025-04-01", "group_by", "service", NULL}};
    api_query q;
    api_refusal why;
    assert_int_equal(api_summary_query_parse(get, &g, &q, &why), VX_OK);
    api_sql s;
    api_summary_sql(&q, tenant, &s);
    PGresult *r = run(tenant, &s);
    assert_int_equal(PQntuples(r), 3); /* Even, Late, Odd */
    int64_t even = 0, odd = 0;
    for (int i = 1; i <= N; i++) {
        if ((i - 1) % 2)
            odd += i;
        else
            even += i;
    }
    char want[32];
    snprintf(want, sizeof want, "%lld.000000000", (long long)even);
    assert_string_equal(PQgetvalue(r, 0, 2), want);
    snprintf(want, sizeof want, "%lld.000000000", (long long)odd);
    assert_string_equal(PQgetvalue(r, 2, 2), want);
    PQclear(r);
    /* a forged filter cannot reach another tenant: the SQL names $1 and RLS holds anyway */
    api_summary_sql(&q, other, &s);
    r = run(tenant, &s);
    assert_int_equal(PQntuples(r), 0);
    PQclear(r);
    free(seen);
    free(ids);
    free(evs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_paging_misses_and_repeats_nothing_while_events_arrive),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
