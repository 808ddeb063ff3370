//! Configuration files for the long-running commands (`serve`, `witness serve`, `monitor`).
//!
//! A TOML file with one table per command — `[serve]`, `[witness]`, `[monitor]` — whose keys are
//! the command's long flag names (`addr`, `witness-policy`, `log-format`, ...). Precedence,
//! highest first: a flag on the command line, its `LODESTONE_*` environment variable, the file,
//! the built-in default. The file is applied by adding its settings as flags for every setting
//! the command line and the environment leave open, so a file value goes through exactly the
//! parser, the validation and the error messages of the flag it stands for.
//!
//! `lodestone config check FILE` reports every problem in a file at once. docs/OPERATIONS.md has
//! a complete example (a test checks it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Subcommand};

use super::Cli;

/// The environment variable naming a configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "LODESTONE_CONFIG";

/// The configurable commands: the file's table name and the subcommand path it configures.
const SECTIONS: &[(&str, &[&str])] = &[
    ("serve", &["serve"]),
    ("witness", &["witness", "serve"]),
    ("monitor", &["monitor"]),
];

/// `lodestone config`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a configuration file and report every problem in it at once.
    #[command(
        after_help = "Examples:\n  lodestone config check /etc/lodestone/lodestone.toml\n  lodestone config check lodestone.toml && lodestone serve --config lodestone.toml"
    )]
    Check(CheckArgs),
}

/// `lodestone config check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The TOML file.
    pub file: PathBuf,
}

impl Cli {
    /// Parses the process's arguments with the configuration file, if the command takes one and
    /// one is named (`--config FILE` or `LODESTONE_CONFIG`), filling what flags and environment
    /// leave open. `--help`, `--version` and usage errors exit as clap does.
    pub fn parse_with_config() -> anyhow::Result<Cli> {
        let args: Vec<OsString> = std::env::args_os().collect();
        let args = with_config(args)?;
        let matches = Cli::command().get_matches_from(args);
        Cli::from_arg_matches(&matches).map_err(|e| e.exit())
    }
}

/// `args` with the configuration file's settings added as flags.
pub fn with_config(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some((section, path)) = section_of(&args) else {
        return Ok(args);
    };
    let Some(file) = config_file(&args) else {
        return Ok(args);
    };
    let table = read(&file)?;
    let settings = match table.get(section) {
        Some(toml::Value::Table(settings)) => settings.clone(),
        Some(_) => anyhow::bail!("{}: `{section}` must be a table", file.display()),
        None => return Ok(args),
    };
    let problems = check_section(section, path, &settings);
    if !problems.is_empty() {
        anyhow::bail!(
            "{}: {} (run `lodestone config check {}`)",
            file.display(),
            problems.join("; "),
            file.display()
        );
    }
    let command = subcommand(path);
    let mut args = args;
    for (key, value) in &settings {
        let Some(arg) = find_arg(&command, key) else {
            continue;
        };
        let given = args.iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{key}") || a.starts_with(&format!("--{key}="))
        });
        let from_env = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if given || from_env {
            continue;
        }
        for text in flag_values(value).unwrap_or_default() {
            if is_switch(arg) {
                if text == "true" {
                    args.push(format!("--{key}").into());
                }
            } else {
                args.push(format!("--{key}={text}").into());
            }
        }
    }
    Ok(args)
}

