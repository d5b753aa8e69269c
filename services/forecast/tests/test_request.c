/* Unit tests of services/forecast's request rules: defaults, every refusal with its reason,
 * the canonical digest that keys the cache, and Error replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "request.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TODAY 20089 /* 2025-01-01 */
#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"

static uint8_t packed[1 << 17];

/* A ForecastRequest with scope fields given as strings (NULL: unset). */
typedef struct {
    const char *tenant, *from, *to, *currency, *cost;
    const char *const *services;
    size_t n_services;
    const char *const *accounts;
    size_t n_accounts;
    uint32_t horizon, top;
    double level;
    double min_abs, min_rel;
} spec;

static size_t pack(fc_kind kind, const spec *s)
{
    Valdrix__V1__CostScope sc = VALDRIX__V1__COST_SCOPE__INIT;
    char empty[1] = "";
    char tenant[128], from[64], to[64], cur[16], cost[32];
    snprintf(tenant, sizeof tenant, "%s", s->tenant ? s->tenant : "");
    snprintf(from, sizeof from, "%s", s->from ? s->from : "");
    snprintf(to, sizeof to, "%s", s->to ? s->to : "");
    snprintf(cur, sizeof cur, "%s", s->currency ? s->currency : "");
    snprintf(cost, sizeof cost, "%s", s->cost ? s->cost : "");
    sc.tenant_id = tenant;
    sc.from = from[0] ? from : empty;
    sc.to = to;
    sc.currency = cur;
    sc.cost = cost;
    sc.service_names = vx_pb_strv(s->services);
    sc.n_service_names = s->n_services;
    sc.sub_account_ids = vx_pb_strv(s->accounts);
    sc.n_sub_account_ids = s->n_accounts;
    if (kind == FC_KIND_RUN) {
        Valdrix__V1__ForecastRequest m = VALDRIX__V1__FORECAST_REQUEST__INIT;
        m.scope = &sc;
        m.horizon_days = s->horizon;
        m.level = s->level;
        m.top_services = s->top;
        return valdrix__v1__forecast_request__pack(&m, packed);
    }
    Valdrix__V1__AnomaliesRequest m = VALDRIX__V1__ANOMALIES_REQUEST__INIT;
    m.scope = &sc;
    m.min_abs = s->min_abs;
    m.min_rel = s->min_rel;
    m.top_services = s->top;
    return valdrix__v1__anomalies_request__pack(&m, packed);
}

static void parse_ok(fc_kind kind, const spec *s, fc_request *r)
{
    size_t len = pack(kind, s);
    char why[256] = "";
    if (fc_request_parse(kind, packed, len, TODAY, r, why, sizeof why) != VX_OK)
        fail_msg("refused: %s", why);
}

/* Refused, with `needle` in the reason. */
static void refused(fc_kind kind, const spec *s, const char *needle)
{
    size_t len = pack(kind, s);
    char why[256] = "";
    fc_request r;
    if (fc_request_parse(kind, packed, len, TODAY, &r, why, sizeof why) != VX_INVALID)
        fail_msg("accepted; expected a refusal with '%s'", needle);
    if (strstr(why, needle) == NULL)
        fail_msg("expected '%s' in '%s'", needle, why);
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) /* nothing left to free */
        assert_null(r.scope.filter[f]);
}

static void test_forecast_request_defaults(void **state)
{
    (void)state;
    fc_request r;
    spec s = {.tenant = "0B6C4E52-3D43-4B6E-9A39-6F1F0A7F6A01"};
    parse_ok(FC_KIND_RUN, &s, &r);
    assert_string_equal(r.scope.tenant_id, TENANT); /* canonical lower case */
    assert_int_equal(r.scope.to_day, TODAY);
    assert_int_equal(r.scope.from_day, TODAY - 365);
    assert_int_equal(r.horizon_days, 30);
    assert_true(r.level == 0.8);
    assert_int_equal(r.top_services, 5);
    assert_int_equal(r.scope.cost, VX_CONTRACT_COST_EFFECTIVE);
    assert_string_equal(r.scope.currency, "");
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
        assert_int_equal(r.scope.n_filter[f], 0);
    fc_request_cleanup(&r);

    parse_ok(FC_KIND_ANOMALIES, &s, &r);
    assert_int_equal(r.scope.from_day, TODAY - 90);
    assert_true(r.min_abs == 25);
    assert_true(r.min_rel == 0.30);
    assert_int_equal(r.top_services, 5);
    fc_request_cleanup(&r);
}

