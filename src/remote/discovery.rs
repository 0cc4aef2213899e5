//! A provider's OpenID Connect discovery document: the request that fetches it, and the checks that
//! turn its body into the key set to fetch (see [`crate::provider::discovery`]).

use super::jwks::Jwks;
use super::lifecycle::{Availability, Timing};
use super::{Document, Fetch, Remote};
use crate::counters::Counters;
use crate::host::{Callout, CalloutResponse, Callouts, Metrics, SharedData};
use crate::introspection::Endpoint;
use crate::json::parse_strict;
use crate::need::Need;
use crate::provider::discovery::{Discovery, DISCOVERY_MAX_BYTES};
use crate::provider::RemoteJwks;
use crate::resources::{KeyAvailability, KeyDocument};
use crate::stats;
use std::collections::HashMap;

/// What a provider's discovery document is.
#[derive(Debug, Clone)]
pub struct DiscoveryDocument(pub Discovery);

/// What edgeguard uses of a checked discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Where the key set is, and through which cluster.
    pub jwks: RemoteJwks,
    /// `introspection_endpoint`, when the document has one on a host edgeguard may call.
    pub introspection_endpoint: Option<Endpoint>,
}

impl Document for DiscoveryDocument {
    type Value = Discovered;
    const KIND: &'static str = "discovery";
    const LABEL: &'static str = "discovery document";
    const OWNER: &'static str = "provider";

    fn request(&self) -> Callout {
        let d = &self.0;
        super::get_json(&d.cluster, &d.authority, &d.path, d.timeout_ms)
    }

    fn timing(&self) -> Timing {
        Timing {
            refresh_ms: self.0.refresh_seconds.saturating_mul(1000),
            max_stale_ms: self.0.max_stale_seconds.saturating_mul(1000),
            timeout_ms: self.0.timeout_ms,
        }
    }

    fn max_bytes(&self) -> usize {
        DISCOVERY_MAX_BYTES
    }

    /// Refuses a document whose `issuer` is not the configured one byte for byte (OpenID Connect
    /// Discovery §4.3), or whose `jwks_uri` is missing, malformed or on a host without a cluster.
    fn parse(&self, _name: &str, body: &[u8]) -> Result<Discovered, String> {
        let doc = parse_strict(body).map_err(|e| format!("not a JSON document: {}", e.message))?;
        let issuer = doc.get("issuer").and_then(|v| v.as_str());
        if issuer != Some(self.0.issuer.as_str()) {
            return Err(format!(
                "issuer mismatch: the document names {:?}, the provider is {:?}",
                issuer.unwrap_or("(none)"),
                self.0.issuer
            ));
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("the document has no \"jwks_uri\" string")?;
        let jwks = self
            .0
            .jwks_at(uri)
            .map_err(|e| format!("refused jwks_uri {uri:?}: it {e}"))?;
        // Not needed for the key set: an unusable one is logged, and introspection without an
        // endpoint of its own then waits for a document that has one (503 meanwhile).
        let introspection_endpoint = doc
            .get("introspection_endpoint")
            .and_then(|v| v.as_str())
            .and_then(|uri| match self.0.endpoint_at(uri) {
                Ok(e) => Some(e),
                Err(e) => {
                    log::warn!(
                        "edgeguard: provider {_name}: refused introspection_endpoint {uri:?}: it {e}"
                    );
                    None
                }
            });
        Ok(Discovered {
            jwks,
            introspection_endpoint,
        })
    }

    fn describe(value: &Discovered) -> String {
        format!(
            "key set at {}{} through cluster {}",
            value.jwks.authority, value.jwks.path, value.jwks.cluster
        )
    }

    fn fetch_metric(name: &str, ok: bool) -> String {
        stats::discovery_fetch(name, ok)
    }

    fn age_metric(name: &str) -> String {
        stats::discovery_age(name)
    }
}

/// A provider whose key set is found through discovery: its discovery document, and the key set
/// the document points at (set up when the first document is in, replaced when `jwks_uri` moves).
/// Both are remote documents with their own lease, back-off and stale window.
#[derive(Debug)]
pub struct DiscoveredKeys {
    name: String,
    /// This VM's id in leases.
    vm: u64,
    doc: Remote<DiscoveryDocument>,
    jwks: Option<Remote<Jwks>>,
}

impl DiscoveredKeys {
    pub fn new(name: &str, discovery: Discovery, vm: u64) -> Self {
        DiscoveredKeys {
            name: name.to_string(),
            vm,
            doc: Remote::new(name, DiscoveryDocument(discovery)),
            jwks: None,
        }
    }

