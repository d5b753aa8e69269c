/* Reading VX_* environment variables. A bad value prints which variable and why on stderr, then
 * exits 78 (EX_CONFIG), so services fail before making any connection. */
#ifndef VX_CONFIG_H
#define VX_CONFIG_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_EXIT_CONFIG 78

/* Where the local stack (scripts/stack.sh) runs its servers: the defaults of VX_NATS_URL and
 * VX_REDIS_URL in every program. */
#define VX_DEFAULT_NATS_URL "nats://127.0.0.1:14222"
#define VX_DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"

/* The variable's value, or `def` when unset or empty. The result is borrowed from the
 * environment (or is `def`). */
const char *vx_env_str(const char *name, const char *def);

/* An integer in [min, max]; `def` when unset. */
int64_t vx_env_int(const char *name, int64_t def, int64_t min, int64_t max);

/* A duration such as "250ms", "5s", "2m", "1h" (a bare number is milliseconds), in ms,
 * within [min_ms, max_ms]; `def_ms` when unset. */
int64_t vx_env_duration_ms(const char *name, int64_t def_ms, int64_t min_ms, int64_t max_ms);

/* true/false, 1/0, yes/no, on/off; `def` when unset. */
bool vx_env_bool(const char *name, bool def);

/* Parses a duration as vx_env_duration_ms does; false on bad text. */
VX_MUST_CHECK bool vx_parse_duration_ms(const char *s, int64_t *out_ms);

/* Copies `url` into out with any password replaced by "***" (for logs). */
void vx_redact_url(const char *url, char *out, size_t cap);

/* Reports a bad configuration value and exits VX_EXIT_CONFIG. */
_Noreturn void vx_config_fail(const char *name, const char *why);

#endif
