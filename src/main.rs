//! The `lodestone` binary: parse arguments, run the command, print any error on one line.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match lodestone::cli::Cli::parse_with_config() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    lodestone::telemetry::init_logging(cli.log_format);
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
