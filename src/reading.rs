//! The one reading of a request that edgeguard decides on — and forwards.
//!
//! A request is read by edgeguard, then by Envoy's router, then by the upstream's framework. Before
//! any rule is matched, [`read`] settles what the later readers will act on, and either makes the
//! request say exactly that or refuses it (400):
//! - **path**: the canonical form ([`crate::path`]); a non-canonical path is refused (`bad_path`) or
//!   rewritten (`"path": {"non_canonical": "rewrite"}`);
//! - **host**: one strictly parsed authority ([`crate::authority`]), else `bad_host`;
//! - **method**: an uppercase token (`GET`, `M-SEARCH`); `get` is refused (`bad_method`): methods are
//!   case-sensitive, yet rules compare them ignoring case and some upstreams uppercase them. Override headers (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`, in
//!   any spelling) and the `_method` query parameter make Rails, Laravel/Symfony or ASP.NET run a
//!   method the rules never saw: refused (`method_override`, the default) or stripped;
//! - **forwarded routing headers** (`X-Forwarded-Host`, `Forwarded`, `X-Original-URL`, `X-Rewrite-URL`,
//!   `X-Forwarded-Prefix`, `X-Original-Host`, `X-Host`): frameworks let them replace the host or the
//!   path; removed unless `"forwarded_headers": "trust"` (an edge proxy in front sets them).

use crate::authority;
use crate::config_error::ConfigError;
use crate::config_json::{At, FromJson, Obj};
use crate::decision::Edits;
use crate::path::{self, NonCanonical};
use crate::reason::Reason;
use crate::request::Request;
use crate::spelling::{param_key, same_header};
use serde_json::Value;
use std::borrow::Cow;

/// Headers that make a framework run another method.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The query parameter Rails and Laravel read as the method.
pub const METHOD_OVERRIDE_PARAM: &str = "_method";

/// Headers that frameworks let replace the request's host or path.
pub const FORWARDED_HEADERS: [&str; 7] = [
    "x-forwarded-host",
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-prefix",
    "x-original-host",
    "x-host",
];

/// What to do with a method override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MethodOverride {
    /// `400 method_override`.
    #[default]
    Reject,
    /// Remove the headers and the query parameter; the rules see the real method.
    Strip,
}

/// What to do with client-sent forwarded routing headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeaders {
    /// Removed in every spelling.
    #[default]
    Strip,
    /// Kept: an edge proxy in front of this Envoy sets them and removes client copies.
    Trust,
}

/// How path rules treat case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseMatch {
    /// The request must satisfy both the rule matched case-sensitively and the rule matched
    /// ASCII-case-insensitively: an upstream router that folds case (Express, ASP.NET Core) and
    /// one that does not both get a request the rules allowed for their reading.
    #[default]
    Strict,
    /// Rules match case-insensitively only.
    Insensitive,
    /// Rules match case-sensitively only: for deployments where Envoy's routes and every upstream
    /// are case-sensitive.
    Sensitive,
}

/// The `path` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathPolicy {
    pub non_canonical: NonCanonical,
    pub case: CaseMatch,
}

/// Everything that decides how a request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadingPolicy {
    pub path: PathPolicy,
    pub method_override: MethodOverride,
    pub forwarded_headers: ForwardedHeaders,
}

impl FromJson for NonCanonical {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match crate::config_json::variant(v, at, &["reject", "rewrite"])? {
                0 => NonCanonical::Reject,
                _ => NonCanonical::Rewrite,
            },
        )
    }
}

impl FromJson for CaseMatch {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match crate::config_json::variant(v, at, &["strict", "insensitive", "sensitive"])? {
                0 => CaseMatch::Strict,
                1 => CaseMatch::Insensitive,
                _ => CaseMatch::Sensitive,
            },
        )
    }
}

impl FromJson for MethodOverride {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match crate::config_json::variant(v, at, &["reject", "strip"])? {
                0 => MethodOverride::Reject,
                _ => MethodOverride::Strip,
            },
        )
    }
}

