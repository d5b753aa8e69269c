/* Unit tests of libs/cost: batch decoding and its limits, validation rules, COPY rows, the
 * FOCUS CSV reader and the synthetic generator. Every test also checks that it leaked nothing
 * allocated through vx_xmalloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/cost.h"
#include "vx/money.h"
#include "vx/pb.h"
#include "vx/subjects.h"
#include "vx/uuid.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
#define OTHER_TENANT "0a0b0c0d-1111-4222-8333-444455556666"
#define EVENT_ID "d2b7f0b4-6a1e-4c3b-9d8f-1e2a3b4c5d6e"
#define JAN_1_2024 1704067200

/* ---- leak accounting through the swappable allocator ---- */

static long live_blocks;

static void *count_malloc(size_t n)
{
    live_blocks++;
    return malloc(n);
}

static void *count_realloc(void *p, size_t n)
{
    if (!p)
        live_blocks++;
    return realloc(p, n);
}

static void count_free(void *p)
{
    live_blocks--;
    free(p);
}

static long baseline;

static int setup(void **state)
{
    (void)state;
    baseline = live_blocks;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (live_blocks != baseline) {
        fprintf(stderr, "leaked %ld blocks\n", live_blocks - baseline);
        return -1;
    }
    return 0;
}

/* ---- a valid event on the stack ---- */

typedef struct {
    vx_cost_event e;
    Valdrix__V1__Money billed, effective, list, quantity;
    Valdrix__V1__CostEvent__TagsEntry tags[VX_COST_MAX_TAGS + 1];
    Valdrix__V1__CostEvent__TagsEntry *tag_ptrs[VX_COST_MAX_TAGS + 1];
    char event_id[40], tenant_id[40];
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    valdrix__v1__cost_event__init(&f->e);
    strcpy(f->event_id, EVENT_ID);
    strcpy(f->tenant_id, TENANT);
    f->e.event_id = f->event_id;
    f->e.tenant_id = f->tenant_id;
    f->e.provider = vx_pb_str("AWS");
    f->e.sub_account_id = vx_pb_str("123456789012");
    f->e.service_name = vx_pb_str("Amazon EC2");
    f->e.service_category = vx_pb_str("Compute");
    f->e.region_id = vx_pb_str("us-east-1");
    f->e.resource_id = vx_pb_str("i-0abc");
    f->e.charge_category = vx_pb_str("Usage");
    f->e.charge_period_start = JAN_1_2024;
    f->e.charge_period_end = JAN_1_2024 + 3600;
    valdrix__v1__money__init(&f->billed);
    f->billed.units = 12;
    f->billed.nanos = 500000000;
    f->e.billed_cost = &f->billed;
    f->e.billing_currency = vx_pb_str("USD");
    f->e.usage_unit = vx_pb_str("Hours");
    for (size_t i = 0; i <= VX_COST_MAX_TAGS; i++) {
        valdrix__v1__cost_event__tags_entry__init(&f->tags[i]);
        f->tag_ptrs[i] = &f->tags[i];
    }
    f->e.tags = f->tag_ptrs;
}

static void add_tag(fixture *f, const char *key, const char *value)
{
    f->tags[f->e.n_tags].key = vx_pb_str(key);
    f->tags[f->e.n_tags].value = vx_pb_str(value);
    f->e.n_tags++;
}

/* Validates and expects a failure whose reason starts with `field`. */
static void expect_invalid(const vx_cost_event *e, const char *subject, const char *prefix)
{
    char why[256] = "";
    assert_int_equal(vx_cost_event_validate(e, subject, why, sizeof why), VX_INVALID);
    if (strncmp(why, prefix, strlen(prefix)) != 0)
        fail_msg("reason \"%s\" does not start with \"%s\"", why, prefix);
}

static uint8_t *pack_batch(vx_cost_event **events, size_t n, size_t *len)
{
    vx_cost_batch b = VALDRIX__V1__COST_EVENT_BATCH__INIT;
    b.n_events = n;
    b.events = events;
    *len = valdrix__v1__cost_event_batch__get_packed_size(&b);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(valdrix__v1__cost_event_batch__pack(&b, buf), *len);
    return buf;
}

/* ---- decode ---- */

static void test_cost_decode_round_trips_a_batch(void **state)
{
    (void)state;
    fixture a, b;
    fixture_init(&a);
    fixture_init(&b);
    add_tag(&a, "env", "prod");
    add_tag(&a, "team", "platform");
    b.e.revision = 7;
    b.billed.units = -3;
    b.billed.nanos = -250000000;
    vx_cost_event *events[2] = {&a.e, &b.e};
    size_t len;
    uint8_t *bytes = pack_batch(events, 2, &len);

    vx_cost_batch *got = NULL;
    char why[256] = "";
    assert_int_equal(vx_cost_batch_decode(bytes, len, &got, why, sizeof why), VX_OK);
    assert_int_equal(got->n_events, 2);
    assert_string_equal(got->events[0]->event_id, EVENT_ID);
    assert_string_equal(got->events[0]->service_name, "Amazon EC2");
    assert_int_equal(got->events[0]->n_tags, 2);
    assert_string_equal(got->events[0]->tags[1]->key, "team");
    assert_string_equal(got->events[0]->tags[1]->value, "platform");
    assert_int_equal(got->events[1]->revision, 7);
    assert_int_equal(got->events[1]->billed_cost->units, -3);
    assert_int_equal(got->events[1]->billed_cost->nanos, -250000000);
    assert_null(got->events[1]->effective_cost);
    for (size_t i = 0; i < got->n_events; i++)
        assert_int_equal(vx_cost_event_validate(got->events[i], TENANT, why, sizeof why), VX_OK);
    vx_cost_batch_free(got);
    free(bytes);

    /* An empty message is an empty batch. */
    got = NULL;
    assert_int_equal(vx_cost_batch_decode("", 0, &got, why, sizeof why), VX_OK);
    assert_int_equal(got->n_events, 0);
    vx_cost_batch_free(got);
    vx_cost_batch_free(NULL);
}

