/* The answer cache of the read endpoints: answers keyed by tenant and query, each stored with
 * the tenant's generation and the NATS disconnect count of the moment its query started. Ingest
 * announces every commit of a tenant (valdrix.changed.<tenant>), which bumps the generation, so
 * an entry is served only while no commit of its tenant has been announced since its query
 * began, and never across a NATS disconnect (announcements may have been missed). Thread-safe. */
#ifndef VX_API_CACHE_H
#define VX_API_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct api_cache api_cache;

/* Room for `slots` answers (direct-mapped: a newer answer replaces an older one in its slot),
 * at most max_bytes of them in all and none larger than max_answer_bytes, none served after
 * max_age_ms: an announcement lost without a disconnect (a crash between commit and announce, a
 * half-open link) leaves an answer stale for at most that long plus one query. Past its age an
 * answer is refreshed by the first caller while the others keep getting it; an answer made
 * stale by an announcement or a disconnect is never served. */
api_cache *api_cache_create(size_t slots, size_t max_bytes, size_t max_answer_bytes,
                            int64_t max_age_ms);
void api_cache_destroy(api_cache *c);

/* The tenant's generation now (0 until its first announcement). */
uint64_t api_cache_generation(api_cache *c, const char *tenant);
/* An announcement: every cached answer of the tenant is stale from now on. */
void api_cache_bump(api_cache *c, const char *tenant);

/* A copy (caller frees with vx_free) of the answer for (tenant, key) if it is fresh for
 * `epoch` (the current disconnect count); NULL otherwise. */
char *api_cache_get(api_cache *c, const char *tenant, const char *key, uint64_t epoch,
                    int64_t now_ms, size_t *len);
/* Stores an answer computed from data read after generation `gen` and epoch were taken. */
void api_cache_put(api_cache *c, const char *tenant, const char *key, uint64_t gen, uint64_t epoch,
                   int64_t now_ms, const char *body, size_t len);

#endif
