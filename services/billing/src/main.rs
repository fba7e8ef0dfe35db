use std::process::ExitCode;

use billing::settings::Settings;
use billing::{startup, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    tollgate_web::cli::run(SERVICE, Settings::load, |s| &s.common, startup::serve).await
}
