/* One cost event as a line of PostgreSQL COPY text format, in the column order of
 * VX_COST_COPY_COLUMNS: backslash, tab, newline and carriage return escaped; tags as JSON. */
#include "cost_internal.h"

#include "vx/clock.h"
#include "vx/log.h"
#include "vx/money.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void put_escaped(vx_buf *out, const char *s, size_t len)
{
    vx_buf_reserve(out, len);
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < len; i++) {
        char esc;
        switch (s[i]) {
        case '\\':
            esc = '\\';
            break;
        case '\t':
            esc = 't';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        default:
            continue;
        }
        vx_buf_append(out, s + run, i - run);
        vx_buf_putc(out, '\\');
        vx_buf_putc(out, esc);
        run = i + 1;
    }
    vx_buf_append(out, s + run, len - run);
}

void vx_cost_copy_escape(vx_buf *out, const char *s)
{
    s = vx_cost_str(s);
    put_escaped(out, s, strlen(s));
}

static vx_money money_or(const Valdrix__V1__Money *m, const Valdrix__V1__Money *dflt)
{
    if (!m)
        m = dflt;
    return m ? (vx_money){m->units, m->nanos} : (vx_money){0, 0};
}

void vx_cost_event_amounts(const vx_cost_event *e, vx_money *billed, vx_money *effective,
                           vx_money *list)
{
    *billed = money_or(e->billed_cost, NULL);
    *effective = money_or(e->effective_cost, e->billed_cost);
    *list = money_or(e->list_cost, e->billed_cost);
}

static void put_text(vx_buf *out, const char *s)
{
    s = vx_cost_str(s);
    put_escaped(out, s, strlen(s));
    vx_buf_putc(out, '\t');
}

static void put_time(vx_buf *out, int64_t unix_s)
{
    char ts[48];
    vx_format_iso8601(unix_s, ts, sizeof ts);
    vx_buf_puts(out, ts);
    vx_buf_putc(out, '\t');
}

static void put_money(vx_buf *out, const Valdrix__V1__Money *m, const Valdrix__V1__Money *dflt)
{
    vx_money v = money_or(m, dflt);
    char s[VX_MONEY_STR_MAX];
    vx_money_format(v, s, sizeof s);
    vx_buf_puts(out, s);
    vx_buf_putc(out, '\t');
}

/* Appends s as a JSON string, with its quotes, to json. */
static void put_json_string(vx_buf *json, const char *s)
{
    s = vx_cost_str(s);
    size_t need = strlen(s) * 6 + 4; /* "\u00XX" per byte at worst */
    vx_buf_reserve(json, need);
    json->data[json->len++] = '"';
    if (!vx_json_escape(json->data, json->cap, &json->len, s))
        abort(); /* cannot happen: room for the worst case was reserved above */
    json->data[json->len++] = '"';
    json->data[json->len] = '\0';
}

static void put_tags(vx_buf *out, const vx_cost_event *e)
{
    vx_buf json;
    vx_buf_init(&json);
    vx_buf_putc(&json, '{');
    for (size_t i = 0; i < e->n_tags; i++) {
        const Valdrix__V1__CostEvent__TagsEntry *t = e->tags ? e->tags[i] : NULL;
        if (!t)
            continue;
        if (json.len > 1)
            vx_buf_putc(&json, ',');
        put_json_string(&json, t->key);
        vx_buf_putc(&json, ':');
        put_json_string(&json, t->value);
    }
    vx_buf_putc(&json, '}');
    put_escaped(out, json.data, json.len);
    vx_buf_cleanup(&json);
}

void vx_cost_copy_row(vx_buf *out, const vx_cost_event *e)
{
    put_text(out, e->tenant_id);
    put_time(out, e->charge_period_start);
    put_text(out, e->event_id);
    vx_buf_printf(out, "%" PRIu32 "\t", e->revision);
    put_time(out, e->charge_period_end);
    put_text(out, e->provider);
    put_text(out, e->sub_account_id);
    put_text(out, e->service_name);
    put_text(out, e->service_category);
    put_text(out, e->region_id);
    put_text(out, e->resource_id);
    put_text(out, e->charge_category);
    put_money(out, e->billed_cost, NULL);
    put_money(out, e->effective_cost, e->billed_cost);
    put_money(out, e->list_cost, e->billed_cost);
    put_text(out, e->billing_currency);
    put_money(out, e->usage_quantity, NULL);
    put_text(out, e->usage_unit);
    put_tags(out, e);
    vx_buf_putc(out, '\n');
}
