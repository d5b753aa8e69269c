/* Unit tests of provider configuration without I/O: the VX_LLM_PROVIDERS list syntax and the
 * exact micro-USD pricing arithmetic (the environment is read by the router's side:
 * adapter/tests/test_llm_config_env.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        cmocka_unit_test(test_llm_config_pricing_arithmetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
