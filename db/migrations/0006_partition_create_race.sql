-- vx_ensure_month_partition, safe when writers race to create the same month: the advisory lock
-- serialises them, but to_regclass may still answer from a catalog cache that has not yet seen
-- the other writer's committed table (an advisory lock does not make a backend read pending
-- catalog invalidations), so CREATE TABLE could fail with "already exists". That failure now
-- means what it says: the partition is there.
CREATE OR REPLACE FUNCTION vx_ensure_month_partition(ts timestamptz) RETURNS text
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
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF cost_records FOR VALUES FROM (%L) TO (%L)',
                           name, m, m + interval '1 month');
        EXCEPTION WHEN duplicate_table THEN
            NULL; -- made by the writer that held the lock before us
        END;
    END IF;
    RETURN name;
END $$;