static void test_forecast_request_explicit_values(void **state)
{
    (void)state;
    const char *svcs[] = {"S3", "EC2", "S3", "Lambda"};
    spec s = {.tenant = TENANT,
              .from = "2024-01-01",
              .to = "2024-07-01",
              .currency = "eur",
              .cost = "list",
              .services = svcs,
              .n_services = 4,
              .horizon = 90,
              .level = 0.95,
              .top = 20};
    fc_request r;
    parse_ok(FC_KIND_RUN, &s, &r);
    char day[11];
    vx_contract_day_format(r.scope.from_day, day);
    assert_string_equal(day, "2024-01-01");
    vx_contract_day_format(r.scope.to_day, day);
    assert_string_equal(day, "2024-07-01");
    assert_string_equal(r.scope.currency, "EUR");
    assert_int_equal(r.scope.cost, VX_CONTRACT_COST_LIST);
    assert_string_equal(vx_contract_cost_column(r.scope.cost), "list_cost");
    assert_int_equal(r.horizon_days, 90);
    assert_true(r.level == 0.95);
    assert_int_equal(r.top_services, 20);
    /* sorted, repeats dropped */
    assert_int_equal(r.scope.n_filter[VX_CONTRACT_FILTER_SERVICE], 3);
    assert_string_equal(r.scope.filter[VX_CONTRACT_FILTER_SERVICE][0], "EC2");
    assert_string_equal(r.scope.filter[VX_CONTRACT_FILTER_SERVICE][1], "Lambda");
    assert_string_equal(r.scope.filter[VX_CONTRACT_FILTER_SERVICE][2], "S3");
    fc_request_cleanup(&r);

    /* three years (one leap) is the most */
    spec w = {.tenant = TENANT, .from = "2021-01-01", .to = "2024-01-01"};
    parse_ok(FC_KIND_RUN, &w, &r);
    assert_int_equal(r.scope.to_day - r.scope.from_day, 1095);
    fc_request_cleanup(&r);
    /* `to` may be today or tomorrow (time zones), not later */
    spec t = {.tenant = TENANT, .to = "2025-01-02"};
    parse_ok(FC_KIND_RUN, &t, &r);
    fc_request_cleanup(&r);
}

static void test_forecast_request_refusals(void **state)
{
    (void)state;
    char why[256];
    fc_request r;
    /* bytes that are not the message */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(fc_request_parse(FC_KIND_RUN, junk, sizeof junk, TODAY, &r, why, sizeof why),
                     VX_INVALID);
    assert_non_null(strstr(why, "not a valdrix.v1.ForecastRequest"));
    assert_int_equal(fc_request_parse(FC_KIND_RUN, packed, VX_CONTRACT_MAX_REQUEST_BYTES + 1, TODAY,
                                      &r, why, sizeof why),
                     VX_INVALID);
    assert_non_null(strstr(why, "at most"));
    /* an empty message has no scope */
    assert_int_equal(fc_request_parse(FC_KIND_RUN, NULL, 0, TODAY, &r, why, sizeof why),
                     VX_INVALID);
    assert_non_null(strstr(why, "scope is required"));

    refused(FC_KIND_RUN, &(spec){.tenant = ""}, "tenant_id must be a UUID");
    refused(FC_KIND_RUN, &(spec){.tenant = "not-a-uuid"}, "tenant_id must be a UUID");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .from = "2024-02-30"},
            "scope.from must be a date");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .from = "2024-1-01"},
            "scope.from must be a date");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .to = "2024-01-01T00:00:00Z"},
            "scope.to must be a date");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .from = "2024-03-01", .to = "2024-03-01"},
            "before scope.to");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .from = "2020-12-30", .to = "2024-01-01"},
            "at most 1096");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .to = "2025-01-03"}, "in the future");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .from = "1969-12-31", .to = "1970-02-01"},
            "before 1970");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .horizon = 367}, "horizon_days");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .level = 1}, "level must be in (0, 1)");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .level = -0.2}, "level must be in (0, 1)");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .level = NAN}, "level must be in (0, 1)");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .top = 21}, "top_services");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .cost = "amortized"}, "unknown cost kind");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .currency = "US"}, "ISO 4217");
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .currency = "U$D"}, "ISO 4217");

    const char *empty[] = {"EC2", ""};
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .services = empty, .n_services = 2},
            "service_names[1] is empty");
    char long_name[VX_CONTRACT_MAX_NAME_BYTES + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *longs[] = {long_name};
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .accounts = longs, .n_accounts = 1},
            "sub_account_ids[0] is longer than");
    const char *bad_utf8[] = {"caf\xc3", "ok"};
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .services = bad_utf8, .n_services = 2},
            "not UTF-8");
    const char *control[] = {"a\tb"};
    refused(FC_KIND_RUN, &(spec){.tenant = TENANT, .services = control, .n_services = 1},
            "not UTF-8");
    const char *many[VX_CONTRACT_MAX_FILTER_VALUES + 1];
    for (int i = 0; i <= VX_CONTRACT_MAX_FILTER_VALUES; i++)
        many[i] = "svc";
    refused(FC_KIND_RUN,
            &(spec){.tenant = TENANT,
                    .services = many,
                    .n_services = VX_CONTRACT_MAX_FILTER_VALUES + 1},
            "at most 100 values");

    refused(FC_KIND_ANOMALIES, &(spec){.tenant = TENANT, .from = "2024-12-20", .to = "2025-01-01"},
            "at least 14");
    refused(FC_KIND_ANOMALIES, &(spec){.tenant = TENANT, .min_abs = -1}, "min_abs");
    refused(FC_KIND_ANOMALIES, &(spec){.tenant = TENANT, .min_rel = NAN}, "min_rel");
    refused(FC_KIND_ANOMALIES, &(spec){.tenant = TENANT, .top = 99}, "top_services");
}

