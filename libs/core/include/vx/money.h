/* Exact decimal money: units + nanos / 1e9 with both of the same sign, as google.type.Money.
 * No binary floating point anywhere on this path. */
#ifndef VX_MONEY_H
#define VX_MONEY_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_NANOS_PER_UNIT 1000000000

/* 128-bit integers (a GCC/Clang extension) hold sums of nanos without overflow. */
__extension__ typedef __int128 vx_int128;
__extension__ typedef unsigned __int128 vx_uint128;

typedef struct {
    int64_t units;
    int32_t nanos;
} vx_money;

/* Longest text vx_money_format writes, with the terminating NUL. */
#define VX_MONEY_STR_MAX 32

/* Whether nanos is within range and has the sign of units. */
bool vx_money_valid(vx_money m);

/* Parses a decimal such as "12", "-0.5", "1.234567890", "+3.", "1e-3" is rejected. More than
 * nine fraction digits are rounded half away from zero to nanos. false on bad text or values
 * beyond int64 units. */
VX_MUST_CHECK bool vx_money_parse(const char *s, size_t len, vx_money *out);

/* Writes the shortest exact decimal ("12.5", "-0.000000001", "0") into out
 * (VX_MONEY_STR_MAX bytes suffice); returns its length. */
size_t vx_money_format(vx_money m, char *out, size_t cap);

/* a + b into *out; false on overflow. */
VX_MUST_CHECK bool vx_money_add(vx_money a, vx_money b, vx_money *out);

/* Total nanos as a 128-bit integer, for comparisons and sums. */
vx_int128 vx_money_to_nanos(vx_money m);
VX_MUST_CHECK bool vx_money_from_nanos(vx_int128 nanos, vx_money *out);

#endif
