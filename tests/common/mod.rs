//! Integration-test harness: a real Envoy running the built `target/edgeguard.wasm`, an echo upstream,
//! a controllable HTTP (JWKS) server, a tiny HTTP/1.1 client, `envoy --mode validate` and admin stats.
//!
//! Envoy is `$ENVOY_BIN` or `<repo>/.venv/bin/envoy`; the plugin is `<repo>/target/edgeguard.wasm`.
//! Missing either is a test FAILURE (run `make test`, or `make envoy build`), never a skip.
//!
//! Envoy sets PR_SET_PDEATHSIG: it is killed when the *thread* that spawned it exits. [`Envoy::start`]
//! spawns from the calling thread, so call it from the test's own thread and keep the handle for the
//! whole test; dropping it kills Envoy.
//!
//! Every wait in here is bounded in time.

#![allow(dead_code)] // each test crate uses a different part of the harness

pub mod oauth_server;
pub mod ratelimit;
pub mod tls;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready (override: `EDGEGUARD_TEST_START_TIMEOUT_SECS`). Generous:
/// on the shared 2-core machine, with other builds and benchmarks running, a start-up has been seen to
/// take over 20 s.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

fn start_timeout() -> Duration {
    std::env::var("EDGEGUARD_TEST_START_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(START_TIMEOUT, Duration::from_secs)
}
/// Client and server socket timeouts.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------------

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Envoy binary: `$ENVOY_BIN` or `<repo>/.venv/bin/envoy`. Panics (fails the test) if absent.
pub fn envoy_bin() -> PathBuf {
    let path = match std::env::var_os("ENVOY_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo().join(".venv/bin/envoy"),
    };
    assert!(
        path.is_file(),
        "Envoy not found at {} — run `make test` (or `make envoy build` then `cargo test`), \
         or set ENVOY_BIN",
        path.display()
    );
    path
}

/// The built plugin, `<repo>/target/edgeguard.wasm`. Panics (fails the test) if absent.
pub fn wasm_path() -> PathBuf {
    let path = repo().join("target/edgeguard.wasm");
    assert!(
        path.is_file(),
        "{} not found — run `make test` (or `make build` then `cargo test`)",
        path.display()
    );
    path
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn unique() -> usize {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A fresh directory under the system temp dir (removed by [`Envoy`]'s Drop when the test passed).
pub fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "edgeguard-{tag}-{}-{}-{nanos}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

// ---------------------------------------------------------------------------------------------------
// Envoy configuration
// ---------------------------------------------------------------------------------------------------

/// A STATIC cluster `name` → `127.0.0.1:port` (HTTP/1.1, connect timeout 1 s), for `Options::clusters`.
pub fn cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": port}
            }}}]}]
        }
    })
}

/// The edgeguard wasm HTTP filter with `plugin_json` as its configuration and the given wasm file.
pub fn wasm_filter(plugin_json: &str, wasm: &Path) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "edgeguard",
                "root_id": "edgeguard",
                "vm_config": {
                    "vm_id": "edgeguard",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm.display().to_string()}}
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin_json
                },
                "fail_open": false
            }
        }
    })
}

/// Knobs for [`Envoy::start_with`] and [`config`].
#[derive(Debug, Clone)]
pub struct Options {
    /// `--concurrency` (worker threads; each runs its own VM, plus one on the main thread).
    pub concurrency: u32,
    /// Extra clusters (e.g. `cluster("jwks", server.port())`).
    pub clusters: Vec<Value>,
    /// Routes placed before the default `/` → `upstream` route (e.g. with `metadata` for rule sets).
    pub routes: Vec<Value>,
    /// Port of the default upstream (cluster `upstream`); `None` starts an [`EchoUpstream`].
    pub upstream_port: Option<u16>,
    /// Insert the edgeguard filter (false: a plain Envoy, e.g. to compare with native filters).
    pub edgeguard: bool,
    /// HTTP filters placed before edgeguard (JSON of `http_filters` entries).
    pub filters_before: Vec<Value>,
    /// HTTP filters placed after edgeguard, before the router (e.g. a rate limiter).
    pub filters_after: Vec<Value>,
    /// Extra fields merged into the HttpConnectionManager (e.g. `{"normalize_path": true}`).
    pub hcm: Value,
    /// `--log-level`.
    pub log_level: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 2,
            clusters: Vec::new(),
            routes: Vec::new(),
            upstream_port: None,
            edgeguard: true,
            filters_before: Vec::new(),
            filters_after: Vec::new(),
            hcm: json!({}),
            log_level: "info".into(),
        }
    }
}

