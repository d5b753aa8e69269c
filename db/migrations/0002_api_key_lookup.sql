-- The API edge authenticates a request before it knows the tenant, so it cannot read api_keys
-- through row-level security. This function, run as the owner, returns exactly what the check
-- needs for one key id: its tenant, the SHA-256 of its secret, whether it is revoked, and the
-- tenant's plan and limit overrides. Nothing else of any tenant is reachable through it.
CREATE FUNCTION vx_api_key_lookup(k text)
RETURNS TABLE (tenant_id uuid, secret_sha256 bytea, revoked boolean, plan text,
               api_per_min integer, llm_per_day integer, remediation_per_hour integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT a.tenant_id, a.secret_sha256, a.revoked_at IS NOT NULL, t.plan, t.api_per_min,
           t.llm_per_day, t.remediation_per_hour
    FROM api_keys a JOIN tenants t ON t.id = a.tenant_id
    WHERE a.key_id = k
$$;

REVOKE ALL ON FUNCTION vx_api_key_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vx_api_key_lookup(text) TO valdrix_app;
