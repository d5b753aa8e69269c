/* Unit tests of the `date,value` CSV reader: spacings inferred, gaps as missing values, dates of
 * the periods after the last, and bad input refused naming the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vx/clock.h"
#include "vx/forecast.h"

#include <math.h>
#include <string.h>

static void parse_ok(const char *text, vx_forecast_csv *c)
{
    char why[200] = "";
    if (vx_forecast_csv_parse(text, strlen(text), c, why, sizeof why) != VX_OK)
        fail_msg("refused: %s", why);
}

static int64_t day(int y, int m, int d)
{
    return vx_civil_to_unix(y, m, d, 0, 0, 0) / 86400;
}

static void test_forecast_csv_daily_with_gaps_and_missing(void **state)
{
    (void)state;
    vx_forecast_csv c;
    parse_ok("date,value\r\n2024-02-27,1\n2024-02-28, 2 \n2024-03-01,NA\n\n2024-03-02,4.5\n", &c);
    assert_int_equal(c.spacing, VX_FORECAST_DAILY);
    assert_int_equal(c.n, 5); /* 27, 28, 29 (skipped), 1 (NA), 2 */
    assert_true(c.values[1] == 2);
    assert_true(isnan(c.values[2]));
    assert_true(isnan(c.values[3]));
    assert_true(c.values[4] == 4.5);
    assert_int_equal(vx_forecast_csv_period_day(&c, 5), day(2024, 3, 3));
    vx_forecast_csv_cleanup(&c);
}

static void test_forecast_csv_month_ends_weekly_quarterly(void **state)
{
    (void)state;
    vx_forecast_csv c;
    parse_ok("date,value\n2023-11-30,1\n2023-12-31,2\n2024-01-31,3\n2024-02-29,4\n", &c);
    assert_int_equal(c.spacing, VX_FORECAST_MONTHLY);
    assert_int_equal(c.n, 4);
    assert_int_equal(vx_forecast_csv_period_day(&c, 4), day(2024, 3, 31));
    assert_int_equal(vx_forecast_csv_period_day(&c, 5), day(2024, 4, 30));
    vx_forecast_csv_cleanup(&c);
    parse_ok("date,value\n2024-01-01,1\n2024-01-08,2\n2024-01-22,3\n", &c);
    assert_int_equal(c.spacing, VX_FORECAST_WEEKLY);
    assert_int_equal(c.n, 4);
    assert_true(isnan(c.values[2]));
    vx_forecast_csv_cleanup(&c);
    parse_ok("date,value\n2023-01-01,1\n2023-04-01,2\n2023-07-01,3\n", &c);
    assert_int_equal(c.spacing, VX_FORECAST_QUARTERLY);
    assert_int_equal(vx_forecast_csv_period_day(&c, 3), day(2023, 10, 1));
    vx_forecast_csv_cleanup(&c);
}

static void test_forecast_csv_bad_input_names_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "empty"},
        {"day,amount\n2024-01-01,1\n", "line 1: expected the header"},
        {"date,value\n2024-01-01,1\n2024-01-02,x\n", "line 3: 'x' is not a finite number"},
        {"date,value\n2024-01-01,1\nyesterday,2\n", "line 3: 'yesterday' is not an ISO date"},
        {"date,value\n2024-01-02,1\n2024-01-01,2\n", "line 3: date is not after"},
        {"date,value\n2024-01-01,1,2\n", "line 2: expected two fields"},
        {"date,value\n2024-01-01,1\n", "need at least 2"},
        {"date,value\n2024-01-01,1\n2024-01-06,2\n", "cannot infer the spacing"},
        {"date,value\n2024-01-01,inf\n2024-01-02,1\n", "not a finite number"},
        {"date,value\n1900-01-01,1\n2200-01-01,2\n", "3600 months apart"},
        {"date,value\n2000-01-01,1\n2000-01-02,1\n2300-01-02,1\n", "the limit is"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vx_forecast_csv c;
        char why[200] = "";
        assert_int_equal(
            vx_forecast_csv_parse(bad[i].text, strlen(bad[i].text), &c, why, sizeof why),
            VX_INVALID);
        if (!strstr(why, bad[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, why, bad[i].want);
        assert_null(c.values);
    }
    const char nul[] = "date,value\n2024-01-01,1\0junk\n2024-01-02,2\n";
    vx_forecast_csv c;
    char why[200];
    assert_int_equal(vx_forecast_csv_parse(nul, sizeof nul - 1, &c, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "line 2: contains a NUL byte"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_csv_daily_with_gaps_and_missing),
        cmocka_unit_test(test_forecast_csv_month_ends_weekly_quarterly),
        cmocka_unit_test(test_forecast_csv_bad_input_names_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
