//! Keeps README.md true: runs every command of its walkthrough in a fresh directory, with
//! `cargo run --release --` standing for the binary under test (a `cargo` shim on PATH). The
//! README's port (8090) is replaced by a free one, so the test never collides with a server a
//! reader left running from the walkthrough. Also: every `--help` page has examples, and the
//! walkthrough leaves its keys and ledger where `.gitignore` covers them.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lodestone");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The port the README's walkthrough serves on.
const README_PORT: &str = "127.0.0.1:8090";

/// A port nobody listens on now (bound and released).
fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The shell commands of the walkthrough section, continuation lines joined.
fn walkthrough_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let start = readme
        .find("## Walkthrough")
        .expect("README has a walkthrough");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block || line.trim().is_empty() {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        if !line.ends_with('\\') {
            commands.push(std::mem::take(&mut current));
        }
    }
    commands
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let shim_dir = dir.path().join("shim");
    std::fs::create_dir(&shim_dir).unwrap();
    let shim = shim_dir.join("cargo");
    std::fs::write(
        &shim,
        "#!/bin/sh\n[ \"$1 $2 $3\" = \"run --release --\" ] || { echo \"unexpected: cargo $*\" >&2; exit 99; }\nshift 3\nexec \"$LODESTONE_BIN\" \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    copy_dir(&Path::new(ROOT).join("examples"), &work.join("examples"));
    let path = format!(
        "{}:{}",
        shim_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let addr = free_addr();
    let commands: Vec<String> = walkthrough_commands()
        .into_iter()
        .map(|c| c.replace(README_PORT, &addr))
        .collect();
    assert!(
        commands.len() >= 9,
        "walkthrough commands not found: {commands:?}"
    );
    let mut server = None;
    let mut transcript = String::new();
    for command in &commands {
        let mut shell = Command::new("bash");
        shell
            .args(["-c", command])
            .current_dir(&work)
            .env("PATH", &path)
            .env("LODESTONE_BIN", BIN)
            .env("HOME", dir.path());
        if command.contains(" serve ") {
            let child = shell
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            server = Some(Server(child));
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(&addr).is_err() {
                assert!(Instant::now() < deadline, "the server did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        let out = shell.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "README command failed: {command}\n{text}"
        );
        transcript.push_str(&text);
    }
    assert!(server.is_some(), "the walkthrough starts a server");
    // A URL with a path (a pasted page address) gets a message saying what to give instead.
    let out = Command::new(BIN)
        .args(["verify", "--server", &format!("http://{addr}/batches")])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains(&format!("without a path (e.g. http://{addr})")),
        "no hint about the base URL: {text}"
    );
    for expected in [
        "inclusion proof verified",
        "double_spend",
        "refused, as it should be",
        "\"batch\":\"LYN-NDPR-2026-0001\"",
        "verify: OK",
        "bundle: OK",
        "Mount Weld mine (lynas, AU)",
    ] {
        assert!(
            transcript.contains(expected),
            "missing `{expected}` in:\n{transcript}"
        );
    }
}

/// Files the walkthrough leaves in the working tree that git would pick up (not ignored).
fn untracked_outside_gitignore(work: &Path) -> Vec<String> {
    let ignore = std::fs::read_to_string(Path::new(ROOT).join(".gitignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/'))
        .collect();
    std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "examples" && !ignored.contains(&name.as_str()))
        .collect()
}

#[test]
fn the_walkthrough_writes_only_under_ignored_directories() {
    // Every path the walkthrough writes must be under a .gitignore'd directory: secret keys left
    // in the working tree end up committed.
    let commands = walkthrough_commands();
    for command in &commands {
        for word in command.split_whitespace() {
            let word = word.trim_matches(['"', '\'', ')', '(']);
            if word.ends_with(".key")
                || word.ends_with(".bundle.json")
                || word.contains("my-ledger")
            {
                assert!(
                    word.starts_with("./lodestone-data/") || word.starts_with("lodestone-data/"),
                    "README walkthrough writes `{word}` outside lodestone-data/ (not ignored): {command}"
                );
            }
        }
    }
    let ignore = std::fs::read_to_string(Path::new(ROOT).join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "/lodestone-data"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    std::fs::create_dir(dir.path().join("lodestone-data")).unwrap();
    assert!(untracked_outside_gitignore(dir.path()).is_empty());
}

#[test]
fn every_help_page_has_examples() {
    use clap::CommandFactory as _;
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let name = format!("{path} {}", command.get_name()).trim().to_owned();
        let help = command.clone().render_long_help().to_string();
        if !help.contains("Example") {
            missing.push(name.clone());
        }
        for sub in command.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            walk(sub, &name, missing);
        }
    }
    let mut missing = Vec::new();
    let mut root = lodestone::cli::Cli::command();
    root.build();
    walk(&root, "", &mut missing);
    assert!(missing.is_empty(), "--help without examples: {missing:?}");
    // And the real binary prints them.
    let out = Command::new(BIN).args(["demo", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Examples:") && text.contains("--addr"),
        "{text}"
    );
}

#[test]
fn url_mistakes_say_what_to_fix() {
    let addr = free_addr();
    // No scheme.
    let out = Command::new(BIN)
        .args(["verify", "--server", &addr])
        .env("HOME", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains(&format!("--server http://{addr}")),
        "no hint about the scheme: {text}"
    );
}

#[test]
fn a_recreated_log_says_exactly_how_to_forget_the_old_one() {
    // Two ledgers under the same origin (a second demo, a new test ledger): verify remembers
    // the first one's key, refuses the second, and names the command that resets it.
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("HOME", dir.path())
            .env_remove("LODESTONE_LOG_KEY")
            .output()
            .unwrap()
    };
    for name in ["first", "second"] {
        let data = dir.path().join(name);
        let out = run(&[
            "init",
            "--data",
            data.to_str().unwrap(),
            "--origin",
            "same.example/log",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    assert!(run(&["verify", "--data", first.to_str().unwrap()])
        .status
        .success());
    let out = run(&["verify", "--data", second.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let start = text.find("`rm ").expect("names the reset command") + 1;
    let command = &text[start..start + text[start..].find('`').unwrap()];
    assert!(
        command.starts_with("rm ") && command.ends_with(".json"),
        "{command}"
    );
    let forget = Command::new("sh").args(["-c", command]).status().unwrap();
    assert!(forget.success());
    let again = run(&["verify", "--data", second.to_str().unwrap()]);
    assert!(
        again.status.success(),
        "after `{command}`: {}",
        String::from_utf8_lossy(&again.stderr)
    );
}