static void test_cost_decode_rejects_garbage(void **state)
{
    (void)state;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x13, 0x37, 0x00, 0x42};
    vx_cost_batch *got = NULL;
    char why[256] = "";
    assert_int_equal(vx_cost_batch_decode(garbage, sizeof garbage, &got, why, sizeof why),
                     VX_INVALID);
    assert_null(got);
    assert_non_null(strstr(why, "not a CostEventBatch: "));

    /* An event whose length runs past the end of the message. */
    static const uint8_t truncated[] = {0x0a, 0x10, 0x0a, 0x02, 'a'};
    assert_int_equal(vx_cost_batch_decode(truncated, sizeof truncated, &got, why, sizeof why),
                     VX_INVALID);
    assert_non_null(strstr(why, "not a CostEventBatch: "));

    /* Well-formed wire data of the wrong type for a field: left to protobuf-c, still refused. */
    static const uint8_t money_as_varint[] = {0x0a, 0x02, 0x60, 0x01};
    assert_int_equal(
        vx_cost_batch_decode(money_as_varint, sizeof money_as_varint, &got, why, sizeof why),
        VX_INVALID);
    assert_string_equal(why, "not a CostEventBatch: malformed protobuf");
}

static void test_cost_decode_refuses_oversize_before_unpacking(void **state)
{
    (void)state;
    size_t len = VX_COST_MAX_MESSAGE_BYTES + 1;
    uint8_t *big = calloc(1, len);
    assert_non_null(big);
    vx_cost_batch *got = NULL;
    char why[256] = "";
    long before = live_blocks;
    assert_int_equal(vx_cost_batch_decode(big, len, &got, why, sizeof why), VX_INVALID);
    assert_int_equal(live_blocks, before);
    assert_string_equal(why, "message is 8388609 bytes, more than 8388608");
    free(big);
}

static void test_cost_decode_limits_event_count(void **state)
{
    (void)state;
    /* Each empty CostEvent is two bytes: key 0x0a, length 0. */
    size_t n = VX_COST_MAX_BATCH_EVENTS + 1;
    uint8_t *bytes = malloc(2 * n);
    assert_non_null(bytes);
    for (size_t i = 0; i < n; i++) {
        bytes[2 * i] = 0x0a;
        bytes[2 * i + 1] = 0x00;
    }
    vx_cost_batch *got = NULL;
    char why[256] = "";
    long before = live_blocks;
    assert_int_equal(vx_cost_batch_decode(bytes, 2 * n, &got, why, sizeof why), VX_INVALID);
    assert_int_equal(live_blocks, before); /* refused before anything was allocated */
    assert_string_equal(why, "10001 events, more than 10000");

    assert_int_equal(vx_cost_batch_decode(bytes, 2 * (n - 1), &got, why, sizeof why), VX_OK);
    assert_int_equal(got->n_events, VX_COST_MAX_BATCH_EVENTS);
    vx_cost_batch_free(got);
    free(bytes);
}

