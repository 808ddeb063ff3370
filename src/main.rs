//! The `lodestone` binary: parse arguments, run the command, print any error on one line.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LODESTONE_LOG")
                .unwrap_or_else(|_| "lodestone=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = lodestone::cli::Cli::parse();
    match lodestone::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // One line: the error and its causes, outermost first. No backtrace.
            let mut line = format!("error: {error}");
            for cause in error.chain().skip(1) {
                // Many errors already quote their source; say each thing once.
                let cause = cause.to_string();
                if !line.contains(&cause) {
                    line.push_str(": ");
                    line.push_str(&cause);
                }
            }
            eprintln!("{line}");
            ExitCode::from(2)
        }
    }
}
