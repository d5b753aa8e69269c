/* FOCUS CSV files as cost events: the header's column map, one row to one heap event, and the
 * stable event ids (UUIDv5 of tenant, used values and occurrence) that make re-imports
 * idempotent. CSV tokenising lives in csv.c. */
#include "cost_internal.h"
#include "csv.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/money.h"
#include "vx/uuid.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum {
    COL_START,
    COL_END,
    COL_BILLED,
    COL_EFFECTIVE,
    COL_LIST,
    COL_CURRENCY,
    COL_SERVICE,
    COL_CATEGORY,
    COL_REGION,
    COL_RESOURCE,
    COL_ACCOUNT,
    COL_CHARGE_CATEGORY,
    COL_PROVIDER,
    COL_CONSUMED_QTY,
    COL_USAGE_QTY,
    COL_CONSUMED_UNIT,
    COL_USAGE_UNIT,
    COL_TAGS,
    COL_ID_FIELDS, /* columns before this one make up the derived event id */
    COL_EVENT_ID = COL_ID_FIELDS,
    COL_REVISION,
    COL_COUNT
};

static const struct {
    const char *name;
    bool required;
} columns[COL_COUNT] = {
    [COL_START] = {"ChargePeriodStart", true},  [COL_END] = {"ChargePeriodEnd", true},
    [COL_BILLED] = {"BilledCost", true},        [COL_EFFECTIVE] = {"EffectiveCost", false},
    [COL_LIST] = {"ListCost", false},           [COL_CURRENCY] = {"BillingCurrency", true},
    [COL_SERVICE] = {"ServiceName", true},      [COL_CATEGORY] = {"ServiceCategory", false},
    [COL_REGION] = {"RegionId", false},         [COL_RESOURCE] = {"ResourceId", false},
    [COL_ACCOUNT] = {"SubAccountId", true},     [COL_CHARGE_CATEGORY] = {"ChargeCategory", false},
    [COL_PROVIDER] = {"ProviderName", true},    [COL_CONSUMED_QTY] = {"ConsumedQuantity", false},
    [COL_USAGE_QTY] = {"UsageQuantity", false}, [COL_CONSUMED_UNIT] = {"ConsumedUnit", false},
    [COL_USAGE_UNIT] = {"UsageUnit", false},    [COL_TAGS] = {"Tags", false},
    [COL_EVENT_ID] = {"x_EventId", false},      [COL_REVISION] = {"x_Revision", false},
};

/* Occurrences of each distinct row so far: open addressing on 64-bit row digests. */
typedef struct {
    uint64_t *keys; /* 0 marks a free slot (a digest of 0 is stored as 1) */
    uint32_t *counts;
    size_t cap, used;
} occurrence_table;

struct vx_focus_reader {
    vx_csv csv;
    vx_uuid ns; /* the tenant */
    char tenant[VX_UUID_STR_LEN + 1];
    long col[COL_COUNT]; /* field index of each used column, -1 when absent */
    size_t n_columns;    /* in the header */
    occurrence_table seen;
    vx_buf name; /* scratch: the UUIDv5 name of a row */
    uint64_t last_line;
};

static void occurrence_grow(occurrence_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *keys = vx_xcalloc(cap, sizeof *keys);
    uint32_t *counts = vx_xcalloc(cap, sizeof *counts);
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i])
            continue;
        size_t j = (size_t)t->keys[i] & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = t->keys[i];
        counts[j] = t->counts[i];
    }
    vx_free(t->keys);
    vx_free(t->counts);
    t->keys = keys;
    t->counts = counts;
    t->cap = cap;
}

/* Counts one more row with this digest; returns how many have been seen, this one included. */
static uint32_t occurrence_bump(occurrence_table *t, uint64_t key)
{
    if (!key)
        key = 1;
    if ((t->used + 1) * 10 > t->cap * 7)
        occurrence_grow(t);
    size_t j = (size_t)key & (t->cap - 1);
    while (t->keys[j] && t->keys[j] != key)
        j = (j + 1) & (t->cap - 1);
    if (!t->keys[j]) {
        t->keys[j] = key;
        t->used++;
    }
    if (t->counts[j] < UINT32_MAX)
        t->counts[j]++;
    return t->counts[j];
}

static void reader_free(vx_focus_reader *r)
{
    vx_csv_cleanup(&r->csv);
    vx_buf_cleanup(&r->name);
    vx_free(r->seen.keys);
    vx_free(r->seen.counts);
    vx_free(r);
}

