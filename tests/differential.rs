//! Differential tests through a real Envoy running the built `target/edgeguard.wasm` (run with
//! `make test`): what edgeguard authorizes is exactly what reaches the upstream.
//!
//! Topology: edgeguard, then Envoy's route table `prefix: /admin` → cluster `admin` (echo upstream A),
//! `prefix: /` → cluster `upstream` (echo upstream B). The core invariant, asserted for every attack
//! request: A never receives a request that was not authenticated, and whatever reaches B arrives
//! under a path the rule edgeguard applied means (a canonical `/public/...` path for the anonymous
//! rule). Headers are also checked in their CGI view (`HTTP_X_EDGEGUARD_KEY_ID`, ...), which is what
//! WSGI/Rack/PHP applications read: `x_edgeguard_key_id` and `x-edgeguard-key-id` are one variable.
//!
//! Each test starts one Envoy for one configuration and sends many requests through it; failures are
//! collected and reported together, so one run shows every broken case of a configuration.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    b64, cluster, h2_request, http_raw, prefix_route, request_bytes, validate_plugin, EchoUpstream,
    Envoy, Options, Received, Response,
};
use edgeguard::config::Config;
use edgeguard::credential::api_key::sha256_hex;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const ISS: &str = "https://idp.differential.test";
const SECRET: &[u8; 32] = b"edgeguard-differential-hs256-k!!";
/// The `ops` key: the only one `/admin` accepts.
const ADMIN_KEY: &str = "differential-admin-key-000000";
/// The `app` key: any valid key, not `ops`.
const APP_KEY: &str = "differential-app-key-00000000";

// ---------------------------------------------------------------------------------------------------
// Configuration and topology
// ---------------------------------------------------------------------------------------------------

/// The base plugin configuration (only fields today's plugin knows, all other settings at their
/// defaults); `extra` is merged at the top level.
fn plugin_value(extra: Value) -> Value {
    let mut cfg = json!({
        "api_keys": {
            "from": [{"header": "x-api-key"}, {"query": "api_key"}],
            "keys": [
                {"id": "ops", "sha256": sha256_hex(ADMIN_KEY.as_bytes()), "scopes": ["admin"]},
                {"id": "app", "sha256": sha256_hex(APP_KEY.as_bytes())}
            ]
        },
        "providers": {"idp": {
            "issuer": ISS,
            "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "h", "k": b64(SECRET)}]}},
            "from": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"},
                     {"cookie": "at"}],
            "claims_to_headers": [
                {"claim": "sub", "header": "x-user-id"},
                {"claim": "org.id", "header": "x-org"},
                {"claim": "groups", "header": "x-groups"},
                {"claim": "name", "header": "x-name"}
            ]
        }},
        "rules": [
            {"match": {"path_prefix": "/public"}, "allow": "anonymous"},
            {"match": {"path_prefix": "/admin"}, "require": {"api_key": {"ids": ["ops"]}}},
            {"match": {"path_prefix": "/orgs"}, "require": {"jwt": "idp", "claims": {"org.id": "victim"}}},
            {"match": {"path_prefix": "/scoped"}, "require": {"jwt": "idp", "scopes": ["admin"]}},
            {"match": {"path_prefix": "/any"}, "require": {"any": [{"api_key": {}}, {"jwt": "idp"}]}}
        ],
        "default": "allow"
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        cfg[k] = v;
    }
    cfg
}

fn plugin(extra: Value) -> String {
    plugin_value(extra).to_string()
}

/// One Envoy with upstream A behind `/admin` and upstream B behind `/`.
struct Topo {
    envoy: Envoy,
    admin: EchoUpstream,
}

impl Topo {
    /// `hcm`: extra HttpConnectionManager fields (the harness default is `normalize_path: false,
    /// merge_slashes: false`, codec AUTO: HTTP/1.1 and h2c with prior knowledge).
    fn start(plugin_json: &str, hcm: Value) -> Topo {
        // Say plainly when the plugin refuses the configuration (Envoy's log only says it exited).
        if let Err(e) = Config::parse(plugin_json.as_bytes()) {
            panic!("the plugin refuses this test's configuration, so Envoy cannot start: {e}");
        }
        let admin = EchoUpstream::start();
        let envoy = Envoy::start_with(
            plugin_json,
            Options {
                concurrency: 1,
                clusters: vec![cluster("admin", admin.port())],
                routes: vec![prefix_route("/admin", "admin")],
                hcm,
                ..Options::default()
            },
        );
        Topo { envoy, admin }
    }

    fn public(&self) -> &EchoUpstream {
        self.envoy.echo.as_ref().unwrap()
    }

