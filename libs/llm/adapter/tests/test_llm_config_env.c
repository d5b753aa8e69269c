/* Unit tests of the provider configuration read from the environment: keys, URLs, prices and
 * limits (providers without a key left out with a log line, local as the default), and errors
 * that name the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/llm_router.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_llm_config_env_defaults_to_local, clear_env),
        cmocka_unit_test_setup(test_llm_config_env_keys_urls_prices, clear_env),
        cmocka_unit_test_setup(test_llm_config_env_errors_name_the_variable, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
