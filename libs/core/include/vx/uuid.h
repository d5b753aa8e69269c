/* UUIDs: parse, format, random (v4) and name-based (v5, SHA-1). */
#ifndef VX_UUID_H
#define VX_UUID_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_UUID_STR_LEN 36

typedef struct {
    uint8_t b[16];
} vx_uuid;

/* Accepts the canonical 8-4-4-4-12 hex form, either case. false on anything else. */
VX_MUST_CHECK bool vx_uuid_parse(const char *s, size_t len, vx_uuid *out);
/* Lower-case canonical form into out (at least 37 bytes). */
void vx_uuid_format(const vx_uuid *u, char *out);
/* Random version-4 UUID from getrandom(2). Thread-safe. */
void vx_uuid_v4(vx_uuid *out);
/* Version-5 UUID of `name` within `ns` (RFC 4122): the same inputs always give the same id. */
void vx_uuid_v5(const vx_uuid *ns, const void *name, size_t len, vx_uuid *out);

#endif
