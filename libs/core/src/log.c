/* JSON-lines logger: formats into a stack buffer and writes each line with one write(2). */
#include "vx/log.h"

#include "vx/clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 8192

static char service_name[64] = "valdrix";
static vx_log_level min_level = VX_LOG_INFO;
static int out_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void vx_log_init(const char *service, vx_log_level level)
{
    snprintf(service_name, sizeof service_name, "%s", service ? service : "valdrix");
    min_level = level;
}

bool vx_log_level_parse(const char *s, vx_log_level *out)
{
    for (int i = 0; i <= VX_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (vx_log_level)i;
            return true;
        }
    }
    return false;
}

void vx_log_set_fd(int fd)
{
    out_fd = fd;
}

bool vx_log_enabled(vx_log_level level)
{
    return level >= min_level && level < VX_LOG_OFF;
}

bool vx_json_escape(char *buf, size_t cap, size_t *len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *len;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc = 0;
        switch (*p) {
        case '"':
            esc = '"';
            break;
        case '\\':
            esc = '\\';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        case '\t':
            esc = 't';
            break;
        default:
            break;
        }
        if (esc) {
            if (n + 2 >= cap)
                return false;
            buf[n++] = '\\';
            buf[n++] = esc;
        } else if (*p < 0x20) {
            if (n + 6 >= cap)
                return false;
            memcpy(buf + n, "\\u00", 4);
            buf[n + 4] = hex[*p >> 4];
            buf[n + 5] = hex[*p & 15];
            n += 6;
        } else {
            if (n + 1 >= cap)
                return false;
            buf[n++] = (char)*p;
        }
    }
    *len = n;
    return true;
}

static void append(char *buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n < LINE_MAX_BYTES - 2) {
        memcpy(buf + *len, s, n);
        *len += n;
    }
}

static void append_str(char *buf, size_t *len, const char *s)
{
    append(buf, len, "\"");
    if (!vx_json_escape(buf, LINE_MAX_BYTES - 8, len, s))
        append(buf, len, "...");
    append(buf, len, "\"");
}

void vx_log_write(vx_log_level level, const char *msg, const vx_log_field *fields, size_t n)
{
    if (!vx_log_enabled(level))
        return;
    int saved_errno = errno;
    char buf[LINE_MAX_BYTES];
    size_t len = 0;
    char ts[96];
    int64_t ms = vx_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    append(buf, &len, "{\"ts\":\"");
    append(buf, &len, ts);
    append(buf, &len, "\",\"level\":\"");
    append(buf, &len, level_names[level]);
    append(buf, &len, "\",\"service\":");
    append_str(buf, &len, service_name);
    append(buf, &len, ",\"msg\":");
    append_str(buf, &len, msg ? msg : "");
    for (size_t i = 0; i < n; i++) {
        char num[64];
        append(buf, &len, ",");
        append_str(buf, &len, fields[i].key);
        append(buf, &len, ":");
        switch (fields[i].type) {
        case VX_LOGF_STR:
            if (fields[i].s)
                append_str(buf, &len, fields[i].s);
            else
                append(buf, &len, "null");
            break;
        case VX_LOGF_INT:
            snprintf(num, sizeof num, "%lld", (long long)fields[i].i);
            append(buf, &len, num);
            break;
        case VX_LOGF_DBL:
            if (isfinite(fields[i].d))
                snprintf(num, sizeof num, "%.6g", fields[i].d);
            else
                snprintf(num, sizeof num, "null");
            append(buf, &len, num);
            break;
        case VX_LOGF_BOOL:
            append(buf, &len, fields[i].i ? "true" : "false");
            break;
        }
    }
    buf[len++] = '}';
    buf[len++] = '\n';
    ssize_t off = 0;
    while ((size_t)off < len) {
        ssize_t w = write(out_fd, buf + off, len - (size_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
    errno = saved_errno;
}
