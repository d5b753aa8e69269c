/* Helpers shared by the files of libs/cost: reasons, text checks, and building heap events
 * (the kind vx_cost_event_free releases). Not part of the public API. */
#ifndef VX_COST_INTERNAL_H
#define VX_COST_INTERNAL_H

#include "vx/cost.h"
#include "vx/money.h"

#include <stdbool.h>
#include <stddef.h>

/* A string field as text: NULL (a hand-built event) reads as "". */
static inline const char *vx_cost_str(const char *s)
{
    return s ? s : "";
}

/* A new heap event: every string an empty heap string, no money, no tags. Free with
 * vx_cost_event_free. */
vx_cost_event *vx_cost_event_new(void);
/* Replaces the heap string *field with a copy of s[0..len). */
void vx_cost_event_set_str(char **field, const char *s, size_t len);
/* A new heap Money holding m. */
Valdrix__V1__Money *vx_cost_money_new(vx_money m);
/* Appends a heap tag (copies of key and value) to a heap event. */
void vx_cost_event_add_tag(vx_cost_event *e, const char *key, size_t key_len, const char *value,
                           size_t value_len);

#endif
