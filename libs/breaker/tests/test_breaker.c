/* Unit tests of libs/breaker: tripping on the failure ratio over the sliding window, refusing
 * while open, half-open probing, and concurrent probe slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/breaker.h"

#include <pthread.h>
#include <string.h>

static vx_breaker_config small_config(void)
{
    vx_breaker_config c = vx_breaker_defaults();
    c.window = 10;
    c.min_calls = 4;
    c.failure_ratio = 0.5;
    c.open_ms = 1000;
    c.half_open_probes = 2;
    return c;
}

/* Records one allowed call at `now`. */
static void call(vx_breaker *b, bool success, int64_t now)
{
    assert_true(vx_breaker_allow(b, now));
    vx_breaker_record(b, success, now);
}

/* Trips a breaker made with small_config() at time `now`. */
static void trip_now(vx_breaker *b, int64_t now)
{
    for (int i = 0; i < 4; i++)
        call(b, false, now);
    assert_int_equal(vx_breaker_state_at(b, now), VX_BREAKER_OPEN);
}

static void test_breaker_defaults_and_names(void **state)
{
    (void)state;
    vx_breaker_config d = vx_breaker_defaults();
    assert_int_equal(d.window, 20);
    assert_int_equal(d.min_calls, 5);
    assert_true(d.failure_ratio == 0.5);
    assert_int_equal(d.open_ms, 5000);
    assert_int_equal(d.half_open_probes, 2);
    vx_breaker *b = vx_breaker_create("llm.groq", NULL);
    assert_string_equal(vx_breaker_name(b), "llm.groq");
    assert_int_equal(vx_breaker_state_at(b, 0), VX_BREAKER_CLOSED);
    assert_int_equal(vx_breaker_trips(b), 0);
    assert_string_equal(vx_breaker_state_str(VX_BREAKER_CLOSED), "closed");
    assert_string_equal(vx_breaker_state_str(VX_BREAKER_OPEN), "open");
    assert_string_equal(vx_breaker_state_str(VX_BREAKER_HALF_OPEN), "half_open");
    vx_breaker_destroy(b);
    vx_breaker_destroy(NULL);
}

static void test_breaker_stays_closed_under_min_calls(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    vx_breaker *b = vx_breaker_create("t", &c);
    for (int i = 0; i < 3; i++)
        call(b, false, 10);
    /* three failures out of three, but fewer than min_calls */
    assert_int_equal(vx_breaker_state_at(b, 10), VX_BREAKER_CLOSED);
    assert_true(vx_breaker_allow(b, 10));
    assert_int_equal(vx_breaker_trips(b), 0);
    vx_breaker_destroy(b);
}

static void test_breaker_trips_at_ratio(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    vx_breaker *b = vx_breaker_create("t", &c);
    /* 2 failures in 6 calls: 0.33 < 0.5 */
    call(b, true, 1);
    call(b, true, 1);
    call(b, false, 1);
    call(b, true, 1);
    call(b, false, 1);
    call(b, true, 1);
    assert_int_equal(vx_breaker_state_at(b, 1), VX_BREAKER_CLOSED);
    /* 3 of 7: still below */
    call(b, false, 2);
    assert_int_equal(vx_breaker_state_at(b, 2), VX_BREAKER_CLOSED);
    /* 4 of 8 = 0.5 exactly: trips */
    call(b, false, 3);
    assert_int_equal(vx_breaker_state_at(b, 3), VX_BREAKER_OPEN);
    assert_int_equal(vx_breaker_trips(b), 1);
    vx_breaker_destroy(b);
}

static void test_breaker_window_slides(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    c.window = 4;
    c.min_calls = 4;
    c.failure_ratio = 0.75;
    vx_breaker *b = vx_breaker_create("t", &c);
    call(b, false, 0);
    call(b, false, 0);
    call(b, true, 0);
    call(b, true, 0); /* F F S S: 0.5 */
    call(b, true, 0); /* F S S S: the oldest failure left the window */
    call(b, false, 0);
    call(b, false, 0); /* S S F F: 0.5 */
    assert_int_equal(vx_breaker_state_at(b, 0), VX_BREAKER_CLOSED);
    call(b, false, 0); /* S F F F: 0.75 */
    assert_int_equal(vx_breaker_state_at(b, 0), VX_BREAKER_OPEN);
    vx_breaker_destroy(b);
}

static void test_breaker_refuses_while_open(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    vx_breaker *b = vx_breaker_create("t", &c);
    trip_now(b, 100);
    assert_false(vx_breaker_allow(b, 100));
    assert_false(vx_breaker_allow(b, 600));
    assert_false(vx_breaker_allow(b, 1099));
    assert_int_equal(vx_breaker_state_at(b, 1099), VX_BREAKER_OPEN);
    /* a late outcome of a call allowed before it opened changes nothing */
    vx_breaker_record(b, true, 500);
    assert_int_equal(vx_breaker_state_at(b, 1099), VX_BREAKER_OPEN);
    assert_int_equal(vx_breaker_trips(b), 1);
    vx_breaker_destroy(b);
}

