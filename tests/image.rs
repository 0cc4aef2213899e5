//! `make image` (tools/oci_image.py): the OCI image layout Istio and Envoy Gateway pull, unpacked the
//! way Istio's fetcher does (istio/istio `pkg/wasm/imagefetcher.go`: index → manifest → exactly one
//! `application/vnd.oci.image.layer.v1.tar+gzip` layer → the tar entry whose base name is
//! `plugin.wasm`), every blob checked against its digest and size, and the module compared with
//! `target/edgeguard.wasm` byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{repo, temp_dir, wasm_path};
use edgeguard::credential::api_key::sha256_hex;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Builds the image of `wasm` into `out` with the repository's tool; its stdout.
fn build(wasm: &Path, out: &Path, tag: &str) -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(&python)
        .arg(repo().join("tools/oci_image.py"))
        .arg(wasm)
        .arg(out)
        .arg(tag)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (install python3, or set PYTHON): {e}"));
    assert!(
        o.status.success(),
        "tools/oci_image.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A blob of the layout named by a descriptor, checked against the descriptor's digest and size.
fn blob(layout: &Path, descriptor: &Value) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(sha256_hex(&bytes), hex, "blob content matches its name");
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(bytes.len() as u64),
        "{descriptor}"
    );
    bytes
}

/// The regular files of a (ustar) tar archive: (name, content).
fn tar_entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let h = &tar[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            String::from_utf8_lossy(&f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())])
                .into_owned()
        };
        let name = match field(345..500) {
            p if p.is_empty() => field(0..100),
            p => format!("{p}/{}", field(0..100)),
        };
        let size = usize::from_str_radix(field(124..136).trim(), 8).unwrap();
        let data = tar[at + 512..at + 512 + size].to_vec();
        if matches!(h[156], b'0' | 0) {
            out.push((name, data));
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn the_image_layout_unpacks_like_istio_to_the_same_module() {
    let wasm = wasm_path();
    let module = std::fs::read(&wasm).unwrap();
    let out = temp_dir("image").join("oci");
    let printed = build(&wasm, &out, "0.1.0");

    let layout: Value =
        serde_json::from_slice(&std::fs::read(out.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        "0.1.0"
    );
    assert_eq!(
        manifests[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let manifest: Value = serde_json::from_slice(&blob(&out, &manifests[0])).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"], "compat",
        "the compat variant of the Wasm OCI image spec"
    );
    // Istio's extractOCIStandardImage: exactly one layer, of the standard OCI tar+gzip type (never a
    // single raw-wasm layer, which Istio refuses: higress#4528).
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let config_blob = blob(&out, &manifest["config"]);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config: Value = serde_json::from_slice(&config_blob).unwrap();

    let gz = blob(&out, &layers[0]);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0].as_str().unwrap(),
        format!("sha256:{}", sha256_hex(&tar)),
        "the config names the uncompressed layer"
    );
    let entries = tar_entries(&tar);
    let plugin: Vec<&(String, Vec<u8>)> = entries
        .iter()
        .filter(|(name, _)| {
            Path::new(name).file_name().and_then(|n| n.to_str()) == Some("plugin.wasm")
        })
        .collect();
    assert_eq!(
        plugin.len(),
        1,
        "one plugin.wasm: {:?}",
        entries.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    assert!(
        plugin[0].1 == module,
        "plugin.wasm is target/edgeguard.wasm byte for byte"
    );
    assert!(
        printed.contains(&format!("sha256:{}", sha256_hex(&module))),
        "{printed}"
    );

    // Reproducible: the same module gives the same manifest digest (a tag can be re-checked).
    let again = temp_dir("image").join("oci");
    build(&wasm, &again, "0.1.0");
    let index2: Value =
        serde_json::from_slice(&std::fs::read(again.join("index.json")).unwrap()).unwrap();
    assert_eq!(index2["manifests"][0]["digest"], manifests[0]["digest"]);
    // The archive form holds the same layout.
    let archive = std::fs::read(out.with_extension("tar")).unwrap();
    let names: Vec<String> = tar_entries(&archive).into_iter().map(|e| e.0).collect();
    assert!(
        names.iter().any(|n| n == "index.json") && names.iter().any(|n| n == "oci-layout"),
        "{names:?}"
    );
}

#[test]
fn not_a_wasm_module_is_refused() {
    let dir = temp_dir("image");
    let bogus = dir.join("bogus.wasm");
    std::fs::write(&bogus, b"not wasm").unwrap();
    let o = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(repo().join("tools/oci_image.py"))
        .arg(&bogus)
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a wasm module"));
    assert!(!dir.join("out").exists());
}
