/* A sample insight context shared by the libs/llm tests: March 2024 (30 days), USD, spend up 25%
 * on the previous period and 50% week over week, with services, movers, anomalies and a
 * forecast whose every number the tests can work out by hand. */
#ifndef VX_LLM_FIXTURE_H
#define VX_LLM_FIXTURE_H

#include "vx/llm.h"

#include <stdlib.h>
#include <string.h>

static inline vx_money fx_usd(const char *s)
{
    vx_money m = {0, 0};
    if (!vx_money_parse(s, strlen(s), &m))
        abort();
    return m;
}

typedef struct {
    vx_llm_line services[3];
    vx_llm_line movers[2];
    vx_llm_anomaly anomalies[2];
    vx_llm_forecast forecast;
    const char *notes[1];
    vx_llm_context ctx;
} llm_fixture;

static inline void fx_line(vx_llm_line *l, const char *service, const char *account,
                           const char *amount, const char *previous, const char *week,
                           const char *prior_week)
{
    l->service = service;
    l->account = account;
    l->amount = fx_usd(amount);
    l->previous = fx_usd(previous);
    l->week = fx_usd(week);
    l->prior_week = fx_usd(prior_week);
}

/* EC2 +66.7% w/w (review, medium), Lambda +81.8% w/w (review, medium), S3 +3.4% (nothing),
 * RDS in account 123456789012 +200% w/w (review, high); EC2 is 60% of spend (commitments);
 * a high-severity EC2 spike on 03-14 and an S3 drop on 03-20; a forecast 30% above the run
 * rate. */
static inline void fx_init(llm_fixture *f, vx_llm_kind kind)
{
    memset(f, 0, sizeof *f);
    fx_line(&f->services[0], "Amazon EC2", NULL, "6000", "4500", "2000", "1200");
    fx_line(&f->services[1], "Amazon S3", NULL, "2500", "2400", "600", "580");
    fx_line(&f->services[2], "AWS Lambda", NULL, "1500", "1100", "400", "220");
    fx_line(&f->movers[0], "Amazon EC2", NULL, "6000", "4500", "2000", "1200");
    fx_line(&f->movers[1], "Amazon RDS", "123456789012", "900", "300", "300", "100");
    f->anomalies[0] = (vx_llm_anomaly){.date = "2024-03-14",
                                       .service = "Amazon EC2",
                                       .kind = "spike",
                                       .severity = "high",
                                       .actual = 900,
                                       .expected = 300};
    f->anomalies[1] = (vx_llm_anomaly){.date = "2024-03-20",
                                       .service = "Amazon S3",
                                       .kind = "drop",
                                       .severity = "low",
                                       .actual = 50,
                                       .expected = 90};
    f->forecast = (vx_llm_forecast){.horizon_days = 30, .total = 13000, .lo = 11000, .hi = 15000};
    f->notes[0] = "the forecast is based on 90 days of history";
    f->ctx = (vx_llm_context){
        .kind = kind,
        .from = "2024-03-01",
        .to = "2024-03-31",
        .currency = "USD",
        .total = fx_usd("10000"),
        .previous_total = fx_usd("8000"),
        .week = fx_usd("3000"),
        .prior_week = fx_usd("2000"),
        .services = f->services,
        .n_services = 3,
        .movers = f->movers,
        .n_movers = 2,
        .anomalies = f->anomalies,
        .n_anomalies = 2,
        .forecast = &f->forecast,
        .notes = f->notes,
        .n_notes = 1,
    };
}

#endif
