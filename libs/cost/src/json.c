/* Cost events from JSON bodies (array or NDJSON) with FOCUS field names, for the HTTP API:
 * exact amounts from decimal strings, per-event errors naming the FOCUS field. */
#include "cost_internal.h"

#include "vx/alloc.h"
#include "vx/clock.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

/* The FOCUS name of each proto field, for messages the caller can act on. */
static const struct {
    const char *proto, *focus;
} names[] = {
    {"event_id", "EventId"},
    {"provider", "ProviderName"},
    {"sub_account_id", "SubAccountId"},
    {"service_name", "ServiceName"},
    {"service_category", "ServiceCategory"},
    {"region_id", "RegionId"},
    {"resource_id", "ResourceId"},
    {"charge_category", "ChargeCategory"},
    {"charge_period_start", "ChargePeriodStart"},
    {"charge_period_end", "ChargePeriodEnd"},
    {"billed_cost", "BilledCost"},
    {"effective_cost", "EffectiveCost"},
    {"list_cost", "ListCost"},
    {"billing_currency", "BillingCurrency"},
    {"usage_quantity", "ConsumedQuantity"},
    {"usage_unit", "ConsumedUnit"},
    {"tags", "Tags"},
    {"revision", "Revision"},
};

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9');
}

/* Rewrites the proto field names in a validation reason ("charge_period_end: not after
 * charge_period_start") to their FOCUS names. */
static void focus_reason(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < cap;) {
        const char *focus = NULL;
        size_t plen = 0;
        if (i == 0 || !word_char(in[i - 1])) {
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
                size_t n = strlen(names[k].proto);
                if (strncmp(in + i, names[k].proto, n) == 0 && !word_char(in[i + n])) {
                    focus = names[k].focus;
                    plen = n;
                    break;
                }
            }
        }
        if (focus) {
            for (size_t k = 0; focus[k] && o + 1 < cap; k++)
                out[o++] = focus[k];
            i += plen;
        } else {
            out[o++] = in[i++];
        }
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
}

static bool get_text(json_t *obj, const char *key, char **field, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        vx_errf(why, cap, "%s: must be a string", key);
        return false;
    }
    vx_cost_event_set_str(field, json_string_value(v), json_string_length(v));
    return true;
}

static bool get_money(json_t *obj, const char *key, Valdrix__V1__Money **field, char *why,
                      size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    vx_money m;
    if (json_is_integer(v)) {
        m = (vx_money){json_integer_value(v), 0};
    } else if (json_is_string(v)) {
        if (!vx_money_parse(json_string_value(v), json_string_length(v), &m)) {
            vx_errf(why, cap, "%s: not a decimal number", key);
            return false;
        }
    } else if (json_is_real(v)) {
        vx_errf(why, cap,
                "%s: give amounts with a fraction as decimal strings (\"12.34\") "
                "so they stay exact",
                key);
        return false;
    } else {
        vx_errf(why, cap, "%s: must be a decimal string", key);
        return false;
    }
    *field = vx_cost_money_new(m);
    return true;
}

static bool get_time(json_t *obj, const char *key, int64_t *field, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        vx_errf(why, cap, "%s: required", key);
        return false;
    }
    if (!json_is_string(v) ||
        !vx_parse_iso8601(json_string_value(v), json_string_length(v), field)) {
        vx_errf(why, cap, "%s: not an ISO-8601 date or time", key);
        return false;
    }
    return true;
}

static bool get_tags(json_t *obj, vx_cost_event *e, char *why, size_t cap)
{
    json_t *tags = json_object_get(obj, "Tags");
    if (!tags || json_is_null(tags))
        return true;
    if (!json_is_object(tags)) {
        vx_errf(why, cap, "Tags: must be an object of strings");
        return false;
    }
    if (json_object_size(tags) > VX_COST_MAX_TAGS) {
        vx_errf(why, cap, "Tags: %zu tags, more than %u", json_object_size(tags), VX_COST_MAX_TAGS);
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v)
    {
        if (!json_is_string(v)) {
            vx_errf(why, cap, "Tags.%.100s: must be a string", k);
            return false;
        }
        vx_cost_event_add_tag(e, k, strlen(k), json_string_value(v), json_string_length(v));
    }
    return true;
}