static void test_breaker_half_open_allows_exact_probes(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    c.half_open_probes = 3;
    vx_breaker *b = vx_breaker_create("t", &c);
    trip_now(b, 100);
    assert_int_equal(vx_breaker_state_at(b, 1100), VX_BREAKER_HALF_OPEN);
    assert_true(vx_breaker_allow(b, 1100));
    assert_true(vx_breaker_allow(b, 1100));
    assert_true(vx_breaker_allow(b, 1101));
    assert_false(vx_breaker_allow(b, 1101));
    assert_false(vx_breaker_allow(b, 5000));
    assert_int_equal(vx_breaker_state_at(b, 5000), VX_BREAKER_HALF_OPEN);
    vx_breaker_destroy(b);
}

static void test_breaker_probes_succeeding_close_with_fresh_window(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    vx_breaker *b = vx_breaker_create("t", &c);
    trip_now(b, 0);
    assert_true(vx_breaker_allow(b, 1000));
    assert_true(vx_breaker_allow(b, 1000));
    vx_breaker_record(b, true, 1001);
    /* one probe still out: not closed yet */
    assert_int_equal(vx_breaker_state_at(b, 1001), VX_BREAKER_HALF_OPEN);
    vx_breaker_record(b, true, 1002);
    assert_int_equal(vx_breaker_state_at(b, 1002), VX_BREAKER_CLOSED);
    assert_true(vx_breaker_allow(b, 1002));
    /* the four failures that tripped it are forgotten: three more do not reach min_calls */
    vx_breaker_record(b, false, 1003);
    call(b, false, 1003);
    call(b, false, 1003);
    assert_int_equal(vx_breaker_state_at(b, 1003), VX_BREAKER_CLOSED);
    call(b, false, 1004);
    assert_int_equal(vx_breaker_state_at(b, 1004), VX_BREAKER_OPEN);
    assert_int_equal(vx_breaker_trips(b), 2);
    vx_breaker_destroy(b);
}

static void test_breaker_failing_probe_reopens(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    vx_breaker *b = vx_breaker_create("t", &c);
    trip_now(b, 0);
    assert_true(vx_breaker_allow(b, 1000));
    assert_true(vx_breaker_allow(b, 1000));
    vx_breaker_record(b, true, 1010);
    vx_breaker_record(b, false, 1020);
    assert_int_equal(vx_breaker_state_at(b, 1020), VX_BREAKER_OPEN);
    assert_int_equal(vx_breaker_trips(b), 2);
    /* open_ms counts again from the reopening */
    assert_false(vx_breaker_allow(b, 2019));
    assert_int_equal(vx_breaker_state_at(b, 2020), VX_BREAKER_HALF_OPEN);
    /* the other probe settling late does not close it */
    vx_breaker_record(b, true, 2020);
    assert_int_equal(vx_breaker_state_at(b, 2020), VX_BREAKER_HALF_OPEN);
    assert_true(vx_breaker_allow(b, 2020));
    vx_breaker_destroy(b);
}

static void test_breaker_clamps_bad_config(void **state)
{
    (void)state;
    vx_breaker_config c = {
        .window = 0, .min_calls = 50, .failure_ratio = 2.0, .open_ms = -5, .half_open_probes = 0};
    vx_breaker *b = vx_breaker_create("t", &c);
    /* window 1, min_calls 1, ratio 1: one failure trips; open 0 ms; one probe */
    call(b, true, 0);
    call(b, false, 0);
    assert_int_equal(vx_breaker_trips(b), 1);
    assert_int_equal(vx_breaker_state_at(b, 0), VX_BREAKER_HALF_OPEN);
    assert_true(vx_breaker_allow(b, 0));
    assert_false(vx_breaker_allow(b, 0));
    vx_breaker_record(b, true, 0);
    assert_int_equal(vx_breaker_state_at(b, 0), VX_BREAKER_CLOSED);
    vx_breaker_destroy(b);
}

enum { PROBE_THREADS = 8, PROBE_ROUNDS = 200 };

struct probe_race {
    vx_breaker *b;
    pthread_barrier_t *start;
    int allowed;
};

static void *probe_thread(void *arg)
{
    struct probe_race *r = arg;
    pthread_barrier_wait(r->start);
    for (int i = 0; i < PROBE_ROUNDS; i++)
        r->allowed += vx_breaker_allow(r->b, 1000) ? 1 : 0;
    return NULL;
}

static void test_breaker_concurrent_probes_are_limited(void **state)
{
    (void)state;
    vx_breaker_config c = small_config();
    c.half_open_probes = 3;
    vx_breaker *b = vx_breaker_create("t", &c);
    trip_now(b, 0);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, PROBE_THREADS);
    pthread_t th[PROBE_THREADS];
    struct probe_race r[PROBE_THREADS];
    for (int i = 0; i < PROBE_THREADS; i++) {
        r[i] = (struct probe_race){.b = b, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, probe_thread, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < PROBE_THREADS; i++) {
        pthread_join(th[i], NULL);
        total += r[i].allowed;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(total, 3);
    vx_breaker_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_defaults_and_names),
        cmocka_unit_test(test_breaker_stays_closed_under_min_calls),
        cmocka_unit_test(test_breaker_trips_at_ratio),
        cmocka_unit_test(test_breaker_window_slides),
        cmocka_unit_test(test_breaker_refuses_while_open),
        cmocka_unit_test(test_breaker_half_open_allows_exact_probes),
        cmocka_unit_test(test_breaker_probes_succeeding_close_with_fresh_window),
        cmocka_unit_test(test_breaker_failing_probe_reopens),
        cmocka_unit_test(test_breaker_clamps_bad_config),
        cmocka_unit_test(test_breaker_concurrent_probes_are_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
