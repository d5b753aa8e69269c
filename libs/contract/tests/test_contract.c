/* Unit tests of vx::contract: the UTF-8 and text checks, days, CostScope validation with its
 * reasons (under the rules of both services), the Error table, reply envelopes, and the
 * deadline headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "valdrix/v1/forecast.pb-c.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/contract.h"
#include "vx/pb.h"

#include <stdio.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"
#define TODAY 20089 /* 2025-01-01 */

/* The forecast service's window and the llm service's window. */
static const vx_contract_scope_rules wide = {.default_days = 365,
                                             .min_days = 1,
                                             .max_days = 1096,
                                             .first_day = 0,
                                             .end_day = INT64_MAX,
                                             .max_ahead_days = 1,
                                             .currency_any_case = true};
static const vx_contract_scope_rules narrow = {.default_days = 30,
                                               .min_days = 1,
                                               .max_days = 366,
                                               .first_day = 365,
                                               .end_day = 84006,
                                               .max_ahead_days = INT64_MAX};

static void test_contract_utf8(void **state)
{
    (void)state;
    static const char *const good[] = {"",
                                       "plain",
                                       "caf\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x92\xb8",
                                       "\xf4\x8f\xbf\xbf",
                                       "\xed\x9f\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!vx_contract_utf8_valid(good[i], strlen(good[i])))
            fail_msg("refused good[%zu]", i);
    static const char *const bad[] = {
        "caf\xc3",          /* cut */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xf5\x80\x80\x80", /* no such lead */
        "\x80",             /* a lone continuation */
        "\xe2\x28\xa1",     /* a bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (vx_contract_utf8_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted bad[%zu]", i);
    /* NUL is a character to the byte-range check */
    assert_true(vx_contract_utf8_valid("a\0b", 3));
    assert_int_equal(vx_contract_utf8_seq("\xe2\x82\xac", 3), 3);
    assert_int_equal(vx_contract_utf8_seq("\xe2\x82\xac", 2), 0);
}

static void test_contract_text_and_names(void **state)
{
    (void)state;
    assert_true(vx_contract_text_ok("Amazon EC2 \xe2\x80\x94 eu-west-1"));
    assert_true(vx_contract_text_ok("\xc2\xa0")); /* U+00A0 is no control */
    assert_false(vx_contract_text_ok("a\tb"));
    assert_false(vx_contract_text_ok("a\nb"));
    assert_false(vx_contract_text_ok("\x7f"));
    assert_false(vx_contract_text_ok("\xc2\x85")); /* NEL, a C1 control */
    assert_false(vx_contract_text_ok("\xc2\x9f"));
    assert_false(vx_contract_text_ok("caf\xc3"));

    char why[128];
    assert_int_equal(vx_contract_check_name("svc", "EC2", 256, why, sizeof why), VX_OK);
    assert_int_equal(vx_contract_check_name("svc", "", 256, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "svc is empty");
    assert_int_equal(vx_contract_check_name("svc", "abcd", 3, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "svc is longer than 3 bytes");
    assert_int_equal(vx_contract_check_name("svc", "a\x01", 3, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "svc is not UTF-8 text without control characters");
    assert_int_equal(vx_contract_check_name("svc", NULL, 3, NULL, 0), VX_INVALID);
}

static void test_contract_days(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_true(vx_contract_day_parse("2025-01-01", 10, &d));
    assert_int_equal(d, TODAY);
    assert_true(vx_contract_day_parse("1970-01-01", 10, &d));
    assert_int_equal(d, 0);
    assert_true(vx_contract_day_parse("1969-12-31", 10, &d));
    assert_int_equal(d, -1);
    assert_true(vx_contract_day_parse("2024-02-29", 10, &d));
    d = 7;
    static const char *const bad[] = {
        "2025-02-29",           "2024-02-30", "2024-13-01", "2024-1-01",
        "2024-01-01T00:00:00Z", "2024/01/01", "0000-01-01", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (vx_contract_day_parse(bad[i], strlen(bad[i]), &d))
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(d, 7); /* untouched */
    assert_false(vx_contract_day_parse("2024-01-01", 9, &d));
    char out[VX_CONTRACT_DAY_LEN];
    vx_contract_day_format(TODAY, out);
    assert_string_equal(out, "2025-01-01");
    vx_contract_day_format(19782, out);
    assert_string_equal(out, "2024-02-29");
    vx_contract_day_format(0, out);
    assert_string_equal(out, "1970-01-01");
}

static void test_contract_cost_and_currency(void **state)
{
    (void)state;
    vx_contract_cost c = VX_CONTRACT_COST_EFFECTIVE;
    assert_true(vx_contract_cost_parse("billed", &c));
    assert_int_equal(c, VX_CONTRACT_COST_BILLED);
    assert_string_equal(vx_contract_cost_name(c), "billed");
    assert_string_equal(vx_contract_cost_column(VX_CONTRACT_COST_LIST), "list_cost");
    assert_false(vx_contract_cost_parse("", &c));
    assert_false(vx_contract_cost_parse("amortized", &c));
    assert_string_equal(vx_contract_filter_field(VX_CONTRACT_FILTER_ACCOUNT), "sub_account_ids");
    assert_string_equal(vx_contract_filter_column(VX_CONTRACT_FILTER_REGION), "region_id");
    char cur[4] = "";
    assert_true(vx_contract_currency_parse("EUR", false, cur));
    assert_string_equal(cur, "EUR");
    assert_false(vx_contract_currency_parse("eur", false, cur));
    assert_true(vx_contract_currency_parse("eur", true, cur));
    assert_string_equal(cur, "EUR");
    assert_false(vx_contract_currency_parse("EURO", true, cur));
    assert_false(vx_contract_currency_parse("U$D", true, cur));
}

/* A CostScope from strings (NULL: unset). */
typedef struct {
    const char *tenant, *from, *to, *currency, *cost;
    const char *const *services;
    size_t n_services;
} spec;

static Valdrix__V1__CostScope scope_of(const spec *s)
{
    vx_contract_scope_view v = {.tenant_id = s->tenant ? s->tenant : TENANT,
                                .from = s->from,
                                .to = s->to,
                                .currency = s->currency,
                                .cost = s->cost};
    v.filter[VX_CONTRACT_FILTER_SERVICE] = s->services;
    v.n_filter[VX_CONTRACT_FILTER_SERVICE] = s->n_services;
    Valdrix__V1__CostScope sc;
    vx_contract_scope_view_fill(&v, &sc);
    return sc;
}

static void refused(const vx_contract_scope_rules *rules, const spec *s, const char *needle)
{
    Valdrix__V1__CostScope sc = scope_of(s);
    vx_contract_scope r;
    memset(&r, 0x5a, sizeof r);
    char why[256] = "";
    if (vx_contract_scope_decode(&sc, rules, TODAY, &r, why, sizeof why) != VX_INVALID)
        fail_msg("accepted; expected a refusal with '%s'", needle);
    if (strstr(why, needle) == NULL)
        fail_msg("expected '%s' in '%s'", needle, why);
    assert_int_equal(r.tenant_id[0], 0x5a); /* untouched */
}

static void test_contract_scope_resolves_defaults(void **state)
{
    (void)state;
    Valdrix__V1__CostScope sc = scope_of(&(spec){.tenant = "0B6C4E52-3D43-4B6E-9A39-6F1F0A7F6A01"});
    vx_contract_scope r;
    char why[256] = "";
    assert_int_equal(vx_contract_scope_decode(&sc, &wide, TODAY, &r, why, sizeof why), VX_OK);
    assert_string_equal(r.tenant_id, TENANT);
    assert_int_equal(r.to_day, TODAY);
    assert_int_equal(r.from_day, TODAY - 365);
    assert_string_equal(r.to, "2025-01-01");
    assert_string_equal(r.from, "2024-01-02");
    assert_string_equal(r.currency, "");
    assert_int_equal(r.cost, VX_CONTRACT_COST_EFFECTIVE);
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        assert_null(r.filter[f]);
        assert_int_equal(r.n_filter[f], 0);
    }
    vx_contract_scope_cleanup(&r);
    assert_int_equal(vx_contract_scope_decode(&sc, &narrow, TODAY, &r, why, sizeof why), VX_OK);
    assert_int_equal(r.from_day, TODAY - 30);
    vx_contract_scope_cleanup(&r);
    vx_contract_scope_cleanup(NULL);
}

static void test_contract_scope_filters_and_canonical_form(void **state)
{
    (void)state;
    const char *const svcs[] = {"S3", "EC2", "S3", "Lambda"};
    Valdrix__V1__CostScope sc = scope_of(&(spec){.from = "2024-01-01",
                                                 .to = "2024-07-01",
                                                 .currency = "eur",
                                                 .cost = "list",
                                                 .services = svcs,
                                                 .n_services = 4});
    vx_contract_scope r;
    char why[256] = "";
    assert_int_equal(vx_contract_scope_decode(&sc, &wide, TODAY, &r, why, sizeof why), VX_OK);
    assert_string_equal(r.currency, "EUR");
    assert_int_equal(r.cost, VX_CONTRACT_COST_LIST);
    assert_int_equal(r.n_filter[VX_CONTRACT_FILTER_SERVICE], 3);
    assert_string_equal(r.filter[VX_CONTRACT_FILTER_SERVICE][0], "EC2");
    assert_string_equal(r.filter[VX_CONTRACT_FILTER_SERVICE][1], "Lambda");
    assert_string_equal(r.filter[VX_CONTRACT_FILTER_SERVICE][2], "S3");

    /* the canonical form reads back as the same scope, every default spelled out */
    Valdrix__V1__CostScope canon;
    vx_contract_scope_fill(&r, &canon);
    assert_string_equal(canon.from, "2024-01-01");
    assert_string_equal(canon.to, "2024-07-01");
    assert_string_equal(canon.cost, "list");
    assert_string_equal(canon.currency, "EUR");
    uint8_t buf[4096];
    size_t len = valdrix__v1__cost_scope__pack(&canon, buf);
    Valdrix__V1__CostScope *back = valdrix__v1__cost_scope__unpack(NULL, len, buf);
    assert_non_null(back);
    vx_contract_scope r2;
    assert_int_equal(vx_contract_scope_decode(back, &narrow, TODAY + 9, &r2, why, sizeof why),
                     VX_OK);
    assert_int_equal(r2.from_day, r.from_day);
    assert_int_equal(r2.to_day, r.to_day);
    assert_int_equal(r2.n_filter[VX_CONTRACT_FILTER_SERVICE], 3);
    valdrix__v1__cost_scope__free_unpacked(back, NULL);
    vx_contract_scope_cleanup(&r2);
    vx_contract_scope_cleanup(&r);
}

static void test_contract_scope_refusals(void **state)
{
    (void)state;
    char why[256];
    vx_contract_scope r;
    assert_int_equal(vx_contract_scope_decode(NULL, &wide, TODAY, &r, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "scope is required"));
    refused(&wide, &(spec){.tenant = ""}, "scope.tenant_id must be a UUID");
    refused(&wide, &(spec){.tenant = "not-a-uuid"}, "not 'not-a-uuid'");
    refused(&wide, &(spec){.from = "2024-02-30"}, "scope.from must be a date YYYY-MM-DD");
    refused(&wide, &(spec){.to = "2024-01-01T00:00:00Z"}, "scope.to must be a date");
    refused(&wide, &(spec){.from = "2024-03-01", .to = "2024-03-01"}, "before scope.to");
    refused(&wide, &(spec){.from = "2020-12-30", .to = "2024-01-01"}, "at most 1096");
    refused(&wide, &(spec){.to = "2025-01-03"}, "in the future");
    refused(&wide, &(spec){.from = "1969-12-31", .to = "1970-02-01"}, "before 1970-01-01");
    refused(&wide, &(spec){.currency = "US"}, "ISO 4217");
    refused(&wide, &(spec){.cost = "amortized"}, "unknown cost kind 'amortized'");
    /* what is not text is not quoted back */
    refused(&wide, &(spec){.cost = "a\nb"}, "'(not shown)'");
    refused(&narrow, &(spec){.currency = "usd"}, "scope.currency");
    refused(&narrow, &(spec){.from = "2024-01-01", .to = "2025-01-02"}, "at most 366");
    refused(&narrow, &(spec){.from = "1969-12-01", .to = "1970-01-01"}, "before 1971-01-01");
    refused(&narrow, &(spec){.from = "2200-01-01", .to = "2200-01-02"}, "after 2200-01-01");
    vx_contract_scope_rules fortnight = wide;
    fortnight.min_days = 14;
    refused(&fortnight, &(spec){.from = "2024-12-20", .to = "2025-01-01"}, "at least 14");

    const char *const empty[] = {"EC2", ""};
    refused(&wide, &(spec){.services = empty, .n_services = 2}, "scope.service_names[1] is empty");
    const char *const ctl[] = {"EC2\n"};
    refused(&narrow, &(spec){.services = ctl, .n_services = 1}, "control characters");
    char longer[VX_CONTRACT_MAX_NAME_BYTES + 2];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    const char *const longs[] = {longer};
    refused(&wide, &(spec){.services = longs, .n_services = 1}, "is longer than 256 bytes");
    const char *many[VX_CONTRACT_MAX_FILTER_VALUES + 1];
    for (int i = 0; i <= VX_CONTRACT_MAX_FILTER_VALUES; i++)
        many[i] = "svc";
    refused(&wide, &(spec){.services = many, .n_services = VX_CONTRACT_MAX_FILTER_VALUES + 1},
            "more than allowed (at most 100 values)");
}

static void test_contract_unpack_request(void **state)
{
    (void)state;
    ProtobufCMessage *m = NULL;
    char why[256];
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(vx_contract_unpack(&valdrix__v1__forecast_request__descriptor, junk,
                                        sizeof junk, 100, &m, why, sizeof why),
                     VX_INVALID);
    assert_string_equal(why, "not a valdrix.v1.ForecastRequest (protobuf)");
    assert_int_equal(vx_contract_unpack(&valdrix__v1__forecast_request__descriptor, junk,
                                        sizeof junk, 4, &m, why, sizeof why),
                     VX_INVALID);
    assert_string_equal(why, "request of 5 bytes is larger than allowed (at most 4)");
    assert_null(m);
    assert_int_equal(vx_contract_unpack(&valdrix__v1__insight_request__descriptor, NULL, 0, 100, &m,
                                        why, sizeof why),
                     VX_OK);
    assert_non_null(m);
    assert_null(((Valdrix__V1__InsightRequest *)m)->scope);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_contract_error_table(void **state)
{
    (void)state;
    static const struct {
        int code, http;
        const char *name;
        vx_status status;
    } want[] = {
        {VALDRIX__V1__ERROR__CODE__CODE_INVALID, 400, "invalid", VX_INVALID},
        {VALDRIX__V1__ERROR__CODE__CODE_BUDGET, 402, "budget", VX_LIMIT},
        {VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE, 413, "too_large", VX_LIMIT},
        {VALDRIX__V1__ERROR__CODE__CODE_LIMITED, 429, "limited", VX_LIMIT},
        {VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE, 503, "unavailable", VX_UNAVAILABLE},
        {VALDRIX__V1__ERROR__CODE__CODE_DEADLINE, 504, "deadline", VX_TIMEOUT},
        {VALDRIX__V1__ERROR__CODE__CODE_INTERNAL, 500, "internal", VX_INTERNAL},
        /* unknown codes are internal errors */
        {VALDRIX__V1__ERROR__CODE__CODE_UNSPECIFIED, 500, "internal", VX_INTERNAL},
        {99, 500, "internal", VX_INTERNAL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const vx_contract_error_info *e = vx_contract_error_of_code(want[i].code);
        assert_non_null(e);
        assert_int_equal(e->http_status, want[i].http);
        assert_string_equal(e->name, want[i].name);
        assert_int_equal(e->status, want[i].status);
        assert_non_null(e->problem_type);
        assert_non_null(e->problem_title);
    }
    assert_string_equal(vx_contract_error_of_code(2)->problem_type, "budget-exceeded");
    assert_int_equal(vx_contract_code_of_status(VX_TIMEOUT),
                     VALDRIX__V1__ERROR__CODE__CODE_DEADLINE);
    assert_int_equal(vx_contract_code_of_status(VX_UNAVAILABLE),
                     VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE);
    assert_int_equal(vx_contract_code_of_status(VX_CONFLICT),
                     VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE);
    assert_int_equal(vx_contract_code_of_status(VX_INVALID),
                     VALDRIX__V1__ERROR__CODE__CODE_INVALID);
    assert_int_equal(vx_contract_code_of_status(VX_LIMIT), VALDRIX__V1__ERROR__CODE__CODE_LIMITED);
    assert_int_equal(vx_contract_code_of_status(VX_INTERNAL),
                     VALDRIX__V1__ERROR__CODE__CODE_INTERNAL);
}

static void test_contract_error_replies(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf =
        vx_contract_reply_error(&valdrix__v1__forecast_reply__descriptor,
                                VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE, "too many records", &len);
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, len, buf);
    assert_non_null(rep);
    assert_int_equal(rep->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_ERROR);
    assert_int_equal(rep->error->code, VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE);
    assert_string_equal(rep->error->message, "too many records");
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_free(buf);

    buf = vx_contract_reply_error(&valdrix__v1__anomalies_reply__descriptor,
                                  VALDRIX__V1__ERROR__CODE__CODE_INVALID, "bad", &len);
    Valdrix__V1__AnomaliesReply *ar = valdrix__v1__anomalies_reply__unpack(NULL, len, buf);
    assert_non_null(ar);
    assert_int_equal(ar->outcome_case, VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_ERROR);
    assert_int_equal(ar->error->code, VALDRIX__V1__ERROR__CODE__CODE_INVALID);
    valdrix__v1__anomalies_reply__free_unpacked(ar, NULL);
    vx_free(buf);

    buf = vx_contract_reply_error(&valdrix__v1__insight_reply__descriptor,
                                  VALDRIX__V1__ERROR__CODE__CODE_BUDGET, "budget used up", &len);
    Valdrix__V1__InsightReply *ir = valdrix__v1__insight_reply__unpack(NULL, len, buf);
    assert_non_null(ir);
    assert_int_equal(ir->outcome_case, VALDRIX__V1__INSIGHT_REPLY__OUTCOME_ERROR);
    assert_int_equal(ir->error->code, VALDRIX__V1__ERROR__CODE__CODE_BUDGET);
    assert_string_equal(ir->error->message, "budget used up");
    valdrix__v1__insight_reply__free_unpacked(ir, NULL);
    vx_free(buf);

    /* a long message is cut, never inside a character */
    char big[VX_CONTRACT_MAX_MESSAGE_BYTES + 8];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + VX_CONTRACT_MAX_MESSAGE_BYTES - 1, "\xe2\x82\xac", 3);
    buf = vx_contract_reply_error(&valdrix__v1__insight_reply__descriptor, 7, big, &len);
    ir = valdrix__v1__insight_reply__unpack(NULL, len, buf);
    assert_non_null(ir);
    assert_int_equal(strlen(ir->error->message), VX_CONTRACT_MAX_MESSAGE_BYTES - 1);
    valdrix__v1__insight_reply__free_unpacked(ir, NULL);
    vx_free(buf);
    buf = vx_contract_reply_error(&valdrix__v1__insight_reply__descriptor, 7, NULL, &len);
    ir = valdrix__v1__insight_reply__unpack(NULL, len, buf);
    assert_non_null(ir);
    assert_string_equal(ir->error->message, "");
    valdrix__v1__insight_reply__free_unpacked(ir, NULL);
    vx_free(buf);
}

static void test_contract_reply_round_trip(void **state)
{
    (void)state;
    Valdrix__V1__AnomaliesResult res;
    valdrix__v1__anomalies_result__init(&res);
    res.tenant_id = vx_pb_str(TENANT);
    res.records = 42;
    size_t len = 0;
    uint8_t *buf =
        vx_contract_reply_result(&valdrix__v1__anomalies_reply__descriptor, &res.base, &len);
    vx_contract_reply r;
    char why[128] = "";
    assert_int_equal(vx_contract_reply_unpack(&valdrix__v1__anomalies_reply__descriptor, buf, len,
                                              &r, why, sizeof why),
                     VX_OK);
    vx_free(buf);
    assert_null(r.error);
    assert_non_null(r.result);
    const Valdrix__V1__AnomaliesResult *got = (const Valdrix__V1__AnomaliesResult *)r.result;
    assert_string_equal(got->tenant_id, TENANT);
    assert_int_equal(got->records, 42);
    vx_contract_reply_cleanup(&r);

    buf = vx_contract_reply_error(&valdrix__v1__forecast_reply__descriptor, 4, "down", &len);
    assert_int_equal(vx_contract_reply_unpack(&valdrix__v1__forecast_reply__descriptor, buf, len,
                                              &r, why, sizeof why),
                     VX_OK);
    vx_free(buf);
    assert_null(r.result);
    assert_non_null(r.error);
    assert_int_equal(r.error->code, 4);
    assert_string_equal(r.error->message, "down");
    vx_contract_reply_cleanup(&r);
    vx_contract_reply_cleanup(&r); /* zeroed: fine */

    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(vx_contract_reply_unpack(&valdrix__v1__forecast_reply__descriptor, junk,
                                              sizeof junk, &r, why, sizeof why),
                     VX_INVALID);
    assert_string_equal(why, "a reply that is not a ForecastReply");
    assert_int_equal(vx_contract_reply_unpack(&valdrix__v1__anomalies_reply__descriptor, junk,
                                              sizeof junk, &r, why, sizeof why),
                     VX_INVALID);
    assert_string_equal(why, "a reply that is not an AnomaliesReply");
    /* an empty reply decodes, but has no outcome */
    assert_int_equal(vx_contract_reply_unpack(&valdrix__v1__insight_reply__descriptor, NULL, 0, &r,
                                              why, sizeof why),
                     VX_INVALID);
    assert_string_equal(why, "neither a result nor an error");
}

static void test_contract_deadline_format_and_read(void **state)
{
    (void)state;
    char buf[VX_DEADLINE_TEXT_MAX];
    int64_t at = 0;
    vx_deadline_format(1764876543210, buf);
    assert_string_equal(buf, "1764876543210");
    assert_int_equal(vx_deadline_read(buf, &at, NULL, 0), VX_OK);
    assert_int_equal(at, 1764876543210);
    /* out of range values are written clamped, so they always read back */
    vx_deadline_format(-5, buf);
    assert_string_equal(buf, "1");
    vx_deadline_format(INT64_MAX, buf);
    assert_int_equal(vx_deadline_read(buf, &at, NULL, 0), VX_OK);
    assert_int_equal(at, VX_DEADLINE_AT_MAX);
    assert_int_equal(vx_deadline_read("1", &at, NULL, 0), VX_OK);
    assert_int_equal(at, 1);

    static const char *const bad[] = {"",
                                      "0",
                                      "-1764876543210",
                                      "+1764876543210",
                                      " 1764876543210",
                                      "1764876543210 ",
                                      "01764876543210",
                                      "1764876543210.5",
                                      "1.7e12",
                                      "0x19b",
                                      "2025-12-04T10:00:00Z",
                                      "253402300800000",
                                      "99999999999999999999",
                                      "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[160] = "";
        at = 42;
        if (vx_deadline_read(bad[i], &at, why, sizeof why) != VX_INVALID)
            fail_msg("\"%s\" was read as a deadline", bad[i]);
        assert_int_equal(at, 42);
        assert_non_null(strstr(why, "Vx-Deadline-At must be unix epoch milliseconds"));
    }
    assert_int_equal(vx_deadline_read(NULL, &at, NULL, 0), VX_INVALID);
}

static void test_contract_deadline_left(void **state)
{
    (void)state;
    const int64_t now = 1764876543210;
    int64_t left = -1;
    char why[160] = "";
    /* neither header: the default */
    assert_int_equal(vx_deadline_left(NULL, NULL, now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, 3000);
    /* the relative budget alone */
    assert_int_equal(vx_deadline_left(NULL, "1500", now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, 1500);
    /* the absolute deadline: what is left of it now, also when already past */
    char at[VX_DEADLINE_TEXT_MAX];
    vx_deadline_format(now + 2500, at);
    assert_int_equal(vx_deadline_left(at, NULL, now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, 2500);
    vx_deadline_format(now - 10, at);
    assert_int_equal(vx_deadline_left(at, NULL, now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, -10);
    /* both: the absolute one counts the time spent queued; the relative one can shorten it */
    assert_int_equal(vx_deadline_left(at, "5000", now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, -10);
    vx_deadline_format(now + 9000, at);
    assert_int_equal(vx_deadline_left(at, "5000", now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, 5000);
    /* far in the future: capped */
    vx_deadline_format(now + 86400000, at);
    assert_int_equal(vx_deadline_left(at, NULL, now, 3000, &left, why, sizeof why), VX_OK);
    assert_int_equal(left, VX_DEADLINE_MS_MAX);
    /* malformed values are refused, saying which header */
    left = 7;
    assert_int_equal(vx_deadline_left("soon", NULL, now, 3000, &left, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "Vx-Deadline-At"));
    assert_int_equal(left, 7);
    static const char *const bad_ms[] = {"", "0", "-5", "1.5", "600001", "15s", "0100"};
    for (size_t i = 0; i < sizeof bad_ms / sizeof bad_ms[0]; i++) {
        why[0] = '\0';
        if (vx_deadline_left(NULL, bad_ms[i], now, 3000, &left, why, sizeof why) != VX_INVALID)
            fail_msg("Vx-Deadline-Ms \"%s\" was accepted", bad_ms[i]);
        assert_non_null(strstr(why, "Vx-Deadline-Ms must be milliseconds"));
    }
    assert_int_equal(left, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_utf8),
        cmocka_unit_test(test_contract_text_and_names),
        cmocka_unit_test(test_contract_days),
        cmocka_unit_test(test_contract_cost_and_currency),
        cmocka_unit_test(test_contract_scope_resolves_defaults),
        cmocka_unit_test(test_contract_scope_filters_and_canonical_form),
        cmocka_unit_test(test_contract_scope_refusals),
        cmocka_unit_test(test_contract_unpack_request),
        cmocka_unit_test(test_contract_error_table),
        cmocka_unit_test(test_contract_error_replies),
        cmocka_unit_test(test_contract_reply_round_trip),
        cmocka_unit_test(test_contract_deadline_format_and_read),
        cmocka_unit_test(test_contract_deadline_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
