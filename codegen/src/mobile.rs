//! The mobile `SeedEvent` (`mobile/src/seed_event.rs`, exported to Kotlin, Swift and
//! Python by UniFFI) and the foreign round trips' calls
//! (`mobile/tests/kotlin/Samples.kt`, `mobile/tests/python/samples.py`).

use crate::names::{app_events, camel, enum_type, enums, literal, pascal, sample, samples, upper};
use crate::HEADER;
use cairn_protocol::events::{EventSpec, Field, FieldType, PRODUCT_ITEM};
use serde_json::Value;
use std::fmt::Write;

/// The foreign-friendly type: signed integers (Kotlin has no unsigned `Int` in
/// most APIs), `i32` when the range fits it.
fn ffi_type(e: &EventSpec, f: &Field) -> String {
    match f.ty {
        FieldType::Str => "String".into(),
        FieldType::Int { max, .. } if max <= i64::from(i32::MAX) => "i32".into(),
        FieldType::Int { .. } => "i64".into(),
        FieldType::Num { .. } => "f64".into(),
        FieldType::Bool => "bool".into(),
        FieldType::Enum(_) => enum_type(e, f),
        FieldType::StrList => "Vec<String>".into(),
        FieldType::Products => "Vec<LineItem>".into(),
    }
}

/// Foreign integer `v` as an `i64`.
fn widen(f: &Field, v: &str) -> String {
    match f.ty {
        FieldType::Int { max, .. } if max <= i64::from(i32::MAX) => format!("{v}.into()"),
        _ => v.to_string(),
    }
}

/// The checked conversion of foreign value `v` to the Rust constructor's argument.
fn arg(f: &Field, v: &str) -> String {
    let name = camel(f.name);
    match f.ty {
        FieldType::Str => format!("&{v}"),
        FieldType::Int { min, max } => {
            let target = if max <= i64::from(u32::MAX) {
                "u32"
            } else {
                "u64"
            };
            format!(
                "int(\"{name}\", {}, {min}, {max})? as {target}",
                widen(f, v)
            )
        }
        FieldType::Num { min } => format!("num(\"{name}\", {v}, {})?", literal(&min.into())),
        FieldType::Bool => v.to_string(),
        FieldType::Enum(_) => format!("{v}.into()"),
        FieldType::StrList => format!("&{v}.iter().map(String::as_str).collect::<Vec<_>>()"),
        FieldType::Products => format!("&items({v})?"),
    }
}

/// The checked conversion of optional foreign value `v` to a property value.
fn prop(e: &EventSpec, f: &Field, v: &str) -> String {
    match f.ty {
        FieldType::Int { min, max } => {
            format!("int(\"{}\", {}, {min}, {max})?", camel(f.name), widen(f, v))
        }
        FieldType::Num { .. } => arg(f, v),
        FieldType::Enum(_) => format!("cairn::{}::from({v}).as_str()", enum_type(e, f)),
        FieldType::Products => panic!("optional products ({}) are not supported", f.name),
        _ => v.to_string(),
    }
}

