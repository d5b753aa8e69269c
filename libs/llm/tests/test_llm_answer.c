/* Unit tests of answer validation: good answers (bare, fenced, with whitespace), text around
 * the JSON refused, and every schema and bounds check naming its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/llm.h"

#include <stdio.h>
#include <string.h>

#define REC(extra)                                                                                 \
    "{\"action\":\"Right-size idle instances\",\"target\":\"Amazon EC2\","                         \
    "\"estimated_monthly_savings\":120.5,\"priority\":\"high\",\"confidence\":0.7" extra "}"
#define GOOD                                                                                       \
    "{\"summary\":\"Spend rose 25%.\",\"findings\":[\"EC2 grew by 1500.00 USD.\","                 \
    "\"S3 was flat.\"],\"recommendations\":[" REC("") "]}"

static void parse_ok(const char *text, vx_llm_insight *in)
{
    char err[256] = "";
    vx_status st = vx_llm_insight_parse(text, strlen(text), in, err, sizeof err);
    if (st != VX_OK)
        fail_msg("refused: %s", err);
}

/* Refused, with an error that contains `want`. */
static void parse_bad(const char *text, const char *want)
{
    char err[256] = "";
    vx_llm_insight in = {0};
    assert_int_equal(vx_llm_insight_parse(text, strlen(text), &in, err, sizeof err), VX_INVALID);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not say \"%s\"", err, want);
    assert_null(in.summary); /* nothing handed out */
}

static void check_good(const vx_llm_insight *in)
{
    assert_string_equal(in->summary, "Spend rose 25%.");
    assert_int_equal(in->n_findings, 2);
    assert_string_equal(in->findings[1], "S3 was flat.");
    assert_int_equal(in->n_recommendations, 1);
    const vx_llm_recommendation *r = &in->recommendations[0];
    assert_string_equal(r->action, "Right-size idle instances");
    assert_string_equal(r->target, "Amazon EC2");
    assert_true(r->estimated_monthly_savings == 120.5);
    assert_int_equal(r->priority, VX_LLM_PRIORITY_HIGH);
    assert_true(r->confidence == 0.7);
}

static void test_llm_answer_good(void **state)
{
    (void)state;
    vx_llm_insight in;
    parse_ok(GOOD, &in);
    check_good(&in);
    vx_llm_insight_cleanup(&in);
    assert_null(in.summary);
    vx_llm_insight_cleanup(&in); /* twice is fine */
    vx_llm_insight_cleanup(NULL);
    /* Empty lists, whole numbers for savings and confidence, every priority. */
    const char *edge =
        "{\"summary\":\"s\",\"findings\":[],\"recommendations\":["
        "{\"action\":\"a\",\"target\":\"t\",\"estimated_monthly_savings\":0,\"priority\":\"low\","
        "\"confidence\":1},"
        "{\"action\":\"a\",\"target\":\"t\",\"estimated_monthly_savings\":3,\"priority\":"
        "\"medium\",\"confidence\":0}]}";
    parse_ok(edge, &in);
    assert_int_equal(in.n_findings, 0);
    assert_int_equal(in.recommendations[0].priority, VX_LLM_PRIORITY_LOW);
    assert_true(in.recommendations[0].confidence == 1.0);
    assert_int_equal(in.recommendations[1].priority, VX_LLM_PRIORITY_MEDIUM);
    assert_true(in.recommendations[1].estimated_monthly_savings == 3.0);
    vx_llm_insight_cleanup(&in);
}

static void test_llm_answer_fenced_or_spaced(void **state)
{
    (void)state;
    const char *wrapped[] = {
        "```json\n" GOOD "\n```", "```\n" GOOD "\n```",  "  \n```JSON\r\n" GOOD "\r\n```  \n",
        "\n\n\t" GOOD "\n  ",     "```json " GOOD "```",
    };
    for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++) {
        vx_llm_insight in;
        parse_ok(wrapped[i], &in);
        check_good(&in);
        vx_llm_insight_cleanup(&in);
    }
}

