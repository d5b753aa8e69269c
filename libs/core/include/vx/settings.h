/* A program's VX_* settings as one table: the same rows read the environment into a config
 * struct and print the --help text, so the help cannot name a variable that is not read, nor
 * miss one that is. */
#ifndef VX_SETTINGS_H
#define VX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    VX_SETTING_STR,       /* const char * (borrowed from the environment or the default) */
    VX_SETTING_INT,       /* int, within [min, max] */
    VX_SETTING_INT64,     /* int64_t, within [min, max] */
    VX_SETTING_DURATION,  /* int64_t milliseconds ("250ms", "5s", "2m", "1h"), within [min, max] */
    VX_SETTING_BOOL,      /* bool: true/false, 1/0, yes/no, on/off */
    VX_SETTING_LOG_LEVEL, /* vx_log_level: debug, info, warn, error, off */
    VX_SETTING_NOTE       /* no variable: help text only (settings read elsewhere); a newline is
                             added unless it ends with one */
} vx_setting_kind;

/* Checks a string value; false with a reason in why (cap bytes) refuses it (exit 78). */
typedef bool (*vx_setting_check)(const char *value, char *why, size_t cap);

typedef struct {
    const char *name; /* "VX_FORECAST_WORKERS"; for VX_SETTING_NOTE the text printed as is */
    vx_setting_kind kind;
    size_t offset;          /* of the field in the config struct (offsetof) */
    const char *def;        /* the default as text, parsed like a value; NULL: a number or bool
                               keeps what the caller put there before loading (a computed
                               default); a STR is required, or with `optional` is NULL when unset */
    int64_t min, max;       /* INT, INT64, DURATION (in ms): the accepted range */
    const char *help;       /* what it is, for --help; may hold '\n' for more lines */
    vx_setting_check check; /* STR only; NULL: any non-empty text */
    bool optional;          /* STR without default: may stay unset (NULL) */
} vx_setting;

/* Row builders, so tables read as one line per setting. T is the config struct type. */
#define VX_SET_STR(name, T, field, def, help)                                                      \
    {                                                                                              \
        name, VX_SETTING_STR, offsetof(T, field), def, 0, 0, help, NULL, false                     \
    }
#define VX_SET_STR_CHECKED(name, T, field, def, check, help)                                       \
    {                                                                                              \
        name, VX_SETTING_STR, offsetof(T, field), def, 0, 0, help, check, false                    \
    }
/* A string that may stay unset (NULL). */
#define VX_SET_STR_OPTIONAL(name, T, field, help)                                                  \
    {                                                                                              \
        name, VX_SETTING_STR, offsetof(T, field), NULL, 0, 0, help, NULL, true                     \
    }
#define VX_SET_INT(name, T, field, def, min, max, help)                                            \
    {                                                                                              \
        name, VX_SETTING_INT, offsetof(T, field), def, min, max, help, NULL, false                 \
    }
#define VX_SET_INT64(name, T, field, def, min, max, help)                                          \
    {                                                                                              \
        name, VX_SETTING_INT64, offsetof(T, field), def, min, max, help, NULL, false               \
    }
#define VX_SET_DURATION(name, T, field, def, min_ms, max_ms, help)                                 \
    {                                                                                              \
        name, VX_SETTING_DURATION, offsetof(T, field), def, min_ms, max_ms, help, NULL, false      \
    }
#define VX_SET_BOOL(name, T, field, def, help)                                                     \
    {                                                                                              \
        name, VX_SETTING_BOOL, offsetof(T, field), def, 0, 0, help, NULL, false                    \
    }
#define VX_SET_LOG_LEVEL(name, T, field, def, help)                                                \
    {                                                                                              \
        name, VX_SETTING_LOG_LEVEL, offsetof(T, field), def, 0, 0, help, NULL, false               \
    }
#define VX_SET_NOTE(text)                                                                          \
    {                                                                                              \
        text, VX_SETTING_NOTE, 0, NULL, 0, 0, NULL, NULL, false                                    \
    }

/* Reads every row of table[0..n) from the environment into the struct at cfg. An unset or
 * empty variable takes the row's default. A bad value (or a required one missing) prints which
 * variable and why on stderr and exits VX_EXIT_CONFIG (78), before any connection is made. */
void vx_settings_load(const vx_setting *table, size_t n, void *cfg);

/* Prints the rows as "  NAME  help (default)" lines, wrapped under the help column. */
void vx_settings_usage(FILE *out, const vx_setting *table, size_t n);

#endif
