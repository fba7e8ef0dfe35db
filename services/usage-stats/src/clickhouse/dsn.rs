//! `NEWAPI_LOG_DATABASE_URL` when new-api keeps `logs` in ClickHouse (its `LOG_SQL_DSN`):
//! which forms name ClickHouse, and where its HTTP interface is.
//!
//! usage-stats speaks ClickHouse's HTTP interface (port 8123 by default), not the native
//! protocol new-api's own DSN names (port 9000): same server, same user, other port.

use percent_encoding::percent_decode_str;
use secrecy::SecretString;

/// ClickHouse's HTTP port when a `clickhouse://` URL names none.
pub const DEFAULT_HTTP_PORT: u16 = 8123;

/// Where ClickHouse answers and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http(s)://host:port/`, without credentials (it may appear in errors and logs).
    pub base: url::Url,
    /// The database holding `logs`.
    pub database: String,
    /// The user, when one is named (else ClickHouse's `default`).
    pub user: Option<String>,
    /// Its password.
    pub password: Option<SecretString>,
}

/// `Some` when `url` names ClickHouse: `clickhouse://user:password@host[:port]/database`
/// (HTTP, port 8123 unless given) or `http(s)://user:password@host:port/?database=db`;
/// `None` for any other scheme (a MySQL or Postgres URL). The database defaults to
/// `default`.
pub fn parse(url: &str) -> Result<Option<Target>, String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let http_scheme = match scheme.as_deref() {
        Some("clickhouse") => "http",
        Some("http") => "http",
        Some("https") => "https",
        _ => return Ok(None),
    };
    let parsed = url::Url::parse(url).map_err(|_| "not a valid URL".to_owned())?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("no host")?;
    let port = parsed.port().unwrap_or(match http_scheme {
        "https" => 8443,
        _ => DEFAULT_HTTP_PORT,
    });
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let from_query = parsed
        .query_pairs()
        .find(|(k, _)| k == "database")
        .map(|(_, v)| v.into_owned());
    let from_path = parsed.path().trim_matches('/').to_owned();
    let database = from_query
        .or((!from_path.is_empty()).then(|| decode(&from_path)))
        .unwrap_or_else(|| "default".to_owned());
    if database.contains(['/', '`', '\'', '"']) {
        return Err("the database name has a character ClickHouse does not allow".into());
    }
    let user = (!parsed.username().is_empty()).then(|| decode(parsed.username()));
    let password = parsed.password().map(|p| SecretString::from(decode(p)));
    let base = url::Url::parse(&format!("{http_scheme}://{host}:{port}/"))
        .map_err(|_| "not a valid host".to_owned())?;
    Ok(Some(Target {
        base,
        database,
        user,
        password,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_forms_new_api_and_clickhouse_use_are_read() {
        let t = parse("clickhouse://reader:p%40ss@ch.internal:8123/newapi")
            .unwrap()
            .unwrap();
        assert_eq!(t.base.as_str(), "http://ch.internal:8123/");
        assert_eq!(t.database, "newapi");
        assert_eq!(t.user.as_deref(), Some("reader"));
        assert_eq!(t.password.unwrap().expose_secret(), "p@ss");
        let t = parse("clickhouse://ch/logsdb").unwrap().unwrap();
        assert_eq!(t.base.port(), Some(DEFAULT_HTTP_PORT));
        assert!(t.user.is_none() && t.password.is_none());
        let t = parse("https://u:p@ch.example.com:8443/?database=nl")
            .unwrap()
            .unwrap();
        assert_eq!(t.base.as_str(), "https://ch.example.com:8443/");
        assert_eq!(t.database, "nl");
        let t = parse("http://127.0.0.1:18123").unwrap().unwrap();
        assert_eq!(t.database, "default");
        // new-api's own DSN, native port and all: read as given (start-up says what to do).
        let t = parse("clickhouse://default:@10.0.0.5:9000/default")
            .unwrap()
            .unwrap();
        assert_eq!(t.base.port(), Some(9000));
    }

    #[test]
    fn sql_urls_are_not_clickhouse_and_bad_ones_are_refused() {
        for sql in [
            "mysql://root@127.0.0.1:3306/newapi",
            "postgres://u:p@db/newapi",
            "root:pw@tcp(127.0.0.1:3306)/newapi",
        ] {
            assert!(parse(sql).unwrap().is_none(), "{sql}");
        }
        assert!(parse("clickhouse://").is_err());
        assert!(parse("clickhouse://h:8123/a`b").is_err());
    }

    #[test]
    fn the_base_never_carries_the_password() {
        let t = parse("clickhouse://reader:hunter2@ch:8123/db")
            .unwrap()
            .unwrap();
        assert!(!t.base.as_str().contains("hunter2"));
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