    fn send(
        &self,
        proto: Proto,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<Response> {
        match proto {
            Proto::H1 => http_raw(
                self.envoy.addr(),
                &request_bytes(method, path, headers, body),
            ),
            Proto::H2 => h2_request(self.envoy.addr(), method, path, headers, body),
        }
    }

    /// Sends one request and returns the response (an I/O error as status 0) and what A and B
    /// received because of it.
    fn exchange(
        &self,
        proto: Proto,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Exchange {
        let (a0, b0) = (self.admin.received().len(), self.public().received().len());
        let response = self
            .send(proto, method, path, headers, body)
            .unwrap_or_else(|e| Response {
                status: 0,
                headers: Vec::new(),
                body: format!("I/O error: {e}"),
            });
        self.collect(response, a0, b0)
    }

    /// Like [`Topo::exchange`] with a raw HTTP/1.1 request.
    fn exchange_raw(&self, raw: &[u8]) -> Exchange {
        let (a0, b0) = (self.admin.received().len(), self.public().received().len());
        let response = http_raw(self.envoy.addr(), raw).unwrap_or_else(|e| Response {
            status: 0,
            headers: Vec::new(),
            body: format!("I/O error: {e}"),
        });
        self.collect(response, a0, b0)
    }

    fn collect(&self, response: Response, a0: usize, b0: usize) -> Exchange {
        // The upstream records a request before it answers, and Envoy answers after the upstream did:
        // by now everything this request caused is recorded.
        Exchange {
            response,
            admin: self.admin.received()[a0..].to_vec(),
            public: self.public().received()[b0..].to_vec(),
        }
    }

    fn get(&self, proto: Proto, path: &str, headers: &[(&str, &str)]) -> Exchange {
        self.exchange(proto, "GET", path, headers, "")
    }
}

type Header<'a> = (&'a str, &'a str);
type Headers<'a> = &'a [Header<'a>];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

#[derive(Debug)]
struct Exchange {
    response: Response,
    /// What upstream A (`/admin`) received.
    admin: Vec<Received>,
    /// What upstream B (`/`) received.
    public: Vec<Received>,
}

impl Exchange {
    fn status(&self) -> u16 {
        self.response.status
    }

    fn reason(&self) -> String {
        serde_json::from_str::<Value>(&self.response.body)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The one request an upstream received (A or B), if exactly one did.
    fn upstream(&self) -> Option<&Received> {
        match (self.admin.as_slice(), self.public.as_slice()) {
            ([r], []) | ([], [r]) => Some(r),
            _ => None,
        }
    }

    fn brief(&self) -> String {
        let body: String = self.response.body.chars().take(160).collect();
        let seen = |v: &[Received]| -> Vec<String> {
            v.iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect()
        };
        format!(
            "status {} {body:?}; A got {:?}; B got {:?}",
            self.status(),
            seen(&self.admin),
            seen(&self.public)
        )
    }
}

/// Soft assertions: every failed check is recorded; [`Failures::finish`] panics with all of them.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn finish(self, envoy: Option<&Envoy>) {
        if !self.0.is_empty() {
            let tail = envoy.map(|e| e.log_tail(20)).unwrap_or_default();
            panic!(
                "{} failed check(s):\n  - {}\n{tail}",
                self.0.len(),
                self.0.join("\n  - ")
            );
        }
    }
}

/// Whether a path (its part before `?`) is canonical as far as a path-based upstream can tell: no
/// `.`/`..` or empty segments (a trailing slash is fine), no `;`, no backslash, no encoded dot,
/// slash, backslash or percent sign.
fn looks_canonical(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or_default();
    if !p.starts_with('/') || p.contains(';') || p.contains('\\') {
        return false;
    }
    let lower = p.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%25", "%3b"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return false;
    }
    let segs: Vec<&str> = p[1..].split('/').collect();
    let last = segs.len() - 1;
    segs.iter()
        .enumerate()
        .all(|(i, s)| *s != "." && *s != ".." && (!s.is_empty() || i == last))
}

/// The invariant for a request sent without any credential: A received nothing; the answer is a
/// refusal (400, 401, 403, 404) or B's 200 for a canonical `/public/` path.
fn unauthenticated_ok(x: &Exchange) -> Result<(), String> {
    if !x.admin.is_empty() {
        return Err(format!(
            "REACHED ADMIN UPSTREAM A unauthenticated: {}",
            x.brief()
        ));
    }
    match x.status() {
        // 0: Envoy reset the stream or closed the connection without answering: nothing went anywhere.
        0 | 400 | 401 | 403 | 404 if x.public.is_empty() => Ok(()),
        200 => match x.public.as_slice() {
            [r] if r.path.starts_with("/public/") && looks_canonical(&r.path) => Ok(()),
            _ => Err(format!(
                "reached B under a path the anonymous rule does not mean: {}",
                x.brief()
            )),
        },
        _ => Err(format!("unexpected outcome: {}", x.brief())),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token for provider `idp` with `claims` merged over `iss`/`sub`/`iat`/`exp`.
fn token(claims: Value) -> String {
    common::hs256_token(SECRET, ISS, claims)
}

/// An unsigned (`alg: none`) token with valid claims.
fn none_token() -> String {
    let t = now();
    let c = json!({"iss": ISS, "sub": "mallory", "iat": t, "exp": t + 300});
    format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    )
}

fn values<'a>(r: &'a Received, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Every credential value and where it may hide in a received request.
fn carries(r: &Received, secret: &str) -> bool {
    r.path.contains(secret) || r.headers.iter().any(|(_, v)| v.contains(secret))
}

// ---------------------------------------------------------------------------------------------------
// Path attacks against three Envoy normalization settings × reject/rewrite × HTTP/1.1 and HTTP/2
// ---------------------------------------------------------------------------------------------------

const PATH_ATTACKS: &[&str] = &[
    "/admin/..;/public/x",
    "/admin/../public/x",
    "/admin/%2e%2e/public/x",
    "/admin//../public/x",
    "/admin/.;/public/x",
    "/admin/..%3B/public/x",
    "/admin/..%3b/public/x",
    "/public/../admin/x",
    "/public/..;/admin/x",
    "/public/%2e%2e/admin/x",
    "/%61dmin/x",
    "/public/%2e%2e%2fadmin/x",
    "/public/..%5cadmin/x",
    "/public\\..\\admin/x",
    "/ADMIN/x",
    "/public/%252e%252e/admin/x",
    // More of the same families.
    "/Admin",
    "/admin%2f../public/x",
    "/public/%2E%2E/admin/x",
    "/public/.%2e/admin/x",
    "//admin/x",
    "/./admin/x",
    "/public/..%2Fadmin/x",
    "/public/%2e%2e%5cadmin/x",
    "/admin;/x",
    "/admin%3B/x",
    "/ad%6Din/x",
    "/public/../ADMIN/x",
    "/public/x/../../admin/x",
    "/public/%00/../../admin/x",
    "/public/%25%32%65%25%32%65/admin/x",
];

const NORMALIZING: fn() -> Value = || json!({"normalize_path": true, "merge_slashes": true});
const UNESCAPING: fn() -> Value = || {
    json!({"normalize_path": true, "merge_slashes": true,
           "path_with_escaped_slashes_action": "UNESCAPE_AND_FORWARD"})
};

/// `rewrite`: `"path": {"non_canonical": "rewrite"}`; otherwise the default (reject) is left implicit.
fn path_plugin(rewrite: bool) -> String {
    if rewrite {
        plugin(json!({"path": {"non_canonical": "rewrite"}}))
    } else {
        plugin(json!({}))
    }
}

fn path_matrix(hcm: Value, rewrite: bool, harness_default_hcm: bool) {
    let topo = Topo::start(&path_plugin(rewrite), hcm);
    let mut f = Failures::default();
    for proto in [Proto::H1, Proto::H2] {
        for path in PATH_ATTACKS {
            let x = topo.get(proto, path, &[]);
            if let Err(e) = unauthenticated_ok(&x) {
                f.0.push(format!("{proto:?} GET {path}: {e}"));
            }
            // The same attacks with a valid key that is not the admin key: still not admin.
            let x = topo.get(proto, path, &[("x-api-key", APP_KEY)]);
            f.check(x.admin.is_empty(), || {
                format!(
                    "{proto:?} GET {path} with the non-admin key reached A: {}",
                    x.brief()
                )
            });
        }

        // Positive controls: the tests can tell "refused" from "broken".
        let x = topo.get(proto, "/admin/x", &[("x-api-key", ADMIN_KEY)]);
        f.check(
            x.status() == 200
                && x.public.is_empty()
                && x.admin.len() == 1
                && x.admin[0].path == "/admin/x",
            || {
                format!(
                    "{proto:?} control: the admin key must reach A as /admin/x: {}",
                    x.brief()
                )
            },
        );
        let x = topo.get(proto, "/public/x", &[]);
        f.check(
            x.status() == 200
                && x.admin.is_empty()
                && x.public.len() == 1
                && x.public[0].path == "/public/x",
            || {
                format!(
                    "{proto:?} control: anonymous /public/x must reach B: {}",
                    x.brief()
                )
            },
        );
        let x = topo.get(proto, "/admin/x", &[]);
        f.check(x.status() == 401 && x.admin.is_empty(), || {
            format!(
                "{proto:?} control: /admin/x without a key must be 401: {}",
                x.brief()
            )
        });
        let x = topo.get(proto, "/admin/../public/x", &[]);
        if rewrite {
            f.check(
                x.status() == 200
                    && x.admin.is_empty()
                    && x.public.len() == 1
                    && x.public[0].path == "/public/x",
                || {
                    format!(
                        "{proto:?} rewrite: /admin/../public/x must reach B as /public/x: {}",
                        x.brief()
                    )
                },
            );
            let x = topo.get(proto, "/public/../admin/x", &[("x-api-key", ADMIN_KEY)]);
            f.check(
                x.status() == 200 && x.public.is_empty() && x.admin.len() == 1 && x.admin[0].path == "/admin/x",
                || format!("{proto:?} rewrite: /public/../admin/x with the key must reach A as /admin/x: {}", x.brief()),
            );
        } else if harness_default_hcm {
            // Envoy passes the path as is: edgeguard itself must refuse it.
            f.check(
                x.status() == 400 && x.reason() == "bad_path" && x.upstream().is_none(),
                || {
                    format!(
                        "{proto:?} reject: /admin/../public/x must be 400 bad_path: {}",
                        x.brief()
                    )
                },
            );
        }
    }
    f.finish(Some(&topo.envoy));
}

#[test]
fn path_attacks_envoy_passes_paths_as_is_reject_mode() {
    path_matrix(json!({}), false, true);
}

#[test]
fn path_attacks_envoy_passes_paths_as_is_rewrite_mode() {
    path_matrix(json!({}), true, true);
}

#[test]
fn path_attacks_envoy_normalizes_reject_mode() {
    path_matrix(NORMALIZING(), false, false);
}

#[test]
fn path_attacks_envoy_normalizes_rewrite_mode() {
    path_matrix(NORMALIZING(), true, false);
}

#[test]
fn path_attacks_envoy_unescapes_slashes_reject_mode() {
    path_matrix(UNESCAPING(), false, false);
}

#[test]
fn path_attacks_envoy_unescapes_slashes_rewrite_mode() {
    path_matrix(UNESCAPING(), true, false);
}

// ---------------------------------------------------------------------------------------------------
// The contract with every new setting at its default
// ---------------------------------------------------------------------------------------------------

/// Path canonicalization in `reject` mode (the default), case `strict` (the default).
fn check_reject_mode_paths(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        let bad_path = [
            "/public/%61",
            "/public//x",
            "/public/./x",
            "/public/../public/x",
            "/public/x;a=b",
            "/public/%3B",
            "/public/%3b",
            "/public/%c3%a9",
            "/public/%7E",
            "/public/%7e",
            "/public/%21",
            "/public/%3A",
            "/public/%40",
            "/public/%2F",
            "/public/%2f",
            "/public/%5C",
            "/public/%00",
            "/public/%1F",
            "/public/%7F",
            "/public/%zz",
            "/public/%4",
            "/public/%252e",
            "/public/%2541",
            "/public/a%25%32%65",
            "/../public/x",
        ];
        for path in bad_path {
            let x = topo.get(proto, path, &[]);
            f.check(
                x.status() == 400 && x.reason() == "bad_path" && x.upstream().is_none(),
                || {
                    format!(
                        "{proto:?} reject mode: GET {path} must be 400 bad_path: {}",
                        x.brief()
                    )
                },
            );
        }
        // Canonical paths go upstream byte for byte, query included.
        for path in [
            "/public/x",
            "/public/x/",
            "/public/%C3%A9",
            "/public/a%20b",
            "/public/%25",
            "/public/~user",
            "/public/a:b@c!d",
            "/public/x?q=%2e%2e&r=a;b&s=..%2F",
        ] {
            let x = topo.get(proto, path, &[]);
            f.check(
                x.status() == 200 && x.public.len() == 1 && x.public[0].path == path,
                || {
                    format!(
                        "{proto:?} canonical {path} must reach B unchanged: {}",
                        x.brief()
                    )
                },
            );
        }
        // Control: the exact spelling with a valid key that is not `ops` is refused.
        let x = topo.get(proto, "/admin/x", &[("x-api-key", APP_KEY)]);
        f.check(x.status() == 403 && x.upstream().is_none(), || {
            format!(
                "{proto:?} control: /admin/x with a non-admin key must be 403: {}",
                x.brief()
            )
        });
        // Case strict: with the default `allow`, any spelling of /admin needs the admin key.
        for path in ["/ADMIN/users", "/Admin", "/aDmIn/x", "/ADMIN"] {
            let x = topo.get(proto, path, &[]);
            f.check(x.status() == 401 && x.upstream().is_none(), || {
                format!(
                    "{proto:?} case strict: {path} without the key must be 401: {}",
                    x.brief()
                )
            });
            let x = topo.get(proto, path, &[("x-api-key", APP_KEY)]);
            f.check(x.status() == 403 && x.upstream().is_none(), || {
                format!(
                    "{proto:?} case strict: {path} with a non-admin key must be 403: {}",
                    x.brief()
                )
            });
            let x = topo.get(proto, path, &[("x-api-key", ADMIN_KEY)]);
            f.check(x.status() == 200 && x.upstream().is_some(), || {
                format!(
                    "{proto:?} case strict: {path} with the admin key passes: {}",
                    x.brief()
                )
            });
        }
    }
    // Raw bytes that must be escaped are non-canonical (Envoy's own 400 is fine too).
    for target in [
        &b"/public/\xc3\xa9"[..],
        b"/public/a\"b",
        b"/public/a<b>",
        b"/public/a^b",
        b"/public/a`b",
        b"/public/a{b}",
        b"/public/a|b",
        b"/public/a[b]",
        b"/public\\x",
        b"/public/x\\..\\..\\admin/x",
    ] {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(target);
        raw.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        let x = topo.exchange_raw(&raw);
        let shown = String::from_utf8_lossy(target);
        f.check(
            x.status() == 400
                && x.upstream().is_none()
                && (x.reason() == "bad_path" || x.reason().is_empty()),
            || format!("raw GET {shown} must be 400 (bad_path): {}", x.brief()),
        );
    }
}

fn check_method_override_rejected(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method-override",
            "X-HTTP-Method",
            "X-Method-Override",
            "x_http_method_override",
            "X_HTTP_METHOD",
            "x_method_override",
        ] {
            // No body: over HTTP/2 a local reply that races an unsent body ends in a stream reset
            // curl reports without the response (the override is in the head either way).
            let x = topo.exchange(proto, "POST", "/public/x", &[(name, "DELETE")], "");
            f.check(
                x.status() == 400 && x.reason() == "method_override" && x.upstream().is_none(),
                || {
                    format!(
                        "{proto:?} {name}: DELETE must be 400 method_override: {}",
                        x.brief()
                    )
                },
            );
        }
        for path in [
            "/public/x?_method=DELETE",
            "/public/x?a=1&_method=PUT",
            "/admin/x?_method=GET",
        ] {
            let x = topo.exchange(proto, "POST", path, &[("x-api-key", ADMIN_KEY)], "");
            f.check(
                x.status() == 400 && x.reason() == "method_override" && x.upstream().is_none(),
                || {
                    format!(
                        "{proto:?} POST {path} must be 400 method_override: {}",
                        x.brief()
                    )
                },
            );
        }
    }
}

