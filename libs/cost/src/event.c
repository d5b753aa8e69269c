/* Heap-built cost events (as the FOCUS reader makes them): construction helpers and
 * vx_cost_event_free, plus the reason formatting shared by the library. */
#include "cost_internal.h"

#include "vx/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

vx_cost_event *vx_cost_event_new(void)
{
    vx_cost_event *e = vx_xmalloc(sizeof *e);
    valdrix__v1__cost_event__init(e);
    /* Every string owned by the event, so that vx_cost_event_free need not tell them apart. */
    e->event_id = vx_xstrdup("");
    e->tenant_id = vx_xstrdup("");
    e->provider = vx_xstrdup("");
    e->sub_account_id = vx_xstrdup("");
    e->service_name = vx_xstrdup("");
    e->service_category = vx_xstrdup("");
    e->region_id = vx_xstrdup("");
    e->resource_id = vx_xstrdup("");
    e->charge_category = vx_xstrdup("");
    e->billing_currency = vx_xstrdup("");
    e->usage_unit = vx_xstrdup("");
    return e;
}

static void free_str(char *s)
{
    if (s && s != protobuf_c_empty_string)
        vx_free(s);
}

void vx_cost_event_set_str(char **field, const char *s, size_t len)
{
    free_str(*field);
    char *copy = vx_xmalloc(len + 1);
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    *field = copy;
}

Valdrix__V1__Money *vx_cost_money_new(vx_money m)
{
    Valdrix__V1__Money *p = vx_xmalloc(sizeof *p);
    valdrix__v1__money__init(p);
    p->units = m.units;
    p->nanos = m.nanos;
    return p;
}

void vx_cost_event_add_tag(vx_cost_event *e, const char *key, size_t key_len, const char *value,
                           size_t value_len)
{
    Valdrix__V1__CostEvent__TagsEntry *t = vx_xmalloc(sizeof *t);
    valdrix__v1__cost_event__tags_entry__init(t);
    t->key = NULL;
    t->value = NULL;
    vx_cost_event_set_str(&t->key, key, key_len);
    vx_cost_event_set_str(&t->value, value, value_len);
    e->tags = vx_xrealloc(e->tags, (e->n_tags + 1) * sizeof *e->tags);
    e->tags[e->n_tags++] = t;
}

void vx_cost_event_free(vx_cost_event *e)
{
    if (!e)
        return;
    free_str(e->event_id);
    free_str(e->tenant_id);
    free_str(e->provider);
    free_str(e->sub_account_id);
    free_str(e->service_name);
    free_str(e->service_category);
    free_str(e->region_id);
    free_str(e->resource_id);
    free_str(e->charge_category);
    free_str(e->billing_currency);
    free_str(e->usage_unit);
    vx_free(e->billed_cost);
    vx_free(e->effective_cost);
    vx_free(e->list_cost);
    vx_free(e->usage_quantity);
    for (size_t i = 0; i < e->n_tags; i++) {
        if (!e->tags[i])
            continue;
        free_str(e->tags[i]->key);
        free_str(e->tags[i]->value);
        vx_free(e->tags[i]);
    }
    vx_free(e->tags);
    vx_free(e);
}