static void test_cost_decode_limits_tags_and_nul_bytes(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    static char keys[VX_COST_MAX_TAGS + 1][8];
    for (size_t i = 0; i <= VX_COST_MAX_TAGS; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        add_tag(&f, keys[i], "v");
    }
    vx_cost_event *events[1] = {&f.e};
    size_t len;
    uint8_t *bytes = pack_batch(events, 1, &len);
    vx_cost_batch *got = NULL;
    char why[256] = "";
    assert_int_equal(vx_cost_batch_decode(bytes, len, &got, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "event 0: tags: 65 tags, more than 64");
    free(bytes);

    /* A NUL inside resource_id would silently shorten the string once unpacked. */
    fixture_init(&f);
    f.e.resource_id = vx_pb_str("i-0abc");
    bytes = pack_batch(events, 1, &len);
    uint8_t *p = NULL;
    for (size_t i = 0; i + 6 <= len && !p; i++)
        if (memcmp(bytes + i, "i-0abc", 6) == 0)
            p = bytes + i;
    assert_non_null(p);
    p[3] = '\0';
    assert_int_equal(vx_cost_batch_decode(bytes, len, &got, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "event 0: resource_id: contains a NUL byte");
    free(bytes);
}

static void test_cost_decode_bounds_memory_of_hostile_messages(void **state)
{
    (void)state;
    /* One event made of millions of empty provider fields: tiny on the wire, but protobuf-c
     * needs tens of bytes of bookkeeping for each. */
    size_t len = VX_COST_MAX_MESSAGE_BYTES - 1; /* an even number of bytes after the header */
    uint8_t *bytes = malloc(len);
    assert_non_null(bytes);
    size_t body = len - 5;
    bytes[0] = 0x0a;
    bytes[1] = (uint8_t)(0x80 | (body & 0x7f));
    bytes[2] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
    bytes[3] = (uint8_t)(0x80 | ((body >> 14) & 0x7f));
    bytes[4] = (uint8_t)(body >> 21);
    for (size_t i = 5; i + 1 < len; i += 2) {
        bytes[i] = 0x1a;
        bytes[i + 1] = 0x00;
    }
    vx_cost_batch *got = NULL;
    char why[256] = "";
    assert_int_equal(vx_cost_batch_decode(bytes, len, &got, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "decoding would take more than"));
    free(bytes);
}

/* ---- validate ---- */

static void test_cost_validate_accepts_a_good_event(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    add_tag(&f, "env", "prod");
    char why[256] = "";
    assert_int_equal(vx_cost_event_validate(&f.e, TENANT, why, sizeof why), VX_OK);
    assert_int_equal(vx_cost_event_validate(&f.e, NULL, why, sizeof why), VX_OK);
    /* The subject's tenant may differ in case only. */
    assert_int_equal(
        vx_cost_event_validate(&f.e, "6F1C2A7E-3B4D-4E5F-8A9B-0C1D2E3F4A5B", why, sizeof why),
        VX_OK);
    /* Negative amounts (credits) with matching signs and non-ASCII text are fine. */
    f.billed.units = 0;
    f.billed.nanos = -1;
    f.e.resource_id = vx_pb_str("h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e");
    assert_int_equal(vx_cost_event_validate(&f.e, TENANT, why, sizeof why), VX_OK);
}

static void test_cost_validate_bad_uuid(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.e.event_id = vx_pb_str("not-a-uuid");
    expect_invalid(&f.e, NULL, "event_id: not a UUID");
    fixture_init(&f);
    f.e.tenant_id = vx_pb_str("6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5"); /* one digit short */
    expect_invalid(&f.e, NULL, "tenant_id: not a UUID");
    fixture_init(&f);
    f.e.event_id = vx_pb_str("");
    expect_invalid(&f.e, NULL, "event_id: missing");
}

static void test_cost_validate_tenant_mismatch(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    expect_invalid(&f.e, OTHER_TENANT, "tenant_id: differs from the subject's tenant");
    expect_invalid(&f.e, "not-a-uuid", "tenant_id:");
}

static void test_cost_validate_missing_service(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.e.service_name = vx_pb_str("");
    expect_invalid(&f.e, NULL, "service_name: missing");
    f.e.service_name = NULL; /* a hand-built event */
    expect_invalid(&f.e, NULL, "service_name: missing");
    fixture_init(&f);
    f.e.provider = vx_pb_str("");
    expect_invalid(&f.e, NULL, "provider: missing");
    fixture_init(&f);
    f.e.charge_category = vx_pb_str("");
    expect_invalid(&f.e, NULL, "charge_category: missing");
}

static void test_cost_validate_currency(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.e.billing_currency = vx_pb_str("usd");
    expect_invalid(&f.e, NULL, "billing_currency: not an ISO 4217 code");
    f.e.billing_currency = vx_pb_str("USDT");
    expect_invalid(&f.e, NULL, "billing_currency:");
    f.e.billing_currency = vx_pb_str("U$D");
    expect_invalid(&f.e, NULL, "billing_currency:");
    f.e.billing_currency = vx_pb_str("");
    expect_invalid(&f.e, NULL, "billing_currency: missing");
}

static void test_cost_validate_charge_period(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.e.charge_period_end = f.e.charge_period_start;
    expect_invalid(&f.e, NULL, "charge_period_end: not after charge_period_start");
    f.e.charge_period_end = f.e.charge_period_start - 1;
    expect_invalid(&f.e, NULL, "charge_period_end:");
    fixture_init(&f);
    f.e.charge_period_start = VX_COST_MIN_PERIOD_S - 1;
    expect_invalid(&f.e, NULL, "charge_period_start:");
    fixture_init(&f);
    f.e.charge_period_end = VX_COST_MAX_PERIOD_S + 1;
    expect_invalid(&f.e, NULL, "charge_period_end:");
}

static void test_cost_validate_nanos_out_of_range(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.billed.nanos = 1000000000;
    expect_invalid(&f.e, NULL, "billed_cost: nanos 1000000000 out of range");
    fixture_init(&f);
    valdrix__v1__money__init(&f.quantity);
    f.quantity.nanos = -1000000000;
    f.e.usage_quantity = &f.quantity;
    expect_invalid(&f.e, NULL, "usage_quantity: nanos");
    fixture_init(&f);
    f.e.billed_cost = NULL;
    expect_invalid(&f.e, NULL, "billed_cost: missing");
}

static void test_cost_validate_mixed_signs(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.billed.units = 1;
    f.billed.nanos = -5;
    expect_invalid(&f.e, NULL, "billed_cost: units and nanos have different signs");
    fixture_init(&f);
    valdrix__v1__money__init(&f.effective);
    f.effective.units = -2;
    f.effective.nanos = 3;
    f.e.effective_cost = &f.effective;
    expect_invalid(&f.e, NULL, "effective_cost: units and nanos have different signs");
    fixture_init(&f);
    valdrix__v1__money__init(&f.list);
    f.list.units = 2;
    f.list.nanos = -3;
    f.e.list_cost = &f.list;
    expect_invalid(&f.e, NULL, "list_cost:");
}

static void test_cost_validate_too_many_tags(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    for (size_t i = 0; i < VX_COST_MAX_TAGS; i++)
        add_tag(&f, "k", "v");
    char why[256];
    assert_int_equal(vx_cost_event_validate(&f.e, NULL, why, sizeof why), VX_OK);
    add_tag(&f, "k", "v");
    expect_invalid(&f.e, NULL, "tags: 65 tags, more than 64");
}

static void test_cost_validate_oversized_tag_value(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    char value[VX_COST_MAX_TAG_VALUE_BYTES + 2];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    add_tag(&f, "env", value);
    expect_invalid(&f.e, NULL, "tags: value 0: 257 bytes, more than 256");
    value[VX_COST_MAX_TAG_VALUE_BYTES] = '\0'; /* exactly at the limit */
    char why[256];
    assert_int_equal(vx_cost_event_validate(&f.e, NULL, why, sizeof why), VX_OK);

    char key[VX_COST_MAX_TAG_KEY_BYTES + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    f.tags[0].key = key;
    expect_invalid(&f.e, NULL, "tags: key 0: 129 bytes, more than 128");

    fixture_init(&f);
    char text[VX_COST_MAX_TEXT_BYTES + 2];
    memset(text, 'r', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    f.e.resource_id = text;
    expect_invalid(&f.e, NULL, "resource_id: 513 bytes, more than 512");
}

static void test_cost_validate_invalid_utf8(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.e.resource_id = vx_pb_str("i-\xc3\x28");
    expect_invalid(&f.e, NULL, "resource_id: not valid UTF-8");
    f.e.resource_id = vx_pb_str("\xc0\xaf"); /* overlong "/" */
    expect_invalid(&f.e, NULL, "resource_id: not valid UTF-8");
    f.e.resource_id = vx_pb_str("\xed\xa0\x80"); /* a UTF-16 surrogate */
    expect_invalid(&f.e, NULL, "resource_id: not valid UTF-8");
    f.e.resource_id = vx_pb_str("\xf4\x90\x80\x80"); /* past U+10FFFF */
    expect_invalid(&f.e, NULL, "resource_id: not valid UTF-8");
    f.e.resource_id = vx_pb_str("\xe2\x82"); /* truncated */
    expect_invalid(&f.e, NULL, "resource_id: not valid UTF-8");
    fixture_init(&f);
    add_tag(&f, "team", "\xff");
    expect_invalid(&f.e, NULL, "tags: value 0: not valid UTF-8");
}

static void test_cost_normalize_lowercases_ids(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    strcpy(f.event_id, "D2B7F0B4-6A1E-4C3B-9D8F-1E2A3B4C5D6E");
    strcpy(f.tenant_id, "6F1C2A7E-3B4D-4E5F-8A9B-0C1D2E3F4A5B");
    char why[256];
    assert_int_equal(vx_cost_event_validate(&f.e, TENANT, why, sizeof why), VX_OK);
    vx_cost_event_normalize(&f.e);
    assert_string_equal(f.e.event_id, EVENT_ID);
    assert_string_equal(f.e.tenant_id, TENANT);
}

static void test_cost_subject_tenant(void **state)
{
    (void)state;
    const char *subject = "cost.events." TENANT;
    const char *t = vx_cost_subject_tenant("cost.events", subject);
    assert_non_null(t);
    assert_ptr_equal(t, subject + strlen("cost.events."));
    assert_string_equal(t, TENANT);
    assert_null(vx_cost_subject_tenant("cost.events", "cost.events." TENANT ".extra"));
    assert_null(vx_cost_subject_tenant("cost.events", "cost.deadletter." TENANT));
    assert_null(vx_cost_subject_tenant("cost.events", "cost.eventsX." TENANT));
    assert_null(vx_cost_subject_tenant("cost.events", "cost.events."));
    assert_null(vx_cost_subject_tenant("cost.events", "cost.events"));
    assert_null(vx_cost_subject_tenant("cost.events", "cost"));
}

/* ---- COPY rows ---- */

static void test_cost_copy_row_escapes_text_and_tags(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.e.revision = 2;
    f.e.charge_category = vx_pb_str("Credit");
    f.e.resource_id = vx_pb_str("i-1\t2\\3\r\n4");
    f.billed.units = -12;
    f.billed.nanos = -500000000;
    add_tag(&f, "note", "a\tb\"c\\d\ne");
    add_tag(&f, "env", "prod\r");
    vx_buf out;
    vx_buf_init(&out);
    vx_cost_copy_row(&out, &f.e);
    const char *expected = TENANT
        "\t2024-01-01T00:00:00Z\t" EVENT_ID "\t2\t2024-01-01T01:00:00Z\tAWS\t123456789012\t"
        "Amazon EC2\tCompute\tus-east-1\ti-1\\t2\\\\3\\r\\n4\tCredit\t-12.5\t-12.5\t-12.5\tUSD\t0\t"
        "Hours\t{\"note\":\"a\\\\tb\\\\\"c\\\\\\\\d\\\\ne\",\"env\":\"prod\\\\r\"}\n";
    assert_string_equal(out.data, expected);
    assert_int_equal(out.len, strlen(expected));
    vx_buf_cleanup(&out);
}

static void test_cost_copy_row_writes_given_amounts(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    valdrix__v1__money__init(&f.effective);
    f.effective.units = 10;
    valdrix__v1__money__init(&f.list);
    f.list.units = 15;
    f.list.nanos = 1;
    valdrix__v1__money__init(&f.quantity);
    f.quantity.nanos = 250000000;
    f.e.effective_cost = &f.effective;
    f.e.list_cost = &f.list;
    f.e.usage_quantity = &f.quantity;
    f.e.service_category = vx_pb_str("");
    vx_buf out;
    vx_buf_init(&out);
    vx_buf_puts(&out, "previous\n");
    vx_cost_copy_row(&out, &f.e);
    const char *expected = "previous\n" TENANT "\t2024-01-01T00:00:00Z\t" EVENT_ID
                           "\t0\t2024-01-01T01:00:00Z\tAWS\t123456789012\tAmazon EC2\t\tus-east-1\t"
                           "i-0abc\tUsage\t12.5\t10\t15.000000001\tUSD\t0.25\tHours\t{}\n";
    assert_string_equal(out.data, expected);
    /* Exactly the columns of the staging table. */
    size_t tabs = 0;
    for (const char *p = out.data; *p; p++)
        tabs += *p == '\t';
    size_t commas = 0;
    for (const char *p = VX_COST_COPY_COLUMNS; *p; p++)
        commas += *p == ',';
    assert_int_equal(tabs, commas);
    vx_buf_cleanup(&out);
}

/* ---- FOCUS CSV ---- */

static const char focus_file[] =
    "\xef\xbb\xbf"
    "ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency,ServiceName,"
    "ServiceCategory,SubAccountId,ProviderName,RegionId,ConsumedQuantity,ConsumedUnit,Tags,"
    "ChargeCategory,SomethingElse\r\n"
    "2024-03-01,2024-03-02,12.50,11.00,USD,\"Amazon EC2, Linux\",Compute,111122223333,AWS,"
    "us-east-1,24,Hours,\"{\"\"env\"\":\"\"prod\"\",\"\"n\"\":3,\"\"x\"\":null}\",Usage,a\r\n"
    "2024-03-01T00:00:00Z,2024-03-02T00:00:00Z,\"12,5O\",,USD,S3,Storage,111122223333,AWS,us-east-"
    "1,"
    ",,,Usage,b\r\n"
    "2024-03-02,2024-03-03T00:00:00+00:00,-1.25,,EUR,\"Multi\r\nLine\",Storage,111122223333,AWS,"
    "eu-west-1,1,GB,,Credit,c\r\n"
    "2024-03-02,2024-03-03T00:00:00+00:00,-1.25,,EUR,\"Multi\r\nLine\",Storage,111122223333,AWS,"
    "eu-west-1,1,GB,,Credit,c\r\n";

static FILE *open_text(const char *text, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    rewind(f);
    return f;
}

typedef struct {
    char ids[8][VX_UUID_STR_LEN + 1];
    size_t n;
} id_list;

static void read_focus_ids(id_list *ids)
{
    FILE *f = open_text(focus_file, sizeof focus_file - 1);
    vx_focus_reader *r = NULL;
    char why[256] = "";
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_OK);
    ids->n = 0;
    vx_cost_event *e = NULL;
    vx_status st;
    while ((st = vx_focus_next(r, &e, why, sizeof why)) != VX_NOT_FOUND) {
        if (st == VX_OK) {
            strcpy(ids->ids[ids->n++], e->event_id);
            vx_cost_event_free(e);
        }
    }
    vx_focus_close(r);
    fclose(f);
}

static void test_cost_focus_reads_rows_and_reports_bad_ones(void **state)
{
    (void)state;
    FILE *f = open_text(focus_file, sizeof focus_file - 1);
    vx_focus_reader *r = NULL;
    char why[256] = "";
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_OK);
    assert_int_equal(vx_focus_line(r), 1);

    vx_cost_event *e = NULL;
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_OK);
    assert_int_equal(vx_focus_line(r), 2);
    assert_string_equal(e->tenant_id, TENANT);
    assert_string_equal(e->service_name, "Amazon EC2, Linux");
    assert_string_equal(e->provider, "AWS");
    assert_string_equal(e->sub_account_id, "111122223333");
    assert_string_equal(e->charge_category, "Usage");
    assert_int_equal(e->charge_period_start, 1709251200); /* 2024-03-01 */
    assert_int_equal(e->charge_period_end, 1709251200 + 86400);
    assert_int_equal(e->billed_cost->units, 12);
    assert_int_equal(e->billed_cost->nanos, 500000000);
    assert_int_equal(e->effective_cost->units, 11);
    assert_null(e->list_cost);
    assert_int_equal(e->usage_quantity->units, 24);
    assert_string_equal(e->usage_unit, "Hours");
    assert_int_equal(e->n_tags, 3);
    assert_string_equal(e->tags[0]->key, "env");
    assert_string_equal(e->tags[0]->value, "prod");
    assert_string_equal(e->tags[1]->key, "n");
    assert_string_equal(e->tags[1]->value, "3");
    assert_string_equal(e->tags[2]->value, "");
    assert_int_equal(vx_cost_event_validate(e, TENANT, why, sizeof why), VX_OK);
    vx_cost_event_free(e);

    e = NULL;
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_INVALID);
    assert_null(e);
    assert_string_equal(why, "line 3, column BilledCost: not a decimal number");
    assert_int_equal(vx_focus_line(r), 3);

    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_OK);
    assert_int_equal(vx_focus_line(r), 4);
    assert_string_equal(e->service_name, "Multi\r\nLine");
    assert_string_equal(e->billing_currency, "EUR");
    assert_string_equal(e->charge_category, "Credit");
    assert_int_equal(e->billed_cost->units, -1);
    assert_int_equal(e->billed_cost->nanos, -250000000);
    assert_int_equal(e->n_tags, 0);
    char first_id[VX_UUID_STR_LEN + 1];
    strcpy(first_id, e->event_id);
    vx_cost_event_free(e);

    /* The same row again (it starts on line 6: the quoted line break counts). */
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_OK);
    assert_int_equal(vx_focus_line(r), 6);
    assert_string_not_equal(e->event_id, first_id);
    vx_cost_event_free(e);

    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_NOT_FOUND);
    vx_focus_close(r);
    vx_focus_close(NULL);
    fclose(f);
}

