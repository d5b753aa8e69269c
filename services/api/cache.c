/* Answer cache with per-tenant generations (see cache.h). */
#include "cache.h"

#include "vx/alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

typedef struct gen_node {
    char tenant[37];
    uint64_t gen;
    struct gen_node *next;
} gen_node;

typedef struct {
    char *key; /* tenant "\x1f" query; NULL = free */
    char tenant[37];
    uint64_t gen, epoch;
    int64_t stored_ms;
    int64_t refresh_ms; /* when a caller went to refresh it after its max age; 0 = none */
    char *body;
    size_t len;
} entry;

#define GEN_BUCKETS 1024

struct api_cache {
    pthread_mutex_t mu;
    entry *slots;
    size_t n_slots;
    size_t bytes, max_bytes, max_answer_bytes;
    int64_t max_age_ms;
    gen_node *gens[GEN_BUCKETS];
};

static uint64_t hash(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ULL;
    h = (h ^ 0x1f) * 1099511628211ULL;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ULL;
    return h;
}

api_cache *api_cache_create(size_t slots, size_t max_bytes, size_t max_answer_bytes,
                            int64_t max_age_ms)
{
    api_cache *c = vx_xcalloc(1, sizeof *c);
    c->max_bytes = max_bytes;
    c->max_answer_bytes = max_answer_bytes;
    c->max_age_ms = max_age_ms;
    c->n_slots = slots ? slots : 1;
    c->slots = vx_xcalloc(c->n_slots, sizeof *c->slots);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void api_cache_destroy(api_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_slots; i++) {
        vx_free(c->slots[i].key);
        vx_free(c->slots[i].body);
    }
    for (size_t i = 0; i < GEN_BUCKETS; i++) {
        for (gen_node *n = c->gens[i]; n;) {
            gen_node *next = n->next;
            vx_free(n);
            n = next;
        }
    }
    vx_free(c->slots);
    pthread_mutex_destroy(&c->mu);
    vx_free(c);
}

/* The tenant's node, made if missing when create. Called with the lock held. */
static gen_node *gen_of(api_cache *c, const char *tenant, bool create)
{
    gen_node **b = &c->gens[hash(tenant, NULL) % GEN_BUCKETS];
    for (gen_node *n = *b; n; n = n->next)
        if (strcmp(n->tenant, tenant) == 0)
            return n;
    if (!create)
        return NULL;
    gen_node *n = vx_xcalloc(1, sizeof *n);
    memcpy(n->tenant, tenant, strnlen(tenant, 36));
    n->next = *b;
    *b = n;
    return n;
}

uint64_t api_cache_generation(api_cache *c, const char *tenant)
{
    pthread_mutex_lock(&c->mu);
    gen_node *n = gen_of(c, tenant, false);
    uint64_t g = n ? n->gen : 0;
    pthread_mutex_unlock(&c->mu);
    return g;
}

void api_cache_bump(api_cache *c, const char *tenant)
{
    pthread_mutex_lock(&c->mu);
    gen_of(c, tenant, true)->gen++;
    pthread_mutex_unlock(&c->mu);
}

char *api_cache_get(api_cache *c, const char *tenant, const char *key, uint64_t epoch,
                    int64_t now_ms, size_t *len)
{
    char *out = NULL;
    pthread_mutex_lock(&c->mu);
    entry *e = &c->slots[hash(tenant, key) % c->n_slots];
    gen_node *n = gen_of(c, tenant, false);
    uint64_t gen = n ? n->gen : 0;
    size_t tl = strlen(tenant);
    bool fresh = false;
    if (e->key && strncmp(e->key, tenant, tl) == 0 && e->key[tl] == '\x1f' &&
        strcmp(e->key + tl + 1, key) == 0 && e->gen == gen && e->epoch == epoch) {
        if (now_ms - e->stored_ms < c->max_age_ms) {
            fresh = true;
        } else if (e->refresh_ms == 0 || now_ms - e->refresh_ms > 10000) {
            /* past its age: this caller refreshes it; until then the others keep it (no
             * announcement or disconnect has made it stale, only time) */
            e->refresh_ms = now_ms;
        } else {
            fresh = true;
        }
    }
    if (fresh) {
        out = vx_xmalloc(e->len + 1);
        memcpy(out, e->body, e->len);
        out[e->len] = '\0';
        *len = e->len;
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

void api_cache_put(api_cache *c, const char *tenant, const char *key, uint64_t gen, uint64_t epoch,
                   int64_t now_ms, const char *body, size_t len)
{
    if (len > c->max_answer_bytes)
        return;
    char *k = vx_xasprintf("%s\x1f%s", tenant, key);
    char *b = vx_xmalloc(len + 1);
    memcpy(b, body, len);
    b[len] = '\0';
    pthread_mutex_lock(&c->mu);
    entry *e = &c->slots[hash(tenant, key) % c->n_slots];
    if (c->bytes - e->len + len > c->max_bytes) {
        pthread_mutex_unlock(&c->mu);
        vx_free(k);
        vx_free(b);
        return;
    }
    char *old_key = e->key, *old_body = e->body;
    c->bytes = c->bytes - e->len + len;
    e->key = k;
    e->body = b;
    e->len = len;
    e->gen = gen;
    e->epoch = epoch;
    e->stored_ms = now_ms;
    e->refresh_ms = 0;
    pthread_mutex_unlock(&c->mu);
    vx_free(old_key);
    vx_free(old_body);
}