vx_status vx_focus_open(FILE *f, const char *tenant_id, vx_focus_reader **out, char *why,
                        size_t why_cap)
{
    vx_uuid ns;
    if (!tenant_id || !vx_uuid_parse(tenant_id, strlen(tenant_id), &ns)) {
        vx_errf(why, why_cap, "tenant_id: not a UUID");
        return VX_INVALID;
    }
    vx_focus_reader *r = vx_xcalloc(1, sizeof *r);
    vx_csv_init(&r->csv, f);
    vx_buf_init(&r->name);
    r->ns = ns;
    vx_uuid_format(&ns, r->tenant);
    for (size_t i = 0; i < COL_COUNT; i++)
        r->col[i] = -1;

    vx_status st = VX_INVALID;
    switch (vx_csv_next(&r->csv, why, why_cap)) {
    case VX_CSV_RECORD:
        break;
    case VX_CSV_END:
        vx_errf(why, why_cap, "empty file: no header line");
        goto fail;
    case VX_CSV_IO:
        vx_errf(why, why_cap, "reading the header failed");
        st = VX_IO;
        goto fail;
    case VX_CSV_BAD:
        goto fail; /* why is set */
    }
    r->n_columns = r->csv.n_fields;
    for (size_t i = 0; i < r->n_columns; i++) {
        size_t len;
        const char *name = vx_csv_field(&r->csv, i, &len);
        for (size_t c = 0; c < COL_COUNT; c++) {
            if (strlen(columns[c].name) != len || memcmp(columns[c].name, name, len) != 0)
                continue;
            if (r->col[c] >= 0) {
                vx_errf(why, why_cap, "line 1: column %s appears twice", columns[c].name);
                goto fail;
            }
            r->col[c] = (long)i;
        }
    }
    char missing[256] = "";
    size_t n_missing = 0;
    for (size_t c = 0; c < COL_COUNT; c++) {
        if (!columns[c].required || r->col[c] >= 0)
            continue;
        if (n_missing++)
            strcat(missing, ", ");
        strcat(missing, columns[c].name);
    }
    if (n_missing) {
        vx_errf(why, why_cap, "missing required column%s: %s", n_missing > 1 ? "s" : "", missing);
        goto fail;
    }
    r->last_line = 1;
    *out = r;
    return VX_OK;
fail:
    reader_free(r);
    return st;
}

/* The value of column c in the current row, or "" when the file has no such column. */
static const char *value(const vx_focus_reader *r, int c, size_t *len)
{
    if (r->col[c] < 0) {
        *len = 0;
        return "";
    }
    return vx_csv_field(&r->csv, (size_t)r->col[c], len);
}