static void test_cost_focus_ids_are_stable_across_reads(void **state)
{
    (void)state;
    id_list a, b;
    read_focus_ids(&a);
    read_focus_ids(&b);
    assert_int_equal(a.n, 3);
    assert_int_equal(b.n, 3);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.ids[i], b.ids[i]);
        vx_uuid u;
        assert_true(vx_uuid_parse(a.ids[i], strlen(a.ids[i]), &u));
        assert_int_equal(u.b[6] >> 4, 5); /* version 5 */
    }
    assert_string_not_equal(a.ids[1], a.ids[2]); /* identical rows */
    assert_string_not_equal(a.ids[0], a.ids[1]);
}

static void test_cost_focus_names_missing_columns(void **state)
{
    (void)state;
    const char header[] = "ChargePeriodStart,BilledCost,ServiceName,Tags\n";
    FILE *f = open_text(header, sizeof header - 1);
    vx_focus_reader *r = NULL;
    char why[256] = "";
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_INVALID);
    assert_null(r);
    assert_string_equal(why,
                        "missing required columns: ChargePeriodEnd, BillingCurrency, SubAccountId, "
                        "ProviderName");
    fclose(f);

    f = open_text("", 0);
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "empty file"));
    fclose(f);

    /* Names are case-sensitive. */
    const char lower[] = "chargeperiodstart,ChargePeriodEnd,BilledCost,BillingCurrency,"
                         "ServiceName,SubAccountId,ProviderName\n";
    f = open_text(lower, sizeof lower - 1);
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "missing required column: ChargePeriodStart");
    fclose(f);

    f = open_text(header, sizeof header - 1);
    assert_int_equal(vx_focus_open(f, "tenant", &r, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "tenant_id: not a UUID");
    fclose(f);
}

