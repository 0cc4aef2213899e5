//! Remote resources: documents edgeguard fetches through HTTP callouts (a provider's JWKS, the remote
//! API-key set; OIDC discovery documents next), shared by every VM of the proxy.
//!
//! - [`Document`] is what one kind of resource adds: the request to send, how to parse the body, its
//!   timing, metric names. One small file per kind ([`jwks`], [`api_keys`]).
//! - [`lifecycle`] decides, per VM, when a document is due and what requests see (fresh, stale,
//!   loading, failed); [`lease`] is the shared-data protocol that lets one VM fetch for all.
//! - [`Remote`] drives one document through both against the host ports; [`Remotes`] holds them all,
//!   maps callout tokens to the [`Need`] they serve, and tells the caller which needs changed, so only
//!   the requests waiting for those are re-checked ([`remotes`]).
//!
//! Shared data, per document (`<id>`: a hash of the request's cluster, authority and path, so two
//! configurations sharing a VM id never mix their documents): `edgeguard.<kind>.<name>.<id>.record`
//! holds the last good body and its fetch time ([`Record`]), written only after a successful fetch and
//! re-parsed by each VM when its version changes; `edgeguard.<kind>.<name>.<id>.lease` holds the
//! [`lease::LeaseRecord`].

pub mod api_keys;
pub mod discovery;
pub mod jwks;
pub mod lease;
pub mod lifecycle;
pub mod record;
pub mod view;

mod remotes;
pub use record::Record;
pub use remotes::Remotes;
pub use view::View;

use crate::counters::Counters;
use crate::host::{Callout, CalloutResponse, Callouts, Metrics, SharedData};
use crate::need::Need;
use lease::Acquire;
use lifecycle::{FetchReason, Lifecycle, Timing};
use std::collections::HashMap;

/// One kind of remote document.
pub trait Document {
    /// What the parsed body becomes.
    type Value;
    /// Kind name in shared-data keys (`jwks`).
    const KIND: &'static str;
    /// What the document is and whose, in log lines: "provider idp: JWKS loaded".
    const LABEL: &'static str;
    const OWNER: &'static str;
    /// The callout that fetches the document.
    fn request(&self) -> Callout;
    fn timing(&self) -> Timing;
    /// Bodies larger than this are refused.
    fn max_bytes(&self) -> usize;
    /// Parses a body (a fetched one, or one another VM shared). `name` is for logs.
    fn parse(&self, name: &str, body: &[u8]) -> Result<Self::Value, String>;
    /// A short description of a loaded value, for the log line.
    fn describe(value: &Self::Value) -> String;
    /// Counter of fetches of `name` by outcome.
    fn fetch_metric(name: &str, ok: bool) -> String;
    /// Gauge of the age (seconds) of the value in use.
    fn age_metric(name: &str) -> String;
    /// Gauges describing a value just installed (name, value): none by default.
    fn gauges(_value: &Self::Value) -> Vec<(String, u64)> {
        Vec::new()
    }
}

/// The GET of a JSON document at `path` on `cluster` (`:authority` `authority`): the request of
/// every remote document.
pub fn get_json(cluster: &str, authority: &str, path: &str, timeout_ms: u64) -> Callout {
    Callout {
        cluster: cluster.to_string(),
        headers: vec![
            (":method".into(), "GET".into()),
            (":path".into(), path.to_string()),
            (":authority".into(), authority.to_string()),
            ("accept".into(), "application/json".into()),
        ],
        body: None,
        timeout_ms,
    }
}

/// What [`Remote::maybe_fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// Nothing due, or another VM is fetching.
    Idle,
    /// A callout is in flight under this token.
    Started(u32),
    /// Requests waiting for this document should be checked again now (a forced refetch turned
    /// out to be answered already, or the dispatch failed and was recorded as a failure).
    Changed,
}

/// One remote document of one VM, driven through the host ports.
#[derive(Debug)]
pub struct Remote<D: Document> {
    pub name: String,
    pub doc: D,
    record_key: String,
    lease_key: String,
    pub life: Lifecycle<D::Value>,
    /// SHA-256 of the body the installed value was parsed from: a refetch of the same body only
    /// renews the value's fetch time (no parse, no rebuild, no repeated log lines).
    body_hash: Option<[u8; 32]>,
}

