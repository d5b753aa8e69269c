/* The cost-event contract in pure C (no I/O besides reading a FILE the caller opened): decoding
 * batches from the bus within limits, validating events, mapping an event to a COPY row of the
 * ledger's staging table, reading FOCUS CSV files, and generating realistic synthetic history.
 * Every function here is thread-compatible (no shared state). */
#ifndef VX_COST_H
#define VX_COST_H

#include "valdrix/v1/cost.pb-c.h"
#include "vx/buf.h"
#include "vx/money.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef Valdrix__V1__CostEvent vx_cost_event;
typedef Valdrix__V1__CostEventBatch vx_cost_batch;

/* Limits on what one message may carry; checked before anything is allocated. */
#define VX_COST_MAX_MESSAGE_BYTES (8u * 1024u * 1024u)
#define VX_COST_MAX_BATCH_EVENTS 10000u
#define VX_COST_MAX_TEXT_BYTES 512u /* each string field */
#define VX_COST_MAX_TAGS 64u
#define VX_COST_MAX_TAG_KEY_BYTES 128u
#define VX_COST_MAX_TAG_VALUE_BYTES 256u
/* Charge periods are accepted from 2000-01-01 up to 2100-01-01 (Unix seconds). */
#define VX_COST_MIN_PERIOD_S 946684800LL
#define VX_COST_MAX_PERIOD_S 4102444800LL

/* Decodes a CostEventBatch. VX_INVALID with the reason in why ("message is 9000000 bytes, more
 * than 8388608", "not a CostEventBatch: ...", "10001 events, more than 10000") otherwise.
 * *out is owned by the caller: free it with vx_cost_batch_free. */
VX_MUST_CHECK vx_status vx_cost_batch_decode(const void *data, size_t len, vx_cost_batch **out,
                                             char *why, size_t why_cap);
void vx_cost_batch_free(vx_cost_batch *b);

/* Checks one event: event_id and tenant_id are UUIDs; tenant_id equals subject_tenant when that
 * is not NULL; provider, sub_account_id, service_name, billing_currency (ISO 4217: three
 * upper-case letters) and charge_category are present; every string is valid UTF-8 without NUL
 * and within VX_COST_MAX_TEXT_BYTES; the charge period starts before it ends and lies within
 * VX_COST_MIN/MAX_PERIOD_S; amounts are valid Money (nanos in range, same sign as units) and
 * present (billed_cost is required; effective_cost and list_cost default to billed_cost when
 * absent, usage_quantity to 0 — see vx_cost_event_normalize); tags within count and size.
 * On failure returns VX_INVALID and writes "field: what is wrong" into why. */
VX_MUST_CHECK vx_status vx_cost_event_validate(const vx_cost_event *e, const char *subject_tenant,
                                               char *why, size_t why_cap);

/* Lower-cases the UUIDs in place (so the same id always maps to the same row). Call after
 * validation, before vx_cost_copy_row. */
void vx_cost_event_normalize(vx_cost_event *e);

/* The tenant token of `subject` after `prefix.` (e.g. prefix "cost.events", subject
 * "cost.events.<uuid>"), as a pointer into subject; NULL if subject is not prefix.<one token>. */
const char *vx_cost_subject_tenant(const char *prefix, const char *subject);

/* Columns of a COPY row, in order (the staging table has exactly these). */
#define VX_COST_COPY_COLUMNS                                                                       \
    "tenant_id, recorded_at, event_id, revision, charge_period_end, provider, sub_account_id, "    \
    "service_name, service_category, region_id, resource_id, charge_category, billed_cost, "       \
    "effective_cost, list_cost, billing_currency, usage_quantity, usage_unit, tags"

/* Appends one line of PostgreSQL COPY text format (tab-separated, escaped, '\n'-terminated) for
 * a validated event: timestamps as ISO-8601 UTC, amounts as exact decimals, absent
 * effective/list cost as billed cost, tags as a JSON object. */
void vx_cost_copy_row(vx_buf *out, const vx_cost_event *e);

/* Appends `s` (NULL as "") escaped for COPY text format, without a separator. */
void vx_cost_copy_escape(vx_buf *out, const char *s);

/* The amounts vx_cost_copy_row stores for a validated event: effective and list cost default
 * to billed cost when absent. */
void vx_cost_event_amounts(const vx_cost_event *e, vx_money *billed, vx_money *effective,
                           vx_money *list);

/* Frees an event built by vx_focus_next (every field heap-allocated). NULL is fine. */
void vx_cost_event_free(vx_cost_event *e);

