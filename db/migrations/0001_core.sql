-- Tenants, API keys, the partitioned cost ledger, its daily rollup, and row-level security.
-- Applied by `valdrix migrate` as the owner role; services connect as valdrix_app, which owns
-- nothing and sees only the tenant named by the per-transaction setting vx.tenant_id.

-- The tenant of the current transaction, or NULL when none is set (no rows visible then).
CREATE FUNCTION vx_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('vx.tenant_id', true), '')::uuid $$;

CREATE TABLE tenants (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    plan         text NOT NULL CHECK (plan IN ('starter', 'growth', 'pro', 'enterprise')),
    -- Per-tenant rate-limit overrides; NULL means the plan's value.
    api_per_min          integer CHECK (api_per_min > 0),
    llm_per_day          integer CHECK (llm_per_day > 0),
    remediation_per_hour integer CHECK (remediation_per_hour > 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id        text PRIMARY KEY CHECK (key_id ~ '^vxk_[a-z0-9]{12}$'),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- One row per (tenant, charge period start, event); a restatement replaces the row in place.
-- Amounts are exact decimals; recorded_at is FOCUS ChargePeriodStart, the partition key.
CREATE TABLE cost_records (
    tenant_id         uuid        NOT NULL,
    recorded_at       timestamptz NOT NULL,
    event_id          uuid        NOT NULL,
    revision          bigint      NOT NULL CHECK (revision >= 0),
    charge_period_end timestamptz NOT NULL,
    provider          text        NOT NULL,
    sub_account_id    text        NOT NULL,
    service_name      text        NOT NULL,
    service_category  text        NOT NULL,
    region_id         text        NOT NULL,
    resource_id       text        NOT NULL,
    charge_category   text        NOT NULL,
    billed_cost       numeric(38, 9) NOT NULL,
    effective_cost    numeric(38, 9) NOT NULL,
    list_cost         numeric(38, 9) NOT NULL,
    billing_currency  char(3)     NOT NULL,
    usage_quantity    numeric(38, 9) NOT NULL,
    usage_unit        text        NOT NULL,
    tags              jsonb       NOT NULL DEFAULT '{}',
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, recorded_at, event_id)
) PARTITION BY RANGE (recorded_at);

-- Daily sums per tenant, day (UTC) and dimension; kept equal to cost_records by ingest in the
-- same transaction as the rows. Forecasts and summaries read this, never raw rows.
CREATE TABLE cost_daily (
    tenant_id        uuid    NOT NULL,
    day              date    NOT NULL,
    service_name     text    NOT NULL,
    sub_account_id   text    NOT NULL,
    region_id        text    NOT NULL,
    provider         text    NOT NULL,
    billing_currency char(3) NOT NULL,
    billed_cost      numeric(38, 9) NOT NULL,
    effective_cost   numeric(38, 9) NOT NULL,
    list_cost        numeric(38, 9) NOT NULL,
    record_count     bigint  NOT NULL,
    PRIMARY KEY (tenant_id, day, service_name, sub_account_id, region_id, provider, billing_currency)
);

-- Bumped by ingest whenever it commits rows of a tenant: caches key on it.
CREATE TABLE tenant_data_versions (
    tenant_id  uuid PRIMARY KEY,
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'api_keys', 'cost_records', 'cost_daily', 'tenant_data_versions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END $$;

CREATE POLICY tenant_isolation ON tenants
    USING (id = vx_current_tenant()) WITH CHECK (id = vx_current_tenant());
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = vx_current_tenant()) WITH CHECK (tenant_id = vx_current_tenant());
CREATE POLICY tenant_isolation ON cost_records
    USING (tenant_id = vx_current_tenant()) WITH CHECK (tenant_id = vx_current_tenant());
CREATE POLICY tenant_isolation ON cost_daily
    USING (tenant_id = vx_current_tenant()) WITH CHECK (tenant_id = vx_current_tenant());
CREATE POLICY tenant_isolation ON tenant_data_versions
    USING (tenant_id = vx_current_tenant()) WITH CHECK (tenant_id = vx_current_tenant());

-- Creates the month partition of cost_records holding `ts` if it is missing. Safe when many
-- replicas ask at once (advisory lock, then a second look). Runs as the owner: the service
-- role may create partitions only through this function.
CREATE FUNCTION vx_ensure_month_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC'
AS $$
DECLARE
    m    timestamptz := date_trunc('month', ts);
    name text := 'cost_records_' || to_char(m, 'YYYY_MM');
BEGIN
    IF m < timestamptz '1970-01-01 00:00Z' OR m >= timestamptz '2200-01-01 00:00Z' THEN
        RAISE EXCEPTION 'charge period % is outside 1970..2199', ts USING ERRCODE = '22008';
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('vx_ensure_month_partition'), hashtext(name));
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF cost_records FOR VALUES FROM (%L) TO (%L)',
                       name, m, m + interval '1 month');
    END IF;
    RETURN name;
END $$;

-- Whether a tenant exists, for services that must check before they know the tenant.
CREATE FUNCTION vx_tenant_exists(t uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM tenants WHERE id = t) $$;

REVOKE ALL ON FUNCTION vx_ensure_month_partition(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION vx_tenant_exists(uuid) FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO valdrix_app;
GRANT EXECUTE ON FUNCTION vx_current_tenant() TO valdrix_app;
GRANT EXECUTE ON FUNCTION vx_ensure_month_partition(timestamptz) TO valdrix_app;
GRANT EXECUTE ON FUNCTION vx_tenant_exists(uuid) TO valdrix_app;
GRANT SELECT ON tenants, api_keys TO valdrix_app;
GRANT SELECT, INSERT, UPDATE ON cost_records, cost_daily, tenant_data_versions TO valdrix_app;
