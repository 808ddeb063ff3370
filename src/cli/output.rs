//! Printing results: JSON for scripts (`--json`), short aligned text for people.

use serde_json::Value;

/// Prints `value` as pretty JSON on stdout.
pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

/// Prints `label: value` lines, aligned.
pub fn fields(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:>width$}  {value}");
    }
}