const FORWARDED: &[(&str, &str)] = &[
    ("X-Forwarded-Host", "admin.internal"),
    ("Forwarded", "host=admin.internal;proto=https"),
    ("X-Original-URL", "/admin/x"),
    ("X-Rewrite-URL", "/admin/x"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Original-Host", "admin.internal"),
    ("X-Host", "admin.internal"),
    ("x_forwarded_host", "admin.internal"),
    ("X_ORIGINAL_URL", "/admin/x"),
    ("x_rewrite_url", "/admin/x"),
    ("X_Forwarded_Prefix", "/admin"),
];

/// CGI variables a rewriting framework reads for the URL or host.
const FORWARDED_CGI: &[&str] = &[
    "HTTP_X_FORWARDED_HOST",
    "HTTP_FORWARDED",
    "HTTP_X_ORIGINAL_URL",
    "HTTP_X_REWRITE_URL",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_ORIGINAL_HOST",
    "HTTP_X_HOST",
];

fn check_forwarded_headers_stripped(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        let x = topo.get(proto, "/public/x", FORWARDED);
        match x.upstream() {
            Some(r) => {
                let cgi = r.cgi();
                for v in FORWARDED_CGI {
                    f.check(!cgi.contains_key(*v), || {
                        format!(
                            "{proto:?} forwarded_headers strip: {v} reached B: {:?}",
                            cgi.get(*v)
                        )
                    });
                }
            }
            None => f.0.push(format!(
                "{proto:?} forwarded headers: /public/x did not reach B: {}",
                x.brief()
            )),
        }
    }
}

