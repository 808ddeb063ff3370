//! Printing results: JSON for scripts (`--json`), short aligned text for people.
//!
//! Everything goes through [`say!`](crate::say), which ignores a closed standard output (a
//! reader such as `head` that stopped early) instead of panicking like `println!` does.

use serde_json::Value;

/// `println!` that never panics on a closed standard output.
#[macro_export]
#[doc(hidden)]
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Prints `value` as pretty JSON on stdout.
pub fn json(value: &Value) {
    crate::say!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

/// Prints `label: value` lines, aligned.
pub fn fields(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        crate::say!("{key:>width$}  {value}");
    }
}
