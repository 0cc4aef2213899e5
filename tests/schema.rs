//! The JSON Schema of the configuration (`schema/edgeguard.schema.json`, draft 2020-12) and Kong's
//! `deploy/kong/edgeguard.meta.json` (Draft 4) are kept true against the parser
//! (`edgeguard::config::Config::parse`):
//!
//! 1. **Examples pass both.** Every example configuration — each ```json block of README.md, the
//!    edgeguard filter's StringValue `configuration` in `envoy/*.yaml` and in any `deploy/**.yaml` (and there the plugin configuration of an Istio WasmPlugin, an Envoy Gateway wasm entry, a Kong filter) —
//!    validates against the schema (and against the Kong Draft 4 schema) *and* is accepted by the
//!    parser. README blocks are taken by this rule:
//!    - a block right after a line `<!-- schema-test: skip (WHY) -->` is not a plugin configuration
//!      (the remote key-set document) and is left out, counted;
//!    - `[ ... ]` is read as `[]`, and a `"sha256": "<...>"` placeholder as a real digest;
//!    - a block that is not a JSON value on its own (`"api_keys": {...}`) is wrapped in `{}`;
//!    - a block that is an object with `api_keys` or `providers` is a whole configuration, checked
//!      as it is; any other block is a fragment merged into [`readme_base`] (a key section and the
//!      provider `corp`): a fragment of top-level members replaces those members, a fragment of
//!      provider members (`"jwks": {...}`) replaces those members of provider `corp`; a block that
//!      is neither fails the test;
//!    - a `client_secret_env` variable is set (to a dummy secret) before the parser reads it.
//! 2. **Broken configurations are refused by both, at the same field.** [`broken`] lists each with
//!    the parser's `ConfigError` field, which is asserted exactly. The schema must name that field
//!    too: some error of the validator (including those inside `oneOf`/`anyOf` branches) has it as
//!    its instance path (`/api_keys/keys/1/id` is `api_keys.keys[1].id`); an `additionalProperties`
//!    error, which the validator reports at the object, names each unexpected member (as the parser
//!    does). Where one side is more specific, the entry gives the schema's field and why; the test
//!    checks that one of the two fields contains the other (the parser names `token_cache` for
//!    either bound of the cache, the schema `token_cache.max_entries`; the schema names the object a
//!    "these members together" rule is about, the parser the member it asks for).
//! 3. **What only the parser can check** ([`parser_only`]: references between sections, repeated ids,
//!    header spellings, canonical paths, ...) is accepted by the schema and refused by the parser; a
//!    schema that learns one of them fails here, and the case moves to [`broken`].
//! 4. **Mutations**: valid configurations generated from a base by replacing members with other
//!    valid values pass both.
//! 5. **The CLI** prints the checked-in schema (`edgeguard schema`) and the checked-in Kong file
//!    (`edgeguard schema --kong`); both schemas are valid against their draft's metaschema.
//!
//! The validator is python-jsonschema in `.venv` (`make schema-validator`, part of `make test`),
//! driven through `tools/schema_check.py`; without it the tests fail and say how to install it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edgeguard::config::Config;
use edgeguard::json::{path_string, Seg};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema_path() -> PathBuf {
    repo().join("schema/edgeguard.schema.json")
}

fn kong_path() -> PathBuf {
    repo().join("deploy/kong/edgeguard.meta.json")
}

fn schema() -> Value {
    serde_json::from_slice(&std::fs::read(schema_path()).unwrap()).unwrap()
}

/// `.venv/bin/python` with the `jsonschema` module, or a failure that says how to get it.
fn python() -> PathBuf {
    let py = repo().join(".venv/bin/python");
    let ok = py.is_file()
        && Command::new(&py)
            .args(["-c", "import jsonschema, yaml"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} with the python modules jsonschema and yaml is needed: run `make schema-validator` \
         (or `make test`)",
        py.display()
    );
    py
}

