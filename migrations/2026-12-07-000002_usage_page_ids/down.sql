DROP FUNCTION usage_page_ids(bigint[], bigint, bigint, text, bigint, bigint);
