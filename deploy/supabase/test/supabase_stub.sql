-- A Supabase-like environment on plain Postgres (15+), for Tollgate's tests and the local
-- stack. NOT for a real Supabase project: there, all of this already exists.
--
-- What it provides, shaped like Supabase's own objects (same names, signatures and the
-- parts of the behaviour Tollgate relies on):
--   * roles anon, authenticated, service_role (NOLOGIN; service_role BYPASSRLS);
--   * schema auth: auth.users (a subset of its columns, including the secrets that must
--     never leave it), auth.uid() / auth.role() / auth.jwt() reading the JWT claims that
--     PostgREST puts in `request.jwt.claims`;
--   * schema vault: vault.secrets, vault.decrypted_secrets (stored in clear here: this is
--     a stub), vault.create_secret(), vault.update_secret();
--   * schema net: net.http_post(url, body, params, headers, timeout_milliseconds) with
--     pg_net's signature, which sends nothing and records each call in
--     net.http_post_calls (to replay one by hand, see deploy/supabase/README.md);
--   * Supabase's grants: USAGE on public and auth for the API roles, and default
--     privileges that give them ALL on tables created later in public (as on Supabase,
--     where that is why 01_api_keys_rls.sql revokes before it grants).
--
-- Safe to run again, and from concurrent sessions (tests create databases in parallel;
-- roles are cluster-wide).

-- Roles: check-then-create races between sessions, so also swallow the error of the
-- loser (duplicate_object, or unique_violation on pg_authid when both pass the check).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created by a concurrent session
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    -- Supabase's service_role bypasses RLS. Only a superuser may set BYPASSRLS; skip it
    -- elsewhere (nothing in Tollgate's tests depends on it).
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
       AND NOT (SELECT rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        BEGIN
            ALTER ROLE service_role BYPASSRLS;
        EXCEPTION WHEN OTHERS THEN
            NULL; -- a concurrent session did it (tuple concurrently updated)
        END;
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------
-- auth
-- ---------------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.users (
    instance_id          uuid,
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    aud                  varchar(255) DEFAULT 'authenticated',
    role                 varchar(255) DEFAULT 'authenticated',
    email                varchar(255),
    encrypted_password   varchar(255),
    email_confirmed_at   timestamptz,
    confirmation_token   varchar(255),
    recovery_token       varchar(255),
    last_sign_in_at      timestamptz,
    raw_app_meta_data    jsonb,
    raw_user_meta_data   jsonb,
    is_super_admin       boolean,
    created_at           timestamptz DEFAULT now(),
    updated_at           timestamptz DEFAULT now(),
    phone                text UNIQUE DEFAULT NULL,
    phone_confirmed_at   timestamptz,
    banned_until         timestamptz,
    deleted_at           timestamptz,
    is_anonymous         boolean NOT NULL DEFAULT false
);

-- As Supabase defines them (request.jwt.claim.sub is the pre-PostgREST-9 setting).
CREATE OR REPLACE FUNCTION auth.uid()
    RETURNS uuid
    LANGUAGE sql
    STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role()
    RETURNS text
    LANGUAGE sql
    STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt()
    RETURNS jsonb
    LANGUAGE sql
    STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
-- auth.users itself is not readable by the API roles (as on Supabase).
REVOKE ALL ON TABLE auth.users FROM anon, authenticated;
GRANT ALL ON TABLE auth.users TO service_role;

-- ---------------------------------------------------------------------------------------
-- public: Supabase's grants to the API roles
-- ---------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- vault (no encryption: a stub). Only the owner (postgres) may read it, as on Supabase.
-- ---------------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS vault;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;

CREATE TABLE IF NOT EXISTS vault.secrets (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text,
    description text NOT NULL DEFAULT '',
    secret      text NOT NULL,
    key_id      uuid,
    nonce       bytea,
    created_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;

CREATE OR REPLACE VIEW vault.decrypted_secrets AS
    SELECT id, name, description, secret, secret AS decrypted_secret, key_id, nonce,
           created_at, updated_at
      FROM vault.secrets;

CREATE OR REPLACE FUNCTION vault.create_secret(
    new_secret      text,
    new_name        text DEFAULT NULL,
    new_description text DEFAULT '',
    new_key_id      uuid DEFAULT NULL
)
    RETURNS uuid
    LANGUAGE sql
AS $$
    INSERT INTO vault.secrets (secret, name, description, key_id)
    VALUES ($1, $2, $3, $4)
    RETURNING id
$$;

CREATE OR REPLACE FUNCTION vault.update_secret(
    secret_id       uuid,
    new_secret      text DEFAULT NULL,
    new_name        text DEFAULT NULL,
    new_description text DEFAULT NULL,
    new_key_id      uuid DEFAULT NULL
)
    RETURNS void
    LANGUAGE sql
AS $$
    UPDATE vault.secrets
       SET secret      = coalesce($2, secret),
           name        = coalesce($3, name),
           description = coalesce($4, description),
           key_id      = coalesce($5, key_id),
           updated_at  = CURRENT_TIMESTAMP
     WHERE id = $1
$$;

REVOKE ALL ON FUNCTION vault.create_secret(text, text, text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------
-- net (pg_net's request API, recording instead of sending)
-- ---------------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS net;
REVOKE ALL ON SCHEMA net FROM PUBLIC;

CREATE TABLE IF NOT EXISTS net.http_post_calls (
    id                   bigserial PRIMARY KEY,
    url                  text NOT NULL,
    body                 jsonb,
    params               jsonb,
    headers              jsonb,
    timeout_milliseconds integer,
    called_at            timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- pg_net: net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
--   headers jsonb default '{"Content-Type": "application/json"}',
--   timeout_milliseconds int default 5000) returns bigint (the request id).
CREATE OR REPLACE FUNCTION net.http_post(
    url                  text,
    body                 jsonb DEFAULT '{}'::jsonb,
    params               jsonb DEFAULT '{}'::jsonb,
    headers              jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
)
    RETURNS bigint
    LANGUAGE sql
    VOLATILE
    SECURITY DEFINER -- as pg_net's: callers need EXECUTE, not rights on its tables
    SET search_path = ''
AS $$
    INSERT INTO net.http_post_calls (url, body, params, headers, timeout_milliseconds)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id
$$;

REVOKE ALL ON FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer) FROM PUBLIC;