/// The whole bootstrap: admin and listener `main` on 127.0.0.1:0, HCM (path normalization explicitly
/// off) → [filters_before] → edgeguard → [filters_after] → router → cluster `upstream` on `upstream_port`.
pub fn config(plugin_json: &str, wasm: &Path, upstream_port: u16, opts: &Options) -> Value {
    let mut filters = opts.filters_before.clone();
    if opts.edgeguard {
        filters.push(wasm_filter(plugin_json, wasm));
    }
    filters.extend(opts.filters_after.iter().cloned());
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let mut routes = opts.routes.clone();
    routes.push(json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}));
    let mut hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "normalize_path": false,
        "merge_slashes": false,
        "route_config": {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
        "http_filters": filters
    });
    if let (Some(h), Some(extra)) = (hcm.as_object_mut(), opts.hcm.as_object()) {
        for (k, v) in extra {
            h.insert(k.clone(), v.clone());
        }
    }
    let mut clusters = vec![cluster("upstream", upstream_port)];
    clusters.extend(opts.clusters.iter().cloned());
    json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm
                }]}]
            }],
            "clusters": clusters
        }
    })
}

// ---------------------------------------------------------------------------------------------------
// A running Envoy
// ---------------------------------------------------------------------------------------------------

/// A running Envoy (killed on Drop). Spawned by the calling thread: keep it alive for the whole test.
pub struct Envoy {
    child: Child,
    /// The bound port of listener `main`.
    pub port: u16,
    /// The admin address.
    pub admin: SocketAddr,
    /// The temp dir with `envoy.json`, `envoy.log`, `admin.txt`.
    pub dir: PathBuf,
    /// The echo upstream started for this Envoy, if `Options::upstream_port` was `None`.
    pub echo: Option<EchoUpstream>,
}

impl Envoy {
    /// Envoy with edgeguard configured by `plugin_json`, in front of a fresh [`EchoUpstream`].
    pub fn start(plugin_json: &str) -> Envoy {
        Envoy::start_with(plugin_json, Options::default())
    }

    /// Like [`Envoy::start`] with extra clusters, routes, filters, concurrency, ...
    pub fn start_with(plugin_json: &str, opts: Options) -> Envoy {
        let bin = envoy_bin();
        let wasm = if opts.edgeguard {
            wasm_path()
        } else {
            repo().join("target/edgeguard.wasm")
        };
        let (echo, upstream_port) = match opts.upstream_port {
            Some(p) => (None, p),
            None => {
                let e = EchoUpstream::start();
                let p = e.port();
                (Some(e), p)
            }
        };
        let cfg = config(plugin_json, &wasm, upstream_port, &opts);
        let dir = temp_dir("envoy");
        let cfg_path = dir.join("envoy.json");
        write(
            &cfg_path,
            &serde_json::to_string_pretty(&cfg).unwrap_or_default(),
        );
        Envoy::launch(
            &bin,
            &cfg_path,
            dir,
            opts.concurrency,
            &opts.log_level,
            echo,
        )
    }

    /// Envoy on a config file of your own. Its admin must be on 127.0.0.1 (port 0 is best); `port` is
    /// the first listener's bound port. Relative paths in it are resolved from the repository root.
    pub fn start_config_file(config: &Path) -> Envoy {
        let bin = envoy_bin();
        let dir = temp_dir("envoy");
        Envoy::launch(&bin, config, dir, 2, "info", None)
    }