/// Runs `tools/schema_check.py ARGS` with `stdin`; its JSON output.
fn helper(args: &[&str], stdin: Option<&Value>) -> Value {
    let mut child = Command::new(python())
        .arg(repo().join("tools/schema_check.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(v) = stdin {
            input.write_all(v.to_string().as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "schema_check.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A schema error: the field it names (the parser's spelling) and the validator's message.
#[derive(Debug)]
struct SchemaError {
    field: String,
    message: String,
}

/// Validates each document against the schema at `schema` (draft "2020-12" or "4").
fn validate(
    schema: &Path,
    draft: &str,
    docs: &BTreeMap<String, Value>,
) -> BTreeMap<String, Vec<SchemaError>> {
    let out = helper(
        &["validate", schema.to_str().unwrap(), draft],
        Some(&json!(docs)),
    );
    let mut result = BTreeMap::new();
    for (name, errors) in out.as_object().unwrap() {
        let list = errors
            .as_array()
            .unwrap()
            .iter()
            .map(|e| SchemaError {
                field: field_of(e["path"].as_array().unwrap()),
                message: format!("{} ({})", e["message"].as_str().unwrap(), e["keyword"]),
            })
            .collect();
        result.insert(name.clone(), list);
    }
    assert_eq!(result.len(), docs.len(), "one answer per document");
    result
}

/// A JSON-pointer-like instance path (`["api_keys", "keys", 1, "id"]`) as the parser spells a field
/// (`api_keys.keys[1].id`).
fn field_of(path: &[Value]) -> String {
    let segs: Vec<Seg> = path
        .iter()
        .map(|s| match s {
            Value::Number(n) => Seg::Index(n.as_u64().unwrap() as usize),
            Value::String(k) => Seg::Key(k.clone()),
            other => panic!("unexpected path segment {other}"),
        })
        .collect();
    path_string(segs.iter())
}

/// `outer` is `inner` or contains it (`a.b` contains `a.b.c` and `a.b[0]`; "" contains all).
fn contains_field(outer: &str, inner: &str) -> bool {
    outer.is_empty()
        || inner == outer
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// The parser reads `client_secret_env` variables from the process environment; tests set them
/// (to a dummy secret) under this lock so no parse reads the environment while it is written.
static ENV: Mutex<()> = Mutex::new(());

fn set_secret_envs(v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "client_secret_env" {
                    if let Some(name) = x.as_str().filter(|n| !n.is_empty() && !n.contains('=')) {
                        std::env::set_var(name, "a-test-secret");
                    }
                }
                set_secret_envs(x);
            }
        }
        Value::Array(a) => a.iter().for_each(set_secret_envs),
        _ => {}
    }
}

/// The parser's verdict on `text` (whose JSON value is `doc`).
fn parse(text: &[u8], doc: &Value) -> Result<(), edgeguard::config::ConfigError> {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    set_secret_envs(doc);
    Config::parse(text).map(|_| ())
}

// ---------------------------------------------------------------------------------------------------
// 1. Examples
// ---------------------------------------------------------------------------------------------------

const OCT_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// What a README fragment is completed with.
fn readme_base() -> Value {
    json!({
        "api_keys": {"keys": []},
        "providers": {"corp": {"issuer": "https://idp.example",
                               "jwks": {"inline": {"keys": [{"kty": "oct", "k": OCT_KEY}]}}}}
    })
}

fn replace_placeholders(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let placeholder = x
                    .as_str()
                    .is_some_and(|s| s.starts_with('<') && s.ends_with('>'));
                if k == "sha256" && placeholder {
                    *x = Value::String(edgeguard::credential::api_key::sha256_hex(
                        b"readme example key",
                    ));
                } else {
                    replace_placeholders(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(replace_placeholders),
        _ => {}
    }
}

/// The README's example configurations (name → text, value) and how many blocks were skipped.
fn readme_examples() -> (Vec<(String, String, Value)>, usize) {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let schema = schema();
    let top: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let provider: Vec<&String> = schema["$defs"]["provider"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let (mut out, mut skipped) = (Vec::new(), 0);
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```json" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let end = start
            + lines[start..]
                .iter()
                .position(|l| l.starts_with("```"))
                .unwrap();
        let name = format!("README.md:{start}");
        let skip = i > 0 && lines[i - 1].starts_with("<!-- schema-test: skip");
        i = end + 1;
        if skip {
            skipped += 1;
            continue;
        }
        let body = lines[start..end].join("\n").replace("[ ... ]", "[]");
        let (mut doc, wrapped) = match serde_json::from_str::<Value>(&body) {
            Ok(v) => (v, false),
            Err(_) => match serde_json::from_str::<Value>(&format!("{{{body}}}")) {
                Ok(v) => (v, true),
                Err(e) => {
                    panic!("{name}: a ```json block that is not JSON, even wrapped in {{}}: {e}")
                }
            },
        };
        replace_placeholders(&mut doc);
        let members = doc
            .as_object()
            .unwrap_or_else(|| panic!("{name}: not an object"))
            .clone();
        let whole =
            !wrapped && (members.contains_key("api_keys") || members.contains_key("providers"));
        let doc = if whole {
            doc
        } else if members.keys().all(|k| top.contains(&k)) {
            let mut base = readme_base();
            for (k, v) in members {
                base[k] = v;
            }
            base
        } else if members.keys().all(|k| provider.contains(&k)) {
            let mut base = readme_base();
            for (k, v) in members {
                base["providers"]["corp"][k] = v;
            }
            base
        } else {
            panic!(
                "{name}: neither top-level nor provider members: {:?}",
                members.keys()
            );
        };
        let text = if whole && !body.contains("[ ... ]") && !body.contains("\"<") {
            body
        } else {
            doc.to_string()
        };
        out.push((name, text, doc));
    }
    (out, skipped)
}

/// The edgeguard filter configurations of `envoy/*.yaml` and `deploy/**.yaml`.
fn envoy_examples() -> Vec<(String, String, Value)> {
    fn yaml_files(dir: &Path, recurse: bool, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() && recurse {
                yaml_files(&p, recurse, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p.to_str().unwrap().to_string());
            }
        }
    }
    let mut files = Vec::new();
    yaml_files(&repo().join("envoy"), false, &mut files);
    yaml_files(&repo().join("deploy"), true, &mut files);
    files.sort();
    let args: Vec<&str> = std::iter::once("envoy-configs")
        .chain(files.iter().map(String::as_str))
        .collect();
    helper(&args, None)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let file = c["file"].as_str().unwrap();
            let rel = Path::new(file)
                .strip_prefix(repo())
                .unwrap()
                .display()
                .to_string();
            let name = format!("{rel}#{}", c["index"]);
            let text = c["config"].as_str().unwrap().to_string();
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name}: the configuration is not JSON: {e}"));
            (name, text, doc)
        })
        .collect()
}

/// Kong's `config_schema`, written where the validator can read it.
fn kong_schema_file() -> PathBuf {
    let meta: Value = serde_json::from_slice(&std::fs::read(kong_path()).unwrap()).unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("edgeguard.kong.config_schema.json");
    std::fs::write(&path, meta["config_schema"].to_string()).unwrap();
    path
}