    /// Longest a request may wait: the discovery call, then the key-set call.
    pub fn max_wait_ms(&self) -> u64 {
        let d = &self.doc.doc.0;
        d.timeout_ms.saturating_mul(2).saturating_add(2000)
    }

    pub fn create_records(&self, shared: &dyn SharedData) {
        self.doc.create_records(shared);
    }

    /// The periodic pass over both documents; records started callouts in `calls` and the needs
    /// whose state changed in `changed`.
    pub fn tick<H: SharedData + Callouts + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        now: u64,
        calls: &mut HashMap<u32, Need>,
        changed: &mut Vec<Need>,
    ) {
        let vm = self.vm;
        let synced = self.doc.sync(host, counters, now);
        let fetched = self.doc.maybe_fetch(host, counters, vm, now);
        self.note(
            Need::Discovery(self.name.clone()),
            synced,
            fetched,
            calls,
            changed,
        );
        if self.retarget(host, counters, now) {
            changed.push(Need::Discovery(self.name.clone()));
        }
        if let Some(jwks) = &mut self.jwks {
            let synced = jwks.sync(host, counters, now);
            let fetched = jwks.maybe_fetch(host, counters, vm, now);
            self.note(
                Need::KeySet(self.name.clone()),
                synced,
                fetched,
                calls,
                changed,
            );
        }
    }

    fn note(
        &self,
        need: Need,
        synced: bool,
        fetched: Fetch,
        calls: &mut HashMap<u32, Need>,
        changed: &mut Vec<Need>,
    ) {
        if let Fetch::Started(token) = fetched {
            calls.insert(token, need.clone());
        }
        if synced || fetched == Fetch::Changed {
            changed.push(need);
        }
    }

    /// Takes in the response to this VM's fetch of `need`'s document. A new discovery document
    /// may move the key set; its fetch then starts at once.
    pub fn response<H: SharedData + Callouts + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        now: u64,
        need: &Need,
        response: &CalloutResponse,
        calls: &mut HashMap<u32, Need>,
    ) -> Vec<Need> {
        let vm = self.vm;
        let mut changed = vec![need.clone()];
        match need {
            Need::Discovery(_) => {
                self.doc.response(host, counters, vm, now, response);
                self.doc.sync(host, counters, now);
                self.retarget(host, counters, now);
                if let Some(jwks) = &mut self.jwks {
                    let fetched = jwks.maybe_fetch(host, counters, vm, now);
                    self.note(
                        Need::KeySet(self.name.clone()),
                        false,
                        fetched,
                        calls,
                        &mut changed,
                    );
                }
            }
            Need::KeySet(_) => {
                if let Some(jwks) = &mut self.jwks {
                    jwks.response(host, counters, vm, now, response);
                    jwks.sync(host, counters, now);
                }
            }
            // Not this provider's documents.
            Need::Introspection { .. } | Need::ApiKeySet => {}
        }
        changed
    }

    /// Points the key set at the current document's `jwks_uri`. True when it moved.
    fn retarget<H: SharedData + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        now: u64,
    ) -> bool {
        let target = match self.doc.life.availability(now) {
            Availability::Fresh(d) | Availability::Stale(d) => &d.jwks,
            Availability::Loading | Availability::Failed => return false,
        };
        if self.jwks.as_ref().is_some_and(|j| &j.doc.0 == target) {
            return false;
        }
        if self.jwks.is_some() {
            log::info!(
                "edgeguard: provider {}: jwks_uri moved to {}{}",
                self.name,
                target.authority,
                target.path
            );
        }
        // The key set's shared records are named after its location, so a moved key set gets new
        // ones (created here: a location change is rare and bounded by the document's refreshes).
        let jwks = Remote::new(&self.name, Jwks(target.clone()));
        jwks.create_records(host);
        self.jwks = Some(jwks);
        if let Some(j) = &mut self.jwks {
            j.sync(host, counters, now);
        }
        true
    }

    /// The key set as a check sees it at `now`; on a request's `last` attempt, loading counts as
    /// unavailable.
    pub fn key_set(&self, now: u64, last: bool) -> KeyAvailability {
        if let Err(state) = seen(
            self.doc.life.availability(now),
            KeyDocument::Discovery,
            last,
        ) {
            return state;
        }
        let Some(jwks) = &self.jwks else {
            // The document is in but the key set is not set up yet (until the next pass).
            return if last {
                KeyAvailability::Unavailable(KeyDocument::KeySet)
            } else {
                KeyAvailability::Loading(KeyDocument::KeySet)
            };
        };
        match seen(jwks.life.availability(now), KeyDocument::KeySet, last) {
            Ok(set) => KeyAvailability::Ready(set.clone()),
            Err(state) => state,
        }
    }

    /// The document's introspection endpoint, while the document is usable.
    pub fn introspection_endpoint(&self, now: u64) -> Option<Endpoint> {
        match self.doc.life.availability(now) {
            Availability::Fresh(d) | Availability::Stale(d) => d.introspection_endpoint.clone(),
            Availability::Loading | Availability::Failed => None,
        }
    }

    /// See [`crate::resources::Resources::refetch_key_set`].
    pub fn want_refetch(&self, now: u64) -> bool {
        self.jwks.as_ref().is_some_and(|j| j.life.want_refetch(now))
    }
}

