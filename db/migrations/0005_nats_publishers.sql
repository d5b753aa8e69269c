-- NATS credentials of outside publishers (`valdrix publisher create|revoke|list|sync`): each may
-- publish cost events for one tenant only. nats-server reads them from nats-users.conf, which
-- `valdrix publisher sync` renders from the rows not revoked. Only the owner role reads this
-- table (no grant to valdrix_app); the password is kept as a bcrypt hash, as nats-server wants.
CREATE TABLE nats_publishers (
    user_name       text PRIMARY KEY CHECK (user_name ~ '^pub_[a-z0-9]{12}$'),
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    password_bcrypt text NOT NULL CHECK (password_bcrypt LIKE '$2b$%'),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX nats_publishers_tenant ON nats_publishers (tenant_id);
