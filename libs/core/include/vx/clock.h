/* Time: monotonic for durations, wall clock for timestamps, and ISO-8601 formatting (UTC). */
#ifndef VX_CLOCK_H
#define VX_CLOCK_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t vx_mono_ns(void);
int64_t vx_mono_ms(void);
int64_t vx_wall_ms(void);
void vx_sleep_ms(int64_t ms);

/* Unix seconds of a civil UTC date/time (proleptic Gregorian); no range errors within years
 * 1..9999. */
int64_t vx_civil_to_unix(int year, int month, int day, int hour, int min, int sec);
/* Days since 1970-01-01 to civil date. */
void vx_unix_days_to_civil(int64_t days, int *year, int *month, int *day);

/* Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS" with optional fraction and "Z" or "+HH:MM"
 * offset (a space may stand for T), into Unix seconds (fractions are dropped). false on bad
 * text or impossible dates. */
VX_MUST_CHECK bool vx_parse_iso8601(const char *s, size_t len, int64_t *out_unix_s);

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void vx_format_iso8601(int64_t unix_s, char *out, size_t cap);
/* Formats Unix seconds as "YYYY-MM-DD" (at least 11 bytes). */
void vx_format_date(int64_t unix_s, char *out, size_t cap);

#endif