/// `mobile/src/seed_event.rs`.
pub fn seed_event() -> String {
    let mut s = format!(
        "{HEADER}\n\n//! The table's app events with typed fields (`cairn_protocol::EVENTS`): one variant\n\
         //! per event, required fields first (in table order), optional ones defaulting to null. Numbers\n\
         //! outside a field's range are an [`CairnError::InvalidArgument`].\n\n\
         use crate::error::CairnError;\nuse cairn::Event;\n\n"
    );
    s.push_str(
        "fn int(what: &str, v: i64, min: i64, max: i64) -> Result<i64, CairnError> {\n\
         if (min..=max).contains(&v) {\nOk(v)\n} else {\n\
         Err(CairnError::InvalidArgument(format!(\"{what} is {v}, not {min}..={max}\")))\n}\n}\n\n\
         fn num(what: &str, v: f64, min: f64) -> Result<f64, CairnError> {\n\
         if v.is_finite() && v >= min {\nOk(v)\n} else {\n\
         Err(CairnError::InvalidArgument(format!(\"{what} is {v}, not a number >= {min}\")))\n}\n}\n\n\
         fn items(items: Vec<LineItem>) -> Result<Vec<cairn::LineItem>, CairnError> {\n\
         items.into_iter().map(LineItem::into_core).collect()\n}\n",
    );
    // The line item record.
    s.push_str("\n/// One line item of a checkout or purchase.\n#[derive(Debug, Clone, PartialEq, uniffi::Record)]\npub struct LineItem {\n");
    let any = app_events().next().expect("an app event");
    for f in PRODUCT_ITEM {
        let _ = writeln!(s, "    /// {}", f.doc);
        field_decl(&mut s, "pub ", any, f);
    }
    s.push_str("}\n\nimpl LineItem {\nfn into_core(self) -> Result<cairn::LineItem, CairnError> {\nOk(cairn::LineItem {\n");
    for f in PRODUCT_ITEM {
        let v = format!("self.{}", f.name);
        let conv = match (f.required, f.ty) {
            (_, FieldType::Str | FieldType::Bool | FieldType::StrList) => v,
            (true, _) => arg(f, &v),
            (false, _) => panic!("optional line item field {} must be a string", f.name),
        };
        let _ = writeln!(s, "{}: {conv},", f.name);
    }
    s.push_str("})\n}\n}\n");
    for (name, variants) in enums() {
        let _ = write!(
            s,
            "\n/// The values of the `{name}` property.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]\npub enum {name} {{\n"
        );
        for v in variants {
            let _ = writeln!(s, "{},", pascal(v));
        }
        let _ = write!(
            s,
            "}}\n\nimpl From<{name}> for cairn::{name} {{\nfn from(v: {name}) -> Self {{\nmatch v {{\n"
        );
        for v in variants {
            let _ = writeln!(s, "{name}::{0} => cairn::{name}::{0},", pascal(v));
        }
        s.push_str("}\n}\n}\n");
    }
    s.push_str(
        "\n/// The app events of the event table with typed fields. Extra properties go in\n\
         /// `trackEvent`'s `propertiesJson`.\n#[derive(Debug, Clone, PartialEq, uniffi::Enum)]\npub enum SeedEvent {\n",
    );
    for e in app_events() {
        let _ = writeln!(
            s,
            "/// {}\n///\n/// `{}`, purpose {}.",
            e.doc,
            e.name,
            e.purpose_name()
        );
        let _ = writeln!(s, "{} {{", pascal(e.name));
        // Required fields first: Python wants defaulted arguments last.
        for f in e.required().chain(e.optional()) {
            let _ = writeln!(s, "/// {}", f.doc);
            field_decl(&mut s, "", e, f);
        }
        s.push_str("},\n");
    }
    s.push_str(
        "}\n\nimpl SeedEvent {\n/// The core event, or the first field out of its range.\n\
         pub(crate) fn into_event(self) -> Result<Event, CairnError> {\nOk(match self {\n",
    );
    for e in app_events() {
        let fields: Vec<&str> = e.all_fields().map(|f| f.name).collect();
        let args: Vec<String> = e.required().map(|f| arg(f, f.name)).collect();
        let _ = writeln!(
            s,
            "SeedEvent::{} {{ {} }} => {{",
            pascal(e.name),
            fields.join(", ")
        );
        let opts: Vec<&Field> = e.optional().collect();
        let call = format!("Event::{}({})", e.name, args.join(", "));
        if opts.is_empty() {
            let _ = writeln!(s, "{call}\n}}");
            continue;
        }
        let _ = writeln!(s, "let mut e = {call};");
        for f in opts {
            let val = prop(e, f, "v");
            let _ = writeln!(
                s,
                "if let Some(v) = {} {{\ne = e.with(\"{}\", {val});\n}}",
                f.name, f.name
            );
        }
        s.push_str("e\n}\n");
    }
    s.push_str("})\n}\n}\n");
    s
}

/// A field of a record (`pub `) or of an enum variant (`""`).
fn field_decl(s: &mut String, vis: &str, e: &EventSpec, f: &Field) {
    let ty = ffi_type(e, f);
    if f.required {
        let _ = writeln!(s, "{vis}{}: {ty},", f.name);
    } else {
        let _ = writeln!(s, "#[uniffi(default)]\n{vis}{}: Option<{ty}>,", f.name);
    }
}

