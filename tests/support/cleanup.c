/* What a test made on the shared stack and must remove: its JetStream streams and the Redis keys
 * of its tenants (see harness.h). Postgres rows stay: the ledger is append-only. */
#include "harness.h"

#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void h_delete_test_streams(const char *id)
{
    const char *url = getenv("VX_NATS_URL");
    if (!url || !*url)
        return;
    vx_bus_config bc = {.url = url, .name = "test-cleanup", .timeout_ms = 5000};
    vx_bus *bus = NULL;
    if (vx_bus_connect(&bc, &bus) != VX_OK) {
        fprintf(stderr, "h_delete_test_streams: NATS unreachable, streams of %s stay\n", id);
        return;
    }
    static const char *const kinds[] = {"T_EV_", "T_DLQ_"};
    for (size_t i = 0; i < 2; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s%s", kinds[i], id);
        vx_status st = vx_bus_delete_stream(bus, name);
        if (st != VX_OK && st != VX_NOT_FOUND)
            fprintf(stderr, "h_delete_test_streams: %s: %s\n", name, vx_status_str(st));
    }
    vx_bus_destroy(bus);
}

/* A connection to VX_REDIS_URL with its AUTH and SELECT done, or NULL. */
struct redisContext *h_redis_open(void)
{
    const char *url = getenv("VX_REDIS_URL");
    vx_redis_url u;
    if (!url || vx_redis_url_parse(url, &u, NULL, 0) != VX_OK)
        return NULL;
    redisContext *c = redisConnect(u.host, u.port);
    bool ok = c && !c->err;
    if (ok && u.password) {
        redisReply *r = u.user ? redisCommand(c, "AUTH %s %s", u.user, u.password)
                               : redisCommand(c, "AUTH %s", u.password);
        ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    if (ok && u.db != 0) {
        redisReply *r = redisCommand(c, "SELECT %d", u.db);
        ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    vx_redis_url_cleanup(&u);
    if (!ok) {
        if (c)
            redisFree(c);
        return NULL;
    }
    return c;
}

void h_redis_url_at(int port, int db, char *out, size_t cap)
{
    const char *url = getenv("VX_REDIS_URL");
    vx_redis_url u;
    char plain[64], *with = NULL;
    snprintf(plain, sizeof plain, "redis://127.0.0.1:%d/%d", port, db);
    if (url && vx_redis_url_parse(url, &u, NULL, 0) == VX_OK) {
        if (vx_redis_url_with_credentials(plain, u.user, u.password, &with, NULL, 0) != VX_OK)
            with = NULL;
        vx_redis_url_cleanup(&u);
    }
    snprintf(out, cap, "%s", with ? with : plain);
    vx_free(with);
}

long h_redis_delete_matching(const char *pattern)
{
    redisContext *c = h_redis_open();
    if (!c) {
        fprintf(stderr, "h_redis_delete_matching: Redis unreachable, %s stays\n", pattern);
        return 0;
    }
    long deleted = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *d =
                redisCommand(c, "DEL %b", keys->element[i]->str, (size_t)keys->element[i]->len);
            if (d && d->type == REDIS_REPLY_INTEGER)
                deleted += (long)d->integer;
            freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
    return deleted;
}

#define MAX_TRACKED 64

static char tracked[MAX_TRACKED][40];
static int n_tracked;

void h_track_tenant(const char *tenant)
{
    for (int i = 0; i < n_tracked; i++)
        if (strcmp(tracked[i], tenant) == 0)
            return;
    if (n_tracked < MAX_TRACKED)
        snprintf(tracked[n_tracked++], sizeof tracked[0], "%s", tenant);
    else
        fprintf(stderr, "h_track_tenant: more than %d tenants, %s not tracked\n", MAX_TRACKED,
                tenant);
}

void h_forget_tenants(void)
{
    if (!getenv("VX_REDIS_URL"))
        n_tracked = 0;
    for (int i = 0; i < n_tracked; i++) {
        char pattern[64];
        snprintf(pattern, sizeof pattern, "vx:*%.40s*", tracked[i]);
        h_redis_delete_matching(pattern);
    }
    n_tracked = 0;
}
