//! Token validation against an independent OIDC provider: panva's `oidc-provider` from npm
//! (bench/oidc), run under node on loopback. Discovery, JWKS, client credentials, audience,
//! issuer, Keycloak-style roles, and key rotation: a new `kid` is accepted after the refresh an
//! unknown `kid` triggers, a removed key is refused once the key set is older than its maximum
//! age — even for a token verified (and cached) before.
//!
//! Needs `node` and `bash bench/oidc/install.sh`; skipped without them, failed under
//! `SHOP_REQUIRE_TEST_SERVERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kit::auth::{AuthError, AuthMode, AuthSettings, Authenticator, ClientCredentials, JwksPolicy, Role, ServiceToken};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "shop-test";
const CLIENT_SECRET: &str = "shop-test-secret";
const SERVER: &str = "an OIDC provider (node with bench/oidc installed)";

/// The provider process, killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
    http: reqwest::Client,
    _logs: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/oidc")
}

impl Provider {
    /// Starts the provider publishing and signing with key `A`, or `None` (skipped) when node
    /// or the npm package is missing.
    fn start() -> Option<Provider> {
        let dir = bench_dir();
        match Command::new("node").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => return testkit::missing_server(SERVER, &format!("node --version failed: {}", out.status)),
            Err(err) => return testkit::missing_server(SERVER, &format!("node is not installed: {err}")),
        }
        if !dir.join("node_modules/oidc-provider/package.json").is_file() {
            return testkit::missing_server(
                SERVER,
                "bench/oidc/node_modules is missing (run bash bench/oidc/install.sh)",
            );
        }
        let logs = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(logs.path().join("stderr")).unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--port", "0", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--publish", "A", "--sign", "A", "--exit-with-stdin", "1"])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting node");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(issuer) = line.trim().strip_prefix("listening ").map(str::to_owned) else {
            let _ = child.kill();
            let log = std::fs::read_to_string(logs.path().join("stderr")).unwrap_or_default();
            panic!("the OIDC provider did not start (said {line:?}):\n{log}");
        };
        Some(Provider { child, issuer, http: reqwest::Client::new(), _logs: logs })
    }

    fn settings(&self) -> AuthSettings {
        AuthSettings {
            mode: AuthMode::On,
            issuer: self.issuer.clone(),
            audience: "shop-api".into(),
            client: Some(ClientCredentials { id: CLIENT_ID.into(), secret: CLIENT_SECRET.into() }),
        }
    }

    /// An access token by client credentials, for `resource` (the provider's default, whose
    /// audience is `shop-api`, when `None`).
    async fn token(&self, resource: Option<&str>) -> String {
        let mut form =
            vec![("grant_type", "client_credentials"), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let response = self.http.post(format!("{}/token", self.issuer)).form(&form).send().await.unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(status.is_success(), "token endpoint answered {status}: {body}");
        body["access_token"].as_str().expect("an access token").to_owned()
    }

    /// Publishes the keys `publish` and signs new tokens with `sign`.
    async fn keys(&self, publish: &[&str], sign: &str) {
        let response = self
            .http
            .post(format!("{}/__control/keys", self.issuer))
            .json(&serde_json::json!({ "publish": publish, "sign": sign }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "rotating keys: {}", response.text().await.unwrap_or_default());
        let jwks: serde_json::Value =
            self.http.get(format!("{}/jwks", self.issuer)).send().await.unwrap().json().await.unwrap();
        let served: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
        assert_eq!(served, publish, "the provider's JWKS after rotation");
    }
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid")
}

fn assert_invalid(result: Result<kit::auth::Principal, AuthError>, what: &str) {
    match result {
        Err(AuthError::Invalid(_)) => {}
        other => panic!("{what}: expected an invalid token, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_of_an_independent_provider_are_validated() {
    let Some(provider) = Provider::start() else { return };
    let auth = Authenticator::with_policy(provider.settings(), JwksPolicy::default());

    let token = provider.token(None).await;
    let principal = auth.verify(&token).await.expect("a token of the configured issuer and audience");
    assert_eq!(principal.subject, CLIENT_ID);
    assert_eq!(principal.username.as_deref(), Some("service-account-shop-test"));
    // Realm roles plus the audience client's roles; another client's roles and roles this
    // platform does not know are ignored.
    assert!(principal.has(Role::Service) && principal.has(Role::Admin), "{:?}", principal.roles);
    assert!(!principal.has(Role::User), "another client's role leaked in: {:?}", principal.roles);
    let header = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    assert_eq!(auth.authenticate(Some(&header)).await.unwrap(), principal);

    let other_audience = provider.token(Some("urn:shop:other")).await;
    assert_invalid(auth.verify(&other_audience).await, "a token for another audience");

    let (head, rest) = token.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{claims}.{flipped}{}", &signature[1..]);
    assert_invalid(auth.verify(&forged).await, "a token with a damaged signature");

    // The same server under another name: its tokens name their real issuer.
    let port = provider.issuer.rsplit(':').next().unwrap();
    let elsewhere = Authenticator::with_policy(
        AuthSettings { issuer: format!("http://localhost:{port}"), ..provider.settings() },
        JwksPolicy::default(),
    );
    assert_invalid(elsewhere.verify(&token).await, "a token of another issuer");

    // The service credential: discovery of the token endpoint, client credentials, validation.
    let service = ServiceToken::from_settings(&auth).expect("a configured client");
    let bearer = service.bearer().await.expect("a service token from the provider");
    assert_ne!(bearer, token, "a fresh token");
    assert_eq!(auth.verify(&bearer).await.unwrap().subject, CLIENT_ID);
}

#[tokio::test]
async fn rotated_keys_are_followed() {
    let Some(provider) = Provider::start() else { return };
    let policy = JwksPolicy { max_age: Duration::from_secs(3), min_interval: Duration::from_secs(2) };
    let auth = Authenticator::with_policy(provider.settings(), policy);

    let token_a = provider.token(None).await;
    assert_eq!(kid(&token_a), "A");
    let first_download = Instant::now();
    auth.verify(&token_a).await.expect("a token signed by the published key");

    // Key B published and signing; A still published.
    provider.keys(&["B", "A"], "B").await;
    let token_b = provider.token(None).await;
    assert_eq!(kid(&token_b), "B");
    // An unknown kid refreshes the keys, but not more than once per interval.
    assert!(first_download.elapsed() < policy.min_interval, "the test machine is too slow for this check");
    assert_invalid(auth.verify(&token_b).await, "a new kid within the refresh interval");
    tokio::time::sleep_until((first_download + policy.min_interval + Duration::from_millis(100)).into()).await;
    let refreshed = Instant::now();
    auth.verify(&token_b).await.expect("a new kid after the refresh interval");
    auth.verify(&token_a).await.expect("a token signed by a key still published");

    // Key A removed: a token it signed, verified (and cached) before, is refused once the keys
    // are older than their maximum age, while B's tokens go on working.
    provider.keys(&["B"], "B").await;
    let deadline = refreshed + policy.max_age + Duration::from_secs(10);
    loop {
        match auth.verify(&token_a).await {
            Err(AuthError::Invalid(reason)) => {
                assert!(reason.contains("unknown key"), "{reason}");
                break;
            }
            Ok(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("a token of a removed key: expected refused by {deadline:?}, got {other:?}"),
        }
    }
    assert!(refreshed.elapsed() >= policy.max_age, "refused only after the keys' maximum age");
    auth.verify(&token_b).await.expect("a token of the key still published");
    assert_invalid(auth.verify(&token_a).await, "a token of a removed key, again");

    // The issuer gone: the keys already known keep serving past their age.
    drop(provider);
    tokio::time::sleep(policy.max_age).await;
    auth.verify(&token_b).await.expect("known keys while the issuer cannot be reached");
}