fn check_preflight_not_bypassed(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        let x = topo.exchange(
            proto,
            "OPTIONS",
            "/admin/x",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "DELETE"),
            ],
            "",
        );
        f.check(x.status() == 401 && x.admin.is_empty(), || {
            format!("{proto:?} bypass_cors_preflight defaults to false: preflight on /admin/x must be 401: {}", x.brief())
        });
    }
}

/// Methods are case-sensitive; rules compare them ignoring case and upstreams disagree on `get`:
/// anything but an uppercase token is refused before any rule.
fn check_method_case(topo: &Topo, f: &mut Failures) {
    for method in ["get", "Get", "delete"] {
        for path in ["/public/x", "/admin/x"] {
            let x = topo.exchange(Proto::H1, method, path, &[], "");
            f.check(
                x.upstream().is_none()
                    && x.status() == 400
                    && (x.reason() == "bad_method" || x.reason().is_empty()),
                || format!("H1 {method} {path} must be 400 bad_method: {}", x.brief()),
            );
        }
    }
    let x = topo.exchange(Proto::H1, "GET", "/public/x", &[], "");
    f.check(x.status() == 200 && x.upstream().is_some(), || {
        format!("H1 GET /public/x must pass: {}", x.brief())
    });
}

fn check_host(topo: &Topo, f: &mut Failures) {
    for host in [
        "internal.example.com:abc",
        "internal.example.com:443:443",
        "a b",
        "x@y",
        "api.example.com.",
        "api.example.com:65536",
        "api.example.com:123456",
        "api.example.com:",
        "[::1",
        "api.example.com/admin",
        "api.example.com,evil.example",
    ] {
        for proto in [Proto::H1, Proto::H2] {
            let x = topo.get(proto, "/public/x", &[("host", host)]);
            // Envoy may refuse some of these itself (a 400 without edgeguard's JSON, or a reset HTTP/2
            // stream: status 0): also fine, as long as nothing went upstream.
            f.check(
                x.upstream().is_none()
                    && (x.status() == 0
                        || (x.status() == 400
                            && (x.reason() == "bad_host" || x.reason().is_empty()))),
                || {
                    format!(
                        "{proto:?} Host {host:?} must be 400 bad_host: {}",
                        x.brief()
                    )
                },
            );
        }
    }
    for host in [
        "api.example.com",
        "api.example.com:8443",
        "127.0.0.1:80",
        "[::1]:8080",
        "my_host.example",
    ] {
        let x = topo.get(Proto::H1, "/public/x", &[("host", host)]);
        f.check(x.status() == 200 && x.upstream().is_some(), || {
            format!("Host {host:?} is well-formed and must pass: {}", x.brief())
        });
    }
    // Two Host headers are not a single value.
    let x = topo.exchange_raw(
        b"GET /public/x HTTP/1.1\r\nhost: api.example.com\r\nhost: internal.example.com\r\nconnection: close\r\n\r\n",
    );
    f.check(x.status() == 400 && x.upstream().is_none(), || {
        format!("two Host headers must be 400: {}", x.brief())
    });
}

const SPOOFED: &[(&str, &str)] = &[
    ("x_edgeguard_key_id", "root"),
    ("X_EDGEGUARD_SUBJECT", "admin"),
    ("X-EdgeGuard-Provider", "idp"),
    ("x_edgeguard_provider", "idp"),
    ("x-edgeguard-decision", "allow"),
    ("X_EDGEGUARD_DECISION", "allow"),
    ("x_user_id", "bob"),
    ("X-User-Id", "bob"),
    ("X_ORG", "victim"),
    ("x_groups", "admins"),
    ("x.edgeguard.key.id", "root"),
    ("x.user.id", "bob"),
];

fn check_identity_headers(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        // Authenticated by key: only edgeguard's value for the key id; nothing else of the client's.
        let mut h = SPOOFED.to_vec();
        h.push(("x-api-key", ADMIN_KEY));
        let x = topo.get(proto, "/admin/x", &h);
        match x.admin.as_slice() {
            [r] => {
                let cgi = r.cgi();
                f.check(
                    cgi.get("HTTP_X_EDGEGUARD_KEY_ID").map(String::as_str) == Some("ops"),
                    || {
                        format!(
                            "{proto:?} CGI HTTP_X_EDGEGUARD_KEY_ID must be exactly ops: {:?}",
                            cgi.get("HTTP_X_EDGEGUARD_KEY_ID")
                        )
                    },
                );
                for v in [
                    "HTTP_X_EDGEGUARD_SUBJECT",
                    "HTTP_X_EDGEGUARD_PROVIDER",
                    "HTTP_X_EDGEGUARD_DECISION",
                    "HTTP_X_USER_ID",
                    "HTTP_X_ORG",
                    "HTTP_X_GROUPS",
                ] {
                    f.check(!cgi.contains_key(v), || {
                        format!(
                            "{proto:?} client's {v} reached A (key auth): {:?}",
                            cgi.get(v)
                        )
                    });
                }
            }
            _ => f.0.push(format!(
                "{proto:?} /admin/x with the key and spoofed headers: {}",
                x.brief()
            )),
        }
        // Authenticated by token: edgeguard's subject only.
        let t = format!("Bearer {}", token(json!({"org": {"id": "victim"}})));
        let mut h = SPOOFED.to_vec();
        h.push(("authorization", &t));
        let x = topo.get(proto, "/orgs/x", &h);
        match x.public.as_slice() {
            [r] => {
                let cgi = r.cgi();
                for (v, want) in [
                    ("HTTP_X_EDGEGUARD_SUBJECT", Some("alice")),
                    ("HTTP_X_EDGEGUARD_PROVIDER", Some("idp")),
                    ("HTTP_X_USER_ID", Some("alice")),
                    ("HTTP_X_ORG", Some("victim")),
                    ("HTTP_X_EDGEGUARD_KEY_ID", None),
                    ("HTTP_X_EDGEGUARD_DECISION", None),
                    ("HTTP_X_GROUPS", None),
                ] {
                    f.check(cgi.get(v).map(String::as_str) == want, || {
                        format!(
                            "{proto:?} token auth: CGI {v} must be {want:?}, is {:?}",
                            cgi.get(v)
                        )
                    });
                }
            }
            _ => f.0.push(format!(
                "{proto:?} /orgs/x with a token and spoofed headers: {}",
                x.brief()
            )),
        }
        // Anonymous: none of them at all.
        let x = topo.get(proto, "/public/x", SPOOFED);
        match x.public.as_slice() {
            [r] => {
                let cgi = r.cgi();
                for v in [
                    "HTTP_X_EDGEGUARD_KEY_ID",
                    "HTTP_X_EDGEGUARD_SUBJECT",
                    "HTTP_X_EDGEGUARD_PROVIDER",
                    "HTTP_X_EDGEGUARD_DECISION",
                    "HTTP_X_USER_ID",
                    "HTTP_X_ORG",
                    "HTTP_X_GROUPS",
                ] {
                    f.check(!cgi.contains_key(v), || {
                        format!(
                            "{proto:?} anonymous: client's {v} reached B: {:?}",
                            cgi.get(v)
                        )
                    });
                }
            }
            _ => f.0.push(format!(
                "{proto:?} anonymous /public/x with spoofed headers: {}",
                x.brief()
            )),
        }
    }
}

