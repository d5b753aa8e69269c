/* Unit tests of libs/core: money, dates, UUIDs, traceparent, config parsing, JSON escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/money.h"
#include "vx/settings.h"
#include "vx/status.h"
#include "vx/trace.h"
#include "vx/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static vx_money parse_ok(const char *s)
{
    vx_money m;
    assert_true(vx_money_parse(s, strlen(s), &m));
    assert_true(vx_money_valid(m));
    return m;
}

static void test_core_money_parse_is_exact(void **state)
{
    (void)state;
    vx_money m = parse_ok("12.34");
    assert_int_equal(m.units, 12);
    assert_int_equal(m.nanos, 340000000);
    m = parse_ok("-0.000000001");
    assert_int_equal(m.units, 0);
    assert_int_equal(m.nanos, -1);
    m = parse_ok("-3.5");
    assert_int_equal(m.units, -3);
    assert_int_equal(m.nanos, -500000000);
    m = parse_ok("9223372036854775807.999999999");
    assert_int_equal(m.units, INT64_MAX);
    /* a tenth fraction digit rounds half away from zero */
    m = parse_ok("0.0000000015");
    assert_int_equal(m.nanos, 2);
    m = parse_ok("-0.0000000015");
    assert_int_equal(m.nanos, -2);
    m = parse_ok(".5");
    assert_int_equal(m.nanos, 500000000);
}

static void test_core_money_parse_rejects_bad_text(void **state)
{
    (void)state;
    const char *bad[] = {
        "",    "-", ".", "1e3", "1.2.3", "abc", " 1", "1 ", "NaN", "inf", "99999999999999999999",
        "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vx_money m;
        assert_false(vx_money_parse(bad[i], strlen(bad[i]), &m));
    }
}

static void test_core_money_format_round_trips(void **state)
{
    (void)state;
    const char *cases[] = {"0",
                           "12.5",
                           "-0.000000001",
                           "1234567.123456789",
                           "-42",
                           "9223372036854775807.999999999",
                           "-9223372036854775808.999999999"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vx_money m = parse_ok(cases[i]);
        char buf[VX_MONEY_STR_MAX];
        vx_money_format(m, buf, sizeof buf);
        assert_string_equal(buf, cases[i]);
    }
}

static void test_core_money_add_detects_overflow(void **state)
{
    (void)state;
    vx_money a = {INT64_MAX, 900000000}, b = {0, 200000000}, out;
    assert_false(vx_money_add(a, b, &out));
    vx_money c = {1, 600000000}, d = {-2, -700000000};
    assert_true(vx_money_add(c, d, &out));
    assert_int_equal(out.units, -1);
    assert_int_equal(out.nanos, -100000000);
    assert_false(vx_money_valid((vx_money){1, -1}));
    assert_false(vx_money_valid((vx_money){0, 1000000000}));
}

