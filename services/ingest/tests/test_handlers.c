/* Unit tests of the ingest handler: what is written and what is dead-lettered, with reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../../tests/support/events.h"
#include "handlers/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"
#define OTHER "7d3f0c1e-2b1a-4c5d-8e9f-0a1b2c3d4e5f"

/* An event numbered n (its id ends in n), dated 2025-01-01. */
static void fill(vx_test_event *s, const char *tenant, int n, int64_t units)
{
    char id[37];
    snprintf(id, sizeof id, "1b4e28ba-2fa1-11d2-883f-0016d3cca4%02d", n);
    vx_test_event_fill(s, tenant, id, 1735689600, units, 0, 0, "AmazonEC2");
}

/* Packs n events into a new buffer. */
static uint8_t *pack(vx_test_event *evs, size_t n, size_t *len)
{
    vx_cost_event **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &evs[i].ev;
    Valdrix__V1__CostEventBatch b = VALDRIX__V1__COST_EVENT_BATCH__INIT;
    b.n_events = n;
    b.events = ptrs;
    *len = valdrix__v1__cost_event_batch__get_packed_size(&b);
    uint8_t *buf = malloc(*len ? *len : 1);
    valdrix__v1__cost_event_batch__pack(&b, buf);
    free(ptrs);
    return buf;
}

static void test_ingest_handlers_valid_batch_becomes_events(void **state)
{
    (void)state;
    vx_test_event evs[3];
    for (int i = 0; i < 3; i++)
        fill(&evs[i], TENANT, i, 10 + i);
    size_t len;
    uint8_t *buf = pack(evs, 3, &len);
    ingest_msg m = {"cost.events." TENANT, buf, len};
    ingest_work w;
    ingest_work_build(&w, &m, 1, "cost.events");
    assert_int_equal(w.n_events, 3);
    assert_int_equal(w.n_rejects, 0);
    assert_int_equal(w.received, 3);
    assert_int_equal(w.events[2]->billed_cost->units, 12);
    ingest_work_cleanup(&w);
    free(buf);
}

static void test_ingest_handlers_poison_is_rejected_with_reason(void **state)
{
    (void)state;
    vx_test_event evs[3];
    for (int i = 0; i < 3; i++)
        fill(&evs[i], TENANT, i, 1);
    size_t len, len_all_valid;
    uint8_t *all_valid = pack(evs, 3, &len_all_valid);
    evs[1].billed.nanos = -5; /* positive units with negative nanos */
    uint8_t *good = pack(evs, 3, &len);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    ingest_msg m[3] = {
        {"cost.events." TENANT, good, len},
        {"cost.events." TENANT, garbage, sizeof garbage},
        {"cost.events." OTHER, all_valid, len_all_valid}, /* events name another tenant */
    };
    ingest_work w;
    ingest_work_build(&w, m, 3, "cost.events");
    assert_int_equal(w.n_events, 2);
    assert_int_equal(w.event_msg[0], 0);
    assert_int_equal(w.event_msg[1], 0);
    /* one invalid event, one undecodable message, three tenant mismatches */
    assert_int_equal(w.n_rejects, 5);
    assert_int_equal(w.rejects[0].kind, INGEST_REJECT_INVALID);
    assert_int_equal(w.rejects[0].event, 1);
    assert_non_null(strstr(w.rejects[0].reason, "events[1].billed_cost"));
    assert_int_equal(w.rejects[1].kind, INGEST_REJECT_DECODE);
    assert_int_equal(w.rejects[1].msg, 1);
    assert_int_equal(w.rejects[1].event, -1);
    for (int i = 2; i < 5; i++) {
        assert_int_equal(w.rejects[i].kind, INGEST_REJECT_TENANT);
        assert_int_equal(w.rejects[i].msg, 2);
        assert_non_null(strstr(w.rejects[i].reason, "tenant_id"));
    }
    ingest_work_cleanup(&w);
    free(good);
    free(all_valid);
}

