/* API-key authentication, pure: parsing "Authorization: Bearer vxk_<id>.<secret>", checking a
 * secret against its stored SHA-256 in constant time, and a short-lived in-memory cache of key
 * lookups (thread-safe) so that most requests need no database round trip. */
#ifndef VX_API_AUTH_H
#define VX_API_AUTH_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_KEY_ID_LEN 16     /* "vxk_" + 12 */
#define API_KEY_SECRET_LEN 64 /* hex */

typedef struct {
    char key_id[API_KEY_ID_LEN + 1];
    char secret[API_KEY_SECRET_LEN + 1];
} api_bearer;

/* Parses the Authorization header value. VX_INVALID for anything but a well-formed bearer key;
 * callers answer 401 without saying which part was wrong. */
vx_status api_bearer_parse(const char *header, api_bearer *out);

/* Whether SHA-256(secret) equals want, compared in constant time. */
bool api_secret_matches(const char *secret, const uint8_t want[32]);

/* What a key lookup returns (vx_api_key_lookup in db/migrations/0002). */
typedef struct {
    char tenant_id[37];
    uint8_t secret_sha256[32];
    bool revoked;
    char plan[16];
    int api_per_min, llm_per_day, remediation_per_hour; /* 0: the plan's value */
} api_key_record;

typedef struct api_key_cache api_key_cache;

/* How long past its TTL a key's record may still be served while one caller refreshes it. */
#define API_KEY_REFRESH_MS 1000

/* A cache of at most `capacity` keys, each kept ttl_ms. */
api_key_cache *api_key_cache_create(size_t capacity, int64_t ttl_ms);
void api_key_cache_destroy(api_key_cache *c);
/* Copies the cached record of key_id into *out if present and fresh at now_ms. Once stale (up to
 * API_KEY_REFRESH_MS past the TTL) the first caller gets false and is expected to look the key
 * up and put it; callers meanwhile still get the stale record. Later than that everyone gets
 * false (so a revocation takes effect within the TTL plus API_KEY_REFRESH_MS). */
bool api_key_cache_get(api_key_cache *c, const char *key_id, int64_t now_ms, api_key_record *out);
/* Remembers a lookup (found or not: an unknown key is cached too, so a flood of bad keys does
 * not reach the database each time). A NULL rec caches "no such key". */
void api_key_cache_put(api_key_cache *c, const char *key_id, const api_key_record *rec,
                       int64_t now_ms);
/* Whether key_id is cached as unknown at now_ms. */
bool api_key_cache_unknown(api_key_cache *c, const char *key_id, int64_t now_ms);

#endif
