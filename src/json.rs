//! Strict JSON: an object that repeats a member name is refused, at any depth. serde_json's `Map`
//! silently keeps the last one, and two readers disagreeing on which one counts is how checks get
//! bypassed. Tokens (`jwt`) and the configuration (`config_json`) are both read this way; an error
//! says where it is (`providers.idp.issuer`, `keys[2]`).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a document was refused, and where.
#[derive(Debug)]
pub struct JsonError {
    /// Dotted path of the member or element being read (empty: the document itself).
    pub path: String,
    /// An object repeated a member name.
    pub duplicate: bool,
    pub message: String,
}

/// Parses a whole document (nothing may follow it).
pub fn parse_strict(json: &[u8]) -> Result<Value, JsonError> {
    let mut state = State::default();
    let de = &mut serde_json::Deserializer::from_slice(json);
    ValueSeed { state: &mut state }
        .deserialize(&mut *de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| JsonError {
            path: path_string(state.path.iter()),
            duplicate: state.duplicate,
            message: e.to_string(),
        })
}

/// One step of a field path.
#[derive(Debug)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn path_string<'a>(segs: impl Iterator<Item = &'a Seg>) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Builds a [`Value`], refusing repeated member names. On an error `state.path` is left pointing at
/// the member or element being read.
struct ValueSeed<'p> {
    state: &'p mut State,
}

#[derive(Default)]
struct State {
    path: Vec<Seg>,
    duplicate: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        self.state.path.push(Seg::Index(0));
        while let Some(v) = seq.next_element_seed(ValueSeed {
            state: &mut *self.state,
        })? {
            items.push(v);
            if let Some(Seg::Index(i)) = self.state.path.last_mut() {
                *i = items.len();
            }
        }
        self.state.path.pop();
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let dup = m.contains_key(&k);
            self.state.path.push(Seg::Key(k));
            if dup {
                self.state.duplicate = true;
                return Err(de::Error::custom("duplicate field"));
            }
            let v = map.next_value_seed(ValueSeed {
                state: &mut *self.state,
            })?;
            if let Some(Seg::Key(k)) = self.state.path.pop() {
                m.insert(k, v);
            }
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_refused_and_located() {
        let e = parse_strict(br#"{"a": [1, {"b": 1, "b": 2}]}"#).unwrap_err();
        assert!(e.duplicate);
        assert_eq!(e.path, "a[1].b");
        let e = parse_strict(br#"{"a": 1} x"#).unwrap_err();
        assert!(!e.duplicate);
        assert_eq!(
            parse_strict(br#"{"a": {"b": [null]}}"#).unwrap()["a"]["b"][0],
            Value::Null
        );
    }
}