static void digest_of(fc_kind kind, const spec *s, char out[FC_DIGEST_LEN])
{
    fc_request r;
    parse_ok(kind, s, &r);
    fc_request_digest(&r, out);
    fc_request_cleanup(&r);
}

static void test_forecast_request_digest_is_canonical(void **state)
{
    (void)state;
    char a[FC_DIGEST_LEN], b[FC_DIGEST_LEN];
    /* defaults spelled out or left zero; filters in another order or repeated; case */
    const char *s1[] = {"S3", "EC2"};
    const char *s2[] = {"EC2", "S3", "EC2"};
    digest_of(FC_KIND_RUN, &(spec){.tenant = TENANT, .services = s1, .n_services = 2}, a);
    digest_of(FC_KIND_RUN,
              &(spec){.tenant = "0B6C4E52-3D43-4B6E-9A39-6F1F0A7F6A01",
                      .from = "2024-01-02",
                      .to = "2025-01-01",
                      .cost = "effective",
                      .services = s2,
                      .n_services = 3,
                      .horizon = 30,
                      .level = 0.8,
                      .top = 5},
              b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 64);
    /* anything that changes the answer changes the digest */
    digest_of(FC_KIND_RUN,
              &(spec){.tenant = TENANT, .services = s1, .n_services = 2, .horizon = 31}, b);
    assert_string_not_equal(a, b);
    digest_of(FC_KIND_RUN, &(spec){.tenant = TENANT, .services = s1, .n_services = 1}, b);
    assert_string_not_equal(a, b);
    digest_of(FC_KIND_RUN,
              &(spec){.tenant = TENANT, .services = s1, .n_services = 2, .cost = "billed"}, b);
    assert_string_not_equal(a, b);
    digest_of(FC_KIND_RUN,
              &(spec){.tenant = TENANT, .to = "2024-12-31", .services = s1, .n_services = 2}, b);
    assert_string_not_equal(a, b);
    /* the same scope asked of the other service is another entry */
    digest_of(FC_KIND_RUN, &(spec){.tenant = TENANT}, a);
    digest_of(FC_KIND_ANOMALIES, &(spec){.tenant = TENANT, .from = "2024-01-02"}, b);
    assert_string_not_equal(a, b);

    fc_request r;
    parse_ok(FC_KIND_RUN, &(spec){.tenant = TENANT}, &r);
    char key[FC_CACHE_KEY_MAX], digest[FC_DIGEST_LEN], want[FC_CACHE_KEY_MAX];
    fc_request_digest(&r, digest);
    fc_cache_key(&r, 42, key);
    snprintf(want, sizeof want, "vx:fc:v1:%s:42:%s", TENANT, digest);
    assert_string_equal(key, want);
    fc_request_cleanup(&r);
}

static void test_forecast_request_error_replies(void **state)
{
    (void)state;
    /* the reply of each kind (the envelope itself is tested in libs/contract) */
    size_t len = 0;
    uint8_t *buf =
        vx_contract_reply_error(fc_reply_descriptor(FC_KIND_RUN),
                                VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE, "too many records", &len);
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, len, buf);
    assert_non_null(rep);
    assert_int_equal(rep->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_ERROR);
    assert_int_equal(rep->error->code, VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE);
    assert_string_equal(rep->error->message, "too many records");
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_free(buf);
    buf = vx_contract_reply_error(fc_reply_descriptor(FC_KIND_ANOMALIES),
                                  VALDRIX__V1__ERROR__CODE__CODE_INVALID, "bad", &len);
    Valdrix__V1__AnomaliesReply *ar = valdrix__v1__anomalies_reply__unpack(NULL, len, buf);
    assert_non_null(ar);
    assert_int_equal(ar->outcome_case, VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_ERROR);
    assert_int_equal(ar->error->code, VALDRIX__V1__ERROR__CODE__CODE_INVALID);
    valdrix__v1__anomalies_reply__free_unpacked(ar, NULL);
    vx_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_request_defaults),
        cmocka_unit_test(test_forecast_request_explicit_values),
        cmocka_unit_test(test_forecast_request_refusals),
        cmocka_unit_test(test_forecast_request_digest_is_canonical),
        cmocka_unit_test(test_forecast_request_error_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
