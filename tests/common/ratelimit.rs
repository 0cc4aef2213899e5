//! Fleet-wide throttling for integration tests: a real Redis (Debian's `redis-server`, or
//! `$EDGEGUARD_REDIS_SERVER`) on a free loopback port, and the test rate-limit service
//! (`tests/ratelimit_server/serve.py`: `envoy.service.ratelimit.v3.RateLimitService` in Python with
//! grpcio and xds-protos, counting in that Redis) run by `<repo>/.venv/bin/python`
//! (`$EDGEGUARD_PYTHON` overrides it). Missing redis-server, grpcio, xds-protos or PyYAML is a test
//! FAILURE saying how to get them (`make ratelimit-server`, which `make test` runs), never a skip.
//! Both are waited for within [`START_TIMEOUT`] and killed on Drop (or by `stop`).

use super::{repo, temp_dir, wait_until};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long Redis or the service may take to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

const HOW: &str =
    "run `make ratelimit-server` (or `make test`): it installs Debian's redis-server \
                   and grpcio, xds-protos and PyYAML into .venv";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("a free loopback port: {e}"))
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// `redis-server`: `$EDGEGUARD_REDIS_SERVER`, else the first on `PATH` (or `/usr/bin`).
pub fn redis_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGEGUARD_REDIS_SERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "EDGEGUARD_REDIS_SERVER={} is not a file",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("redis-server not found — {HOW}, or set EDGEGUARD_REDIS_SERVER"))
}

/// One RESP command on a fresh connection; the raw reply line.
fn redis_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(cmd.as_bytes())?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A real Redis on a loopback port, no persistence (killed on Drop).
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl Redis {
    pub fn start() -> Redis {
        let bin = redis_server_bin();
        let dir = temp_dir("redis");
        let port = free_port();
        let log = std::fs::File::create(dir.join("redis.log"))
            .unwrap_or_else(|e| panic!("create redis log: {e}"));
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("dup log: {e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut redis = Redis {
            child: Some(child),
            port,
            dir,
        };
        let up = wait_until(START_TIMEOUT, || {
            redis_command(port, &["PING"]).is_ok_and(|r| r.starts_with("+PONG"))
        });
        if !up {
            kill(&mut redis.child);
            panic!(
                "redis-server did not answer PING on 127.0.0.1:{port} within {START_TIMEOUT:?}:\n{}",
                std::fs::read_to_string(redis.dir.join("redis.log")).unwrap_or_default()
            );
        }
        redis
    }

    /// Kills it (the service's next count fails).
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// The number of keys (counters) it holds.
    pub fn dbsize(&self) -> u64 {
        let r = redis_command(self.port, &["DBSIZE"]).unwrap_or_else(|e| panic!("DBSIZE: {e}"));
        r.trim()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("DBSIZE answered {r:?}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        kill(&mut self.child);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The Python with grpcio, xds-protos and PyYAML: `$EDGEGUARD_PYTHON` or `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("EDGEGUARD_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo().join(".venv/bin/python"),
    };
    assert!(
        path.is_file(),
        "Python not found at {} — {HOW}, or set EDGEGUARD_PYTHON",
        path.display()
    );
    let out = Command::new(&path)
        .args([
            "-c",
            "import grpc, yaml; from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "grpcio, xds-protos or PyYAML is missing for {} — {HOW}:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The test rate-limit service on a loopback port (killed on Drop or by `stop`).
pub struct RateLimitService {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl RateLimitService {
    /// Serves the limits of `config` (envoyproxy/ratelimit's format), counting in `redis`.
    pub fn start(config: &Path, redis: &Redis) -> RateLimitService {
        let py = python();
        let dir = temp_dir("rls");
        let log = std::fs::File::create(dir.join("rls.log"))
            .unwrap_or_else(|e| panic!("create rls log: {e}"));
        let mut child = Command::new(&py)
            .arg(repo().join("tests/ratelimit_server/serve.py"))
            .env("EG_RLS_CONFIG", config)
            .env("EG_RLS_REDIS_PORT", redis.port.to_string())
            .env("EG_RLS_PORT", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
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
        let mut child = Some(child);
        let port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(p) if p != 0 => p,
            other => {
                kill(&mut child);
                panic!(
                    "the rate-limit service did not start within {START_TIMEOUT:?} ({other:?}):\n{}",
                    std::fs::read_to_string(dir.join("rls.log")).unwrap_or_default()
                );
            }
        };
        RateLimitService { child, port, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills it: its port refuses connections.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// What it logged (one line per descriptor).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rls.log")).unwrap_or_default()
    }
}

impl Drop for RateLimitService {
    fn drop(&mut self) {
        kill(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "rate-limit service log ({}):\n{}",
                self.dir.display(),
                self.log()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
