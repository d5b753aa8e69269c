/* VX_* environment variables, parsed strictly: a bad value exits 78 naming the variable. */
#include "vx/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Noreturn void vx_config_fail(const char *name, const char *why)
{
    fprintf(stderr,
            "{\"level\":\"error\",\"msg\":\"bad "
            "configuration\",\"variable\":\"%s\",\"error\":\"%s\"}\n",
            name, why);
    exit(VX_EXIT_CONFIG);
}

const char *vx_env_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v && *v) ? v : def;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

int64_t vx_env_int(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *v = vx_env_str(name, NULL);
    if (!v)
        return def;
    int64_t x;
    if (!parse_i64(v, &x))
        vx_config_fail(name, "not an integer");
    if (x < min || x > max) {
        char why[128];
        snprintf(why, sizeof why, "%lld is outside %lld..%lld", (long long)x, (long long)min,
                 (long long)max);
        vx_config_fail(name, why);
    }
    return x;
}

bool vx_parse_duration_ms(const char *s, int64_t *out_ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return false;
    int64_t mult;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return false;
    if (v > INT64_MAX / mult)
        return false;
    *out_ms = v * mult;
    return true;
}

int64_t vx_env_duration_ms(const char *name, int64_t def_ms, int64_t min_ms, int64_t max_ms)
{
    const char *v = vx_env_str(name, NULL);
    if (!v)
        return def_ms;
    int64_t ms;
    if (!vx_parse_duration_ms(v, &ms))
        vx_config_fail(name, "not a duration (examples: 250ms, 5s, 2m, 1h)");
    if (ms < min_ms || ms > max_ms) {
        char why[128];
        snprintf(why, sizeof why, "%lld ms is outside %lld..%lld ms", (long long)ms,
                 (long long)min_ms, (long long)max_ms);
        vx_config_fail(name, why);
    }
    return ms;
}

bool vx_env_bool(const char *name, bool def)
{
    const char *v = vx_env_str(name, NULL);
    if (!v)
        return def;
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on"))
        return true;
    if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
        !strcasecmp(v, "off"))
        return false;
    vx_config_fail(name, "not a boolean (true/false)");
}

/* Appends s[0..len) to out (cap bytes, *used so far), always NUL-terminated, truncating. */
static void put(char *out, size_t cap, size_t *used, const char *s, size_t len)
{
    if (*used + 1 >= cap)
        return;
    size_t room = cap - 1 - *used;
    if (len > room)
        len = room;
    memcpy(out + *used, s, len);
    *used += len;
    out[*used] = '\0';
}

/* Whether s (at the start of a comma-separated element) begins with "scheme://". */
static bool starts_with_scheme(const char *s, const char *end)
{
    const char *p = s;
    while (p < end && (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
        p++;
    return p > s && end - p >= 3 && memcmp(p, "://", 3) == 0;
}

static bool ends_with(const char *key, size_t klen, const char *suffix)
{
    size_t n = strlen(suffix);
    return klen >= n && !strncasecmp(key + klen - n, suffix, n);
}

/* Query parameters whose value is a secret: *password, *passwd, pass, *token, *secret, *key
 * (sslpassword, access_token, api_key, apikey ...). */
static bool secret_key(const char *key, size_t klen)
{
    return ends_with(key, klen, "password") || ends_with(key, klen, "passwd") ||
           (klen == 4 && !strncasecmp(key, "pass", 4)) || ends_with(key, klen, "token") ||
           ends_with(key, klen, "secret") || ends_with(key, klen, "key");
}

/* One URL of a list: its userinfo is everything between "://" and the LAST '@' (a password may
 * hold '@', '/' or ':' written raw). With a ':' the user name before it stays; without one the
 * whole userinfo is a secret (a NATS token, a bare Redis password). Query parameters named
 * password, pass, token or secret are masked too. */
static void redact_one(const char *url, const char *end, char *out, size_t cap, size_t *used)
{
    /* without a scheme ("u:pw@host:4222", which NATS accepts) the userinfo starts at once */
    const char *auth = url;
    if (starts_with_scheme(url, end))
        auth = strstr(url, "://") + 3;
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *rest = url;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        put(out, cap, used, url, (size_t)((colon ? colon : auth) - url));
        put(out, cap, used, colon ? ":***" : "***", colon ? 4 : 3);
        rest = at;
    }
    /* key=value secrets after '?' or '&' (URL queries) */
    while (rest < end) {
        const char *sep = rest;
        while (sep < end && *sep != '?' && *sep != '&')
            sep++;
        put(out, cap, used, rest, (size_t)(sep - rest));
        if (sep == end)
            break;
        const char *key = sep + 1, *eq = key;
        while (eq < end && *eq != '=' && *eq != '&')
            eq++;
        size_t klen = (size_t)(eq - key);
        bool secret = eq < end && *eq == '=' && secret_key(key, klen);
        const char *vend = eq;
        while (vend < end && *vend != '&')
            vend++;
        put(out, cap, used, sep, (size_t)(secret ? eq + 1 - sep : vend - sep));
        if (secret)
            put(out, cap, used, "***", 3);
        rest = vend;
    }
}

/* libpq's key=value form ("host=h password=secret"): the value of password (quoted or not)
 * becomes ***. */
static void redact_conninfo(const char *s, char *out, size_t cap, size_t *used)
{
    const char *p = s;
    while (*p) {
        const char *hit = NULL;
        for (const char *q = p; *q; q++)
            if (!strncasecmp(q, "password", 8) &&
                (q == s || isspace((unsigned char)q[-1]) ||
                 (q - s >= 3 && !strncasecmp(q - 3, "ssl", 3) &&
                  (q - 3 == s || isspace((unsigned char)q[-4]))))) {
                const char *e = q + 8;
                while (isspace((unsigned char)*e))
                    e++;
                if (*e == '=') {
                    hit = q;
                    break;
                }
            }
        if (!hit) {
            put(out, cap, used, p, strlen(p));
            return;
        }
        const char *v = strchr(hit, '=') + 1;
        while (isspace((unsigned char)*v))
            v++;
        put(out, cap, used, p, (size_t)(v - p));
        put(out, cap, used, "***", 3);
        if (*v == '\'') {
            v++;
            while (*v && *v != '\'') {
                if (*v == '\\' && v[1])
                    v++;
                v++;
            }
            if (*v)
                v++;
        } else {
            while (*v && !isspace((unsigned char)*v))
                v++;
        }
        p = v;
    }
}

void vx_redact_url(const char *url, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = '\0';
    size_t used = 0;
    if (!url)
        return;
    /* libpq's key=value form: neither a scheme nor an '@' (a URL without a scheme still has
     * its userinfo masked below) */
    const char *end0 = url + strlen(url);
    if (!starts_with_scheme(url, end0) && !strchr(url, '@')) {
        redact_conninfo(url, out, cap, &used);
        return;
    }
    /* a list (NATS: "nats://a,nats://b"): split only where the next element starts with a
     * scheme, so that a ',' inside a password does not end its URL early */
    const char *start = url;
    const char *end = url + strlen(url);
    while (start < end) {
        const char *next = start;
        for (;;) {
            next = memchr(next, ',', (size_t)(end - next));
            if (!next || starts_with_scheme(next + 1, end))
                break;
            next++;
        }
        const char *stop = next ? next : end;
        redact_one(start, stop, out, cap, &used);
        if (!next)
            break;
        put(out, cap, &used, ",", 1);
        start = next + 1;
    }
}
