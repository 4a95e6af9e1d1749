//! The web UI in a real browser (Debian's chromium, driven over WebDriver by chromedriver):
//! a shopper browses, searches, adds to the cart, signs in at the identity provider
//! (authorization code + PKCE), checks out, sees the order and cancels one; staff restock,
//! change a threshold, ship an order and see the low-stock alert. axe-core runs in every
//! page (no serious or critical violations) and every page is photographed into
//! `SHOP_SCREENSHOT_DIR` (default `$CARGO_TARGET_DIR/ui-screenshots`). A product named like
//! a script renders as text everywhere. Plus HTTP-level checks that need no browser.

use crate::helpers::{Backend, Options, TestPlatform, spawn};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const PROBE_NAME: &str = "<script>window.__xss=1</script>Probe <b>lamp</b>";
const PROBE_IMAGE: &str = "https://img.invalid/a.png\" onerror=\"window.__xss=2";

/// Creates the XSS probe product through the API; returns its id.
async fn create_probe(platform: &TestPlatform) -> String {
    let body = platform
        .post(
            "/api/products",
            json!({
                "name": PROBE_NAME,
                "description": "<img src=x onerror=\"window.__xss=3\"> a lamp",
                "price": 12.5,
                "category": "Probe <i>category</i>",
                "tags": ["<svg onload=window.__xss=4>"],
                "image_url": PROBE_IMAGE,
                "stock_quantity": 5,
            }),
        )
        .await
        .assert_json(http::StatusCode::CREATED);
    body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn pages_escape_every_value_and_carry_a_strict_policy() {
    let Some(platform) = spawn(Backend::Sqlite, Options { seed_demo: true, ..Options::default() }).await else {
        return;
    };
    let id = create_probe(&platform).await;
    let http = reqwest::Client::new();
    let base = platform.platform.as_ref().expect("running").gateway_url();
    for path in
        [format!("/products/{id}"), "/?q=Probe".to_owned(), "/?category=Probe%20%3Ci%3Ecategory%3C%2Fi%3E".to_owned()]
    {
        let response = http.get(format!("{base}{path}")).send().await.expect("page");
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let html = response.text().await.expect("body");
        assert!(!html.contains("<script>window"), "{path}: a script tag came through:\n{html}");
        assert!(!html.contains("<b>lamp"), "{path}: markup came through");
        assert!(
            html.contains("&lt;script&gt;window.__xss=1&lt;&#x2f;script&gt;Probe"),
            "{path}: the name is not shown as text:\n{html}"
        );
        assert!(!html.contains("\" onerror=\""), "{path}: an attribute was broken out of");
    }
    // Forms without the page's CSRF token are refused, and nothing changes.
    let response = http
        .post(format!("{base}/cart/add"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("product_id={id}&quantity=1"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap_or("").contains("shop_cart")));
    // Pages that need a session send the visitor to sign in, and back.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response = no_redirects.get(format!("{base}/admin/orders")).send().await.expect("get");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/signin?next=%2Fadmin%2Forders");
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: tokio::process::Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join(name)).find(|p| p.is_file())
}

async fn start_driver() -> Option<Driver> {
    let Some(program) = find_program("chromedriver") else {
        return testkit::missing_server("chromedriver", "apt-get install chromium chromium-driver");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = tokio::process::Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(Driver { child, port });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

fn axe_source() -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/browser/node_modules/axe-core/axe.min.js")
    });
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) => testkit::missing_server(
            "axe-core",
            &format!("{} is missing: bash bench/browser/install.sh", path.display()),
        ),
    }
}

fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHOP_SCREENSHOT_DIR") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target).join("ui-screenshots"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots"),
    }
}

/// The browser session and what each page is checked with.
struct Browser {
    client: Client,
    base: String,
    axe: String,
    shots: PathBuf,
    taken: usize,
}