#[test]
fn every_example_configuration_passes_the_schema_the_kong_schema_and_the_parser() {
    let (readme, skipped) = readme_examples();
    let envoy = envoy_examples();
    assert_eq!(skipped, 1, "README blocks marked `schema-test: skip`");
    assert!(
        readme.len() >= 8,
        "README example configurations: {}",
        readme.len()
    );
    assert!(
        envoy.len() >= 4,
        "envoy/*.yaml edgeguard configurations: {}",
        envoy.len()
    );
    let all: Vec<_> = readme.into_iter().chain(envoy).collect();
    let docs: BTreeMap<String, Value> =
        all.iter().map(|(n, _, d)| (n.clone(), d.clone())).collect();
    assert_eq!(docs.len(), all.len(), "example names are unique");
    let mut failures = Vec::new();
    for (draft, path) in [("2020-12", schema_path()), ("4", kong_schema_file())] {
        for (name, errors) in validate(&path, draft, &docs) {
            for e in errors {
                failures.push(format!(
                    "{name}: schema (draft {draft}): {}: {}",
                    e.field, e.message
                ));
            }
        }
    }
    for (name, text, doc) in &all {
        if let Err(e) = parse(text.as_bytes(), doc) {
            failures.push(format!("{name}: parser: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} examples checked:\n{}",
        all.len(),
        failures.join("\n")
    );
    println!(
        "{} example configurations pass both schemas and the parser",
        all.len()
    );
}

// ---------------------------------------------------------------------------------------------------
// 2. Broken configurations
// ---------------------------------------------------------------------------------------------------

struct Broken {
    name: &'static str,
    doc: Value,
    /// The parser's `ConfigError::field`.
    field: &'static str,
    /// The field the schema names when it differs from the parser's, and why.
    schema_field: Option<(&'static str, &'static str)>,
}

fn keys(extra: Value) -> Value {
    let mut doc = json!({"api_keys": {"keys": []}});
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    doc
}

fn with_provider(members: Value) -> Value {
    let mut p = json!({"issuer": "https://idp.example", "jwks": {"inline": {"keys": [{"kty": "oct", "k": OCT_KEY}]}}});
    for (k, v) in members.as_object().unwrap() {
        if v.is_null() {
            p.as_object_mut().unwrap().remove(k);
        } else {
            p[k] = v.clone();
        }
    }
    json!({"api_keys": {"keys": []}, "providers": {"corp": p}})
}

fn with_introspection(members: Value) -> Value {
    let mut i = json!({"cluster": "as", "authority": "as.example", "path": "/introspect",
                       "client_id": "edge", "client_secret": "s3cret"});
    for (k, v) in members.as_object().unwrap() {
        if v.is_null() {
            i.as_object_mut().unwrap().remove(k);
        } else {
            i[k] = v.clone();
        }
    }
    json!({"providers": {"as": {"issuer": "https://as.example", "introspection": i}}})
}

fn with_rule(rule: Value) -> Value {
    let mut doc = with_provider(json!({}));
    doc["rules"] = json!([rule]);
    doc
}

fn digest(n: u8) -> String {
    edgeguard::credential::api_key::sha256_hex(&[n])
}

fn broken() -> Vec<Broken> {
    let b = |name, doc, field| Broken {
        name,
        doc,
        field,
        schema_field: None,
    };
    let b2 = |name, doc, field, schema_field, why| Broken {
        name,
        doc,
        field,
        schema_field: Some((schema_field, why)),
    };
    let key = |entry: Value| json!({"api_keys": {"keys": [entry]}});
    let remote = |members: Value| {
        let mut r = json!({"cluster": "keys", "authority": "keys.internal", "path": "/keys"});
        for (k, v) in members.as_object().unwrap() {
            if v.is_null() {
                r.as_object_mut().unwrap().remove(k);
            } else {
                r[k] = v.clone();
            }
        }
        json!({"api_keys": {"keys": [], "remote": r}})
    };
    let jwks_remote = |members: Value| {
        let mut r = json!({"cluster": "idp", "authority": "idp.example", "path": "/jwks"});
        for (k, v) in members.as_object().unwrap() {
            r[k] = v.clone();
        }
        with_provider(json!({"jwks": {"remote": r}}))
    };
    let discovery = |members: Value| {
        let mut d = json!({"cluster": "idp", "authority": "idp.example"});
        for (k, v) in members.as_object().unwrap() {
            d[k] = v.clone();
        }
        with_provider(json!({"jwks": {"discovery": d}}))
    };
    vec![
        // top level
        b("unknown top-level field", keys(json!({"apikeys": {}})), "apikeys"),
        b("no credential section", json!({}), ""),
        b("not an object", json!([]), ""),
        b("mode: unknown variant", keys(json!({"mode": "dry-run"})), "mode"),
        b("realm with a quote", keys(json!({"realm": "a\"b"})), "realm"),
        b("realm empty", keys(json!({"realm": ""})), "realm"),
        b("bypass_cors_preflight: string", keys(json!({"bypass_cors_preflight": "true"})), "bypass_cors_preflight"),
        b("publish_identity: number", keys(json!({"publish_identity": 1})), "publish_identity"),
        // api_keys
        b("api_keys: unknown field", json!({"api_keys": {"key": []}}), "api_keys.key"),
        b("api_keys.keys: not an array", json!({"api_keys": {"keys": {}}}), "api_keys.keys"),
        b("key id with a space", json!({"api_keys": {"keys": [
            {"id": "ok", "sha256": digest(1)}, {"id": "bad id", "sha256": digest(2)}]}}), "api_keys.keys[1].id"),
        b("key id too long", key(json!({"id": "a".repeat(65), "sha256": digest(1)})), "api_keys.keys[0].id"),
        b("key without id", key(json!({"sha256": digest(1)})), "api_keys.keys[0]"),
        b("key sha256: number", key(json!({"id": "a", "sha256": 5})), "api_keys.keys[0].sha256"),
        b("key sha256: the key itself", key(json!({"id": "a", "sha256": "my-secret-key"})), "api_keys.keys[0].sha256"),
        b("key: unknown field", key(json!({"id": "a", "sha256": digest(1), "disable": true})), "api_keys.keys[0].disable"),
        b("key scope with a space", key(json!({"id": "a", "sha256": digest(1), "scopes": ["a b"]})), "api_keys.keys[0].scopes[0]"),
        b("key disabled: string", key(json!({"id": "a", "sha256": digest(1), "disabled": "no"})), "api_keys.keys[0].disabled"),
        b("key expires_at in milliseconds", key(json!({"id": "a", "sha256": digest(1), "expires_at": 1_790_812_800_000u64})), "api_keys.keys[0].expires_at"),
        b("key not_before negative", key(json!({"id": "a", "sha256": digest(1), "not_before": -1})), "api_keys.keys[0].not_before"),
        b("key plan charset", key(json!({"id": "a", "sha256": digest(1), "plan": "gold plan"})), "api_keys.keys[0].plan"),
        b("api_keys.from empty", json!({"api_keys": {"from": []}}), "api_keys.from"),
        b("source header with a space", json!({"api_keys": {"from": [{"header": "x api key"}]}}), "api_keys.from[0]"),
        b("source with header and query", json!({"api_keys": {"from": [{"header": "x-api-key", "query": "k"}]}}), "api_keys.from[0]"),
        b("source prefix on a query", json!({"api_keys": {"from": [{"query": "k", "prefix": "K "}]}}), "api_keys.from[0]"),
        b("source cookie with '='", json!({"api_keys": {"from": [{"cookie": "a=b"}]}}), "api_keys.from[0]"),
        b("source names nothing", json!({"api_keys": {"from": [{}]}}), "api_keys.from[0]"),
        b("source: unknown field", json!({"api_keys": {"from": [{"header": "x-api-key", "scheme": "K"}]}}), "api_keys.from[0].scheme"),
        b("forward_credential: string", json!({"api_keys": {"forward_credential": "yes"}}), "api_keys.forward_credential"),
        b("remote without cluster", remote(json!({"cluster": null})), "api_keys.remote"),
        b("remote path without '/'", remote(json!({"path": "keys"})), "api_keys.remote.path"),
        b("remote authority with '/'", remote(json!({"authority": "keys.internal/x"})), "api_keys.remote.authority"),
        b("remote cluster with a space", remote(json!({"cluster": "my keys"})), "api_keys.remote.cluster"),
        b("remote refresh_seconds 0", remote(json!({"refresh_seconds": 0})), "api_keys.remote.refresh_seconds"),
        b("remote timeout_ms 60001", remote(json!({"timeout_ms": 60001})), "api_keys.remote.timeout_ms"),
        b("remote max_stale_seconds too long", remote(json!({"max_stale_seconds": 2_592_001})), "api_keys.remote.max_stale_seconds"),
        b("remote max_bytes 100", remote(json!({"max_bytes": 100})), "api_keys.remote.max_bytes"),
        b("remote timeout_ms: float", remote(json!({"timeout_ms": 1.5})), "api_keys.remote.timeout_ms"),
        b("remote: unknown field", remote(json!({"refresh": 5})), "api_keys.remote.refresh"),
        // providers
        b("provider name with a space", json!({"providers": {"bad name": {"issuer": "i", "jwks": {"inline": {"keys": []}}}}}), "providers.bad name"),
        b("provider: unknown field", with_provider(json!({"issuers": ["x"]})), "providers.corp.issuers"),
        b("provider without issuer", with_provider(json!({"issuer": null})), "providers.corp"),
        b("provider issuer empty", with_provider(json!({"issuer": ""})), "providers.corp.issuer"),
        b("provider audiences empty", with_provider(json!({"audiences": []})), "providers.corp.audiences"),
        b("provider audience empty", with_provider(json!({"audiences": [""]})), "providers.corp.audiences[0]"),
        b2("provider without jwks or introspection", with_provider(json!({"jwks": null})), "providers.corp.jwks",
           "providers.corp", "the schema's anyOf (jwks or introspection) is about the provider; the parser asks for jwks"),
        b("jwks with inline and remote", with_provider(json!({"jwks": {"inline": {"keys": []}, "remote": {"cluster": "c", "authority": "a", "path": "/"}}})), "providers.corp.jwks"),
        b("jwks empty", with_provider(json!({"jwks": {}})), "providers.corp.jwks"),
        b("jwks: unknown field", with_provider(json!({"jwks": {"url": "https://idp.example/jwks"}})), "providers.corp.jwks.url"),
        b("jwks.remote refresh_seconds 0", jwks_remote(json!({"refresh_seconds": 0})), "providers.corp.jwks.remote.refresh_seconds"),
        b("jwks.remote max_stale_seconds too long", jwks_remote(json!({"max_stale_seconds": 2_592_001})), "providers.corp.jwks.remote.max_stale_seconds"),
        b("jwks.remote max_bytes too large", jwks_remote(json!({"max_bytes": 16_777_217})), "providers.corp.jwks.remote.max_bytes"),
        b("jwks.remote: unknown field", jwks_remote(json!({"retries": 3})), "providers.corp.jwks.remote.retries"),
        b("discovery refresh_seconds 0", discovery(json!({"refresh_seconds": 0})), "providers.corp.jwks.discovery.refresh_seconds"),
        b("discovery: unknown field", discovery(json!({"path": "/.well-known/openid-configuration"})), "providers.corp.jwks.discovery.path"),
        b("discovery clusters value with a space", discovery(json!({"clusters": {"keys.example:443": "a b"}})), "providers.corp.jwks.discovery.clusters.keys.example:443"),
        b("algorithms none", with_provider(json!({"algorithms": ["none"]})), "providers.corp.algorithms[0]"),
        b("algorithms lowercase", with_provider(json!({"algorithms": ["RS256", "es256"]})), "providers.corp.algorithms[1]"),
        b("algorithms empty", with_provider(json!({"algorithms": []})), "providers.corp.algorithms"),
        b("clock_skew_seconds 3601", with_provider(json!({"clock_skew_seconds": 3601})), "providers.corp.clock_skew_seconds"),
        b("max_lifetime_seconds 0", with_provider(json!({"max_lifetime_seconds": 0})), "providers.corp.max_lifetime_seconds"),
        b("max_token_bytes 10", with_provider(json!({"max_token_bytes": 10})), "providers.corp.max_token_bytes"),
        b("require_exp: string", with_provider(json!({"require_exp": "yes"})), "providers.corp.require_exp"),
        b("forward_token: number", with_provider(json!({"forward_token": 0})), "providers.corp.forward_token"),
        b("claim header uppercase", with_provider(json!({"claims_to_headers": [{"claim": "sub", "header": "X-User"}]})), "providers.corp.claims_to_headers[0].header"),
        b("claim header reserved", with_provider(json!({"claims_to_headers": [{"claim": "sub", "header": "cookie"}]})), "providers.corp.claims_to_headers[0].header"),
        b("claim path with an empty name", with_provider(json!({"claims_to_headers": [{"claim": "org..id", "header": "x-org"}]})), "providers.corp.claims_to_headers[0].claim"),
        b("claim header without claim", with_provider(json!({"claims_to_headers": [{"header": "x-org"}]})), "providers.corp.claims_to_headers[0]"),
        b("scope_claims empty", with_provider(json!({"scope_claims": []})), "providers.corp.scope_claims"),
        b("scope_claims empty name", with_provider(json!({"scope_claims": ["scope", ""]})), "providers.corp.scope_claims[1]"),
        b("plan_claim empty", with_provider(json!({"plan_claim": ""})), "providers.corp.plan_claim"),
        b("plan_claim bad escape", with_provider(json!({"plan_claim": "a\\b"})), "providers.corp.plan_claim"),
        // introspection
        b("introspection with both secrets", with_introspection(json!({"client_secret_env": "EG_SECRET"})), "providers.as.introspection"),
        b("introspection without a secret", with_introspection(json!({"client_secret": null})), "providers.as.introspection"),
        b("introspection without client_id", with_introspection(json!({"client_id": null})), "providers.as.introspection"),
        b("introspection client_auth unknown", with_introspection(json!({"client_auth": "private_key_jwt"})), "providers.as.introspection.client_auth"),
        b2("introspection cluster without path", with_introspection(json!({"path": null})), "providers.as.introspection.path",
           "providers.as.introspection", "the schema's dependentRequired (cluster, authority and path together) is about the object; the parser names the member it asks for"),
        b("introspection timeout_ms 0", with_introspection(json!({"timeout_ms": 0})), "providers.as.introspection.timeout_ms"),
        b("introspection max_in_flight 4097", with_introspection(json!({"max_in_flight": 4097})), "providers.as.introspection.max_in_flight"),
        b("introspection cache.max_entries 8", with_introspection(json!({"cache": {"max_entries": 8}})), "providers.as.introspection.cache.max_entries"),
        b("introspection cache.negative_ttl_seconds 0", with_introspection(json!({"cache": {"negative_ttl_seconds": 0}})), "providers.as.introspection.cache.negative_ttl_seconds"),
        b("introspection cache: unknown field", with_introspection(json!({"cache": {"ttl": 5}})), "providers.as.introspection.cache.ttl"),
        b("introspection client_secret_env with '-'", with_introspection(json!({"client_secret": null, "client_secret_env": "EG-SECRET"})), "providers.as.introspection.client_secret_env"),
        b("introspection: unknown field", with_introspection(json!({"scope": "x"})), "providers.as.introspection.scope"),
        // headers, reading, token_cache
        b("headers.key_id uppercase", keys(json!({"headers": {"key_id": "X-Key-Id"}})), "headers.key_id"),
        b("headers.plan empty", keys(json!({"headers": {"plan": ""}})), "headers.plan"),
        b("headers: unknown field", keys(json!({"headers": {"user": "x-user"}})), "headers.user"),
        b("path.non_canonical unknown", keys(json!({"path": {"non_canonical": "fix"}})), "path.non_canonical"),
        b("path.case unknown", keys(json!({"path": {"case": "lower"}})), "path.case"),
        b("path: unknown field", keys(json!({"path": {"normalize": true}})), "path.normalize"),
        b("method_override unknown", keys(json!({"method_override": "allow"})), "method_override"),
        b("forwarded_headers unknown", keys(json!({"forwarded_headers": "keep"})), "forwarded_headers"),
        b2("token_cache.max_entries too many", keys(json!({"token_cache": {"max_entries": 1_000_001}})), "token_cache",
           "token_cache.max_entries", "the parser's one message covers both bounds of the section"),
        b("token_cache.max_bytes negative", keys(json!({"token_cache": {"max_bytes": -1}})), "token_cache.max_bytes"),
        b("token_cache: unknown field", keys(json!({"token_cache": {"ttl": 5}})), "token_cache.ttl"),
        // rules
        b("rules: not an array", keys(json!({"rules": {}})), "rules"),
        b("rule with require and allow", with_rule(json!({"require": {"api_key": {}}, "allow": "anonymous"})), "rules[0]"),
        b("rule with neither require nor allow", with_rule(json!({"match": {}})), "rules[0]"),
        b("rule allow unknown", with_rule(json!({"allow": "everyone"})), "rules[0].allow"),
        b("rule name with a space", with_rule(json!({"name": "my rule", "allow": "anonymous"})), "rules[0].name"),
        b("rule cost 0", with_rule(json!({"cost": 0, "allow": "anonymous"})), "rules[0].cost"),
        b("rule cost 1000001", with_rule(json!({"cost": 1_000_001, "allow": "anonymous"})), "rules[0].cost"),
        b("rule: unknown field", with_rule(json!({"allow": "anonymous", "methods": ["GET"]})), "rules[0].methods"),
        b("match with two paths", with_rule(json!({"match": {"path_prefix": "/a", "path_exact": "/b"}, "allow": "anonymous"})), "rules[0].match"),
        b("match path without '/'", with_rule(json!({"match": {"path_prefix": "orders"}, "allow": "anonymous"})), "rules[0].match.path_prefix"),
        b("match methods empty", with_rule(json!({"match": {"methods": []}, "allow": "anonymous"})), "rules[0].match.methods"),
        b("match method with a space", with_rule(json!({"match": {"methods": ["GET", "GE T"]}, "allow": "anonymous"})), "rules[0].match.methods[1]"),
        b("match host with a port", with_rule(json!({"match": {"hosts": ["api.example.com:8443"]}, "allow": "anonymous"})), "rules[0].match.hosts[0]"),
        b("match: unknown field", with_rule(json!({"match": {"path": "/a"}, "allow": "anonymous"})), "rules[0].match.path"),
        b("require empty", with_rule(json!({"require": {}})), "rules[0].require"),
        b("require: not an object", with_rule(json!({"require": "api_key"})), "rules[0].require"),
        b("require jwt and api_key", with_rule(json!({"require": {"jwt": "corp", "api_key": {}}})), "rules[0].require"),
        b("require any empty", with_rule(json!({"require": {"any": []}})), "rules[0].require.any"),
        b("require scopes on api_key", with_rule(json!({"require": {"api_key": {}, "scopes": ["a"]}})), "rules[0].require.scopes"),
        b("require jwt scope with a quote", with_rule(json!({"require": {"jwt": "corp", "scopes": ["a\"b"]}})), "rules[0].require.scopes[0]"),
        b("require jwt scopes empty", with_rule(json!({"require": {"token": "corp", "scopes": []}})), "rules[0].require.scopes"),
        b("require claims empty", with_rule(json!({"require": {"jwt": "corp", "claims": {}}})), "rules[0].require.claims"),
        b("require claim value an object", with_rule(json!({"require": {"jwt": "corp", "claims": {"role": {"a": 1}}}})), "rules[0].require.claims.role"),
        b("require api_key ids empty", with_rule(json!({"require": {"api_key": {"ids": []}}})), "rules[0].require.api_key.ids"),
        b("require api_key: unknown field", with_rule(json!({"require": {"api_key": {"id": "a"}}})), "rules[0].require.api_key.id"),
        b("require nested jwt: number", with_rule(json!({"require": {"any": [{"api_key": {}}, {"all": [{"jwt": 5}]}]}})), "rules[0].require.any[1].all[0].jwt"),
        b("require: unknown field", with_rule(json!({"require": {"jwt": "corp", "scope": ["a"]}})), "rules[0].require.scope"),
        b("rule_sets empty name", keys(json!({"rule_sets": {"": [{"allow": "anonymous"}]}})), "rule_sets."),
        b("rule_sets: a rule set not an array", keys(json!({"rule_sets": {"ops": {"allow": "anonymous"}}})), "rule_sets.ops"),
        b("rule_sets: a bad rule", keys(json!({"rule_sets": {"ops": [{"allow": "anonymous", "cost": -2}]}})), "rule_sets.ops[0].cost"),
        b("default unknown", keys(json!({"default": "maybe"})), "default"),
        // plans
        b("plans without names", keys(json!({"plans": {"default": "default"}})), "plans"),
        b("plans.names empty", keys(json!({"plans": {"names": []}})), "plans.names"),
        b("plans.names charset", keys(json!({"plans": {"names": ["default", "gold plan"]}})), "plans.names[1]"),
        b2("plans.names repeated", keys(json!({"plans": {"names": ["default", "default"]}})), "plans.names[1]",
           "plans.names", "uniqueItems is about the array; the parser names the repeated element"),
        b("plans.by_method unknown method", keys(json!({"plans": {"names": ["default"], "by_method": {"oauth": "default"}}})), "plans.by_method.oauth"),
        b("plans.default charset", keys(json!({"plans": {"names": ["default"], "default": "a b"}})), "plans.default"),
        b("plans: unknown field", keys(json!({"plans": {"names": ["default"], "fallback": "default"}})), "plans.fallback"),
        // basic_auth
        b("basic_auth without users", keys(json!({"basic_auth": {}})), "basic_auth"),
        b("basic_auth users empty", keys(json!({"basic_auth": {"users": []}})), "basic_auth.users"),
        b("basic_auth user name with a colon", keys(json!({"basic_auth": {"users": [{"name": "a:b", "hash": "{SHA}x"}]}})), "basic_auth.users[0].name"),
        b("basic_auth user without a hash", keys(json!({"basic_auth": {"users": [{"name": "ci"}]}})), "basic_auth.users[0]"),
        b("basic_auth user: unknown field", keys(json!({"basic_auth": {"users": [{"name": "ci", "hash": "x", "password": "x"}]}})), "basic_auth.users[0].password"),
        b("basic_auth max_bcrypt_cost too high", keys(json!({"basic_auth": {"users": [{"name": "ci", "hash": "$2b$04$abcdefghijklmnopqrstuuGU7mh9NXgLk1sCJ5dt0u5JCBAYYpVZi"}], "limits": {"max_bcrypt_cost": 17}}})), "basic_auth.limits.max_bcrypt_cost"),
        b("basic_auth limits: unknown field", keys(json!({"basic_auth": {"users": [{"name": "ci", "hash": "x"}], "limits": {"max_cost": 5}}})), "basic_auth.limits.max_cost"),
        b("basic_auth: unknown field", keys(json!({"basic_auth": {"users": [{"name": "ci", "hash": "x"}], "realm": "x"}})), "basic_auth.realm"),
        b("require basic: unknown field", with_rule(json!({"require": {"basic": {"user": ["ci"]}}})), "rules[0].require.basic.user"),
        // transport
        b("transport.mode unknown", keys(json!({"transport": {"mode": "audit"}})), "transport.mode"),
        b("transport.require_tls not a boolean", keys(json!({"transport": {"require_tls": "yes"}})), "transport.require_tls"),
        b("transport: unknown field", keys(json!({"transport": {"require": true}})), "transport.require"),
        b("transport source_cidrs: no prefix length", keys(json!({"transport": {"trust_forwarded_proto": {"source_cidrs": ["10.0.0.0"]}}})),
          "transport.trust_forwarded_proto.source_cidrs[0]"),
        b("transport peer_uri_sans: empty", keys(json!({"transport": {"trust_forwarded_proto": {"peer_uri_sans": [""]}}})),
          "transport.trust_forwarded_proto.peer_uri_sans[0]"),
        b("transport trust_forwarded_proto: unknown field", keys(json!({"transport": {"trust_forwarded_proto": {"cidrs": ["10.0.0.0/8"]}}})),
          "transport.trust_forwarded_proto.cidrs"),
        b("rule require_tls not a boolean", with_rule(json!({"require_tls": 1, "allow": "anonymous"})), "rules[0].require_tls"),
    ]
}

#[test]
fn broken_configurations_are_refused_by_the_schema_and_the_parser_at_the_same_field() {
    let corpus = broken();
    let docs: BTreeMap<String, Value> = corpus
        .iter()
        .map(|c| (c.name.to_string(), c.doc.clone()))
        .collect();
    assert_eq!(docs.len(), corpus.len(), "case names are unique");
    let verdicts = validate(&schema_path(), "2020-12", &docs);
    let mut failures = Vec::new();
    for c in &corpus {
        let text = c.doc.to_string();
        match parse(text.as_bytes(), &c.doc) {
            Ok(()) => failures.push(format!("{}: the parser accepts {text}", c.name)),
            Err(e) if e.field != c.field => failures.push(format!(
                "{}: the parser names {:?}, expected {:?} ({e})",
                c.name, e.field, c.field
            )),
            Err(_) => {}
        }
        let want = match c.schema_field {
            Some((f, why)) => {
                assert!(
                    contains_field(f, c.field) || contains_field(c.field, f),
                    "{}: {f:?} and {:?} are not one field at two levels ({why})",
                    c.name,
                    c.field
                );
                f
            }
            None => c.field,
        };
        let errors = &verdicts[c.name];
        if errors.is_empty() {
            failures.push(format!("{}: the schema accepts {text}", c.name));
        } else if !errors.iter().any(|e| e.field == want) {
            let seen: Vec<String> = errors
                .iter()
                .map(|e| format!("{:?}: {}", e.field, e.message))
                .collect();
            failures.push(format!(
                "{}: no schema error at {want:?}; errors: {}",
                c.name,
                seen.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    println!(
        "{} broken configurations refused by both at the same field",
        corpus.len()
    );
}

/// The members the schema allows in the object at `def` (a `$defs` name, a `/`-separated path of
/// members below it, or "" for the document): its `properties`, with those of every `oneOf` branch
/// (a requirement, a source).
fn schema_members(schema: &Value, def: &str) -> Vec<String> {
    let mut node = schema;
    let mut parts = def.split('/').filter(|p| !p.is_empty());
    if let Some(name) = parts.next() {
        node = &schema["$defs"][name];
    }
    for member in parts {
        node = &node["properties"][member];
    }
    let resolve = |n: &'_ Value| -> Value {
        match n["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => schema["$defs"][name].clone(),
            None => n.clone(),
        }
    };
    let node = resolve(node);
    assert!(node.is_object(), "no schema object at {def:?}");
    let mut out: Vec<String> = Vec::new();
    let branches = node["oneOf"].as_array().cloned().unwrap_or_default();
    for n in std::iter::once(node).chain(branches.iter().map(resolve)) {
        if let Some(props) = n["properties"].as_object() {
            out.extend(props.keys().cloned());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_object_of_the_schema_has_exactly_the_parsers_members() {
    let schema = schema();
    let full = json!({
        "api_keys": {"from": [{"header": "x-api-key"}], "keys": [{"id": "a", "sha256": digest(1)}],
                     "remote": {"cluster": "k", "authority": "k.internal", "path": "/k"}},
        "providers": {
            "corp": {"issuer": "https://idp.example",
                     "jwks": {"remote": {"cluster": "idp", "authority": "idp.example", "path": "/jwks"}},
                     "claims_to_headers": [{"claim": "sub", "header": "x-user"}]},
            "disc": {"issuer": "https://idp.example", "jwks": {"discovery": {"cluster": "idp", "authority": "idp.example"}}},
            "as": {"issuer": "https://as.example",
                   "introspection": {"cluster": "as", "authority": "as.example", "path": "/i",
                                     "client_id": "edge", "client_secret": "s", "cache": {}}}
        },
        "headers": {}, "path": {}, "token_cache": {},
        "rules": [{"match": {}, "require": {"api_key": {}}}],
        "plans": {"names": ["default"]}
    });
    parse(full.to_string().as_bytes(), &full).expect("the base is valid");
    // (where in `full`, which schema object)
    let places = [
        ("", ""),
        ("/api_keys", "api_keys"),
        ("/api_keys/from/0", "source"),
        ("/api_keys/keys/0", "key_entry"),
        ("/api_keys/remote", "remote_key_set"),
        ("/providers/corp", "provider"),
        ("/providers/corp/jwks", "jwks"),
        ("/providers/corp/jwks/remote", "remote_jwks"),
        ("/providers/corp/claims_to_headers/0", "claim_header"),
        ("/providers/disc/jwks/discovery", "discovery"),
        ("/providers/as/introspection", "introspection"),
        ("/providers/as/introspection/cache", "introspection/cache"),
        ("/headers", "headers"),
        ("/path", "path_policy"),
        ("/token_cache", "token_cache"),
        ("/rules/0", "rule"),
        ("/rules/0/match", "match"),
        ("/rules/0/require", "requirement"),
        ("/rules/0/require/api_key", "requirement_api_key/api_key"),
        ("/plans", "plans"),
    ];
    let mut failures = Vec::new();
    for (ptr, def) in places {
        let mut doc = full.clone();
        doc.pointer_mut(ptr).unwrap()["zz_unknown"] = json!(1);
        let e = parse(doc.to_string().as_bytes(), &doc).expect_err(ptr);
        let listed = e
            .problem
            .strip_prefix("unknown field `zz_unknown`, expected one of ")
            .unwrap_or_else(|| panic!("{ptr}: not an unknown-field error: {e}"));
        let mut parser: Vec<String> = listed
            .split(", ")
            .map(|m| m.trim_matches('`').to_string())
            .collect();
        parser.sort();
        let schema_side = schema_members(&schema, def);
        if parser != schema_side {
            failures.push(format!(
                "{ptr} ({def}): the parser reads {parser:?}, the schema has {schema_side:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_object_with_members_in_the_schema_refuses_other_members() {
    // The one open object: an inline JWKS, whose members the JWKS parser reads leniently (RFC 7517).
    const OPEN: [&str; 1] = ["/$defs/jwks/properties/inline"];
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let closed = m.get("additionalProperties") == Some(&Value::Bool(false));
                if m.contains_key("properties") && !closed && !OPEN.contains(&at) {
                    out.push(at.to_string());
                }
                for (k, x) in m {
                    walk(x, &format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut open = Vec::new();
    walk(&schema(), "", &mut open);
    assert!(
        open.is_empty(),
        "objects without additionalProperties: false: {open:?}"
    );
}

// ---------------------------------------------------------------------------------------------------
// 3. What only the parser checks
// ---------------------------------------------------------------------------------------------------

/// Configurations the schema accepts (it cannot see across sections or into values) and the parser
/// refuses, with the parser's field.
fn parser_only() -> Vec<(&'static str, Value, &'static str)> {
    let deep = (0..8).fold(json!({"api_key": {}}), |r, _| json!({"any": [r]}));
    vec![
        (
            "a rule naming an unknown provider",
            with_rule(json!({"require": {"jwt": "other"}})),
            "rules[0].require.jwt",
        ),
        (
            "api_key leaf without an api_keys section",
            json!({"providers": {"corp": {"issuer": "i", "jwks": {"inline": {"keys": [{"kty": "oct", "k": OCT_KEY}]}}}},
                "rules": [{"require": {"api_key": {}}}]}),
            "rules[0].require.api_key",
        ),
        (
            "an inline key's plan not in plans.names",
            json!({"api_keys": {"keys": [{"id": "a", "sha256": digest(1), "plan": "gold"}]}}),
            "api_keys.keys",
        ),
        (
            "a repeated key id",
            json!({"api_keys": {"keys": [{"id": "a", "sha256": digest(1)}, {"id": "a", "sha256": digest(2)}]}}),
            "api_keys.keys[1].id",
        ),
        (
            "a claim header that is an identity header in another spelling",
            with_provider(
                json!({"claims_to_headers": [{"claim": "sub", "header": "x_edgeguard_subject"}]}),
            ),
            "providers.corp.claims_to_headers[0].header",
        ),
        (
            "a non-canonical rule path",
            with_rule(json!({"match": {"path_prefix": "/a/../b"}, "allow": "anonymous"})),
            "rules[0].match.path_prefix",
        ),
        (
            "rewrite with rule_sets",
            keys(
                json!({"path": {"non_canonical": "rewrite"}, "rule_sets": {"ops": [{"allow": "anonymous"}]}}),
            ),
            "path.non_canonical",
        ),
        (
            "requirements nested 9 levels",
            with_rule(json!({"require": deep})),
            "rules[0].require.any[0].any[0].any[0].any[0].any[0].any[0].any[0].any[0]",
        ),
        (
            "an inline JWKS without a usable key",
            with_provider(json!({"jwks": {"inline": {"keys": [{"kty": "oct", "k": "AAAA"}]}}})),
            "providers.corp.jwks.inline",
        ),
        (
            "expires_at before not_before",
            json!({"api_keys": {"keys": [{"id": "a", "sha256": digest(1), "not_before": 10, "expires_at": 5}]}}),
            "api_keys.keys[0].expires_at",
        ),
    ]
}

#[test]
fn what_only_the_parser_checks_is_accepted_by_the_schema_and_refused_by_the_parser() {
    let cases = parser_only();
    let docs: BTreeMap<String, Value> = cases
        .iter()
        .map(|(n, d, _)| (n.to_string(), d.clone()))
        .collect();
    let verdicts = validate(&schema_path(), "2020-12", &docs);
    let mut failures = Vec::new();
    for (name, doc, field) in &cases {
        let errors = &verdicts[*name];
        if !errors.is_empty() {
            failures.push(format!(
                "{name}: the schema now refuses it ({}: {}): move it to broken()",
                errors[0].field, errors[0].message
            ));
        }
        match parse(doc.to_string().as_bytes(), doc) {
            Ok(()) => failures.push(format!("{name}: the parser accepts it")),
            Err(e) if e.field != *field => failures.push(format!(
                "{name}: the parser names {:?}, expected {field:?} ({e})",
                e.field
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------------
// 4. Mutations
// ---------------------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

#[test]
fn valid_configurations_generated_by_mutation_pass_both() {
    let base = json!({
        "api_keys": {"keys": [{"id": "app", "sha256": digest(1), "scopes": ["orders:read"]}]},
        "providers": {"corp": {"issuer": "https://idp.example", "jwks": {"inline": {"keys": [{"kty": "oct", "k": OCT_KEY}]}}}},
        "rules": [{"match": {"path_prefix": "/orders"}, "require": {"api_key": {}}}],
        "plans": {"names": ["default", "gold"]}
    });
    // (JSON pointer, valid values) — each mutation sets one member to one of its values.
    let choices: Vec<(&str, Vec<Value>)> = vec![
        ("/mode", vec![json!("enforce"), json!("report")]),
        ("/realm", vec![json!("api"), json!("edge guard/1")]),
        ("/bypass_cors_preflight", vec![json!(true), json!(false)]),
        ("/publish_identity", vec![json!(true), json!(false)]),
        ("/method_override", vec![json!("reject"), json!("strip")]),
        ("/forwarded_headers", vec![json!("strip"), json!("trust")]),
        ("/default", vec![json!("deny"), json!("allow")]),
        (
            "/path",
            vec![
                json!({}),
                json!({"case": "sensitive"}),
                json!({"non_canonical": "rewrite", "case": "insensitive"}),
            ],
        ),
        (
            "/token_cache",
            vec![
                json!({"max_entries": 0}),
                json!({"max_entries": 1_000_000, "max_bytes": 1_073_741_824}),
            ],
        ),
        (
            "/headers",
            vec![
                json!({"key_id": "x-key"}),
                json!({"plan": "x_plan", "decision": "x-d"}),
            ],
        ),
        (
            "/api_keys/from",
            vec![
                json!([{"header": "X-Api-Key"}]),
                json!([{"query": "k"}, {"cookie": "k"}, {"header": "x-token-key", "prefix": "ApiKey "}]),
            ],
        ),
        ("/api_keys/forward_credential", vec![json!(true)]),
        (
            "/api_keys/keys/0/plan",
            vec![json!("gold"), json!("default")],
        ),
        ("/api_keys/keys/0/disabled", vec![json!(true)]),
        (
            "/api_keys/keys/0/not_before",
            vec![json!(0), json!(1_782_864_000)],
        ),
        (
            "/api_keys/keys/0/expires_at",
            vec![json!(253_402_300_799u64)],
        ),
        (
            "/api_keys/remote",
            vec![
                json!({"cluster": "k", "authority": "k.internal:8443", "path": "/k?v=1", "refresh_seconds": 604_800, "timeout_ms": 1, "max_stale_seconds": 0, "max_bytes": 1024}),
            ],
        ),
        (
            "/providers/corp/jwks",
            vec![
                json!({"remote": {"cluster": "idp", "authority": "idp.example", "path": "/jwks", "max_bytes": 16_777_216}}),
                json!({"discovery": {"cluster": "idp", "authority": "idp.example", "clusters": {"keys.example:443": "keys"}}}),
            ],
        ),
        (
            "/providers/corp/audiences",
            vec![json!(["a"]), json!(["a", "b"])],
        ),
        (
            "/providers/corp/algorithms",
            vec![json!(["EdDSA"]), json!(["HS256", "PS512", "ES512"])],
        ),
        (
            "/providers/corp/clock_skew_seconds",
            vec![json!(0), json!(3600)],
        ),
        (
            "/providers/corp/max_lifetime_seconds",
            vec![json!(1), json!(316_224_000)],
        ),
        (
            "/providers/corp/max_token_bytes",
            vec![json!(64), json!(65536)],
        ),
        (
            "/providers/corp/claims_to_headers",
            vec![json!([{"claim": "org\\.id", "header": "x-org"}]), json!([])],
        ),
        ("/providers/corp/scope_claims", vec![json!(["scp"])]),
        (
            "/providers/corp/plan_claim",
            vec![json!("tier"), json!("org.plan")],
        ),
        ("/providers/corp/from", vec![json!([{"cookie": "at"}])]),
        ("/rules/0/name", vec![json!("orders:read.v1")]),
        ("/rules/0/cost", vec![json!(1), json!(1_000_000)]),
        (
            "/rules/0/match",
            vec![
                json!({}),
                json!({"path_glob": "/orders/**", "methods": ["get", "M-SEARCH"], "hosts": ["*.example.com", "API.example.com."]}),
            ],
        ),
        (
            "/rules/0/require",
            vec![
                json!({"jwt": "corp", "scopes": ["a:b"], "claims": {"role": ["admin", 1, true]}}),
                json!({"all": [{"token": "corp"}, {"api_key": {"ids": ["app"], "scopes": ["orders:read"]}}]}),
            ],
        ),
        (
            "/plans/by_method",
            vec![json!({"anonymous": "default", "introspection": "gold"})],
        ),
        ("/plans/default", vec![json!("gold")]),
    ];
    let mut rng = Rng(0x5eed_ed6e_9a4d);
    let mut docs = BTreeMap::new();
    for n in 0..40 {
        let mut doc = base.clone();
        let mut applied = Vec::new();
        for _ in 0..1 + rng.below(5) {
            let (ptr, values) = &choices[rng.below(choices.len())];
            let value = values[rng.below(values.len())].clone();
            let (parent, member) = ptr.rsplit_once('/').unwrap();
            let target = if parent.is_empty() {
                &mut doc
            } else {
                doc.pointer_mut(parent).unwrap()
            };
            target[member] = value;
            applied.push(*ptr);
        }
        // `rewrite` cannot be combined with rule_sets (none here) — every mutation above is valid
        // on its own and with the others.
        docs.insert(format!("mutant {n} ({})", applied.join(", ")), doc);
    }
    let verdicts = validate(&schema_path(), "2020-12", &docs);
    let mut failures = Vec::new();
    for (name, doc) in &docs {
        for e in &verdicts[name] {
            failures.push(format!("{name}: schema: {}: {}", e.field, e.message));
        }
        if let Err(e) = parse(doc.to_string().as_bytes(), doc) {
            failures.push(format!("{name}: parser: {e}\n  {doc}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------------
// 5. The CLI and the metaschemas
// ---------------------------------------------------------------------------------------------------

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeguard"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "edgeguard {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_cli_prints_the_checked_in_schema_and_kong_meta_file_both_valid_for_their_drafts() {
    let printed = cli(&["schema"]);
    assert_eq!(
        printed,
        std::fs::read_to_string(schema_path()).unwrap(),
        "edgeguard schema"
    );
    let kong = cli(&["schema", "--kong"]);
    assert!(
        kong == std::fs::read_to_string(kong_path()).unwrap(),
        "deploy/kong/edgeguard.meta.json is not what `edgeguard schema --kong` prints now: \
         regenerate it with `cargo run --bin edgeguard -- schema --kong > deploy/kong/edgeguard.meta.json`"
    );
    let meta: Value = serde_json::from_str(&kong).unwrap();
    assert_eq!(
        meta.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["config_schema"]
    );
    assert_eq!(
        meta["config_schema"]["$schema"],
        "http://json-schema.org/draft-04/schema#"
    );
    assert!(
        !kong.contains("$defs") && !kong.contains("\"const\""),
        "no 2020-12 keyword in the Kong schema"
    );
    assert_eq!(
        helper(
            &["check-schema", schema_path().to_str().unwrap(), "2020-12"],
            None
        ),
        "ok"
    );
    assert_eq!(
        helper(
            &["check-schema", kong_schema_file().to_str().unwrap(), "4"],
            None
        ),
        "ok"
    );
}
