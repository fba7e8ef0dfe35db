-- Organisation admins (issue 14): members signed in with Supabase, usage readings kept with
-- their time, and an audit trail of what people changed.

-- Who may see (viewer) or steer (admin) an organisation, besides the operator.
CREATE TABLE organization_members (
    organization_id BIGINT NOT NULL REFERENCES organization_balance_config (id),
    user_id UUID NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);

-- Cumulative usage reported by the quota backend, one row each time it grew (a limit
-- webhook's current_usage, a LiteLLM alert's spend, the poller's and sync's team spend).
CREATE TABLE organization_usage_readings (
    id BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organization_balance_config (id),
    usage_cents BIGINT NOT NULL CHECK (usage_cents >= 0),
    source TEXT NOT NULL CHECK (source IN ('limit_webhook', 'litellm_alert', 'poller', 'sync')),
    read_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX organization_usage_readings_org_time
    ON organization_usage_readings (organization_id, read_at);

ALTER TABLE organization_balance_config
    -- The latest reading, so that an unchanged one is not stored again.
    ADD COLUMN last_usage_cents BIGINT,
    ADD COLUMN last_usage_at TIMESTAMPTZ;

-- Every change a person made: who (`operator` or a Supabase user id), what, old → new.
CREATE TABLE organization_audit (
    id BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organization_balance_config (id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    changes JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX organization_audit_org ON organization_audit (organization_id, id DESC);
