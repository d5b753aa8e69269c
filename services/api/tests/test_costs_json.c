/* Unit tests of the read endpoints' answers rendered from fabricated store rows (no database):
 * every FOCUS field of a record, Tags as an object, next_cursor pointing after the last row
 * when there is more and null otherwise, and summary groups under their group_by names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "handlers/costs_json.h"
#include "vx/alloc.h"

#include <jansson.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"
static const uint8_t SECRET[] = "test-secret-of-32-bytes-long-xxx";

static api_cost_row row(const char *event_id, int64_t us, const char *service, const char *tags)
{
    return (api_cost_row){.charge_period_start = "2025-03-01T10:00:00.000123Z",
                          .recorded_at_us = us,
                          .event_id = event_id,
                          .revision = 3,
                          .charge_period_end = "2025-03-01T11:00:00Z",
                          .provider = "AWS",
                          .sub_account_id = "123456789012",
                          .service_name = service,
                          .service_category = "Compute",
                          .region_id = "us-east-1",
                          .resource_id = "i-0abc",
                          .charge_category = "Usage",
                          .billed_cost = "1.250000000",
                          .effective_cost = "1.000000000",
                          .list_cost = "1.500000000",
                          .billing_currency = "USD",
                          .consumed_quantity = "2.000000000",
                          .consumed_unit = "Hrs",
                          .tags = tags};
}

static json_t *parse(char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, text);
    vx_free(text);
    return j;
}

static const char *str(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        fail_msg("%s is not a string", name);
    return json_string_value(v);
}

static void costs_query(api_query *q, const char *limit)
{
    params p = {{"from", "2025-03-01", "to", "2025-04-01", "limit", limit, NULL}};
    api_refusal why;
    assert_int_equal(api_costs_query_parse(get, &p, TENANT, SECRET, 32, q, &why), VX_OK);
}

static void test_costs_json_records_carry_every_field(void **state)
{
    (void)state;
    api_query q;
    costs_query(&q, "5");
    api_cost_row rows[2] = {
        row("1b4e28ba-2fa1-11d2-883f-0016d3cca401", 1740823200000123LL, "Amazon EC2",
            "{\"team\":\"core\",\"env\":\"prod\"}"),
        row("2b4e28ba-2fa1-11d2-883f-0016d3cca402", 1740823200000123LL, "Amazon S3", "not json"),
    };
    api_cost_rows page = {.rows = rows, .n = 2, .more = false};
    json_t *j = parse(api_render_costs(&page, &q, TENANT, SECRET, 32));
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    json_t *o = json_array_get(data, 0);
    assert_string_equal(str(o, "ChargePeriodStart"), "2025-03-01T10:00:00.000123Z");
    assert_string_equal(str(o, "ChargePeriodEnd"), "2025-03-01T11:00:00Z");
    assert_string_equal(str(o, "EventId"), "1b4e28ba-2fa1-11d2-883f-0016d3cca401");
    assert_int_equal(json_integer_value(json_object_get(o, "Revision")), 3);
    assert_string_equal(str(o, "ProviderName"), "AWS");
    assert_string_equal(str(o, "SubAccountId"), "123456789012");
    assert_string_equal(str(o, "ServiceName"), "Amazon EC2");
    assert_string_equal(str(o, "ServiceCategory"), "Compute");
    assert_string_equal(str(o, "RegionId"), "us-east-1");
    assert_string_equal(str(o, "ResourceId"), "i-0abc");
    assert_string_equal(str(o, "ChargeCategory"), "Usage");
    assert_string_equal(str(o, "BilledCost"), "1.250000000");
    assert_string_equal(str(o, "EffectiveCost"), "1.000000000");
    assert_string_equal(str(o, "ListCost"), "1.500000000");
    assert_string_equal(str(o, "BillingCurrency"), "USD");
    assert_string_equal(str(o, "ConsumedQuantity"), "2.000000000");
    assert_string_equal(str(o, "ConsumedUnit"), "Hrs");
    assert_int_equal(json_object_size(o), 18);
    json_t *tags = json_object_get(o, "Tags");
    assert_true(json_is_object(tags));
    assert_int_equal(json_object_size(tags), 2);
    assert_string_equal(str(tags, "team"), "core");
    assert_string_equal(str(tags, "env"), "prod");
    /* tags the database could not have stored still make an object */
    json_t *t2 = json_object_get(json_array_get(data, 1), "Tags");
    assert_true(json_is_object(t2));
    assert_int_equal(json_object_size(t2), 0);
    json_decref(j);

    page.n = 0;
    j = parse(api_render_costs(&page, &q, TENANT, SECRET, 32));
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
}

