//! Turning JSON into validated request types, reporting every failing field: each
//! field of the wrong type or unknown is recorded and set aside and parsing goes on;
//! when the rest still forms a request, its validation rules run too. Also JSON
//! merge-patch (RFC 7386), for resources whose PATCH is "the create shape, partially".

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use validator::Validate;

use crate::serde_util::validation_errors;
use crate::FieldError;

/// The field a serde data error is about. serde_path_to_error's path already ends at
/// an unknown field, but stops at the parent of a missing one.
pub fn data_error(e: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = e.path().to_string();
    let msg = e.inner().to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let base = if path == "." { String::new() } else { path };
    let between = |m: &str| m.split('`').nth(1).unwrap_or("").to_string();
    let (field, code) = if msg.starts_with("unknown field") {
        (if base.is_empty() { between(&msg) } else { base }, "unknown_field")
    } else if msg.starts_with("missing field") {
        let name = between(&msg);
        (if base.is_empty() { name } else { format!("{base}.{name}") }, "required")
    } else if msg.starts_with("invalid type") {
        (base, "invalid_type")
    } else {
        (base, "invalid")
    };
    FieldError::new(if field.is_empty() { "(body)".into() } else { field }, code, msg)
}

/// Removes the value at a serde path (a whole array when an element failed).
fn remove_at(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segs: Vec<&Segment> = path.iter().collect();
    let cut = segs.iter().position(|s| !matches!(s, Segment::Map { .. })).unwrap_or(segs.len());
    let keys: Vec<&str> = segs[..cut]
        .iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let Some((last, parents)) = keys.split_last() else { return false };
    let mut cur = value;
    for k in parents {
        match cur.get_mut(*k) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    cur.as_object_mut().is_some_and(|o| o.remove(*last).is_some())
}

/// Deserializes and validates, collecting every failing field it can.
pub fn parse_validated<T: DeserializeOwned + Validate>(mut value: Value) -> Result<T, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut parsed = None;
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(v) => {
                parsed = Some(v);
                break;
            }
            Err(e) => {
                let fe = data_error(&e);
                // A required field we set aside ourselves is already reported.
                let set_aside = fe.code == "required"
                    && errors.iter().any(|x| {
                        x.field == fe.field
                            || x.field.starts_with(&format!("{}[", fe.field))
                            || x.field.starts_with(&format!("{}.", fe.field))
                    });
                if errors.iter().any(|x| x.field == fe.field && x.code == fe.code) {
                    break;
                }
                if !set_aside {
                    errors.push(fe);
                }
                // For a missing field the path is its parent object: set that aside.
                if !remove_at(&mut value, e.path()) {
                    break;
                }
            }
        }
    }
    if let Some(v) = &parsed {
        if let Err(e) = v.validate() {
            for fe in validation_errors(&e) {
                if !errors.iter().any(|x| x.field == fe.field) {
                    errors.push(fe);
                }
            }
        }
    }
    match parsed {
        Some(v) if errors.is_empty() => Ok(v),
        _ => {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(errors)
        }
    }
}

/// A JSON merge-patch document (RFC 7386) for resources patched in their create shape.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct MergePatch(pub Map<String, Value>);

impl Validate for MergePatch {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

/// Applies a merge-patch: `null` removes, objects merge recursively, anything else replaces.
pub fn merge(target: &mut Value, patch: &Map<String, Value>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let obj = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        match v {
            Value::Null => {
                obj.remove(k);
            }
            Value::Object(p) => merge(obj.entry(k.clone()).or_insert(Value::Null), p),
            other => {
                obj.insert(k.clone(), other.clone());
            }
        }
    }
}

/// `current` (in its create shape) patched and re-validated as a create request.
pub fn patched<C: serde::Serialize + DeserializeOwned + Validate>(
    current: &C,
    patch: &MergePatch,
) -> Result<C, crate::DomainError> {
    let mut v = serde_json::to_value(current).map_err(|e| crate::DomainError::Internal(e.to_string()))?;
    merge(&mut v, &patch.0);
    parse_validated(v).map_err(crate::DomainError::Validation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge(&mut t, json!({"a": "z", "c": {"f": null}}).as_object().unwrap());
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }

    use proptest::prelude::*;

    /// RFC 7396, section 2, as written there: the reference `merge` must agree with.
    fn reference(target: Value, patch: Value) -> Value {
        match patch {
            Value::Object(p) => {
                let mut t = match target {
                    Value::Object(t) => t,
                    _ => Map::new(),
                };
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        let current = t.remove(&k).unwrap_or(Value::Null);
                        t.insert(k, reference(current, v));
                    }
                }
                Value::Object(t)
            }
            other => other,
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Property test (issue 17): any document, any patch object.
        #[test]
        fn merge_patch_is_rfc7396(target in json_value(), patch in prop::collection::btree_map("[a-d]", json_value(), 0..4)) {
            let patch: Map<String, Value> = patch.into_iter().collect();
            let mut merged = target.clone();
            merge(&mut merged, &patch);
            prop_assert_eq!(&merged, &reference(target, Value::Object(patch.clone())));
            let mut twice = merged.clone();
            merge(&mut twice, &patch);
            prop_assert_eq!(twice, merged, "applying a patch again changes nothing");
        }
    }
}
