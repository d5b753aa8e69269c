/* Unit tests of the JSON decoding of cost events (the HTTP API's bodies): arrays and NDJSON,
 * exact amounts, errors per event naming the FOCUS field, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vx/cost.h"

#include <stdio.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"

#define GOOD(id, cost)                                                                             \
    "{\"EventId\":\"" id "\",\"ChargePeriodStart\":\"2025-09-01T00:00:00Z\","                      \
    "\"ChargePeriodEnd\":\"2025-09-01T01:00:00Z\",\"BilledCost\":" cost ","                        \
    "\"BillingCurrency\":\"USD\",\"ProviderName\":\"AWS\",\"SubAccountId\":\"1\","                 \
    "\"ServiceName\":\"AmazonEC2\",\"ChargeCategory\":\"Usage\",\"Tags\":{\"team\":\"core\"},"     \
    "\"x_Unknown\":[1,2]}"

#define ID1 "1b4e28ba-2fa1-11d2-883f-0016d3cca401"
#define ID2 "1B4E28BA-2FA1-11D2-883F-0016D3CCA402"

static void decode_ok(const char *body, vx_cost_json_batch *b)
{
    char why[256] = "";
    vx_status st = vx_cost_json_decode(body, strlen(body), TENANT, 10000, b, why, sizeof why);
    if (st != VX_OK)
        fail_msg("decode failed: %s", why);
}

static void test_cost_json_array_is_exact(void **state)
{
    (void)state;
    vx_cost_json_batch b;
    decode_ok("[" GOOD(ID1, "\"12.345678901\"") "," GOOD(ID2, "7") "]", &b);
    assert_int_equal(b.total, 2);
    assert_int_equal(b.n_events, 2);
    assert_int_equal(b.n_errors, 0);
    vx_cost_event *e = b.events[0];
    assert_string_equal(e->tenant_id, TENANT);
    assert_int_equal(e->billed_cost->units, 12);
    /* a tenth fraction digit rounds half away from zero to nanos */
    assert_int_equal(e->billed_cost->nanos, 345678901);
    assert_int_equal(b.events[1]->billed_cost->units, 7);
    /* ids are normalized to lower case */
    assert_string_equal(b.events[1]->event_id, "1b4e28ba-2fa1-11d2-883f-0016d3cca402");
    assert_int_equal(e->n_tags, 1);
    assert_string_equal(e->tags[0]->value, "core");
    vx_buf row;
    vx_buf_init(&row);
    vx_cost_copy_row(&row, e);
    assert_non_null(strstr(row.data, "\t12.345678901\t"));
    vx_buf_cleanup(&row);
    vx_cost_json_batch_cleanup(&b);
}

static void test_cost_json_ndjson_with_errors_per_event(void **state)
{
    (void)state;
    vx_cost_json_batch b;
    decode_ok(
        GOOD(ID1, "\"1\"") "\n"
                           "\n" GOOD(ID2,
                                     "12.5") "\n"
                                             "{not json}\r\n"
                                             "{\"EventId\":\"" ID1
                                             "\",\"ChargePeriodStart\":\"2025-09-01\","
                                             "\"ChargePeriodEnd\":\"2025-08-01\",\"BilledCost\":"
                                             "\"1\",\"BillingCurrency\":\"USD\","
                                             "\"ProviderName\":\"AWS\",\"SubAccountId\":\"1\","
                                             "\"ServiceName\":\"S\","
                                             "\"ChargeCategory\":\"Usage\"}\n"
                                             "{\"EventId\":\"" ID1
                                             "\",\"ChargePeriodStart\":\"yesterday\"}\n",
        &b);
    assert_int_equal(b.total, 5);
    assert_int_equal(b.n_events, 1);
    assert_int_equal(b.index[0], 0);
    assert_int_equal(b.n_errors, 4);
    assert_int_equal(b.errors[0].index, 1);
    assert_non_null(
        strstr(b.errors[0].reason, "BilledCost: give amounts with a fraction as decimal strings"));
    assert_int_equal(b.errors[1].index, 2);
    assert_non_null(strstr(b.errors[1].reason, "not JSON"));
    assert_int_equal(b.errors[2].index, 3);
    assert_string_equal(b.errors[2].reason, "ChargePeriodEnd: not after ChargePeriodStart");
    assert_int_equal(b.errors[3].index, 4);
    assert_string_equal(b.errors[3].reason, "ChargePeriodStart: not an ISO-8601 date or time");
    vx_cost_json_batch_cleanup(&b);
}

