//! Multi-row `INSERT … VALUES` statements with inline literals, sent over the simple/text
//! protocol: one round trip per batch and no per-parameter overhead (MySQL's prepared
//! statements describe every one of the ~36 000 parameters back to the client).
//!
//! Literal safety: integers and booleans are formatted by Rust; a string made only of
//! printable ASCII other than `'` and `\` is sent as `'…'`, which means the same in every
//! `sql_mode` / `standard_conforming_strings` setting. Any other string is sent so that no
//! escape rules matter: on MySQL as `_utf8mb4 X'<hex>'`, on Postgres as an escape string
//! `E'…'` (`''` and `\\`). Postgres text cannot hold NUL characters; such a string is an error.

use std::fmt::Write as _;

use tollgate_newapi_schema::{Backend, NewLog};

/// The column list of a `logs` insert (everything but `id`), quoted for `backend`.
pub(crate) fn log_columns(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            r#"INSERT INTO "logs" ("user_id","created_at","type","content","username","token_name","model_name","quota","prompt_tokens","completion_tokens","use_time","is_stream","channel_id","token_id","group","ip","request_id","other") VALUES "#
        }
        Backend::Mysql => {
            "INSERT INTO `logs` (`user_id`,`created_at`,`type`,`content`,`username`,`token_name`,`model_name`,`quota`,`prompt_tokens`,`completion_tokens`,`use_time`,`is_stream`,`channel_id`,`token_id`,`group`,`ip`,`request_id`,`other`) VALUES "
        }
    }
}

fn is_plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'\'' && b != b'\\')
}

/// Append `s` as a string literal.
pub(crate) fn push_str(sql: &mut String, backend: Backend, s: &str) -> anyhow::Result<()> {
    if is_plain(s) {
        sql.push('\'');
        sql.push_str(s);
        sql.push('\'');
        return Ok(());
    }
    match backend {
        Backend::Postgres => {
            anyhow::ensure!(
                !s.contains('\0'),
                "Postgres text cannot contain NUL characters"
            );
            // An escape string constant means the same whatever standard_conforming_strings is.
            sql.push_str("E'");
            for ch in s.chars() {
                match ch {
                    '\'' => sql.push_str("''"),
                    '\\' => sql.push_str("\\\\"),
                    _ => sql.push(ch),
                }
            }
            sql.push('\'');
        }
        Backend::Mysql => {
            sql.push_str("_utf8mb4 X'");
            for b in s.bytes() {
                let _ = write!(sql, "{b:02X}");
            }
            sql.push('\'');
        }
    }
    Ok(())
}

fn push_int(sql: &mut String, v: i64) {
    let _ = write!(sql, "{v}");
}

/// Append one `(…)` row of `logs` values.
pub(crate) fn push_log(sql: &mut String, backend: Backend, log: &NewLog) -> anyhow::Result<()> {
    sql.push('(');
    push_int(sql, log.user_id);
    sql.push(',');
    push_int(sql, log.created_at);
    sql.push(',');
    push_int(sql, log.log_type);
    sql.push(',');
    push_str(sql, backend, &log.content)?;
    sql.push(',');
    push_str(sql, backend, &log.username)?;
    sql.push(',');
    push_str(sql, backend, &log.token_name)?;
    sql.push(',');
    push_str(sql, backend, &log.model_name)?;
    for v in [
        log.quota,
        log.prompt_tokens,
        log.completion_tokens,
        log.use_time,
    ] {
        sql.push(',');
        push_int(sql, v);
    }
    sql.push_str(if log.is_stream { ",TRUE," } else { ",FALSE," });
    push_int(sql, log.channel_id);
    sql.push(',');
    push_int(sql, log.token_id);
    for s in [&log.group, &log.ip, &log.request_id, &log.other] {
        sql.push(',');
        push_str(sql, backend, s)?;
    }
    sql.push(')');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(backend: Backend, s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, backend, s).unwrap();
        out
    }

    #[test]
    fn literals() {
        for b in [Backend::Postgres, Backend::Mysql] {
            assert_eq!(lit(b, "gpt-4o {x:1}"), "'gpt-4o {x:1}'");
            assert_eq!(lit(b, ""), "''");
        }
        assert_eq!(lit(Backend::Postgres, "it's \\ é"), "E'it''s \\\\ é'");
        assert_eq!(lit(Backend::Mysql, "a'\\"), "_utf8mb4 X'61275C'");
        assert_eq!(lit(Backend::Mysql, "é"), "_utf8mb4 X'C3A9'");
        assert!(push_str(&mut String::new(), Backend::Postgres, "a\0b").is_err());
        assert_eq!(lit(Backend::Mysql, "a\0b"), "_utf8mb4 X'610062'");
    }
}
