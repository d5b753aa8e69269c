/* Bearer-key parsing, constant-time secret checks, and the key lookup cache. */
#include "auth.h"

#include "vx/alloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

vx_status api_bearer_parse(const char *header, api_bearer *out)
{
    if (!header || strncmp(header, "Bearer ", 7) != 0)
        return VX_INVALID;
    const char *k = header + 7;
    while (*k == ' ')
        k++;
    if (strncmp(k, "vxk_", 4) != 0)
        return VX_INVALID;
    for (int i = 4; i < API_KEY_ID_LEN; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9')))
            return VX_INVALID;
    if (k[API_KEY_ID_LEN] != '.')
        return VX_INVALID;
    const char *s = k + API_KEY_ID_LEN + 1;
    size_t n = 0;
    while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))
        n++;
    const char *rest = s + n;
    while (*rest == ' ')
        rest++;
    if (n != API_KEY_SECRET_LEN || *rest)
        return VX_INVALID;
    memcpy(out->key_id, k, API_KEY_ID_LEN);
    out->key_id[API_KEY_ID_LEN] = '\0';
    memcpy(out->secret, s, API_KEY_SECRET_LEN);
    out->secret[API_KEY_SECRET_LEN] = '\0';
    return VX_OK;
}

bool api_secret_matches(const char *secret, const uint8_t want[32])
{
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(secret, strlen(secret), got, &len, EVP_sha256(), NULL) || len != 32)
        return false;
    return CRYPTO_memcmp(got, want, 32) == 0;
}

/* ---- cache: open addressing over key ids, evicting the oldest entry of a probe run ---- */

typedef struct {
    char key_id[API_KEY_ID_LEN + 1]; /* "" = free */
    bool known;
    api_key_record rec;
    int64_t stored_ms;
    int64_t refresh_ms; /* when a caller went to refresh this stale entry; 0: none */
} slot;

struct api_key_cache {
    pthread_mutex_t mu;
    slot *slots;
    size_t cap; /* a power of two */
    int64_t ttl_ms;
};

#define PROBES 8

api_key_cache *api_key_cache_create(size_t capacity, int64_t ttl_ms)
{
    api_key_cache *c = vx_xcalloc(1, sizeof *c);
    c->cap = 16;
    while (c->cap < capacity)
        c->cap *= 2;
    c->slots = vx_xcalloc(c->cap, sizeof *c->slots);
    c->ttl_ms = ttl_ms;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void api_key_cache_destroy(api_key_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    vx_free(c->slots);
    vx_free(c);
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot holding key_id, or NULL. Called with the lock held. */
static slot *find(api_key_cache *c, const char *key_id)
{
    size_t h = hash(key_id);
    for (size_t i = 0; i < PROBES; i++) {
        slot *s = &c->slots[(h + i) & (c->cap - 1)];
        if (strcmp(s->key_id, key_id) == 0)
            return s;
    }
    return NULL;
}

static slot *lookup_fresh(api_key_cache *c, const char *key_id, int64_t now_ms)
{
    slot *s = find(c, key_id);
    return s && now_ms - s->stored_ms < c->ttl_ms ? s : NULL;
}

bool api_key_cache_get(api_key_cache *c, const char *key_id, int64_t now_ms, api_key_record *out)
{
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, key_id);
    bool hit = false;
    if (s && s->known) {
        int64_t age = now_ms - s->stored_ms;
        if (age < c->ttl_ms) {
            hit = true;
        } else if (age < c->ttl_ms + API_KEY_REFRESH_MS) {
            /* Stale: the first caller refreshes it; while that refresh is in flight the others
             * keep the stale record, so an expiry does not send every request to Postgres. */
            if (s->refresh_ms != 0)
                hit = true;
            else
                s->refresh_ms = now_ms;
        }
    }
    if (hit)
        *out = s->rec;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

bool api_key_cache_unknown(api_key_cache *c, const char *key_id, int64_t now_ms)
{
    pthread_mutex_lock(&c->mu);
    slot *s = lookup_fresh(c, key_id, now_ms);
    bool unknown = s && !s->known;
    pthread_mutex_unlock(&c->mu);
    return unknown;
}

void api_key_cache_put(api_key_cache *c, const char *key_id, const api_key_record *rec,
                       int64_t now_ms)
{
    if (strlen(key_id) != API_KEY_ID_LEN)
        return;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, key_id);
    if (!s) {
        /* a free slot of the run, else its oldest entry */
        size_t h = hash(key_id);
        for (size_t i = 0; i < PROBES; i++) {
            slot *t = &c->slots[(h + i) & (c->cap - 1)];
            if (!t->key_id[0]) {
                s = t;
                break;
            }
            if (!s || t->stored_ms < s->stored_ms)
                s = t;
        }
    }
    memcpy(s->key_id, key_id, API_KEY_ID_LEN + 1);
    s->known = rec != NULL;
    if (rec)
        s->rec = *rec;
    s->stored_ms = now_ms;
    s->refresh_ms = 0;
    pthread_mutex_unlock(&c->mu);
}