static void test_cost_focus_honours_event_id_and_revision(void **state)
{
    (void)state;
    const char text[] = "ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingCurrency,ServiceName,"
                        "SubAccountId,ProviderName,x_EventId,x_Revision\n"
                        "2024-03-01,2024-03-02,1,USD,S3,acct,AWS," EVENT_ID ",3\n"
                        "2024-03-01,2024-03-02,1,USD,S3,acct,AWS,,\n"
                        "2024-03-01,2024-03-02,1,USD,S3,acct,AWS,,x\n"
                        "2024-03-01,2024-03-02,1,USD,S3,acct,AWS,nope,1\n"
                        "2024-03-01,2024-03-02,1,USD,S3,acct\n"
                        "\n"
                        "2024-03-01,2024-03-01,1,USD,S3,acct,AWS,,\n"
                        "2024-13-01,2024-03-01,1,USD,S3,acct,AWS,,\n"
                        "2024-03-01,2024-03-02,1,USD,S3,acct,AWS,\"x\"y,\n"
                        "2024-03-01,2024-03-02,1,usd,S3,acct,AWS,,\n";
    FILE *f = open_text(text, sizeof text - 1);
    vx_focus_reader *r = NULL;
    char why[256] = "";
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_OK);
    vx_cost_event *e = NULL;
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_OK);
    assert_string_equal(e->event_id, EVENT_ID);
    assert_int_equal(e->revision, 3);
    assert_string_equal(e->charge_category, "Usage"); /* no ChargeCategory column */
    vx_cost_event_free(e);
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_OK);
    assert_string_not_equal(e->event_id, EVENT_ID);
    assert_int_equal(e->revision, 0);
    vx_cost_event_free(e);

    static const char *const reasons[] = {
        "line 4, column x_Revision: not a revision number (0 to 4294967295)",
        "line 5: event_id: not a UUID",
        "line 6: 6 fields, the header has 9",
        "line 8: charge_period_end: not after charge_period_start",
        "line 9, column ChargePeriodStart: not an ISO-8601 date or date-time",
        "line 10: text after a closing quote",
        "line 11: billing_currency: not an ISO 4217 code (three upper-case letters)",
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_INVALID);
        assert_string_equal(why, reasons[i]);
    }
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_NOT_FOUND);
    vx_focus_close(r);
    fclose(f);
}

