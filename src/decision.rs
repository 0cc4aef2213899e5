//! The core's answer for one request: let it through with header edits, or deny it with a response.

use crate::extractor::Source;
use crate::reason::Reason;
use crate::request::Request;
use crate::spelling::{header_key, param_key, same_header};
use std::borrow::Cow;

/// One change to the request before it goes upstream. Applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    Remove(String),
    Set(String, String),
    /// A value that is not UTF-8 (a cookie header whose other cookies carry such bytes).
    SetBytes(String, Vec<u8>),
}

/// What the core decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send upstream after applying `ops` (identity headers set, credentials stripped).
    Allow { ops: Vec<HeaderOp> },
    /// Answer the client directly.
    Deny(Denial),
}

/// The word in a denial body's `error` member: what kind of refusal it is, whatever its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorWord {
    /// 401: no valid credential.
    Unauthorized,
    /// 403: a valid credential without the rights, or no rule allows the request.
    Forbidden,
    /// 429: too many requests for this caller.
    TooManyRequests,
    /// 503: a dependency (a key set, an authorization server) cannot answer now.
    Unavailable,
    /// 400: the request itself is refused (path, host, method).
    Denied,
}

impl ErrorWord {
    /// The word as it appears in the body (public contract).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorWord::Unauthorized => "unauthorized",
            ErrorWord::Forbidden => "forbidden",
            ErrorWord::TooManyRequests => "too_many_requests",
            ErrorWord::Unavailable => "unavailable",
            ErrorWord::Denied => "denied",
        }
    }
}

/// A local reply: status, the kind of refusal, a stable reason code, and the headers that go with
/// them (a challenge, `retry-after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub error: ErrorWord,
    pub reason: Reason,
    /// The `WWW-Authenticate` challenge, if any (RFC 6750 for bearer tokens).
    pub www_authenticate: Option<String>,
    /// Seconds for `retry-after` (429 and 503).
    pub retry_after: Option<u32>,
}

/// Seconds a client is told to wait after a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u32 = 5;

impl Denial {
    /// `400`: the request cannot be read one way (`bad_path`, `bad_host`, ...).
    pub fn bad_request(reason: Reason) -> Self {
        Denial::new(400, ErrorWord::Denied, reason)
    }

    /// `401` with a challenge.
    pub fn unauthorized(reason: Reason, challenge: String) -> Self {
        Denial {
            www_authenticate: Some(challenge),
            ..Denial::new(401, ErrorWord::Unauthorized, reason)
        }
    }

    /// `403`, with a challenge when a credential lacks rights.
    pub fn forbidden(reason: Reason, challenge: Option<String>) -> Self {
        Denial {
            www_authenticate: challenge,
            ..Denial::new(403, ErrorWord::Forbidden, reason)
        }
    }

    /// `503` with `retry-after`: a dependency could not answer; the client did nothing wrong.
    pub fn unavailable(reason: Reason) -> Self {
        Denial {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            ..Denial::new(503, ErrorWord::Unavailable, reason)
        }
    }

    fn new(status: u16, error: ErrorWord, reason: Reason) -> Self {
        Denial {
            status,
            error,
            reason,
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// The JSON body: `{"error": "...", "reason": "<code>", "message": "..."}`.
    pub fn body(&self) -> String {
        serde_json::json!({"error": self.error.as_str(), "reason": self.reason.code(), "message": self.reason.description()}).to_string()
    }

    /// Response headers for the local reply.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("cache-control".to_string(), "no-store".to_string()),
        ];
        if let Some(c) = &self.www_authenticate {
            h.push(("www-authenticate".to_string(), c.clone()));
        }
        if let Some(s) = self.retry_after {
            h.push(("retry-after".to_string(), s.to_string()));
        }
        h
    }
}

/// A name owned in every spelling: every request header, query parameter or cookie whose folded
/// name (see [`crate::spelling`]) is `key` is removed, except one spelled exactly `keep`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned<'a> {
    key: Cow<'a, str>,
    keep: Option<&'a str>,
}

