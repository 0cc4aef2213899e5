//! The introspection request (RFC 7662 §2.1): `POST` of the form `token=…&token_type_hint=access_token`
//! to the configured cluster, authenticated as the configured client (RFC 6749 §2.3.1).

use super::config::{ClientAuth, Endpoint, Introspection};
use crate::host::Callout;
use base64::Engine as _;

/// `application/x-www-form-urlencoded` encoding of one name or value (the WHATWG serializer: ASCII
/// letters, digits and `*-._` as is, space as `+`, every other byte `%XX`).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `Authorization` value of `client_secret_basic`: id and secret form-encoded, then joined with
/// `:` and base64-encoded (RFC 6749 §2.3.1), so a `:` or `%` in either survives.
pub fn basic_credentials(client_id: &str, secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(client_id), form_encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The callout to `endpoint` that introspects `token`.
pub fn callout(i: &Introspection, endpoint: &Endpoint, token: &str) -> Callout {
    let mut headers = vec![
        (":method".to_string(), "POST".to_string()),
        (":path".to_string(), endpoint.path.clone()),
        (":authority".to_string(), endpoint.authority.clone()),
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    let mut body = format!("token={}&token_type_hint=access_token", form_encode(token));
    match i.client_auth {
        ClientAuth::ClientSecretBasic => headers.push((
            "authorization".to_string(),
            basic_credentials(&i.client_id, i.client_secret.expose()),
        )),
        ClientAuth::ClientSecretPost => {
            body.push_str(&format!(
                "&client_id={}&client_secret={}",
                form_encode(&i.client_id),
                form_encode(i.client_secret.expose())
            ));
        }
    }
    Callout {
        cluster: endpoint.cluster.clone(),
        headers,
        body: Some(body.into_bytes()),
        timeout_ms: i.timeout_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_basic_credentials() {
        assert_eq!(form_encode("a b:c%d/é~"), "a+b%3Ac%25d%2F%C3%A9%7E");
        // RFC 6749 §2.3.1: "edge:1" / "p%s w" → "edge%3A1:p%25s+w" before base64.
        let v = basic_credentials("edge:1", "p%s w");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v.trim_start_matches("Basic "))
            .unwrap_or_default();
        assert_eq!(raw, b"edge%3A1:p%25s+w");
    }
}
