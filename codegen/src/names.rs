//! Spelling rules shared by every emitter: identifier cases, the per-field type
//! names, and the sample value of each field (the round-trip tests send them).

use cairn_protocol::events::{EventSpec, Field, FieldType, PRODUCT_ITEM};
use serde_json::{json, Value};

/// `add_to_cart` -> `addToCart`.
pub fn camel(snake: &str) -> String {
    let p = pascal(snake);
    let mut c = p.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// `add_to_cart` -> `AddToCart`.
pub fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `add_to_cart` -> `ADD_TO_CART` (UniFFI's Python variant names).
pub fn upper(snake: &str) -> String {
    snake.to_ascii_uppercase()
}

/// The type name of an enum field: the field's name in PascalCase, prefixed with the
/// event's first word when the field's name is one word (`sort_changed.order` ->
/// `SortOrder`, `link_click.link_type` -> `LinkType`).
pub fn enum_type(event: &EventSpec, field: &Field) -> String {
    if field.name.contains('_') {
        pascal(field.name)
    } else {
        let first = event.name.split('_').next().unwrap_or_default();
        pascal(first) + &pascal(field.name)
    }
}

/// Every enum type of the table: (type name, variants), each once, in table order.
/// Panics when two fields give one name different variants (a table error).
pub fn enums() -> Vec<(String, &'static [&'static str])> {
    let mut out: Vec<(String, &'static [&'static str])> = Vec::new();
    for e in app_events() {
        for f in e.all_fields() {
            if let FieldType::Enum(vs) = f.ty {
                let name = enum_type(e, f);
                match out.iter().find(|(n, _)| *n == name) {
                    Some((_, have)) => assert_eq!(*have, vs, "enum {name} defined twice"),
                    None => out.push((name, vs)),
                }
            }
        }
    }
    out
}

/// The events apps send through helpers (the consent record is the SDK's own).
pub fn app_events() -> impl Iterator<Item = &'static EventSpec> {
    cairn_protocol::EVENTS
        .iter()
        .filter(|e| e.emitter == cairn_protocol::events::Emitter::App)
}

/// Whether the event is a page or screen view, whose first field is the view's
/// name (the message's `name`, not a property).
pub fn is_view(e: &EventSpec) -> bool {
    e.kind != cairn_protocol::Kind::Track
}

/// The fields that are properties on the wire, in table order.
pub fn property_fields(e: &EventSpec) -> impl Iterator<Item = &'static Field> + '_ {
    e.all_fields().skip(usize::from(is_view(e)))
}

/// The sample value of a field, as sent and as expected in the feed. Numbers are
/// chosen inside the field's range, and non-integral for `Num` (so no platform
/// turns `2.0` into `2`).
pub fn sample(e: &EventSpec, f: &Field) -> Value {
    match f.ty {
        FieldType::Str => match f.name {
            "currency" => json!("EUR"),
            "url" => json!("https://shop.example/p/1"),
            _ => json!(format!("{}-{}", e.name, f.name).replace('_', "-")),
        },
        FieldType::Int { min, max } => json!((min + 2).min(max)),
        FieldType::Num { min } => json!(min + 2.5),
        FieldType::Bool => json!(true),
        FieldType::Enum(vs) => json!(vs[vs.len() - 1]),
        FieldType::StrList => json!(["sku-a", "sku-b"]),
        FieldType::Products => json!([line_item(0), line_item(1)]),
    }
}

/// Sample line item `i`: every field of the first, the required ones of the second.
fn line_item(i: usize) -> Value {
    let mut m = serde_json::Map::new();
    for f in PRODUCT_ITEM.iter().filter(|f| i == 0 || f.required) {
        let v = match f.ty {
            FieldType::Str => json!(format!("item{i}-{}", f.name).replace('_', "-")),
            FieldType::Int { min, max } => json!((min + 2 + i as i64).min(max)),
            FieldType::Num { min } => json!(min + 10.5 + i as f64),
            other => panic!("line item field {} of type {other:?} has no sample", f.name),
        };
        m.insert(f.name.to_string(), v);
    }
    Value::Object(m)
}

/// The sample values of an event: (field, value) for every field, view name included.
pub fn samples(e: &'static EventSpec) -> Vec<(&'static Field, Value)> {
    e.all_fields().map(|f| (f, sample(e, f))).collect()
}

/// The `properties` the feed must hold for the samples (the view name excluded).
pub fn sample_properties(e: &'static EventSpec) -> Value {
    Value::Object(
        property_fields(e)
            .map(|f| (f.name.to_string(), sample(e, f)))
            .collect(),
    )
}

/// Rust source of a JSON value (numbers, strings, bools), for generated code.
pub fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(camel("add_to_cart"), "addToCart");
        assert_eq!(pascal("video_progress"), "VideoProgress");
        assert_eq!(upper("page_view"), "PAGE_VIEW");
        let names: Vec<String> = enums().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["LinkType", "SortOrder"]);
    }
}
