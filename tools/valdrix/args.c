/* Option parsing shared by the valdrix subcommands. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, int n_opts, const char **pos,
               int max_pos, int *n_pos)
{
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "valdrix %s: unexpected argument '%s'\n", cmd, a);
                return false;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                o = &opts[k];
        if (!o) {
            fprintf(stderr, "valdrix %s: unknown option --%.*s (see valdrix %s --help)\n", cmd,
                    (int)nlen, name, cmd);
            return false;
        }
        if (!o->takes_value) {
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "valdrix %s: --%s needs a value\n", cmd, o->name);
            return false;
        }
    }
    return true;
}

const char *cli_get(const cli_opt *opts, int n_opts, const char *name)
{
    for (int k = 0; k < n_opts; k++)
        if (strcmp(opts[k].name, name) == 0)
            return opts[k].value;
    return NULL;
}

bool cli_int(const char *cmd, const cli_opt *opts, int n_opts, const char *name, int64_t def,
             int64_t min, int64_t max, int64_t *out)
{
    const char *v = cli_get(opts, n_opts, name);
    if (!v) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "valdrix %s: --%s must be a whole number from %lld to %lld, not '%s'\n",
                cmd, name, (long long)min, (long long)max, v);
        return false;
    }
    *out = x;
    return true;
}