/* One event from one object; NULL with why on failure. */
static vx_cost_event *event_from_object(json_t *obj, const char *tenant_id, char *why, size_t cap)
{
    if (!json_is_object(obj)) {
        vx_errf(why, cap, "not a JSON object");
        return NULL;
    }
    vx_cost_event *e = vx_cost_event_new();
    vx_cost_event_set_str(&e->tenant_id, tenant_id, strlen(tenant_id));
    json_t *rev = json_object_get(obj, "Revision");
    bool ok = get_text(obj, "EventId", &e->event_id, why, cap) &&
              get_text(obj, "ProviderName", &e->provider, why, cap) &&
              get_text(obj, "SubAccountId", &e->sub_account_id, why, cap) &&
              get_text(obj, "ServiceName", &e->service_name, why, cap) &&
              get_text(obj, "ServiceCategory", &e->service_category, why, cap) &&
              get_text(obj, "RegionId", &e->region_id, why, cap) &&
              get_text(obj, "ResourceId", &e->resource_id, why, cap) &&
              get_text(obj, "ChargeCategory", &e->charge_category, why, cap) &&
              get_text(obj, "BillingCurrency", &e->billing_currency, why, cap) &&
              get_text(obj, "ConsumedUnit", &e->usage_unit, why, cap) &&
              get_time(obj, "ChargePeriodStart", &e->charge_period_start, why, cap) &&
              get_time(obj, "ChargePeriodEnd", &e->charge_period_end, why, cap) &&
              get_money(obj, "BilledCost", &e->billed_cost, why, cap) &&
              get_money(obj, "EffectiveCost", &e->effective_cost, why, cap) &&
              get_money(obj, "ListCost", &e->list_cost, why, cap) &&
              get_money(obj, "ConsumedQuantity", &e->usage_quantity, why, cap) &&
              get_tags(obj, e, why, cap);
    if (ok && rev && !json_is_null(rev)) {
        if (!json_is_integer(rev) || json_integer_value(rev) < 0 ||
            json_integer_value(rev) > UINT32_MAX) {
            vx_errf(why, cap, "Revision: must be a whole number from 0 to 4294967295");
            ok = false;
        } else {
            e->revision = (uint32_t)json_integer_value(rev);
        }
    }
    if (ok) {
        char reason[200];
        if (vx_cost_event_validate(e, tenant_id, reason, sizeof reason) != VX_OK) {
            focus_reason(reason, why, cap);
            ok = false;
        }
    }
    if (!ok) {
        vx_cost_event_free(e);
        return NULL;
    }
    vx_cost_event_normalize(e);
    return e;
}

static void add_event(vx_cost_json_batch *b, json_t *obj, const char *tenant)
{
    char why[240];
    vx_cost_event *e = event_from_object(obj, tenant, why, sizeof why);
    size_t index = b->total++;
    if (e) {
        b->events[b->n_events] = e;
        b->index[b->n_events] = index;
        b->n_events++;
    } else {
        b->errors = vx_xrealloc(b->errors, (b->n_errors + 1) * sizeof *b->errors);
        b->errors[b->n_errors].index = index;
        vx_errf(b->errors[b->n_errors].reason, sizeof b->errors[0].reason, "%s", why);
        b->n_errors++;
    }
}

vx_status vx_cost_json_decode(const char *body, size_t len, const char *tenant_id,
                              size_t max_events, vx_cost_json_batch *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        vx_errf(why, why_cap, "the body is empty: send a JSON array of events or NDJSON");
        return VX_INVALID;
    }
    json_error_t jerr;
    if (body[i] == '[') {
        json_t *arr = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!arr) {
            vx_errf(why, why_cap, "not JSON: %s at line %d, column %d", jerr.text, jerr.line,
                    jerr.column);
            return VX_INVALID;
        }
        size_t n = json_array_size(arr);
        if (n > max_events) {
            vx_errf(why, why_cap, "%zu events, more than %zu in one request", n, max_events);
            json_decref(arr);
            return VX_INVALID;
        }
        out->events = vx_xcalloc(n ? n : 1, sizeof *out->events);
        out->index = vx_xcalloc(n ? n : 1, sizeof *out->index);
        for (size_t k = 0; k < n; k++)
            add_event(out, json_array_get(arr, k), tenant_id);
        json_decref(arr);
        return VX_OK;
    }
    if (body[i] != '{') {
        vx_errf(why, why_cap, "send a JSON array of events or NDJSON (one object per line)");
        return VX_INVALID;
    }
    /* NDJSON: count the lines first, so the limit is checked before decoding anything */
    size_t lines = 0;
    for (size_t k = i; k < len;) {
        const char *nl = memchr(body + k, '\n', len - k);
        size_t end = nl ? (size_t)(nl - body) : len;
        for (size_t j = k; j < end; j++) {
            if (body[j] != ' ' && body[j] != '\t' && body[j] != '\r') {
                lines++;
                break;
            }
        }
        k = end + 1;
    }
    if (lines > max_events) {
        vx_errf(why, why_cap, "%zu events, more than %zu in one request", lines, max_events);
        return VX_INVALID;
    }
    out->events = vx_xcalloc(lines ? lines : 1, sizeof *out->events);
    out->index = vx_xcalloc(lines ? lines : 1, sizeof *out->index);
    for (size_t k = i; k < len;) {
        const char *nl = memchr(body + k, '\n', len - k);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t j = k;
        while (j < end && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r'))
            j++;
        if (j < end) {
            json_t *obj = json_loadb(body + j, end - j, JSON_REJECT_DUPLICATES, &jerr);
            if (!obj) {
                size_t index = out->total++;
                out->errors = vx_xrealloc(out->errors, (out->n_errors + 1) * sizeof *out->errors);
                out->errors[out->n_errors].index = index;
                vx_errf(out->errors[out->n_errors].reason, sizeof out->errors[0].reason,
                        "not JSON: %s", jerr.text);
                out->n_errors++;
            } else {
                add_event(out, obj, tenant_id);
                json_decref(obj);
            }
        }
        k = end + 1;
    }
    return VX_OK;
}

void vx_cost_json_batch_cleanup(vx_cost_json_batch *b)
{
    for (size_t i = 0; i < b->n_events; i++)
        vx_cost_event_free(b->events[i]);
    vx_free(b->events);
    vx_free(b->index);
    vx_free(b->errors);
    memset(b, 0, sizeof *b);
}
