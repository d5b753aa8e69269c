/* A small option parser for the valdrix subcommands: --name value, --name=value, positionals. */
#ifndef VX_CLI_ARGS_H
#define VX_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name; /* without dashes, e.g. "tenant" */
    bool takes_value;
    const char *value; /* set by cli_parse; "1" for a flag that was given */
} cli_opt;

/* Parses argv[0..argc) into opts and positionals (at most max_pos). false after printing what
 * was wrong (unknown option, missing value, too many arguments) to stderr. */
bool cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, int n_opts, const char **pos,
               int max_pos, int *n_pos);
const char *cli_get(const cli_opt *opts, int n_opts, const char *name);
/* An integer option in [min, max] (def when absent); false after printing an error. */
bool cli_int(const char *cmd, const cli_opt *opts, int n_opts, const char *name, int64_t def,
             int64_t min, int64_t max, int64_t *out);

#endif
