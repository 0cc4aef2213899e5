//! A provider's `introspection` section: JSON form, validation (errors name the field), and the
//! client secret, read from the configuration or from the VM's environment.
//!
//! ```json
//! "introspection": {"cluster": "as", "authority": "as.example", "path": "/oauth2/introspect",
//!                   "client_id": "edge", "client_secret_env": "EG_AS_SECRET",
//!                   "client_auth": "client_secret_basic", "timeout_ms": 1500, "max_in_flight": 64,
//!                   "cache": {"max_ttl_seconds": 300, "negative_ttl_seconds": 10, "max_entries": 10000}}
//! ```
//! Exactly one of `client_secret` (literal) and `client_secret_env` (the name of a variable of the
//! VM's environment: Envoy `vm_config.environment_variables`, read with WASI `environ_get` at
//! configure; unset or empty is a configuration error).

use crate::config_error::ConfigError;
use crate::config_json::{variant, At, FromJson};
use crate::provider::{check_authority, check_cluster, check_path, in_range};
use serde_json::Value;
use std::fmt;

pub const DEFAULT_TIMEOUT_MS: u64 = 1500;
pub const MAX_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_MAX_TTL_SECONDS: u64 = 300;
pub const MAX_MAX_TTL_SECONDS: u64 = 86_400;
pub const DEFAULT_NEGATIVE_TTL_SECONDS: u64 = 10;
pub const MAX_NEGATIVE_TTL_SECONDS: u64 = 3600;
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
pub const MIN_MAX_ENTRIES: usize = 16;
pub const MAX_MAX_ENTRIES: usize = 1_000_000;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
pub const MAX_MAX_IN_FLIGHT: usize = 4096;

/// How edgeguard authenticates to the introspection endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(form(id) ":" form(secret))`, each form-encoded first.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl FromJson for ClientAuth {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match variant(v, at, &["client_secret_basic", "client_secret_post"])? {
                0 => ClientAuth::ClientSecretBasic,
                _ => ClientAuth::ClientSecretPost,
            },
        )
    }
}

/// A client secret: never printed (`Debug` shows `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for the request that carries it — never for a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// JSON form of `introspection`.
#[derive(Debug)]
pub struct IntrospectionConfig {
    cluster: Option<String>,
    authority: Option<String>,
    path: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    client_auth: Option<ClientAuth>,
    timeout_ms: Option<u64>,
    max_in_flight: Option<usize>,
    cache: Option<CacheConfig>,
}

#[derive(Debug)]
struct CacheConfig {
    max_ttl_seconds: Option<u64>,
    negative_ttl_seconds: Option<u64>,
    max_entries: Option<usize>,
}

from_json_struct!(IntrospectionConfig {
    cluster,
    authority,
    path,
    client_id,
    client_secret,
    client_secret_env,
    client_auth,
    timeout_ms,
    max_in_flight,
    cache,
});
from_json_struct!(CacheConfig {
    max_ttl_seconds,
    negative_ttl_seconds,
    max_entries,
});

/// Where introspection calls go: an Envoy cluster, the `:authority` and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub cluster: String,
    pub authority: String,
    pub path: String,
}

/// A validated introspection endpoint, client and cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// `None`: the provider's discovery document's `introspection_endpoint` (the provider has
    /// `jwks.discovery`; checked by the provider's validation).
    pub endpoint: Option<Endpoint>,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    pub timeout_ms: u64,
    /// Calls in flight (or queued) per VM; a new token beyond that is 503 at once.
    pub max_in_flight: usize,
    pub max_ttl_seconds: u64,
    pub negative_ttl_seconds: u64,
    /// Bound of the shared cache (all VMs together).
    pub max_entries: usize,
}

