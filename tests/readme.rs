//! Keeps README.md true: runs every command of its walkthrough, verbatim, in a fresh directory,
//! with `cargo run --release --` standing for the binary under test (a `cargo` shim on PATH).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lodestone");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

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

    let commands = walkthrough_commands();
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
            while TcpStream::connect("127.0.0.1:8090").is_err() {
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
