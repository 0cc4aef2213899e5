//! Where a credential is looked for (header, query parameter, cookie) and how it is read. Shared by
//! API keys and JWT providers. Stripping is not decided here: every configured place is stripped
//! (in every spelling, see `decision::Edits::strip`) unless it held a verified credential whose
//! forwarding is configured (see `engine`).

use crate::config_error::ConfigError;
use crate::request::Request;

/// One place a credential may be presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A request header; with a prefix (e.g. `Bearer `) only values that start with it (case-insensitively)
    /// count, and the prefix is cut off.
    Header {
        name: String,
        prefix: Option<String>,
    },
    /// A query parameter, percent-decoded.
    Query { name: String },
    /// A cookie.
    Cookie { name: String },
}

/// The JSON form: `{"header": "authorization", "prefix": "Bearer "}`, `{"query": "api_key"}`, `{"cookie": "at"}`.
#[derive(Debug)]
pub struct SourceConfig {
    header: Option<String>,
    query: Option<String>,
    cookie: Option<String>,
    prefix: Option<String>,
}

from_json_struct!(SourceConfig {
    header,
    query,
    cookie,
    prefix,
});

impl SourceConfig {
    /// Validates the JSON form; `field` is the config path used in error messages.
    pub fn validate(self, field: &str) -> Result<Source, ConfigError> {
        let err = |problem: &str| Err(ConfigError::new(field, problem));
        let source = match (self.header, self.query, self.cookie) {
            (Some(h), None, None) => {
                if !is_header_name(&h) {
                    return err("header must be a lowercase-insensitive HTTP header name (letters, digits, '-', '_')");
                }
                Source::Header {
                    name: h.to_ascii_lowercase(),
                    prefix: self.prefix.clone().filter(|p| !p.is_empty()),
                }
            }
            (None, Some(q), None) if !q.is_empty() => Source::Query { name: q },
            (None, None, Some(c)) if !c.is_empty() && !c.contains([';', '=', ' ']) => {
                Source::Cookie { name: c }
            }
            (None, None, None) => {
                return err("must name one of \"header\", \"query\" or \"cookie\"")
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return err(
                    "name must be non-empty (cookie names must not contain ';', '=' or spaces)",
                )
            }
            _ => return err("must name exactly one of \"header\", \"query\" or \"cookie\""),
        };
        if self.prefix.is_some() && !matches!(source, Source::Header { .. }) {
            return err("\"prefix\" is only allowed with \"header\"");
        }
        Ok(source)
    }
}

/// Validates a list of sources, defaulting to `default` when the list is absent. An empty list is an
/// error: a credential that can be presented nowhere would make every request fail.
pub fn validate_sources(
    list: Option<Vec<SourceConfig>>,
    field: &str,
    default: Vec<Source>,
) -> Result<Vec<Source>, ConfigError> {
    let Some(list) = list else { return Ok(default) };
    if list.is_empty() {
        return Err(ConfigError::new(field, "must list at least one source"));
    }
    let sources = list
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.validate(&format!("{field}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sources)
}

/// A header name as edgeguard sets it upstream: lowercase letters, digits, `-`, `_`.
pub(crate) fn is_lowercase_header_name(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_header_name(h: &str) -> bool {
    !h.is_empty()
        && !h.starts_with(':')
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A credential value found in the request, with where it was found (to strip it later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: String,
    pub source: Source,
}

/// What looking for a credential produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extraction {
    /// Nothing in any configured place.
    Absent,
    /// One distinct value (possibly presented in several places: all are listed).
    One(Vec<Found>),
    /// Different values in different places: fail closed rather than pick one.
    Ambiguous(Vec<Found>),
}

/// Looks for a credential in every configured source.
pub fn extract(sources: &[Source], req: &Request) -> Extraction {
    let mut found = Vec::new();
    for source in sources {
        match source {
            Source::Header { name, prefix } => {
                for v in req.header_values(name) {
                    let value = match prefix {
                        None => Some(v.trim()),
                        Some(p) => strip_prefix_ignore_case(v.trim_start(), p).map(str::trim),
                    };
                    if let Some(value) = value.filter(|v| !v.is_empty()) {
                        found.push(Found {
                            value: value.to_string(),
                            source: source.clone(),
                        });
                    }
                }
            }
            Source::Query { name } => {
                for value in req.query_values(name).into_iter().filter(|v| !v.is_empty()) {
                    found.push(Found {
                        value,
                        source: source.clone(),
                    });
                }
            }
            Source::Cookie { name } => {
                for value in req
                    .cookie_values(name)
                    .into_iter()
                    .filter(|v| !v.is_empty())
                {
                    found.push(Found {
                        value: value.to_string(),
                        source: source.clone(),
                    });
                }
            }
        }
    }
    match found.first() {
        None => Extraction::Absent,
        Some(first) if found.iter().all(|f| f.value == first.value) => Extraction::One(found),
        Some(_) => Extraction::Ambiguous(found),
    }
}

fn strip_prefix_ignore_case<'a>(v: &'a str, prefix: &str) -> Option<&'a str> {
    let head = v.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| v.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut h = vec![
            (":method".into(), "GET".into()),
            (":path".into(), path.into()),
        ];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    }

    fn bearer() -> Source {
        Source::Header {
            name: "authorization".into(),
            prefix: Some("Bearer ".into()),
        }
    }

    #[test]
    fn header_with_prefix() {
        let r = req("/", &[("Authorization", "bearer abc")]);
        assert!(matches!(extract(&[bearer()], &r), Extraction::One(f) if f[0].value == "abc"));
        let r = req("/", &[("authorization", "Basic abc")]);
        assert_eq!(extract(&[bearer()], &r), Extraction::Absent);
        let r = req("/", &[("authorization", "Bearer ")]);
        assert_eq!(extract(&[bearer()], &r), Extraction::Absent);
    }

    #[test]
    fn same_value_twice_is_one_different_is_ambiguous() {
        let q = Source::Query { name: "k".into() };
        let h = Source::Header {
            name: "x-api-key".into(),
            prefix: None,
        };
        let r = req("/?k=v", &[("x-api-key", "v")]);
        assert!(matches!(extract(&[h.clone(), q.clone()], &r), Extraction::One(f) if f.len() == 2));
        let r = req("/?k=w", &[("x-api-key", "v")]);
        assert!(matches!(extract(&[h, q], &r), Extraction::Ambiguous(_)));
    }

    #[test]
    fn config_validation() {
        let parse = |j: &str| {
            crate::config_json::parse::<SourceConfig>(j.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate("from[0]").map_err(|e| e.to_string()))
        };
        assert_eq!(
            parse(r#"{"header":"X-Api-Key"}"#),
            Ok(Source::Header {
                name: "x-api-key".into(),
                prefix: None
            })
        );
        assert!(parse(r#"{"header":"a","query":"b"}"#).is_err());
        assert!(parse(r#"{"query":"a","prefix":"b"}"#).is_err());
        assert!(parse(r#"{}"#).unwrap_err().contains("from[0]"));
        assert!(parse(r#"{"header":":path"}"#).is_err());
        assert!(parse(r#"{"heder":"x"}"#).is_err());
    }
}