impl Browser {
    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
    }

    /// Clicks something that loads another page, and waits until that page has loaded.
    async fn click(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.expect("a page");
        self.click_in_place(css).await;
        for _ in 0..100 {
            // The old document's root goes stale once the browser has navigated away.
            if old.is_displayed().await.is_err() {
                let ready = self.client.execute("return document.readyState;", vec![]).await;
                if ready.as_ref().ok().and_then(Value::as_str) == Some("complete") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} loaded no new page");
    }

    /// Clicks something that stays on the page.
    async fn click_in_place(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn body(&self) -> String {
        self.text("body").await
    }

    /// axe-core in the page: no serious or critical violation; then a screenshot; and the
    /// XSS probe never ran.
    async fn check(&mut self, name: &str) {
        self.client.execute(&format!("{}\nreturn true;", self.axe), vec![]).await.expect("inject axe-core");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }))))
                   .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                vec![],
            )
            .await
            .expect("axe.run");
        let serious: Vec<&Value> = found
            .as_array()
            .map(|all| all.iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect())
            .unwrap_or_default();
        assert!(
            serious.is_empty(),
            "{name}: accessibility violations: {}",
            serde_json::to_string_pretty(&serious).unwrap_or_default()
        );
        let xss = self
            .client
            .execute("return window.__xss === undefined ? null : window.__xss;", vec![])
            .await
            .expect("probe");
        assert_eq!(xss, Value::Null, "{name}: injected script ran");
        let png = self.client.screenshot().await.expect("screenshot");
        self.taken += 1;
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.taken)), png).expect("write screenshot");
    }

    /// Signs in at the identity provider's page (the browser is there after a redirect).
    async fn sign_in(&mut self, email: &str, password: &str) {
        self.client.wait().for_element(Locator::Css("input#email")).await.expect("the sign-in page");
        assert!(self.client.current_url().await.expect("url").path().ends_with("/protocol/openid-connect/auth"));
        self.check("sign-in").await;
        self.fill("input#email", email).await;
        self.fill("input#password", password).await;
        self.click("button[type=submit]").await;
    }

    /// Reloads `path` until `css` is on the page (events are asynchronous).
    async fn reload_until(&self, path: &str, css: &str) {
        for _ in 0..50 {
            self.open(path).await;
            if self.client.find(Locator::Css(css)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{css} never appeared on {path}");
    }
}

#[tokio::test]
async fn a_shopper_and_staff_walk_the_shop_in_a_browser() {
    let Some(driver) = start_driver().await else { return };
    let Some(axe) = axe_source() else { return };
    let Some(platform) = spawn(Backend::Sqlite, Options { seed_demo: true, ..Options::default() }).await else {
        return;
    };
    let probe = create_probe(&platform).await;
    // A threshold above the stock: the next reservation of prod-003 raises the low-stock alert.
    platform
        .put("/api/inventory/prod-003", json!({ "low_stock_threshold": 100000 }))
        .await
        .assert_json(http::StatusCode::OK);

    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let mut capabilities = serde_json::Map::new();
    let mut chrome = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
    });
    if let Some(binary) = find_program("chromium") {
        chrome["binary"] = json!(binary);
    }
    capabilities.insert("goog:chromeOptions".into(), chrome);
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session");
    let base = platform.platform.as_ref().expect("running").gateway_url();
    let mut b = Browser { client, base, axe, shots: shots.clone(), taken: 0 };

    // Browse, search, open a product, add it to the cart.
    b.open("/").await;
    assert!(b.body().await.contains("iPhone 15 Pro"));
    b.check("catalog").await;
    b.open("/?category=Books").await;
    assert!(b.text("h1").await.contains("Books"));
    b.fill("#site-search", "iphone").await;
    b.click("form.search button").await;
    assert!(b.text("h1").await.contains("iphone"));
    b.check("search").await;
    b.click(".cards .card h3 a").await;
    assert_eq!(b.text("h1").await, "iPhone 15 Pro");
    assert!(b.body().await.contains("in stock"));
    b.check("product").await;
    b.fill("#quantity", "2").await;
    b.click("form.add button").await;
    assert_eq!(b.path().await, "/cart");
    assert!(b.body().await.contains("iPhone 15 Pro"));
    b.check("cart").await;

    // The probe is text on its page, in search and in the cart.
    b.open(&format!("/products/{probe}")).await;
    assert!(b.text("h1").await.contains("<script>window.__xss=1</script>Probe <b>lamp</b>"));
    b.check("xss-probe").await;
    b.open("/?q=Probe").await;
    b.check("xss-search").await;

    // Checkout needs a sign-in: the identity provider's page, then back to checkout.
    b.open("/checkout").await;
    b.sign_in("alice@example.com", "alice").await;
    b.client.wait().for_element(Locator::Css("#customer_name")).await.expect("back at checkout");
    assert_eq!(b.path().await, "/checkout");
    b.check("checkout").await;
    b.fill("#customer_name", "Alice Example").await;
    b.click("form.stack button[type=submit]").await;
    assert!(b.path().await.starts_with("/orders?placed="));
    assert!(b.text("[role=status]").await.contains("was placed"));
    let first =
        b.client.find(Locator::Css("li.order")).await.expect("the order").attr("data-order-id").await.expect("attr");
    let first = first.expect("an order id");
    b.check("my-orders").await;

    // A second order (prod-003, under its threshold), then cancel the first.
    b.open("/products/prod-003").await;
    b.click("form.add button").await;
    b.open("/checkout").await;
    b.click("form.stack button[type=submit]").await;
    assert!(b.path().await.starts_with("/orders?placed="));
    let second =
        b.client.find(Locator::Css("li.order")).await.expect("the order").attr("data-order-id").await.expect("attr");
    let second = second.expect("an order id");
    assert_ne!(first, second);
    b.click(&format!("li.order[data-order-id='{first}'] form button")).await;
    assert!(b.path().await.starts_with("/orders?cancelled=1"));
    assert!(b.text(&format!("li.order[data-order-id='{first}'] .status")).await.contains("CANCELLED"));
    b.check("cancelled").await;
    // Customers are not staff.
    b.open("/admin").await;
    assert!(b.body().await.contains("This page is for shop staff."));

    // The assistant streams its reply into the page.
    b.open("/assistant").await;
    b.fill("#chat-message", "a laptop").await;
    b.click_in_place("form[data-chat] button").await;
    let mut replied = String::new();
    for _ in 0..50 {
        replied = b.text("#chat-log li.assistant").await;
        if !replied.is_empty() && b.client.find(Locator::Css("#chat-log li.assistant[aria-busy]")).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!replied.is_empty() && !replied.contains("unavailable"), "the assistant's reply: {replied:?}");
    b.check("assistant").await;

    // Staff: sign out, sign in as admin.
    b.open("/").await;
    b.click("header form[action='/signout'] button").await;
    b.open("/signin?next=/admin/inventory").await;
    b.sign_in("admin@example.com", "admin").await;
    b.client.wait().for_element(Locator::Css(".low-stock")).await.expect("the inventory page");
    assert_eq!(b.path().await, "/admin/inventory");
    let low = b.text(".low-stock").await;
    assert!(low.contains("prod-003"), "the low-stock list: {low}");
    b.check("admin-inventory").await;
    b.fill("#stock-prod-001 form.restock input[name=quantity]", "25").await;
    b.click("#stock-prod-001 form.restock button").await;
    assert!(b.text("[role=status]").await.contains("stock was added"));
    assert!(
        b.text("#stock-prod-001").await.contains("125"),
        "prod-001 after restocking 25: {}",
        b.text("#stock-prod-001").await
    );
    b.fill("#stock-prod-002 form.threshold input[name=quantity]", "7").await;
    b.click("#stock-prod-002 form.threshold button").await;
    assert!(b.text("[role=status]").await.contains("threshold was saved"));

    // Ship the second order once the inventory has confirmed it.
    let ship = format!("tr[data-order-id='{second}'] input[value=SHIPPED]");
    b.reload_until("/admin/orders", &ship).await;
    b.check("admin-orders").await;
    b.click(&format!("tr[data-order-id='{second}'] form:has(input[value=SHIPPED]) button")).await;
    assert!(b.text(&format!("tr[data-order-id='{second}'] .status")).await.contains("SHIPPED"));

    // The low-stock alert email, among the recent notifications.
    b.reload_until("/admin/notifications", "tr.kind-low_stock").await;
    assert!(b.body().await.contains("Low stock"));
    b.check("admin-notifications").await;
    b.open("/admin/products").await;
    b.check("admin-products").await;
    b.open(&format!("/admin/products/{probe}")).await;
    b.check("admin-product-edit").await;
    b.open("/admin").await;
    b.check("admin-overview").await;

    b.client.close().await.expect("close the browser");
    eprintln!("storefront screenshots: {}", shots.display());
}