static void test_cost_focus_bounds_record_size(void **state)
{
    (void)state;
    const char head[] = "ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingCurrency,ServiceName,"
                        "SubAccountId,ProviderName,Tags\n"
                        "2024-03-01,2024-03-02,1,USD,\"";
    const char tail[] = "\",acct,AWS,\n"
                        "2024-03-01,2024-03-02,2,USD,S3,acct,AWS,\"{\"\"a\"\":[1,2]}\"\n"
                        "2024-03-01,2024-03-02,2,USD,S3,acct,AWS,[1]\n"
                        "2024-03-01,2024-03-02,2,USD,S3,acct,AWS,\"{\"\"a\"\":1,\"\"a\"\":2}\"\n"
                        "2024-03-01,2024-03-02,3,USD,S3,acct,AWS,\"unterminated\n";
    size_t fill = 2 * 1024 * 1024;
    size_t len = sizeof head - 1 + fill + sizeof tail - 1;
    char *text = malloc(len);
    assert_non_null(text);
    memcpy(text, head, sizeof head - 1);
    memset(text + sizeof head - 1, 'x', fill);
    memcpy(text + sizeof head - 1 + fill, tail, sizeof tail - 1);
    FILE *f = open_text(text, len);
    free(text);

    vx_focus_reader *r = NULL;
    char why[256] = "";
    assert_int_equal(vx_focus_open(f, TENANT, &r, why, sizeof why), VX_OK);
    vx_cost_event *e = NULL;
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "line 2: record longer than 1048576 bytes");
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_OK);
    assert_int_equal(vx_focus_line(r), 3);
    assert_int_equal(e->billed_cost->units, 2);
    assert_string_equal(e->tags[0]->value, "[1,2]");
    vx_cost_event_free(e);
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "line 4, column Tags: not a JSON object");
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "line 5, column Tags: not valid JSON"); /* a key twice */
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "line 6: unterminated quoted field");
    assert_int_equal(vx_focus_next(r, &e, why, sizeof why), VX_NOT_FOUND);
    vx_focus_close(r);
    fclose(f);
}

