-- One page of log ids from the log index, newest first, for a set of tokens: per token a
-- backward walk of the (token_id, created_at, log_id) key that stops after skip + take rows,
-- then the merge (services/usage-stats/src/query/recent.rs).
--
-- A function so that one round trip runs it with sorts and bitmap scans off: without
-- statistics on a token (a generic plan, a fresh table) the planner expects a few hundred
-- rows per token and prefers a bitmap scan and a sort, which reads all of a heavy token's
-- rows in the range (a million: 300 ms instead of 0.3 ms). PL/pgSQL keeps the query's plan
-- per connection. JIT off: the disabled methods' cost penalty would otherwise pass
-- jit_above_cost and compile every call (30-40 ms).
CREATE FUNCTION usage_page_ids(
    tokens bigint[], first_at bigint, last_at bigint, model text, skip bigint, take bigint
) RETURNS TABLE (id bigint)
LANGUAGE plpgsql STABLE
SET enable_sort = off
SET enable_bitmapscan = off
SET jit = off
AS $$
BEGIN
    RETURN QUERY
    SELECT l.log_id
    FROM unnest(tokens) AS t(token)
    CROSS JOIN LATERAL (
        SELECT i.log_id, i.created_at
        FROM usage_log_index AS i
        WHERE i.token_id = t.token
          AND i.created_at BETWEEN first_at AND last_at
          AND (model = '' OR i.model_name = model)
        ORDER BY i.created_at DESC, i.log_id DESC
        LIMIT skip + take
    ) AS l
    ORDER BY l.created_at DESC, l.log_id DESC
    OFFSET skip LIMIT take;
END
$$;
