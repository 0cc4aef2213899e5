//! The core's answer for one request: let it through with header edits, or deny it with a response.

use crate::extractor::{Found, Source};
use crate::reason::Reason;
use crate::request::Request;

/// One change to the request before it goes upstream. Applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    Remove(String),
    Set(String, String),
}

/// What the core decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send upstream after applying `ops` (identity headers set, credentials stripped).
    Allow { ops: Vec<HeaderOp> },
    /// Answer the client directly.
    Deny(Denial),
}

/// A local reply: status, challenge, and a JSON body with a stable reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub reason: Reason,
    /// The `WWW-Authenticate` challenge, if any (RFC 6750 for bearer tokens).
    pub www_authenticate: Option<String>,
}

impl Denial {
    /// The JSON body: `{"error": "...", "reason": "<code>", "message": "..."}`.
    pub fn body(&self) -> String {
        let error = match self.status {
            401 => "unauthorized",
            403 => "forbidden",
            503 => "unavailable",
            _ => "denied",
        };
        serde_json::json!({"error": error, "reason": self.reason.code(), "message": self.reason.description()}).to_string()
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
        if self.status == 503 {
            h.push(("retry-after".to_string(), "5".to_string()));
        }
        h
    }
}

/// Collects what must change before a request goes upstream, then turns it into [`HeaderOp`]s.
/// Credential stripping is deferred to `finish` so that several strips of one `:path` or `cookie`
/// header compose.
#[derive(Debug, Default, Clone)]
pub struct Edits {
    remove: Vec<String>,
    set: Vec<(String, String)>,
    strip: Vec<Source>,
}

impl Edits {
    /// Removes a header (e.g. a client-supplied copy of an identity header), if the request has it.
    pub fn remove(&mut self, name: &str) {
        if !self.remove.iter().any(|n| n == name) {
            self.remove.push(name.to_string());
        }
    }

    /// Sets a header (after all removals).
    pub fn set(&mut self, name: &str, value: String) {
        self.set.push((name.to_string(), value));
    }

    /// Strips a credential from every place it was found.
    pub fn strip(&mut self, places: &[Found]) {
        for f in places {
            if !self.strip.contains(&f.source) {
                self.strip.push(f.source.clone());
            }
        }
    }

    /// The header operations, in order: credential strips, removals, then sets.
    pub fn finish(self, req: &Request) -> Vec<HeaderOp> {
        let mut ops = Vec::new();
        let mut path = req.path.clone();
        let mut cookies: Vec<String> = req.header_values("cookie").map(str::to_string).collect();
        let (mut path_changed, mut cookies_changed) = (false, false);
        for source in &self.strip {
            match source {
                Source::Header { name, .. } => ops.push(HeaderOp::Remove(name.clone())),
                Source::Query { name } => {
                    path = Request::path_without_query_param(&path, name);
                    path_changed = true;
                }
                Source::Cookie { name } => {
                    cookies = cookies
                        .iter()
                        .filter_map(|c| Request::cookie_header_without(c, name))
                        .collect();
                    cookies_changed = true;
                }
            }
        }
        if path_changed && path != req.path {
            ops.push(HeaderOp::Set(":path".to_string(), path));
        }
        if cookies_changed {
            ops.push(HeaderOp::Remove("cookie".to_string()));
            if !cookies.is_empty() {
                ops.push(HeaderOp::Set("cookie".to_string(), cookies.join("; ")));
            }
        }
        // Removing a header the request does not carry is a wasted host call on every request.
        ops.extend(
            self.remove
                .into_iter()
                .filter(|n| req.header(n).is_some())
                .map(HeaderOp::Remove),
        );
        ops.extend(self.set.into_iter().map(|(k, v)| HeaderOp::Set(k, v)));
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_json_with_reason() {
        let d = Denial {
            status: 401,
            reason: Reason::Missing,
            www_authenticate: None,
        };
        let v: serde_json::Value = serde_json::from_str(&d.body()).unwrap_or_default();
        assert_eq!(v["reason"], "missing");
        assert_eq!(v["error"], "unauthorized");
    }

    #[test]
    fn strips_compose() {
        let req = Request::from_headers(vec![
            (":path".into(), "/a?k=1&t=2&x=3".into()),
            ("cookie".into(), "s=1; at=2".into()),
            ("x-edgeguard-key-id".into(), "spoofed".into()),
        ]);
        let mut e = Edits::default();
        e.remove("x-not-present");
        assert_eq!(
            e.clone().finish(&req),
            vec![],
            "absent headers need no removal"
        );
        let mut e = Edits::default();
        let q = |n: &str| Found {
            value: "v".into(),
            source: Source::Query { name: n.into() },
        };
        e.strip(&[q("k")]);
        e.strip(&[
            q("t"),
            Found {
                value: "v".into(),
                source: Source::Cookie { name: "at".into() },
            },
        ]);
        e.remove("x-edgeguard-key-id");
        e.set("x-edgeguard-key-id", "ios".into());
        assert_eq!(
            e.finish(&req),
            vec![
                HeaderOp::Set(":path".into(), "/a?x=3".into()),
                HeaderOp::Remove("cookie".into()),
                HeaderOp::Set("cookie".into(), "s=1".into()),
                HeaderOp::Remove("x-edgeguard-key-id".into()),
                HeaderOp::Set("x-edgeguard-key-id".into(), "ios".into()),
            ]
        );
    }
}
