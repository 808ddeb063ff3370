//! The auditor's console in a real browser (issue 13): headless Chromium driven over WebDriver
//! (`chromedriver`, started on a free port) against the real `lodestone demo` server on
//! 127.0.0.1:0 with the seed scenario. A person's path — search, open a batch, click a node of
//! its supply-chain graph, land on that upstream batch; the in-browser verification of the
//! offline bundle, which passes on the real bundle and fails on one with a flipped byte; and
//! every page kind readable at 400 px without horizontal scrolling and with text meeting WCAG 2.1
//! AA contrast; and the same path done with a keyboard alone (skip link, focus you can see, the
//! graph's nodes, the verifier's form). Screenshots are kept under `target/screenshots/` for
//! people to look at.
//!
//! Without chromium and chromedriver these tests fail with the command that installs them
//! (`.ci/run` installs them); they never pass silently.

use crate::support;

use std::path::PathBuf;
use std::time::Duration;

use lodestone::webdriver::{Driver, Session, ENTER, TAB};
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
fn every_page_kind_fits_400_px_and_its_text_meets_wcag_aa_contrast() {
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
    let mut low_contrast = Vec::new();
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
        let failing = session.execute(CONTRAST_AUDIT, vec![]).unwrap();
        for failure in failing.as_array().unwrap() {
            low_contrast.push(format!("{name} ({path}): {}", failure.as_str().unwrap()));
        }
        shoot(&session, &format!("400px-{name}"));
    }
    assert!(
        overflowing.is_empty(),
        "pages wider than the screen: {overflowing:#?}"
    );
    assert!(
        low_contrast.is_empty(),
        "text below WCAG AA contrast: {low_contrast:#?}"
    );
}

/// WCAG 2.1 success criterion 1.4.3 (contrast, minimum) over every visible piece of text on the
/// page, as the browser rendered it: the text colour (an SVG text's fill) against the colours
/// behind it composited up the tree (an SVG node's shape, or the backgrounds of the elements
/// holding it, over white), at 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). Returns
/// one line per failure.
const CONTRAST_AUDIT: &str = r#"
const parse = c => {
  const m = /rgba?\(([^)]+)\)/.exec(c || '');
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
const luminance = c => {
  const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const behind = el => {
  const layers = [];
  if (el instanceof SVGElement) {
    const shape = el.parentElement && el.parentElement.querySelector('rect, circle, ellipse, path');
    const fill = shape && shape !== el ? parse(getComputedStyle(shape).fill) : null;
    if (fill && fill[3] > 0) layers.push(fill);
  }
  for (let e = el; e && e.nodeType === 1 && !(layers.length && layers[layers.length - 1][3] >= 1); e = e.parentElement) {
    const bg = parse(getComputedStyle(e).backgroundColor);
    if (bg && bg[3] > 0) layers.push(bg);
  }
  return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
};
const failures = [];
for (const el of document.querySelectorAll('body *')) {
  const text = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
  if (!text || el.closest('[hidden], script, style, title') || el.getClientRects().length === 0) continue;
  const cs = getComputedStyle(el);
  if (cs.visibility !== 'visible' || cs.display === 'none' || Number(cs.opacity) === 0) continue;
  const bg = behind(el);
  const fg0 = parse(el instanceof SVGElement ? cs.fill : cs.color);
  if (!fg0) continue;
  const fg = over(fg0, bg);
  const [a, b] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
  const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
  if (ratio < needed) {
    failures.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className : ''} "${text.slice(0, 40)}": ${ratio.toFixed(2)}:1 < ${needed}:1 (${fg0} on ${bg})`);
  }
}
return failures;
"#;

/// Presses Tab until `script` holds for the focused element, at most `limit` times; returns how
/// many presses it took.
fn tab_until(session: &Session, script: &str, limit: usize) -> usize {
    for presses in 1..=limit {
        session.press(TAB).unwrap();
        let done = session
            .execute(
                &format!("const el = document.activeElement; return !!({script});"),
                vec![],
            )
            .unwrap();
        if done == json!(true) {
            return presses;
        }
    }
    let focused = session
        .execute(
            "return document.activeElement.outerHTML.slice(0, 200)",
            vec![],
        )
        .unwrap();
    panic!("{limit} Tab presses never reached `{script}`; focus ended on {focused}");
}

#[test]
fn a_keyboard_alone_reaches_the_graph_and_the_verifier_with_focus_in_sight() {
    let demo = demo();
    let url = &demo.server.url;
    let key = log_key(&demo.data);
    let driver = driver();
    let session = driver.session(1280, 900).unwrap();
    let batch = "JLM-MAG-SH-2026-0001";
    session.goto(&format!("{url}/batches/{batch}")).unwrap();
    wait_loaded(&session);

    // The first Tab lands on the skip link, which comes into view; Enter skips the header.
    tab_until(&session, "el.classList.contains('skip')", 1);
    let left = session
        .execute(
            "return document.activeElement.getBoundingClientRect().left",
            vec![],
        )
        .unwrap();
    assert!(
        left.as_f64().unwrap() >= 0.0,
        "the focused skip link is off screen: {left}"
    );
    session.press(ENTER).unwrap();
    session
        .wait_for("return location.hash === '#main'", WAIT)
        .unwrap();

    // Tab reaches an upstream node of the supply-chain graph, whose outline shows the focus;
    // Enter opens that batch.
    tab_until(
        &session,
        &format!("el.closest('.graph svg') && el.dataset.batch && el.dataset.batch !== '{batch}'"),
        200,
    );
    let focused = session
        .execute(
            "const el = document.activeElement; return [el.dataset.batch, getComputedStyle(el.querySelector('rect')).strokeWidth]",
            vec![],
        )
        .unwrap();
    let upstream = focused[0].as_str().unwrap().to_owned();
    assert_eq!(
        focused[1],
        json!("3px"),
        "a focused graph node shows no outline"
    );
    shoot(&session, "keyboard-graph-focus");
    session.press(ENTER).unwrap();
    session
        .wait_for(&format!("return decodeURIComponent(location.pathname) === '/batches/{upstream}' && document.readyState === 'complete'"), WAIT)
        .unwrap();

    // On that page the verifier's form is reachable: the key field, then the button; the
    // focused field has a visible outline; Enter on the button runs the check.
    tab_until(&session, "el.id === 'log-key'", 400);
    let outline = session
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle",
            vec![],
        )
        .unwrap();
    assert_ne!(
        outline,
        json!("none"),
        "the focused key field shows no outline"
    );
    session.find("#log-key").unwrap().send_keys(&key).unwrap();
    tab_until(&session, "el.id === 'verify-run'", 3);
    session.press(ENTER).unwrap();
    let answer = verify_result(&session);
    shoot(&session, "keyboard-verified");
    assert!(answer.starts_with("verified in this browser: "), "{answer}");
}