/// A sample in Kotlin.
fn kotlin_value(e: &EventSpec, f: &Field, v: &Value) -> String {
    match f.ty {
        FieldType::Str => literal(v),
        FieldType::Int { max, .. } if max > i64::from(i32::MAX) => format!("{v}L"),
        FieldType::Enum(_) => format!(
            "{}.{}",
            enum_type(e, f),
            upper(v.as_str().unwrap_or_default())
        ),
        FieldType::StrList => format!(
            "listOf({})",
            v.as_array()
                .into_iter()
                .flatten()
                .map(literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        FieldType::Products => format!(
            "listOf({})",
            v.as_array()
                .into_iter()
                .flatten()
                .map(|item| {
                    let fs: Vec<String> = PRODUCT_ITEM
                        .iter()
                        .filter(|f| item.get(f.name).is_some())
                        .map(|f| {
                            format!("{} = {}", camel(f.name), kotlin_value(e, f, &item[f.name]))
                        })
                        .collect();
                    format!("LineItem({})", fs.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => v.to_string(),
    }
}

/// `mobile/tests/kotlin/Samples.kt`.
pub fn kotlin_samples() -> String {
    let mut s = format!(
        "{HEADER}\n// Every SeedEvent variant with the sample values (the Kotlin round trip).\n\
         import dev.cairn.*\n\nfun sampleSeedEvents(): List<SeedEvent> = listOf(\n"
    );
    for e in app_events() {
        let args: Vec<String> = samples(e)
            .iter()
            .map(|(f, v)| format!("{} = {}", camel(f.name), kotlin_value(e, f, v)))
            .collect();
        if args.is_empty() {
            // A variant without fields is a Kotlin object.
            let _ = writeln!(s, "    SeedEvent.{},", pascal(e.name));
        } else {
            let _ = writeln!(s, "    SeedEvent.{}({}),", pascal(e.name), args.join(", "));
        }
    }
    s.push_str(")\n");
    s.push_str(&kotlin_bad_samples());
    s
}

/// A sample in Python.
fn python_value(e: &EventSpec, f: &Field, v: &Value) -> String {
    match f.ty {
        FieldType::Bool => if v == &Value::Bool(true) {
            "True"
        } else {
            "False"
        }
        .into(),
        FieldType::Enum(_) => format!(
            "cairn.{}.{}",
            enum_type(e, f),
            upper(v.as_str().unwrap_or_default())
        ),
        FieldType::Products => format!(
            "[{}]",
            v.as_array()
                .into_iter()
                .flatten()
                .map(|item| {
                    let fs: Vec<String> = PRODUCT_ITEM
                        .iter()
                        .filter(|f| item.get(f.name).is_some())
                        .map(|f| format!("{}={}", f.name, python_value(e, f, &item[f.name])))
                        .collect();
                    format!("cairn.LineItem({})", fs.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => v.to_string(),
    }
}

/// `mobile/tests/python/samples.py`.
pub fn python_samples() -> String {
    let mut s = format!(
        "{}\n\"\"\"Every SeedEvent variant with the sample values (the Python round trip).\"\"\"\n\n\n\
         def sample_seed_events(cairn):\n    return [\n",
        HEADER.replacen("//", "#", 1)
    );
    for e in app_events() {
        let args: Vec<String> = samples(e)
            .iter()
            .map(|(f, v)| format!("{}={}", f.name, python_value(e, f, v)))
            .collect();
        let _ = writeln!(
            s,
            "        cairn.SeedEvent.{}({}),",
            upper(e.name),
            args.join(", ")
        );
    }
    s.push_str("    ]\n");
    s
}

/// Kotlin's type of an integer field (what UniFFI makes of [`ffi_type`]).
fn kotlin_int_is_long(f: &Field) -> bool {
    matches!(f.ty, FieldType::Int { max, .. } if max > i64::from(i32::MAX))
}

/// The Kotlin statement checking foreign value `v` (non-null) of field `f`: the same
/// test and message as the library's `int` / `num` / `items` in `seed_event.rs`.
fn kotlin_check(f: &Field, v: &str) -> Option<String> {
    let name = camel(f.name);
    match f.ty {
        FieldType::Int { min, max } => {
            let widen = if kotlin_int_is_long(f) {
                ""
            } else {
                ".toLong()"
            };
            Some(format!("int(\"{name}\", {v}{widen}, {min}L, {max}L)"))
        }
        // The message's minimum as Rust prints it (`0`, not Kotlin's `0.0`).
        FieldType::Num { min } => Some(format!("num(\"{name}\", {v}, {min:?}, \"{min}\")")),
        FieldType::Products => Some(format!("items({v})")),
        _ => None,
    }
}

/// `mobile/kotlin/dev/cairn/SeedEventChecks.kt`: the ranges of `SeedEvent`'s numbers,
/// checked in Kotlin so the layer refuses a bad value at the call without crossing
/// into the library on the caller's thread (a JNA crossing costs ~10 µs on a JVM).
pub fn kotlin_checks() -> String {
    let mut s = format!(
        "{HEADER}\n\
         //\n\
         // The ranges of SeedEvent's numeric fields (cairn-protocol's event table), checked by\n\
         // the Kotlin layer at the call, so a bad value throws there without a crossing into the\n\
         // library on the caller's thread. Rule: the same tests and messages as the library's own\n\
         // check (mobile/src/seed_event.rs, generated from the same table); the Kotlin test\n\
         // compares both on every out-of-range sample (badSeedEvents in tests/kotlin/Samples.kt).\n\
         package dev.cairn\n\n\
         import java.math.BigDecimal\n\n\
         /** Throws CairnException.InvalidArgument for the first number of `e` out of its range. */\n\
         internal fun checkSeedEventRanges(e: SeedEvent) {{\n    when (e) {{\n"
    );
    for e in app_events() {
        let mut body = Vec::new();
        // Required fields first, then optional ones: the library's order, so the first
        // field out of range is the same one.
        for f in e.required().chain(e.optional()) {
            let field = format!("e.{}", camel(f.name));
            if f.required {
                body.extend(kotlin_check(f, &field));
            } else if let Some(c) = kotlin_check(f, "it") {
                body.push(format!("{field}?.let {{ {c} }}"));
            }
        }
        if body.is_empty() {
            continue;
        }
        let _ = writeln!(s, "        is SeedEvent.{} -> {{", pascal(e.name));
        for b in body {
            let _ = writeln!(s, "            {b}");
        }
        s.push_str("        }\n");
    }
    s.push_str("        else -> {}\n    }\n}\n\nprivate fun items(items: List<LineItem>) {\n    for (i in items) {\n");
    for f in PRODUCT_ITEM {
        if let Some(c) = kotlin_check(f, &format!("i.{}", camel(f.name))) {
            let _ = writeln!(s, "        {c}");
        }
    }
    s.push_str(
        "    }\n}\n\n\
         private fun int(what: String, v: Long, min: Long, max: Long) {\n    \
         if (v < min || v > max) {\n        \
         throw CairnException.InvalidArgument(\"invalid argument: $what is $v, not $min..=$max\")\n    \
         }\n}\n\n\
         private fun num(what: String, v: Double, min: Double, minText: String) {\n    \
         if (!(v.isFinite() && v >= min)) {\n        \
         throw CairnException.InvalidArgument(\"invalid argument: $what is ${rust(v)}, not a number >= $minText\")\n    \
         }\n}\n\n\
         /** A double as Rust's Display prints it: NaN, inf, -inf, no exponent, no `.0`. */\n\
         private fun rust(v: Double): String = when {\n    \
         v.isNaN() -> \"NaN\"\n    \
         v == Double.POSITIVE_INFINITY -> \"inf\"\n    \
         v == Double.NEGATIVE_INFINITY -> \"-inf\"\n    \
         else -> BigDecimal(v.toString()).stripTrailingZeros().toPlainString()\n\
         }\n",
    );
    s
}

/// Out-of-range Kotlin values for field `f` (each alone makes the event invalid).
fn kotlin_bad_values(e: &EventSpec, f: &Field) -> Vec<String> {
    match f.ty {
        FieldType::Int { min, max } => {
            let (lo, hi, suffix) = if kotlin_int_is_long(f) {
                (i64::MIN, i64::MAX, "L")
            } else {
                (i64::from(i32::MIN), i64::from(i32::MAX), "")
            };
            let mut v = Vec::new();
            if min > lo {
                v.push(format!("{}{suffix}", min - 1));
            }
            if max < hi {
                v.push(format!("{}{suffix}", max + 1));
            }
            v
        }
        FieldType::Num { min } => vec![
            "Double.NaN".into(),
            "Double.POSITIVE_INFINITY".into(),
            format!("{:?}", min - 1.5),
        ],
        FieldType::Products => {
            let item = &sample(e, f)[0];
            let mut v = Vec::new();
            for bad in PRODUCT_ITEM {
                for value in kotlin_bad_values(e, bad) {
                    let fs: Vec<String> = PRODUCT_ITEM
                        .iter()
                        .filter(|f| f.required)
                        .map(|f| {
                            let given = if f.name == bad.name {
                                value.clone()
                            } else {
                                kotlin_value(e, f, &item[f.name])
                            };
                            format!("{} = {given}", camel(f.name))
                        })
                        .collect();
                    v.push(format!("listOf(LineItem({}))", fs.join(", ")));
                }
            }
            v
        }
        _ => Vec::new(),
    }
}

/// `badSeedEvents()` in Samples.kt: every variant's samples with one number out of
/// range, for each number and each kind of bad value.
fn kotlin_bad_samples() -> String {
    let mut s = String::from(
        "\n// Every SeedEvent number out of its range, one at a time (the Kotlin and the library\n\
         // checks must refuse each with the same message).\nfun badSeedEvents(): List<SeedEvent> = listOf(\n",
    );
    for e in app_events() {
        let all = samples(e);
        for (bad, _) in &all {
            for value in kotlin_bad_values(e, bad) {
                let args: Vec<String> = all
                    .iter()
                    .map(|(f, v)| {
                        let given = if f.name == bad.name {
                            value.clone()
                        } else {
                            kotlin_value(e, f, v)
                        };
                        format!("{} = {given}", camel(f.name))
                    })
                    .collect();
                let _ = writeln!(s, "    SeedEvent.{}({}),", pascal(e.name), args.join(", "));
            }
        }
    }
    s.push_str(")\n");
    s
}
