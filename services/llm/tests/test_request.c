/* Unit tests of the insight request rules: decoding, checks, defaults, and the cache key of the
 * resolved request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handlers/request.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT "0b7e5c1e-3f7a-4d8e-9a51-2f3c4d5e6f70"

/* 2026-03-15 */
static int64_t today(void)
{
    int64_t d;
    assert_true(vx_contract_day_parse("2026-03-15", 10, &d));
    return d;
}

typedef struct {
    const char *tenant, *from, *to, *currency, *cost, *focus_service, *focus_account;
    int kind;
    const char *const *services;
    size_t n_services;
    const char *const *accounts;
    size_t n_accounts;
    bool no_scope;
} spec;

static uint8_t *encode(const spec *s, size_t *len)
{
    Valdrix__V1__CostScope scope;
    valdrix__v1__cost_scope__init(&scope);
    scope.tenant_id = vx_pb_str(s->tenant ? s->tenant : TENANT);
    if (s->from)
        scope.from = vx_pb_str(s->from);
    if (s->to)
        scope.to = vx_pb_str(s->to);
    if (s->currency)
        scope.currency = vx_pb_str(s->currency);
    if (s->cost)
        scope.cost = vx_pb_str(s->cost);
    scope.service_names = vx_pb_strv(s->services);
    scope.n_service_names = s->n_services;
    scope.sub_account_ids = vx_pb_strv(s->accounts);
    scope.n_sub_account_ids = s->n_accounts;
    Valdrix__V1__InsightRequest r;
    valdrix__v1__insight_request__init(&r);
    r.scope = s->no_scope ? NULL : &scope;
    r.kind = (Valdrix__V1__InsightRequest__Kind)s->kind;
    if (s->focus_service)
        r.focus_service = vx_pb_str(s->focus_service);
    if (s->focus_account)
        r.focus_account = vx_pb_str(s->focus_account);
    *len = valdrix__v1__insight_request__get_packed_size(&r);
    uint8_t *buf = vx_xmalloc(*len + 1);
    valdrix__v1__insight_request__pack(&r, buf);
    return buf;
}

static vx_status decode(const spec *s, llm_req *out, char *err, size_t cap)
{
    size_t len;
    uint8_t *buf = encode(s, &len);
    vx_status st = llm_req_decode(buf, len, today(), out, err, cap);
    vx_free(buf);
    return st;
}

/* The request is refused, and the message names `field`. */
static void refused(const spec *s, const char *field)
{
    llm_req r;
    char err[256] = "";
    assert_int_equal(decode(s, &r, err, sizeof err), VX_INVALID);
    if (strstr(err, field) == NULL)
        fail_msg("error \"%s\" does not name %s", err, field);
}

static void test_llm_svc_request_defaults(void **state)
{
    (void)state;
    spec s = {.tenant = "0B7E5C1E-3F7A-4D8E-9A51-2F3C4D5E6F70"};
    llm_req r;
    char err[256] = "";
    assert_int_equal(decode(&s, &r, err, sizeof err), VX_OK);
    assert_string_equal(r.scope.tenant_id, TENANT); /* canonical lower case */
    assert_string_equal(r.scope.to, "2026-03-15");
    assert_string_equal(r.scope.from, "2026-02-13"); /* 30 days before */
    assert_int_equal(r.scope.to_day - r.scope.from_day, 30);
    assert_int_equal(r.kind, VX_LLM_KIND_SUMMARY);
    assert_int_equal(r.scope.cost, VX_CONTRACT_COST_EFFECTIVE);
    assert_string_equal(r.scope.currency, "");
    assert_string_equal(r.focus_service, "");
    llm_req_cleanup(&r);

    spec t = {.to = "2026-01-10", .kind = 3, .cost = "list", .currency = "EUR"};
    assert_int_equal(decode(&t, &r, err, sizeof err), VX_OK);
    assert_string_equal(r.scope.from, "2025-12-11");
    assert_string_equal(r.scope.to, "2026-01-10");
    assert_int_equal(r.kind, VX_LLM_KIND_FORECAST);
    assert_int_equal(r.scope.cost, VX_CONTRACT_COST_LIST);
    assert_string_equal(r.scope.currency, "EUR");
    llm_req_cleanup(&r);
}