impl<D: Document> Remote<D> {
    pub fn new(name: &str, doc: D) -> Self {
        let call = doc.request();
        let header = |n: &str| {
            call.headers
                .iter()
                .find(|(k, _)| k == n)
                .map_or("", |(_, v)| v.as_str())
        };
        let source = format!(
            "{}\n{}\n{}",
            call.cluster,
            header(":authority"),
            header(":path")
        );
        let digest = hmac_sha256::Hash::hash(source.as_bytes());
        let id: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let base = format!("edgeguard.{}.{name}.{id}", D::KIND);
        Remote {
            name: name.to_string(),
            life: Lifecycle::new(doc.timing()),
            doc,
            record_key: format!("{base}.record"),
            lease_key: format!("{base}.lease"),
            body_hash: None,
        }
    }

    /// Creates the shared lease record (at configure).
    pub fn create_records(&self, shared: &dyn SharedData) {
        lease::create(shared, &self.lease_key);
    }

    /// Reads the shared lease record and, when another VM stored a newer value, installs it. True if
    /// anything changed that waiting requests should see.
    pub fn sync<H: SharedData + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        now: u64,
    ) -> bool {
        let (record, _) = lease::read(host, &self.lease_key);
        let mut changed = self.life.observe(record, now);
        if self.life.newer_shared(now) {
            if let Some((bytes, version)) = host.get(&self.record_key) {
                if Some(version) != self.life.version {
                    if let Some(record) = Record::decode(&bytes) {
                        let hash = hmac_sha256::Hash::hash(&record.body);
                        let parsed = if self.unchanged(&hash) {
                            self.life.touch(record.fetched_at_ms, Some(version));
                            changed = true;
                            None
                        } else {
                            Some(self.doc.parse(&self.name, &record.body))
                        };
                        match parsed {
                            None => {}
                            Some(Ok(value)) => {
                                gauges::<D, H>(host, counters, &value);
                                self.life
                                    .install(value, record.fetched_at_ms, Some(version));
                                self.body_hash = Some(hash);
                                changed = true;
                            }
                            Some(Err(e)) => log::warn!(
                                "edgeguard: {} {}: shared {} unreadable: {e}",
                                D::OWNER,
                                self.name,
                                D::LABEL
                            ),
                        }
                    }
                }
            }
        }
        if let Some(age) = self.life.age_ms(now) {
            counters.gauge(host, &D::age_metric(&self.name), age / 1000);
        }
        changed
    }

    /// Starts a fetch if one is due and this VM (`vm`) wins the lease.
    pub fn maybe_fetch<H: SharedData + Callouts + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        vm: u64,
        now: u64,
    ) -> Fetch {
        let Some(reason) = self.life.fetch_due(now) else {
            return Fetch::Idle;
        };
        let forced = reason == FetchReason::Forced;
        match lease::acquire(
            host,
            &self.lease_key,
            vm,
            now,
            self.life.timing.lease_ms(),
            forced,
        ) {
            Acquire::Busy(_) => Fetch::Idle,
            Acquire::AnsweredByOther(record) => {
                // Another VM refetched since this VM last looked: its result answers the request.
                self.life.observe(record, now);
                Fetch::Changed
            }
            Acquire::Won(record) => {
                self.life.lease = record;
                self.life.clear_refetch();
                let call = self.doc.request();
                match host.dispatch(&call) {
                    Ok(token) => {
                        log::debug!(
                            "edgeguard: {} {}: fetching {} ({})",
                            D::OWNER,
                            self.name,
                            D::LABEL,
                            reason.as_str()
                        );
                        Fetch::Started(token)
                    }
                    Err(status) => {
                        let why =
                            format!("cannot dispatch to cluster {:?}: {status}", call.cluster);
                        self.done(host, counters, vm, now, Err(why));
                        Fetch::Changed
                    }
                }
            }
        }
    }

    /// True when `hash` is that of the body the installed value came from.
    fn unchanged(&self, hash: &[u8; 32]) -> bool {
        self.life.has_value() && self.body_hash.as_ref() == Some(hash)
    }

    /// Takes in the response to this VM's fetch.
    pub fn response<H: SharedData + Callouts + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        vm: u64,
        now: u64,
        response: &CalloutResponse,
    ) {
        let max = self.doc.max_bytes();
        let result = match response.status {
            None => Err("no response (timeout or connection failure)".to_string()),
            Some(200) if response.body_size > max => Err(format!(
                "response of {} bytes exceeds max_bytes {max}",
                response.body_size
            )),
            Some(200) => match host.response_body(response.body_size) {
                Some(body) if self.unchanged(&hmac_sha256::Hash::hash(&body)) => Ok((body, None)),
                Some(body) => self
                    .doc
                    .parse(&self.name, &body)
                    .map(|value| (body, Some(value))),
                None => Err("empty response body".to_string()),
            },
            Some(code) => Err(format!("HTTP status {code}")),
        };
        self.done(host, counters, vm, now, result);
    }

    /// Records a fetch outcome in shared data and locally.
    fn done<H: SharedData + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        vm: u64,
        now: u64,
        result: Result<(Vec<u8>, Option<D::Value>), String>,
    ) {
        counters.add_named(host, &D::fetch_metric(&self.name, result.is_ok()), 1);
        if let Ok((body, _)) = &result {
            let record = Record {
                fetched_at_ms: now,
                body: body.clone(),
            };
            let _ = host.set(&self.record_key, &record.encode(), None);
        }
        let record = lease::release(host, &self.lease_key, vm, now, result.is_ok());
        self.life.observe(record, now);
        let version = || host.get(&self.record_key).map(|(_, v)| v);
        match result {
            Ok((_, None)) => {
                log::debug!(
                    "edgeguard: {} {}: {} unchanged",
                    D::OWNER,
                    self.name,
                    D::LABEL
                );
                self.life.touch(now, version());
            }
            Ok((body, Some(value))) => {
                log::info!(
                    "edgeguard: {} {}: {} loaded, {}",
                    D::OWNER,
                    self.name,
                    D::LABEL,
                    D::describe(&value)
                );
                gauges::<D, H>(host, counters, &value);
                self.life.install(value, now, version());
                self.body_hash = Some(hmac_sha256::Hash::hash(&body));
            }
            Err(why) => log::warn!(
                "edgeguard: {} {}: {} fetch failed: {why}; keeping the last good one if any",
                D::OWNER,
                self.name,
                D::LABEL
            ),
        }
    }
}