static void trim(const char **s, size_t *len)
{
    while (*len && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

typedef struct {
    vx_focus_reader *r;
    char *why;
    size_t why_cap;
} row_ctx;

static bool bad_value(const row_ctx *x, int c, const char *reason)
{
    vx_errf(x->why, x->why_cap, "line %llu, column %s: %s", (unsigned long long)x->r->last_line,
            columns[c].name, reason);
    return false;
}

static bool parse_time(const row_ctx *x, int c, int64_t *out)
{
    size_t len;
    const char *s = value(x->r, c, &len);
    trim(&s, &len);
    if (len == 0)
        return bad_value(x, c, "empty");
    if (!vx_parse_iso8601(s, len, out))
        return bad_value(x, c, "not an ISO-8601 date or date-time");
    return true;
}

/* An amount; *out stays NULL when the cell is empty and the column optional. */
static bool parse_money(const row_ctx *x, int c, Valdrix__V1__Money **out)
{
    size_t len;
    const char *s = value(x->r, c, &len);
    trim(&s, &len);
    if (len == 0) {
        if (columns[c].required)
            return bad_value(x, c, "empty");
        return true;
    }
    vx_money m;
    if (!vx_money_parse(s, len, &m))
        return bad_value(x, c, "not a decimal number");
    *out = vx_cost_money_new(m);
    return true;
}

static bool parse_revision(const row_ctx *x, uint32_t *out)
{
    size_t len;
    const char *s = value(x->r, COL_REVISION, &len);
    trim(&s, &len);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || (v = v * 10 + (uint64_t)(s[i] - '0')) > UINT32_MAX)
            return bad_value(x, COL_REVISION, "not a revision number (0 to 4294967295)");
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_tags(const row_ctx *x, vx_cost_event *e)
{
    size_t len;
    const char *s = value(x->r, COL_TAGS, &len);
    trim(&s, &len);
    if (len == 0)
        return true;
    json_error_t err;
    json_t *obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);
    if (!obj)
        return bad_value(x, COL_TAGS, "not valid JSON");
    bool ok = false;
    if (!json_is_object(obj)) {
        bad_value(x, COL_TAGS, "not a JSON object");
        goto done;
    }
    if (json_object_size(obj) > VX_COST_MAX_TAGS) {
        char reason[64];
        snprintf(reason, sizeof reason, "more than %u tags", VX_COST_MAX_TAGS);
        bad_value(x, COL_TAGS, reason);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (json_is_string(v)) {
            vx_cost_event_add_tag(e, key, strlen(key), json_string_value(v), json_string_length(v));
        } else if (json_is_null(v)) {
            vx_cost_event_add_tag(e, key, strlen(key), "", 0);
        } else {
            /* Numbers, booleans and nested values keep their JSON text. */
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
            if (!text) {
                bad_value(x, COL_TAGS, "a value cannot be written as text");
                goto done;
            }
            vx_cost_event_add_tag(e, key, strlen(key), text, strlen(text));
            free(text);
        }
    }
    ok = true;
done:
    json_decref(obj);
    return ok;
}

static void set_text(const row_ctx *x, char **field, int c)
{
    size_t len;
    const char *s = value(x->r, c, &len);
    vx_cost_event_set_str(field, s, len);
}

/* The first of two alternative columns that the file has. */
static int either(const vx_focus_reader *r, int preferred, int other)
{
    return r->col[preferred] >= 0 ? preferred : other;
}

/* event_id from x_EventId, or derived from the row and its occurrence number. */
static void set_event_id(const row_ctx *x, vx_cost_event *e)
{
    vx_focus_reader *r = x->r;
    size_t len;
    const char *given = value(r, COL_EVENT_ID, &len);
    if (len > 0) {
        vx_cost_event_set_str(&e->event_id, given, len);
        return;
    }
    vx_buf_reset(&r->name);
    for (int c = 0; c < COL_ID_FIELDS; c++) {
        const char *s = value(r, c, &len);
        if (c)
            vx_buf_putc(&r->name, '\x1f');
        vx_buf_append(&r->name, s, len);
    }
    vx_uuid row;
    vx_uuid_v5(&r->ns, r->name.data, r->name.len, &row);
    uint64_t digest;
    memcpy(&digest, row.b, sizeof digest);
    vx_buf_printf(&r->name, "#%u", (unsigned)occurrence_bump(&r->seen, digest));
    vx_uuid id;
    vx_uuid_v5(&r->ns, r->name.data, r->name.len, &id);
    char text[VX_UUID_STR_LEN + 1];
    vx_uuid_format(&id, text);
    vx_cost_event_set_str(&e->event_id, text, VX_UUID_STR_LEN);
}

static bool build_event(const row_ctx *x, vx_cost_event *e)
{
    vx_focus_reader *r = x->r;
    for (int c = 0; c < COL_COUNT; c++) {
        size_t len;
        const char *s = value(r, c, &len);
        if (memchr(s, '\0', len))
            return bad_value(x, c, "contains a NUL byte");
    }
    vx_cost_event_set_str(&e->tenant_id, r->tenant, strlen(r->tenant));
    if (!parse_time(x, COL_START, &e->charge_period_start) ||
        !parse_time(x, COL_END, &e->charge_period_end) ||
        !parse_money(x, COL_BILLED, &e->billed_cost) ||
        !parse_money(x, COL_EFFECTIVE, &e->effective_cost) ||
        !parse_money(x, COL_LIST, &e->list_cost) ||
        !parse_money(x, either(r, COL_CONSUMED_QTY, COL_USAGE_QTY), &e->usage_quantity) ||
        !parse_revision(x, &e->revision) || !parse_tags(x, e))
        return false;
    set_text(x, &e->billing_currency, COL_CURRENCY);
    set_text(x, &e->service_name, COL_SERVICE);
    set_text(x, &e->service_category, COL_CATEGORY);
    set_text(x, &e->region_id, COL_REGION);
    set_text(x, &e->resource_id, COL_RESOURCE);
    set_text(x, &e->sub_account_id, COL_ACCOUNT);
    set_text(x, &e->provider, COL_PROVIDER);
    set_text(x, &e->usage_unit, either(r, COL_CONSUMED_UNIT, COL_USAGE_UNIT));
    if (r->col[COL_CHARGE_CATEGORY] >= 0)
        set_text(x, &e->charge_category, COL_CHARGE_CATEGORY);
    else
        vx_cost_event_set_str(&e->charge_category, "Usage", 5); /* files without the column */
    set_event_id(x, e);
    return true;
}

vx_status vx_focus_next(vx_focus_reader *r, vx_cost_event **ev, char *why, size_t why_cap)
{
    switch (vx_csv_next(&r->csv, why, why_cap)) {
    case VX_CSV_RECORD:
        break;
    case VX_CSV_END:
        return VX_NOT_FOUND;
    case VX_CSV_IO:
        vx_errf(why, why_cap, "reading line %llu failed", (unsigned long long)r->csv.record_line);
        return VX_IO;
    case VX_CSV_BAD:
        r->last_line = r->csv.record_line;
        return VX_INVALID; /* why is set */
    }
    r->last_line = r->csv.record_line;
    if (r->csv.n_fields != r->n_columns) {
        vx_errf(why, why_cap, "line %llu: %zu fields, the header has %zu",
                (unsigned long long)r->last_line, r->csv.n_fields, r->n_columns);
        return VX_INVALID;
    }
    row_ctx x = {r, why, why_cap};
    vx_cost_event *e = vx_cost_event_new();
    if (!build_event(&x, e))
        goto fail;
    char reason[256];
    if (vx_cost_event_validate(e, NULL, reason, sizeof reason) != VX_OK) {
        vx_errf(why, why_cap, "line %llu: %s", (unsigned long long)r->last_line, reason);
        goto fail;
    }
    vx_cost_event_normalize(e);
    *ev = e;
    return VX_OK;
fail:
    vx_cost_event_free(e);
    return VX_INVALID;
}

uint64_t vx_focus_line(const vx_focus_reader *r)
{
    return r->last_line;
}

void vx_focus_close(vx_focus_reader *r)
{
    if (r)
        reader_free(r);
}
