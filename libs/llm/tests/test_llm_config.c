/* Unit tests of provider configuration: the VX_LLM_PROVIDERS list, keys, URLs, prices and
 * limits from the environment (providers without a key left out with a log line, local as the
 * default), and the exact micro-USD pricing arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/llm.h"
#include "vx/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const env_vars[] = {
    "VX_LLM_PROVIDERS",         "VX_LLM_GROQ_KEY",        "GROQ_API_KEY",
    "VX_LLM_OPENAI_KEY",        "OPENAI_API_KEY",         "VX_LLM_ANTHROPIC_KEY",
    "ANTHROPIC_API_KEY",        "VX_LLM_GROQ_URL",        "VX_LLM_OPENAI_URL",
    "VX_LLM_ANTHROPIC_URL",     "VX_LLM_PRICE_GROQ",      "VX_LLM_PRICE_OPENAI",
    "VX_LLM_PRICE_ANTHROPIC",   "VX_LLM_TIMEOUT",         "VX_LLM_CONNECT_TIMEOUT",
    "VX_LLM_MAX_OUTPUT_TOKENS", "VX_LLM_MAX_RETRY_AFTER", "VX_LLM_BREAKER_WINDOW",
    "VX_LLM_BREAKER_MIN_CALLS", "VX_LLM_BREAKER_OPEN",    "VX_LLM_HTTP_DEBUG",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    return 0;
}

/* Runs vx_llm_config_from_env with the log captured; returns the status and the log text. */
static vx_status load(vx_llm_config *cfg, char *err, size_t err_cap, char *log, size_t log_cap)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    vx_log_init("test", VX_LOG_DEBUG);
    vx_log_set_fd(fileno(f));
    vx_status st = vx_llm_config_from_env(cfg, err, err_cap);
    vx_log_set_fd(2);
    rewind(f);
    size_t n = fread(log, 1, log_cap - 1, f);
    log[n] = '\0';
    fclose(f);
    return st;
}

static void test_llm_config_parse_provider_list(void **state)
{
    (void)state;
    vx_llm_config cfg;
    vx_llm_config_defaults(&cfg);
    char err[256] = "";
    assert_int_equal(vx_llm_providers_parse("groq:llama-3.3-70b-versatile,openai:gpt-4o-mini,"
                                            "anthropic:claude-3-5-haiku-latest,local",
                                            &cfg, err, sizeof err),
                     VX_OK);
    assert_int_equal(cfg.n_providers, 4);
    assert_string_equal(cfg.providers[0].name, "groq");
    assert_string_equal(cfg.providers[0].model, "llama-3.3-70b-versatile");
    assert_int_equal(cfg.providers[0].api, VX_LLM_API_OPENAI);
    assert_string_equal(cfg.providers[1].name, "openai");
    assert_int_equal(cfg.providers[1].api, VX_LLM_API_OPENAI);
    assert_string_equal(cfg.providers[2].model, "claude-3-5-haiku-latest");
    assert_int_equal(cfg.providers[2].api, VX_LLM_API_ANTHROPIC);
    assert_string_equal(cfg.providers[3].name, "local");
    assert_int_equal(cfg.providers[3].api, VX_LLM_API_LOCAL);
    assert_string_equal(cfg.providers[3].model, "");

    /* Default models, spaces, a model with a colon in it. */
    assert_int_equal(
        vx_llm_providers_parse(" openai , groq:ft:llama:x ,anthropic", &cfg, err, sizeof err),
        VX_OK);
    assert_int_equal(cfg.n_providers, 3);
    assert_string_equal(cfg.providers[0].model, "gpt-4o-mini");
    assert_string_equal(cfg.providers[1].model, "ft:llama:x");
    assert_string_equal(cfg.providers[2].model, "claude-3-5-haiku-latest");
}

static void parse_bad(const char *spec, const char *want)
{
    vx_llm_config cfg;
    vx_llm_config_defaults(&cfg);
    char err[256] = "";
    assert_int_equal(vx_llm_providers_parse(spec, &cfg, err, sizeof err), VX_INVALID);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not say \"%s\"", err, want);
    assert_int_equal(cfg.n_providers, 0); /* untouched */
}

static void test_llm_config_parse_errors(void **state)
{
    (void)state;
    parse_bad("groq,mistral:large", "unknown provider \"mistral\" in item 2");
    parse_bad("Groq", "unknown provider \"Groq\"");
    parse_bad("groq:a,groq:b", "\"groq\" is listed twice");
    parse_bad("local,groq", "local must be the last provider");
    parse_bad("groq,local:fast", "local takes no model");
    parse_bad("groq,,openai", "item 2 is empty");
    parse_bad("", "item 1 is empty");
    parse_bad("groq:", "model of groq must be 1..127 characters");
    parse_bad("openai:gpt 4", "model of openai has a character that is not allowed");
}

