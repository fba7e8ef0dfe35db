-- Tollgate / key-sync: who may read `public.api_keys` through Supabase's Data API.
--
-- Apply AFTER `key-sync migrate` (the migration creates the table), as the role that owns
-- the table (on Supabase: `postgres`, the role of DATABASE_URL). Re-run it after any
-- migration that recreates `api_keys` or changes its columns. Safe to run again: every
-- step replaces or checks what an earlier run left.
--
-- What it sets up:
--   * the portal (role `authenticated`, a user's JWT) reads its OWN rows only, and only
--     the display columns: never `key_ciphertext` or `key_hash`;
--   * clients (`anon`, `authenticated`) can write nothing: keys are created, changed and
--     deleted by key-sync alone;
--   * `user_id` references `auth.users(id) ON DELETE CASCADE` (the seed plan's FK): a user
--     deleted from Supabase Auth loses their key rows.
--     NOTE: that deletes Tollgate's rows only; it does not revoke the token in new-api.

BEGIN;

DO $$
BEGIN
    IF pg_catalog.to_regclass('public.api_keys') IS NULL THEN
        RAISE EXCEPTION 'public.api_keys does not exist: run `key-sync migrate` first';
    END IF;
    IF pg_catalog.to_regclass('auth.users') IS NULL THEN
        RAISE EXCEPTION 'auth.users does not exist: this is not a Supabase database '
            '(for tests and the local stack apply deploy/supabase/test/supabase_stub.sql first)';
    END IF;
    IF pg_catalog.to_regprocedure('auth.uid()') IS NULL THEN
        RAISE EXCEPTION 'auth.uid() does not exist: this is not a Supabase database';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon')
       OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        RAISE EXCEPTION 'roles anon and authenticated must exist (Supabase creates them)';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Row level security.
--
-- ENABLE, but deliberately NOT FORCE: key-sync connects as the table's owner (`postgres`
-- on Supabase, the role that ran the migration), and an owner is exempt from its table's
-- policies unless RLS is forced. Forcing it would make every key-sync query (webhook
-- inserts, the sync worker, the admin API, reconcile) see and change nothing, because
-- none of them carries a user's JWT. The roles the policies are for (`anon`,
-- `authenticated`) never own the table, so forcing would add no protection for them.
-- `NO FORCE` is stated explicitly so that re-running this file also undoes a manual FORCE.
-- ---------------------------------------------------------------------------------------
ALTER TABLE public.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.api_keys NO FORCE ROW LEVEL SECURITY;

-- The seed plan's policy name, kept so the Supabase dashboard shows the familiar one.
-- `(select auth.uid())` is evaluated once per statement (an initPlan), not once per row.
-- Without claims (or with a JWT that has no `sub`) auth.uid() is NULL and nothing matches.
DROP POLICY IF EXISTS "Users can view own keys" ON public.api_keys;
CREATE POLICY "Users can view own keys"
    ON public.api_keys
    AS PERMISSIVE
    FOR SELECT
    TO authenticated
    USING (user_id = (SELECT auth.uid()));
-- No INSERT / UPDATE / DELETE policy: with RLS on and no such policy, clients can write
-- no row even if a privilege were granted by mistake. The REVOKEs below are the other lock.

-- ---------------------------------------------------------------------------------------
-- Privileges.
--
-- Supabase's default privileges grant ALL on every new table in `public` to anon,
-- authenticated and service_role, so the migration's table starts with them. Revoke all
-- from the client roles (revoking table privileges also revokes any column privileges,
-- so a re-run starts from a clean slate), then give `authenticated` SELECT on an explicit
-- allow-list of columns. Everything except `key_ciphertext` and `key_hash` is listed; a
-- column added by a later migration stays hidden until it is added here (a test fails
-- until someone decides). The portal must therefore name its columns: PostgREST
-- `select=*` on this table is "permission denied".
-- service_role (server-side key, BYPASSRLS) is left as Supabase configures it.
-- ---------------------------------------------------------------------------------------
REVOKE ALL ON TABLE public.api_keys FROM PUBLIC;
REVOKE ALL ON TABLE public.api_keys FROM anon;
REVOKE ALL ON TABLE public.api_keys FROM authenticated;

GRANT SELECT (
    id,
    user_id,
    name,
    is_default,
    key_hint,
    status,
    newapi_synced,
    newapi_token_id,
    sync_error,
    sync_attempts,
    next_sync_at,
    sync_claimed_until,
    last_sync_at,
    synced_at,
    created_at,
    updated_at,
    sync_version,
    revoked_at,
    replaced_by
) ON TABLE public.api_keys TO authenticated;

-- ---------------------------------------------------------------------------------------
-- user_id -> auth.users(id) ON DELETE CASCADE.
--
-- Not in the migration, because Tollgate's migrations also run on plain Postgres (tests,
-- local stack) where there is no auth.users. key-sync only inserts after the signup has
-- committed (pg_net sends the webhook after commit), so the row it references exists.
-- Fails (and rolls this file back) if api_keys holds rows of users unknown to auth.users.
-- ---------------------------------------------------------------------------------------
DO $$
DECLARE
    on_delete "char";
    target    regclass;
BEGIN
    SELECT c.confdeltype, c.confrelid
      INTO on_delete, target
      FROM pg_catalog.pg_constraint c
     WHERE c.conrelid = 'public.api_keys'::pg_catalog.regclass
       AND c.conname = 'api_keys_user_id_fkey';

    IF on_delete = 'c' AND target = 'auth.users'::pg_catalog.regclass THEN
        RETURN; -- already there, as wanted
    END IF;
    IF on_delete IS NOT NULL THEN
        -- Created differently by hand: replace it with the cascading one.
        ALTER TABLE public.api_keys DROP CONSTRAINT api_keys_user_id_fkey;
    END IF;
    ALTER TABLE public.api_keys
        ADD CONSTRAINT api_keys_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE;
END
$$;

COMMIT;
