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

void vx_redact_url(const char *url, char *out, size_t cap)
{
    if (!cap)
        return;
    snprintf(out, cap, "%s", url);
    /* scheme://user:password@host → scheme://user:***@host */
    const char *scheme = strstr(url, "://");
    if (!scheme)
        return;
    const char *auth = scheme + 3;
    const char *at = strchr(auth, '@');
    const char *slash = strchr(auth, '/');
    if (!at || (slash && slash < at))
        return;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon)
        return;
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}
