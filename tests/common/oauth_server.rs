//! A real OAuth2 / OIDC authorization server for integration tests: django-oauth-toolkit (the Django
//! project in `tests/oauth_server/`) run by `<repo>/.venv/bin/python` (`$EDGEGUARD_PYTHON`
//! overrides it) on a loopback port, with a fresh SQLite database in a temp dir, the given users and
//! confidential applications created at start. Missing Python or django-oauth-toolkit is a test
//! FAILURE saying how to get it (`make oauth-server`, which `make test` runs), never a skip.
//!
//! Endpoints (under `/o/`): `token/`, `revoke_token/`, `introspect/` (RFC 7662, client-authenticated),
//! and with OIDC enabled `.well-known/openid-configuration` and `.well-known/jwks.json`. Started and
//! waited for within [`START_TIMEOUT`]; killed on Drop.

use super::{http_request, repo, temp_dir};
use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the server may take to migrate its database and listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A confidential OAuth2 application of the server.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
    /// `client-credentials` or `password`.
    pub grant: String,
    /// How its OIDC ID tokens are signed (`RS256`: with the server's RSA key); empty: none issued.
    pub algorithm: String,
}

impl Client {
    pub fn new(id: &str, secret: &str, grant: &str) -> Client {
        Client {
            id: id.into(),
            secret: secret.into(),
            grant: grant.into(),
            algorithm: String::new(),
        }
    }

    /// The same application, issuing ID tokens signed with the server's RSA key (RS256).
    pub fn rs256(mut self) -> Client {
        self.algorithm = "RS256".into();
        self
    }
}

/// The running authorization server (killed on Drop).
pub struct OAuthServer {
    child: Child,
    port: u16,
    pub dir: PathBuf,
}

/// The Python with django-oauth-toolkit: `$EDGEGUARD_PYTHON` or `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("EDGEGUARD_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo().join(".venv/bin/python"),
    };
    assert!(
        path.is_file(),
        "Python not found at {} — run `make oauth-server` (or `make test`), or set EDGEGUARD_PYTHON",
        path.display()
    );
    let ok = Command::new(&path)
        .args(["-c", "import oauth2_provider, django"])
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "django-oauth-toolkit is not installed for {} — run `make oauth-server` (or `make test`)",
        path.display()
    );
    path
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `application/x-www-form-urlencoded` of one value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `Basic` credentials of a client, form-encoded first (RFC 6749 §2.3.1).
pub fn basic(c: &Client) -> String {
    let pair = format!("{}:{}", enc(&c.id), enc(&c.secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

impl OAuthServer {
    /// Starts the server with these applications and users (`(username, password)`).
    pub fn start(clients: &[Client], users: &[(&str, &str)]) -> OAuthServer {
        Self::start_with_issuer(clients, users, None)
    }

    /// Like [`OAuthServer::start`], with the OIDC issuer fixed (`EG_OAUTH_ISSUER`: what discovery
    /// and ID tokens name) instead of derived from each request.
    pub fn start_with_issuer(
        clients: &[Client],
        users: &[(&str, &str)],
        issuer: Option<&str>,
    ) -> OAuthServer {
        let py = python();
        let dir = temp_dir("oauth");
        let clients: Vec<Value> = clients
            .iter()
            .map(|c| {
                json!({"client_id": c.id, "client_secret": c.secret, "grant": c.grant,
                       "algorithm": c.algorithm})
            })
            .collect();
        let users: Vec<Value> = users
            .iter()
            .map(|(u, p)| json!({"username": u, "password": p}))
            .collect();
        let err = std::fs::File::create(dir.join("server.log"))
            .unwrap_or_else(|e| panic!("create server log: {e}"));
        let mut command = Command::new(&py);
        if let Some(issuer) = issuer {
            command.env("EG_OAUTH_ISSUER", issuer);
        }
        let mut child = command
            .arg(repo().join("tests/oauth_server/serve.py"))
            .env("EG_OAUTH_DB", dir.join("db.sqlite3"))
            .env("EG_OAUTH_CLIENTS", Value::Array(clients).to_string())
            .env("EG_OAUTH_USERS", Value::Array(users).to_string())
            .env("EG_OAUTH_PORT", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", py.display()));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(p) = line.strip_prefix("READY ") {
                        let _ = tx.send(p.trim().parse::<u16>().unwrap_or(0));
                    }
                }
            });
        }
        let port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(p) if p != 0 => p,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("the authorization server did not start within {START_TIMEOUT:?} ({other:?}):\n{log}");
            }
        };
        OAuthServer { child, port, dir }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `POST /o/<endpoint>/` with a form body, authenticated as `client` (Basic); the JSON answer
    /// (`Null` for an empty body) and the status.
    pub fn post(&self, endpoint: &str, client: &Client, pairs: &[(&str, &str)]) -> (u16, Value) {
        let path = format!("/o/{endpoint}/");
        let auth = basic(client);
        let r = http_request(
            self.addr(),
            "POST",
            &path,
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &form(pairs),
        )
        .unwrap_or_else(|e| panic!("POST {path} to the authorization server: {e}"));
        let body = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        (r.status, body)
    }

    /// A client-credentials access token of `client` with `scope`.
    pub fn client_token(&self, client: &Client, scope: &str) -> String {
        let (status, v) = self.post(
            "token",
            client,
            &[("grant_type", "client_credentials"), ("scope", scope)],
        );
        match v["access_token"].as_str() {
            Some(t) if status == 200 => t.to_string(),
            _ => panic!(
                "no client-credentials token for {}: {status} {v}",
                client.id
            ),
        }
    }

    /// A password-grant access token of user `username` through `client`.
    pub fn user_token(
        &self,
        client: &Client,
        username: &str,
        password: &str,
        scope: &str,
    ) -> String {
        let (status, v) = self.post(
            "token",
            client,
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
                ("scope", scope),
            ],
        );
        match v["access_token"].as_str() {
            Some(t) if status == 200 => t.to_string(),
            _ => panic!("no password token for {username}: {status} {v}"),
        }
    }

    /// An OIDC ID token of user `username` (a JWT signed by the server): a password grant with scope
    /// `openid`, then the refresh grant, which in django-oauth-toolkit (oauthlib's OIDC refresh
    /// grant) answers with an `id_token` too. `client` must be [`Client::rs256`].
    pub fn id_token(&self, client: &Client, username: &str, password: &str) -> String {
        let (status, v) = self.post(
            "token",
            client,
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
                ("scope", "openid read"),
            ],
        );
        let refresh = match v["refresh_token"].as_str() {
            Some(t) if status == 200 => t.to_string(),
            _ => panic!("no password token for {username}: {status} {v}"),
        };
        let (status, v) = self.post(
            "token",
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        );
        match v["id_token"].as_str() {
            Some(t) if status == 200 => t.to_string(),
            _ => panic!("no ID token for {username}: {status} {v}"),
        }
    }

    /// Revokes `token` (RFC 7009) as `client`, its owner.
    pub fn revoke(&self, client: &Client, token: &str) {
        let (status, v) = self.post("revoke_token", client, &[("token", token)]);
        assert_eq!(status, 200, "revoke: {v}");
    }

    /// The server's request log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("authorization server files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