static void test_llm_config_env_defaults_to_local(void **state)
{
    (void)state;
    vx_llm_config cfg;
    char err[256] = "", log[4096];
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_OK);
    assert_int_equal(cfg.n_providers, 1);
    assert_string_equal(cfg.providers[0].name, "local");
    assert_int_equal(cfg.timeout_ms, 30000);
    assert_int_equal(cfg.connect_timeout_ms, 2000);
    assert_int_equal(cfg.max_output_tokens, 1024);
    assert_false(cfg.http_debug);

    /* Listed providers without keys are left out, each with a line naming what to set. */
    setenv("VX_LLM_PROVIDERS", "groq,anthropic", 1);
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_OK);
    assert_int_equal(cfg.n_providers, 1);
    assert_string_equal(cfg.providers[0].name, "local");
    assert_non_null(
        strstr(log, "\"msg\":\"llm provider skipped: no API key\",\"provider\":\"groq\""));
    assert_non_null(strstr(log, "VX_LLM_GROQ_KEY or GROQ_API_KEY"));
    assert_non_null(strstr(log, "\"provider\":\"anthropic\""));
    assert_non_null(strstr(log, "insights are written by local"));
}

static void test_llm_config_env_keys_urls_prices(void **state)
{
    (void)state;
    vx_llm_config cfg;
    char err[256] = "", log[4096];
    setenv("VX_LLM_PROVIDERS", "groq,openai:gpt-4o,anthropic,local", 1);
    setenv("GROQ_API_KEY", "gsk_vendorvariable0001", 1);
    setenv("VX_LLM_GROQ_KEY", "gsk_housevariable00001", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-test-000000001", 1);
    setenv("VX_LLM_ANTHROPIC_URL", "http://127.0.0.1:9999/v1/", 1);
    setenv("VX_LLM_PRICE_ANTHROPIC", "1.25,5", 1);
    setenv("VX_LLM_TIMEOUT", "5s", 1);
    setenv("VX_LLM_MAX_OUTPUT_TOKENS", "512", 1);
    setenv("VX_LLM_BREAKER_WINDOW", "10", 1);
    setenv("VX_LLM_BREAKER_MIN_CALLS", "3", 1);
    setenv("VX_LLM_BREAKER_OPEN", "30s", 1);
    setenv("VX_LLM_HTTP_DEBUG", "on", 1);
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_OK);
    /* openai has no key: skipped; the others keep their order. */
    assert_int_equal(cfg.n_providers, 3);
    const vx_llm_provider *g = &cfg.providers[0], *a = &cfg.providers[1];
    assert_string_equal(g->name, "groq");
    assert_string_equal(g->key, "gsk_housevariable00001"); /* VX_LLM_GROQ_KEY wins */
    assert_string_equal(g->base_url, "https://api.groq.com/openai/v1");
    assert_int_equal(g->price_in, 590000);
    assert_int_equal(g->price_out, 790000);
    assert_string_equal(a->name, "anthropic");
    assert_string_equal(a->key, "sk-ant-test-000000001");
    assert_string_equal(a->base_url, "http://127.0.0.1:9999/v1"); /* loopback http allowed */
    assert_int_equal(a->price_in, 1250000);
    assert_int_equal(a->price_out, 5000000);
    assert_string_equal(cfg.providers[2].name, "local");
    assert_int_equal(cfg.timeout_ms, 5000);
    assert_int_equal(cfg.max_output_tokens, 512);
    assert_int_equal(cfg.breaker.window, 10);
    assert_int_equal(cfg.breaker.min_calls, 3);
    assert_int_equal(cfg.breaker.open_ms, 30000);
    assert_true(cfg.http_debug);
    assert_non_null(strstr(log, "\"provider\":\"openai\""));
    /* No key value is ever logged. */
    assert_null(strstr(log, "gsk_"));
    assert_null(strstr(log, "sk-ant"));
    vx_llm_config_wipe(&cfg);
    assert_string_equal(cfg.providers[0].key, "");
    assert_string_equal(cfg.providers[1].key, "");
}

static void env_bad(const char *var, const char *value, const char *want)
{
    vx_llm_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    char err[256] = "", log[4096];
    setenv(var, value, 1);
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_INVALID);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not say \"%s\"", err, want);
    assert_int_equal((unsigned char)cfg.providers[0].name[0], 0x5a); /* untouched */
    unsetenv(var);
}

