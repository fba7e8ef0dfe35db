use std::process::ExitCode;

use usage_stats::settings::Settings;
use usage_stats::{startup, DEFAULT_PORT, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    tollgate_web::cli::run(
        SERVICE,
        DEFAULT_PORT,
        Settings::load,
        |s| &s.common,
        usage_stats::api_doc::document,
        startup::serve,
    )
    .await
}
