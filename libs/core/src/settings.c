/* The settings table: one row per VX_* variable, read into a config struct and printed as help. */
#include "vx/settings.h"

#include "vx/config.h"
#include "vx/log.h"

#include <stdlib.h>
#include <string.h>

static void *field(void *cfg, const vx_setting *s)
{
    return (char *)cfg + s->offset;
}

void vx_settings_load(const vx_setting *table, size_t n, void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        const vx_setting *s = &table[i];
        if (s->kind == VX_SETTING_NOTE)
            continue;
        const char *set = vx_env_str(s->name, NULL);
        if (!set && !s->def) {
            if (s->kind == VX_SETTING_STR && !s->optional)
                vx_config_fail(s->name, "not set");
            if (s->kind == VX_SETTING_STR)
                *(const char **)field(cfg, s) = NULL;
            continue; /* a computed default the caller already put in the field */
        }
        switch (s->kind) {
        case VX_SETTING_STR: {
            const char *v = set ? set : s->def;
            char why[256] = "";
            if (s->check && !s->check(v, why, sizeof why))
                vx_config_fail(s->name, why[0] ? why : "not accepted");
            *(const char **)field(cfg, s) = v;
            break;
        }
        case VX_SETTING_INT:
        case VX_SETTING_INT64:
        case VX_SETTING_DURATION: {
            /* the default goes through the same parser and range check as a value: a table
             * with a default outside its own range fails at once, in every test */
            int64_t def = 0;
            bool dur = s->kind == VX_SETTING_DURATION;
            if (s->def) {
                char *end;
                bool ok = dur ? vx_parse_duration_ms(s->def, &def)
                              : ((def = strtoll(s->def, &end, 10)), *s->def && !*end);
                if (!ok || def < s->min || def > s->max)
                    vx_config_fail(s->name, "the built-in default is not valid (a bug)");
            } else if (s->kind == VX_SETTING_INT) {
                def = *(int *)field(cfg, s);
            } else {
                def = *(int64_t *)field(cfg, s);
            }
            int64_t v = dur ? vx_env_duration_ms(s->name, def, s->min, s->max)
                            : vx_env_int(s->name, def, s->min, s->max);
            if (s->kind == VX_SETTING_INT)
                *(int *)field(cfg, s) = (int)v;
            else
                *(int64_t *)field(cfg, s) = v;
            break;
        }
        case VX_SETTING_BOOL: {
            bool def = *(bool *)field(cfg, s);
            if (s->def)
                def = !strcmp(s->def, "true") || !strcmp(s->def, "1") || !strcmp(s->def, "on") ||
                      !strcmp(s->def, "yes");
            *(bool *)field(cfg, s) = vx_env_bool(s->name, def);
            break;
        }
        case VX_SETTING_LOG_LEVEL: {
            const char *v = set ? set : s->def;
            if (!vx_log_level_parse(v, (vx_log_level *)field(cfg, s)))
                vx_config_fail(s->name, "not one of debug, info, warn, error, off");
            break;
        }
        case VX_SETTING_NOTE:
            break;
        }
    }
}

#define NAME_COLUMN 27 /* help text starts here, as the hand-written usage texts did */

/* Writes text (lines split at '\n') starting at the help column; the first line continues the
 * current one, the others are indented to the column. */
static void put_help(FILE *out, const char *text, int col)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (p != text)
            fprintf(out, "\n%*s", col, "");
        fprintf(out, "%.*s", (int)len, p);
        p += len;
        if (*p == '\n')
            p++;
    }
}

void vx_settings_usage(FILE *out, const vx_setting *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const vx_setting *s = &table[i];
        if (s->kind == VX_SETTING_NOTE) {
            size_t len = strlen(s->name);
            fprintf(out, "%s%s", s->name, len && s->name[len - 1] == '\n' ? "" : "\n");
            continue;
        }
        int len = fprintf(out, "  %s", s->name);
        if (len + 1 > NAME_COLUMN)
            fprintf(out, " ");
        else
            fprintf(out, "%*s", NAME_COLUMN - len, "");
        put_help(out, s->help ? s->help : "", NAME_COLUMN);
        if (s->def && *s->def)
            fprintf(out, " (%s)", s->def);
        else if (!s->def && s->kind == VX_SETTING_STR && !s->optional)
            fprintf(out, " (required)");
        fputc('\n', out);
    }
}
