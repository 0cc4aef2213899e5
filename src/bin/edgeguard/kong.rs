//! `edgeguard schema --kong`: Kong's filter metadata, `edgeguard.meta.json` (`{"config_schema": ...}`),
//! generated from the checked-in draft 2020-12 schema. Kong validates a wasm filter's configuration
//! with a JSON Schema Draft 4 validator, so the schema is rewritten into that draft:
//!
//! - `$schema` → draft-04; `$id` dropped; `$defs` → `definitions`, `#/$defs/X` → `#/definitions/X`
//!   (the requirement tree is recursive, so definitions stay references, not inlined);
//! - `const` → a one-value `enum`; `dependentRequired` → `dependencies`; a numeric
//!   `exclusiveMinimum`/`exclusiveMaximum` → `minimum`/`maximum` with the Draft 4 boolean;
//! - a `$ref` with other keywords than `description` becomes `allOf: [{$ref}]` next to them (Draft 4
//!   ignores a `$ref`'s siblings);
//! - a pattern must mean the same to Kong's PCRE (byte mode, through `ngx.re`) as to ECMA 262 and
//!   Python: no `\u` or `\p` escapes (`\x00`-`\x7f` ranges instead);
//! - any other keyword is an error, never dropped: a schema edit that uses a 2020-12-only keyword
//!   (`prefixItems`, `unevaluatedProperties`, `propertyNames`, `if`, ...) fails `edgeguard schema
//!   --kong` and the test that compares its output with the checked-in file.

use serde_json::{json, Map, Value};

const DRAFT_04: &str = "http://json-schema.org/draft-04/schema#";

/// Keywords whose value is kept as it is (no subschema inside).
const PLAIN: [&str; 15] = [
    "type",
    "enum",
    "required",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "description",
    "title",
];

/// `{"config_schema": <the schema in Draft 4>}`.
pub fn meta(schema: &Value) -> Result<Value, String> {
    Ok(json!({ "config_schema": convert(schema, "#")? }))
}

fn convert(v: &Value, at: &str) -> Result<Value, String> {
    let Value::Object(o) = v else {
        return Ok(v.clone());
    };
    let mut out = Map::new();
    for (k, val) in o {
        let here = format!("{at}/{k}");
        match k.as_str() {
            "$schema" => {
                out.insert(k.clone(), Value::String(DRAFT_04.into()));
            }
            "$id" => {}
            "$ref" => {
                let target = val
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .ok_or_else(|| format!("{here}: only #/$defs/NAME references are supported"))?;
                out.insert(k.clone(), Value::String(format!("#/definitions/{target}")));
            }
            "$defs" => {
                out.insert("definitions".into(), map_of_schemas(val, &here)?);
            }
            "properties" => {
                out.insert(k.clone(), map_of_schemas(val, &here)?);
            }
            "patternProperties" => {
                if let Some(m) = val.as_object() {
                    for p in m.keys() {
                        portable_pattern(p, &here)?;
                    }
                }
                out.insert(k.clone(), map_of_schemas(val, &here)?);
            }
            "pattern" => {
                portable_pattern(val.as_str().unwrap_or_default(), &here)?;
                out.insert(k.clone(), val.clone());
            }
            "additionalProperties" | "items" | "not" => {
                if k == "items" && !val.is_object() {
                    return Err(format!("{here}: items must be one schema"));
                }
                out.insert(k.clone(), convert(val, &here)?);
            }
            "allOf" | "anyOf" | "oneOf" => {
                let list = val
                    .as_array()
                    .ok_or_else(|| format!("{here}: expected an array"))?;
                let converted = list
                    .iter()
                    .enumerate()
                    .map(|(i, s)| convert(s, &format!("{here}/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(k.clone(), Value::Array(converted));
            }
            "const" => {
                out.insert("enum".into(), Value::Array(vec![val.clone()]));
            }
            "dependentRequired" => {
                out.insert("dependencies".into(), val.clone());
            }
            "exclusiveMinimum" | "exclusiveMaximum" => {
                let bound = if k == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                out.insert(bound.into(), val.clone());
                out.insert(k.clone(), Value::Bool(true));
            }
            _ if PLAIN.contains(&k.as_str()) => {
                out.insert(k.clone(), val.clone());
            }
            _ => return Err(format!("{here}: the keyword {k:?} has no Draft 4 form")),
        }
    }
    let has_siblings = out
        .keys()
        .any(|k| k != "$ref" && k != "description" && k != "title");
    if has_siblings {
        if let Some(r) = out.remove("$ref") {
            let mut all = match out.remove("allOf") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            all.insert(0, json!({ "$ref": r }));
            out.insert("allOf".into(), Value::Array(all));
        }
    }
    Ok(Value::Object(out))
}

/// Refuses the escapes PCRE (Kong) does not read as ECMA 262 does.
fn portable_pattern(p: &str, at: &str) -> Result<(), String> {
    for esc in ["\\u", "\\p", "\\P"] {
        if p.contains(esc) {
            return Err(format!(
                "{at}: the pattern {p:?} uses {esc}, which Kong's PCRE does not read as ECMA 262 does"
            ));
        }
    }
    Ok(())
}

fn map_of_schemas(v: &Value, at: &str) -> Result<Value, String> {
    let Value::Object(m) = v else {
        return Err(format!("{at}: expected an object"));
    };
    let mut out = Map::new();
    for (name, s) in m {
        out.insert(name.clone(), convert(s, &format!("{at}/{name}"))?);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_2020_12_keywords() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x",
            "properties": {"a": {"const": 1}, "b": {"$ref": "#/$defs/b", "minLength": 2},
                           "c": {"exclusiveMinimum": 0}},
            "dependentRequired": {"a": ["b"]},
            "$defs": {"b": {"type": "string", "description": "d"}}
        });
        let m = meta(&s).unwrap_or_default();
        assert_eq!(
            m,
            json!({"config_schema": {
                "$schema": DRAFT_04,
                "properties": {"a": {"enum": [1]},
                               "b": {"allOf": [{"$ref": "#/definitions/b"}], "minLength": 2},
                               "c": {"minimum": 0, "exclusiveMinimum": true}},
                "dependencies": {"a": ["b"]},
                "definitions": {"b": {"type": "string", "description": "d"}}
            }})
        );
    }

    #[test]
    fn refuses_keywords_without_a_draft_4_form() {
        for s in [
            json!({"prefixItems": [{}]}),
            json!({"properties": {"a": {"unevaluatedProperties": false}}}),
            json!({"propertyNames": {"pattern": "^a"}}),
            json!({"$ref": "https://example.com/other.json"}),
            json!({"items": [{}]}),
            json!({"pattern": "^[^\\u0000-\\u001f]+$"}),
            json!({"patternProperties": {"^\\p{L}+$": {}}}),
        ] {
            assert!(meta(&s).is_err(), "{s}");
        }
    }
}
