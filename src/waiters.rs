//! Requests paused until what they need is loaded (or has failed), and which of them to check again.
//!
//! A waiter records its [`Need`]s: when a resource changes, only the requests that need it are
//! re-checked; a request that waited longer than the plugin allows gets its last attempt, in which
//! anything still loading counts as unavailable (503).
//!
//! A request whose client left is not tracked here (the ABI layer exports no end-of-stream
//! callback): when it is due, the host refuses to enter its stream and it is dropped; it stays at
//! most the longest wait.

use crate::need::Need;

/// Which check of a request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// On the request headers: the request is not paused yet.
    First,
    /// A paused request re-checked (paused at `since_ms`): it must be resumed or answered.
    Resumed { since_ms: u64 },
    /// A paused request that may wait no longer: resources still loading count as unavailable.
    Last { since_ms: u64 },
}

impl Attempt {
    /// When the request was first paused, if it was.
    pub fn paused_since(self) -> Option<u64> {
        match self {
            Attempt::First => None,
            Attempt::Resumed { since_ms } | Attempt::Last { since_ms } => Some(since_ms),
        }
    }

    pub fn is_last(self) -> bool {
        matches!(self, Attempt::Last { .. })
    }
}

/// A paused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    pub context_id: u32,
    /// The request's headers ended its stream (no body): a resumed check must see the same.
    pub end_of_stream: bool,
    pub since_ms: u64,
    /// What the request waits for.
    pub needs: Vec<Need>,
}

/// The paused requests of one VM.
#[derive(Debug, Default)]
pub struct Waiters {
    list: Vec<Waiter>,
    /// Longest a request may wait before its last attempt.
    max_wait_ms: u64,
}

impl Waiters {
    pub fn new(max_wait_ms: u64) -> Self {
        Waiters {
            list: Vec::new(),
            max_wait_ms,
        }
    }

    pub fn park(&mut self, waiter: Waiter) {
        self.list.push(waiter);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn overdue(&self, w: &Waiter, now_ms: u64) -> bool {
        now_ms.saturating_sub(w.since_ms) > self.max_wait_ms
    }

    /// True when some request has waited too long.
    pub fn any_overdue(&self, now_ms: u64) -> bool {
        self.list.iter().any(|w| self.overdue(w, now_ms))
    }

    /// Takes out the requests to check again — those that need something in `changed`, and those
    /// overdue — each with its attempt. The others keep waiting.
    pub fn take_due(&mut self, now_ms: u64, changed: &[Need]) -> Vec<(Waiter, Attempt)> {
        let all = std::mem::take(&mut self.list);
        let mut due = Vec::new();
        for w in all {
            let since_ms = w.since_ms;
            if self.overdue(&w, now_ms) {
                due.push((w, Attempt::Last { since_ms }));
            } else if w.needs.iter().any(|n| changed.contains(n)) {
                due.push((w, Attempt::Resumed { since_ms }));
            } else {
                self.list.push(w);
            }
        }
        due
    }

    /// Moves the waiters of a replaced configuration here: they are re-checked under this one.
    pub fn adopt(&mut self, old: &mut Waiters) {
        self.list.append(&mut old.list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: u32, since: u64, need: &str) -> Waiter {
        Waiter {
            context_id: id,
            end_of_stream: true,
            since_ms: since,
            needs: vec![Need::KeySet(need.into())],
        }
    }

    #[test]
    fn only_the_waiters_of_what_changed_are_resumed() {
        let mut ws = Waiters::new(1000);
        ws.park(w(1, 0, "a"));
        ws.park(w(2, 0, "b"));
        let due = ws.take_due(500, &[Need::KeySet("b".into())]);
        assert_eq!(
            due.iter()
                .map(|(w, a)| (w.context_id, *a))
                .collect::<Vec<_>>(),
            [(2, Attempt::Resumed { since_ms: 0 })]
        );
        assert!(ws.take_due(600, &[]).is_empty());
        // Overdue: a last attempt, whatever changed.
        assert!(ws.any_overdue(1001));
        let due = ws.take_due(1001, &[]);
        assert_eq!(
            due.first().map(|(_, a)| *a),
            Some(Attempt::Last { since_ms: 0 })
        );
        assert!(ws.is_empty());
    }
}
