use std::process::ExitCode;

use key_sync::settings::Settings;
use key_sync::{startup, DEFAULT_PORT, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    tollgate_web::cli::run(
        SERVICE,
        DEFAULT_PORT,
        Settings::load,
        |s| &s.common,
        key_sync::api_doc::document,
        startup::serve,
    )
    .await
}
