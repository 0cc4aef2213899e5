//! Every remote resource of one VM ([`Remotes`]): the JWKS of remote providers, the documents of
//! discovered ones, the remote API-key set; the callouts in flight, each mapped to the [`Need`] it
//! serves, so that a response re-checks only the requests waiting for it.

use super::{api_keys, discovery, jwks, respond, tick_one, Remote, View};
use crate::config::Config;
use crate::counters::Counters;
use crate::host::{CalloutResponse, Callouts, Metrics, SharedData};
use crate::need::Need;
use crate::provider::JwksSource;
use std::collections::{BTreeMap, HashMap};

/// Every remote resource of one VM, and the callouts in flight.
#[derive(Debug)]
pub struct Remotes {
    /// Random nonzero id of this VM in leases.
    vm: u64,
    pub(super) jwks: BTreeMap<String, Remote<jwks::Jwks>>,
    /// Providers whose key set is found through OIDC discovery.
    pub(super) discovered: BTreeMap<String, discovery::DiscoveredKeys>,
    /// The remote API-key set (`api_keys.remote`), if configured.
    pub(super) api_keys: Option<Remote<api_keys::ApiKeySetDoc>>,
    /// Callouts in flight: token → the need they serve.
    calls: HashMap<u32, Need>,
}

impl Remotes {
    pub fn new(config: &Config, vm: u64) -> Self {
        let jwks = config
            .providers
            .iter()
            .filter_map(|(name, p)| match &p.jwks {
                JwksSource::Remote(r) => {
                    Some((name.clone(), Remote::new(name, jwks::Jwks(r.clone()))))
                }
                JwksSource::Inline(_) | JwksSource::Discovered(_) | JwksSource::Absent => None,
            })
            .collect();
        // A loop, not `collect`: a BTreeMap built from an iterator sorts, and the sort's code for
        // this element type costs ≈ 10 KB of wasm.
        let mut discovered = BTreeMap::new();
        for (name, p) in &config.providers {
            if let JwksSource::Discovered(d) = &p.jwks {
                let keys = discovery::DiscoveredKeys::new(name, d.clone(), vm);
                discovered.insert(name.clone(), keys);
            }
        }
        let api_keys = config.api_keys.as_ref().and_then(|k| {
            let doc = api_keys::ApiKeySetDoc {
                remote: k.remote.clone()?,
                inline: k.inline.clone(),
            };
            Some(Remote::new("remote", doc))
        });
        Remotes {
            vm,
            jwks,
            discovered,
            api_keys,
            calls: HashMap::new(),
        }
    }

    /// Longest a request may wait for a remote resource before it gets 503.
    pub fn max_wait_ms(&self) -> u64 {
        let jwks = self.jwks.values().map(|r| r.life.timing);
        let keys = self.api_keys.iter().map(|r| r.life.timing);
        jwks.chain(keys)
            .map(|t| t.timeout_ms.saturating_add(2000))
            .chain(self.discovered.values().map(|d| d.max_wait_ms()))
            .max()
            .unwrap_or(0)
    }

    /// Creates every shared lease record (at configure, before any lease is taken).
    pub fn create_records(&self, shared: &dyn SharedData) {
        for r in self.jwks.values() {
            r.create_records(shared);
        }
        for d in self.discovered.values() {
            d.create_records(shared);
        }
        if let Some(r) = &self.api_keys {
            r.create_records(shared);
        }
    }

    /// The periodic pass: reads what other VMs shared and starts the fetches that are due. Returns
    /// the needs whose state changed.
    pub fn tick<H: SharedData + Callouts + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        now: u64,
    ) -> Vec<Need> {
        let mut changed = Vec::new();
        let (vm, calls) = (self.vm, &mut self.calls);
        for (name, remote) in &mut self.jwks {
            let need = Need::KeySet(name.clone());
            tick_one(remote, need, host, counters, vm, now, calls, &mut changed);
        }
        if let Some(remote) = &mut self.api_keys {
            let need = Need::ApiKeySet;
            tick_one(remote, need, host, counters, vm, now, calls, &mut changed);
        }
        for d in self.discovered.values_mut() {
            d.tick(host, counters, now, calls, &mut changed);
        }
        changed
    }

    /// Takes in a callout response. Returns the needs it changed (none for an unknown token).
    pub fn response<H: SharedData + Callouts + Metrics>(
        &mut self,
        host: &H,
        counters: &Counters,
        token: u32,
        response: &CalloutResponse,
        now: u64,
    ) -> Vec<Need> {
        let Some(need) = self.calls.remove(&token) else {
            return Vec::new();
        };
        if let Need::KeySet(name) | Need::Discovery(name) = &need {
            if let Some(d) = self.discovered.get_mut(name) {
                return d.response(host, counters, now, &need, response, &mut self.calls);
            }
        }
        match &need {
            Need::KeySet(name) => {
                if let Some(remote) = self.jwks.get_mut(name) {
                    respond(remote, host, counters, self.vm, now, response);
                }
            }
            Need::ApiKeySet => {
                if let Some(remote) = &mut self.api_keys {
                    respond(remote, host, counters, self.vm, now, response);
                }
            }
            // Answered above (discovery) or not a remote document (introspection).
            Need::Discovery(_) | Need::Introspection { .. } => {}
        }
        vec![need]
    }

    /// The introspection endpoint the discovery document of `provider` names, if any.
    pub fn introspection_endpoint(
        &self,
        provider: &str,
        now: u64,
    ) -> Option<crate::introspection::Endpoint> {
        self.discovered
            .get(provider)
            .and_then(|d| d.introspection_endpoint(now))
    }

    /// What the engine sees at `now`. On a request's `last` attempt, loading counts as unavailable
    /// and no refetch is waited for.
    pub fn view(&self, now_ms: u64, last: bool) -> View<'_> {
        View {
            remotes: self,
            now_ms,
            last,
        }
    }
}
