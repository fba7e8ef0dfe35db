//! The entry point the three binaries share: `<binary>` serves, `<binary> migrate` applies
//! pending migrations and exits, `<binary> openapi` prints the OpenAPI document. Configuration problems end the process with exit code 2
//! and one line naming the setting; runtime failures with exit code 1.

use secrecy::ExposeSecret;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use crate::{CommonSettings, SettingsError};

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run the service (default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the OpenAPI 3 document (what `GET /openapi.json` serves) and exit.
    Openapi,
    /// Print usage.
    Help,
}

/// Parse `args` (without the program name).
pub fn parse_command(args: &[String]) -> Result<Command, String> {
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => Ok(Command::Serve),
        ["migrate"] => Ok(Command::Migrate),
        ["openapi"] => Ok(Command::Openapi),
        ["-h" | "--help" | "help"] => Ok(Command::Help),
        other => Err(format!("unknown arguments: {}", other.join(" "))),
    }
}

/// Run a service binary: parse the command line, load settings, init logs, then migrate
/// or serve. `migrate` needs only the common settings; `serve` gets the service's full
/// settings and returns when the server has stopped; `openapi` needs no settings.
pub async fn run<S, L, C, F, Fut>(
    service: &str,
    default_port: u16,
    load: L,
    common: C,
    document: fn() -> utoipa::openapi::OpenApi,
    serve: F,
) -> ExitCode
where
    L: FnOnce() -> Result<S, SettingsError>,
    C: Fn(&S) -> &CommonSettings,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_command(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{service}: {e} (usage: {service} [serve|migrate|openapi])");
            return ExitCode::from(2);
        }
    };
    if command == Command::Help {
        println!("usage: {service} [serve|migrate|openapi]\n  serve    run the service (default)\n  migrate  apply pending database migrations and exit\n  openapi  print the OpenAPI 3 document and exit\nConfiguration comes from the environment; see .env.example.");
        return ExitCode::SUCCESS;
    }
    if command == Command::Openapi {
        match document().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("{service}: the OpenAPI document does not render: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let outcome = if command == Command::Migrate {
        let settings = match CommonSettings::load(service, default_port) {
            Ok(s) => s,
            Err(e) => return config_error(service, &e),
        };
        crate::telemetry::init(&settings.log_format, &settings.rust_log);
        migrate(service, &settings).await
    } else {
        let settings = match load() {
            Ok(s) => s,
            Err(e) => return config_error(service, &e),
        };
        let c = common(&settings);
        crate::telemetry::init(&c.log_format, &c.rust_log);
        serve(settings).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{service}: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn config_error(service: &str, e: &SettingsError) -> ExitCode {
    eprintln!("{service}: {e}");
    ExitCode::from(2)
}

async fn migrate(service: &str, common: &CommonSettings) -> anyhow::Result<()> {
    let target = tollgate_db::describe_database_url(common.database_url.expose_secret());
    let applied = tollgate_db::run_migrations(common.database_url.expose_secret())
        .await
        .map_err(|e| anyhow::anyhow!("migrating {target}: {e}"))?;
    tracing::info!(count = applied.len(), versions = ?applied, "migrations applied");
    println!(
        "{service}: {} migration(s) applied to {target}",
        applied.len()
    );
    Ok(())
}

/// Open the pool, refusing a database that is unreachable or not fully migrated.
pub async fn connect_migrated(
    service: &str,
    common: &CommonSettings,
) -> anyhow::Result<tollgate_db::PgPool> {
    let target = tollgate_db::describe_database_url(common.database_url.expose_secret());
    let timeout = Duration::from_secs(common.db_connect_timeout_secs);
    let pending = tokio::time::timeout(
        timeout,
        tollgate_db::pending_migrations(common.database_url.expose_secret()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("cannot reach the database at {target} within {timeout:?}"))?
    .map_err(|e| anyhow::anyhow!("cannot use the database at {target}: {e}"))?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database at {target} is not migrated ({} pending); run `{service} migrate` first",
            pending.len()
        );
    }
    Ok(tollgate_db::connect_pool(
        common.database_url.expose_secret(),
        common.db_pool_size,
        timeout,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands() {
        assert_eq!(parse_command(&args(&[])), Ok(Command::Serve));
        assert_eq!(parse_command(&args(&["serve"])), Ok(Command::Serve));
        assert_eq!(parse_command(&args(&["migrate"])), Ok(Command::Migrate));
        assert_eq!(parse_command(&args(&["openapi"])), Ok(Command::Openapi));
        assert_eq!(parse_command(&args(&["--help"])), Ok(Command::Help));
        assert!(parse_command(&args(&["migrate", "now"])).is_err());
        assert!(parse_command(&args(&["frobnicate"])).is_err());
    }
}