fn own<'a>(list: &mut Vec<Owned<'a>>, key: Cow<'a, str>, keep: Option<&'a str>) {
    match list.iter_mut().find(|o| o.key == key) {
        // Two claims on one name: it is kept only if both keep the same spelling.
        Some(o) => {
            if o.keep != keep {
                o.keep = None;
            }
        }
        None => list.push(Owned { key, keep }),
    }
}

/// `name` folded by `fold`, borrowed when folding changes nothing (configured names usually are).
fn folded<'a>(name: &'a str, is_folded: fn(u8) -> bool, fold: fn(&str) -> String) -> Cow<'a, str> {
    if name.bytes().all(is_folded) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(fold(name))
    }
}

fn header_folded(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

fn param_folded(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
}

/// Selects the names `list` owns: `fold` maps a request's spelling to its folded key.
fn owned_drop<'a, F: Fn(&str) -> String + 'a>(
    list: &'a [Owned<'a>],
    fold: F,
) -> impl Fn(&str) -> bool + 'a {
    move |name: &str| {
        let key = fold(name);
        list.iter().any(|o| o.key == key && o.keep != Some(name))
    }
}

/// Collects what must change before a request goes upstream, then turns it into [`HeaderOp`]s:
/// a rewritten path, names removed in every spelling (headers, query parameters, cookies), and
/// headers set. Deferred to `finish` so that several strips of one `:path` or `cookie` compose.
#[derive(Debug, Default, Clone)]
pub struct Edits<'a> {
    path: Option<String>,
    /// Folded header names removed in every spelling, prepared once per configuration.
    always: &'a [String],
    headers: Vec<Owned<'a>>,
    params: Vec<Owned<'a>>,
    cookies: Vec<Owned<'a>>,
    set: Vec<(String, String)>,
}

impl<'a> Edits<'a> {
    /// Edits that remove every spelling of the `always` headers (folded names, see
    /// [`crate::spelling::header_key`]) from the request.
    pub fn removing(always: &'a [String]) -> Self {
        Edits {
            always,
            ..Edits::default()
        }
    }

    /// Removes every spelling of header `name` (case; any non-alphanumeric byte for `-`) the
    /// request carries.
    pub fn remove(&mut self, name: &'a str) {
        own(
            &mut self.headers,
            folded(name, header_folded, header_key),
            None,
        );
    }

    /// Sets a header (after all removals).
    pub fn set(&mut self, name: &str, value: String) {
        self.set.push((name.to_string(), value));
    }

    /// Replaces the path (the query is kept).
    pub fn rewrite_path(&mut self, path: String) {
        self.path = Some(path);
    }

    /// Strips every spelling of a credential source; `keep` keeps the exact source (a verified
    /// credential whose forwarding is configured) while its other spellings still go.
    pub fn strip(&mut self, source: &'a Source, keep: bool) {
        match source {
            Source::Header { name, .. } => own(
                &mut self.headers,
                folded(name, header_folded, header_key),
                keep.then_some(name.as_str()),
            ),
            Source::Query { name } => own(
                &mut self.params,
                folded(name, param_folded, param_key),
                keep.then_some(name.as_str()),
            ),
            Source::Cookie { name } => own(
                &mut self.cookies,
                folded(name, param_folded, param_key),
                keep.then_some(name.as_str()),
            ),
        }
    }

    /// Removes every spelling of query parameter `name`.
    pub fn strip_param(&mut self, name: &'a str) {
        own(
            &mut self.params,
            folded(name, param_folded, param_key),
            None,
        );
    }

