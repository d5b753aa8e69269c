-- LLM spending: each tenant's monthly LLM budget, and the usage ledger that is the source of
-- truth for it (one row per provider call that was reserved: settled with its cost, or
-- released with cost 0 and the reason). services/llm keeps a running total in Redis and seeds
-- it from this table, so the table must never lose a settled call.

-- The tenant's monthly LLM budget in USD; NULL means the service default (VX_LLM_MONTHLY_BUDGET_USD)
-- times the plan's multiplier. Covered by the existing SELECT grant and tenant_isolation policy.
ALTER TABLE tenants ADD COLUMN llm_budget_usd numeric(20, 6) CHECK (llm_budget_usd >= 0);

CREATE TABLE llm_usage (
    id            bigserial   PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- When the call was reserved: the budget month it counts against (UTC).
    created_at    timestamptz NOT NULL DEFAULT now(),
    provider      text        NOT NULL CHECK (length(provider) BETWEEN 1 AND 32),
    model         text        NOT NULL CHECK (length(model) <= 200),
    input_tokens  bigint      NOT NULL CHECK (input_tokens >= 0),
    output_tokens bigint      NOT NULL CHECK (output_tokens >= 0),
    cost          numeric(20, 6) NOT NULL CHECK (cost >= 0), -- USD
    latency_ms    bigint      NOT NULL CHECK (latency_ms >= 0),
    outcome       text        NOT NULL CHECK (length(outcome) BETWEEN 1 AND 32),
    request_id    uuid,       -- one insight request (its calls share it)
    trace_id      text        CHECK (trace_id ~ '^[0-9a-f]{32}$')
);
CREATE INDEX llm_usage_tenant_created ON llm_usage (tenant_id, created_at);

ALTER TABLE llm_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llm_usage
    USING (tenant_id = vx_current_tenant()) WITH CHECK (tenant_id = vx_current_tenant());

-- Append-only for the service: a ledger row is never changed or removed by it.
GRANT SELECT, INSERT ON llm_usage TO valdrix_app;
GRANT USAGE ON SEQUENCE llm_usage_id_seq TO valdrix_app;