fn check_nothing_unverified_upstream(topo: &Topo, f: &mut Failures) {
    let t = token(json!({}));
    let bearer = format!("Bearer {t}");
    let cookie = format!("at={t}");
    for proto in [Proto::H1, Proto::H2] {
        // Anonymous route: the credentials were not needed, so not verified: none goes upstream.
        let path = format!("/public/x?api_key={ADMIN_KEY}&access_token={t}&keep=1");
        let x = topo.get(
            proto,
            &path,
            &[
                ("x-api-key", ADMIN_KEY),
                ("authorization", &bearer),
                ("cookie", &cookie),
            ],
        );
        match x.public.as_slice() {
            [r] => {
                f.check(!carries(r, ADMIN_KEY) && !carries(r, &t), || {
                    format!(
                        "{proto:?} anonymous route: a credential reached B: {} {:?}",
                        r.path, r.headers
                    )
                });
                f.check(r.path == "/public/x?keep=1", || {
                    format!(
                        "{proto:?} anonymous route: the rest of the query must stay: {}",
                        r.path
                    )
                });
            }
            _ => f.0.push(format!(
                "{proto:?} anonymous route with credentials: {}",
                x.brief()
            )),
        }
        // `any`: the key grants; an unsigned token next to it must not travel on.
        let none = format!("Bearer {}", none_token());
        let x = topo.get(
            proto,
            "/any/x",
            &[("x-api-key", APP_KEY), ("authorization", &none)],
        );
        match x.public.as_slice() {
            [r] => f.check(
                values(r, "authorization").is_empty() && !carries(r, APP_KEY),
                || {
                    format!(
                        "{proto:?} any: the alg=none token (or the key) reached B: {:?}",
                        r.headers
                    )
                },
            ),
            _ => f.0.push(format!(
                "{proto:?} /any/x with a valid key + alg=none token: {}",
                x.brief()
            )),
        }
        // A key on a token route: not the route's credential, not verified: stripped.
        let x = topo.get(
            proto,
            "/orgs/x",
            &[
                (
                    "authorization",
                    &format!("Bearer {}", token(json!({"org": {"id": "victim"}}))),
                ),
                ("x-api-key", APP_KEY),
            ],
        );
        match x.public.as_slice() {
            [r] => f.check(!carries(r, APP_KEY), || {
                format!(
                    "{proto:?} token route: the unchecked API key reached B: {:?}",
                    r.headers
                )
            }),
            _ => {
                f.0.push(format!("{proto:?} /orgs/x with token + key: {}", x.brief()))
            }
        }
    }
}

fn check_query_and_cookie_stripping(topo: &Topo, f: &mut Failures) {
    // Spellings of `api_key` that PHP, Rack, Rails or a `;`-splitting parser read as `api_key`.
    let spoof = "v-spoofed";
    let path = format!(
        "/public/x?a=1&api.key={spoof}&api+key={spoof}&api%20key={spoof}&API_KEY={spoof}\
         &api_key[]={spoof}&api%5Fkey={spoof}&x=1;api_key={spoof}&b=%2F%7e&c"
    );
    for proto in [Proto::H1, Proto::H2] {
        let x = topo.get(proto, &path, &[]);
        match x.public.as_slice() {
            [r] => f.check(r.path == "/public/x?a=1&x=1&b=%2F%7e&c", || {
                format!(
                    "{proto:?} query api_key spellings must all go, the rest byte-exact: got {}",
                    r.path
                )
            }),
            _ => f.0.push(format!("{proto:?} {path}: {}", x.brief())),
        }
        // The real key in the query, verified, on the admin route: gone, the rest kept.
        let x = topo.get(proto, &format!("/admin/x?z=%7e&api_key={ADMIN_KEY}&y"), &[]);
        match x.admin.as_slice() {
            [r] => f.check(r.path == "/admin/x?z=%7e&y", || {
                format!(
                    "{proto:?} verified query key must be stripped, rest byte-exact: {}",
                    r.path
                )
            }),
            _ => {
                f.0.push(format!("{proto:?} /admin/x?api_key=KEY: {}", x.brief()))
            }
        }
    }
    // A cookie credential: the other cookies stay byte for byte, non-UTF-8 included.
    let t = token(json!({"org": {"id": "victim"}}));
    let mut raw = b"GET /orgs/x HTTP/1.1\r\nhost: localhost\r\ncookie: a=1; at=".to_vec();
    raw.extend_from_slice(t.as_bytes());
    raw.extend_from_slice(b"; b=\xff\xfe\x80; c=\"q w\"\r\nconnection: close\r\n\r\n");
    let x = topo.exchange_raw(&raw);
    match x.public.as_slice() {
        [r] => {
            let cookies = r.raw_header("cookie");
            f.check(
                cookies == vec![b"a=1; b=\xff\xfe\x80; c=\"q w\"".to_vec()],
                || {
                    format!(
                        "cookie credential stripped, the rest byte-exact: got {:?}",
                        cookies
                            .iter()
                            .map(|c| c.escape_ascii().to_string())
                            .collect::<Vec<_>>()
                    )
                },
            );
        }
        _ => f.0.push(format!("cookie token on /orgs/x: {}", x.brief())),
    }
}

