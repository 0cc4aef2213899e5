//! The remote resources as one check sees them at one instant: the [`Resources`] port over the VM's
//! [`Remotes`]. On a request's last attempt, loading counts as unavailable and no refetch is waited
//! for.

use super::lifecycle::Availability;
use super::Remotes;
use crate::api_key_set::ApiKeySet;
use crate::resources::{KeyAvailability, KeyDocument, Loaded, Resources};
use std::rc::Rc;

/// The remote resources seen at one instant, by one check.
pub struct View<'a> {
    pub(super) remotes: &'a Remotes,
    pub(super) now_ms: u64,
    pub(super) last: bool,
}

impl Resources for View<'_> {
    fn key_set(&self, provider: &str) -> KeyAvailability {
        if let Some(d) = self.remotes.discovered.get(provider) {
            return d.key_set(self.now_ms, self.last);
        }
        let Some(remote) = self.remotes.jwks.get(provider) else {
            return KeyAvailability::Unavailable(KeyDocument::KeySet);
        };
        match remote.life.availability(self.now_ms) {
            Availability::Fresh(set) | Availability::Stale(set) => {
                KeyAvailability::Ready(set.clone())
            }
            Availability::Loading if !self.last => KeyAvailability::Loading(KeyDocument::KeySet),
            Availability::Loading | Availability::Failed => {
                KeyAvailability::Unavailable(KeyDocument::KeySet)
            }
        }
    }

    fn api_key_set(&self) -> Loaded<Rc<ApiKeySet>> {
        let Some(remote) = &self.remotes.api_keys else {
            return Loaded::Unavailable;
        };
        match remote.life.availability(self.now_ms) {
            Availability::Fresh(set) | Availability::Stale(set) => Loaded::Ready(set.clone()),
            Availability::Loading if !self.last => Loaded::Loading,
            Availability::Loading | Availability::Failed => Loaded::Unavailable,
        }
    }

    fn refetch_key_set(&self, provider: &str) -> bool {
        if self.last {
            return false;
        }
        if let Some(d) = self.remotes.discovered.get(provider) {
            return d.want_refetch(self.now_ms);
        }
        self.remotes
            .jwks
            .get(provider)
            .is_some_and(|r| r.life.want_refetch(self.now_ms))
    }
}