    fn launch(
        bin: &Path,
        cfg: &Path,
        dir: PathBuf,
        concurrency: u32,
        log_level: &str,
        echo: Option<EchoUpstream>,
    ) -> Envoy {
        let admin_path = dir.join("admin.txt");
        let log_path = dir.join("envoy.log");
        let out = std::fs::File::create(dir.join("stdout.txt"))
            .unwrap_or_else(|e| panic!("create stdout file: {e}"));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("dup stdout file: {e}"));
        // A base id unique among concurrently running test processes and within this one.
        let base_id = 10_000 + (std::process::id() % 100_000) * 64 + (unique() as u32 % 64);
        let child = Command::new(bin)
            .current_dir(repo())
            .arg("-c")
            .arg(cfg)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .arg("--disable-hot-restart")
            .arg("--base-id")
            .arg(base_id.to_string())
            .arg("--concurrency")
            .arg(concurrency.to_string())
            .arg("--log-level")
            .arg(log_level)
            .arg("--log-path")
            .arg(&log_path)
            // Log lines reach the file within a fifth of a second (tests read it).
            .arg("--file-flush-interval-msec")
            .arg("200")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut envoy = Envoy {
            child,
            port: 0,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            echo,
        };
        envoy.wait_ready(&admin_path);
        envoy
    }

    fn wait_ready(&mut self, admin_path: &Path) {
        let timeout = start_timeout();
        let deadline = Instant::now() + timeout;
        let mut last = String::from("admin address file not written yet");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "Envoy exited during start-up ({status}).\n{}",
                    self.log_tail(60)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "Envoy not ready after {timeout:?} ({last}).\n{}",
                    self.log_tail(60)
                );
            }
            if self.admin.port() == 0 {
                if let Some(addr) = std::fs::read_to_string(admin_path)
                    .ok()
                    .and_then(|s| s.trim().parse::<SocketAddr>().ok())
                {
                    self.admin = addr;
                }
            }
            if self.admin.port() != 0 {
                match http_get(self.admin, "/ready") {
                    Ok(r) if r.body.trim() == "LIVE" => break,
                    Ok(r) => last = format!("/ready: {} {}", r.status, r.body.trim()),
                    Err(e) => last = format!("/ready: {e}"),
                }
            }
            thread::sleep(Duration::from_millis(25));
        }
        let listeners = http_get(self.admin, "/listeners?format=json")
            .unwrap_or_else(|e| panic!("admin /listeners: {e}\n{}", self.log_tail(30)));
        let v: Value = serde_json::from_str(&listeners.body)
            .unwrap_or_else(|e| panic!("admin /listeners is not JSON ({e}): {}", listeners.body));
        // Listener "main" (the generated config) or "ingress" (envoy/demo.yaml), else the first one.
        let statuses = v["listener_statuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let listener = statuses
            .iter()
            .find(|l| matches!(l["name"].as_str(), Some("main" | "ingress")))
            .or(statuses.first())
            .cloned()
            .unwrap_or_default();
        self.port = listener["local_address"]["socket_address"]["port_value"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no listener port in {}", listeners.body));
    }

    /// The bound port of the listener named `name` (from admin `/listeners`).
    pub fn listener_port(&self, name: &str) -> u16 {
        let listeners = http_get(self.admin, "/listeners?format=json")
            .unwrap_or_else(|e| panic!("admin /listeners: {e}"));
        let v: Value = serde_json::from_str(&listeners.body)
            .unwrap_or_else(|e| panic!("admin /listeners is not JSON ({e}): {}", listeners.body));
        v["listener_statuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["name"] == name)
            .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no listener {name:?} in {}", listeners.body))
    }

    /// The listener address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Envoy's PID (e.g. to read CPU time from `/proc/<pid>/stat`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path` with extra headers, through Envoy.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, "")
    }

    /// Any request through Envoy. Panics (with Envoy's log tail) on an I/O error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        http_request(self.addr(), method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} through Envoy: {e}\n{}", self.log_tail(30)))
    }

    /// The admin `/stats` text (`name: value` lines).
    pub fn stats(&self) -> String {
        http_get(self.admin, "/stats")
            .unwrap_or_else(|e| panic!("admin /stats: {e}"))
            .body
    }

    /// One counter or gauge from admin `/stats`, by its full name; `None` if absent (or a histogram).
    /// An edgeguard metric by its whole name (`edgeguard::stats`, e.g. `stats::allowed()`), which
    /// Envoy keeps under `wasmcustom.`; 0 while it does not exist yet.
    pub fn edgeguard_count(&self, name: &str) -> u64 {
        self.stat(&format!("wasmcustom.{name}")).unwrap_or(0)
    }

    /// The sum of every edgeguard metric of `family` that has all of `labels` (e.g. every reason
    /// of `edgeguard_requests_total` with `decision` `denied`).
    pub fn edgeguard_sum(&self, family: &str, labels: &[(&str, &str)]) -> u64 {
        let prefix = format!("wasmcustom.{family}");
        self.stats()
            .lines()
            .filter_map(|l| l.split_once(": "))
            .filter(|(n, _)| {
                (*n == prefix || n.starts_with(&format!("{prefix}.")))
                    && labels
                        .iter()
                        .all(|(k, v)| n.contains(&format!(".{k}=.={v};.;")))
            })
            .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
            .sum()
    }

    pub fn stat(&self, name: &str) -> Option<u64> {
        parse_stat(&self.stats(), name)
    }

    /// Every stat whose name contains `part`, for failure messages.
    pub fn stats_matching(&self, part: &str) -> Vec<String> {
        self.stats()
            .lines()
            .filter(|l| l.contains(part))
            .map(str::to_string)
            .collect()
    }

    /// The last `n` lines of Envoy's log (and of its stdout/stderr).
    pub fn log_tail(&self, n: usize) -> String {
        let mut s = format!(
            "--- {} (last {n} lines) ---\n",
            self.dir.join("envoy.log").display()
        );
        s += &tail(&self.dir.join("envoy.log"), n);
        let out = tail(&self.dir.join("stdout.txt"), n);
        if !out.trim().is_empty() {
            s += "--- stdout/stderr ---\n";
            s += &out;
        }
        s
    }

    /// The whole Envoy log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("Envoy files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// base64url without padding, as JOSE uses it.
