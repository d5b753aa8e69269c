/* Unit tests of the read endpoints' rules: parameter validation with named refusals, cursors
 * that round-trip and refuse tampering or reuse with other parameters, and SQL that never
 * carries a value in its text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handlers/query.h"

#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"
static const uint8_t SECRET[] = "test-secret-of-32-bytes-long-xxx";

typedef struct {
    const char *kv[16]; /* name, value, name, value, ..., NULL */
} params;

static const char *get(void *ctx, const char *name)
{
    params *p = ctx;
    for (int i = 0; p->kv[i]; i += 2)
        if (strcmp(p->kv[i], name) == 0)
            return p->kv[i + 1];
    return NULL;
}

static void test_query_costs_params_validated(void **state)
{
    (void)state;
    api_query q;
    api_refusal why;
    params ok = {{"from", "2025-01-01", "to", "2025-02-01T12:00:00Z", "service", "Amazon EC2",
                  "limit", "50", NULL}};
    assert_int_equal(api_costs_query_parse(get, &ok, TENANT, SECRET, 32, &q, &why), VX_OK);
    assert_int_equal(q.limit, 50);
    assert_string_equal(q.filters[API_FILTER_SERVICE], "Amazon EC2");
    assert_null(q.filters[API_FILTER_REGION]);
    static const struct {
        params p;
        const char *param, *detail;
    } bad[] = {
        {{{"to", "2025-02-01", NULL}}, "from", "from is required"},
        {{{"from", "2025-13-01", "to", "2025-02-01", NULL}}, "from", "not an ISO-8601"},
        {{{"from", "2025-02-01", "to", "2025-01-01", NULL}}, "to", "must be after from"},
        {{{"from", "2024-01-01", "to", "2025-01-02", NULL}}, "to", "more than 366 days"},
        {{{"from", "2025-01-01", "to", "2025-01-02", "limit", "0", NULL}},
         "limit",
         "from 1 to 10000"},
        {{{"from", "2025-01-01", "to", "2025-01-02", "limit", "10001", NULL}},
         "limit",
         "from 1 to 10000"},
        {{{"from", "2025-01-01", "to", "2025-01-02", "limit", "5; DROP TABLE", NULL}},
         "limit",
         "not '5; DROP TABLE'"},
        {{{"from", "2025-01-01", "to", "2025-01-02", "cursor", "garbage", NULL}},
         "cursor",
         "not a cursor"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        params p = bad[i].p;
        assert_int_equal(api_costs_query_parse(get, &p, TENANT, SECRET, 32, &q, &why), VX_INVALID);
        assert_string_equal(why.param, bad[i].param);
        if (!strstr(why.detail, bad[i].detail))
            fail_msg("case %zu: '%s' lacks '%s'", i, why.detail, bad[i].detail);
    }
}

static void test_query_cursor_round_trips_and_refuses_tampering(void **state)
{
    (void)state;
    api_query q, q2;
    api_refusal why;
    params p = {{"from", "2025-01-01", "to", "2025-02-01", "region", "eu-west-1", NULL}};
    assert_int_equal(api_costs_query_parse(get, &p, TENANT, SECRET, 32, &q, &why), VX_OK);
    char cursor[API_CURSOR_MAX];
    api_cursor_encode(&q, TENANT, 1735689600123456LL, "1b4e28ba-2fa1-11d2-883f-0016d3cca401",
                      SECRET, 32, cursor);
    params next = {
        {"from", "2025-01-01", "to", "2025-02-01", "region", "eu-west-1", "cursor", cursor, NULL}};
    assert_int_equal(api_costs_query_parse(get, &next, TENANT, SECRET, 32, &q2, &why), VX_OK);
    assert_true(q2.has_cursor);
    assert_int_equal(q2.after_us, 1735689600123456LL);
    assert_string_equal(q2.after_event, "1b4e28ba-2fa1-11d2-883f-0016d3cca401");
    /* with other filters, another tenant, another secret, or one character changed: refused */
    params other = {
        {"from", "2025-01-01", "to", "2025-02-01", "region", "us-east-1", "cursor", cursor, NULL}};
    assert_int_equal(api_costs_query_parse(get, &other, TENANT, SECRET, 32, &q2, &why), VX_INVALID);
    assert_non_null(strstr(why.detail, "not valid for this query"));
    assert_int_equal(api_costs_query_parse(get, &next, "7d3f0c1e-2b1a-4c5d-8e9f-0a1b2c3d4e5f",
                                           SECRET, 32, &q2, &why),
                     VX_INVALID);
    assert_int_equal(
        api_costs_query_parse(get, &next, TENANT, (const uint8_t *)"another-secret", 14, &q2, &why),
        VX_INVALID);
    char altered[API_CURSOR_MAX];
    memcpy(altered, cursor, sizeof altered);
    altered[2] = altered[2] == 'A' ? 'B' : 'A';
    next.kv[7] = altered;
    assert_int_equal(api_costs_query_parse(get, &next, TENANT, SECRET, 32, &q2, &why), VX_INVALID);
}

static void test_query_summary_group_by(void **state)
{
    (void)state;
    api_query q;
    api_refusal why;
    params p = {{"from", "2025-01-01", "to", "2025-02-01", "group_by", "service,day", NULL}};
    assert_int_equal(api_summary_query_parse(get, &p, &q, &why), VX_OK);
    assert_int_equal(q.n_group_by, 2);
    assert_int_equal(q.group_by[0], API_GROUP_SERVICE);
    assert_int_equal(q.group_by[1], API_GROUP_DAY);
    const char *bad[] = {"",       "service,service", "day,service,region",
                         "tenant", "service;DROP",    "service,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        params b = {{"from", "2025-01-01", "to", "2025-02-01", "group_by", bad[i], NULL}};
        if (api_summary_query_parse(get, &b, &q, &why) == VX_OK && strcmp(bad[i], "service,") != 0)
            fail_msg("group_by '%s' accepted", bad[i]);
    }
}

static void test_query_sql_is_parameterized(void **state)
{
    (void)state;
    api_query q;
    api_refusal why;
    const char *evil = "x' OR '1'='1";
    params p = {{"from", "2025-01-01", "to", "2025-02-01", "service", evil, "account", "42", NULL}};
    assert_int_equal(api_costs_query_parse(get, &p, TENANT, SECRET, 32, &q, &why), VX_OK);
    q.has_cursor = true;
    q.after_us = 5;
    strcpy(q.after_event, "1b4e28ba-2fa1-11d2-883f-0016d3cca401");
    api_sql s;
    api_costs_sql(&q, TENANT, &s);
    assert_null(strstr(s.sql, evil));
    assert_null(strstr(s.sql, TENANT));
    assert_non_null(strstr(s.sql, "ORDER BY recorded_at, event_id LIMIT $8"));
    assert_int_equal(s.n_params, 8);
    assert_string_equal(s.params[0], TENANT);
    assert_string_equal(s.params[3], evil);
    assert_string_equal(s.params[7], "1001");
    params g = {{"from", "2025-01-01", "to", "2025-02-01", "group_by", "day", NULL}};
    assert_int_equal(api_summary_query_parse(get, &g, &q, &why), VX_OK);
    api_summary_sql(&q, TENANT, &s);
    assert_non_null(strstr(s.sql, "GROUP BY day, billing_currency"));
    assert_non_null(strstr(s.sql, "LIMIT 10001"));
    assert_int_equal(s.n_params, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_costs_params_validated),
        cmocka_unit_test(test_query_cursor_round_trips_and_refuses_tampering),
        cmocka_unit_test(test_query_summary_group_by),
        cmocka_unit_test(test_query_sql_is_parameterized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
