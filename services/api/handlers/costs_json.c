/* JSON answers of the read endpoints from plain rows (costs_json.h). */
#include "costs_json.h"

#include "vx/alloc.h"

#include <jansson.h>
#include <stdlib.h>

static char *dump(json_t *out)
{
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    char *copy = vx_xstrdup(text);
    free(text);
    return copy;
}

char *api_render_costs(const api_cost_rows *rows, const api_query *q, const char *tenant,
                       const uint8_t *secret, size_t secret_len)
{
    json_t *data = json_array();
    for (size_t i = 0; i < rows->n; i++) {
        const api_cost_row *r = &rows->rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "ChargePeriodStart", json_string(r->charge_period_start));
        json_object_set_new(o, "EventId", json_string(r->event_id));
        json_object_set_new(o, "Revision", json_integer((json_int_t)r->revision));
        json_object_set_new(o, "ChargePeriodEnd", json_string(r->charge_period_end));
        json_object_set_new(o, "ProviderName", json_string(r->provider));
        json_object_set_new(o, "SubAccountId", json_string(r->sub_account_id));
        json_object_set_new(o, "ServiceName", json_string(r->service_name));
        json_object_set_new(o, "ServiceCategory", json_string(r->service_category));
        json_object_set_new(o, "RegionId", json_string(r->region_id));
        json_object_set_new(o, "ResourceId", json_string(r->resource_id));
        json_object_set_new(o, "ChargeCategory", json_string(r->charge_category));
        json_object_set_new(o, "BilledCost", json_string(r->billed_cost));
        json_object_set_new(o, "EffectiveCost", json_string(r->effective_cost));
        json_object_set_new(o, "ListCost", json_string(r->list_cost));
        json_object_set_new(o, "BillingCurrency", json_string(r->billing_currency));
        json_object_set_new(o, "ConsumedQuantity", json_string(r->consumed_quantity));
        json_object_set_new(o, "ConsumedUnit", json_string(r->consumed_unit));
        json_t *tags = r->tags ? json_loads(r->tags, 0, NULL) : NULL;
        json_object_set_new(o, "Tags", tags ? tags : json_object());
        json_array_append_new(data, o);
    }
    json_t *out = json_object();
    json_object_set_new(out, "data", data);
    if (rows->more && rows->n > 0) {
        const api_cost_row *last = &rows->rows[rows->n - 1];
        char cursor[API_CURSOR_MAX];
        api_cursor_encode(q, tenant, last->recorded_at_us, last->event_id, secret, secret_len,
                          cursor);
        json_object_set_new(out, "next_cursor", json_string(cursor));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    return dump(out);
}

char *api_render_summary(const api_summary_rows *rows, const api_query *q)
{
    int g = q->n_group_by;
    json_t *data = json_array();
    for (size_t i = 0; i < rows->n; i++) {
        const api_summary_row *r = &rows->rows[i];
        json_t *o = json_object();
        for (int k = 0; k < g; k++)
            json_object_set_new(o, api_group_name(q->group_by[k]), json_string(r->group[k]));
        json_object_set_new(o, "BillingCurrency", json_string(r->billing_currency));
        json_object_set_new(o, "BilledCost", json_string(r->billed_cost));
        json_object_set_new(o, "EffectiveCost", json_string(r->effective_cost));
        json_object_set_new(o, "ListCost", json_string(r->list_cost));
        json_object_set_new(o, "RecordCount", json_integer((json_int_t)r->record_count));
        json_array_append_new(data, o);
    }
    json_t *groups = json_array();
    for (int k = 0; k < g; k++)
        json_array_append_new(groups, json_string(api_group_name(q->group_by[k])));
    json_t *out = json_object();
    json_object_set_new(out, "group_by", groups);
    json_object_set_new(out, "data", data);
    return dump(out);
}
