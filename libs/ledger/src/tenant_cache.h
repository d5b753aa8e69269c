/* A bounded least-recently-used set of tenant ids known to exist, for the ledger's tenant checks.
 * Internal to libs/ledger; not thread-safe (the ledger holds its lock around every call). */
#ifndef VX_LEDGER_TENANT_CACHE_H
#define VX_LEDGER_TENANT_CACHE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tenant_cache tenant_cache;

/* A cache holding at most max_entries ids (at least 1). */
tenant_cache *tenant_cache_create(size_t max_entries);
void tenant_cache_destroy(tenant_cache *tc);
/* Whether `id` is cached; a hit makes it the most recently used. */
bool tenant_cache_get(tenant_cache *tc, const char *id);
/* Adds `id` (copied; at most 36 bytes are kept) as the most recently used, evicting the least
 * recently used entry when full. Adding a cached id only refreshes it. */
void tenant_cache_put(tenant_cache *tc, const char *id);
size_t tenant_cache_size(const tenant_cache *tc);

#endif