fn check_claims(topo: &Topo, f: &mut Failures) {
    let get = |claims: Value, path: &str| {
        let auth = format!("Bearer {}", token(claims));
        topo.get(Proto::H1, path, &[("authorization", &auth)])
    };
    // A literal member named `org.id` is not the nested `org` → `id`.
    let x = get(
        json!({"org.id": "victim", "org": {"id": "attacker"}}),
        "/orgs/x",
    );
    f.check(x.status() == 403 && x.reason() == "claim_mismatch" && x.upstream().is_none(), || {
        format!("top-level \"org.id\": victim + nested org.id attacker must be 403 claim_mismatch: {}", x.brief())
    });
    let x = get(json!({"org.id": "victim"}), "/orgs/x");
    f.check(x.status() == 403 && x.upstream().is_none(), || {
        format!(
            "only a literal \"org.id\" member must be 403: {}",
            x.brief()
        )
    });
    let x = get(json!({"org": {"id": "victim"}}), "/orgs/x");
    match x.upstream() {
        Some(r) if x.status() == 200 => f.check(values(r, "x-org") == ["victim"], || {
            format!(
                "claims_to_headers org.id must read the nested value: {:?}",
                values(r, "x-org")
            )
        }),
        _ => f.0.push(format!(
            "nested org.id victim must pass /orgs: {}",
            x.brief()
        )),
    }
    let x = get(
        json!({"org": {"id": "victim"}, "org.id": "spoofed"}),
        "/orgs/x",
    );
    match x.upstream() {
        Some(r) if x.status() == 200 => f.check(values(r, "x-org") == ["victim"], || {
            format!(
                "x-org must be the nested org.id, not the literal member: {:?}",
                values(r, "x-org")
            )
        }),
        _ => f.0.push(format!(
            "nested org.id victim (+ literal member) must pass /orgs: {}",
            x.brief()
        )),
    }
    // Scopes split on SP only.
    for scope in [
        "orders:read\u{a0}admin",
        "orders:read\u{2003}admin",
        "orders:read\u{3000}admin",
        "orders:read\u{85}admin",
    ] {
        let x = get(json!({"scope": scope}), "/scoped/x");
        f.check(
            x.status() == 403 && x.reason() == "insufficient_scope" && x.upstream().is_none(),
            || {
                format!(
                    "scope {scope:?} must not grant admin (403 insufficient_scope): {}",
                    x.brief()
                )
            },
        );
    }
    let x = get(json!({"scope": "orders:read admin"}), "/scoped/x");
    f.check(x.status() == 200, || {
        format!("scope \"orders:read admin\" grants admin: {}", x.brief())
    });
    // What claims_to_headers forwards.
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (json!({"groups": ["a", "b"]}), "x-groups", Some("a,b")),
        (json!({"groups": ["a,b", "c"]}), "x-groups", None),
        (json!({"groups": ["a", "b,"]}), "x-groups", None),
        (json!({"name": "bob"}), "x-name", Some("bob")),
        (json!({"name": " bob"}), "x-name", None),
        (json!({"name": "bob "}), "x-name", None),
        (json!({"name": "bob\t"}), "x-name", None),
        (json!({"name": "b\u{1}ob"}), "x-name", None),
        (json!({"name": "b\u{7f}ob"}), "x-name", None),
        (json!({"name": "b\rob"}), "x-name", None),
    ];
    for (claims, header, want) in cases {
        let x = get(claims.clone(), "/any/x");
        match x.upstream() {
            Some(r) if x.status() == 200 => {
                let got = values(r, header);
                let want: Vec<&str> = want.into_iter().collect();
                f.check(got == want, || {
                    format!("claims {claims}: {header} must be {want:?}, is {got:?}")
                });
            }
            _ => {
                f.0.push(format!("claims {claims} on /any/x: {}", x.brief()))
            }
        }
    }
}

#[test]
fn contract_with_default_settings() {
    let topo = Topo::start(&plugin(json!({})), json!({}));
    let mut f = Failures::default();
    check_reject_mode_paths(&topo, &mut f);
    check_method_override_rejected(&topo, &mut f);
    check_forwarded_headers_stripped(&topo, &mut f);
    check_preflight_not_bypassed(&topo, &mut f);
    check_host(&topo, &mut f);
    check_method_case(&topo, &mut f);
    check_identity_headers(&topo, &mut f);
    check_nothing_unverified_upstream(&topo, &mut f);
    check_query_and_cookie_stripping(&topo, &mut f);
    check_claims(&topo, &mut f);
    f.finish(Some(&topo.envoy));
}

// ---------------------------------------------------------------------------------------------------
// The contract with the other settings: rewrite, strip, trust, preflight bypass, forwarding
// ---------------------------------------------------------------------------------------------------

fn alternative_plugin() -> String {
    let mut cfg = plugin_value(json!({
        "path": {"non_canonical": "rewrite", "case": "strict"},
        "method_override": "strip",
        "forwarded_headers": "trust",
        "bypass_cors_preflight": true,
        "default": "deny"
    }));
    cfg["api_keys"]["forward_credential"] = json!(true);
    cfg["providers"]["idp"]["claims_to_headers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"claim": "org\\.id", "header": "x-org-literal"}));
    cfg.to_string()
}

fn check_rewrite_mode_paths(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        // (sent, where it must arrive: A or B, the path it arrives with)
        let cases: &[(&str, Headers, char, &str)] = &[
            ("/admin/../public/x", &[], 'B', "/public/x"),
            (
                "/public/../admin/x",
                &[("x-api-key", ADMIN_KEY)],
                'A',
                "/admin/x",
            ),
            ("/public/%61", &[], 'B', "/public/a"),
            ("/public//x", &[], 'B', "/public/x"),
            ("/public/./x", &[], 'B', "/public/x"),
            ("/public/%7e", &[], 'B', "/public/~"),
            ("/public/%c3%a9", &[], 'B', "/public/%C3%A9"),
            (
                "/public/%2e%2e/public/y?q=%2e&r",
                &[],
                'B',
                "/public/y?q=%2e&r",
            ),
            ("/%61dmin/x", &[("x-api-key", ADMIN_KEY)], 'A', "/admin/x"),
            ("/admin//x/", &[("x-api-key", ADMIN_KEY)], 'A', "/admin/x/"),
        ];
        for (sent, headers, want_at, want_path) in cases {
            let x = topo.get(proto, sent, headers);
            let got = if *want_at == 'A' { &x.admin } else { &x.public };
            let other = if *want_at == 'A' { &x.public } else { &x.admin };
            f.check(
                x.status() == 200
                    && other.is_empty()
                    && got.len() == 1
                    && got[0].path == *want_path,
                || {
                    format!(
                        "{proto:?} rewrite: {sent} must reach {want_at} as {want_path}: {}",
                        x.brief()
                    )
                },
            );
        }
        let x = topo.get(proto, "/public/../admin/x", &[]);
        f.check(x.status() == 401 && x.upstream().is_none(), || {
            format!(
                "{proto:?} rewrite: /public/../admin/x is /admin/x: 401 without the key: {}",
                x.brief()
            )
        });
        for path in [
            "/..",
            "/../admin/x",
            "/public/../../x",
            "/public/x;y",
            "/public/%3B",
            "/public/%2F",
            "/public/%5C",
            "/public/%00",
            "/public/%252e%252e/x",
        ] {
            let x = topo.get(proto, path, &[]);
            f.check(
                x.status() == 400 && x.reason() == "bad_path" && x.upstream().is_none(),
                || {
                    format!(
                        "{proto:?} rewrite: {path} must be 400 bad_path in both modes: {}",
                        x.brief()
                    )
                },
            );
        }
    }
}