    /// The header operations, in order: path, cookies, removals, then sets.
    pub fn finish(self, req: &Request) -> Vec<HeaderOp> {
        let mut ops = Vec::new();
        let base = self.path.as_deref().unwrap_or(req.path_only());
        let query = match req.query() {
            Some(q) if !self.params.is_empty() => {
                Request::query_without(q, owned_drop(&self.params, param_key))
            }
            q => q.map(str::to_string),
        };
        let path = match query {
            Some(q) => format!("{base}?{q}"),
            None => base.to_string(),
        };
        if path != req.path {
            ops.push(HeaderOp::Set(":path".to_string(), path));
        }
        if !self.cookies.is_empty() {
            let drop = owned_drop(&self.cookies, param_key);
            let mut changed = false;
            let mut kept: Vec<Vec<u8>> = Vec::new();
            for (i, (k, _)) in req.headers.iter().enumerate() {
                if !k.eq_ignore_ascii_case("cookie") {
                    continue;
                }
                let before = req.value_bytes(i);
                let after = Request::cookie_without(before, &drop);
                changed |= after.as_deref() != Some(before);
                kept.extend(after);
            }
            if changed {
                ops.push(HeaderOp::Remove("cookie".to_string()));
                if !kept.is_empty() {
                    let joined = kept.join(&b"; "[..]);
                    ops.push(match String::from_utf8(joined) {
                        Ok(s) => HeaderOp::Set("cookie".to_string(), s),
                        Err(e) => HeaderOp::SetBytes("cookie".to_string(), e.into_bytes()),
                    });
                }
            }
        }
        // Compared without allocating: `same_header` folds both sides.
        let drop = |name: &str| {
            self.always.iter().any(|k| same_header(k, name))
                || self
                    .headers
                    .iter()
                    .any(|o| same_header(&o.key, name) && o.keep != Some(name))
        };
        let mut removed: Vec<&str> = Vec::new();
        for (k, _) in &req.headers {
            if !k.starts_with(':') && drop(k) && !removed.iter().any(|r| r.eq_ignore_ascii_case(k))
            {
                removed.push(k);
            }
        }
        ops.extend(removed.into_iter().map(|k| HeaderOp::Remove(k.to_string())));
        ops.extend(self.set.into_iter().map(|(k, v)| HeaderOp::Set(k, v)));
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_json_with_reason() {
        let d = Denial::unauthorized(Reason::Missing, "ApiKey realm=\"x\"".into());
        let v: serde_json::Value = serde_json::from_str(&d.body()).unwrap_or_default();
        assert_eq!(v["reason"], "missing");
        assert_eq!(v["error"], "unauthorized");
    }

    #[test]
    fn strips_compose() {
        let req = Request::from_headers(vec![
            (":path".into(), "/a?k=1&t=2&x=3&K=4&t.x=5".into()),
            ("cookie".into(), "s=1; at=2".into()),
            ("x-edgeguard-key-id".into(), "spoofed".into()),
            ("x_edgeguard_key_id".into(), "spoofed".into()),
            ("x-api-key".into(), "kept".into()),
            ("x_api_key".into(), "spelling".into()),
        ]);
        let mut e = Edits::default();
        e.remove("x-not-present");
        assert_eq!(
            e.clone().finish(&req),
            vec![],
            "absent headers need no removal"
        );
        let sources = [
            Source::Query { name: "k".into() },
            Source::Query { name: "t_x".into() },
            Source::Cookie { name: "at".into() },
            Source::Header {
                name: "x-api-key".into(),
                prefix: None,
            },
        ];
        let mut e = Edits::default();
        for s in &sources {
            e.strip(s, matches!(s, Source::Header { .. }));
        }
        e.remove("x-edgeguard-key-id");
        e.set("x-edgeguard-key-id", "ios".into());
        assert_eq!(
            e.finish(&req),
            vec![
                HeaderOp::Set(":path".into(), "/a?t=2&x=3".into()),
                HeaderOp::Remove("cookie".into()),
                HeaderOp::Set("cookie".into(), "s=1".into()),
                HeaderOp::Remove("x-edgeguard-key-id".into()),
                HeaderOp::Remove("x_edgeguard_key_id".into()),
                HeaderOp::Remove("x_api_key".into()),
                HeaderOp::Set("x-edgeguard-key-id".into(), "ios".into()),
            ]
        );
    }

    #[test]
    fn cookie_strip_keeps_other_bytes() {
        let req = Request::from_host(
            vec![
                (":path".into(), b"/".to_vec()),
                ("cookie".into(), b"a=\xff\x01; at=tok; b=2".to_vec()),
            ],
            true,
        );
        let at = Source::Cookie { name: "at".into() };
        let mut e = Edits::default();
        e.strip(&at, false);
        assert_eq!(
            e.finish(&req),
            vec![
                HeaderOp::Remove("cookie".into()),
                HeaderOp::SetBytes("cookie".into(), b"a=\xff\x01; b=2".to_vec()),
            ]
        );
    }
}
