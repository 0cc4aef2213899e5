//! The request as the core sees it: copied out of the host once, read many times.

/// An HTTP request's head. Header names are compared case-insensitively (the host lowercases them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `:method`
    pub method: String,
    /// `:path` as received, query included.
    pub path: String,
    /// `:authority` (or `host`), port included if the client sent one.
    pub authority: String,
    /// Every header in arrival order, pseudo-headers included.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Builds a request from the host's header list (pseudo-headers `:method`, `:path`, `:authority`).
    pub fn from_headers(headers: Vec<(String, String)>) -> Self {
        let mut req = Request {
            headers,
            ..Default::default()
        };
        req.method = req.header(":method").unwrap_or_default().to_string();
        req.path = req.header(":path").unwrap_or_default().to_string();
        req.authority = req
            .header(":authority")
            .or_else(|| req.header("host"))
            .unwrap_or_default()
            .to_string();
        req
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p)
    }

    /// The raw query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, q)| q)
    }

    /// Every percent-decoded value of query parameter `name` (the name is compared decoded, too).
    pub fn query_values(&self, name: &str) -> Vec<String> {
        let Some(q) = self.query() else {
            return Vec::new();
        };
        q.split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k).as_deref() == Some(name))
                    .then(|| percent_decode(v))
                    .flatten()
            })
            .collect()
    }

    /// Every value of cookie `name` across all `cookie` headers.
    pub fn cookie_values(&self, name: &str) -> Vec<&str> {
        self.header_values("cookie")
            .flat_map(|h| h.split(';'))
            .filter_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"'))
            })
            .collect()
    }

    /// The `:path` with every query parameter named `name` removed (used to strip credentials).
    pub fn path_without_query_param(path: &str, name: &str) -> String {
        let Some((p, q)) = path.split_once('?') else {
            return path.to_string();
        };
        let kept: Vec<&str> = q
            .split('&')
            .filter(|pair| {
                let k = pair.split_once('=').map_or(*pair, |(k, _)| k);
                percent_decode(k).as_deref() != Some(name)
            })
            .collect();
        if kept.is_empty() {
            p.to_string()
        } else {
            format!("{p}?{}", kept.join("&"))
        }
    }

    /// A `cookie` header value with cookie `name` removed; `None` when nothing is left.
    pub fn cookie_header_without(value: &str, name: &str) -> Option<String> {
        let kept: Vec<&str> = value
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty() && c.split_once('=').is_none_or(|(k, _)| k.trim() != name))
            .collect();
        (!kept.is_empty()).then(|| kept.join("; "))
    }
}

/// Decodes `%XX` escapes (not `+`). `None` for a broken escape or a result that is not UTF-8: a
/// credential we cannot read unambiguously is treated as absent rather than guessed at.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val)?;
            let lo = bytes.get(i + 2).copied().and_then(hex_val)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut h = vec![
            (":method".into(), "GET".into()),
            (":path".into(), path.into()),
            (":authority".into(), "api.test".into()),
        ];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    }

    #[test]
    fn pseudo_headers() {
        let r = req("/a?b=1", &[]);
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.authority.as_str()),
            ("GET", "/a?b=1", "api.test")
        );
        assert_eq!(r.path_only(), "/a");
    }

    #[test]
    fn query_values_decode() {
        let r = req("/a?x=1&api%5Fkey=a%2Bb&api_key=c&bad=%zz", &[]);
        assert_eq!(r.query_values("api_key"), vec!["a+b", "c"]);
        assert!(r.query_values("bad").is_empty());
        assert!(r.query_values("nope").is_empty());
    }

    #[test]
    fn strip_query_param() {
        assert_eq!(
            Request::path_without_query_param("/a?k=1&x=2&k=3", "k"),
            "/a?x=2"
        );
        assert_eq!(Request::path_without_query_param("/a?k=1", "k"), "/a");
        assert_eq!(Request::path_without_query_param("/a", "k"), "/a");
    }

    #[test]
    fn cookies() {
        let r = req(
            "/",
            &[("cookie", "a=1; at=tok; b=2"), ("cookie", "at=\"q\"")],
        );
        assert_eq!(r.cookie_values("at"), vec!["tok", "q"]);
        assert_eq!(
            Request::cookie_header_without("a=1; at=tok; b=2", "at").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(Request::cookie_header_without("at=tok", "at"), None);
    }
}