fn check_method_override_stripped(topo: &Topo, f: &mut Failures) {
    for proto in [Proto::H1, Proto::H2] {
        let x = topo.exchange(
            proto,
            "POST",
            "/public/x?a=1&_method=DELETE&b=%2e",
            &[
                ("X-HTTP-Method-Override", "DELETE"),
                ("x_http_method", "PUT"),
                ("X-Method-Override", "PATCH"),
            ],
            "{}",
        );
        match x.public.as_slice() {
            [r] => {
                let cgi = r.cgi();
                for v in [
                    "HTTP_X_HTTP_METHOD_OVERRIDE",
                    "HTTP_X_HTTP_METHOD",
                    "HTTP_X_METHOD_OVERRIDE",
                ] {
                    f.check(!cgi.contains_key(v), || {
                        format!("{proto:?} method_override strip: {v} reached B")
                    });
                }
                f.check(r.path == "/public/x?a=1&b=%2e" && r.method == "POST", || {
                    format!("{proto:?} method_override strip: _method must go, the rest stay: {} {}", r.method, r.path)
                });
            }
            _ => {
                f.0.push(format!("{proto:?} method_override strip: {}", x.brief()))
            }
        }
    }
}

fn check_forwarded_headers_trusted(topo: &Topo, f: &mut Failures) {
    let x = topo.get(
        Proto::H1,
        "/public/x",
        &[
            ("X-Forwarded-Host", "admin.internal"),
            ("X-Original-URL", "/admin/x"),
        ],
    );
    match x.public.as_slice() {
        [r] => {
            let cgi = r.cgi();
            f.check(
                cgi.get("HTTP_X_FORWARDED_HOST").map(String::as_str) == Some("admin.internal"),
                || format!("forwarded_headers trust keeps x-forwarded-host: {cgi:?}"),
            );
            f.check(
                cgi.get("HTTP_X_ORIGINAL_URL").map(String::as_str) == Some("/admin/x"),
                || format!("forwarded_headers trust keeps x-original-url: {cgi:?}"),
            );
        }
        _ => f.0.push(format!("forwarded_headers trust: {}", x.brief())),
    }
}

fn check_preflight_bypass(topo: &Topo, f: &mut Failures) {
    let t = token(json!({}));
    let bearer = format!("Bearer {t}");
    let cors: [(&str, &str); 2] = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "DELETE"),
    ];
    for proto in [Proto::H1, Proto::H2] {
        // A real preflight passes, stripped of every credential and identity header.
        let mut h = cors.to_vec();
        h.extend_from_slice(&[
            ("x-api-key", ADMIN_KEY),
            ("authorization", &bearer),
            ("x_edgeguard_key_id", "root"),
            ("X-EdgeGuard-Subject", "admin"),
        ]);
        let x = topo.exchange(
            proto,
            "OPTIONS",
            &format!("/admin/x?api_key={APP_KEY}&q=1"),
            &h,
            "",
        );
        match x.admin.as_slice() {
            [r] if x.public.is_empty() => {
                let cgi = r.cgi();
                f.check(
                    !carries(r, ADMIN_KEY) && !carries(r, APP_KEY) && !carries(r, &t),
                    || {
                        format!(
                            "{proto:?} preflight: a credential reached A: {} {:?}",
                            r.path, r.headers
                        )
                    },
                );
                for v in [
                    "HTTP_X_EDGEGUARD_KEY_ID",
                    "HTTP_X_EDGEGUARD_SUBJECT",
                    "HTTP_AUTHORIZATION",
                    "HTTP_X_API_KEY",
                ] {
                    f.check(!cgi.contains_key(v), || {
                        format!("{proto:?} preflight: {v} reached A: {:?}", cgi.get(v))
                    });
                }
            }
            _ => f.0.push(format!(
                "{proto:?} a real preflight on /admin/x passes: {}",
                x.brief()
            )),
        }
        // Not preflights: checked like any request (401 without a key).
        let not_preflights: Vec<(&str, Vec<Header>, &str, &str)> = vec![
            (
                "no origin",
                vec![("access-control-request-method", "DELETE")],
                "",
                "/admin/x",
            ),
            (
                "empty origin",
                vec![("origin", ""), ("access-control-request-method", "DELETE")],
                "",
                "/admin/x",
            ),
            (
                "no request method",
                vec![("origin", "https://app.example")],
                "",
                "/admin/x",
            ),
            (
                "request method not a token",
                vec![
                    ("origin", "https://app.example"),
                    ("access-control-request-method", "GET POST"),
                ],
                "",
                "/admin/x",
            ),
            (
                "request method empty",
                vec![
                    ("origin", "https://app.example"),
                    ("access-control-request-method", ""),
                ],
                "",
                "/admin/x",
            ),
            (
                "with a body",
                cors.to_vec(),
                "delete-everything",
                "/admin/x",
            ),
        ];
        for (what, headers, body, path) in not_preflights {
            let x = topo.exchange(proto, "OPTIONS", path, &headers, body);
            // Over HTTP/2 the 401 may race the body curl is still sending: Envoy then resets the
            // stream and curl shows no response (status 0). Nothing reaching an upstream is what
            // matters there.
            let refused =
                x.status() == 401 || (proto == Proto::H2 && !body.is_empty() && x.status() == 0);
            f.check(refused && x.admin.is_empty() && x.public.is_empty(), || {
                format!(
                    "{proto:?} OPTIONS {path} {what}: not a preflight, must be 401: {}",
                    x.brief()
                )
            });
        }
        // A path only the default covers (deny) is not bypassed either.
        let x = topo.exchange(proto, "OPTIONS", "/elsewhere", &cors, "");
        f.check(x.status() == 403 && x.upstream().is_none(), || {
            format!("{proto:?} preflight on a path no explicit rule matches: the default applies (403): {}", x.brief())
        });
        // A non-OPTIONS request with the CORS headers is a normal request.
        let x = topo.exchange(proto, "DELETE", "/admin/x", &cors, "");
        f.check(x.status() == 401 && x.admin.is_empty(), || {
            format!(
                "{proto:?} DELETE with CORS headers must be 401: {}",
                x.brief()
            )
        });
    }
    // HTTP/1.1 with transfer-encoding (no content-length): a body, not a preflight.
    let x = topo.exchange_raw(
        b"OPTIONS /admin/x HTTP/1.1\r\nhost: localhost\r\norigin: https://app.example\r\n\
          access-control-request-method: DELETE\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    );
    f.check(x.status() == 401 && x.admin.is_empty(), || {
        format!(
            "chunked OPTIONS is not a preflight, must be 401: {}",
            x.brief()
        )
    });
}

fn check_forwarding_verified_credentials(topo: &Topo, f: &mut Failures) {
    // forward_credential: the verified key travels on ...
    let x = topo.get(Proto::H1, "/admin/x", &[("x-api-key", ADMIN_KEY)]);
    match x.admin.as_slice() {
        [r] => f.check(values(r, "x-api-key") == [ADMIN_KEY], || {
            format!("forward_credential keeps the verified key: {:?}", r.headers)
        }),
        _ => f.0.push(format!("/admin/x with the key: {}", x.brief())),
    }
    // ... an unverified one does not, even with forward_credential.
    let x = topo.get(
        Proto::H1,
        "/public/x?api_key=not-a-key",
        &[("x-api-key", "not-a-key")],
    );
    match x.public.as_slice() {
        [r] => f.check(!carries(r, "not-a-key"), || {
            format!(
                "an unverified key must not reach B even with forward_credential: {} {:?}",
                r.path, r.headers
            )
        }),
        _ => f.0.push(format!("/public/x with junk keys: {}", x.brief())),
    }
    // A literal claim member, written `org\.id`.
    let auth = format!(
        "Bearer {}",
        token(json!({"org": {"id": "victim"}, "org.id": "literal"}))
    );
    let x = topo.get(Proto::H1, "/orgs/x", &[("authorization", &auth)]);
    match x.public.as_slice() {
        [r] => {
            f.check(values(r, "x-org") == ["victim"], || {
                format!("x-org (org.id) must be nested: {:?}", values(r, "x-org"))
            });
            f.check(values(r, "x-org-literal") == ["literal"], || {
                format!(
                    "x-org-literal (org\\.id) must be the literal member: {:?}",
                    values(r, "x-org-literal")
                )
            });
        }
        _ => f.0.push(format!(
            "/orgs/x with nested + literal org.id: {}",
            x.brief()
        )),
    }
}

