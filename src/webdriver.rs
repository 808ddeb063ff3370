//! A small W3C WebDriver client (<https://www.w3.org/TR/webdriver2/>) over blocking HTTP, enough to
//! drive headless Chromium through `chromedriver` for the console's browser tests and the pages
//! bench: start a session, open a URL, find and click elements, type, run a script, take a
//! screenshot. It also starts `chromedriver` on a free port and says how to install it when it
//! is missing.
//!
//! Edge code (processes and sockets), kept out of the pure core.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// What went wrong talking to the browser.
#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    /// `chromedriver` or `chromium` is not installed.
    #[error("{what} not found: install the browser with `apt-get install -y chromium chromium-driver` (Debian), or set CHROMEDRIVER and CHROMIUM to their paths")]
    Missing {
        /// The missing program.
        what: String,
    },
    /// The driver could not be started or did not come up.
    #[error("chromedriver: {0}")]
    Start(String),
    /// A WebDriver command failed.
    #[error("webdriver {command}: {detail}")]
    Command {
        /// The command (`POST /session/.../url`).
        command: String,
        /// The driver's error.
        detail: String,
    },
}

/// The element-reference key of W3C WebDriver.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Tab key, for [`Session::press`] (W3C WebDriver normalised key value).
pub const TAB: &str = "\u{E004}";
/// The Enter key, for [`Session::press`].
pub const ENTER: &str = "\u{E007}";

fn find_program(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(path) = std::env::var(env) {
        return Some(path);
    }
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

/// A running `chromedriver`, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts `chromedriver` on a free local port.
    pub fn start() -> Result<Driver, WebDriverError> {
        let driver = find_program(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        )
        .ok_or(WebDriverError::Missing {
            what: "chromedriver".into(),
        })?;
        if chromium().is_none() {
            return Err(WebDriverError::Missing {
                what: "chromium".into(),
            });
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| WebDriverError::Start(e.to_string()))?
            .port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| WebDriverError::Start(format!("{driver}: {e}")))?;
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{}/status", driver.url)).call().is_err() {
            if Instant::now() > deadline {
                return Err(WebDriverError::Start(
                    "did not answer /status within 20 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }

    /// A new headless browser session with a window `width` × `height` CSS pixels.
    pub fn session(&self, width: u32, height: u32) -> Result<Session, WebDriverError> {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
        ];
        args.push("--hide-scrollbars".into());
        let mut options = json!({ "args": args });
        // Desktop Chromium will not make a window narrower than 500 px; narrower screens are
        // emulated (the viewport a phone of that width has).
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        if let Some(binary) = chromium() {
            options["binary"] = json!(binary);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let answer = call(&self.url, "POST", "/session", Some(caps))?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Command {
                command: "POST /session".into(),
                detail: answer.to_string(),
            })?
            .to_owned();
        Ok(Session {
            base: format!("{}/session/{id}", self.url),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> Option<String> {
    find_program(
        "CHROMIUM",
        &[
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ],
    )
}

fn call(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let url = format!("{base}{path}");
    let request = ureq::request(method, &url).timeout(Duration::from_secs(60));
    let result = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    let fail = |detail: String| WebDriverError::Command {
        command: format!("{method} {path}"),
        detail,
    };
    match result {
        Ok(response) => {
            let value: Value = response.into_json().map_err(|e| fail(e.to_string()))?;
            Ok(value["value"].clone())
        }
        Err(ureq::Error::Status(_, response)) => {
            let value: Value = response.into_json().unwrap_or_default();
            Err(fail(
                value["value"]["message"]
                    .as_str()
                    .unwrap_or("failed")
                    .to_owned(),
            ))
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// One browser session; closed when dropped.
pub struct Session {
    base: String,
}

/// An element of the current page.
pub struct Element {
    base: String,
    id: String,
}

impl Session {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        call(&self.base, method, path, body)
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) -> Result<(), WebDriverError> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    /// The current URL.
    pub fn url(&self) -> Result<String, WebDriverError> {
        Ok(self
            .cmd("GET", "/url", None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, WebDriverError> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Runs an async `script`: it must call `arguments[arguments.length - 1]` with its result.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value, WebDriverError> {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The first element matching the CSS `selector`.
    pub fn find(&self, selector: &str) -> Result<Element, WebDriverError> {
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        )?;
        // W3C drivers answer {ELEMENT: id}; older ones {"ELEMENT": id}.
        let id = found[ELEMENT]
            .as_str()
            .or_else(|| found["ELEMENT"].as_str())
            .or_else(|| {
                found
                    .as_object()
                    .and_then(|o| o.values().find_map(Value::as_str))
            })
            .ok_or_else(|| WebDriverError::Command {
                command: format!("find {selector}"),
                detail: format!("no element in {found}"),
            })?;
        Ok(Element {
            base: self.base.clone(),
            id: id.to_owned(),
        })
    }

    /// Waits up to `timeout` until `script` returns something truthy, and returns it.
    pub fn wait_for(&self, script: &str, timeout: Duration) -> Result<Value, WebDriverError> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, vec![])?;
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(WebDriverError::Command {
                    command: "wait".into(),
                    detail: format!("`{script}` stayed false for {timeout:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Presses and releases `key` on whatever has the focus, as a person at a keyboard does
    /// (W3C WebDriver key actions: [`TAB`], [`ENTER`], or a character).
    pub fn press(&self, key: &str) -> Result<(), WebDriverError> {
        self.cmd(
            "POST",
            "/actions",
            Some(json!({ "actions": [{
                "type": "key",
                "id": "keyboard",
                "actions": [{ "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }],
            }]})),
        )
        .map(|_| ())
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let text = self.cmd("GET", "/screenshot", None)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_str().unwrap_or_default())
            .map_err(|e| WebDriverError::Command {
                command: "GET /screenshot".into(),
                detail: e.to_string(),
            })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = call(&self.base, "DELETE", "", None);
    }
}

impl Element {
    /// Clicks it.
    pub fn click(&self) -> Result<(), WebDriverError> {
        call(
            &self.base,
            "POST",
            &format!("/element/{}/click", self.id),
            Some(json!({})),
        )
        .map(|_| ())
    }

    /// Types `text` into it.
    pub fn send_keys(&self, text: &str) -> Result<(), WebDriverError> {
        call(
            &self.base,
            "POST",
            &format!("/element/{}/value", self.id),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Its visible text.
    pub fn text(&self) -> Result<String, WebDriverError> {
        Ok(call(
            &self.base,
            "GET",
            &format!("/element/{}/text", self.id),
            None,
        )?
        .as_str()
        .unwrap_or_default()
        .to_owned())
    }
}