/* ---- FOCUS CSV ----
 * Reads FOCUS exports: RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF, UTF-8 BOM),
 * header line naming the columns. Used columns: ChargePeriodStart, ChargePeriodEnd, BilledCost,
 * EffectiveCost, ListCost, BillingCurrency, ServiceName, ServiceCategory, RegionId, ResourceId,
 * SubAccountId, ChargeCategory, ProviderName, ConsumedQuantity (or UsageQuantity), ConsumedUnit
 * (or UsageUnit), Tags (a JSON object); optional x_EventId and x_Revision. Other columns are
 * ignored. The event id, when no x_EventId is given, is a UUIDv5 of the tenant and the row's
 * used fields plus the occurrence number of identical rows, so publishing the same file twice
 * gives the same ids. */
typedef struct vx_focus_reader vx_focus_reader;

/* Reads the header. VX_INVALID naming the missing required columns (ChargePeriodStart,
 * ChargePeriodEnd, BilledCost, BillingCurrency, ServiceName, SubAccountId, ProviderName) or an
 * empty file. `f` stays owned by the caller and must stay open until vx_focus_close. */
VX_MUST_CHECK vx_status vx_focus_open(FILE *f, const char *tenant_id, vx_focus_reader **out,
                                      char *why, size_t why_cap);
/* The next row as a new event (free with vx_cost_event_free). VX_OK with *ev set; VX_NOT_FOUND
 * at the end of the file; VX_INVALID for a bad row, with why = "line 12, column BilledCost: not
 * a decimal number" — the reader has moved past that row, so the caller may go on. The event is
 * also validated with vx_cost_event_validate. */
VX_MUST_CHECK vx_status vx_focus_next(vx_focus_reader *r, vx_cost_event **ev, char *why,
                                      size_t why_cap);
/* The line number (1-based, the header is line 1) of the row last returned. */
uint64_t vx_focus_line(const vx_focus_reader *r);
void vx_focus_close(vx_focus_reader *r);

/* ---- JSON (the HTTP API's POST /v1/cost-events) ----
 * A body is a JSON array of event objects, or NDJSON (one object per line). Field names are
 * FOCUS's: EventId (UUID, required: the idempotency key), ChargePeriodStart, ChargePeriodEnd
 * (ISO-8601 dates or times), BilledCost, EffectiveCost, ListCost, ConsumedQuantity (decimal
 * strings such as "12.34", or integers; a JSON number with a fraction is refused because it
 * would not stay exact), BillingCurrency, ProviderName, SubAccountId, ServiceName,
 * ServiceCategory, RegionId, ResourceId, ChargeCategory, ConsumedUnit, Tags (an object of
 * strings), Revision (a whole number). Other fields are ignored. The tenant comes from the
 * caller (the API key), never from the body. */
typedef struct {
    size_t index;     /* position of the event in the body (0-based) */
    char reason[240]; /* "BilledCost: not a decimal number" */
} vx_cost_json_error;

typedef struct {
    vx_cost_event **events; /* valid, normalized heap events (vx_cost_event_free each) */
    size_t *index;          /* position of each valid event in the body */
    size_t n_events;
    vx_cost_json_error *errors; /* one per invalid event, in body order */
    size_t n_errors;
    size_t total; /* events in the body */
} vx_cost_json_batch;

/* Decodes a body. VX_INVALID with the reason in why when the body as a whole is unusable (not
 * JSON, not an array or NDJSON of objects, more than max_events events); otherwise VX_OK, with
 * valid events and per-event errors in *out (release with vx_cost_json_batch_cleanup). */
VX_MUST_CHECK vx_status vx_cost_json_decode(const char *body, size_t len, const char *tenant_id,
                                            size_t max_events, vx_cost_json_batch *out, char *why,
                                            size_t why_cap);
void vx_cost_json_batch_cleanup(vx_cost_json_batch *b);

/* ---- Synthetic history ----
 * Deterministic for a seed: several providers (AWS, GCP, Azure), accounts, services and
 * regions with their own sizes, a weekly pattern (weekends lower), steady growth, noise and a
 * few spikes. Event ids are UUIDv5 of (tenant, seed, index), so running it twice publishes the
 * same events. */
typedef struct {
    const char *tenant_id; /* copied */
    int days;              /* history length, ending the day before end_day */
    int events_per_day;
    uint64_t seed;
    int64_t end_unix_s; /* exclusive end (midnight UTC); 0 means today's midnight */
} vx_gen_config;

typedef struct vx_gen vx_gen;

VX_MUST_CHECK vx_status vx_gen_create(const vx_gen_config *cfg, vx_gen **out, char *why,
                                      size_t why_cap);
/* Fills *ev with the next event; its strings, money and tags point into the generator and stay
 * valid until the next call; they are read-only (some are static tables), never written or
 * freed. false when all days * events_per_day have been produced. */
bool vx_gen_next(vx_gen *g, vx_cost_event *ev);
/* Events produced so far and in all. */
uint64_t vx_gen_produced(const vx_gen *g);
uint64_t vx_gen_total(const vx_gen *g);
void vx_gen_destroy(vx_gen *g);

#endif