static void test_llm_answer_refuses_other_text(void **state)
{
    (void)state;
    parse_bad("Here is the insight: " GOOD, "one JSON object and nothing else");
    parse_bad(GOOD " I hope this helps!", "not valid JSON");
    parse_bad("```json\n" GOOD, "fence is not closed");
    parse_bad("```python\n" GOOD "\n```", "must be ```json");
    parse_bad("Sure!\n```json\n" GOOD "\n```", "one JSON object");
    parse_bad("```json\n" GOOD "\n```\nLet me know.", "fence is not closed");
    parse_bad("", "empty");
    parse_bad("   \n ", "empty");
    parse_bad("[" GOOD "]", "one JSON object");
    parse_bad("{\"summary\":\"a\",\"summary\":\"b\",\"findings\":[],\"recommendations\":[]}",
              "not valid JSON");
    vx_llm_insight in;
    assert_int_equal(vx_llm_insight_parse(NULL, 0, &in, NULL, 0), VX_INVALID);
}

static void test_llm_answer_missing_field(void **state)
{
    (void)state;
    parse_bad("{\"findings\":[],\"recommendations\":[]}", "summary: missing");
    parse_bad("{\"summary\":\"s\",\"recommendations\":[]}", "findings: missing");
    parse_bad("{\"summary\":\"s\",\"findings\":[]}", "recommendations: missing");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[" REC(
                  "") ","
                      "{\"action\":\"a\",\"target\":\"t\",\"estimated_monthly_savings\":1,"
                      "\"priority\":\"low\"}]}",
              "recommendations[1].confidence: missing");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[],\"note\":\"x\"}",
              "answer: unknown key \"note\"");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[" REC(",\"why\":1") "]}",
              "recommendations[0]: unknown key \"why\"");
}

