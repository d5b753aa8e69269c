/* The CostScope: checking and resolving what a caller sent, and building one to send; and the
 * size and type check of a request before it is unpacked. */
#include "vx/alloc.h"
#include "vx/contract.h"
#include "vx/uuid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const filter_fields[VX_CONTRACT_FILTER_COUNT] = {
    "service_names", "sub_account_ids", "providers", "region_ids"};
static const char *const filter_columns[VX_CONTRACT_FILTER_COUNT] = {
    "service_name", "sub_account_id", "provider", "region_id"};
static const char *const cost_names[] = {"effective", "billed", "list"};
static const char *const cost_columns[] = {"effective_cost", "billed_cost", "list_cost"};

const char *vx_contract_filter_field(vx_contract_filter f)
{
    return (unsigned)f < VX_CONTRACT_FILTER_COUNT ? filter_fields[f] : "?";
}

const char *vx_contract_filter_column(vx_contract_filter f)
{
    return (unsigned)f < VX_CONTRACT_FILTER_COUNT ? filter_columns[f] : "?";
}

const char *vx_contract_cost_name(vx_contract_cost c)
{
    return (unsigned)c <= VX_CONTRACT_COST_LIST ? cost_names[c] : "?";
}

const char *vx_contract_cost_column(vx_contract_cost c)
{
    return (unsigned)c <= VX_CONTRACT_COST_LIST ? cost_columns[c] : "effective_cost";
}

bool vx_contract_cost_parse(const char *s, vx_contract_cost *out)
{
    for (int i = 0; s != NULL && i <= VX_CONTRACT_COST_LIST; i++)
        if (strcmp(s, cost_names[i]) == 0) {
            *out = (vx_contract_cost)i;
            return true;
        }
    return false;
}

bool vx_contract_currency_parse(const char *s, bool any_case, char out[4])
{
    if (s == NULL || strlen(s) != 3)
        return false;
    char up[4];
    for (int i = 0; i < 3; i++) {
        char c = s[i];
        if (any_case && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z')
            return false;
        up[i] = c;
    }
    up[3] = '\0';
    memcpy(out, up, sizeof up);
    return true;
}

/* A caller's value, fit to quote back in an error: short text, or a placeholder. */
static const char *shown(const char *s)
{
    return strlen(s) <= 40 && vx_contract_text_ok(s) ? s : "(not shown)";
}

static const char *str(const char *s)
{
    return s ? s : "";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static vx_status take_filter(vx_contract_scope *r, vx_contract_filter f, char *const *values,
                             size_t n, char *why, size_t cap)
{
    if (n == 0)
        return VX_OK;
    if (n > VX_CONTRACT_MAX_FILTER_VALUES)
        return vx_refusef(why, cap, "scope.%s: %zu values, more than allowed (at most %d values)",
                          filter_fields[f], n, VX_CONTRACT_MAX_FILTER_VALUES);
    for (size_t i = 0; i < n; i++) {
        char field[64];
        snprintf(field, sizeof field, "scope.%s[%zu]", filter_fields[f], i);
        if (vx_contract_check_name(field, values[i], VX_CONTRACT_MAX_NAME_BYTES, why, cap) != VX_OK)
            return VX_INVALID;
    }
    char **v = vx_xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = vx_xstrdup(values[i]);
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1], v[i]) == 0) {
            vx_free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    r->filter[f] = v;
    r->n_filter[f] = k;
    return VX_OK;
}

static vx_status resolve_window(const Valdrix__V1__CostScope *sc,
                                const vx_contract_scope_rules *rules, int64_t today,
                                vx_contract_scope *r, char *why, size_t cap)
{
    const char *to = str(sc->to), *from = str(sc->from);
    r->to_day = today;
    if (to[0] != '\0' && !vx_contract_day_parse(to, strlen(to), &r->to_day))
        return vx_refusef(why, cap, "scope.to must be a date YYYY-MM-DD, not '%s'", shown(to));
    if (r->to_day - today > rules->max_ahead_days)
        return vx_refusef(why, cap, "scope.to is in the future: history ends before today");
    r->from_day = r->to_day - rules->default_days;
    if (from[0] != '\0' && !vx_contract_day_parse(from, strlen(from), &r->from_day))
        return vx_refusef(why, cap, "scope.from must be a date YYYY-MM-DD, not '%s'", shown(from));
    char bound[VX_CONTRACT_DAY_LEN];
    if (r->from_day < rules->first_day) {
        vx_contract_day_format(rules->first_day, bound);
        return vx_refusef(why, cap, "scope.from is before %s", bound);
    }
    if (r->to_day > rules->end_day) {
        vx_contract_day_format(rules->end_day, bound);
        return vx_refusef(why, cap, "scope.to is after %s", bound);
    }
    if (r->from_day >= r->to_day)
        return vx_refusef(why, cap, "scope.from must be before scope.to (to is exclusive)");
    long long days = (long long)(r->to_day - r->from_day);
    if (days > rules->max_days)
        return vx_refusef(why, cap, "the window spans %lld days; at most %lld", days,
                          (long long)rules->max_days);
    if (days < rules->min_days)
        return vx_refusef(why, cap, "the window spans %lld days; at least %lld are needed", days,
                          (long long)rules->min_days);
    vx_contract_day_format(r->from_day, r->from);
    vx_contract_day_format(r->to_day, r->to);
    return VX_OK;
}