/// The checkout page carries an idempotency key: submitting it twice (a double click, or a
/// retry after a lost answer) places one order and shows it both times.
#[tokio::test]
async fn a_checkout_submitted_twice_places_one_order() {
    let Some(platform) = spawn(Backend::Sqlite, Options { seed_demo: true, ..Options::default() }).await else {
        return;
    };
    let running = platform.platform.as_ref().expect("running");
    let token = running
        .issuer
        .mint(&identity::Subject::person("alice@example.com", &["user"], "api-gateway"), 600)
        .expect("a token");
    let csrf = "c".repeat(43);
    let cookies = format!("shop_session={token}; shop_csrf={csrf}; shop_cart=prod-001%3D2");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let checkout = format!("{}/checkout", running.gateway_url());
    let page = http.get(&checkout).header("cookie", &cookies).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let key = html
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries an idempotency key")
        .to_owned();
    let mut placed = Vec::new();
    for _ in 0..2 {
        let answer = http
            .post(&checkout)
            .header("cookie", &cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&customer_name=Alice&idempotency_key={key}"))
            .send()
            .await
            .expect("post");
        assert_eq!(answer.status(), 303);
        placed.push(answer.headers()["location"].to_str().expect("ascii").to_owned());
    }
    assert!(placed[0].starts_with("/orders?placed="), "{placed:?}");
    assert_eq!(placed[0], placed[1], "both submits show the same order");
    let orders = platform.get("/api/orders").await;
    assert_eq!(orders.header("x-total-count"), Some("1"));
}