static void test_llm_config_env_errors_name_the_variable(void **state)
{
    (void)state;
    env_bad("VX_LLM_PROVIDERS", "groq,cohere", "VX_LLM_PROVIDERS: unknown provider \"cohere\"");
    setenv("VX_LLM_PROVIDERS", "openai,groq", 1);
    setenv("OPENAI_API_KEY", "sk-proj-0123456789abcdef", 1);
    env_bad("VX_LLM_OPENAI_URL", "http://api.example.com/v1",
            "VX_LLM_OPENAI_URL: must be https://");
    env_bad("VX_LLM_OPENAI_URL", "https://user:pw@api.example.com/v1",
            "VX_LLM_OPENAI_URL: must not carry credentials");
    env_bad("VX_LLM_OPENAI_URL", "not a url", "VX_LLM_OPENAI_URL: not a URL");
    env_bad("VX_LLM_PRICE_OPENAI", "cheap", "VX_LLM_PRICE_OPENAI: must be \"in,out\"");
    env_bad("VX_LLM_TIMEOUT", "forever", "VX_LLM_TIMEOUT: must be a duration");
    env_bad("VX_LLM_MAX_OUTPUT_TOKENS", "1000000", "VX_LLM_MAX_OUTPUT_TOKENS: must be a whole");
    env_bad("VX_LLM_HTTP_DEBUG", "maybe", "VX_LLM_HTTP_DEBUG: must be true or false");
    env_bad("VX_LLM_BREAKER_MIN_CALLS", "50", "must not exceed VX_LLM_BREAKER_WINDOW");
    /* A key that could inject a header line is refused without being echoed. */
    env_bad("OPENAI_API_KEY", "sk-proj-abc\r\nX-Evil: 1", "OPENAI_API_KEY: must be printable");
    char err[256] = "", log[1024];
    vx_llm_config cfg;
    setenv("OPENAI_API_KEY", "sk-proj-abc\r\nX-Evil: 1", 1);
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_INVALID);
    assert_null(strstr(err, "sk-proj"));
    /* A model with no known price cannot be reserved for: refused. */
    setenv("VX_LLM_PROVIDERS", "openai:gpt-9-ultra", 1);
    setenv("OPENAI_API_KEY", "sk-proj-0123456789abcdef", 1);
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_INVALID);
    assert_non_null(
        strstr(err, "VX_LLM_PRICE_OPENAI: no price known for openai model gpt-9-ultra"));
    setenv("VX_LLM_PRICE_OPENAI", "10,30", 1);
    assert_int_equal(load(&cfg, err, sizeof err, log, sizeof log), VX_OK);
    assert_int_equal(cfg.providers[0].price_in, 10000000);
    assert_int_equal(cfg.providers[0].price_out, 30000000);
}

static void test_llm_config_pricing_arithmetic(void **state)
{
    (void)state;
    uint64_t in = 0, out = 0;
    assert_true(vx_llm_price_lookup("groq", "llama-3.3-70b-versatile", &in, &out));
    /* 1200 in and 300 out at 0.59 / 0.79 USD per 1M: 708000000 + 237000000 = 945 micro-USD. */
    assert_int_equal(vx_llm_cost_micro_usd(in, out, 1200, 300), 945);
    assert_true(vx_llm_price_lookup("openai", "gpt-4o-mini", &in, &out));
    assert_int_equal(in, 150000);
    assert_int_equal(out, 600000);
    /* One token at 0.15 USD/1M is 0.15 micro-USD: rounded up, never down. */
    assert_int_equal(vx_llm_cost_micro_usd(in, out, 1, 0), 1);
    assert_int_equal(vx_llm_cost_micro_usd(in, out, 0, 0), 0);
    /* 1M in + 1M out is exactly the two prices. */
    assert_int_equal(vx_llm_cost_micro_usd(in, out, 1000000, 1000000), 750000);
    /* Exact where doubles are not: 3 tokens at 0.1 USD/1M. */
    assert_int_equal(vx_llm_cost_micro_usd(100000, 0, 30, 0), 3);
    assert_int_equal(vx_llm_cost_micro_usd(UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX),
                     UINT64_MAX);
    assert_false(vx_llm_price_lookup("groq", "gpt-4o-mini", &in, &out));

    assert_int_equal(vx_llm_price_parse("0.59,0.79", &in, &out), VX_OK);
    assert_int_equal(in, 590000);
    assert_int_equal(out, 790000);
    assert_int_equal(vx_llm_price_parse(" 3 , 15.000001 ", &in, &out), VX_OK);
    assert_int_equal(in, 3000000);
    assert_int_equal(out, 15000001);
    assert_int_equal(vx_llm_price_parse("0,.5", &in, &out), VX_OK);
    assert_int_equal(out, 500000);
    const char *bad[] = {"0.0000001,1", "-1,2", "1",         "1,2,3", "a,b",
                         "1e3,1",       ",1",   "1000001,1", ".,1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (vx_llm_price_parse(bad[i], &in, &out) != VX_INVALID)
            fail_msg("\"%s\" was accepted", bad[i]);

    vx_money m = vx_llm_micro_usd_to_money(1234567);
    assert_int_equal(m.units, 1);
    assert_int_equal(m.nanos, 234567000);
    m = vx_llm_micro_usd_to_money(945);
    assert_int_equal(m.units, 0);
    assert_int_equal(m.nanos, 945000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_config_parse_provider_list),
        cmocka_unit_test(test_llm_config_parse_errors),
        cmocka_unit_test_setup(test_llm_config_env_defaults_to_local, clear_env),
        cmocka_unit_test_setup(test_llm_config_env_keys_urls_prices, clear_env),
        cmocka_unit_test_setup(test_llm_config_env_errors_name_the_variable, clear_env),
        cmocka_unit_test(test_llm_config_pricing_arithmetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
