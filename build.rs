//! Build script: records the commit this binary was built from, for `lodestone --version`
//! (docs/OPERATIONS.md). Without git (a source tarball, a container build without `.git`), the
//! `LODESTONE_COMMIT` environment variable names it, else it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LODESTONE_COMMIT");
    let commit = std::env::var("LODESTONE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuild when HEAD moves: HEAD itself, the branch it points at, and packed refs. Only
    // files that exist: cargo reruns a build script on every build for a path that does not
    // (and then recompiles the crate).
    let mut watch = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watch.push(format!("{dir}/HEAD"));
        if let (Some(branch), Some(common)) = (
            git(&["symbolic-ref", "-q", "HEAD"]),
            git(&["rev-parse", "--git-common-dir"]),
        ) {
            watch.push(format!("{common}/{branch}"));
            watch.push(format!("{common}/packed-refs"));
        }
    }
    for path in watch.iter().filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    if watch.is_empty() {
        // No git: nothing to watch but the environment (and build.rs itself).
        println!("cargo:rerun-if-changed=build.rs");
    }
    println!("cargo:rustc-env=LODESTONE_COMMIT={commit}");
}