static void test_core_iso8601_parses_and_formats(void **state)
{
    (void)state;
    int64_t t;
    assert_true(vx_parse_iso8601("2024-02-29", 10, &t));
    assert_int_equal(t, 1709164800);
    const char *z = "2024-02-29T12:30:15.123Z";
    assert_true(vx_parse_iso8601(z, strlen(z), &t));
    assert_int_equal(t, 1709164800 + 12 * 3600 + 30 * 60 + 15);
    const char *off = "2024-03-01T01:00:00+02:00";
    assert_true(vx_parse_iso8601(off, strlen(off), &t));
    assert_int_equal(t, 1709164800 + 23 * 3600);
    char buf[32];
    vx_format_iso8601(t, buf, sizeof buf);
    assert_string_equal(buf, "2024-02-29T23:00:00Z");
    vx_format_date(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31");
    const char *bad[] = {"2023-02-29",
                         "2024-13-01",
                         "2024-1-01",
                         "2024-01-01T25:00:00Z",
                         "2024-01-01X",
                         "2024-01-01T10:00:00Zjunk",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(vx_parse_iso8601(bad[i], strlen(bad[i]), &t));
}

static void test_core_uuid_round_trip_and_versions(void **state)
{
    (void)state;
    const char *s = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"; /* RFC 4122 DNS namespace */
    vx_uuid ns, u;
    assert_true(vx_uuid_parse(s, strlen(s), &ns));
    char out[37];
    vx_uuid_format(&ns, out);
    assert_string_equal(out, s);
    /* Known v5 value: uuid5(NAMESPACE_DNS, "python.org") */
    vx_uuid_v5(&ns, "python.org", 10, &u);
    vx_uuid_format(&u, out);
    assert_string_equal(out, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    vx_uuid_v4(&u);
    vx_uuid_format(&u, out);
    assert_int_equal(out[14], '4');
    assert_false(vx_uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c", 35, &u));
    assert_false(vx_uuid_parse("6ba7b810x9dad-11d1-80b4-00c04fd430c8", 36, &u));
    assert_false(vx_uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430cg", 36, &u));
}

static void test_core_traceparent(void **state)
{
    (void)state;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    vx_trace t, c;
    assert_true(vx_trace_parse(tp, strlen(tp), &t));
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    vx_trace_child(&t, &c);
    assert_string_equal(c.trace_id, t.trace_id);
    assert_string_not_equal(c.span_id, t.span_id);
    char out[VX_TRACEPARENT_LEN + 1];
    vx_trace_format(&t, out);
    assert_string_equal(out, tp);
    const char *zero = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    assert_false(vx_trace_parse(zero, strlen(zero), &t));
    assert_false(vx_trace_parse("garbage", 7, &t));
}

static void test_core_duration_and_redaction(void **state)
{
    (void)state;
    int64_t ms;
    assert_true(vx_parse_duration_ms("250ms", &ms));
    assert_int_equal(ms, 250);
    assert_true(vx_parse_duration_ms("5s", &ms));
    assert_int_equal(ms, 5000);
    assert_true(vx_parse_duration_ms("2m", &ms));
    assert_int_equal(ms, 120000);
    assert_true(vx_parse_duration_ms("7", &ms));
    assert_int_equal(ms, 7);
    assert_false(vx_parse_duration_ms("5 s", &ms));
    assert_false(vx_parse_duration_ms("-1s", &ms));
    assert_false(vx_parse_duration_ms("fast", &ms));
    char out[128];
    vx_redact_url("postgresql://app:s3cret@127.0.0.1:5432/db", out, sizeof out);
    assert_string_equal(out, "postgresql://app:***@127.0.0.1:5432/db");
    vx_redact_url("nats://127.0.0.1:4222", out, sizeof out);
    assert_string_equal(out, "nats://127.0.0.1:4222");
    /* an '@' inside the password: the userinfo ends at the last '@' */
    vx_redact_url("nats://user:p@ss@127.0.0.1:4222", out, sizeof out);
    assert_string_equal(out, "nats://user:***@127.0.0.1:4222");
    /* no ':': the whole userinfo is a secret (a NATS token, a bare Redis password) */
    vx_redact_url("redis://secret@127.0.0.1:6379/0", out, sizeof out);
    assert_string_equal(out, "redis://***@127.0.0.1:6379/0");
    vx_redact_url("nats://tok3n@h:4222", out, sizeof out);
    assert_string_equal(out, "nats://***@h:4222");
    vx_redact_url("redis://:pw@h:6379", out, sizeof out);
    assert_string_equal(out, "redis://:***@h:6379");
    /* a '/' or ':' written raw inside a password */
    vx_redact_url("postgresql://app:a/b:c@db:5432/x", out, sizeof out);
    assert_string_equal(out, "postgresql://app:***@db:5432/x");
    /* lists of servers, with a ',' inside one password */
    vx_redact_url("nats://a:x,y@h1:4222,nats://b:z@h2:4222", out, sizeof out);
    assert_string_equal(out, "nats://a:***@h1:4222,nats://b:***@h2:4222");
    /* secrets in a query and in libpq's key=value form */
    vx_redact_url("postgresql://h/db?user=u&password=s3&sslmode=off", out, sizeof out);
    assert_string_equal(out, "postgresql://h/db?user=u&password=***&sslmode=off");
    vx_redact_url("host=h user=u password=s3cret dbname=x", out, sizeof out);
    assert_string_equal(out, "host=h user=u password=*** dbname=x");
    vx_redact_url("host=h password = 'a b\\' c' dbname=x", out, sizeof out);
    assert_string_equal(out, "host=h password = *** dbname=x");
    /* no scheme (NATS accepts host:port), a list starting without one, a key=value string with
     * '://' inside a value, more secret names */
    vx_redact_url("u:pw@nats:4222", out, sizeof out);
    assert_string_equal(out, "u:***@nats:4222");
    vx_redact_url("u:pw@a:4222,nats://v:pw2@b:4222", out, sizeof out);
    assert_string_equal(out, "u:***@a:4222,nats://v:***@b:4222");
    vx_redact_url("host=h password=ab://cd dbname=x", out, sizeof out);
    assert_string_equal(out, "host=h password=*** dbname=x");
    vx_redact_url("host=h sslpassword=k3y dbname=x", out, sizeof out);
    assert_string_equal(out, "host=h sslpassword=*** dbname=x");
    vx_redact_url("https://h/v1?api_key=s1&access_token=s2&x=1", out, sizeof out);
    assert_string_equal(out, "https://h/v1?api_key=***&access_token=***&x=1");
    /* truncation keeps the mask */
    char small[16];
    vx_redact_url("redis://u:secretsecret@h", small, sizeof small);
    assert_null(strstr(small, "secret"));
}

typedef struct {
    const char *s;
    int i;
    int64_t big, ms;
    bool b;
    vx_log_level lvl;
    int computed;
} settings_cfg;

static bool no_x(const char *v, char *why, size_t cap)
{
    if (!strchr(v, 'x'))
        return true;
    snprintf(why, cap, "has an x");
    return false;
}

#define T settings_cfg
static const vx_setting test_settings[] = {
    VX_SET_STR_CHECKED("VX_T_S", T, s, "dflt", no_x, "a string"),
    VX_SET_INT("VX_T_I", T, i, "4", 1, 9, "an int\nover two lines"),
    VX_SET_INT64("VX_T_BIG", T, big, "10000000000", 0, INT64_C(20000000000), "a big one"),
    VX_SET_DURATION("VX_T_MS", T, ms, "2m", 0, 3600000, "a duration"),
    VX_SET_BOOL("VX_T_B", T, b, "false", "a flag"),
    VX_SET_LOG_LEVEL("VX_T_LVL", T, lvl, "info", "a level"),
    VX_SET_INT("VX_T_COMPUTED", T, computed, NULL, 0, 100, "computed (CPUs)"),
    VX_SET_NOTE("  VX_T_ELSEWHERE           read by another library"),
};
#undef T

static void test_core_settings_table(void **state)
{
    (void)state;
    settings_cfg c = {.computed = 42};
    vx_settings_load(test_settings, 8, &c);
    assert_string_equal(c.s, "dflt");
    assert_int_equal(c.i, 4);
    assert_int_equal(c.big, INT64_C(10000000000));
    assert_int_equal(c.ms, 120000);
    assert_false(c.b);
    assert_int_equal(c.lvl, VX_LOG_INFO);
    assert_int_equal(c.computed, 42); /* no default in the table: the caller's stays */

    setenv("VX_T_S", "set", 1);
    setenv("VX_T_I", "7", 1);
    setenv("VX_T_MS", "250ms", 1);
    setenv("VX_T_B", "yes", 1);
    setenv("VX_T_LVL", "debug", 1);
    setenv("VX_T_COMPUTED", "3", 1);
    vx_settings_load(test_settings, 8, &c);
    assert_string_equal(c.s, "set");
    assert_int_equal(c.i, 7);
    assert_int_equal(c.ms, 250);
    assert_true(c.b);
    assert_int_equal(c.lvl, VX_LOG_DEBUG);
    assert_int_equal(c.computed, 3);

    char buf[2048] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    vx_settings_usage(f, test_settings, 8);
    fclose(f);
    assert_non_null(strstr(buf, "  VX_T_S                   a string (dflt)\n"));
    assert_non_null(strstr(buf, "  VX_T_I                   an int\n"
                                "                           over two lines (4)\n"));
    assert_non_null(strstr(buf, "  VX_T_COMPUTED            computed (CPUs)\n"));
    assert_non_null(strstr(buf, "  VX_T_ELSEWHERE           read by another library\n"));

    /* a value out of range, a refused string: exit 78 naming the variable */
    const char *bad[][2] = {{"VX_T_I", "10"},
                            {"VX_T_S", "xyz"},
                            {"VX_T_MS", "5 s"},
                            {"VX_T_B", "maybe"},
                            {"VX_T_LVL", "loud"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv(bad[k][0], bad[k][1], 1);
            if (!freopen("/dev/null", "w", stderr))
                _exit(99);
            vx_settings_load(test_settings, 8, &c);
            _exit(0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), VX_EXIT_CONFIG);
    }
    const char *names[] = {"VX_T_S", "VX_T_I", "VX_T_MS", "VX_T_B", "VX_T_LVL", "VX_T_COMPUTED"};
    for (size_t k = 0; k < 6; k++)
        unsetenv(names[k]);
}

static void test_core_log_writes_one_json_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    vx_log_init("test", VX_LOG_INFO);
    vx_log_set_fd(fds[1]);
    vx_log(VX_LOG_DEBUG, "hidden", VX_INT("n", 1));
    vx_log(VX_LOG_INFO, "quote\"and\nline", VX_STR("k", "v\t"), VX_INT("n", -5), VX_BOOL("b", 1));
    vx_log_set_fd(2);
    close(fds[1]);
    char buf[1024] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\"msg\":\"quote\\\"and\\nline\""));
    assert_non_null(strstr(buf, "\"k\":\"v\\t\",\"n\":-5,\"b\":true}\n"));
    assert_null(strstr(buf, "hidden"));
    assert_int_equal(strchr(buf, '\n') - buf + 1, n);
}

static void test_core_status_names(void **state)
{
    (void)state;
    assert_string_equal(vx_status_str(VX_OK), "ok");
    assert_string_equal(vx_status_name(VX_UNAVAILABLE), "UNAVAILABLE");
    assert_string_equal(vx_status_str((vx_status)999), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_money_parse_is_exact),
        cmocka_unit_test(test_core_money_parse_rejects_bad_text),
        cmocka_unit_test(test_core_money_format_round_trips),
        cmocka_unit_test(test_core_money_add_detects_overflow),
        cmocka_unit_test(test_core_iso8601_parses_and_formats),
        cmocka_unit_test(test_core_uuid_round_trip_and_versions),
        cmocka_unit_test(test_core_traceparent),
        cmocka_unit_test(test_core_duration_and_redaction),
        cmocka_unit_test(test_core_settings_table),
        cmocka_unit_test(test_core_log_writes_one_json_line),
        cmocka_unit_test(test_core_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
