//! Post-authentication checks: what a request must also pass once its rule's requirement is met
//! (rate limits, sender binding), on the identities that met it.
//!
//! # Contract
//! - A rule names its checks ([`Checks`]); the engine runs them, in order, after the requirement
//!   granted (with no identities for an anonymous rule), and never for a denied requirement.
//! - Each returns a [`Stage`]: `Pass` goes on to the next check, `Deny` answers with its
//!   [`Denial`] as it is (status, error word, reason, challenge, `retry-after`), `Wait` pauses the
//!   request until its needs are met. The first check that does not pass ends the stage: later
//!   checks are not run, so a check with effects (a counter) runs only for requests every earlier
//!   check passed.
//! - A paused request is checked again from the start when it resumes, so a check must give the
//!   same answer when run again for the same request (count a request once, not once per run).

use crate::credential::Identity;
use crate::decision::Denial;
use crate::need::Need;
use crate::request::Request;
use std::fmt;
use std::rc::Rc;

/// What a check decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Go on (to the next check, or allow).
    Pass,
    /// Answer the client with this denial.
    Deny(Denial),
    /// Pause the request until these needs are met (or failed), then check it again.
    Wait(Vec<Need>),
}

/// What a check sees.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The identities that met the requirement (none for an anonymous rule).
    pub identities: &'a [Identity],
    pub request: &'a Request,
    /// Seconds since the epoch, from the host.
    pub now: u64,
}

/// One check a rule runs after its requirement is met.
pub trait RuleCheck: fmt::Debug {
    fn apply(&self, input: &Input<'_>) -> Stage;
}

/// A rule's checks, in order. Two lists are equal when they hold the very same checks.
#[derive(Debug, Clone, Default)]
pub struct Checks(Vec<Rc<dyn RuleCheck>>);

impl Checks {
    pub fn push(&mut self, check: Rc<dyn RuleCheck>) {
        self.0.push(check);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn RuleCheck> {
        self.0.iter().map(|c| c.as_ref())
    }
}

impl PartialEq for Checks {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| Rc::ptr_eq(a, b))
    }
}

/// Runs `checks` in order: the first that does not pass decides; all passing is `Pass`.
pub fn run<'a>(checks: impl IntoIterator<Item = &'a dyn RuleCheck>, input: &Input<'_>) -> Stage {
    for check in checks {
        match check.apply(input) {
            Stage::Pass => {}
            other => return other,
        }
    }
    Stage::Pass
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decision::ErrorWord;
    use crate::reason::Reason;
    use std::cell::Cell;

    /// A check that always answers `stage`, counting its runs.
    #[derive(Debug)]
    pub(crate) struct Fixed {
        pub stage: Stage,
        pub runs: Cell<u32>,
    }

    impl Fixed {
        pub(crate) fn new(stage: Stage) -> Rc<Fixed> {
            Rc::new(Fixed {
                stage,
                runs: Cell::new(0),
            })
        }
    }

    impl RuleCheck for Fixed {
        fn apply(&self, _: &Input<'_>) -> Stage {
            self.runs.set(self.runs.get() + 1);
            self.stage.clone()
        }
    }

    /// A 429 as a rate limit would answer it.
    pub(crate) fn too_many() -> Denial {
        Denial {
            status: 429,
            error: ErrorWord::TooManyRequests,
            reason: Reason::NoMatchingRule,
            www_authenticate: None,
            retry_after: Some(7),
        }
    }

    #[test]
    fn the_first_check_that_does_not_pass_decides() {
        let req = Request::from_headers(vec![(":path".into(), "/".into())]);
        let input = Input {
            identities: &[],
            request: &req,
            now: 0,
        };
        let pass = Fixed::new(Stage::Pass);
        let deny = Fixed::new(Stage::Deny(too_many()));
        let wait = Fixed::new(Stage::Wait(vec![Need::KeySet("idp".into())]));
        let list = |cs: &[&Rc<Fixed>]| {
            let mut checks = Checks::default();
            for c in cs {
                checks.push(Rc::clone(c) as Rc<dyn RuleCheck>);
            }
            checks
        };
        assert_eq!(run(list(&[]).iter(), &input), Stage::Pass);
        assert_eq!(run(list(&[&pass, &pass]).iter(), &input), Stage::Pass);
        assert_eq!(
            run(list(&[&pass, &deny, &wait]).iter(), &input),
            Stage::Deny(too_many())
        );
        assert_eq!(wait.runs.get(), 0, "a check after a denial is not run");
        assert_eq!(
            run(list(&[&wait, &deny]).iter(), &input),
            Stage::Wait(vec![Need::KeySet("idp".into())])
        );
        assert_eq!((pass.runs.get(), deny.runs.get()), (3, 1));
        assert_eq!(list(&[&pass]), list(&[&pass]));
        assert_ne!(list(&[&pass]), list(&[&deny]));
    }
}