static void test_llm_answer_wrong_types(void **state)
{
    (void)state;
    parse_bad("{\"summary\":5,\"findings\":[],\"recommendations\":[]}",
              "summary: must be a string");
    parse_bad("{\"summary\":\"s\",\"findings\":\"EC2 grew\",\"recommendations\":[]}",
              "findings: must be an array of strings");
    parse_bad("{\"summary\":\"s\",\"findings\":[\"a\",7],\"recommendations\":[]}",
              "findings[1]: must be a string");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":{}}",
              "recommendations: must be an array of objects");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[\"cut costs\"]}",
              "recommendations[0]: must be an object");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[{\"action\":\"a\","
              "\"target\":\"t\",\"estimated_monthly_savings\":\"120\",\"priority\":\"low\","
              "\"confidence\":0.5}]}",
              "recommendations[0].estimated_monthly_savings: must be a number");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[{\"action\":\"a\","
              "\"target\":null,\"estimated_monthly_savings\":1,\"priority\":\"low\","
              "\"confidence\":0.5}]}",
              "recommendations[0].target: must be a string");
    parse_bad("{\"summary\":\"s\",\"findings\":[],\"recommendations\":[{\"action\":\"a\","
              "\"target\":\"t\",\"estimated_monthly_savings\":1,\"priority\":\"low\","
              "\"confidence\":true}]}",
              "recommendations[0].confidence: must be a number");
}

static void test_llm_answer_out_of_range(void **state)
{
    (void)state;
    char text[8192];
#define ONE_REC(savings, priority, confidence)                                                     \
    snprintf(text, sizeof text,                                                                    \
             "{\"summary\":\"s\",\"findings\":[],\"recommendations\":[{\"action\":\"a\","          \
             "\"target\":\"t\",\"estimated_monthly_savings\":%s,\"priority\":%s,"                  \
             "\"confidence\":%s}]}",                                                               \
             savings, priority, confidence)
    ONE_REC("1", "\"low\"", "1.5");
    parse_bad(text, "recommendations[0].confidence: must be between 0 and 1");
    ONE_REC("1", "\"low\"", "-0.1");
    parse_bad(text, "recommendations[0].confidence: must be between 0 and 1");
    ONE_REC("-1", "\"low\"", "0.5");
    parse_bad(text, "recommendations[0].estimated_monthly_savings: must be between 0");
    ONE_REC("1e13", "\"low\"", "0.5");
    parse_bad(text, "estimated_monthly_savings: must be between 0");
    ONE_REC("1e999", "\"low\"", "0.5");
    parse_bad(text, "not valid JSON"); /* jansson refuses numbers that overflow a double */
    ONE_REC("1", "\"urgent\"", "0.5");
    parse_bad(text, "recommendations[0].priority: must be \"high\", \"medium\" or \"low\"");
    ONE_REC("1", "\"High\"", "0.5");
    parse_bad(text, "priority");
    parse_bad("{\"summary\":\"  \\n \",\"findings\":[],\"recommendations\":[]}",
              "summary: must not be empty");
    parse_bad("{\"summary\":\"s\",\"findings\":[\"\"],\"recommendations\":[]}",
              "findings[0]: must not be empty");

    vx_buf b;
    vx_buf_init(&b);
    vx_buf_puts(&b, "{\"summary\":\"");
    for (int i = 0; i <= VX_LLM_MAX_SUMMARY; i++)
        vx_buf_putc(&b, 'x');
    vx_buf_puts(&b, "\",\"findings\":[],\"recommendations\":[]}");
    parse_bad(b.data, "summary: longer than 2000 bytes");
    vx_buf_reset(&b);
    vx_buf_puts(&b, "{\"summary\":\"s\",\"findings\":[");
    for (int i = 0; i <= VX_LLM_MAX_FINDINGS; i++)
        vx_buf_printf(&b, "%s\"f%d\"", i ? "," : "", i);
    vx_buf_puts(&b, "],\"recommendations\":[]}");
    parse_bad(b.data, "findings: 11 items, at most 10");
    vx_buf_reset(&b);
    vx_buf_puts(&b, "{\"summary\":\"s\",\"findings\":[],\"recommendations\":[");
    for (int i = 0; i <= VX_LLM_MAX_RECOMMENDATIONS; i++)
        vx_buf_printf(&b, "%s" REC(""), i ? "," : "");
    vx_buf_puts(&b, "]}");
    parse_bad(b.data, "recommendations: 11 items, at most 10");
    vx_buf_reset(&b);
    vx_buf_puts(&b, "{\"summary\":\"s\",\"findings\":[],\"recommendations\":[{\"action\":\"");
    for (int i = 0; i <= VX_LLM_MAX_ACTION; i++)
        vx_buf_putc(&b, 'a');
    vx_buf_puts(&b, "\",\"target\":\"t\",\"estimated_monthly_savings\":1,\"priority\":\"low\","
                    "\"confidence\":0.5}]}");
    parse_bad(b.data, "recommendations[0].action: longer than 500 bytes");
    vx_buf_reset(&b);
    /* The whole answer is bounded before it is parsed. */
    vx_buf_puts(&b, "{\"summary\":\"");
    for (int i = 0; i < VX_LLM_MAX_ANSWER_BYTES; i++)
        vx_buf_putc(&b, ' ');
    vx_buf_puts(&b, "\"}");
    parse_bad(b.data, "longer than 65536 bytes");
    vx_buf_cleanup(&b);
#undef ONE_REC
}

static void test_llm_answer_to_json_round_trip(void **state)
{
    (void)state;
    vx_llm_insight in, copy, back;
    parse_ok("{\"summary\":\"Quotes \\\" and\\nlines\",\"findings\":[\"\\u00e9t\\u00e9\"],"
             "\"recommendations\":[" REC("") "]}",
             &in);
    vx_llm_insight_copy(&in, &copy);
    vx_llm_insight_cleanup(&in);
    size_t len = 0;
    char *json = vx_llm_insight_to_json(&copy, &len);
    assert_int_equal(len, strlen(json));
    assert_non_null(strstr(json, "\"estimated_monthly_savings\":120.5"));
    assert_non_null(strstr(json, "\"confidence\":0.7"));
    parse_ok(json, &back);
    assert_string_equal(back.summary, "Quotes \" and\nlines");
    assert_string_equal(back.findings[0], "\xc3\xa9t\xc3\xa9");
    assert_string_equal(back.recommendations[0].target, "Amazon EC2");
    assert_true(back.recommendations[0].estimated_monthly_savings == 120.5);
    vx_free(json);
    vx_llm_insight_cleanup(&copy);
    vx_llm_insight_cleanup(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_answer_good),
        cmocka_unit_test(test_llm_answer_fenced_or_spaced),
        cmocka_unit_test(test_llm_answer_refuses_other_text),
        cmocka_unit_test(test_llm_answer_missing_field),
        cmocka_unit_test(test_llm_answer_wrong_types),
        cmocka_unit_test(test_llm_answer_out_of_range),
        cmocka_unit_test(test_llm_answer_to_json_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
