use std::process::ExitCode;

use usage_stats::settings::Settings;
use usage_stats::{startup, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    tollgate_web::cli::run(SERVICE, Settings::load, |s| &s.common, startup::serve).await
}
