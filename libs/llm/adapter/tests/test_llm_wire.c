/* Unit tests of the provider wire format: request bodies, the OpenAI-compatible and Anthropic
 * response envelopes (text and token usage), error bodies, Retry-After, and key redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "wire.h"

#include "vx/alloc.h"
#include "vx/clock.h"

#include <jansson.h>
#include <string.h>

static vx_status parse(vx_llm_api api, const char *body, llm_reply *r)
{
    return llm_reply_parse(api, body, strlen(body), r, NULL, 0);
}

static void test_llm_wire_openai_reply(void **state)
{
    (void)state;
    llm_reply r;
    assert_int_equal(parse(VX_LLM_API_OPENAI,
                           "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                           "\"content\":\"{\\\"summary\\\":1}\"},\"finish_reason\":\"stop\"}],"
                           "\"usage\":{\"prompt_tokens\":812,\"completion_tokens\":95,"
                           "\"total_tokens\":907}}",
                           &r),
                     VX_OK);
    assert_string_equal(r.text, "{\"summary\":1}");
    assert_true(r.has_usage);
    assert_int_equal(r.input_tokens, 812);
    assert_int_equal(r.output_tokens, 95);
    assert_false(r.truncated);
    llm_reply_cleanup(&r);

    /* Cut at the token limit; no usage reported. */
    assert_int_equal(parse(VX_LLM_API_OPENAI,
                           "{\"choices\":[{\"message\":{\"content\":\"{\\\"summ\"},"
                           "\"finish_reason\":\"length\"}]}",
                           &r),
                     VX_OK);
    assert_true(r.truncated);
    assert_false(r.has_usage);
    llm_reply_cleanup(&r);

    /* No text (a tool call, a refusal): invalid, but the usage still counts. */
    char err[128] = "";
    const char *no_text = "{\"choices\":[{\"message\":{\"content\":null}}],"
                          "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2}}";
    assert_int_equal(
        llm_reply_parse(VX_LLM_API_OPENAI, no_text, strlen(no_text), &r, err, sizeof err),
        VX_INVALID);
    assert_non_null(strstr(err, "content is not text"));
    assert_null(r.text);
    assert_true(r.has_usage);
    assert_int_equal(r.input_tokens, 10);
    llm_reply_cleanup(&r);
    assert_int_equal(parse(VX_LLM_API_OPENAI, "{\"choices\":[]}", &r), VX_INVALID);
    llm_reply_cleanup(&r);
    /* Implausible counts are not believed. */
    assert_int_equal(parse(VX_LLM_API_OPENAI,
                           "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
                           "\"prompt_tokens\":-5,\"completion_tokens\":2}}",
                           &r),
                     VX_OK);
    assert_false(r.has_usage);
    llm_reply_cleanup(&r);
    assert_int_equal(parse(VX_LLM_API_OPENAI, "<html>502 Bad Gateway</html>", &r), VX_INVALID);
    llm_reply_cleanup(&r);
    assert_int_equal(parse(VX_LLM_API_OPENAI, "[1,2]", &r), VX_INVALID);
    llm_reply_cleanup(&r);
}

static void test_llm_wire_anthropic_reply(void **state)
{
    (void)state;
    llm_reply r;
    assert_int_equal(parse(VX_LLM_API_ANTHROPIC,
                           "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":["
                           "{\"type\":\"text\",\"text\":\"{\\\"a\\\":\"},"
                           "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"x\",\"input\":{}},"
                           "{\"type\":\"text\",\"text\":\"1}\"}],"
                           "\"stop_reason\":\"end_turn\","
                           "\"usage\":{\"input_tokens\":640,\"output_tokens\":120,"
                           "\"cache_read_input_tokens\":0}}",
                           &r),
                     VX_OK);
    assert_string_equal(r.text, "{\"a\":1}"); /* text blocks joined, others ignored */
    assert_true(r.has_usage);
    assert_int_equal(r.input_tokens, 640);
    assert_int_equal(r.output_tokens, 120);
    assert_false(r.truncated);
    llm_reply_cleanup(&r);
    assert_int_equal(parse(VX_LLM_API_ANTHROPIC,
                           "{\"content\":[{\"type\":\"text\",\"text\":\"{\"}],"
                           "\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":1}}",
                           &r),
                     VX_OK);
    assert_true(r.truncated);
    assert_false(r.has_usage); /* output_tokens missing */
    llm_reply_cleanup(&r);
    assert_int_equal(parse(VX_LLM_API_ANTHROPIC, "{\"content\":[{\"type\":\"image\"}]}", &r),
                     VX_INVALID);
    llm_reply_cleanup(&r);
    /* The OpenAI shape is not an Anthropic answer. */
    assert_int_equal(
        parse(VX_LLM_API_ANTHROPIC, "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}", &r),
        VX_INVALID);
    llm_reply_cleanup(&r);
}

