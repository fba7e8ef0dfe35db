//! `loadgen`: see the library documentation, or `loadgen --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let code = runtime.block_on(loadgen::cli::run(
        std::env::args_os(),
        &mut stdout,
        &mut stderr,
    ));
    let _ = std::io::Write::flush(&mut stdout);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