static void test_costs_json_next_cursor_points_after_the_last_row(void **state)
{
    (void)state;
    api_query q;
    costs_query(&q, "2");
    api_cost_row rows[2] = {
        row("1b4e28ba-2fa1-11d2-883f-0016d3cca401", 1740823200000001LL, "Amazon EC2", "{}"),
        row("2b4e28ba-2fa1-11d2-883f-0016d3cca402", 1740823200000002LL, "Amazon EC2", "{}"),
    };
    api_cost_rows page = {.rows = rows, .n = 2, .more = true};
    json_t *j = parse(api_render_costs(&page, &q, TENANT, SECRET, 32));
    const char *cursor = str(j, "next_cursor");
    params next = {
        {"from", "2025-03-01", "to", "2025-04-01", "limit", "2", "cursor", cursor, NULL}};
    api_query q2;
    api_refusal why;
    assert_int_equal(api_costs_query_parse(get, &next, TENANT, SECRET, 32, &q2, &why), VX_OK);
    assert_true(q2.has_cursor);
    assert_true(q2.after_us == 1740823200000002LL);
    assert_string_equal(q2.after_event, "2b4e28ba-2fa1-11d2-883f-0016d3cca402");
    /* bound to its tenant: another tenant cannot use it */
    assert_int_equal(api_costs_query_parse(get, &next, "1c6c4e52-3d43-4b6e-9a39-6f1f0a7f6a02",
                                           SECRET, 32, &q2, &why),
                     VX_INVALID);
    json_decref(j);
}

static void test_costs_json_summary_groups_under_their_names(void **state)
{
    (void)state;
    params p = {{"from", "2025-03-01", "to", "2025-04-01", "group_by", "day,service", NULL}};
    api_query q;
    api_refusal why;
    assert_int_equal(api_summary_query_parse(get, &p, &q, &why), VX_OK);
    api_summary_row rows[2] = {
        {.group = {"2025-03-01", "Amazon EC2"},
         .billing_currency = "USD",
         .billed_cost = "10.500000000",
         .effective_cost = "9.000000000",
         .list_cost = "12.000000000",
         .record_count = 42},
        {.group = {"2025-03-02", "Amazon S3"},
         .billing_currency = "EUR",
         .billed_cost = "0.000000001",
         .effective_cost = "0.000000000",
         .list_cost = "0.000000001",
         .record_count = 1},
    };
    api_summary_rows sum = {.rows = rows, .n = 2};
    json_t *j = parse(api_render_summary(&sum, &q));
    json_t *groups = json_object_get(j, "group_by");
    assert_int_equal(json_array_size(groups), 2);
    assert_string_equal(json_string_value(json_array_get(groups, 0)), "day");
    assert_string_equal(json_string_value(json_array_get(groups, 1)), "service");
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    json_t *o = json_array_get(data, 0);
    assert_string_equal(str(o, "day"), "2025-03-01");
    assert_string_equal(str(o, "service"), "Amazon EC2");
    assert_string_equal(str(o, "BillingCurrency"), "USD");
    assert_string_equal(str(o, "BilledCost"), "10.500000000");
    assert_string_equal(str(o, "EffectiveCost"), "9.000000000");
    assert_string_equal(str(o, "ListCost"), "12.000000000");
    assert_int_equal(json_integer_value(json_object_get(o, "RecordCount")), 42);
    assert_int_equal(json_object_size(o), 7);
    o = json_array_get(data, 1);
    assert_string_equal(str(o, "service"), "Amazon S3");
    assert_string_equal(str(o, "BillingCurrency"), "EUR");
    assert_int_equal(json_integer_value(json_object_get(o, "RecordCount")), 1);
    json_decref(j);

    /* one group_by field, no groups: the names stay, the data is empty */
    params p1 = {{"from", "2025-03-01", "to", "2025-04-01", "group_by", "region", NULL}};
    assert_int_equal(api_summary_query_parse(get, &p1, &q, &why), VX_OK);
    sum.n = 0;
    char *text = api_render_summary(&sum, &q);
    assert_string_equal(text, "{\"group_by\":[\"region\"],\"data\":[]}");
    vx_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_costs_json_records_carry_every_field),
        cmocka_unit_test(test_costs_json_next_cursor_points_after_the_last_row),
        cmocka_unit_test(test_costs_json_summary_groups_under_their_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
