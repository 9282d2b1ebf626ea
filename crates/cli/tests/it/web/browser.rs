//! Headless Chromium driven over WebDriver: Debian's `chromium` and
//! `chromium-driver` (installed by scripts/test), fantoccini as the client.
//! chromedriver is started here on a free port (local connections only), in
//! a process group of its own, and stopped with Chromium by that id when the
//! [`Browser`] is dropped.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// One browser at a time: the tests' timings assume the cores are theirs.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// `None` (with the reason printed) when the browser is not installed,
    /// except under `CI=true`, where a missing browser fails the test.
    pub async fn start() -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (which("chromium"), which("chromedriver")) else {
            let why = "chromium and chromedriver are not installed (scripts/test installs them)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}");
            }
            eprintln!("skipped: {why}");
            return None;
        };
        let turn = TURN.lock().await;
        let port = free_port();
        // Its own process group, so that Chromium, its child, goes with it.
        let driver = Command::new(driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut driver = driver;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = driver.try_wait().unwrap() {
                panic!("chromedriver exited with {status} before listening on {port}");
            }
            assert!(Instant::now() < deadline, "chromedriver listens on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Some(Browser {
            client,
            driver,
            _profile: profile,
            _turn: turn,
        })
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Polls `expr` (a JS expression) until it is truthy; its value.
    pub async fn wait_for(&self, expr: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.js(&format!("return ({expr}) || null;")).await;
            if !v.is_null() {
                return v;
            }
            if Instant::now() > deadline {
                let state = self.js("return document.body.innerText").await;
                panic!("waited {secs} s for `{expr}`; the page shows:\n{state}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn state(&self) -> String {
        self.js("return document.querySelector('main').dataset.state")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Chooses `files` in the upload form and submits it.
    pub async fn upload(&self, files: &[&Path]) {
        // chromedriver adds to a `multiple` input's files; a person's choice replaces them.
        self.js("document.querySelector('#file').value = ''").await;
        let input = self.client.find(Locator::Css("#file")).await.unwrap();
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        input.send_keys(&paths.join("\n")).await.unwrap();
        self.click("#upload-form button[type=submit]").await;
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// A PNG of the page at `width` × `height`, scrolled to `top` if given, kept under the test's
    /// target folder and, when `BOOKSTRACK_SCREENSHOT_DIR` is set, there too
    /// (that is how docs/screenshots/ is made).
    pub async fn screenshot(&self, name: &str, (width, height): (u32, u32), top: Option<&str>) {
        self.client.set_window_size(width, height).await.unwrap();
        let scroll = match top {
            Some(css) => format!("document.querySelector(\"{css}\").scrollIntoView()"),
            None => "window.scrollTo(0, 0)".into(),
        };
        self.js(&scroll).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = self.client.screenshot().await.unwrap();
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots")];
        dirs.extend(std::env::var_os("BOOKSTRACK_SCREENSHOT_DIR").map(PathBuf::from));
        for d in dirs {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

impl Browser {
    /// Ends the session, which stops Chromium; the driver goes on drop.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group by the driver's id: Chromium too, even when a
        // panicking test never closed the session.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
