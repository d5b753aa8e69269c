/* The /readyz note of the stream watcher: said above 80 % of a bound, never without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "streams.h"

#include <string.h>

static void test_note_only_above_the_mark(void **state)
{
    (void)state;
    char out[256];
    vx_stream_info i = {.bytes = 800, .max_bytes = 1000, .discard_new = true};
    ingest_stream_note("COST_EVENTS", &i, out, sizeof out);
    assert_string_equal(out, ""); /* 80 % exactly: not yet */
    i.bytes = 801;
    ingest_stream_note("COST_EVENTS", &i, out, sizeof out);
    assert_string_equal(out, "stream COST_EVENTS is 80% full (801 of 1000 bytes): new events are "
                             "refused when it is full");
    i.bytes = 990;
    i.discard_new = false;
    ingest_stream_note("COST_DLQ", &i, out, sizeof out);
    assert_string_equal(out, "stream COST_DLQ is 99% full (990 of 1000 bytes): the oldest "
                             "messages go when it is full");
    /* no bound: never full */
    i = (vx_stream_info){.bytes = 1u << 30, .max_bytes = 0};
    ingest_stream_note("X", &i, out, sizeof out);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_note_only_above_the_mark)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
