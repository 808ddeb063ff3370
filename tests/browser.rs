//! The auditor's console in a real browser (issue 13): headless Chromium driven over WebDriver
//! (`chromedriver`, started on a free port) against the real `lodestone demo` server on
//! 127.0.0.1:0 with the seed scenario. A person's path — search, open a batch, click a node of
//! its supply-chain graph, land on that upstream batch; the in-browser verification of the
//! offline bundle, which passes on the real bundle and fails on one with a flipped byte; and
//! every page kind readable at 400 px without horizontal scrolling. Screenshots are kept under
//! `target/screenshots/` for people to look at.
//!
//! Without chromium and chromedriver these tests fail with the command that installs them
//! (`.ci/run` installs them); they never pass silently.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use lodestone::webdriver::{Driver, Session};
use serde_json::json;
use support::{log_key, Server};

const WAIT: Duration = Duration::from_secs(20);

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shoot(session: &Session, name: &str) {
    let png = session.screenshot().expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

fn driver() -> Driver {
    Driver::start().unwrap_or_else(|e| panic!("the browser tests need a browser: {e}"))
}

struct Demo {
    server: Server,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

fn demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let server = Server::spawn(
        &[
            "demo",
            "--addr",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        Some("Press Ctrl-C to stop."),
    );
    Demo {
        server,
        data,
        _dir: dir,
    }
}

fn wait_loaded(session: &Session) {
    session
        .wait_for("return document.readyState === 'complete'", WAIT)
        .unwrap();
}

#[test]
fn search_then_batch_then_a_graph_node_opens_its_upstream_batch() {
    let demo = demo();
    let url = &demo.server.url;
    let driver = driver();
    let session = driver.session(1280, 900).unwrap();
    session.goto(&format!("{url}/")).unwrap();
    wait_loaded(&session);
    shoot(&session, "overview");

    // Search by part of the id, in lower case, as a person types it.
    let input = session.find("#q").unwrap();
    input.send_keys("mp-mag-2026").unwrap();
    session.find("form.search button").unwrap().click().unwrap();
    session
        .wait_for(
            "return location.pathname === '/search' && document.readyState === 'complete'",
            WAIT,
        )
        .unwrap();
    shoot(&session, "search");
    let results = session
        .execute(
            "return Array.from(document.querySelectorAll('main a.id')).map(a => a.textContent)",
            vec![],
        )
        .unwrap();
    assert!(
        results
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "MP-MAG-2026-0001"),
        "search results: {results}"
    );
    session
        .find("main a.id[href='/batches/MP-MAG-2026-0001']")
        .unwrap()
        .click()
        .unwrap();
    session
        .wait_for("return location.pathname === '/batches/MP-MAG-2026-0001' && document.readyState === 'complete'", WAIT)
        .unwrap();
    shoot(&session, "batch");

    // The graph is drawn, the batch outlined on the right, mines on the left.
    let nodes = session
        .execute("return Array.from(document.querySelectorAll('.graph svg a[data-batch]')).map(a => a.dataset.batch)", vec![])
        .unwrap();
    let nodes: Vec<String> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(nodes.len() >= 3, "graph nodes: {nodes:?}");
    assert!(nodes.contains(&"MP-MAG-2026-0001".to_owned()));
    // Click an upstream node (the first drawn: a mine's batch).
    let upstream = nodes
        .iter()
        .find(|n| n.as_str() != "MP-MAG-2026-0001")
        .unwrap()
        .clone();
    session
        .find(&format!(".graph svg a[data-batch='{upstream}']"))
        .unwrap()
        .click()
        .unwrap();
    session
        .wait_for(&format!("return decodeURIComponent(location.pathname) === '/batches/{upstream}' && document.readyState === 'complete'"), WAIT)
        .unwrap();
    let heading = session.find("h1").unwrap().text().unwrap();
    assert!(heading.contains(&upstream), "{heading}");
    shoot(&session, "upstream-batch");
}

fn verify_result(session: &Session) -> String {
    session
        .wait_for(
            "const r = document.getElementById('verify-result'); return (r.className === 'ok' || r.className === 'bad') && r.textContent",
            WAIT,
        )
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_bundle_verifies_in_the_browser_and_a_flipped_byte_fails() {
    let demo = demo();
    let url = &demo.server.url;
    let key = log_key(&demo.data);
    let driver = driver();
    let session = driver.session(1280, 900).unwrap();
    let batch = "JLM-MAG-SH-2026-0001";
    session.goto(&format!("{url}/batches/{batch}")).unwrap();
    wait_loaded(&session);

    // Without a pinned key nothing is taken from the server: it asks for one.
    let prefilled = session
        .execute("return document.getElementById('log-key').value", vec![])
        .unwrap();
    assert_eq!(
        prefilled,
        json!(""),
        "the key must not come from the server"
    );
    session.find("#verify-run").unwrap().click().unwrap();
    let answer = verify_result(&session);
    assert!(answer.contains("pin the log key"), "{answer}");

    session.find("#log-key").unwrap().send_keys(&key).unwrap();
    session.find("#verify-run").unwrap().click().unwrap();
    let answer = verify_result(&session);
    let size = support::get_json(&format!("{url}/v1/log")).1["size"]
        .as_u64()
        .unwrap();
    let (_, bundle) = support::get_json(&format!("{url}/v1/batches/{batch}/bundle"));
    let entries = bundle["entries"].as_array().unwrap().len();
    assert_eq!(
        answer,
        format!(
            "verified in this browser: {entries} entries, checkpoint {size} signed by demo.lodestone.example/rare-earths"
        )
    );
    shoot(&session, "verified");

    // The key is remembered in this browser.
    session.goto(&format!("{url}/batches/{batch}")).unwrap();
    wait_loaded(&session);
    let remembered = session
        .execute("return document.getElementById('log-key').value", vec![])
        .unwrap();
    assert_eq!(remembered, json!(key));

    // One flipped byte in one entry's bytes: its inclusion proof no longer leads to the root.
    let mut tampered = bundle.clone();
    let leaf = tampered["entries"][1]["leaf"].as_str().unwrap().to_owned();
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &leaf).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    tampered["entries"][1]["leaf"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &bytes
    ));
    let index = tampered["entries"][1]["index"].as_u64().unwrap();
    session
        .execute(
            "document.querySelector('#verify details').open = true; document.getElementById('bundle-text').value = arguments[0];",
            vec![json!(tampered.to_string())],
        )
        .unwrap();
    session.find("#verify-paste").unwrap().click().unwrap();
    let answer = verify_result(&session);
    assert_eq!(
        answer,
        format!("verification failed: entry {index}: its inclusion proof does not lead to the checkpoint's root (the entry or its proof was altered)")
    );
    shoot(&session, "verify-failed");

    // The untouched bundle pasted the same way passes; a flipped byte in the checkpoint's
    // signature fails on the signature.
    session
        .execute(
            "document.getElementById('bundle-text').value = arguments[0];",
            vec![json!(bundle.to_string())],
        )
        .unwrap();
    session.find("#verify-paste").unwrap().click().unwrap();
    assert!(verify_result(&session).starts_with("verified in this browser"));
    let mut forged = bundle.clone();
    let note = forged["checkpoint"].as_str().unwrap().to_owned();
    let flipped = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    assert_ne!(flipped, note);
    forged["checkpoint"] = json!(flipped);
    session
        .execute(
            "document.getElementById('bundle-text').value = arguments[0];",
            vec![json!(forged.to_string())],
        )
        .unwrap();
    session.find("#verify-paste").unwrap().click().unwrap();
    let answer = verify_result(&session);
    assert!(
        answer.contains("signature by demo.lodestone.example/rare-earths does not verify"),
        "{answer}"
    );
}

