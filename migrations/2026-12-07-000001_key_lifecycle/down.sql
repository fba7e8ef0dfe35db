DROP TABLE gateway_users;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_revoked_at;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_synced_has_token;
DELETE FROM api_keys WHERE newapi_synced AND newapi_token_id IS NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_synced_has_token
    CHECK (NOT newapi_synced OR newapi_token_id IS NOT NULL);
ALTER TABLE api_keys DROP COLUMN replaced_by, DROP COLUMN revoked_at, DROP COLUMN sync_version;