static void test_ingest_handlers_bad_subject_is_rejected(void **state)
{
    (void)state;
    vx_test_event ev;
    fill(&ev, TENANT, 1, 1);
    size_t len;
    uint8_t *buf = pack(&ev, 1, &len);
    ingest_msg m = {"cost.events." TENANT ".extra", buf, len};
    ingest_work w;
    ingest_work_build(&w, &m, 1, "cost.events");
    assert_int_equal(w.n_events, 0);
    assert_int_equal(w.n_rejects, 1);
    assert_int_equal(w.rejects[0].kind, INGEST_REJECT_TENANT);
    assert_non_null(strstr(w.rejects[0].reason, "is not cost.events.<tenant_id>"));
    ingest_work_cleanup(&w);
    free(buf);
}

static void test_ingest_handlers_reject_tenant_and_message(void **state)
{
    (void)state;
    vx_test_event a[2], b[2];
    fill(&a[0], TENANT, 1, 1);
    fill(&a[1], TENANT, 2, 2);
    fill(&b[0], OTHER, 3, 3);
    fill(&b[1], OTHER, 4, 4);
    size_t la, lb;
    uint8_t *pa = pack(a, 2, &la), *pb = pack(b, 2, &lb);
    ingest_msg m[2] = {{"cost.events." TENANT, pa, la}, {"cost.events." OTHER, pb, lb}};
    ingest_work w;
    ingest_work_build(&w, m, 2, "cost.events");
    assert_int_equal(w.n_events, 4);
    ingest_work_reject_tenant(&w, OTHER, INGEST_REJECT_TENANT, "tenant_id: unknown tenant");
    assert_int_equal(w.n_events, 2);
    assert_int_equal(w.n_rejects, 2);
    assert_int_equal(w.rejects[1].event, 1);
    assert_string_equal(w.rejects[1].reason, "events[1].tenant_id: unknown tenant");
    ingest_work_reject_msg(&w, 0, INGEST_REJECT_STORAGE, "value out of range");
    assert_int_equal(w.n_events, 0);
    assert_int_equal(w.n_rejects, 4);
    assert_int_equal(w.rejects[3].kind, INGEST_REJECT_STORAGE);
    ingest_work_cleanup(&w);
    free(pa);
    free(pb);
}

static void test_ingest_handlers_reason_is_one_header_line(void **state)
{
    (void)state;
    char out[64];
    ingest_reason_one_line("ERROR:  value too long\nDETAIL:  x\r\nVx-Forged: 1", out, sizeof out);
    assert_string_equal(out, "ERROR: value too long DETAIL: x Vx-Forged: 1");
    ingest_reason_one_line("  \t tenant_id: bad\x7f\x01 ", out, sizeof out);
    assert_string_equal(out, "tenant_id: bad");
    ingest_reason_one_line("", out, sizeof out);
    assert_string_equal(out, "");
    char small[8];
    ingest_reason_one_line("abc\ndefghij", small, sizeof small);
    assert_string_equal(small, "abc def");
}

static void test_ingest_handlers_batches_close_at_the_byte_bound(void **state)
{
    (void)state;
    const size_t lens[] = {100, 100, 100, 100, 5000, 10};
    /* two messages reach 200 bytes: the batch closes with them */
    assert_int_equal(ingest_batch_take(lens, 6, 200), 2);
    /* the bound is reached inside the third message: it is the last one */
    assert_int_equal(ingest_batch_take(lens, 6, 250), 3);
    /* a message larger than the bound is a batch of its own */
    assert_int_equal(ingest_batch_take(lens + 4, 2, 1000), 1);
    /* below the bound, the whole fetch is one batch */
    assert_int_equal(ingest_batch_take(lens, 6, 1u << 20), 6);
    assert_int_equal(ingest_batch_take(lens, 6, 1), 1);
    assert_int_equal(ingest_batch_take(lens, 0, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_handlers_valid_batch_becomes_events),
        cmocka_unit_test(test_ingest_handlers_poison_is_rejected_with_reason),
        cmocka_unit_test(test_ingest_handlers_bad_subject_is_rejected),
        cmocka_unit_test(test_ingest_handlers_reject_tenant_and_message),
        cmocka_unit_test(test_ingest_handlers_reason_is_one_header_line),
        cmocka_unit_test(test_ingest_handlers_batches_close_at_the_byte_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
