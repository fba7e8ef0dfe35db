use std::process::ExitCode;

use billing::settings::Settings;
use billing::{startup, DEFAULT_PORT, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    tollgate_web::cli::run(
        SERVICE,
        DEFAULT_PORT,
        Settings::load,
        |s| &s.common,
        billing::api_doc::document,
        startup::serve,
    )
    .await
}