static vx_status resolve(const Valdrix__V1__CostScope *sc, const vx_contract_scope_rules *rules,
                         int64_t today, vx_contract_scope *r, char *why, size_t cap)
{
    if (sc == NULL)
        return vx_refusef(why, cap, "scope is required (scope.tenant_id at least)");
    vx_uuid u;
    const char *tenant = str(sc->tenant_id);
    if (!vx_uuid_parse(tenant, strlen(tenant), &u))
        return vx_refusef(why, cap, "scope.tenant_id must be a UUID, not '%s'", shown(tenant));
    vx_uuid_format(&u, r->tenant_id);
    if (resolve_window(sc, rules, today, r, why, cap) != VX_OK)
        return VX_INVALID;

    char *const *lists[VX_CONTRACT_FILTER_COUNT] = {sc->service_names, sc->sub_account_ids,
                                                    sc->providers, sc->region_ids};
    size_t counts[VX_CONTRACT_FILTER_COUNT] = {sc->n_service_names, sc->n_sub_account_ids,
                                               sc->n_providers, sc->n_region_ids};
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
        if (take_filter(r, (vx_contract_filter)f, lists[f], counts[f], why, cap) != VX_OK)
            return VX_INVALID;

    const char *cur = str(sc->currency);
    if (cur[0] != '\0' && !vx_contract_currency_parse(cur, rules->currency_any_case, r->currency))
        return vx_refusef(why, cap, "scope.currency must be an ISO 4217 code such as USD");
    const char *cost = str(sc->cost);
    r->cost = VX_CONTRACT_COST_EFFECTIVE;
    if (cost[0] != '\0' && !vx_contract_cost_parse(cost, &r->cost))
        return vx_refusef(why, cap,
                          "scope.cost: unknown cost kind '%s' (effective, billed or list)",
                          shown(cost));
    return VX_OK;
}

vx_status vx_contract_scope_decode(const Valdrix__V1__CostScope *sc,
                                   const vx_contract_scope_rules *rules, int64_t today_day,
                                   vx_contract_scope *out, char *why, size_t why_cap)
{
    vx_contract_scope r;
    memset(&r, 0, sizeof r);
    if (resolve(sc, rules, today_day, &r, why, why_cap) != VX_OK) {
        vx_contract_scope_cleanup(&r);
        return VX_INVALID;
    }
    *out = r;
    return VX_OK;
}

void vx_contract_scope_cleanup(vx_contract_scope *s)
{
    if (s == NULL)
        return;
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        for (size_t i = 0; i < s->n_filter[f]; i++)
            vx_free(s->filter[f][i]);
        vx_free(s->filter[f]);
    }
    memset(s, 0, sizeof *s);
}

/* protobuf-c's string fields are `char *` even when only packed: borrowed strings go in as they
 * are, never written through. */
static char *borrow(const char *s)
{
    union {
        const char *c;
        char *m;
    } u = {.c = s ? s : ""};
    return u.m;
}

static char **borrow_list(const char *const *v)
{
    union {
        const char *const *c;
        char **m;
    } u = {.c = v};
    return u.m;
}

void vx_contract_scope_view_fill(const vx_contract_scope_view *v, Valdrix__V1__CostScope *out)
{
    valdrix__v1__cost_scope__init(out);
    out->tenant_id = borrow(v->tenant_id);
    out->from = borrow(v->from);
    out->to = borrow(v->to);
    out->currency = borrow(v->currency);
    out->cost = borrow(v->cost);
    out->n_service_names = v->n_filter[VX_CONTRACT_FILTER_SERVICE];
    out->service_names = borrow_list(v->filter[VX_CONTRACT_FILTER_SERVICE]);
    out->n_sub_account_ids = v->n_filter[VX_CONTRACT_FILTER_ACCOUNT];
    out->sub_account_ids = borrow_list(v->filter[VX_CONTRACT_FILTER_ACCOUNT]);
    out->n_providers = v->n_filter[VX_CONTRACT_FILTER_PROVIDER];
    out->providers = borrow_list(v->filter[VX_CONTRACT_FILTER_PROVIDER]);
    out->n_region_ids = v->n_filter[VX_CONTRACT_FILTER_REGION];
    out->region_ids = borrow_list(v->filter[VX_CONTRACT_FILTER_REGION]);
}

void vx_contract_scope_fill(const vx_contract_scope *s, Valdrix__V1__CostScope *out)
{
    vx_contract_scope_view v = {.tenant_id = s->tenant_id,
                                .from = s->from,
                                .to = s->to,
                                .currency = s->currency,
                                .cost = vx_contract_cost_name(s->cost)};
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        v.filter[f] = (const char *const *)s->filter[f];
        v.n_filter[f] = s->n_filter[f];
    }
    vx_contract_scope_view_fill(&v, out);
}

vx_status vx_contract_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                             size_t max_bytes, ProtobufCMessage **out, char *why, size_t why_cap)
{
    if (len > max_bytes)
        return vx_refusef(why, why_cap, "request of %zu bytes is larger than allowed (at most %zu)",
                          len, max_bytes);
    const uint8_t *bytes = len ? data : (const uint8_t *)"";
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, bytes);
    if (m == NULL)
        return vx_refusef(why, why_cap, "not a %s (protobuf)", desc->name);
    *out = m;
    return VX_OK;
}
