DROP TABLE usage_token_version;