impl IntrospectionConfig {
    /// Validates the section found at `field` (`providers.as.introspection`); `env` reads the VM's
    /// environment (`std::env::var` in the plugin).
    pub fn validate(
        self,
        field: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Introspection, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        let endpoint = match (self.cluster, self.authority, self.path) {
            (None, None, None) => None,
            (Some(cluster), Some(authority), Some(path)) => {
                check_cluster(&cluster, &f("cluster"))?;
                check_authority(&authority, &f("authority"))?;
                check_path(&path, &f("path"))?;
                Some(Endpoint {
                    cluster,
                    authority,
                    path,
                })
            }
            _ => {
                return Err(ConfigError::new(
                    &f("path"),
                    "give \"cluster\", \"authority\" and \"path\" together, or none of them to use the discovery document's introspection_endpoint",
                ))
            }
        };
        if self.client_id.is_empty() || self.client_id.chars().any(char::is_control) {
            return Err(ConfigError::new(
                &f("client_id"),
                "must be a non-empty string without control characters",
            ));
        }
        let secret = match (self.client_secret, self.client_secret_env) {
            (Some(s), None) if !s.is_empty() => s,
            (Some(_), None) => {
                return Err(ConfigError::new(&f("client_secret"), "must not be empty"))
            }
            (None, Some(name)) => {
                let ef = f("client_secret_env");
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(ConfigError::new(
                        &ef,
                        "must be an environment variable name (letters, digits, '_')",
                    ));
                }
                match env(&name) {
                    Some(v) if !v.is_empty() => v,
                    Some(_) => {
                        return Err(ConfigError::new(
                            &ef,
                            format!("the environment variable {name} is empty"),
                        ))
                    }
                    None => return Err(ConfigError::new(
                        &ef,
                        format!(
                            "the environment variable {name} is not set in the VM (Envoy: vm_config.environment_variables)"
                        ),
                    )),
                }
            }
            _ => {
                return Err(ConfigError::new(
                    field,
                    "needs exactly one of \"client_secret\" or \"client_secret_env\"",
                ))
            }
        };
        if secret.chars().any(char::is_control) {
            return Err(ConfigError::new(
                field,
                "the client secret must not contain control characters",
            ));
        }
        let timeout_ms = in_range(
            self.timeout_ms,
            DEFAULT_TIMEOUT_MS,
            1,
            MAX_TIMEOUT_MS,
            &f("timeout_ms"),
        )?;
        let max_in_flight = in_range(
            self.max_in_flight,
            DEFAULT_MAX_IN_FLIGHT,
            1,
            MAX_MAX_IN_FLIGHT,
            &f("max_in_flight"),
        )?;
        let cache = self.cache.unwrap_or(CacheConfig {
            max_ttl_seconds: None,
            negative_ttl_seconds: None,
            max_entries: None,
        });
        let max_ttl_seconds = in_range(
            cache.max_ttl_seconds,
            DEFAULT_MAX_TTL_SECONDS,
            1,
            MAX_MAX_TTL_SECONDS,
            &f("cache.max_ttl_seconds"),
        )?;
        let negative_ttl_seconds = in_range(
            cache.negative_ttl_seconds,
            DEFAULT_NEGATIVE_TTL_SECONDS,
            1,
            MAX_NEGATIVE_TTL_SECONDS,
            &f("cache.negative_ttl_seconds"),
        )?;
        let max_entries = in_range(
            cache.max_entries,
            DEFAULT_MAX_ENTRIES,
            MIN_MAX_ENTRIES,
            MAX_MAX_ENTRIES,
            &f("cache.max_entries"),
        )?;
        Ok(Introspection {
            endpoint,
            client_id: self.client_id,
            client_secret: Secret::new(secret),
            client_auth: self.client_auth.unwrap_or_default(),
            timeout_ms,
            max_in_flight,
            max_ttl_seconds,
            negative_ttl_seconds,
            max_entries,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(v: Value) -> Result<Introspection, ConfigError> {
        let c: IntrospectionConfig = crate::config_json::parse(v.to_string().as_bytes())?;
        let env = |n: &str| match n {
            "EG_SECRET" => Some("from-env".to_string()),
            "EG_EMPTY" => Some(String::new()),
            _ => None,
        };
        c.validate("providers.as.introspection", &env)
    }

    fn base() -> Value {
        json!({"cluster": "as", "authority": "as.example", "path": "/introspect",
               "client_id": "edge", "client_secret": "s3cret"})
    }

    #[test]
    fn defaults_and_env_secret() {
        let i = validate(base()).unwrap();
        assert_eq!(i.client_auth, ClientAuth::ClientSecretBasic);
        assert_eq!(
            (i.timeout_ms, i.max_ttl_seconds, i.negative_ttl_seconds),
            (1500, 300, 10)
        );
        assert_eq!((i.max_entries, i.max_in_flight), (10_000, 64));
        assert_eq!(i.client_secret.expose(), "s3cret");
        assert!(
            !format!("{i:?}").contains("s3cret"),
            "Debug hides the secret"
        );
        let mut v = base();
        v.as_object_mut().unwrap().remove("client_secret");
        v["client_secret_env"] = json!("EG_SECRET");
        v["client_auth"] = json!("client_secret_post");
        let i = validate(v).unwrap();
        assert_eq!(i.client_secret.expose(), "from-env");
        assert_eq!(i.client_auth, ClientAuth::ClientSecretPost);
    }

    #[test]
    fn errors_name_the_field() {
        let at = |k: &str| format!("providers.as.introspection.{k}");
        let set = |k: &str, val: Value| {
            let mut v = base();
            v[k] = val;
            v
        };
        let env_only = |name: &str| {
            let mut v = base();
            v.as_object_mut().unwrap().remove("client_secret");
            v["client_secret_env"] = json!(name);
            v
        };
        for (v, field) in [
            (set("cluster", json!("")), at("cluster")),
            (set("authority", json!("a/b")), at("authority")),
            (set("path", json!("introspect")), at("path")),
            (set("client_id", json!("")), at("client_id")),
            (set("client_secret", json!("")), at("client_secret")),
            (
                set("client_secret_env", json!("X")),
                "providers.as.introspection".to_string(),
            ),
            (env_only("EG_MISSING"), at("client_secret_env")),
            (env_only("EG_EMPTY"), at("client_secret_env")),
            (env_only("A-B"), at("client_secret_env")),
            (
                set("client_auth", json!("private_key_jwt")),
                at("client_auth"),
            ),
            (set("timeout_ms", json!(0)), at("timeout_ms")),
            (set("max_in_flight", json!(0)), at("max_in_flight")),
            (
                set("cache", json!({"max_ttl_seconds": 0})),
                at("cache.max_ttl_seconds"),
            ),
            (
                set("cache", json!({"negative_ttl_seconds": 0})),
                at("cache.negative_ttl_seconds"),
            ),
            (
                set("cache", json!({"max_entries": 1})),
                at("cache.max_entries"),
            ),
            (set("cache", json!({"ttl": 1})), at("cache.ttl")),
        ] {
            let e = validate(v.clone()).unwrap_err();
            // Members the JSON reader refuses are named from the section (parsed alone here).
            assert!(
                e.field == field || field.ends_with(&format!(".{}", e.field)),
                "{v}: {e}"
            );
        }
        let e = validate(env_only("EG_MISSING")).unwrap_err();
        assert!(e.problem.contains("EG_MISSING"), "{e}");
    }
}