/// `lodestone config check FILE`.
pub fn check(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check(args) = command;
    let table = read(&args.file)?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for (name, value) in &table {
        let Some((section, path)) = SECTIONS.iter().find(|(s, _)| s == name) else {
            problems.push(format!(
                "unknown table `[{name}]` (tables: {})",
                section_names()
            ));
            continue;
        };
        let toml::Value::Table(settings) = value else {
            problems.push(format!("`{name}` must be a table (`[{name}]`)"));
            continue;
        };
        problems.extend(check_section(section, path, settings));
        let command = subcommand(path);
        for arg in command.get_arguments().filter(|a| a.is_required_set()) {
            let long = arg.get_long().unwrap_or_default();
            if !settings.contains_key(long) {
                let env = arg
                    .get_env()
                    .map(|e| format!(", {}", e.to_string_lossy()))
                    .unwrap_or_default();
                notes.push(format!(
                    "[{section}] has no `{long}`: give it as --{long}{env} when starting"
                ));
            }
        }
    }
    for note in &notes {
        println!("note: {note}");
    }
    if problems.is_empty() {
        let tables: Vec<&String> = table.keys().collect();
        println!(
            "ok: {} ({} table{}: {})",
            args.file.display(),
            tables.len(),
            if tables.len() == 1 { "" } else { "s" },
            tables
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        println!("{}: {problem}", args.file.display());
    }
    println!(
        "{} problem{} in {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        args.file.display()
    );
    Ok(ExitCode::from(1))
}

fn section_names() -> String {
    SECTIONS
        .iter()
        .map(|(s, _)| format!("[{s}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read(file: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read configuration file {}", file.display()))?;
    text.parse::<toml::Table>().map_err(|e| {
        anyhow::anyhow!(
            "{}: not valid TOML: {}",
            file.display(),
            e.to_string().trim()
        )
    })
}

/// Every problem with one table's settings: unknown keys, values of the wrong type, values the
/// flag's own parser refuses.
fn check_section(section: &str, path: &[&str], settings: &toml::Table) -> Vec<String> {
    let command = subcommand(path);
    let mut problems = Vec::new();
    for (key, value) in settings {
        if key == "config" {
            problems.push(format!(
                "[{section}] `config`: a configuration file cannot name another"
            ));
            continue;
        }
        let Some(arg) = find_arg(&command, key) else {
            let known: Vec<&str> = command
                .get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| !matches!(*l, "help" | "config"))
                .collect();
            problems.push(format!(
                "[{section}] unknown setting `{key}` (settings: {})",
                known.join(", ")
            ));
            continue;
        };
        let texts = match flag_values(value) {
            Ok(texts) => texts,
            Err(why) => {
                problems.push(format!("[{section}] `{key}`: {why}"));
                continue;
            }
        };
        let many = matches!(arg.get_action(), clap::ArgAction::Append);
        if texts.len() != 1 && !many {
            problems.push(format!("[{section}] `{key}`: takes one value, not a list"));
            continue;
        }
        if is_switch(arg) {
            if !matches!(value, toml::Value::Boolean(_)) {
                problems.push(format!("[{section}] `{key}`: must be true or false"));
            }
            continue;
        }
        // The flag's own parser, on a copy of the command where nothing else is required.
        let alone = command.clone().mut_args(|a| a.required(false));
        for text in texts {
            let flag: OsString = format!("--{key}={text}").into();
            let parsed = alone
                .clone()
                .try_get_matches_from([OsString::from("lodestone"), flag]);
            if let Err(e) = parsed {
                let message = e.to_string();
                let message = message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                problems.push(format!("[{section}] `{key}`: {message}"));
            }
        }
    }
    problems
}

/// The text of each flag occurrence a TOML value stands for.
fn flag_values(value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Integer(i) => Ok(vec![i.to_string()]),
        toml::Value::Boolean(b) => Ok(vec![b.to_string()]),
        toml::Value::Float(f) => Ok(vec![f.to_string()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                _ => Err("a list holds strings or integers".to_owned()),
            })
            .collect(),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            Err("must be a string, a number, a boolean or a list".to_owned())
        }
    }
}

fn is_switch(arg: &clap::Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::SetTrue)
}

/// The clap command at `path` (with the global arguments propagated to it).
fn subcommand(path: &[&str]) -> clap::Command {
    let mut command = Cli::command();
    command.build();
    for name in path {
        match command.find_subcommand(name) {
            Some(sub) => command = sub.clone(),
            None => unreachable!("SECTIONS names existing subcommands"),
        }
    }
    command
}

fn find_arg<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long) && long != "help")
}

/// Which configurable command `args` runs, if any.
fn section_of(args: &[OsString]) -> Option<(&'static str, &'static [&'static str])> {
    let mut words = Vec::new();
    let mut rest = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(word) = rest.next() {
        if word == "--log-format" {
            rest.next(); // its value
        } else if !word.starts_with('-') {
            words.push(word);
            if words.len() == 2 {
                break;
            }
        }
    }
    SECTIONS
        .iter()
        .find(|(_, path)| words.len() >= path.len() && words[..path.len()] == **path)
        .map(|(s, p)| (*s, *p))
}

/// The file named by `--config FILE`, `--config=FILE` or `LODESTONE_CONFIG`.
fn config_file(args: &[OsString]) -> Option<PathBuf> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let text = word.to_string_lossy();
        if text == "--config" {
            return words.next().map(PathBuf::from);
        }
        if let Some(file) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(file));
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn finds_the_section_of_a_command() {
        assert_eq!(
            section_of(&args(&["lodestone", "serve"])).unwrap().0,
            "serve"
        );
        assert_eq!(
            section_of(&args(&[
                "lodestone",
                "--log-format",
                "json",
                "witness",
                "serve"
            ]))
            .map(|s| s.0),
            Some("witness")
        );
        assert_eq!(
            section_of(&args(&["lodestone", "witness", "serve", "--key", "k"]))
                .unwrap()
                .0,
            "witness"
        );
        assert!(section_of(&args(&["lodestone", "verify"])).is_none());
    }

    #[test]
    fn a_section_with_every_kind_of_mistake_reports_each() {
        let table: toml::Table = r#"
            addr = "not an address"
            bogus = 1
            data = ["a", "b"]
            log-format = "xml"
        "#
        .parse()
        .unwrap();
        let problems = check_section("serve", &["serve"], &table);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("`addr`")));
        assert!(problems
            .iter()
            .any(|p| p.contains("unknown setting `bogus`")));
        assert!(problems
            .iter()
            .any(|p| p.contains("`data`: takes one value")));
        assert!(problems.iter().any(|p| p.contains("`log-format`")));
    }
}