/// Sets the gauges of a value about to be installed.
fn gauges<D: Document, H: Metrics>(host: &H, counters: &Counters, value: &D::Value) {
    for (name, v) in D::gauges(value) {
        counters.gauge(host, &name, v);
    }
}

/// One periodic pass over one document (see [`Remotes::tick`]): `need` is what it serves.
#[allow(clippy::too_many_arguments)]
fn tick_one<D: Document, H: SharedData + Callouts + Metrics>(
    remote: &mut Remote<D>,
    need: Need,
    host: &H,
    counters: &Counters,
    vm: u64,
    now: u64,
    calls: &mut HashMap<u32, Need>,
    changed: &mut Vec<Need>,
) {
    // Both run: a sync and a fetch decision are each worth a re-check.
    let synced = remote.sync(host, counters, now);
    let fetched = remote.maybe_fetch(host, counters, vm, now);
    if let Fetch::Started(token) = fetched {
        calls.insert(token, need.clone());
    }
    if synced || fetched == Fetch::Changed {
        changed.push(need);
    }
}

/// Takes in the response to one document's fetch.
fn respond<D: Document, H: SharedData + Callouts + Metrics>(
    remote: &mut Remote<D>,
    host: &H,
    counters: &Counters,
    vm: u64,
    now: u64,
    response: &CalloutResponse,
) {
    remote.response(host, counters, vm, now, response);
    remote.sync(host, counters, now);
}