/// An HS256 token with key id `h` signed with `secret`: `claims` merged over `iss`, `sub` `alice`,
/// `iat` now and `exp` in 5 minutes.
pub fn hs256_token(secret: &[u8], iss: &str, claims: Value) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut c = json!({"iss": iss, "sub": "alice", "iat": t, "exp": t + 300});
    for (k, v) in claims.as_object().cloned().unwrap_or_default() {
        c[k] = v;
    }
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "h"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    );
    let mac = hmac_sha256::HMAC::mac(input.as_bytes(), secret);
    format!("{input}.{}", b64(&mac))
}

pub fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Finds `name: <u64>` in admin `/stats` text.
pub fn parse_stat(stats: &str, name: &str) -> Option<u64> {
    stats.lines().find_map(|l| {
        let (n, v) = l.split_once(": ")?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------------------------------
// envoy --mode validate
// ---------------------------------------------------------------------------------------------------

/// Runs `envoy --mode validate` on a config (YAML or JSON text), from the repository root (so relative
/// paths like `target/edgeguard.wasm` resolve). Returns (exit status 0, stdout + stderr).
pub fn envoy_validate(config_yaml: &str) -> (bool, String) {
    let dir = temp_dir("validate");
    let path = dir.join("envoy.yaml");
    write(&path, config_yaml);
    let result = envoy_validate_file(&path);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs `envoy --mode validate -c path` from the repository root.
pub fn envoy_validate_file(path: &Path) -> (bool, String) {
    let bin = envoy_bin();
    let base_id = 20_000 + (std::process::id() % 100_000) * 64 + (unique() as u32 % 64);
    let out = Command::new(&bin)
        .current_dir(repo())
        .args(["--mode", "validate", "--disable-hot-restart", "-l", "info"])
        .arg("--base-id")
        .arg(base_id.to_string())
        .arg("-c")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {} --mode validate: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Validates a plugin configuration the way Envoy loads it: the standard test bootstrap with
/// `plugin_json`, through `envoy --mode validate` (which runs the plugin's `on_configure`).
pub fn validate_plugin(plugin_json: &str) -> (bool, String) {
    let cfg = config(plugin_json, &wasm_path(), 9, &Options::default());
    envoy_validate(&serde_json::to_string_pretty(&cfg).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------------
// HTTP client (HTTP/1.1, one request per connection)
// ---------------------------------------------------------------------------------------------------

/// A response, headers with lowercase names in received order.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {} {:?}", self.status, self.body))
    }
}

/// `GET path` on `addr`.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    http_request(addr, "GET", path, &[], "")
}

/// The bytes of one HTTP/1.1 request with `connection: close`: `headers` as given (several with one
/// name as several lines), `host: localhost` unless a `host` is given, `content-length` for a body
/// (and always for POST, PUT, PATCH).
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req += "host: localhost\r\n";
    }
    for (n, v) in headers {
        req += &format!("{n}: {v}\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req += &format!("content-length: {}\r\n", body.len());
    }
    req += "connection: close\r\n\r\n";
    req += body;
    req.into_bytes()
}

/// One HTTP/1.1 request with `connection: close`; bounded by [`IO_TIMEOUT`]. `headers` are sent as
/// given (several with one name are sent as several lines); `host` defaults to `localhost`.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.write_all(&request_bytes(method, path, headers, body))?;
    parse_response(&read_response(&mut s)?)
}

/// Sends `raw` (a whole HTTP/1.1 request, bytes as given: the request target and header values may hold
/// any bytes) on a fresh connection and reads the response until the server closes. Bounded by
/// [`IO_TIMEOUT`]. Put `connection: close` in `raw`.
pub fn http_raw(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.write_all(raw)?;
    parse_response(&read_response(&mut s)?)
}

/// Reads one response: up to the end of its body when `content-length` or chunked framing says where
/// that is (so Envoy's delayed close — it waits about 1 s for the client to close first after a local
/// reply — costs nothing), else to the end of the stream.
fn read_response(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&out, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let body = &out[end + 4..];
            let length = head
                .split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim() == "content-length")
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            let chunked = head.contains("transfer-encoding: chunked");
            if length.is_some_and(|n| body.len() >= n)
                || (chunked
                    && (body.starts_with(b"0\r\n\r\n") || find(body, b"\r\n0\r\n\r\n").is_some()))
            {
                return Ok(out);
            }
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// curl: `$CURL_BIN` or `curl` on `PATH`, checked once per test process. Panics (fails the test) if
/// it cannot be run or has no HTTP/2.
pub fn curl_bin() -> PathBuf {
    static CURL: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let found = CURL.get_or_init(|| {
        let bin = std::env::var_os("CURL_BIN")
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from("curl"), PathBuf::from);
        let ok = Command::new(&bin)
            .arg("--version")
            .output()
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("nghttp2"))
            .unwrap_or(false);
        if ok {
            Ok(bin)
        } else {
            Err(format!(
                "{} is missing or has no HTTP/2 (nghttp2): install curl (`apt-get install curl`) \
                 or set CURL_BIN",
                bin.display()
            ))
        }
    });
    match found {
        Ok(bin) => bin.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// One HTTP/2 request over cleartext with prior knowledge (h2c, no upgrade), through `curl
/// --http2-prior-knowledge --path-as-is`: the path goes out as given (curl does not normalize it).
/// A header with an empty value is sent empty; a `host` header becomes `:authority`. `body`, if not
/// empty, is sent as DATA (curl adds `content-length`).
pub fn h2_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut cmd = Command::new(curl_bin());
    cmd.args([
        "--http2-prior-knowledge",
        "--path-as-is",
        "-sS",
        "-o",
        "-",
        "-D",
        "-",
    ])
    .args(["--max-time", &IO_TIMEOUT.as_secs().to_string()])
    .args(["-X", method]);
    for (n, v) in headers {
        if v.is_empty() {
            cmd.arg("-H").arg(format!("{n};"));
        } else {
            cmd.arg("-H").arg(format!("{n}: {v}"));
        }
    }
    if !body.is_empty() {
        cmd.args(["--data-binary", "@-"]);
    }
    cmd.arg(format!("http://{addr}{path}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.stdout.is_empty() {
        return Err(bad(format!(
            "curl --http2-prior-knowledge {method} {path}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_response(&out.stdout)
}

/// A route `prefix` → `cluster`, for `Options::routes` (e.g. `/admin` to a second upstream).
pub fn prefix_route(prefix: &str, cluster: &str) -> Value {
    json!({"match": {"prefix": prefix}, "route": {"cluster": cluster}})
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, msg.into())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        bad(format!(
            "incomplete response: {:?}",
            String::from_utf8_lossy(raw)
        ))
    })?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = find(data, b"\r\n").ok_or_else(|| bad("bad chunk size line"))?;
        let size_text = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------------
// HTTP servers: a tiny HTTP/1.0-style server (one request per connection, then close)
// ---------------------------------------------------------------------------------------------------

/// A request as a test server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lowercase names, in received order, duplicates kept.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The request line and header lines exactly as received (bytes, `\r\n`-separated, without the
    /// blank line), for byte-exact checks (e.g. non-UTF-8 cookie bytes).
    pub head: Vec<u8>,
}

impl Received {
    /// The raw bytes of every value of header `name` (case-insensitive), in received order, with the
    /// optional whitespace around the value trimmed.
    pub fn raw_header(&self, name: &str) -> Vec<Vec<u8>> {
        self.head
            .split(|&b| b == b'\n')
            .skip(1)
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                let (n, v) = (&line[..colon], &line[colon + 1..]);
                if !n.eq_ignore_ascii_case(name.as_bytes()) {
                    return None;
                }
                let start = v
                    .iter()
                    .position(|b| !matches!(b, b' ' | b'\t'))
                    .unwrap_or(v.len());
                let end = v
                    .iter()
                    .rposition(|b| !matches!(b, b' ' | b'\t'))
                    .map_or(start, |e| e + 1);
                Some(v[start..end.max(start)].to_vec())
            })
            .collect()
    }

    /// The headers as a CGI/WSGI/Rack/PHP application sees them: `HTTP_` + the name uppercased with
    /// `-` → `_`, several headers that map to one variable joined with `,`. (`content-type` and
    /// `content-length` are included under `HTTP_` names too; nothing here needs CGI's special case.)
    pub fn cgi(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (n, v) in &self.headers {
            // As PHP maps them (a superset of WSGI/Rack, which map only `-`): every byte other
            // than a letter or digit becomes `_`.
            let name: String = n
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b.to_ascii_uppercase())
                    } else {
                        '_'
                    }
                })
                .collect();
            let key = format!("HTTP_{name}");
            env.entry(key)
                .and_modify(|old| {
                    old.push(',');
                    old.push_str(v);
                })
                .or_insert_with(|| v.clone());
        }
        env
    }

    /// `{"method", "path", "headers": {name: value}}`; repeated headers joined with `", "` (like the
    /// demo's Lua echo).
    pub fn to_json(&self) -> Value {
        let mut h: BTreeMap<String, String> = BTreeMap::new();
        for (n, v) in &self.headers {
            h.entry(n.clone())
                .and_modify(|old| {
                    old.push_str(", ");
                    old.push_str(v);
                })
                .or_insert_with(|| v.clone());
        }
        json!({"method": self.method, "path": self.path, "headers": h, "body": self.body})
    }
}

