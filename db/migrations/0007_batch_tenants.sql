-- Ingest writes a batch of many tenants in one statement instead of one per tenant (with 8 000
-- tenants a 3 200-event batch held 64 tenants, and 64 statements with their rollup triggers cost
-- twice what one does). Row-level security still holds each row to a tenant the writer named: a
-- transaction may list the tenants it has verified in vx.batch_tenants (a uuid array literal, set
-- local to the transaction), and these policies let it insert those tenants' rows and upsert
-- their rollups and data versions. Reads are unchanged: cost_records gets no SELECT policy of
-- this kind, and ingest clears the setting as soon as its statement has run.

-- The tenants the current transaction's batch writes, or none.
CREATE FUNCTION vx_batch_tenants() RETURNS uuid[]
LANGUAGE sql STABLE
AS $$ SELECT COALESCE(NULLIF(current_setting('vx.batch_tenants', true), ''), '{}')::uuid[] $$;
GRANT EXECUTE ON FUNCTION vx_batch_tenants() TO valdrix_app;

-- (SELECT ...) makes the array an init plan, computed once per statement, not once per row; the
-- cast keeps ANY reading it as one array (ANY (subquery) would compare with each row of it).
CREATE POLICY batch_insert ON cost_records FOR INSERT
    WITH CHECK (tenant_id = ANY ((SELECT vx_batch_tenants())::uuid[]));

-- An upsert (INSERT ... ON CONFLICT DO UPDATE) checks INSERT, UPDATE and SELECT policies.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cost_daily', 'cost_daily_service', 'tenant_data_versions'] LOOP
        EXECUTE format('CREATE POLICY batch_insert ON %I FOR INSERT '
                       'WITH CHECK (tenant_id = ANY ((SELECT vx_batch_tenants())::uuid[]))', t);
        EXECUTE format('CREATE POLICY batch_update ON %I FOR UPDATE '
                       'USING (tenant_id = ANY ((SELECT vx_batch_tenants())::uuid[])) '
                       'WITH CHECK (tenant_id = ANY ((SELECT vx_batch_tenants())::uuid[]))', t);
        EXECUTE format('CREATE POLICY batch_select ON %I FOR SELECT '
                       'USING (tenant_id = ANY ((SELECT vx_batch_tenants())::uuid[]))', t);
    END LOOP;
END $$;
