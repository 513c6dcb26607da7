//! The JSON Schema (draft 2020-12) of each event's `properties`
//! (`docs/schema/events/<name>.json`), and validation against the committed copy.

use crate::names::{is_view, property_fields};
use cairn_protocol::events::{EventSpec, Field, FieldType, PRODUCT_ITEM};
use serde_json::{json, Map, Value};

fn field_schema(f: &Field) -> Value {
    let mut s = match f.ty {
        FieldType::Str => json!({"type": "string"}),
        FieldType::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        FieldType::Num { min } => json!({"type": "number", "minimum": min}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Enum(vs) => json!({"type": "string", "enum": vs}),
        FieldType::StrList => json!({"type": "array", "items": {"type": "string"}}),
        FieldType::Products => json!({"type": "array", "items": object(PRODUCT_ITEM.iter(), None)}),
    };
    s["description"] = f.doc.into();
    s
}

fn object<'a>(fields: impl Iterator<Item = &'a Field>, doc: Option<&str>) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in fields {
        props.insert(f.name.to_string(), field_schema(f));
        if f.required {
            required.push(Value::from(f.name));
        }
    }
    let mut o = Map::new();
    if let Some(d) = doc {
        o.insert("description".into(), d.into());
    }
    o.insert("type".into(), "object".into());
    o.insert("required".into(), required.into());
    o.insert("properties".into(), Value::Object(props));
    o.insert("additionalProperties".into(), true.into());
    Value::Object(o)
}

/// The schema of `e`'s properties.
pub fn schema(e: &'static EventSpec) -> Value {
    let mut doc = format!(
        "The `properties` of a `{}` {} (purpose {}, signal {}): {}",
        e.name,
        e.kind.as_str(),
        e.purpose_name(),
        e.signal.as_str(),
        e.doc
    );
    if is_view(e) {
        doc.push_str(" The view's name is the message's `name`, not a property.");
    }
    doc.push_str(" Other properties are allowed.");
    let mut s = Map::new();
    s.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    s.insert(
        "$id".into(),
        format!("urn:cairn:schema:events:{}:1", e.name).into(),
    );
    s.insert("title".into(), e.name.into());
    if let Value::Object(o) = object(property_fields(e), Some(&doc)) {
        s.extend(o);
    }
    Value::Object(s)
}

/// The schema file's text.
pub fn schema_file(e: &'static EventSpec) -> String {
    let mut text = serde_json::to_string_pretty(&schema(e)).expect("a JSON value");
    text.push('\n');
    text
}
