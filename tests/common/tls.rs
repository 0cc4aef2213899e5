//! TLS for the tests: certificates made with the `openssl` CLI, Envoy TLS contexts for them, and one
//! request through `curl` with TLS, a client certificate, a bound source address or HTTP/2 prior
//! knowledge. A missing `openssl` or `curl` fails the test saying how to get it.

use super::{curl_bin, parse_response, Response};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA, a server certificate for `127.0.0.1`/`localhost`, and a client certificate whose only URI
/// SAN is the one asked for, all PEM files in one directory.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// A `DownstreamTlsContext` transport socket with the server certificate; with
    /// `client_cert_required`, the peer must present a certificate signed by the CA.
    pub fn downstream_tls(&self, client_cert_required: bool) -> Value {
        let mut ctx = json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"tls_certificates": [{
                "certificate_chain": {"filename": self.server_cert().display().to_string()},
                "private_key": {"filename": self.server_key().display().to_string()}
            }]}
        });
        if client_cert_required {
            ctx["require_client_certificate"] = json!(true);
            ctx["common_tls_context"]["validation_context"] =
                json!({"trusted_ca": {"filename": self.ca().display().to_string()}});
        }
        json!({"name": "envoy.transport_sockets.tls", "typed_config": ctx})
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install it (`apt-get install openssl`)")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the certificates in `dir` (EC P-256, valid for a day); the client certificate carries
/// `client_uri_san` as its only URI SAN.
pub fn make_certs(dir: &Path, client_uri_san: &str) -> Certs {
    let ext = |name: &str, san: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("subjectAltName={san}\n"))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    };
    ext("server.ext", "IP:127.0.0.1,DNS:localhost");
    ext("client.ext", &format!("URI:{client_uri_san}"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "1",
        "-subj",
        "/CN=edgeguard-test-ca",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    for (name, cn) in [("server", "localhost"), ("client", "gateway")] {
        let subj = format!("/CN={cn}");
        let mut req = vec!["req", "-new", "-subj", &subj];
        req.extend(ec);
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        req.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
    }
    Certs {
        dir: dir.to_path_buf(),
    }
}

/// How [`curl`] connects.
#[derive(Default)]
pub struct Client<'a> {
    /// Verify the server against this CA (the URL is then `https://`).
    pub ca: Option<PathBuf>,
    /// A client certificate and key.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Bind the connection's source address (`--interface`), e.g. `127.0.0.2`.
    pub source: Option<&'a str>,
    /// HTTP/2 with prior knowledge over cleartext (h2c).
    pub h2c: bool,
}

/// `GET http(s)://127.0.0.1:port{path}` with `headers` (a `:scheme` header sets that pseudo-header
/// over HTTP/2), through curl.
pub fn curl(client: &Client<'_>, port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut cmd = Command::new(curl_bin());
    cmd.args([
        "-sS",
        "--path-as-is",
        "-o",
        "-",
        "-D",
        "-",
        "--max-time",
        "10",
    ]);
    if let Some(ca) = &client.ca {
        cmd.arg("--cacert").arg(ca);
    }
    if let Some((cert, key)) = &client.cert {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    if let Some(src) = client.source {
        cmd.args(["--interface", src]);
    }
    if client.h2c {
        cmd.arg("--http2-prior-knowledge");
    } else {
        cmd.arg("--http1.1");
    }
    for (n, v) in headers {
        cmd.arg("-H").arg(format!("{n}: {v}"));
    }
    let scheme = if client.ca.is_some() { "https" } else { "http" };
    cmd.arg(format!("{scheme}://127.0.0.1:{port}{path}"));
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}): install it (`apt-get install curl`)"));
    assert!(
        !out.stdout.is_empty(),
        "curl {path}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    parse_response(&out.stdout).unwrap_or_else(|e| panic!("curl {path}: {e}"))
}