static void test_llm_svc_request_window_limits(void **state)
{
    (void)state;
    llm_req r;
    char err[256];
    spec year = {.from = "2024-01-01", .to = "2025-01-01"}; /* 366 days, a leap year */
    assert_int_equal(decode(&year, &r, err, sizeof err), VX_OK);
    llm_req_cleanup(&r);
    spec one = {.from = "2026-03-01", .to = "2026-03-02"};
    assert_int_equal(decode(&one, &r, err, sizeof err), VX_OK);
    llm_req_cleanup(&r);

    refused(&(spec){.from = "2024-01-01", .to = "2025-01-02"}, "366");
    refused(&(spec){.from = "2026-03-02", .to = "2026-03-02"}, "before");
    refused(&(spec){.from = "2026-03-05", .to = "2026-03-02"}, "before");
    refused(&(spec){.from = "2026-04-01"}, "before"); /* after the default to (today) */
    refused(&(spec){.from = "2025-02-29", .to = "2025-03-10"}, "scope.from");
    refused(&(spec){.to = "2026-13-01"}, "scope.to");
    refused(&(spec){.to = "2026-3-1"}, "scope.to");
    refused(&(spec){.to = "2026-03-01T00:00:00Z"}, "scope.to");
    refused(&(spec){.from = "1969-12-01", .to = "1970-01-01"}, "1971");
    refused(&(spec){.from = "2200-01-01", .to = "2200-01-02"}, "2200");
}

static void test_llm_svc_request_refuses_bad_fields(void **state)
{
    (void)state;
    refused(&(spec){.no_scope = true}, "scope");
    refused(&(spec){.tenant = "not-a-uuid"}, "tenant_id");
    refused(&(spec){.tenant = ""}, "tenant_id");
    refused(&(spec){.kind = 9}, "kind");
    refused(&(spec){.kind = -1}, "kind");
    refused(&(spec){.currency = "usd"}, "currency");
    refused(&(spec){.currency = "EURO"}, "currency");
    refused(&(spec){.cost = "amortized"}, "cost");
    const char *empty[] = {"EC2", ""};
    refused(&(spec){.services = empty, .n_services = 2}, "service_names");
    const char *ctl[] = {"EC2\n"};
    refused(&(spec){.services = ctl, .n_services = 1}, "control");
    const char *bad_utf8[] = {"caf\xc3"};
    refused(&(spec){.accounts = bad_utf8, .n_accounts = 1}, "sub_account_ids");
    const char *overlong[] = {"\xc0\xaf"};
    refused(&(spec){.accounts = overlong, .n_accounts = 1}, "UTF-8");
    const char **many = vx_xcalloc(VX_CONTRACT_MAX_FILTER_VALUES + 1, sizeof *many);
    for (int i = 0; i <= VX_CONTRACT_MAX_FILTER_VALUES; i++)
        many[i] = "svc";
    refused(&(spec){.services = many, .n_services = VX_CONTRACT_MAX_FILTER_VALUES + 1},
            "more than");
    vx_free(many);
    char longer[VX_CONTRACT_MAX_NAME_BYTES + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    refused(&(spec){.focus_service = longer}, "focus_service");
    refused(&(spec){.focus_account = "\x7f"}, "focus_account");
}

static void test_llm_svc_request_garbage_is_invalid(void **state)
{
    (void)state;
    llm_req r;
    char err[256];
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99};
    assert_int_equal(llm_req_decode(junk, sizeof junk, today(), &r, err, sizeof err), VX_INVALID);
    assert_int_equal(llm_req_decode((const uint8_t *)"", 0, today(), &r, err, sizeof err),
                     VX_INVALID); /* an empty message has no scope */
    uint8_t *big = vx_xcalloc(VX_CONTRACT_MAX_REQUEST_BYTES + 1, 1);
    assert_int_equal(
        llm_req_decode(big, VX_CONTRACT_MAX_REQUEST_BYTES + 1, today(), &r, err, sizeof err),
        VX_INVALID);
    assert_non_null(strstr(err, "larger"));
    vx_free(big);
}

static void test_llm_svc_request_filters_sorted_and_unique(void **state)
{
    (void)state;
    const char *svc[] = {"S3", "EC2", "S3", "Lambda"};
    spec s = {.services = svc, .n_services = 4};
    llm_req r;
    char err[256];
    assert_int_equal(decode(&s, &r, err, sizeof err), VX_OK);
    assert_int_equal(r.scope.n_filter[VX_CONTRACT_FILTER_SERVICE], 3);
    assert_string_equal(r.scope.filter[VX_CONTRACT_FILTER_SERVICE][0], "EC2");
    assert_string_equal(r.scope.filter[VX_CONTRACT_FILTER_SERVICE][1], "Lambda");
    assert_string_equal(r.scope.filter[VX_CONTRACT_FILTER_SERVICE][2], "S3");
    assert_int_equal(r.scope.n_filter[VX_CONTRACT_FILTER_ACCOUNT], 0);
    llm_req_cleanup(&r);
}

