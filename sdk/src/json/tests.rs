use super::*;
use serde_json::Value;

const SAMPLES: &[&str] = &[
    "{}",
    " { \"a\" : 1 , \"b\":[1,2,{\"c\":null}] } ",
    r#"{"s":"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","n":-0.5e+10,"z":0,"t":true,"f":false}"#,
    r#"{"a":1,}"#,
    r#"{"a":01}"#,
    r#"{"a":1.}"#,
    r#"{"a":.5}"#,
    r#"{"a":1e}"#,
    r#"{"a":-}"#,
    r#"{"a":"\x"}"#,
    r#"{"a":"\u12"}"#,
    r#"{"a":"\u+123"}"#,
    r#"{"a":"\ud800"}"#,
    r#"{"a":"\ud800\u0041"}"#,
    r#"{"a":"\udc00"}"#,
    "{\"a\":\"tab\there\"}",
    r#"{"a":tru}"#,
    r#"{"a":1}x"#,
    r#"{"a" 1}"#,
    r#"{a:1}"#,
    r#"[1,2]"#,
    r#"{"a":[1,2}"#,
    r#"{"a":{"b":{}}}"#,
    r#"{"a":"unterminated}"#,
];

#[test]
fn validity_agrees_with_serde_json() {
    for s in SAMPLES {
        let serde = serde_json::from_str::<Value>(s).is_ok();
        assert_eq!(valid(s), serde, "{s}");
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert!(!valid(&deep), "nesting is bounded like serde_json's");
}

#[test]
fn object_accepts_objects_and_none() {
    assert_eq!(object("").unwrap(), "{}");
    assert_eq!(object(" null ").unwrap(), "{}");
    assert_eq!(object(r#" {"a":1} "#).unwrap(), r#"{"a":1}"#);
    for bad in ["[1]", "1", "\"x\"", "{", "{\"a\":1} {}", "true"] {
        assert!(matches!(object(bad), Err(Error::NotAnObject)), "{bad}");
    }
}

#[test]
fn members_and_strings_read_as_serde_json_does() {
    let text = SAMPLES[2];
    let v: Value = serde_json::from_str(text).unwrap();
    let m = members(text);
    assert_eq!(m.len(), v.as_object().unwrap().len());
    for (k, val) in m {
        let k = unescape(k).unwrap();
        let parsed: Value = serde_json::from_str(val).unwrap();
        assert_eq!(parsed, v[&k], "{k}");
        if let Value::String(s) = &v[&k] {
            assert_eq!(unescape(val).as_ref(), Some(s));
        }
    }
    assert_eq!(
        members(object(" { \"a\" : [1, 2] , \"b\" : {} } ").unwrap()),
        [("\"a\"", "[1, 2]"), ("\"b\"", "{}")]
    );
    assert!(members("{}").is_empty());
}

#[test]
fn integers_as_serde_json_reads_them() {
    for t in [
        "0",
        "7",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "1.0",
        "1e3",
        "",
        "99999999999999999999",
        "184467440737095516150",
        "1/",
        "1:",
        "/",
    ] {
        let serde = serde_json::from_str::<Value>(t)
            .ok()
            .and_then(|v| v.as_u64());
        assert_eq!(as_u64(t), serde, "{t}");
    }
    for t in [
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "9223372036854775808",
        "-3",
    ] {
        let serde = serde_json::from_str::<Value>(t)
            .ok()
            .and_then(|v| v.as_i64());
        assert_eq!(as_i64(t), serde, "{t}");
    }
}
