//! Postgres `COPY logs (…) FROM STDIN (FORMAT binary)` through tokio-postgres (the driver
//! under diesel-async): no SQL to parse per row and batched heap inserts on the server.

use std::pin::pin;

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};
use tollgate_newapi_schema::NewLog;

const COPY_LOGS: &str = r#"COPY "logs" ("user_id","created_at","type","content","username","token_name","model_name","quota","prompt_tokens","completion_tokens","use_time","is_stream","channel_id","token_id","group","ip","request_id","other") FROM STDIN (FORMAT binary)"#;

const TYPES: [Type; 18] = [
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::BOOL,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::VARCHAR,
    Type::TEXT,
];

/// A plain tokio-postgres connection (no TLS, like diesel-async's `establish`) with
/// `synchronous_commit = off` for this session.
pub(crate) async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        // Ends when the client is dropped; errors surface on the client's calls.
        let _ = connection.await;
    });
    client
        .batch_execute("SET synchronous_commit TO off")
        .await?;
    Ok(client)
}

/// Copy `rows` into `logs` in one `COPY`; returns the number of rows copied.
pub(crate) async fn copy_logs(client: &Client, rows: &[NewLog]) -> anyhow::Result<u64> {
    let sink = client.copy_in(COPY_LOGS).await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &TYPES));
    for r in rows {
        let values: [&(dyn ToSql + Sync); 18] = [
            &r.user_id,
            &r.created_at,
            &r.log_type,
            &r.content,
            &r.username,
            &r.token_name,
            &r.model_name,
            &r.quota,
            &r.prompt_tokens,
            &r.completion_tokens,
            &r.use_time,
            &r.is_stream,
            &r.channel_id,
            &r.token_id,
            &r.group,
            &r.ip,
            &r.request_id,
            &r.other,
        ];
        writer.as_mut().write(&values).await?;
    }
    Ok(writer.finish().await?)
}