/* ---- generator ---- */

static vx_gen *gen(uint64_t seed, int days, int per_day)
{
    vx_gen_config cfg = {.tenant_id = TENANT,
                         .days = days,
                         .events_per_day = per_day,
                         .seed = seed,
                         .end_unix_s = 1735689600 /* 2025-01-01 */};
    vx_gen *g = NULL;
    char why[256] = "";
    assert_int_equal(vx_gen_create(&cfg, &g, why, sizeof why), VX_OK);
    return g;
}

static void test_cost_gen_is_deterministic(void **state)
{
    (void)state;
    vx_gen *a = gen(42, 10, 100);
    vx_gen *b = gen(42, 10, 100);
    vx_cost_event ea, eb;
    for (int i = 0; i < 1000; i++) {
        assert_true(vx_gen_next(a, &ea));
        assert_true(vx_gen_next(b, &eb));
        assert_string_equal(ea.event_id, eb.event_id);
        assert_int_equal(ea.billed_cost->units, eb.billed_cost->units);
        assert_int_equal(ea.billed_cost->nanos, eb.billed_cost->nanos);
        assert_int_equal(ea.usage_quantity->units, eb.usage_quantity->units);
        assert_string_equal(ea.service_name, eb.service_name);
        assert_int_equal(ea.charge_period_start, eb.charge_period_start);
    }
    vx_gen_destroy(a);
    vx_gen_destroy(b);
    vx_gen_destroy(NULL);

    /* The id is UUIDv5(tenant, "gen:<seed>:<index>"). */
    a = gen(42, 1, 1);
    assert_true(vx_gen_next(a, &ea));
    vx_uuid ns, want;
    assert_true(vx_uuid_parse(TENANT, strlen(TENANT), &ns));
    vx_uuid_v5(&ns, "gen:42:0", 8, &want);
    char text[VX_UUID_STR_LEN + 1];
    vx_uuid_format(&want, text);
    assert_string_equal(ea.event_id, text);
    vx_gen_destroy(a);
}

static void test_cost_gen_seeds_differ(void **state)
{
    (void)state;
    vx_gen *a = gen(1, 10, 100);
    vx_gen *b = gen(2, 10, 100);
    vx_cost_event ea, eb;
    int same_amounts = 0;
    for (int i = 0; i < 1000; i++) {
        assert_true(vx_gen_next(a, &ea));
        assert_true(vx_gen_next(b, &eb));
        assert_string_not_equal(ea.event_id, eb.event_id);
        same_amounts += ea.billed_cost->units == eb.billed_cost->units &&
                        ea.billed_cost->nanos == eb.billed_cost->nanos;
    }
    assert_true(same_amounts < 10);
    vx_gen_destroy(a);
    vx_gen_destroy(b);
}