/// A document's value, or what its absence means for the key set.
fn seen<T>(a: Availability<'_, T>, doc: KeyDocument, last: bool) -> Result<&T, KeyAvailability> {
    match a {
        Availability::Fresh(v) | Availability::Stale(v) => Ok(v),
        Availability::Loading if !last => Err(KeyAvailability::Loading(doc)),
        Availability::Loading | Availability::Failed => Err(KeyAvailability::Unavailable(doc)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config_json::FromJson;
    use crate::provider::discovery::DiscoveryConfig;
    use serde_json::json;

    fn doc(clusters: serde_json::Value) -> DiscoveryDocument {
        let raw = json!({"cluster": "as", "authority": "as.example", "clusters": clusters});
        let c = DiscoveryConfig::from_json(&raw, &crate::config_json::At::Root).unwrap();
        DiscoveryDocument(
            c.validate("https://as.example/t", "providers.as.jwks.discovery")
                .unwrap(),
        )
    }

    fn parse(d: &DiscoveryDocument, body: serde_json::Value) -> Result<Discovered, String> {
        d.parse("as", body.to_string().as_bytes())
    }

    #[test]
    fn fetches_the_well_known_document_of_the_issuer() {
        let call = doc(json!({})).request();
        assert_eq!(call.cluster, "as");
        assert!(call
            .headers
            .contains(&(":path".into(), "/t/.well-known/openid-configuration".into())));
        assert!(call
            .headers
            .contains(&(":authority".into(), "as.example".into())));
    }

    #[test]
    fn a_matching_document_gives_its_key_set_and_introspection_endpoint() {
        let d = doc(json!({}));
        let got = parse(
            &d,
            json!({"issuer": "https://as.example/t", "jwks_uri": "https://as.example/t/jwks",
                   "introspection_endpoint": "https://as.example/t/introspect"}),
        )
        .unwrap();
        assert_eq!(got.jwks.path, "/t/jwks");
        assert_eq!(got.jwks.cluster, "as");
        let e = got.introspection_endpoint.unwrap();
        assert_eq!(
            (e.cluster.as_str(), e.path.as_str()),
            ("as", "/t/introspect")
        );
    }

    #[test]
    fn the_issuer_must_match_byte_for_byte() {
        let d = doc(json!({}));
        for issuer in [
            json!("https://as.example/t/"),
            json!("https://AS.example/t"),
            json!("https://as.example"),
            json!(null),
            json!(7),
        ] {
            let e = parse(
                &d,
                json!({"issuer": issuer, "jwks_uri": "https://as.example/jwks"}),
            )
            .unwrap_err();
            assert!(e.starts_with("issuer mismatch"), "{e}");
        }
        let e = parse(&d, json!({"jwks_uri": "https://as.example/jwks"})).unwrap_err();
        assert!(e.starts_with("issuer mismatch"), "{e}");
    }

    #[test]
    fn a_jwks_uri_elsewhere_needs_a_listed_cluster() {
        let d = doc(json!({"keys.example.com:443": "idp_keys"}));
        let ok = parse(
            &d,
            json!({"issuer": "https://as.example/t", "jwks_uri": "https://keys.example.com/k"}),
        )
        .unwrap();
        assert_eq!(ok.jwks.cluster, "idp_keys");
        let e = parse(
            &d,
            json!({"issuer": "https://as.example/t", "jwks_uri": "https://attacker.example/k"}),
        )
        .unwrap_err();
        assert!(e.contains("attacker.example:443"), "{e}");
    }

    #[test]
    fn garbage_and_missing_jwks_uri_are_refused() {
        let d = doc(json!({}));
        assert!(d.parse("as", b"<html>").is_err());
        assert!(d
            .parse("as", br#"{"issuer":"https://as.example/t","issuer":"x"}"#)
            .is_err());
        assert!(parse(&d, json!({"issuer": "https://as.example/t"})).is_err());
        assert!(parse(&d, json!({"issuer": "https://as.example/t", "jwks_uri": 1})).is_err());
    }
}
