//! Soak run (`make soak`; NOT part of `make test`: the test is `#[ignore]`d).
//!
//! Mixed traffic through a real Envoy on loopback — valid tokens (a stable key and a rotating one),
//! retired-key tokens, bad signatures, attacks (alg none, HS256 with the public key, expired,
//! garbage), valid/unknown API keys, no credential — while the JWKS rotates every few seconds. Each
//! request class has a known right answer; every response is checked against it.
//!
//! Knobs (environment): `SOAK_REQUESTS` (default 1,000,000), `SOAK_MAX_SECONDS` (default 480: the run
//! stops there and reports how many it sent), `SOAK_CONNECTIONS` (default 4), `SOAK_ROTATE_SECONDS`
//! (default 4). Reported: requests, duration, wrong decisions per class, 5xx, Envoy RSS at start and
//! end, wasm VM stats before/after. Allowed requests end in an Envoy `direct_response` (after
//! edgeguard), so the upstream is not the bottleneck.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{b64, cluster, Envoy, HttpServer, Options, Reply};
use edgeguard::credential::api_key::sha256_hex;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::Instant;

type StdDuration = std::time::Duration;

const ISS: &str = "https://idp.example";
const API_KEY: &str = "soak-api-key-0123456789abcdef";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn jwk(k: &ES256KeyPair) -> Value {
    let p = k.public_key().public_key().to_bytes_uncompressed();
    json!({"kty": "EC", "crv": "P-256", "kid": k.key_id().clone().unwrap(),
           "x": b64(&p[1..33]), "y": b64(&p[33..])})
}

fn sign(k: &ES256KeyPair, secs: u64) -> String {
    let c = jwt_simple::prelude::Claims::with_custom_claims(Map::new(), Duration::from_secs(secs))
        .with_issuer(ISS)
        .with_audience("api")
        .with_subject("soak");
    k.sign(c).unwrap()
}

/// Request classes: (name, expected status).
const CLASSES: [(&str, u16); 10] = [
    ("stable", 200),
    ("rotating", 200),
    ("apikey", 200),
    ("retired", 401),
    ("badsig", 401),
    ("none", 401),
    ("hs_confusion", 401),
    ("expired", 401),
    ("badkey", 401),
    ("missing", 401),
];

