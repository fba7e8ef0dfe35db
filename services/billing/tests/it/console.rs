//! The organisation console (`GET /admin`): served under a strict policy, and rendered in
//! headless Chromium (Debian's `chromium`; `CHROMIUM_BIN` overrides) against a real org with
//! a manual and an automatic recharge. Screenshots are kept in `target/test-artifacts/`
//! (`admin-console.png`, and `admin-console-390.png` at phone width).
//!
//! Headless `--dump-dom` cannot type into a form, so the test hands the token over the way
//! an operator's bookmarklet or script may: once, in the URL fragment (`/admin#token=…`).
//! A fragment never reaches the server, its logs or a `Referer`; the page moves the token to
//! sessionStorage and strips it from the address bar and history (`history.replaceState`)
//! before its first API call. The test checks the token does not remain in the DOM.

use crate::support;

use std::path::PathBuf;
use std::time::Duration;

use billing::store::recharges::TriggeredBy;
use billing::views::EventAction;
use serde_json::{json, Value};
use support::{spawn, usd};
use tollgate_domain::money::Cents;
use tollgate_testkit::chromium::{artifacts_dir, chromium_bin, run_chromium};
use tollgate_testkit::ADMIN_TOKEN;

async fn dump_dom(url: &str) -> String {
    let out = run_chromium("1280,1700", &["--dump-dom"], url).await;
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A dollar figure as the console prints it: `$1,234.50`.
fn shown(Cents(cents): Cents) -> String {
    let (whole, frac) = (cents.abs() / 100, cents.abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}.{frac:02}", if cents < 0 { "-" } else { "" })
}

/// The text of the element with `id` in a dumped DOM (elements without nested tags).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in:\n{dom}"));
    let start = at + dom[at..].find('>').expect("tag end") + 1;
    let end = start + dom[start..].find('<').expect("closing tag");
    &dom[start..end]
}

