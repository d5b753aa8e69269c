/* Unit tests of API-key parsing, secret checks and the lookup cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handlers/auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define SECRET "03bfa8d931e312f9c39a542ef0071ddbe3e315e1767a8ecd5b4301287b95b47f"

static void test_auth_bearer_parsing(void **state)
{
    (void)state;
    api_bearer b;
    assert_int_equal(api_bearer_parse("Bearer vxk_ecjr2g7775ap." SECRET, &b), VX_OK);
    assert_string_equal(b.key_id, "vxk_ecjr2g7775ap");
    assert_string_equal(b.secret, SECRET);
    const char *bad[] = {
        NULL,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer vxk_ecjr2g7775ap",
        "Bearer vxk_ecjr2g7775ap.",
        "Bearer vxk_ECJR2G7775AP." SECRET,
        "Bearer vxk_ecjr2g7775a." SECRET,
        "Bearer vxk_ecjr2g7775ap." SECRET "00",
        "Bearer vxk_ecjr2g7775ap." SECRET " trailing",
        "bearer vxk_ecjr2g7775ap." SECRET,
        "Bearer vxk_ecjr2g7775ap:" SECRET,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (api_bearer_parse(bad[i], &b) != VX_INVALID)
            fail_msg("accepted: %s", bad[i] ? bad[i] : "(null)");
}

static void test_auth_secret_matches_its_hash_only(void **state)
{
    (void)state;
    uint8_t h[32];
    unsigned int n;
    EVP_Digest(SECRET, strlen(SECRET), h, &n, EVP_sha256(), NULL);
    assert_true(api_secret_matches(SECRET, h));
    char other[] = SECRET;
    other[63] = other[63] == 'f' ? 'e' : 'f';
    assert_false(api_secret_matches(other, h));
}

static void test_auth_cache_expires_and_remembers_unknown_keys(void **state)
{
    (void)state;
    api_key_cache *c = api_key_cache_create(4, 1000);
    api_key_record r = {.revoked = false, .api_per_min = 7};
    snprintf(r.tenant_id, sizeof r.tenant_id, "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01");
    api_key_record got;
    assert_false(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 0, &got));
    api_key_cache_put(c, "vxk_aaaaaaaaaaaa", &r, 0);
    assert_true(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 999, &got));
    assert_int_equal(got.api_per_min, 7);
    /* stale: the first caller refreshes; the others keep the record meanwhile */
    assert_false(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 1000, &got));
    got.api_per_min = 0;
    assert_true(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 1500, &got));
    assert_int_equal(got.api_per_min, 7);
    assert_true(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 1999, &got));
    /* past the grace nobody gets the stale record */
    assert_false(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 2000, &got));
    assert_false(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 2500, &got));
    /* a refresh makes it fresh again */
    r.api_per_min = 8;
    api_key_cache_put(c, "vxk_aaaaaaaaaaaa", &r, 2600);
    assert_true(api_key_cache_get(c, "vxk_aaaaaaaaaaaa", 3000, &got));
    assert_int_equal(got.api_per_min, 8);
    api_key_cache_put(c, "vxk_bbbbbbbbbbbb", NULL, 0);
    assert_true(api_key_cache_unknown(c, "vxk_bbbbbbbbbbbb", 10));
    assert_false(api_key_cache_get(c, "vxk_bbbbbbbbbbbb", 10, &got));
    assert_false(api_key_cache_unknown(c, "vxk_bbbbbbbbbbbb", 2000));
    /* many keys in a small cache: it stays bounded and keeps working */
    for (int i = 0; i < 1000; i++) {
        char id[17];
        snprintf(id, sizeof id, "vxk_%012d", i);
        api_key_cache_put(c, id, &r, 100 + i);
        assert_true(api_key_cache_get(c, id, 100 + i, &got));
    }
    api_key_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_bearer_parsing),
        cmocka_unit_test(test_auth_secret_matches_its_hash_only),
        cmocka_unit_test(test_auth_cache_expires_and_remembers_unknown_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