/* The cache key of a spec resolved on `day`. */
static void key_of(const spec *s, int64_t day, uint64_t version, const char *prompt, char *out,
                   size_t cap)
{
    size_t len;
    uint8_t *buf = encode(s, &len);
    llm_req r;
    char err[256];
    assert_int_equal(llm_req_decode(buf, len, day, &r, err, sizeof err), VX_OK);
    vx_free(buf);
    assert_true(llm_cache_key(&r, version, prompt, out, cap));
    llm_req_cleanup(&r);
}

static void test_llm_svc_request_cache_key_resolved(void **state)
{
    (void)state;
    char a[256], b[256];
    int64_t d = today();
    /* the layout */
    key_of(&(spec){0}, d, 42, VX_LLM_PROMPT_VERSION, a, sizeof a);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "vx:llm:v1:%s:42:%s:", TENANT, VX_LLM_PROMPT_VERSION);
    assert_memory_equal(a, prefix, strlen(prefix));
    assert_int_equal(strlen(a), strlen(prefix) + 64);

    /* "to = today" asked tomorrow is another question */
    key_of(&(spec){0}, d + 1, 42, VX_LLM_PROMPT_VERSION, b, sizeof b);
    assert_string_not_equal(a, b);
    /* ...while the same resolved window is the same question */
    key_of(&(spec){.from = "2026-02-13", .to = "2026-03-15"}, d + 5, 42, VX_LLM_PROMPT_VERSION, b,
           sizeof b);
    assert_string_equal(a, b);
    /* March is not May */
    key_of(&(spec){.from = "2026-03-01", .to = "2026-04-01"}, d, 42, VX_LLM_PROMPT_VERSION, a,
           sizeof a);
    key_of(&(spec){.from = "2026-05-01", .to = "2026-06-01"}, d, 42, VX_LLM_PROMPT_VERSION, b,
           sizeof b);
    assert_string_not_equal(a, b);
    /* new data, or a new prompt, is a new key */
    key_of(&(spec){0}, d, 42, VX_LLM_PROMPT_VERSION, a, sizeof a);
    key_of(&(spec){0}, d, 43, VX_LLM_PROMPT_VERSION, b, sizeof b);
    assert_string_not_equal(a, b);
    key_of(&(spec){0}, d, 42, "insight-v2", b, sizeof b);
    assert_string_not_equal(a, b);
    /* the default cost is effective; the order and repetition of filter values do not matter */
    key_of(&(spec){.cost = "effective"}, d, 42, VX_LLM_PROMPT_VERSION, b, sizeof b);
    assert_string_equal(a, b);
    const char *x[] = {"S3", "EC2"}, *y[] = {"EC2", "S3", "EC2"};
    key_of(&(spec){.services = x, .n_services = 2}, d, 1, "p", a, sizeof a);
    key_of(&(spec){.services = y, .n_services = 3}, d, 1, "p", b, sizeof b);
    assert_string_equal(a, b);
    /* a value in another filter, another kind, currency, cost or focus is another question */
    key_of(&(spec){.accounts = x, .n_accounts = 2}, d, 1, "p", b, sizeof b);
    assert_string_not_equal(a, b);
    const spec others[] = {{.kind = 2},
                           {.currency = "USD"},
                           {.cost = "billed"},
                           {.focus_service = "EC2"},
                           {.focus_account = "EC2"},
                           {.tenant = "1b7e5c1e-3f7a-4d8e-9a51-2f3c4d5e6f70"}};
    key_of(&(spec){0}, d, 1, "p", a, sizeof a);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        key_of(&others[i], d, 1, "p", b, sizeof b);
        assert_string_not_equal(a, b);
    }
    key_of(&(spec){.focus_service = "EC2"}, d, 1, "p", a, sizeof a);
    key_of(&(spec){.focus_account = "EC2"}, d, 1, "p", b, sizeof b);
    assert_string_not_equal(a, b);
    /* a key that does not fit is refused */
    size_t len;
    uint8_t *buf = encode(&(spec){0}, &len);
    llm_req r;
    char err[64];
    assert_int_equal(llm_req_decode(buf, len, d, &r, err, sizeof err), VX_OK);
    assert_false(llm_cache_key(&r, 1, "p", a, 40));
    llm_req_cleanup(&r);
    vx_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_svc_request_defaults),
        cmocka_unit_test(test_llm_svc_request_window_limits),
        cmocka_unit_test(test_llm_svc_request_refuses_bad_fields),
        cmocka_unit_test(test_llm_svc_request_garbage_is_invalid),
        cmocka_unit_test(test_llm_svc_request_filters_sorted_and_unique),
        cmocka_unit_test(test_llm_svc_request_cache_key_resolved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
