-- Daily sums per tenant, day, service and currency: what forecasts read when no account, region
-- or provider filter narrows them. A tenant with 30 services in 10 accounts and 4 regions has
-- 40 times fewer rows here than in cost_daily, so 3 years of it are read in milliseconds.
-- Kept equal to the sums of cost_daily by statement triggers on cost_daily, in the same
-- transaction as the rows they sum (ingest's fast path, restatements, and any other writer).
CREATE TABLE cost_daily_service (
    tenant_id        uuid    NOT NULL,
    day              date    NOT NULL,
    service_name     text    NOT NULL,
    billing_currency char(3) NOT NULL,
    billed_cost      numeric(38, 9) NOT NULL,
    effective_cost   numeric(38, 9) NOT NULL,
    list_cost        numeric(38, 9) NOT NULL,
    record_count     bigint  NOT NULL,
    PRIMARY KEY (tenant_id, day, service_name, billing_currency)
);

ALTER TABLE cost_daily_service ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_daily_service FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_daily_service
    USING (tenant_id = vx_current_tenant()) WITH CHECK (tenant_id = vx_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON cost_daily_service TO valdrix_app;

-- Adds the net change of one statement on cost_daily: new rows count plus, old rows minus.
-- Keys are upserted in order, so concurrent writers lock them in the same order. Runs as the
-- writer (row-level security applies: the writer's tenant is the rows' tenant).
CREATE FUNCTION vx_cost_daily_service_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cost_daily_service AS s
        SELECT tenant_id, day, service_name, billing_currency, sum(billed_cost),
               sum(effective_cost), sum(list_cost), sum(record_count)
        FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, day, service_name, billing_currency) DO UPDATE SET
            billed_cost = s.billed_cost + EXCLUDED.billed_cost,
            effective_cost = s.effective_cost + EXCLUDED.effective_cost,
            list_cost = s.list_cost + EXCLUDED.list_cost,
            record_count = s.record_count + EXCLUDED.record_count;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO cost_daily_service AS s
        SELECT tenant_id, day, service_name, billing_currency, sum(b), sum(e), sum(l), sum(n)
        FROM (
            SELECT tenant_id, day, service_name, billing_currency, billed_cost AS b,
                   effective_cost AS e, list_cost AS l, record_count AS n
            FROM new_rows
            UNION ALL
            SELECT tenant_id, day, service_name, billing_currency, -billed_cost, -effective_cost,
                   -list_cost, -record_count
            FROM old_rows
        ) d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, day, service_name, billing_currency) DO UPDATE SET
            billed_cost = s.billed_cost + EXCLUDED.billed_cost,
            effective_cost = s.effective_cost + EXCLUDED.effective_cost,
            list_cost = s.list_cost + EXCLUDED.list_cost,
            record_count = s.record_count + EXCLUDED.record_count;
    ELSE
        UPDATE cost_daily_service s SET
            billed_cost = s.billed_cost - o.b, effective_cost = s.effective_cost - o.e,
            list_cost = s.list_cost - o.l, record_count = s.record_count - o.n
        FROM (SELECT tenant_id, day, service_name, billing_currency, sum(billed_cost) AS b,
                     sum(effective_cost) AS e, sum(list_cost) AS l, sum(record_count) AS n
              FROM old_rows GROUP BY 1, 2, 3, 4) o
        WHERE s.tenant_id = o.tenant_id AND s.day = o.day
          AND s.service_name = o.service_name AND s.billing_currency = o.billing_currency;
        -- a day and service with no records left has no row, as before it had any
        DELETE FROM cost_daily_service s USING (SELECT DISTINCT tenant_id, day, service_name,
            billing_currency FROM old_rows) o
        WHERE s.tenant_id = o.tenant_id AND s.day = o.day
          AND s.service_name = o.service_name AND s.billing_currency = o.billing_currency
          AND s.record_count = 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cost_daily_service_ins AFTER INSERT ON cost_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vx_cost_daily_service_apply();
CREATE TRIGGER cost_daily_service_upd AFTER UPDATE ON cost_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vx_cost_daily_service_apply();
CREATE TRIGGER cost_daily_service_del AFTER DELETE ON cost_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vx_cost_daily_service_apply();

-- What is already there.
INSERT INTO cost_daily_service
SELECT tenant_id, day, service_name, billing_currency, sum(billed_cost), sum(effective_cost),
       sum(list_cost), sum(record_count)
FROM cost_daily GROUP BY 1, 2, 3, 4;