type Handler =
    Arc<dyn Fn(&Received) -> (u16, Vec<(String, String)>, String, Duration) + Send + Sync>;

/// The listening part shared by [`EchoUpstream`] and [`HttpServer`]: accepts on a thread, one thread
/// per connection, each connection answered once and closed. Listen backlog: std's 128 (a burst of
/// Envoy connects is not dropped, unlike with a backlog of 5).
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    hits: Arc<AtomicU64>,
    handler: Handler,
}

impl Server {
    fn bind(port: u16, hits: Arc<AtomicU64>, handler: Handler) -> Server {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            // Rebinding a just-stopped port: std sets SO_REUSEADDR, but retry briefly anyway.
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if port != 0 && Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
            }
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("set_nonblocking: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (stop, hits, handler) = (stop.clone(), hits.clone(), handler.clone());
            thread::spawn(move || accept_loop(listener, stop, hits, handler))
        };
        Server {
            port,
            stop,
            accept: Some(accept),
            hits,
            handler,
        }
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicU64>,
    handler: Handler,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (hits, handler, stop) = (hits.clone(), handler.clone(), stop.clone());
                thread::spawn(move || serve(stream, &hits, &handler, &stop));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(2)),
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    // The listener is dropped here: new connections are refused from now on.
}

fn serve(mut s: TcpStream, hits: &AtomicU64, handler: &Handler, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let Some(req) = read_request(&mut s) else {
        return;
    };
    hits.fetch_add(1, Ordering::SeqCst);
    let (status, headers, body, delay) = handler(&req);
    // Delay in small steps, bounded, and cut short when the server is stopped.
    let until = Instant::now() + delay.min(Duration::from_secs(60));
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        thread::sleep(
            Duration::from_millis(5).min(until.saturating_duration_since(Instant::now())),
        );
    }
    let mut resp = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (n, v) in &headers {
        resp += &format!("{n}: {v}\r\n");
    }
    resp += &format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    resp += &body;
    let _ = s.write_all(resp.as_bytes());
    let _ = s.flush();
    let _ = s.shutdown(Shutdown::Both);
}

