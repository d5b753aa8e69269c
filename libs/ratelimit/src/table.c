/* The in-process GCRA table (the Redis limiter's fallback): key -> theoretical arrival time, a
 * chained hash map over a growable entry array with an LRU list, bounded in size, behind one
 * mutex. */
#include "vx/ratelimit.h"

#include "vx/alloc.h"

#include <pthread.h>
#include <string.h>

#define NIL UINT32_MAX

typedef struct {
    char *key;
    size_t key_len;
    uint64_t hash;
    int64_t tat_us;
    uint32_t next; /* in the bucket's chain */
    uint32_t prev_lru, next_lru;
} entry;

struct vx_rl_table {
    pthread_mutex_t mu;
    entry *entries;
    size_t count, allocated, capacity;
    uint32_t *buckets;
    size_t bucket_mask;
    uint32_t lru_head, lru_tail; /* head: most recently used */
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

vx_rl_table *vx_rl_table_create(size_t capacity)
{
    if (capacity < 1)
        capacity = 1;
    if (capacity > NIL - 1)
        capacity = NIL - 1;
    vx_rl_table *t = vx_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->capacity = capacity;
    size_t nb = 16;
    while (nb < capacity)
        nb <<= 1;
    t->buckets = vx_xmalloc(nb * sizeof *t->buckets);
    for (size_t i = 0; i < nb; i++)
        t->buckets[i] = NIL;
    t->bucket_mask = nb - 1;
    t->lru_head = t->lru_tail = NIL;
    return t;
}

void vx_rl_table_destroy(vx_rl_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++)
        vx_free(t->entries[i].key);
    vx_free(t->entries);
    vx_free(t->buckets);
    pthread_mutex_destroy(&t->mu);
    vx_free(t);
}

static void lru_unlink(vx_rl_table *t, uint32_t i)
{
    entry *e = &t->entries[i];
    if (e->prev_lru != NIL)
        t->entries[e->prev_lru].next_lru = e->next_lru;
    else
        t->lru_head = e->next_lru;
    if (e->next_lru != NIL)
        t->entries[e->next_lru].prev_lru = e->prev_lru;
    else
        t->lru_tail = e->prev_lru;
    e->prev_lru = e->next_lru = NIL;
}

static void lru_push_front(vx_rl_table *t, uint32_t i)
{
    entry *e = &t->entries[i];
    e->prev_lru = NIL;
    e->next_lru = t->lru_head;
    if (t->lru_head != NIL)
        t->entries[t->lru_head].prev_lru = i;
    t->lru_head = i;
    if (t->lru_tail == NIL)
        t->lru_tail = i;
}

static uint32_t find(const vx_rl_table *t, const char *key, size_t len, uint64_t h)
{
    for (uint32_t i = t->buckets[h & t->bucket_mask]; i != NIL; i = t->entries[i].next) {
        const entry *e = &t->entries[i];
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return i;
    }
    return NIL;
}

static void bucket_remove(vx_rl_table *t, uint32_t i)
{
    uint32_t *link = &t->buckets[t->entries[i].hash & t->bucket_mask];
    while (*link != i)
        link = &t->entries[*link].next;
    *link = t->entries[i].next;
}

/* A slot for a new entry: a fresh one while below capacity, else the least recently used one,
 * unlinked and with its key freed. */
static uint32_t take_slot(vx_rl_table *t, int64_t now_us, bool *evicted_live)
{
    if (t->count < t->capacity) {
        if (t->count == t->allocated) {
            size_t n = t->allocated ? t->allocated * 2 : 64;
            if (n > t->capacity)
                n = t->capacity;
            t->entries = vx_xrealloc(t->entries, n * sizeof *t->entries);
            t->allocated = n;
        }
        return (uint32_t)t->count++;
    }
    uint32_t i = t->lru_tail;
    *evicted_live = t->entries[i].tat_us > now_us;
    lru_unlink(t, i);
    bucket_remove(t, i);
    vx_free(t->entries[i].key);
    return i;
}

vx_status vx_rl_table_check(vx_rl_table *t, const char *key, size_t key_len,
                            const vx_plan_rate *lim, int64_t cost, int64_t now_us,
                            vx_rl_gcra_result *out, bool *evicted_live)
{
    *evicted_live = false;
    uint64_t h = fnv1a(key, key_len);
    pthread_mutex_lock(&t->mu);
    uint32_t i = find(t, key, key_len, h);
    vx_rl_gcra_result r;
    vx_status st = vx_rl_gcra(i == NIL ? 0 : t->entries[i].tat_us, now_us, lim, cost, &r);
    if (st == VX_OK && r.allowed && cost > 0) {
        if (i == NIL) {
            i = take_slot(t, now_us, evicted_live);
            entry *e = &t->entries[i];
            e->key = vx_xstrndup(key, key_len);
            e->key_len = key_len;
            e->hash = h;
            e->next = t->buckets[h & t->bucket_mask];
            t->buckets[h & t->bucket_mask] = i;
            e->prev_lru = e->next_lru = NIL;
        } else {
            lru_unlink(t, i);
        }
        t->entries[i].tat_us = r.tat_us;
        lru_push_front(t, i);
    }
    pthread_mutex_unlock(&t->mu);
    if (st == VX_OK)
        *out = r;
    return st;
}

size_t vx_rl_table_size(vx_rl_table *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}