async fn screenshot(name: &str, window: &str, url: &str) {
    let shot = artifacts_dir().join(name);
    let _ = std::fs::remove_file(&shot);
    let out = run_chromium(window, &[&format!("--screenshot={}", shot.display())], url).await;
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "{name} missing or blank ({size} bytes): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_console_shows_an_organisation_its_history_and_events_in_chromium_bin() {
    let env = spawn().await;
    let team = env
        .ready_org("console-acme", "pm_card_visa", json!({}))
        .await;
    env.create_org(
        "console-beta",
        json!({ "auto_recharge_enabled": false, "max_daily_recharges": 2 }),
    )
    .await;
    // A manual recharge, then a limit event the pipeline answers with an automatic one.
    let r = env
        .http
        .post(env.app.url("/api/organizations/console-acme/recharge"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "console-test-1")
        .json(&json!({ "amount": 250 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, answer) = env.send_limit(&team, 510.0, Some("evt-console-1")).await;
    assert_eq!(status, 200, "{answer:?}");
    let org = env.org("console-acme").await;
    let history = env.history("console-acme").await;
    assert_eq!(history.len(), 2);

    let url = format!(
        "{}/admin#token={ADMIN_TOKEN}&org=console-acme",
        env.app.base_url
    );
    let dom = dump_dom(&url).await;
    assert!(
        dom.contains("data-state=\"loaded\""),
        "the console did not load:\n{dom}"
    );
    assert!(
        !dom.contains(ADMIN_TOKEN),
        "the token must not stay in the page"
    );
    // The list: both organisations with their state.
    for id in ["console-acme", "console-beta"] {
        assert!(
            dom.contains(&format!("<tr data-org=\"{id}\"")),
            "no {id} row"
        );
    }
    assert!(dom.contains("<td class=\"num\">not synced</td>"), "{dom}");
    assert!(dom.contains("visa ·4242"), "{dom}");
    assert!(dom.contains("<td class=\"off\">Off</td>"), "{dom}");
    // The open organisation's figures, exactly as the API gives them.
    assert_eq!(text_of(&dom, "org-id"), "console-acme");
    assert_eq!(text_of(&dom, "f-credited"), shown(org.credited_total));
    assert_eq!(text_of(&dom, "f-quota"), shown(org.kms_quota.unwrap()));
    let balance = Cents(org.kms_quota.unwrap().0 - 51_000);
    assert_eq!(text_of(&dom, "f-balance"), shown(balance));
    assert_eq!(text_of(&dom, "f-auto"), "On");
    assert_eq!(text_of(&dom, "f-card"), "visa ·4242");
    assert_eq!(text_of(&dom, "f-team"), team);
    assert_eq!(text_of(&dom, "f-failures"), "0");
    // The settings form holds the current settings (create_org's defaults).
    assert!(dom.contains("name=\"minimum_balance\" inputmode=\"decimal\" required"));
    // History: the manual and the automatic recharge; events: the limit event.
    assert!(
        dom.contains("<td class=\"num\">$250.00</td>"),
        "no manual recharge row:\n{dom}"
    );
    let auto = history
        .iter()
        .find(|h| h.triggered_by == TriggeredBy::Webhook)
        .expect("an automatic recharge");
    assert!(dom.contains(&format!("<td class=\"num\">{}</td>", shown(auto.amount))));
    assert_eq!(dom.matches("<td class=\"status s-succeeded\">").count(), 2);
    assert!(dom.contains("<td>manual</td>") && dom.contains("<td>webhook</td>"));
    assert!(
        dom.contains("<span class=\"mono\">evt-console-1</span>"),
        "{dom}"
    );
    // The event names the recharge it started (short id, full id in the title).
    let auto_id = auto.id.to_string();
    assert!(
        dom.contains(&format!(
            "<td class=\"mono\" title=\"{auto_id}\">#{}</td>",
            &auto_id[..8]
        )),
        "{dom}"
    );
    assert!(dom.contains("id=\"history-page\" class=\"muted\">Page 1 of 1"));

    screenshot("admin-console.png", "1280,1700", &url).await;
    screenshot("admin-console-390.png", "390,2600", &url).await;
}

#[tokio::test]
async fn a_wrong_token_gets_a_clear_message_and_no_data() {
    let env = spawn().await;
    env.create_org("console-secret", json!({})).await;
    let dom = dump_dom(&format!(
        "{}/admin#token=not-the-admin-token&org=console-secret",
        env.app.base_url
    ))
    .await;
    assert!(dom.contains("data-state=\"unauthorized\""), "{dom}");
    assert!(
        text_of(&dom, "message").contains("The admin token was refused (HTTP 401)"),
        "{dom}"
    );
    assert!(dom.contains("<main id=\"console\" hidden=\"\">"), "{dom}");
    assert!(!dom.contains("data-org="), "no organisation may be listed");
    assert!(!dom.contains("not-the-admin-token"));

    // Without any token the page waits for one.
    let dom = dump_dom(&format!("{}/admin", env.app.base_url)).await;
    assert!(dom.contains("data-state=\"idle\""), "{dom}");
    assert_eq!(text_of(&dom, "message"), "");
}

#[tokio::test]
async fn the_console_and_its_assets_are_served_with_a_strict_policy() {
    let env = spawn().await;
    // No token needed: the page holds no data.
    let res = env.app.get("/admin").await;
    assert_eq!(res.status(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let html = res.text().await.unwrap();
    assert!(html.contains("<script src=\"/admin/admin.js\" defer></script>"));
    assert!(html.contains("href=\"/admin/admin.css\""));
    // No inline script or style (the policy would block them anyway) and no external file.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("<style") && !html.contains(" style="));
    assert!(!html.contains("http://") && !html.contains("https://"));

    for (file, content_type, needle) in [
        ("admin.js", "text/javascript", "Idempotency-Key"),
        ("admin.css", "text/css", ".cards"),
    ] {
        let res = env.app.get(&format!("/admin/{file}")).await;
        assert_eq!(res.status(), 200, "{file}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(content_type), "{file}: {ct}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let body = res.text().await.unwrap();
        assert!(body.contains(needle), "{file}");
        assert!(!body.contains("https://") && !body.contains("http://"));
    }
    // Data only ever reaches the DOM as text.
    let js = env.app.get("/admin/admin.js").await.text().await.unwrap();
    assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML"));
    assert!(!js.contains("document.write") && !js.contains("eval("));

    for path in [
        "/admin/secrets.env",
        "/admin/usage.js",
        "/admin/../Cargo.toml",
        "/admin/admin.html",
    ] {
        let res = env.app.get(path).await;
        assert_eq!(
            tollgate_testkit::error_code(res, 404).await,
            "not_found",
            "{path}"
        );
    }
}

/// Chromium driven over the DevTools protocol on `--remote-debugging-pipe` (fd 3 in, fd 4
/// out, NUL-separated JSON), wired to the child's stdin and stdout by `sh`: an operator's
/// clicks and typing without a WebSocket client.
struct Browser {
    child: tokio::process::Child,
    to: tokio::process::ChildStdin,
    from: tokio::io::BufReader<tokio::process::ChildStdout>,
    next_id: u64,
    session: String,
    profile: PathBuf,
}

impl Browser {
    async fn open(url: &str) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("tg-billing-cdp-{}", uuid::Uuid::new_v4().simple()));
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(chromium_bin())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} ({e})", chromium_bin()));
        let to = child.stdin.take().unwrap();
        let from = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut b = Browser {
            child,
            to,
            from,
            next_id: 0,
            session: String::new(),
            profile,
        };
        let targets = b.call(None, "Target.getTargets", json!({})).await;
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let attached = b
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": page, "flatten": true }),
            )
            .await;
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        b.page("Page.navigate", json!({ "url": url })).await;
        b
    }

    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).await.unwrap();
        self.to.flush().await.unwrap();
        loop {
            let mut buf = Vec::new();
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.from.read_until(0, &mut buf))
                    .await
                    .expect("DevTools answered in time")
                    .unwrap();
            assert!(n > 0, "chromium closed the DevTools pipe");
            buf.pop();
            let answer: Value = serde_json::from_slice(&buf).unwrap();
            if answer["id"] == id {
                assert!(answer["error"].is_null(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    async fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params).await
    }

    /// Evaluate `expr` in the page (promises awaited) and return its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .page(
                "Runtime.evaluate",
                json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        assert!(r["exceptionDetails"].is_null(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Wait until `expr` is true (an exception, e.g. while the page loads, counts as false).
    async fn wait(&mut self, expr: &str) {
        // Generous: at the start of the full suite, Chromium shares 2 cores with ~6 tests.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let guarded = format!(
            "(() => {{ try {{ return ({expr}) === true; }} catch (e) {{ return false; }} }})()"
        );
        loop {
            if self.eval(&guarded).await == json!(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let dom = self.eval("document.body.outerHTML").await;
                panic!("timed out waiting for {expr}:\n{}", dom.as_str().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of `#id`.
    async fn text(&mut self, id: &str) -> String {
        let v = self
            .eval(&format!("document.getElementById({id:?}).textContent"))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Type `value` into the field `selector` as a user would (an input event follows).
    async fn fill(&mut self, selector: &str, value: &str) {
        self.eval(&format!(
            "(() => {{ const f = document.querySelector({selector:?}); f.focus(); f.value = {value:?}; \
             f.dispatchEvent(new Event('input', {{ bubbles: true }})); f.blur(); }})()"
        ))
        .await;
    }

    async fn click(&mut self, selector: &str) {
        self.eval(&format!("document.querySelector({selector:?}).click()"))
            .await;
    }

    async fn close(mut self) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[tokio::test]
async fn an_operator_creates_configures_and_recharges_an_organisation_in_chromium_bin() {
    let env = spawn().await;
    let mut b = Browser::open(&env.app.url("/admin")).await;
    // `idle` is in the static HTML: wait for the script's handlers too.
    b.wait("document.body.dataset.ready === 'true' && document.body.dataset.state === 'idle'")
        .await;

    // Sign in with the pasted token: kept in sessionStorage, never in the address bar.
    b.fill("#token", ADMIN_TOKEN).await;
    b.click("#token-form button[type=submit]").await;
    b.wait("document.body.dataset.state === 'loaded'").await;
    assert_eq!(
        b.eval("sessionStorage.getItem('tollgate.billing.admin_token')")
            .await,
        json!(ADMIN_TOKEN)
    );
    assert_eq!(
        b.eval("location.href.includes('token')").await,
        json!(false)
    );
    assert_eq!(b.eval("document.getElementById('token').value").await, "");
    assert!(b.text("orgs-empty").await.contains("No organisation yet"));

    // Create an organisation with the form; it opens.
    b.eval("document.getElementById('create-box').open = true")
        .await;
    b.fill("#create-form [name=c_organization_id]", "bad id!")
        .await;
    b.click("#create-form button[type=submit]").await;
    b.wait("document.getElementById('create-msg').dataset.kind === 'error'")
        .await;
    assert!(b.text("create-msg").await.contains("1-128 characters"));
    b.fill("#create-form [name=c_organization_id]", "ui-org")
        .await;
    b.fill("#create-form [name=minimum_balance]", "50").await;
    b.fill("#create-form [name=target_balance]", "300").await;
    b.fill("#create-form [name=minimum_recharge_amount]", "100")
        .await;
    b.fill("#create-form [name=max_daily_recharges]", "3").await;
    b.click("#create-form button[type=submit]").await;
    b.wait("document.getElementById('f-credited').textContent === '$0.00'")
        .await;
    assert_eq!(b.text("org-id").await, "ui-org");
    assert_eq!(b.eval("location.hash").await, "#org=ui-org");
    let org = env.org("ui-org").await;
    assert_eq!(org.minimum_balance, usd(50.0));
    assert_eq!(org.max_daily_recharges, 3);
    assert_eq!(
        b.eval("document.querySelector('#settings-form [name=target_balance]').value")
            .await,
        "300"
    );
    // Creating it again: the API's conflict is shown.
    b.fill("#create-form [name=c_organization_id]", "ui-org")
        .await;
    b.click("#create-form button[type=submit]").await;
    b.wait("document.getElementById('create-msg').dataset.kind === 'error'")
        .await;
    assert!(
        b.text("create-msg").await.contains("conflict")
            || b.text("create-msg").await.contains("exists"),
        "{}",
        b.text("create-msg").await
    );

    // Settings: a client-side check, the server's validation, then a good save.
    b.fill("#settings-form [name=minimum_balance]", "400").await;
    b.click("#settings-form button[type=submit]").await;
    b.wait("document.getElementById('settings-msg').dataset.kind === 'error'")
        .await;
    assert!(b.text("settings-msg").await.contains("must not exceed"));
    b.fill("#settings-form [name=minimum_balance]", "60").await;
    b.fill("#settings-form [name=max_daily_recharges]", "5000")
        .await;
    b.click("#settings-form button[type=submit]").await;
    b.wait("document.getElementById('settings-msg').textContent.includes('(invalid_settings)')")
        .await;
    assert_eq!(env.org("ui-org").await.minimum_balance, usd(50.0));
    b.fill("#settings-form [name=max_daily_recharges]", "4")
        .await;
    b.click("#settings-form button[type=submit]").await;
    b.wait("document.getElementById('settings-msg').textContent === 'Saved.'")
        .await;
    let org = env.org("ui-org").await;
    assert_eq!(org.minimum_balance, usd(60.0));
    assert_eq!(org.max_daily_recharges, 4);

    // The auto-recharge switch.
    b.click("#auto-switch").await;
    b.wait("document.getElementById('f-auto').textContent === 'Off'")
        .await;
    assert!(!env.org("ui-org").await.auto_recharge_enabled);
    assert_eq!(b.text("auto-switch-label").await, "Auto-recharge off");

    // A recharge without a card: the API's refusal is shown.
    b.eval("window.confirm = () => true").await;
    b.fill("#recharge-amount", "42.50").await;
    b.click("#recharge-form button[type=submit]").await;
    b.wait("document.getElementById('recharge-msg').dataset.kind === 'error'")
        .await;
    assert!(
        b.text("recharge-msg").await.contains("no_payment_method"),
        "{}",
        b.text("recharge-msg").await
    );

    // Add a card, sync to the KMS, recharge.
    b.fill("#pm-id", "pm_card_visa").await;
    b.click("#pm-form button[type=submit]").await;
    b.wait("document.getElementById('f-card').textContent === 'visa ·4242'")
        .await;
    // The message comes once the page is redrawn (after the card shows).
    b.wait("document.getElementById('pm-msg').textContent === 'Saved: visa ·4242.'")
        .await;
    b.click("#sync").await;
    b.wait("document.getElementById('f-team').textContent.startsWith('team_')")
        .await;
    b.wait(
        "document.getElementById('detail-msg').textContent === 'Synced to the KMS: quota $0.00.'",
    )
    .await;
    assert_eq!(b.text("f-quota").await, "$0.00");

    b.fill("#recharge-amount", "12.345").await;
    b.click("#recharge-form button[type=submit]").await;
    b.wait("document.getElementById('recharge-msg').textContent.startsWith('Enter an amount')")
        .await;
    b.fill("#recharge-amount", "42.50").await;
    b.click("#recharge-form button[type=submit]").await;
    b.wait("document.getElementById('f-credited').textContent === '$42.50'")
        .await;
    b.wait(
        "document.getElementById('recharge-msg').textContent === 'Recharged $42.50 (charged $42.50).'",
    )
    .await;
    b.wait("document.querySelectorAll('#history tr[data-status=succeeded]').length === 1")
        .await;
    assert_eq!(b.text("f-quota").await, "$42.50");
    assert_eq!(env.charges().await, 1);
    assert_eq!(env.kms_quota("ui-org"), Some(4_250));
    // The list shows the new figures too.
    b.wait(
        "document.querySelector('#orgs tr[data-org=\"ui-org\"] td.num').textContent === '$42.50'",
    )
    .await;

    // Forget the token: the console closes and the tab keeps nothing.
    b.click("#forget").await;
    // `idle` is in the static HTML: wait for the script's handlers too.
    b.wait("document.body.dataset.ready === 'true' && document.body.dataset.state === 'idle'")
        .await;
    assert_eq!(
        b.eval("sessionStorage.length").await,
        json!(0),
        "the token must be gone"
    );
    assert_eq!(
        b.eval("document.getElementById('console').hidden").await,
        json!(true)
    );
    b.close().await;
}

/// The console's drawing of an organisation, read in the page: the switch as painted (the
/// track's computed colour) and as a control, and the issue 12 figures.
async fn drawn(b: &mut Browser, id: &str) -> Value {
    b.click(&format!("#orgs tr[data-org={id:?}] button")).await;
    b.wait(&format!(
        "document.getElementById('org-id').textContent === {id:?} && \
         document.getElementById('f-credited').textContent !== '' && \
         document.getElementById('f-month').textContent !== ''"
    ))
    .await;
    // One more render after the click's, so nothing is half drawn: wait until its fetches
    // have answered and been drawn, and the switch's CSS transition has run to its end (a
    // fixed pause read a colour halfway between grey and green when the machine was busy).
    b.eval(
        "(() => { if (!window.__inflight_counted) { const f = window.fetch; window.__inflight = 0; \
           window.fetch = (...a) => { window.__inflight++; \
             return f(...a).finally(() => setTimeout(() => { window.__inflight--; }, 50)); }; \
           window.__inflight_counted = true; } })()",
    )
    .await;
    b.click("#org-reload").await;
    b.wait("window.__inflight === 0 && document.getAnimations().length === 0")
        .await;
    b.eval(
        "(() => { const sw = document.getElementById('auto-switch'); \
           const track = getComputedStyle(document.querySelector('#auto-switch + .track')).backgroundColor; \
           return { checked: sw.checked, aria: sw.getAttribute('aria-checked'), track, \
             label: document.getElementById('auto-switch-label').textContent, \
             auto: document.getElementById('f-auto').textContent, \
             autoSub: document.getElementById('f-auto-sub').textContent, \
             month: document.getElementById('f-month').textContent, \
             monthSub: document.getElementById('f-month-sub').textContent, \
             cap: document.querySelector('#settings-form [name=max_monthly_recharge_amount]').value, \
             paused: document.getElementById('pause-reason').hidden ? null : document.getElementById('pause-reason').textContent, \
             pending: document.getElementById('pending-3ds').hidden ? [] : \
               Array.from(document.querySelectorAll('#pending-3ds-list li'), (li) => li.textContent), \
             backend: document.getElementById('f-backend').textContent }; })()",
    )
    .await
}

/// The switch's track colours (admin.css): on is green, off is grey.
const TRACK_ON: &str = "rgb(18, 183, 106)";
const TRACK_OFF: &str = "rgb(208, 213, 221)";

#[tokio::test]
async fn the_switch_caps_pauses_and_3ds_are_drawn_as_the_api_says_in_chromium_bin() {
    let env = spawn().await;
    // On, with a monthly cap and one automatic recharge; off; paused by a dispute; 3DS.
    let team = env
        .ready_org(
            "ui-on",
            "pm_card_visa",
            json!({ "max_monthly_recharge_amount": 1500 }),
        )
        .await;
    let (_, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(answer.action, Some(EventAction::AutoRecharged));
    env.create_org("ui-off", json!({ "auto_recharge_enabled": false }))
        .await;
    env.create_org("ui-paused", json!({})).await;
    let (client, conn) = tokio_postgres::connect(env.app.db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE organization_balance_config SET auto_recharge_paused_reason = \
             'charge disputed (fraudulent): dispute dp_9' WHERE c_organization_id = 'ui-paused'",
            &[],
        )
        .await
        .unwrap();
    env.create_org("ui-3ds", json!({})).await;
    let pm = env.card_pm("4000002500003155").await;
    env.add_card("ui-3ds", &pm).await;
    let team_3ds = env.sync("ui-3ds").await;
    let (_, tds) = env.send_limit(&team_3ds, 520.0, None).await;
    assert_eq!(tds.action, Some(EventAction::RequiresAction));

    let mut b = Browser::open(&format!("{}/admin#token={ADMIN_TOKEN}", env.app.base_url)).await;
    b.wait("document.body.dataset.state === 'loaded'").await;
    assert_eq!(b.text("backend").await, "KMS");
    assert_eq!(b.text("last-poll").await, "no pass yet");

    for id in ["ui-on", "ui-off", "ui-paused", "ui-3ds"] {
        let api = env.org(id).await;
        let page = drawn(&mut b, id).await;
        let on = api.auto_recharge_enabled;
        assert_eq!(page["checked"], on, "{id}: {page}");
        assert_eq!(page["aria"], on.to_string(), "{id}: {page}");
        assert_eq!(
            page["track"],
            if on { TRACK_ON } else { TRACK_OFF },
            "{id}: the switch is drawn {} while the API says {on}: {page}",
            page["track"]
        );
        assert_eq!(
            page["label"],
            format!("Auto-recharge {}", if on { "on" } else { "off" })
        );
        assert_eq!(page["backend"], "KMS");
        assert_eq!(page["month"], shown(api.automatic_recharged_this_month));
        match api.max_monthly_recharge_amount {
            Some(cap) => {
                assert_eq!(
                    page["monthSub"],
                    format!("of a {} cap (UTC month)", shown(cap))
                );
                assert_eq!(page["cap"], "1500");
            }
            None => {
                assert_eq!(page["monthSub"], "no monthly cap");
                assert_eq!(page["cap"], "");
            }
        }
        match api.auto_recharge_paused_reason.as_deref() {
            Some(reason) => {
                assert_eq!(page["auto"], "Paused");
                assert_eq!(page["autoSub"], reason);
                assert!(page["paused"].as_str().unwrap().contains(reason), "{page}");
            }
            None => assert!(page["paused"].is_null(), "{page}"),
        }
    }
    let page = drawn(&mut b, "ui-3ds").await;
    let pending = page["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{page}");
    let line = pending[0].as_str().unwrap();
    let intent = tds
        .recharge
        .as_ref()
        .unwrap()
        .payment_intent_id
        .as_deref()
        .unwrap();
    assert!(
        line.contains(intent) && line.contains("$1,020.00"),
        "{line}"
    );
    assert!(line.contains("3-D Secure"), "{line}");
    assert_eq!(drawn(&mut b, "ui-on").await["pending"], json!([]));

    // The monthly cap through the settings form: set, then removed by emptying it.
    drawn(&mut b, "ui-off").await;
    b.fill(
        "#settings-form [name=max_monthly_recharge_amount]",
        "2000.5",
    )
    .await;
    b.click("#settings-form button[type=submit]").await;
    b.wait("document.getElementById('settings-msg').textContent === 'Saved.'")
        .await;
    assert_eq!(
        env.org("ui-off").await.max_monthly_recharge_amount,
        Some(usd(2000.5))
    );
    b.fill("#settings-form [name=max_monthly_recharge_amount]", "")
        .await;
    b.click("#settings-form button[type=submit]").await;
    b.wait("document.getElementById('f-month-sub').textContent === 'no monthly cap'")
        .await;
    assert!(env
        .org("ui-off")
        .await
        .max_monthly_recharge_amount
        .is_none());
    // Switching it on draws it on.
    b.click("#auto-switch").await;
    b.wait("document.getElementById('f-auto').textContent === 'On'")
        .await;
    assert!(env.org("ui-off").await.auto_recharge_enabled);
    assert_eq!(drawn(&mut b, "ui-off").await["track"], TRACK_ON);
    b.close().await;
}

/// An organisation member's console: the token handed over in the fragment the way
/// Supabase does (`#access_token=`), only the member's organisations, write controls hidden
/// for a viewer, this month's usage, and the audit trail for an admin.
#[tokio::test]
async fn members_see_their_own_organisation_by_role_in_chromium_bin() {
    let env = spawn().await;
    let team = env.ready_org("ui-member", "pm_card_visa", json!({})).await;
    env.create_org("ui-other", json!({})).await;
    let (admin, viewer) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    for (user, role) in [(&admin, "admin"), (&viewer, "viewer")] {
        let r = env
            .admin_post(
                "/api/organizations/ui-member/members",
                json!({ "user_id": user, "role": role }),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let (_, answer) = env.send_limit(&team, 520.0, None).await;
    assert_eq!(answer.action, Some(EventAction::AutoRecharged));
    // The admin changes a setting (through the API) so the trail has an entry by them.
    let r = env
        .call_as(
            &support::user_jwt(&admin),
            reqwest::Method::PATCH,
            "/api/organizations/ui-member",
            Some(json!({ "minimum_balance": 120 })),
        )
        .await;
    assert_eq!(r.status(), 200);

    for (user, role) in [(&admin, "admin"), (&viewer, "viewer")] {
        let token = support::user_jwt(user);
        let url = format!(
            "{}/admin#access_token={token}&org=ui-member",
            env.app.base_url
        );
        let dom = dump_dom(&url).await;
        assert!(dom.contains("data-state=\"loaded\""), "{role}: {dom}");
        assert!(
            !dom.contains(&token),
            "{role}: the token must not stay in the page"
        );
        assert!(dom.contains(&format!("data-role=\"{role}\"")), "{role}");
        assert!(dom.contains("<tr data-org=\"ui-member\""), "{role}");
        assert!(
            !dom.contains("data-org=\"ui-other\""),
            "{role}: another organisation is listed"
        );
        assert!(dom.contains(&format!("<td>{role}</td>")), "{role}");
        assert_eq!(text_of(&dom, "f-usage"), "$520.00", "{role}");
        assert!(
            dom.contains("<details id=\"create-box\" hidden=\"\">"),
            "{role}: {dom}"
        );
        let hidden = |id: &str| {
            dom.contains(&format!("id=\"{id}\" class=\"grid-form box\" autocomplete=\"off\" novalidate=\"\" hidden=\"\""))
        };
        if role == "viewer" {
            assert!(hidden("recharge-form") && hidden("pm-form"), "{dom}");
            assert!(
                dom.contains("<button id=\"sync\" type=\"button\" hidden=\"\">"),
                "{dom}"
            );
            assert!(dom.contains("<div id=\"audit-box\" hidden=\"\">"), "{dom}");
            assert!(
                dom.contains("id=\"auto-switch\" type=\"checkbox\" role=\"switch\" disabled=\"\""),
                "{dom}"
            );
        } else {
            assert!(!hidden("recharge-form") && !hidden("pm-form"), "{dom}");
            assert!(dom.contains("<div id=\"audit-box\">"), "{dom}");
            assert!(
                dom.contains(&format!("<td class=\"mono\">{admin}</td>")),
                "{dom}"
            );
            assert!(dom.contains("minimum_balance: 100 → 120"), "{dom}");
        }
        for width in ["1280,1700", "390,2800"] {
            let name = format!(
                "admin-console-{role}-{}.png",
                width.split(',').next().unwrap()
            );
            screenshot(&name, width, &url).await;
        }
    }
}
