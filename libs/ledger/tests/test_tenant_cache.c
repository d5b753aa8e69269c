/* Unit tests of the ledger's bounded LRU cache of known tenants: it keeps admitting when full,
 * evicts the least recently used, and never grows past its bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tenant_cache.h"

#include <stdio.h>

static void id_of(int i, char *out)
{
    snprintf(out, 37, "00000000-0000-4000-8000-%012d", i);
}

static void test_tenant_cache_admits_past_its_bound_evicting_the_oldest(void **state)
{
    (void)state;
    tenant_cache *tc = tenant_cache_create(100);
    char id[37];
    for (int i = 0; i < 1000; i++) {
        id_of(i, id);
        tenant_cache_put(tc, id);
        assert_true(tenant_cache_get(tc, id));
    }
    assert_int_equal(tenant_cache_size(tc), 100);
    for (int i = 0; i < 900; i++) {
        id_of(i, id);
        assert_false(tenant_cache_get(tc, id));
    }
    for (int i = 900; i < 1000; i++) {
        id_of(i, id);
        assert_true(tenant_cache_get(tc, id));
    }
    tenant_cache_destroy(tc);
}

static void test_tenant_cache_a_hit_is_kept_over_older_entries(void **state)
{
    (void)state;
    tenant_cache *tc = tenant_cache_create(3);
    char a[37], b[37], c[37], d[37];
    id_of(1, a);
    id_of(2, b);
    id_of(3, c);
    id_of(4, d);
    tenant_cache_put(tc, a);
    tenant_cache_put(tc, b);
    tenant_cache_put(tc, c);
    assert_true(tenant_cache_get(tc, a)); /* a is now the most recent; b the oldest */
    tenant_cache_put(tc, d);
    assert_false(tenant_cache_get(tc, b));
    assert_true(tenant_cache_get(tc, a));
    assert_true(tenant_cache_get(tc, c));
    assert_true(tenant_cache_get(tc, d));
    /* putting a cached id again does not duplicate it */
    tenant_cache_put(tc, d);
    assert_int_equal(tenant_cache_size(tc), 3);
    tenant_cache_destroy(tc);
    tenant_cache_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_cache_admits_past_its_bound_evicting_the_oldest),
        cmocka_unit_test(test_tenant_cache_a_hit_is_kept_over_older_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