#[test]
fn contract_with_alternative_settings() {
    let topo = Topo::start(&alternative_plugin(), json!({}));
    let mut f = Failures::default();
    check_rewrite_mode_paths(&topo, &mut f);
    check_method_override_stripped(&topo, &mut f);
    check_forwarded_headers_trusted(&topo, &mut f);
    check_preflight_bypass(&topo, &mut f);
    check_forwarding_verified_credentials(&topo, &mut f);
    f.finish(Some(&topo.envoy));
}

// ---------------------------------------------------------------------------------------------------
// Report mode
// ---------------------------------------------------------------------------------------------------

#[test]
fn report_mode_forwards_no_credential_and_marks_the_decision() {
    let topo = Topo::start(&plugin(json!({"mode": "report"})), json!({}));
    let mut f = Failures::default();
    let t = token(json!({}));
    for proto in [Proto::H1, Proto::H2] {
        // Two different (both valid) keys: ambiguous. Goes upstream in report mode, without either.
        let x = topo.get(
            proto,
            &format!("/admin/x?api_key={APP_KEY}"),
            &[("x-api-key", ADMIN_KEY)],
        );
        match x.admin.as_slice() {
            [r] => {
                f.check(
                    values(r, "x-edgeguard-decision") == ["deny; reason=ambiguous_credential"],
                    || {
                        format!(
                            "{proto:?} report: decision header: {:?}",
                            values(r, "x-edgeguard-decision")
                        )
                    },
                );
                f.check(!carries(r, ADMIN_KEY) && !carries(r, APP_KEY), || {
                    format!(
                        "{proto:?} report: a key of the ambiguous pair reached A: {} {:?}",
                        r.path, r.headers
                    )
                });
                f.check(!r.cgi().contains_key("HTTP_X_EDGEGUARD_KEY_ID"), || {
                    format!(
                        "{proto:?} report: an ambiguous request has no key id: {:?}",
                        r.headers
                    )
                });
            }
            _ => f.0.push(format!(
                "{proto:?} report mode lets the request through to A: {}",
                x.brief()
            )),
        }
        // A would-be-denied token (wrong route credential) is not forwarded either.
        let x = topo.get(
            proto,
            "/admin/x",
            &[
                ("authorization", &format!("Bearer {t}")),
                ("x_edgeguard_key_id", "ops"),
            ],
        );
        match x.admin.as_slice() {
            [r] => {
                f.check(!carries(r, &t), || {
                    format!("{proto:?} report: the token reached A: {:?}", r.headers)
                });
                f.check(!r.cgi().contains_key("HTTP_X_EDGEGUARD_KEY_ID"), || {
                    format!(
                        "{proto:?} report: the client's x_edgeguard_key_id reached A: {:?}",
                        r.headers
                    )
                });
            }
            _ => f.0.push(format!(
                "{proto:?} report mode, token on /admin/x: {}",
                x.brief()
            )),
        }
    }
    f.finish(Some(&topo.envoy));
}

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

fn with_claim_header(header: &str) -> String {
    let mut cfg = plugin_value(json!({}));
    cfg["providers"]["idp"]["claims_to_headers"] = json!([{"claim": "sub", "header": header}]);
    cfg.to_string()
}

#[test]
fn configuration_rejects_colliding_claim_headers_and_bad_settings() {
    let mut f = Failures::default();
    const FIELD: &str = "providers.idp.claims_to_headers[0].header";
    let colliding = [
        "x-edgeguard-key-id",
        "X_EDGEGUARD_KEY_ID",
        "x-edgeguard-provider",
        "x-edgeguard-subject",
        "X-EdgeGuard-Decision",
        "host",
        "Host",
        "cookie",
        "COOKIE",
        "connection",
        "te",
        "transfer-encoding",
        "Transfer_Encoding",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "trailer",
        "x-api-key",
        "X_API_KEY",
        "authorization",
        "Authorization",
    ];
    for header in colliding {
        match Config::parse(with_claim_header(header).as_bytes()) {
            Ok(_) => f.0.push(format!(
                "claims_to_headers target {header:?} must be refused"
            )),
            Err(e) => f.check(e.to_string().contains(FIELD), || {
                format!("claims_to_headers target {header:?}: the error must name {FIELD}: {e}")
            }),
        }
    }
    // The same through Envoy (on_configure), for two of them.
    for header in ["X_EDGEGUARD_SUBJECT", "authorization"] {
        let (ok, out) = validate_plugin(&with_claim_header(header));
        f.check(!ok && out.contains(FIELD), || {
            format!("envoy --mode validate must refuse claims_to_headers {header:?} naming {FIELD}: ok={ok}")
        });
    }
    // Fine targets stay fine.
    for header in ["x-user-id", "x-org"] {
        f.check(
            Config::parse(with_claim_header(header).as_bytes()).is_ok(),
            || format!("claims_to_headers target {header:?} must be accepted"),
        );
    }
    // The new settings: every documented value parses, anything else is refused.
    let good = [
        json!({"path": {"non_canonical": "reject"}}),
        json!({"path": {"non_canonical": "rewrite"}}),
        json!({"path": {"case": "strict"}}),
        json!({"path": {"case": "insensitive"}}),
        json!({"path": {"case": "sensitive"}}),
        json!({"path": {"non_canonical": "rewrite", "case": "insensitive"}}),
        json!({"method_override": "reject"}),
        json!({"method_override": "strip"}),
        json!({"forwarded_headers": "strip"}),
        json!({"forwarded_headers": "trust"}),
    ];
    for extra in good {
        let p = plugin(extra.clone());
        if let Err(e) = Config::parse(p.as_bytes()) {
            f.0.push(format!("{extra} must be accepted: {e}"));
        }
    }
    let bad = [
        (
            json!({"path": {"non_canonical": "normalize"}}),
            "path.non_canonical",
        ),
        (json!({"path": {"case": "lower"}}), "path.case"),
        (json!({"method_override": "allow"}), "method_override"),
        (json!({"forwarded_headers": "keep"}), "forwarded_headers"),
    ];
    for (extra, field) in bad {
        match Config::parse(plugin(extra.clone()).as_bytes()) {
            Ok(_) => f.0.push(format!("{extra} must be refused")),
            Err(e) => f.check(e.to_string().contains(field), || {
                format!("{extra}: the error must name {field}: {e}")
            }),
        }
    }
    f.finish(None);
}