fn read_request(s: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(e) = find(&buf, b"\r\n\r\n") {
            break e;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
        head: buf[..end].to_vec(),
    })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// An upstream that answers every request 200 with the JSON of what it received
/// (`{"method", "path", "headers": {name: value}, "body"}`), and remembers the requests.
pub struct EchoUpstream {
    server: Server,
    received: Arc<Mutex<Vec<Received>>>,
}

impl EchoUpstream {
    pub fn start() -> EchoUpstream {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let handler: Handler = Arc::new(move |req: &Received| {
            if let Ok(mut l) = log.lock() {
                l.push(req.clone());
            }
            (
                200,
                vec![("content-type".to_string(), "application/json".to_string())],
                req.to_json().to_string(),
                Duration::ZERO,
            )
        });
        EchoUpstream {
            server: Server::bind(0, Arc::default(), handler),
            received,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Requests received so far.
    pub fn hits(&self) -> u64 {
        self.server.hits.load(Ordering::SeqCst)
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// What an [`HttpServer`] answers at its path (anything else: 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: String,
    /// Wait this long before answering (bounded to 60 s; cut short by `stop`).
    pub delay: Duration,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: &str) -> Reply {
        Reply {
            status: 200,
            body: body.to_string(),
            content_type: "application/json".into(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            ..Reply::json(body)
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// A controllable HTTP server (e.g. a JWKS endpoint): answers `path` with the current [`Reply`], which can
/// be switched at runtime; counts requests; can be stopped (connection refused) and restarted on the same
/// port. Every connection gets one response and is closed (HTTP/1.0 semantics).
pub struct HttpServer {
    port: u16,
    path: String,
    reply: Arc<Mutex<Reply>>,
    /// Further paths and their replies ([`HttpServer::route`]).
    routes: Arc<Mutex<BTreeMap<String, Reply>>>,
    hits: Arc<AtomicU64>,
    server: Option<Server>,
}

impl HttpServer {
    /// Serves `reply` at `path` on a fresh port.
    pub fn start(path: &str, reply: Reply) -> HttpServer {
        let reply = Arc::new(Mutex::new(reply));
        let routes = Arc::new(Mutex::new(BTreeMap::new()));
        let hits = Arc::new(AtomicU64::new(0));
        let server = Server::bind(0, hits.clone(), Self::handler(path, &reply, &routes));
        HttpServer {
            port: server.port,
            path: path.to_string(),
            reply,
            routes,
            hits,
            server: Some(server),
        }
    }

    fn handler(
        path: &str,
        reply: &Arc<Mutex<Reply>>,
        routes: &Arc<Mutex<BTreeMap<String, Reply>>>,
    ) -> Handler {
        let (path, reply, routes) = (path.to_string(), reply.clone(), routes.clone());
        Arc::new(move |req: &Received| {
            let req_path = req.path.split('?').next().unwrap_or_default();
            let routed = routes.lock().ok().and_then(|r| r.get(req_path).cloned());
            let r = routed.clone().unwrap_or_else(|| {
                reply
                    .lock()
                    .map(|r| r.clone())
                    .unwrap_or_else(|_| Reply::status(500, ""))
            });
            if req_path == path || routed.is_some() {
                (
                    r.status,
                    vec![("content-type".to_string(), r.content_type)],
                    r.body,
                    r.delay,
                )
            } else {
                (404, Vec::new(), "not found\n".to_string(), Duration::ZERO)
            }
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The served path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Also answers `path` (exactly, query ignored) with `reply`, from the next request on.
    pub fn route(&self, path: &str, reply: Reply) {
        if let Ok(mut r) = self.routes.lock() {
            r.insert(path.to_string(), reply);
        }
    }

    /// Replaces what the server answers from the next request on.
    pub fn set(&self, reply: Reply) {
        if let Ok(mut r) = self.reply.lock() {
            *r = reply;
        }
    }

    /// Requests received (at any path), since start (restarts keep counting).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn reset_hits(&self) {
        self.hits.store(0, Ordering::SeqCst);
    }

    /// Closes the listening socket: new connections are refused until [`HttpServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.shutdown();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        if self.server.is_none() {
            let handler = Self::handler(&self.path, &self.reply, &self.routes);
            self.server = Some(Server::bind(self.port, self.hits.clone(), handler));
        }
    }

    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// Waits (bounded) until `hits() >= n`; returns whether it got there.
    pub fn wait_hits(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.hits() < n {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

/// Waits (bounded) until `cond()` holds; returns whether it did.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