static void test_cost_json_field_errors_name_focus_fields(void **state)
{
    (void)state;
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"[{\"EventId\":\"nope\",\"ChargePeriodStart\":\"2025-09-01\",\"ChargePeriodEnd\":\"2025-"
         "09-02\","
         "\"BilledCost\":\"1\",\"BillingCurrency\":\"USD\",\"ProviderName\":\"AWS\","
         "\"SubAccountId\":\"1\","
         "\"ServiceName\":\"S\",\"ChargeCategory\":\"Usage\"}]",
         "EventId"},
        {"[{\"EventId\":\"" ID1
         "\",\"ChargePeriodStart\":\"2025-09-01\",\"ChargePeriodEnd\":\"2025-09-02\","
         "\"BilledCost\":\"1\",\"BillingCurrency\":\"usd\",\"ProviderName\":\"AWS\","
         "\"SubAccountId\":\"1\","
         "\"ServiceName\":\"S\",\"ChargeCategory\":\"Usage\"}]",
         "BillingCurrency"},
        {"[{\"EventId\":\"" ID1
         "\",\"ChargePeriodStart\":\"2025-09-01\",\"ChargePeriodEnd\":\"2025-09-02\","
         "\"BilledCost\":\"1\",\"BillingCurrency\":\"USD\",\"ProviderName\":\"AWS\","
         "\"SubAccountId\":\"1\","
         "\"ServiceName\":\"S\",\"ChargeCategory\":\"Usage\",\"Revision\":-1}]",
         "Revision: must be a whole number"},
        {"[{\"EventId\":\"" ID1
         "\",\"ChargePeriodStart\":\"2025-09-01\",\"ChargePeriodEnd\":\"2025-09-02\","
         "\"BilledCost\":\"1\",\"BillingCurrency\":\"USD\",\"ProviderName\":\"AWS\","
         "\"SubAccountId\":\"1\","
         "\"ServiceName\":\"S\",\"ChargeCategory\":\"Usage\",\"Tags\":{\"a\":1}}]",
         "Tags.a: must be a string"},
        {"[{\"EventId\":\"" ID1
         "\",\"ChargePeriodStart\":\"2025-09-01\",\"ChargePeriodEnd\":\"2025-09-02\","
         "\"BilledCost\":\"1 dollar\",\"BillingCurrency\":\"USD\"}]",
         "BilledCost: not a decimal number"},
        {"[{\"EventId\":\"" ID1 "\",\"ServiceName\":5}]", "ServiceName: must be a string"},
        {"[42]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vx_cost_json_batch b;
        decode_ok(cases[i].body, &b);
        assert_int_equal(b.n_events, 0);
        assert_int_equal(b.n_errors, 1);
        if (!strstr(b.errors[0].reason, cases[i].want))
            fail_msg("case %zu: '%s' does not mention '%s'", i, b.errors[0].reason, cases[i].want);
        vx_cost_json_batch_cleanup(&b);
    }
}

static void test_cost_json_body_level_errors(void **state)
{
    (void)state;
    vx_cost_json_batch b;
    char why[256];
    assert_int_equal(vx_cost_json_decode("", 0, TENANT, 10, &b, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "empty"));
    assert_int_equal(vx_cost_json_decode("[1,", 3, TENANT, 10, &b, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "not JSON"));
    assert_int_equal(vx_cost_json_decode("\"x\"", 3, TENANT, 10, &b, why, sizeof why), VX_INVALID);
    const char *three = "[{},{},{}]";
    assert_int_equal(vx_cost_json_decode(three, strlen(three), TENANT, 2, &b, why, sizeof why),
                     VX_INVALID);
    assert_string_equal(why, "3 events, more than 2 in one request");
    const char *nd = "{}\n{}\n{}\n";
    assert_int_equal(vx_cost_json_decode(nd, strlen(nd), TENANT, 2, &b, why, sizeof why),
                     VX_INVALID);
    /* duplicate keys are refused rather than silently picking one */
    const char *dup = "[{\"EventId\":\"" ID1 "\",\"EventId\":\"" ID1 "\"}]";
    assert_int_equal(vx_cost_json_decode(dup, strlen(dup), TENANT, 10, &b, why, sizeof why),
                     VX_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_json_array_is_exact),
        cmocka_unit_test(test_cost_json_ndjson_with_errors_per_event),
        cmocka_unit_test(test_cost_json_field_errors_name_focus_fields),
        cmocka_unit_test(test_cost_json_body_level_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
