//! The Rust constructors (`sdk/src/seed_events.rs`) and the Rust round trip's calls
//! (`tests/tests/roundtrip/samples.rs`).

use crate::names::{app_events, enum_type, enums, is_view, literal, pascal, samples};
use crate::HEADER;
use cairn_protocol::events::{EventSpec, Field, FieldType, PRODUCT_ITEM};
use cairn_protocol::Kind;
use std::fmt::Write;

/// The argument type of a required field.
pub(crate) fn arg_type(e: &EventSpec, f: &Field) -> String {
    match f.ty {
        FieldType::Str => "&str".into(),
        FieldType::Int { .. } => int_type(f.ty).into(),
        FieldType::Num { .. } => "f64".into(),
        FieldType::Bool => "bool".into(),
        FieldType::Enum(_) => enum_type(e, f),
        FieldType::StrList => "&[&str]".into(),
        FieldType::Products => "&[LineItem]".into(),
    }
}

/// `u32` when the range fits it, else `u64`.
fn int_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Int { max, .. } if max <= i64::from(u32::MAX) => "u32",
        _ => "u64",
    }
}

/// The expression turning argument `v` of field `f` into a `serde_json::Value`,
/// clamped into the field's range.
fn to_value(f: &Field, v: &str) -> String {
    match f.ty {
        FieldType::Int { min, max } => format!("{v}.clamp({}, {}).into()", min.max(0), max),
        FieldType::Num { min } => format!("{v}.max({}).into()", literal(&min.into())),
        FieldType::Enum(_) => format!("{v}.as_str().into()"),
        FieldType::Products => format!("{v}.iter().map(LineItem::to_value).collect()"),
        _ => format!("{v}.into()"),
    }
}

/// `sdk/src/seed_events.rs`.
pub fn constructors() -> String {
    let mut s = format!(
        "{HEADER}\n\n//! The typed constructors of the event table's app events (`cairn_protocol::EVENTS`):\n\
         //! required properties are the arguments, in table order, clamped into their\n\
         //! ranges; optional ones are added with [`Event::with`].\n\n\
         use crate::events::{{Event, EventKind}};\nuse crate::Purpose;\nuse serde_json::{{Map, Value}};\n\n\
         fn props<const N: usize>(kv: [(&str, Value); N]) -> Map<String, Value> {{\n    \
         kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()\n}}\n"
    );
    line_item(&mut s);
    for (name, variants) in enums() {
        let _ = write!(
            s,
            "\n/// The values of the `{name}` property.\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub enum {name} {{\n"
        );
        for v in variants {
            let _ = writeln!(s, "    {},", pascal(v));
        }
        let _ = write!(
            s,
            "}}\n\nimpl {name} {{\n    /// The wire value.\n    pub fn as_str(self) -> &'static str {{\n        match self {{\n"
        );
        for v in variants {
            let _ = writeln!(s, "            {name}::{} => {v:?},", pascal(v));
        }
        s.push_str("        }\n    }\n}\n");
    }
    s.push_str("\nimpl Event {\n");
    for (i, e) in app_events().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        constructor(&mut s, e);
    }
    s.push_str("}\n");
    s
}

fn constructor(s: &mut String, e: &EventSpec) {
    let _ = writeln!(
        s,
        "    /// {}\n    ///\n    /// `{}`, purpose {}.",
        e.doc,
        e.name,
        e.purpose_name()
    );
    let args: Vec<String> = e
        .required()
        .map(|f| format!("{}: {}", f.name, arg_type(e, f)))
        .collect();
    let _ = writeln!(s, "    pub fn {}({}) -> Event {{", e.name, args.join(", "));
    let props: Vec<String> = e
        .required()
        .skip(usize::from(is_view(e)))
        .map(|f| format!("(\"{}\", {})", f.name, to_value(f, f.name)))
        .collect();
    let map = if props.is_empty() {
        "Map::new()".to_string()
    } else {
        format!("props([{}])", props.join(", "))
    };
    let (kind, name) = match e.kind {
        Kind::Page => ("Page", "name".to_string()),
        Kind::Screen => ("Screen", "name".to_string()),
        _ => ("Track", format!("{:?}", e.name)),
    };
    let purpose = e.purpose.map_or("Analytics", |p| match p {
        cairn_protocol::Purpose::Analytics => "Analytics",
        cairn_protocol::Purpose::Personalization => "Personalization",
        cairn_protocol::Purpose::Marketing => "Marketing",
    });
    let _ = writeln!(
        s,
        "        Event::new(EventKind::{kind}, {name}, {map}).purpose(Purpose::{purpose})\n    }}"
    );
}

fn owned_type(f: &Field) -> String {
    match f.ty {
        FieldType::Str => "String".into(),
        FieldType::Int { .. } => int_type(f.ty).into(),
        FieldType::Num { .. } => "f64".into(),
        FieldType::Bool => "bool".into(),
        FieldType::StrList => "Vec<String>".into(),
        other => panic!(
            "line item field {} of type {other:?} is not supported",
            f.name
        ),
    }
}