impl FromJson for ForwardedHeaders {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match crate::config_json::variant(v, at, &["strip", "trust"])? {
                0 => ForwardedHeaders::Strip,
                _ => ForwardedHeaders::Trust,
            },
        )
    }
}

impl FromJson for PathPolicy {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        let o = Obj::new(v, at, &["non_canonical", "case"])?;
        let d = PathPolicy::default();
        Ok(PathPolicy {
            non_canonical: o.get_or("non_canonical", d.non_canonical)?,
            case: o.get_or("case", d.case)?,
        })
    }
}

/// Headers removed from every request whatever it is (folded names): the forwarded routing headers,
/// unless trusted. The engine adds them to its own always-removed list once, at configuration.
pub fn always_removed(policy: &ReadingPolicy) -> &'static [&'static str] {
    match policy.forwarded_headers {
        ForwardedHeaders::Strip => &FORWARDED_HEADERS,
        ForwardedHeaders::Trust => &[],
    }
}

/// The request as every reader after edgeguard will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<'a> {
    pub method: &'a str,
    /// Canonical path (no query).
    pub path: Cow<'a, str>,
    /// Lowercase host without port.
    pub host: String,
}

/// Settles the request's reading (see the module documentation). Edits needed for the request to
/// say what was read (a rewritten path, stripped headers) go into `edits`; a request that cannot be
/// read one way is refused with the reason.
pub fn read<'a>(
    req: &'a Request,
    policy: &ReadingPolicy,
    edits: &mut Edits,
) -> Result<Reading<'a>, Reason> {
    let path = match path::canonicalize(req.path_only()) {
        Err(_) => return Err(Reason::BadPath),
        // A path the host handed over lossily (not UTF-8) cannot be forwarded byte-exact.
        Ok(_) if req.is_raw(":path") => return Err(Reason::BadPath),
        Ok(Cow::Borrowed(p)) => Cow::Borrowed(p),
        Ok(Cow::Owned(p)) => match policy.path.non_canonical {
            NonCanonical::Reject => return Err(Reason::BadPath),
            NonCanonical::Rewrite => {
                edits.rewrite_path(p.clone());
                Cow::Owned(p)
            }
        },
    };
    let method_ok = !req.method.is_empty()
        && req.method.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        });
    if !method_ok {
        return Err(Reason::BadMethod);
    }
    let mut authorities = req
        .headers
        .iter()
        .filter(|(k, _)| k == ":authority" || k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.as_str());
    let first = authorities.next().unwrap_or("");
    if authorities.any(|a| a != first) {
        return Err(Reason::BadHost);
    }
    let host = authority::parse(first).map_err(|_| Reason::BadHost)?.host;
    let override_header = req
        .headers
        .iter()
        .any(|(k, _)| METHOD_OVERRIDE_HEADERS.iter().any(|h| same_header(h, k)));
    let override_param = req.query().is_some_and(|q| {
        q.split(['&', ';'])
            .any(|p| param_key(p.split_once('=').map_or(p, |(k, _)| k)) == METHOD_OVERRIDE_PARAM)
    });
    if override_header || override_param {
        match policy.method_override {
            MethodOverride::Reject => return Err(Reason::MethodOverride),
            MethodOverride::Strip => {
                for h in METHOD_OVERRIDE_HEADERS {
                    edits.remove(h);
                }
                edits.strip_param(METHOD_OVERRIDE_PARAM);
            }
        }
    }
    Ok(Reading {
        method: &req.method,
        path,
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::HeaderOp;

    fn req(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut h = vec![
            (":method".to_string(), "GET".to_string()),
            (":path".to_string(), path.to_string()),
            (":authority".to_string(), "api.test".to_string()),
        ];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    }

    fn run(r: &Request, p: ReadingPolicy) -> Result<(String, Vec<HeaderOp>), Reason> {
        let mut e = Edits::default();
        for h in always_removed(&p) {
            e.remove(h);
        }
        let reading = read(r, &p, &mut e)?;
        let path = reading.path.into_owned();
        Ok((path, e.finish(r)))
    }

    #[test]
    fn paths_reject_or_rewrite() {
        let reject = ReadingPolicy::default();
        let rewrite = ReadingPolicy {
            path: PathPolicy {
                non_canonical: NonCanonical::Rewrite,
                ..PathPolicy::default()
            },
            ..ReadingPolicy::default()
        };
        assert_eq!(
            run(&req("/a/b?x=1", &[]), reject),
            Ok(("/a/b".into(), vec![]))
        );
        assert_eq!(run(&req("/a/../b?x=1", &[]), reject), Err(Reason::BadPath));
        assert_eq!(
            run(&req("/a/../b?x=1", &[]), rewrite),
            Ok((
                "/b".into(),
                vec![HeaderOp::Set(":path".into(), "/b?x=1".into())]
            ))
        );
        assert_eq!(run(&req("/a/..;/b", &[]), rewrite), Err(Reason::BadPath));
    }

    #[test]
    fn host_is_strict_and_single() {
        let p = ReadingPolicy::default();
        assert!(run(&req("/", &[]), p).is_ok());
        let mut r = req("/", &[]);
        for bad in ["api.test:abc", "api.test:443:443", "", "a b", "api.test."] {
            r.headers[2].1 = bad.to_string();
            assert_eq!(run(&r, p), Err(Reason::BadHost), "{bad}");
        }
        assert_eq!(
            run(&req("/", &[("host", "other.test")]), p),
            Err(Reason::BadHost)
        );
        assert!(run(&req("/", &[("host", "api.test")]), p).is_ok());
    }

    #[test]
    fn methods_are_uppercase_tokens() {
        let p = ReadingPolicy::default();
        let mut r = req("/", &[]);
        for (m, ok) in [
            ("GET", true),
            ("M-SEARCH", true),
            ("get", false),
            ("Get", false),
            ("", false),
            ("G T", false),
        ] {
            r.method = m.to_string();
            assert_eq!(run(&r, p).is_ok(), ok, "{m:?}");
            if !ok {
                assert_eq!(run(&r, p), Err(Reason::BadMethod));
            }
        }
    }

    #[test]
    fn method_overrides_and_forwarded_headers() {
        let reject = ReadingPolicy::default();
        for (path, h) in [
            ("/", "x-http-method-override"),
            ("/", "X_HTTP_METHOD"),
            ("/", "x-method-override"),
        ] {
            assert_eq!(
                run(&req(path, &[(h, "DELETE")]), reject),
                Err(Reason::MethodOverride)
            );
        }
        for q in [
            "/?_method=DELETE",
            "/?a=1;_method=PUT",
            "/?_METHOD=x",
            "/?%5Fmethod=x",
        ] {
            assert_eq!(
                run(&req(q, &[]), reject),
                Err(Reason::MethodOverride),
                "{q}"
            );
        }
        let strip = ReadingPolicy {
            method_override: MethodOverride::Strip,
            ..ReadingPolicy::default()
        };
        let (_, ops) = run(
            &req(
                "/?_method=DELETE&a=1",
                &[
                    ("x_http_method_override", "DELETE"),
                    ("x-forwarded-host", "evil"),
                ],
            ),
            strip,
        )
        .unwrap_or_default();
        assert_eq!(
            ops,
            vec![
                HeaderOp::Set(":path".into(), "/?a=1".into()),
                HeaderOp::Remove("x_http_method_override".into()),
                HeaderOp::Remove("x-forwarded-host".into()),
            ]
        );
        let trust = ReadingPolicy {
            forwarded_headers: ForwardedHeaders::Trust,
            ..ReadingPolicy::default()
        };
        let (_, ops) = run(&req("/", &[("x-forwarded-host", "edge")]), trust).unwrap_or_default();
        assert!(ops.is_empty());
    }
}
