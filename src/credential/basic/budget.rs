//! The per-VM budget of slow password verifications: a token bucket of `rate` tokens, refilled by
//! `rate` per second of the host clock (whole seconds: the core sees seconds), so at most about
//! `rate` slow hashes run on one worker per second; beyond it a request is answered 503
//! `basic_auth_busy` instead of occupying the worker.

/// A token bucket on an injected clock (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    rate: u32,
    tokens: u32,
    /// The second of the last refill; `None` before the first use (the bucket starts full).
    at: Option<u64>,
}

impl Budget {
    /// A full bucket of `rate` (at least 1) tokens.
    pub fn new(rate: u32) -> Self {
        let rate = rate.max(1);
        Budget {
            rate,
            tokens: rate,
            at: None,
        }
    }

    /// Takes one token at `now` (seconds): false when the bucket is empty.
    pub fn take(&mut self, now: u64) -> bool {
        let elapsed = match self.at {
            Some(at) => now.saturating_sub(at),
            None => 0,
        };
        if self.at.is_none() || elapsed > 0 {
            let refill = u64::from(self.rate).saturating_mul(elapsed);
            let tokens = u64::from(self.tokens)
                .saturating_add(refill)
                .min(self.rate.into());
            self.tokens = u32::try_from(tokens).unwrap_or(self.rate);
            self.at = Some(now);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_then_refills_per_second() {
        let mut b = Budget::new(2);
        assert!(b.take(100) && b.take(100));
        assert!(!b.take(100), "empty within the second");
        assert!(
            b.take(101) && b.take(101) && !b.take(101),
            "refilled, to at most the rate"
        );
        assert!(
            b.take(200) && b.take(200) && !b.take(200),
            "a long pause refills no more than rate"
        );
        assert!(!b.take(150), "a clock going back refills nothing");
        let mut one = Budget::new(0);
        assert!(one.take(0) && !one.take(0), "at least one token");
    }
}
