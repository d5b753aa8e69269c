/* Deterministic synthetic cost history: providers, accounts, regions and services of their
 * own sizes, shaped by a weekly pattern, linear and compounding growth, noise and a few
 * spikes. Integer arithmetic throughout, so amounts are exact and identical on every machine. */
#include "cost_internal.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/pb.h"
#include "vx/uuid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DAY_S 86400
#define MAX_DAYS 36500
#define MAX_EVENTS_PER_DAY 10000000
#define PPM 1000000

enum { AWS, GCP, AZURE, N_PROVIDERS };

static const char *const provider_names[N_PROVIDERS] = {"AWS", "GCP", "Microsoft Azure"};

typedef struct {
    int provider;
    const char *id;
    const char *env;
    unsigned weight;
} account;

static const account accounts[] = {
    {AWS, "482913640215", "prod", 55},
    {AWS, "730551928406", "staging", 15},
    {AWS, "219384756102", "prod", 30},
    {GCP, "valdrix-prod-318204", "prod", 70},
    {GCP, "valdrix-analytics-902117", "dev", 30},
    {AZURE, "6c1f3e2a-94b7-4d58-8e0f-2a7c9d13b5e4", "prod", 100},
};

typedef struct {
    int provider;
    const char *id;
    unsigned weight;
} region;

static const region regions[] = {
    {AWS, "us-east-1", 50},     {AWS, "us-west-2", 25},    {AWS, "eu-west-1", 18},
    {AWS, "ap-southeast-1", 7}, {GCP, "us-central1", 65},  {GCP, "europe-west1", 35},
    {AZURE, "eastus", 60},      {AZURE, "westeurope", 40},
};

typedef struct {
    int provider;
    const char *name;
    const char *category;
    unsigned daily_usd; /* typical spend per day: the service's share of the bill */
    const char *unit;
    int64_t price_nanos;   /* per unit */
    unsigned effective_pm; /* effective / billed, per mille: commitments amortised */
    unsigned list_pm;      /* list / billed, per mille: negotiated discounts */
    const char *team;
    const char *resource_prefix;
} service;

static const service services[] = {
    {AWS, "Amazon Elastic Compute Cloud", "Compute", 3400, "Hours", 96000000, 780, 1000, "platform",
     "i-0"},
    {AWS, "Amazon Simple Storage Service", "Storage", 900, "GB-Mo", 23000000, 1000, 1000,
     "platform", "s3-valdrix-"},
    {AWS, "Amazon Relational Database Service", "Databases", 1300, "Hours", 480000000, 880, 1000,
     "data", "db-"},
    {AWS, "AWS Lambda", "Compute", 250, "Requests", 200, 1000, 1000, "web", "fn-"},
    {AWS, "Amazon CloudFront", "Networking", 300, "GB", 85000000, 1000, 1060, "web", "E"},
    {AWS, "Amazon DynamoDB", "Databases", 350, "ReadCapacityUnit-Hrs", 130000, 1000, 1000, "web",
     "table-"},
    {AWS, "Amazon Elastic Kubernetes Service", "Compute", 200, "Hours", 100000000, 1000, 1000,
     "platform", "eks-"},
    {AWS, "AWS Data Transfer", "Networking", 420, "GB", 90000000, 1000, 1000, "platform", "dt-"},
    {GCP, "Compute Engine", "Compute", 1500, "Hours", 47500000, 820, 1040, "ml", "gce-"},
    {GCP, "BigQuery", "Analytics", 800, "TiB", 6250000000, 1000, 1000, "data", "bq-"},
    {GCP, "Cloud Storage", "Storage", 380, "GiB-Mo", 20000000, 1000, 1000, "data", "gcs-"},
    {GCP, "Cloud SQL", "Databases", 450, "Hours", 260000000, 1000, 1000, "data", "sql-"},
    {AZURE, "Virtual Machines", "Compute", 1100, "Hours", 192000000, 850, 1080, "platform", "vm-"},
    {AZURE, "Storage Accounts", "Storage", 210, "GB-Mo", 18400000, 1000, 1000, "platform", "st"},
    {AZURE, "Azure Cosmos DB", "Databases", 330, "100 RU/s-Hours", 8000000, 1000, 1000, "web",
     "cosmos-"},
};

