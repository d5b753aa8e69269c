/* The ledger's tenant cache: a chained hash table over nodes that also sit on a doubly linked
 * recency list, so lookups, insertions and evictions are all O(1) and memory stays bounded. */
#include "tenant_cache.h"

#include "vx/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct node {
    char id[37];
    struct node *prev, *next; /* recency: head is the most recently used */
    struct node *chain;       /* next in the same bucket */
} node;

struct tenant_cache {
    node **buckets;
    size_t n_buckets; /* a power of two */
    node *head, *tail;
    size_t n, max;
};

tenant_cache *tenant_cache_create(size_t max_entries)
{
    tenant_cache *tc = vx_xcalloc(1, sizeof *tc);
    tc->max = max_entries ? max_entries : 1;
    tc->n_buckets = 16;
    while (tc->n_buckets < tc->max && tc->n_buckets < ((size_t)1 << 24))
        tc->n_buckets *= 2;
    tc->buckets = vx_xcalloc(tc->n_buckets, sizeof *tc->buckets);
    return tc;
}

void tenant_cache_destroy(tenant_cache *tc)
{
    if (!tc)
        return;
    for (node *n = tc->head; n;) {
        node *next = n->next;
        vx_free(n);
        n = next;
    }
    vx_free(tc->buckets);
    vx_free(tc);
}

static size_t bucket_of(const tenant_cache *tc, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) & (tc->n_buckets - 1);
}

static node *find(const tenant_cache *tc, const char *id, size_t b)
{
    for (node *n = tc->buckets[b]; n; n = n->chain)
        if (strcmp(n->id, id) == 0)
            return n;
    return NULL;
}

static void unlink_recency(tenant_cache *tc, node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        tc->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        tc->tail = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(tenant_cache *tc, node *n)
{
    n->prev = NULL;
    n->next = tc->head;
    if (tc->head)
        tc->head->prev = n;
    tc->head = n;
    if (!tc->tail)
        tc->tail = n;
}

bool tenant_cache_get(tenant_cache *tc, const char *id)
{
    node *n = find(tc, id, bucket_of(tc, id));
    if (!n)
        return false;
    if (n != tc->head) {
        unlink_recency(tc, n);
        push_front(tc, n);
    }
    return true;
}

static void evict_oldest(tenant_cache *tc)
{
    node *old = tc->tail;
    unlink_recency(tc, old);
    for (node **p = &tc->buckets[bucket_of(tc, old->id)]; *p; p = &(*p)->chain) {
        if (*p == old) {
            *p = old->chain;
            break;
        }
    }
    vx_free(old);
    tc->n--;
}

void tenant_cache_put(tenant_cache *tc, const char *id)
{
    char key[37];
    snprintf(key, sizeof key, "%.36s", id);
    if (tenant_cache_get(tc, key))
        return;
    if (tc->n >= tc->max)
        evict_oldest(tc);
    node *n = vx_xcalloc(1, sizeof *n);
    memcpy(n->id, key, sizeof key);
    size_t b = bucket_of(tc, key);
    n->chain = tc->buckets[b];
    tc->buckets[b] = n;
    push_front(tc, n);
    tc->n++;
}

size_t tenant_cache_size(const tenant_cache *tc)
{
    return tc->n;
}