static void test_llm_wire_error_bodies(void **state)
{
    (void)state;
    char out[128];
    const char *openai = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                         "\"code\":\"rate_limit_exceeded\"}}";
    assert_true(llm_error_parse(openai, strlen(openai), out, sizeof out));
    assert_string_equal(out, "requests: Rate limit reached");
    const char *anthropic = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                            "\"message\":\"Overloaded\"}}";
    assert_true(llm_error_parse(anthropic, strlen(anthropic), out, sizeof out));
    assert_string_equal(out, "overloaded_error: Overloaded");
    assert_true(llm_error_parse("{\"error\":\"bad model\"}", 21, out, sizeof out));
    assert_string_equal(out, "bad model");
    assert_false(llm_error_parse("upstream connect error", 22, out, sizeof out));
    assert_false(llm_error_parse("{\"choices\":[]}", 14, out, sizeof out));
    /* Cut to fit, never in the middle of a character. */
    const char *accents = "{\"error\":{\"message\":\"\\u00e9\\u00e9\\u00e9\"}}";
    char small[4];
    assert_true(llm_error_parse(accents, strlen(accents), small, sizeof small));
    assert_string_equal(small, "\xc3\xa9");
}

static void test_llm_wire_retry_after(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_true(llm_retry_after_parse("30", 2, 0, &d));
    assert_int_equal(d, 30000);
    assert_true(llm_retry_after_parse(" 5\r\n", 4, 0, &d));
    assert_int_equal(d, 5000);
    assert_true(llm_retry_after_parse("0", 1, 0, &d));
    assert_int_equal(d, 0);
    /* Only `len` bytes are read: the value need not end with a NUL. */
    assert_true(llm_retry_after_parse("12345", 2, 0, &d));
    assert_int_equal(d, 12000);
    assert_true(llm_retry_after_parse("99999999999", 11, 0, &d));
    assert_true(d > 1000LL * 86400 * 365 * 30);
    /* An HTTP date, 10 s after "now". */
    int64_t when = vx_civil_to_unix(2015, 10, 21, 7, 28, 0) * 1000;
    const char *date = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_true(llm_retry_after_parse(date, strlen(date), when - 10000, &d));
    assert_int_equal(d, 10000);
    assert_true(llm_retry_after_parse(date, strlen(date), when + 10000, &d));
    assert_int_equal(d, 0); /* already past */
    const char *rfc850 = "Wednesday, 21-Oct-15 07:28:00 GMT";
    assert_true(llm_retry_after_parse(rfc850, strlen(rfc850), when - 2000, &d));
    assert_int_equal(d, 2000);
    const char *bad[] = {"", "soon", "1.5", "-3", "30s", "tomorrow morning"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (llm_retry_after_parse(bad[i], strlen(bad[i]), when, &d))
            fail_msg("\"%s\" was taken for a Retry-After", bad[i]);
}

static void test_llm_wire_redaction(void **state)
{
    (void)state;
    const char *keys[] = {"my-secret-key-123", ""};
    char s[256];
    strcpy(s, "Incorrect API key provided: my-secret-key-123. Again: my-secret-key-123!");
    llm_redact(s, keys, 2);
    assert_string_equal(s, "Incorrect API key provided: ***. Again: ***!");
    strcpy(s, "Authorization: Bearer abc.def-ghi and bearer xyz");
    llm_redact(s, NULL, 0);
    assert_string_equal(s, "Authorization: Bearer *** and bearer ***");
    strcpy(s, "key sk-proj-AbCdEf0123456789 and gsk_abcdefghij0123 or sk-ant-api03-xyzxyzxyz");
    llm_redact(s, NULL, 0);
    assert_string_equal(s, "key *** and *** or ***");
    /* Partly masked echoes are redacted too; ordinary words are left alone. */
    strcpy(s, "Incorrect API key provided: sk-abc1***********wxyz. task-force sk-1 desk_top");
    llm_redact(s, NULL, 0);
    assert_string_equal(s, "Incorrect API key provided: ***. task-force sk-1 desk_top");
}

static void test_llm_wire_request_bodies(void **state)
{
    (void)state;
    char sys[] = "SYSTEM \"rules\"", usr[] = "<cost_data>\n{}\n</cost_data>";
    vx_llm_prompt p = {.system = sys, .user = usr};
    size_t len = 0;
    char *body = llm_request_body(VX_LLM_API_OPENAI, "gpt-4o-mini", &p, 700, &len);
    assert_int_equal(len, strlen(body));
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt-4o-mini");
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 700);
    json_t *msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
                        "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                        p.system);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "role")),
                        "user");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        p.user);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "response_format"), "type")),
        "json_object");
    json_decref(j);
    vx_free(body);

    body = llm_request_body(VX_LLM_API_ANTHROPIC, "claude-3-5-haiku-latest", &p, 700, NULL);
    j = json_loads(body, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "system")), p.system);
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 700);
    msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 1); /* instructions only in `system` */
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
                        "user");
    json_decref(j);
    vx_free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_wire_openai_reply),
        cmocka_unit_test(test_llm_wire_anthropic_reply),
        cmocka_unit_test(test_llm_wire_error_bodies),
        cmocka_unit_test(test_llm_wire_retry_after),
        cmocka_unit_test(test_llm_wire_redaction),
        cmocka_unit_test(test_llm_wire_request_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