fn line_item(s: &mut String) {
    s.push_str(
        "\n/// One line item of a checkout or purchase (`products`); optional fields are\n\
         /// sent when set.\n#[derive(Debug, Clone, PartialEq, Default)]\npub struct LineItem {\n",
    );
    for f in PRODUCT_ITEM {
        let ty = owned_type(f);
        let ty = if f.required {
            ty
        } else {
            format!("Option<{ty}>")
        };
        let _ = writeln!(s, "    /// {}\n    pub {}: {ty},", f.doc, f.name);
    }
    let args: Vec<String> = PRODUCT_ITEM
        .iter()
        .filter(|f| f.required)
        .map(|f| {
            let t = owned_type(f);
            format!(
                "{}: {}",
                f.name,
                if t == "String" { "&str".into() } else { t }
            )
        })
        .collect();
    let _ = write!(
        s,
        "}}\n\nimpl LineItem {{\n    /// A line item with its required fields.\n    pub fn new({}) -> Self {{\n        LineItem {{\n",
        args.join(", ")
    );
    for f in PRODUCT_ITEM.iter().filter(|f| f.required) {
        let conv = if owned_type(f) == "String" {
            ".to_string()"
        } else {
            ""
        };
        if conv.is_empty() {
            let _ = writeln!(s, "            {},", f.name);
        } else {
            let _ = writeln!(s, "            {0}: {0}{conv},", f.name);
        }
    }
    s.push_str(
        "            ..Default::default()\n        }\n    }\n\n    fn to_value(&self) -> Value {\n        let mut m = props([",
    );
    let req: Vec<String> = PRODUCT_ITEM
        .iter()
        .filter(|f| f.required)
        .map(|f| {
            let v = if owned_type(f) == "String" {
                format!("self.{}.as_str()", f.name)
            } else {
                format!("self.{}", f.name)
            };
            format!("(\"{}\", {})", f.name, to_value(f, &v))
        })
        .collect();
    s.push_str(&req.join(", "));
    s.push_str("]);\n");
    for f in PRODUCT_ITEM.iter().filter(|f| !f.required) {
        let v = to_value(f, "v").replace(".into()", "");
        let v = if v == "v" { "v.clone()".to_string() } else { v };
        let _ = writeln!(
            s,
            "        if let Some(v) = &self.{0} {{\n            m.insert(\"{0}\".into(), Value::from({v}));\n        }}",
            f.name
        );
    }
    s.push_str("        Value::Object(m)\n    }\n}\n");
}

/// `tests/tests/roundtrip/samples.rs`: every constructor with the sample values,
/// every optional property set.
pub fn samples_file() -> String {
    let mut s = format!(
        "{HEADER}\n\n//! Every app event of the table through its Rust constructor, with the sample values\n\
         //! of `cairn_codegen::sample_properties` (optional properties through `with`).\n\n\
         use cairn::*;\n\n/// (event name, the event).\npub fn events() -> Vec<(&'static str, Event)> {{\n    vec![\n"
    );
    for e in app_events() {
        let mut args = Vec::new();
        let mut with = String::new();
        for (f, v) in samples(e) {
            let lit = rust_value(e, f, &v);
            if f.required {
                args.push(lit);
            } else {
                let _ = write!(with, ".with({:?}, {})", f.name, lit);
            }
        }
        let _ = writeln!(
            s,
            "        ({:?}, Event::{}({}){with}),",
            e.name,
            e.name,
            args.join(", ")
        );
    }
    s.push_str("    ]\n}\n");
    s
}

/// A sample as a Rust expression: an argument for required fields, a `with` value
/// for optional ones.
fn rust_value(e: &EventSpec, f: &Field, v: &serde_json::Value) -> String {
    match f.ty {
        FieldType::Enum(_) if f.required => {
            format!(
                "{}::{}",
                enum_type(e, f),
                pascal(v.as_str().unwrap_or_default())
            )
        }
        FieldType::StrList => {
            let items: Vec<String> = v.as_array().into_iter().flatten().map(literal).collect();
            if f.required {
                format!("&[{}]", items.join(", "))
            } else {
                format!("vec![{}]", items.join(", "))
            }
        }
        FieldType::Products => {
            let items: Vec<String> = v.as_array().into_iter().flatten().map(item_expr).collect();
            format!("&[{}]", items.join(", "))
        }
        _ => literal(v),
    }
}

fn item_expr(v: &serde_json::Value) -> String {
    let req: Vec<String> = PRODUCT_ITEM
        .iter()
        .filter(|f| f.required)
        .map(|f| literal(&v[f.name]))
        .collect();
    let opt: Vec<String> = PRODUCT_ITEM
        .iter()
        .filter(|f| !f.required && v.get(f.name).is_some())
        .map(|f| format!("{}: Some({}.into())", f.name, literal(&v[f.name])))
        .collect();
    if opt.is_empty() {
        format!("LineItem::new({})", req.join(", "))
    } else {
        format!(
            "LineItem {{ {}, ..LineItem::new({}) }}",
            opt.join(", "),
            req.join(", ")
        )
    }
}
