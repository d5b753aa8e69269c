/* The numbers an insight is written from, assembled from what Postgres and the forecast service
 * returned: the currency, totals, top services and top movers from per-service rows of the
 * daily rollup, the focus line, anomalies and the forecast from their protobuf replies, and
 * notes. Pure: no I/O. Also the protobuf requests sent to the forecast service. */
#ifndef VX_LLM_SVC_CONTEXT_H
#define VX_LLM_SVC_CONTEXT_H

#include "request.h"
#include "vx/llm.h"
#include "vx/money.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Spend of one service in one currency (or of the focus) as the rollup query returns it. */
typedef struct {
    char *service; /* owned */
    char *account; /* owned; NULL when the row covers every account */
    char currency[4];
    vx_money amount, previous, week, prior_week;
} llm_row;

/* A growable list of rows; caller-owned storage (llm_rows_cleanup). */
typedef struct {
    llm_row *v;
    size_t n, cap;
    bool truncated; /* the query hit its row limit */
} llm_rows;

/* Appends a row (strings copied; account may be NULL). */
void llm_rows_add(llm_rows *rows, const char *service, const char *account, const char *currency,
                  vx_money amount, vx_money previous, vx_money week, vx_money prior_week);
void llm_rows_cleanup(llm_rows *rows);

/* The amounts of a text numeric as Postgres prints it (NULL or "" is 0); false on bad text. */
bool llm_money_from_text(const char *s, vx_money *out);

/* A context and everything it points to. Build with llm_context_build, release with
 * llm_context_cleanup. Not thread-safe (one per request). */
typedef struct {
    vx_llm_context ctx;
    char currency[4];
    vx_llm_line services[VX_LLM_MAX_LINES];
    vx_llm_line movers[VX_LLM_MAX_LINES];
    llm_rows rows;  /* lines point into these */
    llm_rows focus; /* the focus line (at most one row per currency) */
    vx_llm_anomaly anomalies[VX_LLM_MAX_ANOMALIES];
    char *anomaly_strings[VX_LLM_MAX_ANOMALIES * 4];
    size_t n_anomaly_strings;
    vx_llm_forecast forecast;
    char *notes[VX_LLM_MAX_NOTES];
    size_t n_notes;
} llm_context;

/* Builds the context of `req` from the per-service rows of its window (taken over: *rows is
 * left empty) and the focus rows (taken over too; may be NULL). The currency is the request's,
 * or else the one with the most spend in the window (then in the previous period, then the
 * first alphabetically; USD when there is no spend at all). Totals are over every row of that
 * currency; services are the top VX_LLM_MAX_LINES by amount (positive amounts), movers the top
 * VX_LLM_MAX_LINES by |amount - previous| (non-zero); the focus line, if any, comes first among
 * the services. Notes are added for a row limit hit and for no spend at all. VX_INTERNAL (err)
 * when the sums overflow. `req` must outlive the context (its dates and focus are borrowed). */
vx_status llm_context_build(llm_context *out, const llm_req *req, llm_rows *rows, llm_rows *focus,
                            char *err, size_t err_cap);
void llm_context_cleanup(llm_context *c); /* NULL and a zeroed struct are fine */

/* Adds a note (copied, cut to 300 bytes); past VX_LLM_MAX_NOTES it is dropped. */
void llm_context_note(llm_context *c, const char *note);

/* Takes the anomalies out of a packed AnomaliesReply: those with a valid date, a kind and
 * finite numbers, the VX_LLM_MAX_ANOMALIES with the highest scores, in date order. false (and a
 * short reason in why) when the bytes are not an AnomaliesReply or it holds an Error. */
bool llm_context_add_anomalies(llm_context *c, const uint8_t *data, size_t len, char *why,
                               size_t why_cap);
/* Takes the forecast out of a packed ForecastReply: the sums over the total series' points of
 * yhat, lo and hi, and the number of points as the horizon. false (why) as above, also for an
 * empty or non-finite forecast. */
bool llm_context_add_forecast(llm_context *c, const uint8_t *data, size_t len, char *why,
                              size_t why_cap);

/* The packed AnomaliesRequest for the window of `req` in `currency`, or ForecastRequest for the
 * 30 days after it (history: the forecast service's default before `to`). Caller frees with
 * vx_free. */
uint8_t *llm_anomalies_request_pack(const llm_req *req, const char *currency, size_t *len);
uint8_t *llm_forecast_request_pack(const llm_req *req, const char *currency, size_t *len);

#endif