/// The request bytes for every class in one rotation epoch.
fn requests(
    stable: &ES256KeyPair,
    rotating: &ES256KeyPair,
    retired: &ES256KeyPair,
) -> Vec<Vec<u8>> {
    let good = sign(stable, 3600);
    let parts: Vec<&str> = good.split('.').collect();
    let badsig = format!("{}.{}.{}", parts[0], parts[1], b64(&[1u8; 64]));
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), parts[1]);
    let pem = stable.public_key().to_pem().unwrap();
    let input = format!("{}.{}", b64(br#"{"alg":"HS256","kid":"stable"}"#), parts[1]);
    let hs = format!(
        "{input}.{}",
        b64(&hmac_sha256::HMAC::mac(input.as_bytes(), pem.as_bytes()))
    );
    let expired = {
        let mut c =
            jwt_simple::prelude::Claims::with_custom_claims(Map::new(), Duration::from_secs(60))
                .with_issuer(ISS)
                .with_audience("api");
        c.issued_at = Some(UnixTimeStamp::from_secs(1_600_000_000));
        c.expires_at = Some(UnixTimeStamp::from_secs(1_600_000_060));
        stable.sign(c).unwrap()
    };
    let bearer = |t: &str| format!("authorization: Bearer {t}\r\n");
    CLASSES
        .iter()
        .map(|(class, _)| {
            let h = match *class {
                "stable" => bearer(&good),
                "rotating" => bearer(&sign(rotating, 3600)),
                "retired" => bearer(&sign(retired, 3600)),
                "badsig" => bearer(&badsig),
                "none" => bearer(&none),
                "hs_confusion" => bearer(&hs),
                "expired" => bearer(&expired),
                "apikey" => format!("x-api-key: {API_KEY}\r\n"),
                "badkey" => "x-api-key: soak-wrong-key-000\r\n".to_string(),
                _ => String::new(),
            };
            format!("GET /soak/{class} HTTP/1.1\r\nhost: localhost\r\n{h}\r\n").into_bytes()
        })
        .collect()
}

/// One keep-alive HTTP/1.1 exchange; the status code.
fn exchange(conn: &mut BufReader<TcpStream>, req: &[u8]) -> std::io::Result<u16> {
    conn.get_mut().write_all(req)?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    let mut close = false;
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            let n = n.trim().to_ascii_lowercase();
            if n == "content-length" {
                len = v.trim().parse().unwrap_or(0);
            } else if n == "connection" && v.trim().eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    if close {
        return Err(std::io::Error::other("closed"));
    }
    Ok(status)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn vm_stats(envoy: &Envoy) -> Vec<String> {
    envoy
        .stats()
        .lines()
        .filter(|l| l.starts_with("wasm.") && !l.contains("remote_load"))
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "soak run: `make soak`"]
fn soak() {
    let total = env_u64("SOAK_REQUESTS", 1_000_000);
    let max_secs = env_u64("SOAK_MAX_SECONDS", 480);
    let conns = env_u64("SOAK_CONNECTIONS", 4);
    let rotate = env_u64("SOAK_ROTATE_SECONDS", 4);

    let stable = ES256KeyPair::generate().with_key_id("stable");
    let rot: Vec<ES256KeyPair> = (0..(max_secs / rotate + 4))
        .map(|i| ES256KeyPair::generate().with_key_id(&format!("r{i}")))
        .collect();
    // Epoch i publishes {stable, r_i, r_{i+1}} and sends r_i tokens ("rotating") and r_{i-2} tokens
    // ("retired"): a VM one refresh behind still has r_i, and never r_{i-2}.
    let set =
        |i: usize| json!({"keys": [jwk(&stable), jwk(&rot[i]), jwk(&rot[i + 1])]}).to_string();
    let server = HttpServer::start("/jwks.json", Reply::json(&set(2)));
    let plugin = json!({
        "api_keys": {"keys": [{"id": "soak", "sha256": sha256_hex(API_KEY.as_bytes())}]},
        "providers": {"idp": {"issuer": ISS, "audiences": ["api"], "jwks": {"remote": {
            "cluster": "jwks", "authority": "idp.example", "path": "/jwks.json",
            "refresh_seconds": 1, "timeout_ms": 2000}}}},
        "rules": [
            {"match": {"path_prefix": "/soak/apikey"}, "require": {"api_key": {}}},
            {"match": {"path_prefix": "/soak/badkey"}, "require": {"api_key": {}}},
            {"match": {}, "require": {"jwt": "idp"}}
        ]
    })
    .to_string();
    let envoy = Envoy::start_with(
        &plugin,
        Options {
            log_level: "warn".into(),
            clusters: vec![cluster("jwks", server.port())],
            routes: vec![json!({"match": {"prefix": "/soak/"},
                "direct_response": {"status": 200, "body": {"inline_string": "ok"}}})],
            ..Options::default()
        },
    );
    let addr: SocketAddr = envoy.addr();
    let epoch_reqs = Arc::new(RwLock::new(requests(&stable, &rot[2], &rot[0])));
    // Warm up: keys loaded, every class answered right once.
    let warm = common::wait_until(StdDuration::from_secs(20), || {
        let mut c = BufReader::new(TcpStream::connect(addr).unwrap());
        exchange(&mut c, &epoch_reqs.read().unwrap()[0]).ok() == Some(200)
    });
    assert!(warm, "warm-up failed\n{}", envoy.log_tail(30));
    let vm_before = vm_stats(&envoy);
    let rss_start = rss_kib(envoy.pid());

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let wrong: Arc<Vec<AtomicU64>> = Arc::new(CLASSES.iter().map(|_| AtomicU64::new(0)).collect());
    let by_class: Arc<Vec<AtomicU64>> =
        Arc::new(CLASSES.iter().map(|_| AtomicU64::new(0)).collect());
    let five_xx = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(RwLock::new(Vec::<String>::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|w| {
            let (stop, sent, wrong, by_class, five_xx, reconnects, samples, reqs) = (
                stop.clone(),
                sent.clone(),
                wrong.clone(),
                by_class.clone(),
                five_xx.clone(),
                reconnects.clone(),
                samples.clone(),
                epoch_reqs.clone(),
            );
            thread::spawn(move || {
                let mut conn: Option<BufReader<TcpStream>> = None;
                let mut i = w as usize;
                while !stop.load(Ordering::Relaxed) {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        sent.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    let class = i % CLASSES.len();
                    i += 1;
                    let req = reqs.read().unwrap()[class].clone();
                    let c = conn.get_or_insert_with(|| {
                        let s = TcpStream::connect(addr).unwrap();
                        s.set_read_timeout(Some(StdDuration::from_secs(30)))
                            .unwrap();
                        BufReader::new(s)
                    });
                    let status = match exchange(c, &req) {
                        Ok(s) => s,
                        Err(_) => {
                            // Envoy closed the connection (e.g. after a local reply): once more on a
                            // fresh one.
                            reconnects.fetch_add(1, Ordering::Relaxed);
                            let s = TcpStream::connect(addr).unwrap();
                            s.set_read_timeout(Some(StdDuration::from_secs(30)))
                                .unwrap();
                            let mut fresh = BufReader::new(s);
                            let st = exchange(&mut fresh, &req).unwrap_or(0);
                            conn = Some(fresh);
                            st
                        }
                    };
                    by_class[class].fetch_add(1, Ordering::Relaxed);
                    if status >= 500 {
                        five_xx.fetch_add(1, Ordering::Relaxed);
                    }
                    if status != CLASSES[class].1 {
                        wrong[class].fetch_add(1, Ordering::Relaxed);
                        let mut s = samples.write().unwrap();
                        if s.len() < 20 {
                            s.push(format!(
                                "{} got {status} at {:?}",
                                CLASSES[class].0,
                                started.elapsed()
                            ));
                        }
                    }
                }
            })
        })
        .collect();
    // Rotation driver, and the time cap.
    let mut epoch = 2usize;
    let mut next_rotation = Instant::now() + StdDuration::from_secs(rotate);
    while workers.iter().any(|w| !w.is_finished()) {
        if started.elapsed() > StdDuration::from_secs(max_secs) {
            stop.store(true, Ordering::SeqCst);
        }
        if Instant::now() >= next_rotation && epoch + 2 < rot.len() {
            epoch += 1;
            server.set(Reply::json(&set(epoch)));
            *epoch_reqs.write().unwrap() = requests(&stable, &rot[epoch], &rot[epoch - 2]);
            next_rotation += StdDuration::from_secs(rotate);
        }
        thread::sleep(StdDuration::from_millis(50));
    }
    for w in workers {
        w.join().unwrap();
    }
    let took = started.elapsed();
    let rss_end = rss_kib(envoy.pid());
    let vm_after = vm_stats(&envoy);
    let n = sent.load(Ordering::SeqCst);
    let wrong_total: u64 = wrong.iter().map(|w| w.load(Ordering::SeqCst)).sum();
    eprintln!("\n=== edgeguard soak ===");
    eprintln!(
        "requests {n} (asked {total}) in {:.1} s = {:.0} req/s over {conns} keep-alive connections; \
         {} JWKS rotations every {rotate} s; {} reconnects",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        epoch - 2,
        reconnects.load(Ordering::SeqCst)
    );
    for (i, (class, status)) in CLASSES.iter().enumerate() {
        eprintln!(
            "  {class:<13} expect {status}: {:>8} sent, {} wrong",
            by_class[i].load(Ordering::SeqCst),
            wrong[i].load(Ordering::SeqCst)
        );
    }
    eprintln!(
        "wrong decisions {wrong_total}, 5xx {}",
        five_xx.load(Ordering::SeqCst)
    );
    eprintln!(
        "Envoy RSS start {} KiB, end {} KiB ({:+} KiB)",
        rss_start,
        rss_end,
        rss_end as i64 - rss_start as i64
    );
    eprintln!("JWKS fetches {}", server.hits());
    eprintln!("wasm VM stats before {vm_before:?}\n              after  {vm_after:?}");
    eprintln!("samples of wrong answers: {:?}", samples.read().unwrap());
    assert_eq!(wrong_total, 0, "wrong decisions");
    assert_eq!(five_xx.load(Ordering::SeqCst), 0, "5xx answers");
    assert_eq!(vm_before, vm_after, "wasm VMs restarted or failed");
}
