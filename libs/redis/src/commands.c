/* The commands: GET, SET with expiry, DEL, and Lua scripts run by EVALSHA with the EVAL
 * fallback on NOSCRIPT. Replies are checked for the type each command promises. */
#include "redis_internal.h"

#include "vx/alloc.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static vx_status check_key(const char *key)
{
    return key != NULL && key[0] != '\0' ? VX_OK : VX_INVALID;
}

/* A reply that is not what the command promises (or an error reply): VX_INTERNAL. */
static vx_status unexpected(redisReply *rep, char *why, size_t cap)
{
    if (rep->type == REDIS_REPLY_ERROR)
        vx_errf(why, cap, "redis: %.*s", (int)(rep->len > 200 ? 200 : rep->len), rep->str);
    else
        vx_errf(why, cap, "redis: unexpected reply type %d", rep->type);
    freeReplyObject(rep);
    return VX_INTERNAL;
}

vx_status vx_redis_get(vx_redis *r, const char *key, char **val, size_t *len)
{
    if (r == NULL || check_key(key) != VX_OK || val == NULL || len == NULL)
        return VX_INVALID;
    const char *argv[2] = {"GET", key};
    redisReply *rep = NULL;
    vx_status st = redis_run(r, 2, argv, NULL, true, NULL, &rep, NULL, 0);
    if (st != VX_OK)
        return st;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return VX_NOT_FOUND;
    }
    if (rep->type != REDIS_REPLY_STRING)
        return unexpected(rep, NULL, 0);
    char *copy = vx_xmalloc(rep->len + 1);
    memcpy(copy, rep->str, rep->len);
    copy[rep->len] = '\0';
    *val = copy;
    *len = rep->len;
    freeReplyObject(rep);
    return VX_OK;
}

vx_status vx_redis_set(vx_redis *r, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    if (r == NULL || check_key(key) != VX_OK || (val == NULL && len > 0))
        return VX_INVALID;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    const char *argv[5] = {"SET", key, val != NULL ? val : "", "PX", ttl};
    size_t lens[5] = {3, strlen(key), len, 2, strlen(ttl)};
    redisReply *rep = NULL;
    vx_status st = redis_run(r, ttl_ms > 0 ? 5 : 3, argv, lens, true, NULL, &rep, NULL, 0);
    if (st != VX_OK)
        return st;
    if (rep->type != REDIS_REPLY_STATUS)
        return unexpected(rep, NULL, 0);
    freeReplyObject(rep);
    return VX_OK;
}

vx_status vx_redis_del(vx_redis *r, const char *key)
{
    if (r == NULL || check_key(key) != VX_OK)
        return VX_INVALID;
    const char *argv[2] = {"DEL", key};
    redisReply *rep = NULL;
    vx_status st = redis_run(r, 2, argv, NULL, true, NULL, &rep, NULL, 0);
    if (st != VX_OK)
        return st;
    if (rep->type != REDIS_REPLY_INTEGER)
        return unexpected(rep, NULL, 0);
    freeReplyObject(rep);
    return VX_OK;
}

vx_redis_script *vx_redis_script_create(const char *lua)
{
    if (lua == NULL)
        return NULL;
    vx_redis_script *s = vx_xcalloc(1, sizeof *s);
    s->lua = vx_xstrdup(lua);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s->lua, strlen(s->lua), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n && i < 20; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    s->sha[40] = '\0';
    return s;
}

void vx_redis_script_destroy(vx_redis_script *s)
{
    if (s == NULL)
        return;
    vx_free(s->lua);
    vx_free(s);
}

static vx_status read_ints(redisReply *rep, int64_t *out, size_t out_cap, size_t *n, char *why,
                           size_t cap)
{
    if (rep->type == REDIS_REPLY_INTEGER) {
        if (out_cap > 0)
            out[0] = rep->integer;
        *n = out_cap > 0 ? 1 : 0;
        freeReplyObject(rep);
        return VX_OK;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        return unexpected(rep, why, cap);
    if (rep->type != REDIS_REPLY_ARRAY) {
        vx_errf(why, cap, "script returned neither an integer nor an array of integers");
        freeReplyObject(rep);
        return VX_INTERNAL;
    }
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
            vx_errf(why, cap, "script returned a non-integer at index %zu%s", i,
                    rep->element[i]->type == REDIS_REPLY_ARRAY ? " (nested array)" : "");
            freeReplyObject(rep);
            return VX_INTERNAL;
        }
    size_t k = rep->elements < out_cap ? rep->elements : out_cap;
    for (size_t i = 0; i < k; i++)
        out[i] = rep->element[i]->integer;
    *n = k;
    freeReplyObject(rep);
    return VX_OK;
}

vx_status vx_redis_eval_ints(vx_redis *r, const vx_redis_script *s, const char *const *keys,
                             int nkeys, const char *const *args, int nargs, int64_t *out,
                             size_t out_cap, size_t *n, char *why, size_t why_cap)
{
    if (r == NULL || s == NULL || n == NULL || (out == NULL && out_cap > 0) || nkeys < 0 ||
        nargs < 0 || nkeys > REDIS_SCRIPT_MAX_ARGS || nargs > REDIS_SCRIPT_MAX_ARGS ||
        (nkeys > 0 && keys == NULL) || (nargs > 0 && args == NULL)) {
        vx_errf(why, why_cap, "bad script call arguments");
        return VX_INVALID;
    }
    const char *argv[3 + 2 * REDIS_SCRIPT_MAX_ARGS];
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int argc = 0;
    argv[argc++] = "EVALSHA";
    argv[argc++] = s->sha;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++) {
        if (keys[i] == NULL) {
            vx_errf(why, why_cap, "key %d is NULL", i);
            return VX_INVALID;
        }
        argv[argc++] = keys[i];
    }
    for (int i = 0; i < nargs; i++) {
        if (args[i] == NULL) {
            vx_errf(why, why_cap, "argument %d is NULL", i);
            return VX_INVALID;
        }
        argv[argc++] = args[i];
    }
    redisReply *rep = NULL;
    vx_status st = redis_run(r, argc, argv, NULL, false, "NOSCRIPT", &rep, why, why_cap);
    if (st != VX_OK)
        return st;
    if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        /* Not loaded (new server, restart, SCRIPT FLUSH): EVAL runs it and caches it. */
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = s->lua;
        st = redis_run(r, argc, argv, NULL, false, NULL, &rep, why, why_cap);
        if (st != VX_OK)
            return st;
    }
    return read_ints(rep, out, out_cap, n, why, why_cap);
}
