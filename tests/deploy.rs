//! The deployment examples in `deploy/` (Istio `WasmPlugin`, Envoy Gateway `EnvoyExtensionPolicy`,
//! Kong declarative configuration): each one's host settings are the safe ones (root id
//! `edgeguard`, fail closed, image pinned by digest, the AUTHN phase), and its plugin configuration
//! is accepted by `edgeguard check-config` and by the built plugin in a real Envoy (`envoy --mode
//! validate` runs `on_configure` on the Envoy filter the example maps to: the wasm filter with that
//! configuration as its JSON string).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{repo, temp_dir, validate_plugin};
use edgeguard::stats;
use serde_json::Value;
use std::process::{Command, Stdio};

/// The YAML documents of a file, as JSON, through PyYAML in the project's `.venv` (installed by
/// `make ratelimit-server`, part of `make test`).
fn yaml_docs(rel: &str) -> Vec<Value> {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "no {} — run `make ratelimit-server` (or `make test`), which installs PyYAML there",
        python.display()
    );
    let out = Command::new(&python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))",
        ])
        .arg(repo().join(rel))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{rel}: {} (PyYAML missing? run `make ratelimit-server`)",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn doc<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} document"))
}

/// The plugin configuration is accepted by the CLI and by the plugin inside a real Envoy.
fn assert_accepted(what: &str, plugin: &Value) {
    assert!(plugin.is_object(), "{what}: a configuration object");
    let text = plugin.to_string();
    let file = temp_dir("deploy").join("plugin.json");
    std::fs::write(&file, &text).unwrap();
    let cli = Command::new(env!("CARGO_BIN_EXE_edgeguard"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{what}: edgeguard check-config: {}{}",
        String::from_utf8_lossy(&cli.stdout),
        String::from_utf8_lossy(&cli.stderr)
    );
    let (ok, log) = validate_plugin(&text);
    assert!(ok, "{what}: envoy --mode validate refused it:\n{log}");
}

/// `oci://host/name:tag@sha256:<64 hex>` (or without scheme) → the hex digest.
fn pinned_digest(url: &str) -> String {
    let (_, hex) = url
        .rsplit_once("@sha256:")
        .unwrap_or_else(|| panic!("{url}: not pinned by a digest"));
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{url}: a sha256 digest"
    );
    hex.to_string()
}

#[test]
fn istio_wasmplugin_fails_closed_in_the_authn_phase_pinned_by_digest() {
    let docs = yaml_docs("deploy/istio/wasmplugin.yaml");
    let wp = doc(&docs, "WasmPlugin");
    assert_eq!(wp["apiVersion"], "extensions.istio.io/v1alpha1");
    let spec = &wp["spec"];
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert_eq!(spec["pluginName"], "edgeguard", "the module's root id");
    assert_eq!(spec["type"], "HTTP");
    let url = spec["url"].as_str().unwrap();
    assert!(url.starts_with("oci://"), "{url}");
    assert_eq!(
        spec["sha256"].as_str(),
        Some(pinned_digest(url).as_str()),
        "sha256 repeats the url's digest"
    );
    // the cluster the provider's JWKS is fetched through is the ServiceEntry's
    let se = doc(&docs, "ServiceEntry");
    let host = se["spec"]["hosts"][0].as_str().unwrap();
    let port = se["spec"]["ports"][0]["number"].as_u64().unwrap();
    let remote = &spec["pluginConfig"]["providers"]["corp"]["jwks"]["remote"];
    assert_eq!(remote["cluster"], format!("outbound|{port}||{host}"));
    assert_eq!(remote["authority"], host);
    assert_accepted("istio pluginConfig", &spec["pluginConfig"]);
}

#[test]
fn envoy_gateway_policy_has_its_own_fail_closed_wasm_entry() {
    let docs = yaml_docs("deploy/envoy-gateway/extension-policy.yaml");
    let p = doc(&docs, "EnvoyExtensionPolicy");
    assert_eq!(p["apiVersion"], "gateway.envoyproxy.io/v1alpha1");
    let wasm = p["spec"]["wasm"].as_array().unwrap();
    assert_eq!(
        wasm.len(),
        1,
        "edgeguard alone in its policy (envoyproxy/gateway#7886)"
    );
    assert!(
        p["spec"].get("extProc").is_none(),
        "nothing else in the policy"
    );
    let w = &wasm[0];
    assert_eq!(w["rootID"], "edgeguard");
    assert_eq!(w["failOpen"], false);
    assert_eq!(w["code"]["type"], "Image");
    pinned_digest(w["code"]["image"]["url"].as_str().unwrap());
    assert_accepted("envoy gateway config", &w["config"]);
}

#[test]
fn kong_filter_chain_names_the_edgeguard_filter() {
    let docs = yaml_docs("deploy/kong/kong.yaml");
    let k = &docs[0];
    assert_eq!(k["_format_version"], "3.0");
    let chains: Vec<&Value> = k["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["filter_chains"].as_array().unwrap())
        .collect();
    assert_eq!(chains.len(), 1);
    let filters = chains[0]["filters"].as_array().unwrap();
    assert_eq!(filters.len(), 1);
    assert_eq!(
        filters[0]["name"], "edgeguard",
        "the file name edgeguard.wasm"
    );
    // Kong's callouts take host:port, not a cluster
    let remote = &filters[0]["config"]["providers"]["corp"]["jwks"]["remote"];
    assert!(remote["cluster"].as_str().unwrap().ends_with(":443"));
    assert_accepted("kong filter config", &filters[0]["config"]);
}

#[test]
fn the_grafana_dashboard_queries_only_families_and_labels_edgeguard_exports() {
    let families = [
        stats::REQUESTS,
        stats::PLAN_UNKNOWN,
        stats::API_KEY_REQUESTS,
        stats::TOKENS_VERIFIED,
        stats::TOKEN_CACHE,
        stats::JWKS_FETCHES,
        stats::JWKS_AGE,
        stats::DISCOVERY_FETCHES,
        stats::DISCOVERY_AGE,
        stats::INTROSPECTION_CALLS,
        stats::INTROSPECTION_LOOKUPS,
        stats::KEY_SET_FETCHES,
        stats::KEY_SET_KEYS,
        stats::KEY_SET_AGE,
    ];
    let d: Value = serde_json::from_slice(
        &std::fs::read(repo().join("deploy/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut queries = 0;
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            queries += 1;
            let mut rest = expr;
            while let Some(i) = rest.find("edgeguard_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(families.contains(&name.as_str()), "{expr}: {name}");
                rest = &rest[i + name.len()..];
            }
            for by in expr.split("by (").skip(1) {
                let labels = by.split(')').next().unwrap();
                for l in labels.split(',').map(str::trim) {
                    assert!(stats::LABELS.contains(&l), "{expr}: label {l}");
                }
            }
        }
    }
    assert!(queries >= 8);
}
