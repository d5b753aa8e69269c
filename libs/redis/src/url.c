/* vx_redis_url_parse: redis://[[user]:password@]host[:port][/db], with %XX escapes in the user
 * and password so that any byte can be carried. */
#include "vx/redis.h"

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/hex.h"

#include <string.h>

#define URL_MAX 2048

void vx_redis_url_cleanup(vx_redis_url *u)
{
    if (u == NULL)
        return;
    vx_free(u->host);
    vx_free(u->user);
    vx_free(u->password);
    memset(u, 0, sizeof *u);
}

/* Copies [a, b) decoding %XX; false on a bad escape or an escaped NUL. */
static bool decode_range(const char *a, const char *b, char **out)
{
    char *s = vx_xmalloc((size_t)(b - a) + 1);
    size_t n = 0;
    for (const char *p = a; p < b; p++) {
        if (*p != '%') {
            s[n++] = *p;
            continue;
        }
        int hi = b - p < 3 ? -1 : vx_hex_digit(p[1]), lo = hi < 0 ? -1 : vx_hex_digit(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            vx_free(s);
            return false;
        }
        s[n++] = (char)(hi * 16 + lo);
        p += 2;
    }
    s[n] = '\0';
    *out = s;
    return true;
}

/* A decimal in [min, max] spanning exactly [a, b). */
static bool parse_int_range(const char *a, const char *b, long min, long max, int *out)
{
    if (a == b || b - a > 9)
        return false;
    long v = 0;
    for (const char *p = a; p < b; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

vx_status vx_redis_url_parse(const char *url, vx_redis_url *out, char *why, size_t why_cap)
{
    static const char scheme[] = "redis://";
    vx_redis_url u = {.port = 6379};
    const char *msg = NULL;
    if (out == NULL)
        return VX_INVALID;
    if (url == NULL || url[0] == '\0') {
        msg = "empty URL";
        goto fail;
    }
    if (strlen(url) > URL_MAX) {
        msg = "URL too long";
        goto fail;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        msg = "rediss:// (TLS) is not supported";
        goto fail;
    }
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        msg = "must start with redis://";
        goto fail;
    }
    const char *p = url + sizeof scheme - 1;
    const char *end = p + strcspn(p, "/?#");
    if (*end == '?' || *end == '#') {
        msg = "query strings and fragments are not supported";
        goto fail;
    }
    /* The last '@' before the path ends the credentials, so a password may hold '@'. */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        bool ok;
        if (colon != NULL) {
            ok = (colon == p || decode_range(p, colon, &u.user)) &&
                 decode_range(colon + 1, at, &u.password);
        } else {
            /* redis://secret@host: a bare word is the password (Redis before ACLs) */
            ok = decode_range(p, at, &u.password);
        }
        if (!ok) {
            msg = "bad %-escape in the user or password";
            goto fail;
        }
        if (u.password != NULL && u.password[0] == '\0') {
            vx_free(u.password);
            u.password = NULL;
        }
        if (u.user != NULL && u.password == NULL) {
            msg = "a user needs a password";
            goto fail;
        }
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *host_end = colon ? colon : end;
    if (host_end == p) {
        msg = "no host";
        goto fail;
    }
    for (const char *q = p; q < host_end; q++)
        if (!host_char_ok(*q)) {
            msg = *q == '[' ? "IPv6 literals are not supported" : "bad character in the host";
            goto fail;
        }
    u.host = vx_xstrndup(p, (size_t)(host_end - p));
    if (colon && !parse_int_range(colon + 1, end, 1, 65535, &u.port)) {
        msg = "port must be a number from 1 to 65535";
        goto fail;
    }
    if (*end == '/' && end[1] != '\0' &&
        !parse_int_range(end + 1, end + strlen(end), 0, 1 << 20, &u.db)) {
        msg = "database must be a number from 0 to 1048576";
        goto fail;
    }
    *out = u;
    return VX_OK;
fail:
    vx_redis_url_cleanup(&u);
    memset(out, 0, sizeof *out);
    vx_errf(why, why_cap, "bad Redis URL: %s", msg);
    return VX_INVALID;
}

/* Appends s percent-encoded where a URL's userinfo needs it. */
static void put_escaped(vx_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            vx_buf_putc(b, (char)*p);
        } else {
            vx_buf_putc(b, '%');
            vx_buf_putc(b, hex[*p >> 4]);
            vx_buf_putc(b, hex[*p & 15]);
        }
    }
}

vx_status vx_redis_url_with_credentials(const char *url, const char *user, const char *password,
                                        char **out, char *why, size_t why_cap)
{
    vx_redis_url u;
    vx_status st = vx_redis_url_parse(url, &u, why, why_cap);
    if (st != VX_OK)
        return st;
    const char *use_user = user != NULL && user[0] != '\0' ? user : u.user;
    const char *use_pw = password != NULL && password[0] != '\0' ? password : u.password;
    vx_buf b;
    vx_buf_init(&b);
    vx_buf_puts(&b, "redis://");
    if (use_pw != NULL) {
        if (use_user != NULL)
            put_escaped(&b, use_user);
        vx_buf_putc(&b, ':');
        put_escaped(&b, use_pw);
        vx_buf_putc(&b, '@');
    }
    vx_buf_printf(&b, "%s:%d/%d", u.host, u.port, u.db);
    vx_redis_url_cleanup(&u);
    *out = vx_buf_take(&b, NULL);
    return VX_OK;
}