#[test]
fn every_page_kind_fits_400_px_without_horizontal_scrolling() {
    let demo = demo();
    let url = &demo.server.url;
    let driver = driver();
    let session = driver.session(400, 900).unwrap();
    let pages = [
        ("overview", "/".to_owned()),
        ("search", "/search?q=mag".to_owned()),
        ("batches", "/batches".to_owned()),
        ("magnets", "/batches?form=magnet".to_owned()),
        ("batch", "/batches/JLM-MAG-SH-2026-0001".to_owned()),
        (
            "batch-print",
            "/batches/JLM-MAG-SH-2026-0001/print".to_owned(),
        ),
        ("actors", "/actors".to_owned()),
        ("actor", "/actors/lynas".to_owned()),
        ("site", "/sites/mount-weld".to_owned()),
        ("entry", "/entries/5".to_owned()),
        ("log", "/log".to_owned()),
        ("not-found", "/batches/NO-SUCH-BATCH".to_owned()),
    ];
    let mut overflowing = Vec::new();
    for (name, path) in &pages {
        session.goto(&format!("{url}{path}")).unwrap();
        wait_loaded(&session);
        let widths = session
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
                vec![],
            )
            .unwrap();
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            client <= 400,
            "{name}: the window is not 400 px wide ({client})"
        );
        if scroll > client {
            overflowing.push(format!("{name} ({path}): {scroll} > {client}"));
        }
        shoot(&session, &format!("400px-{name}"));
    }
    assert!(
        overflowing.is_empty(),
        "pages wider than the screen: {overflowing:#?}"
    );
}
