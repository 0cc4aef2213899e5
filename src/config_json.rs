//! Configuration JSON → typed sections, with errors that name the field path
//! (`providers.idp.jwks.remote.timeout_ms: invalid type: ...`).
//!
//! Two steps, both small in the built module: the text is parsed into a [`Value`] by [`json::parse_strict`]
//! (objects with a repeated member name are refused), then each section is read from that `Value` by its
//! hand-written [`FromJson`] impl, with the field path passed down as an [`At`] and rendered only
//! when there is an error. serde's derived `Deserialize` impls (plus serde_path_to_error to name the
//! field) cost ≈ 200 KB of wasm for the same job; the configuration is read once per VM, so it needs
//! no speed, only good messages.

use crate::config_error::ConfigError;
use crate::json::{self, path_string, Seg};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses `json` and reads `T` from it; an error names the field it is about.
pub fn parse<T: FromJson>(json: &[u8]) -> Result<T, ConfigError> {
    let value = json::parse_strict(json).map_err(|e| ConfigError::new(&e.path, e.message))?;
    T::from_json(&value, &At::Root)
}

/// Where a value is in the document: rendered as `api_keys.keys[1].sha256` for error messages.
#[derive(Clone, Copy)]
pub enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    pub fn key<'b>(&'b self, k: &'b str) -> At<'b> {
        At::Key(self, k)
    }

    /// The dotted path (empty for the document itself).
    pub fn path(&self) -> String {
        let mut segs = Vec::new();
        let mut at = self;
        loop {
            match at {
                At::Root => break,
                At::Key(parent, k) => {
                    segs.push(Seg::Key((*k).to_string()));
                    at = parent;
                }
                At::Index(parent, i) => {
                    segs.push(Seg::Index(*i));
                    at = parent;
                }
            }
        }
        path_string(segs.iter().rev())
    }

    /// An error about the value here.
    pub fn err(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.path(), problem)
    }

    /// `invalid type: integer `5`, expected a string` (serde's wording).
    pub fn invalid_type(&self, v: &Value, expected: &str) -> ConfigError {
        self.err(format!(
            "invalid type: {}, expected {expected}",
            unexpected(v)
        ))
    }
}

fn unexpected(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".into(),
        Value::Object(_) => "map".into(),
    }
}

/// A configuration type read from a JSON [`Value`].
pub trait FromJson: Sized {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError>;

    /// The value of an absent member; `None`: the member is required.
    fn absent() -> Option<Self> {
        None
    }
}

impl FromJson for String {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(at.invalid_type(v, "a string")),
        }
    }
}

impl FromJson for bool {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(at.invalid_type(v, "a boolean")),
        }
    }
}

impl FromJson for u64 {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        match v {
            Value::Number(n) if n.is_u64() => Ok(n.as_u64().unwrap_or_default()),
            Value::Number(n) if n.is_i64() => {
                Err(at.err(format!("invalid value: integer `{n}`, expected u64")))
            }
            _ => Err(at.invalid_type(v, "u64")),
        }
    }
}

impl FromJson for usize {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        let n = u64::from_json(v, at)
            .map_err(|e| ConfigError::new(&e.field, e.problem.replace("u64", "usize")))?;
        usize::try_from(n)
            .map_err(|_| at.err(format!("invalid value: integer `{n}`, expected usize")))
    }
}

impl FromJson for Value {
    fn from_json(v: &Value, _: &At<'_>) -> Result<Self, ConfigError> {
        Ok(v.clone())
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        match v {
            Value::Null => Ok(None),
            _ => T::from_json(v, at).map(Some),
        }
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_json(item, &At::Index(at, i)))
                .collect(),
            _ => Err(at.invalid_type(v, "a sequence")),
        }
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        match v {
            Value::Object(m) => m
                .iter()
                .map(|(k, item)| Ok((k.clone(), T::from_json(item, &at.key(k))?)))
                .collect(),
            _ => Err(at.invalid_type(v, "a map")),
        }
    }
}

/// A JSON object read as a struct: unknown members are refused, members are read by name.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: &'a At<'a>,
}

impl<'a> Obj<'a> {
    /// `v` must be an object whose members are all in `fields`.
    pub fn new(v: &'a Value, at: &'a At<'a>, fields: &[&str]) -> Result<Obj<'a>, ConfigError> {
        let Value::Object(map) = v else {
            return Err(at.invalid_type(v, "an object"));
        };
        if let Some(k) = map.keys().find(|k| !fields.contains(&k.as_str())) {
            let expected = fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(at
                .key(k)
                .err(format!("unknown field `{k}`, expected one of {expected}")));
        }
        Ok(Obj { map, at })
    }

    /// The member `name` (absent: `T::absent()`, else "missing field").
    pub fn get<T: FromJson>(&self, name: &str) -> Result<T, ConfigError> {
        match self.map.get(name) {
            Some(v) => T::from_json(v, &self.at.key(name)),
            None => T::absent().ok_or_else(|| self.at.err(format!("missing field `{name}`"))),
        }
    }

    /// The member `name`, or `default` when it is absent.
    pub fn get_or<T: FromJson>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.map.get(name) {
            Some(v) => T::from_json(v, &self.at.key(name)),
            None => Ok(default),
        }
    }
}

/// A string naming one of `variants` (a unit enum in lowercase).
pub fn variant(v: &Value, at: &At<'_>, variants: &[&str]) -> Result<usize, ConfigError> {
    let Value::String(s) = v else {
        return Err(at.invalid_type(v, "a string"));
    };
    variants.iter().position(|x| x == s).ok_or_else(|| {
        let expected = variants
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        at.err(format!("unknown variant `{s}`, expected {expected}"))
    })
}

/// `impl FromJson` for a struct read from a JSON object: unknown members are refused, each field is
/// the member of the same name (`field as "name"` to rename it, `field = default` to make it
/// `Default::default()` when absent; `Option` fields are `None` when absent).
macro_rules! from_json_struct {
    ($ty:ident { $($field:ident $(as $json:literal)? $(= $def:ident)?),* $(,)? }) => {
        impl $crate::config_json::FromJson for $ty {
            fn from_json(
                v: &serde_json::Value,
                at: &$crate::config_json::At<'_>,
            ) -> Result<Self, $crate::config_error::ConfigError> {
                let o = $crate::config_json::Obj::new(
                    v,
                    at,
                    &[$(from_json_struct!(@name $field $($json)?)),*],
                )?;
                Ok($ty {
                    $($field: from_json_struct!(@get o, from_json_struct!(@name $field $($json)?) $(, $def)?)),*
                })
            }
        }
    };
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $json:literal) => { $json };
    (@get $o:ident, $name:expr) => { $o.get($name)? };
    (@get $o:ident, $name:expr, default) => { $o.get_or($name, Default::default())? };
}