#define N_SERVICES (sizeof services / sizeof services[0])
#define N_ACCOUNTS (sizeof accounts / sizeof accounts[0])
#define N_REGIONS (sizeof regions / sizeof regions[0])

/* Spend per weekday, per mille, Sunday first: weekends about 30 % below weekdays. */
static const unsigned weekday_pm[7] = {690, 1000, 1030, 1040, 1020, 960, 700};

typedef struct {
    const char *team;
    const char *cost_center;
} team_center;

static const team_center cost_centers[] = {
    {"platform", "CC-1001"}, {"data", "CC-2040"}, {"web", "CC-3107"}, {"ml", "CC-4420"}};

#define MAX_SPIKES 4

struct vx_gen {
    vx_gen_config cfg;
    char tenant[VX_UUID_STR_LEN + 1];
    vx_uuid ns;
    int64_t start_s;   /* midnight of the first day */
    int64_t first_day; /* days since 1970-01-01 of the first day */
    uint64_t produced, total;
    int64_t base_nanos;  /* an average event's amount before shaping */
    int64_t *growth_ppm; /* per day: linear times compounding growth */
    struct {
        int64_t day;
        size_t service;
        unsigned pm;
    } spikes[MAX_SPIKES];
    size_t n_spikes;
    /* What the last event points at. */
    char event_id[VX_UUID_STR_LEN + 1];
    char resource_id[64];
    Valdrix__V1__Money billed, effective, list, quantity;
    Valdrix__V1__CostEvent__TagsEntry tags[3];
    Valdrix__V1__CostEvent__TagsEntry *tag_ptrs[3];
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64: small, fast and good enough for synthetic data. */
static uint64_t next_rand(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return mix64(*state);
}

/* A uniform integer in [0, n). The modulo bias is irrelevant at these sizes. */
static uint64_t below(uint64_t *state, uint64_t n)
{
    return next_rand(state) % n;
}

vx_status vx_gen_create(const vx_gen_config *cfg, vx_gen **out, char *why, size_t why_cap)
{
    vx_uuid ns;
    if (!cfg || !cfg->tenant_id || !vx_uuid_parse(cfg->tenant_id, strlen(cfg->tenant_id), &ns)) {
        vx_errf(why, why_cap, "tenant_id: not a UUID");
        return VX_INVALID;
    }
    if (cfg->days < 1 || cfg->days > MAX_DAYS) {
        vx_errf(why, why_cap, "days: %d is outside 1..%d", cfg->days, MAX_DAYS);
        return VX_INVALID;
    }
    if (cfg->events_per_day < 1 || cfg->events_per_day > MAX_EVENTS_PER_DAY) {
        vx_errf(why, why_cap, "events_per_day: %d is outside 1..%d", cfg->events_per_day,
                MAX_EVENTS_PER_DAY);
        return VX_INVALID;
    }
    int64_t end_s = cfg->end_unix_s ? cfg->end_unix_s : vx_wall_ms() / 1000;
    if (end_s < VX_COST_MIN_PERIOD_S || end_s > VX_COST_MAX_PERIOD_S) {
        vx_errf(why, why_cap, "end_unix_s: %lld is outside 2000-01-01..2100-01-01",
                (long long)end_s);
        return VX_INVALID;
    }
    end_s -= end_s % DAY_S;
    int64_t start_s = end_s - (int64_t)cfg->days * DAY_S;
    if (start_s < VX_COST_MIN_PERIOD_S) {
        vx_errf(why, why_cap, "days: %d days before the end starts before 2000-01-01", cfg->days);
        return VX_INVALID;
    }

    vx_gen *g = vx_xcalloc(1, sizeof *g);
    g->cfg = *cfg;
    g->ns = ns;
    vx_uuid_format(&ns, g->tenant);
    g->cfg.tenant_id = g->tenant;
    g->start_s = start_s;
    g->first_day = start_s / DAY_S;
    g->total = (uint64_t)cfg->days * (uint64_t)cfg->events_per_day;

    int64_t daily_usd = 0;
    for (size_t s = 0; s < N_SERVICES; s++)
        daily_usd += services[s].daily_usd;
    g->base_nanos = daily_usd * 1000000000LL / cfg->events_per_day;

    /* Growth: linear by 0.05 % of the first day a day (about 18 % a year), compounded with
     * 0.03 % a day (about 12 % a year). */
    g->growth_ppm = vx_xcalloc((size_t)cfg->days, sizeof *g->growth_ppm);
    int64_t compound_ppb = 1000000000;
    for (int d = 0; d < cfg->days; d++) {
        int64_t linear_ppm = PPM + (int64_t)500 * d;
        g->growth_ppm[d] = linear_ppm * compound_ppb / 1000000000;
        compound_ppb = compound_ppb * 10003 / 10000;
    }

    uint64_t rng = mix64(cfg->seed ^ 0x5350494b45ULL);
    g->n_spikes = 2 + (size_t)below(&rng, 3);
    for (size_t i = 0; i < g->n_spikes; i++) {
        g->spikes[i].day = (int64_t)below(&rng, (uint64_t)cfg->days);
        g->spikes[i].service = (size_t)below(&rng, N_SERVICES);
        g->spikes[i].pm = 3000 + (unsigned)below(&rng, 2001);
    }

    static const char *const tag_keys[3] = {"env", "team", "cost-center"};
    for (size_t i = 0; i < 3; i++) {
        valdrix__v1__cost_event__tags_entry__init(&g->tags[i]);
        g->tags[i].key = vx_pb_str(tag_keys[i]);
        g->tag_ptrs[i] = &g->tags[i];
    }
    valdrix__v1__money__init(&g->billed);
    valdrix__v1__money__init(&g->effective);
    valdrix__v1__money__init(&g->list);
    valdrix__v1__money__init(&g->quantity);
    *out = g;
    return VX_OK;
}

static size_t pick_service(uint64_t *rng)
{
    uint64_t total = 0;
    for (size_t s = 0; s < N_SERVICES; s++)
        total += services[s].daily_usd;
    uint64_t x = below(rng, total);
    for (size_t s = 0; s < N_SERVICES; s++) {
        if (x < services[s].daily_usd)
            return s;
        x -= services[s].daily_usd;
    }
    return N_SERVICES - 1;
}

static const account *pick_account(uint64_t *rng, int provider)
{
    uint64_t total = 0;
    for (size_t i = 0; i < N_ACCOUNTS; i++)
        if (accounts[i].provider == provider)
            total += accounts[i].weight;
    uint64_t x = below(rng, total);
    for (size_t i = 0; i < N_ACCOUNTS; i++) {
        if (accounts[i].provider != provider)
            continue;
        if (x < accounts[i].weight)
            return &accounts[i];
        x -= accounts[i].weight;
    }
    return &accounts[0];
}

static const region *pick_region(uint64_t *rng, int provider)
{
    uint64_t total = 0;
    for (size_t i = 0; i < N_REGIONS; i++)
        if (regions[i].provider == provider)
            total += regions[i].weight;
    uint64_t x = below(rng, total);
    for (size_t i = 0; i < N_REGIONS; i++) {
        if (regions[i].provider != provider)
            continue;
        if (x < regions[i].weight)
            return &regions[i];
        x -= regions[i].weight;
    }
    return &regions[0];
}

static const char *cost_center(const char *team)
{
    for (size_t i = 0; i < sizeof cost_centers / sizeof cost_centers[0]; i++)
        if (strcmp(cost_centers[i].team, team) == 0)
            return cost_centers[i].cost_center;
    return cost_centers[0].cost_center;
}

static void set_money(Valdrix__V1__Money *m, vx_int128 nanos)
{
    m->units = (int64_t)(nanos / 1000000000);
    m->nanos = (int32_t)(nanos % 1000000000);
}

bool vx_gen_next(vx_gen *g, vx_cost_event *ev)
{
    if (g->produced >= g->total)
        return false;
    uint64_t index = g->produced++;
    int64_t day = (int64_t)(index / (uint64_t)g->cfg.events_per_day);
    int64_t abs_day = g->first_day + day;
    /* Each event's randomness depends on (seed, index) only. */
    uint64_t rng = mix64(g->cfg.seed) ^ mix64(index + 0x9e3779b97f4a7c15ULL);

    size_t s = pick_service(&rng);
    const service *svc = &services[s];
    const account *acct = pick_account(&rng, svc->provider);
    const region *reg = pick_region(&rng, svc->provider);
    int64_t hour = (int64_t)below(&rng, 24);

    /* Shape, all in parts per million or per mille: weekday, growth, a daily swing of +-8 %
     * per service, a per-event spread of 0.36x..1.96x (mean 1), and the spikes. */
    vx_int128 amount = g->base_nanos;
    amount = amount * weekday_pm[(abs_day + 4) % 7] / 1000; /* 1970-01-01 was a Thursday */
    amount = amount * g->growth_ppm[day] / PPM;
    uint64_t swing = mix64(g->cfg.seed ^ mix64((uint64_t)day << 8 | s)) % 160001;
    amount = amount * (int64_t)(920000 + swing) / PPM;
    amount = amount * (int64_t)(600000 + below(&rng, 800001)) / PPM;
    amount = amount * (int64_t)(600000 + below(&rng, 800001)) / PPM;
    for (size_t i = 0; i < g->n_spikes; i++)
        if (g->spikes[i].day == day && g->spikes[i].service == s)
            amount = amount * g->spikes[i].pm / 1000;
    amount -= amount % 1000; /* whole micro-units, as bills show them */
    if (amount < 1000)
        amount = 1000;

    set_money(&g->billed, amount);
    set_money(&g->effective, amount * svc->effective_pm / 1000);
    set_money(&g->list, amount * svc->list_pm / 1000);
    set_money(&g->quantity, amount * 1000000000 / svc->price_nanos);

    char name[64];
    int n = snprintf(name, sizeof name, "gen:%" PRIu64 ":%" PRIu64, g->cfg.seed, index);
    vx_uuid id;
    vx_uuid_v5(&g->ns, name, (size_t)n, &id);
    vx_uuid_format(&id, g->event_id);
    snprintf(g->resource_id, sizeof g->resource_id, "%s%012" PRIx64, svc->resource_prefix,
             mix64(g->cfg.seed ^ (uint64_t)s << 32 ^ below(&rng, 24)) & (uint64_t)0xffffffffffff);

    g->tags[0].value = vx_pb_str(acct->env);
    g->tags[1].value = vx_pb_str(svc->team);
    g->tags[2].value = vx_pb_str(cost_center(svc->team));

    valdrix__v1__cost_event__init(ev);
    ev->event_id = g->event_id;
    ev->tenant_id = g->tenant;
    ev->provider = vx_pb_str(provider_names[svc->provider]);
    ev->sub_account_id = vx_pb_str(acct->id);
    ev->service_name = vx_pb_str(svc->name);
    ev->service_category = vx_pb_str(svc->category);
    ev->region_id = vx_pb_str(reg->id);
    ev->resource_id = g->resource_id;
    ev->charge_category = vx_pb_str("Usage");
    ev->charge_period_start = g->start_s + day * DAY_S + hour * 3600;
    ev->charge_period_end = ev->charge_period_start + 3600;
    ev->billed_cost = &g->billed;
    ev->effective_cost = &g->effective;
    ev->list_cost = &g->list;
    ev->billing_currency = vx_pb_str("USD");
    ev->usage_quantity = &g->quantity;
    ev->usage_unit = vx_pb_str(svc->unit);
    ev->n_tags = 3;
    ev->tags = g->tag_ptrs;
    ev->revision = 0;
    return true;
}

uint64_t vx_gen_produced(const vx_gen *g)
{
    return g->produced;
}

uint64_t vx_gen_total(const vx_gen *g)
{
    return g->total;
}

void vx_gen_destroy(vx_gen *g)
{
    if (!g)
        return;
    vx_free(g->growth_ppm);
    vx_free(g);
}