static void test_cost_gen_counts_and_validates(void **state)
{
    (void)state;
    vx_gen *g = gen(7, 30, 97);
    assert_int_equal(vx_gen_total(g), 30 * 97);
    vx_cost_event e;
    uint64_t n = 0;
    char why[256] = "";
    vx_buf row;
    vx_buf_init(&row);
    int providers_seen = 0;
    while (vx_gen_next(g, &e)) {
        n++;
        assert_int_equal(vx_gen_produced(g), n);
        if (vx_cost_event_validate(&e, TENANT, why, sizeof why) != VX_OK)
            fail_msg("event %llu: %s", (unsigned long long)n, why);
        assert_true(e.charge_period_start >= 1735689600 - 30 * 86400);
        assert_true(e.charge_period_end <= 1735689600);
        if (strcmp(e.provider, "AWS") == 0)
            providers_seen |= 1;
        else if (strcmp(e.provider, "GCP") == 0)
            providers_seen |= 2;
        else
            providers_seen |= 4;
        vx_buf_reset(&row);
        vx_cost_copy_row(&row, &e);
        assert_non_null(strstr(row.data, "\"env\":"));
    }
    assert_int_equal(n, 30 * 97);
    assert_int_equal(vx_gen_produced(g), vx_gen_total(g));
    assert_false(vx_gen_next(g, &e));
    assert_int_equal(providers_seen, 7);
    vx_buf_cleanup(&row);
    vx_gen_destroy(g);

    /* A generated event survives the wire. */
    g = gen(7, 1, 1);
    assert_true(vx_gen_next(g, &e));
    vx_cost_event *events[1] = {&e};
    size_t len;
    uint8_t *bytes = pack_batch(events, 1, &len);
    vx_cost_batch *b = NULL;
    assert_int_equal(vx_cost_batch_decode(bytes, len, &b, why, sizeof why), VX_OK);
    assert_int_equal(vx_cost_event_validate(b->events[0], TENANT, why, sizeof why), VX_OK);
    assert_string_equal(b->events[0]->event_id, e.event_id);
    assert_int_equal(b->events[0]->n_tags, 3);
    vx_cost_batch_free(b);
    free(bytes);
    vx_gen_destroy(g);

    vx_gen_config bad = {.tenant_id = "nope", .days = 1, .events_per_day = 1};
    assert_int_equal(vx_gen_create(&bad, &g, why, sizeof why), VX_INVALID);
    assert_string_equal(why, "tenant_id: not a UUID");
    bad.tenant_id = TENANT;
    bad.days = 0;
    assert_int_equal(vx_gen_create(&bad, &g, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "days:"));
    bad.days = 1;
    bad.end_unix_s = 100;
    assert_int_equal(vx_gen_create(&bad, &g, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "end_unix_s:"));
}

static void test_cost_gen_weekdays_outspend_weekends(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        vx_gen *g = gen(seed, 91, 200);
        vx_cost_event e;
        vx_int128 spend[2] = {0, 0}; /* weekday, weekend */
        while (vx_gen_next(g, &e)) {
            int64_t dow = (e.charge_period_start / 86400 + 4) % 7; /* 0 is Sunday */
            bool weekend = dow == 0 || dow == 6;
            spend[weekend] +=
                vx_money_to_nanos((vx_money){e.billed_cost->units, e.billed_cost->nanos});
        }
        /* Any 91 days hold 13 of each weekday. */
        vx_int128 weekday_avg = spend[0] / 65, weekend_avg = spend[1] / 26;
        assert_true(weekday_avg > weekend_avg);
        /* About 30 % lower, give or take noise and spikes. */
        assert_true(weekend_avg * 100 < weekday_avg * 85);
        assert_true(weekend_avg * 100 > weekday_avg * 50);
        vx_gen_destroy(g);
    }
}

static int cmp_int128(const void *a, const void *b)
{
    vx_int128 x = *(const vx_int128 *)a, y = *(const vx_int128 *)b;
    return (x > y) - (x < y);
}

static void test_cost_gen_grows_over_the_history(void **state)
{
    (void)state;
    enum { DAYS = 364, WINDOW = 28 };
    vx_gen *g = gen(5, DAYS, 100);
    vx_cost_event e;
    static vx_int128 daily[DAYS];
    memset(daily, 0, sizeof daily);
    int64_t start = 1735689600 - DAYS * 86400;
    while (vx_gen_next(g, &e))
        daily[(e.charge_period_start - start) / 86400] +=
            vx_money_to_nanos((vx_money){e.billed_cost->units, e.billed_cost->nanos});
    vx_gen_destroy(g);
    /* Medians of the first and last four weeks, so that spikes do not count. */
    qsort(daily, WINDOW, sizeof daily[0], cmp_int128);
    qsort(daily + DAYS - WINDOW, WINDOW, sizeof daily[0], cmp_int128);
    vx_int128 first = daily[WINDOW / 2], last = daily[DAYS - WINDOW / 2];
    /* About 17 % linear and 11 % compounded growth between them: both must show. */
    assert_true(last * 100 > first * 122);
    assert_true(last * 100 < first * 140);
}

/* The duplicate window's default is written twice (ms for code, text for settings tables). */
static void test_cost_duplicate_window_defaults_agree(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_true(vx_parse_duration_ms(VX_DEFAULT_DUPLICATE_WINDOW, &ms));
    assert_int_equal(ms, VX_DEFAULT_DUPLICATE_WINDOW_MS);
}

int main(void)
{
    static const vx_allocator counting = {count_malloc, count_realloc, count_free};
    vx_alloc_set(&counting);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_duplicate_window_defaults_agree),
        cmocka_unit_test_setup_teardown(test_cost_decode_round_trips_a_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_decode_rejects_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_decode_refuses_oversize_before_unpacking, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cost_decode_limits_event_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_decode_limits_tags_and_nul_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cost_decode_bounds_memory_of_hostile_messages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_accepts_a_good_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_bad_uuid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_tenant_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_missing_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_currency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_charge_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_nanos_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_mixed_signs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_too_many_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_oversized_tag_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_validate_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_normalize_lowercases_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_subject_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_copy_row_escapes_text_and_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_copy_row_writes_given_amounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_focus_reads_rows_and_reports_bad_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cost_focus_ids_are_stable_across_reads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cost_focus_names_missing_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_focus_honours_event_id_and_revision, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cost_focus_bounds_record_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_gen_is_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_gen_seeds_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_gen_counts_and_validates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_gen_weekdays_outspend_weekends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_gen_grows_over_the_history, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
