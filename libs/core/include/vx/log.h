/* Structured logging: one JSON object per line on stderr with ts, level, service, msg and the
 * fields given. Levels are checked before anything is formatted. Thread-safe: each line is
 * written with one write(2). Never pass secrets as fields. */
#ifndef VX_LOG_H
#define VX_LOG_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { VX_LOG_DEBUG, VX_LOG_INFO, VX_LOG_WARN, VX_LOG_ERROR, VX_LOG_OFF } vx_log_level;

typedef enum { VX_LOGF_STR, VX_LOGF_INT, VX_LOGF_DBL, VX_LOGF_BOOL } vx_log_field_type;

typedef struct {
    const char *key;
    vx_log_field_type type;
    const char *s; /* borrowed; NULL logs null */
    int64_t i;
    double d;
} vx_log_field;

#define VX_STR(k, v) ((vx_log_field){.key = (k), .type = VX_LOGF_STR, .s = (v)})
#define VX_INT(k, v) ((vx_log_field){.key = (k), .type = VX_LOGF_INT, .i = (int64_t)(v)})
#define VX_DBL(k, v) ((vx_log_field){.key = (k), .type = VX_LOGF_DBL, .d = (double)(v)})
#define VX_BOOL(k, v) ((vx_log_field){.key = (k), .type = VX_LOGF_BOOL, .i = (v) ? 1 : 0})

/* Sets the service name written on every line and the lowest level written. `service` is
 * copied. Call once at start, before threads. */
void vx_log_init(const char *service, vx_log_level min_level);

/* Parses "debug", "info", "warn", "error", "off"; false if `s` is none of them. */
VX_MUST_CHECK bool vx_log_level_parse(const char *s, vx_log_level *out);

/* Sends lines to `fd` instead of stderr (tests). */
void vx_log_set_fd(int fd);

bool vx_log_enabled(vx_log_level level);

/* Writes one line. Prefer the macros, which skip all work below the level. */
void vx_log_write(vx_log_level level, const char *msg, const vx_log_field *fields, size_t n);

/* vx_log(VX_LOG_INFO, "batch written", VX_INT("events", n), VX_STR("tenant_id", t)); */
#define vx_log(level, msg, ...)                                                                    \
    do {                                                                                           \
        if (vx_log_enabled(level)) {                                                               \
            const vx_log_field vx_log_f_[] = {__VA_ARGS__};                                        \
            vx_log_write((level), (msg), vx_log_f_, sizeof vx_log_f_ / sizeof vx_log_f_[0]);       \
        }                                                                                          \
    } while (0)

/* A line with no fields. */
#define vx_logm(level, msg)                                                                        \
    do {                                                                                           \
        if (vx_log_enabled(level))                                                                 \
            vx_log_write((level), (msg), NULL, 0);                                                 \
    } while (0)

/* Appends `s` JSON-escaped (without quotes) to buf[*len..cap); returns false if it did not fit.
 * Shared by everything that writes JSON by hand. */
VX_MUST_CHECK bool vx_json_escape(char *buf, size_t cap, size_t *len, const char *s);

#endif
