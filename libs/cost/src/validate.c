/* The rules a cost event must pass before it may be written: ids, tenant, required text,
 * UTF-8 and sizes, ISO 4217 currency, charge period, Money, tags. Also subject parsing and
 * the in-place normalisation of ids. */
#include "cost_internal.h"

#include "vx/contract.h"
#include "vx/money.h"
#include "vx/uuid.h"

#include <stdio.h>
#include <string.h>

static bool check_text(const char *field, const char *s, size_t max_bytes, char *why,
                       size_t why_cap)
{
    s = vx_cost_str(s);
    size_t len = strlen(s);
    if (len > max_bytes) {
        vx_errf(why, why_cap, "%s: %zu bytes, more than %zu", field, len, max_bytes);
        return false;
    }
    if (!vx_contract_utf8_valid(s, len)) {
        vx_errf(why, why_cap, "%s: not valid UTF-8", field);
        return false;
    }
    return true;
}

static bool check_money(const char *field, const Valdrix__V1__Money *m, bool required, char *why,
                        size_t why_cap)
{
    if (!m) {
        if (required)
            vx_errf(why, why_cap, "%s: missing", field);
        return !required;
    }
    if (m->nanos <= -VX_NANOS_PER_UNIT || m->nanos >= VX_NANOS_PER_UNIT) {
        vx_errf(why, why_cap, "%s: nanos %d out of range -999999999..999999999", field,
                (int)m->nanos);
        return false;
    }
    if (!vx_money_valid((vx_money){m->units, m->nanos})) {
        vx_errf(why, why_cap, "%s: units and nanos have different signs", field);
        return false;
    }
    return true;
}

static bool is_currency(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return s[3] == '\0';
}

vx_status vx_cost_event_validate(const vx_cost_event *e, const char *subject_tenant, char *why,
                                 size_t why_cap)
{
    if (!e) {
        vx_errf(why, why_cap, "event: missing");
        return VX_INVALID;
    }
    const struct {
        const char *name;
        const char *value;
        bool required;
    } texts[] = {
        {"event_id", e->event_id, true},
        {"tenant_id", e->tenant_id, true},
        {"provider", e->provider, true},
        {"sub_account_id", e->sub_account_id, true},
        {"service_name", e->service_name, true},
        {"service_category", e->service_category, false},
        {"region_id", e->region_id, false},
        {"resource_id", e->resource_id, false},
        {"charge_category", e->charge_category, true},
        {"billing_currency", e->billing_currency, true},
        {"usage_unit", e->usage_unit, false},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (texts[i].required && vx_cost_str(texts[i].value)[0] == '\0') {
            vx_errf(why, why_cap, "%s: missing", texts[i].name);
            return VX_INVALID;
        }
        if (!check_text(texts[i].name, texts[i].value, VX_COST_MAX_TEXT_BYTES, why, why_cap))
            return VX_INVALID;
    }

    vx_uuid event_id, tenant;
    if (!vx_uuid_parse(e->event_id, strlen(e->event_id), &event_id)) {
        vx_errf(why, why_cap, "event_id: not a UUID");
        return VX_INVALID;
    }
    if (!vx_uuid_parse(e->tenant_id, strlen(e->tenant_id), &tenant)) {
        vx_errf(why, why_cap, "tenant_id: not a UUID");
        return VX_INVALID;
    }
    if (subject_tenant) {
        vx_uuid subject;
        if (!vx_uuid_parse(subject_tenant, strlen(subject_tenant), &subject) ||
            memcmp(subject.b, tenant.b, sizeof tenant.b) != 0) {
            vx_errf(why, why_cap, "tenant_id: differs from the subject's tenant");
            return VX_INVALID;
        }
    }
    if (!is_currency(e->billing_currency)) {
        vx_errf(why, why_cap, "billing_currency: not an ISO 4217 code (three upper-case letters)");
        return VX_INVALID;
    }

    if (e->charge_period_start < VX_COST_MIN_PERIOD_S ||
        e->charge_period_start >= VX_COST_MAX_PERIOD_S) {
        vx_errf(why, why_cap, "charge_period_start: %lld is outside 2000-01-01..2100-01-01",
                (long long)e->charge_period_start);
        return VX_INVALID;
    }
    if (e->charge_period_end <= e->charge_period_start) {
        vx_errf(why, why_cap, "charge_period_end: not after charge_period_start");
        return VX_INVALID;
    }
    if (e->charge_period_end > VX_COST_MAX_PERIOD_S) {
        vx_errf(why, why_cap, "charge_period_end: %lld is after 2100-01-01",
                (long long)e->charge_period_end);
        return VX_INVALID;
    }

    if (!check_money("billed_cost", e->billed_cost, true, why, why_cap) ||
        !check_money("effective_cost", e->effective_cost, false, why, why_cap) ||
        !check_money("list_cost", e->list_cost, false, why, why_cap) ||
        !check_money("usage_quantity", e->usage_quantity, false, why, why_cap))
        return VX_INVALID;

    if (e->n_tags > VX_COST_MAX_TAGS) {
        vx_errf(why, why_cap, "tags: %zu tags, more than %u", e->n_tags, VX_COST_MAX_TAGS);
        return VX_INVALID;
    }
    if (e->n_tags && !e->tags) {
        vx_errf(why, why_cap, "tags: missing");
        return VX_INVALID;
    }
    for (size_t i = 0; i < e->n_tags; i++) {
        const Valdrix__V1__CostEvent__TagsEntry *t = e->tags[i];
        if (!t) {
            vx_errf(why, why_cap, "tags: entry %zu missing", i);
            return VX_INVALID;
        }
        char name[48];
        snprintf(name, sizeof name, "tags: key %zu", i);
        if (!check_text(name, t->key, VX_COST_MAX_TAG_KEY_BYTES, why, why_cap))
            return VX_INVALID;
        snprintf(name, sizeof name, "tags: value %zu", i);
        if (!check_text(name, t->value, VX_COST_MAX_TAG_VALUE_BYTES, why, why_cap))
            return VX_INVALID;
    }
    return VX_OK;
}

static void lower_ascii(char *s)
{
    /* Writes only where something changes: generated events point at shared read-only text. */
    for (; s && *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

void vx_cost_event_normalize(vx_cost_event *e)
{
    if (!e)
        return;
    lower_ascii(e->event_id);
    lower_ascii(e->tenant_id);
}

const char *vx_cost_subject_tenant(const char *prefix, const char *subject)
{
    if (!prefix || !subject)
        return NULL;
    size_t n = strlen(prefix);
    if (strncmp(subject, prefix, n) != 0 || subject[n] != '.')
        return NULL;
    const char *token = subject + n + 1;
    if (*token == '\0' || strchr(token, '.'))
        return NULL;
    return token;
}
