//! Raw JSON text: a validity check and a walk over an object's top-level members,
//! without building a value tree. Properties and traits travel through the engine
//! as the JSON object text they arrive in (the web tracker's come from
//! `JSON.stringify`; native callers' from serde_json), so the web tracker's wasm
//! carries no JSON value model, map or float formatting (see wasm/README.md).

use crate::error::Error;

/// Deepest nesting accepted (serde_json's default recursion limit).
const MAX_DEPTH: u32 = 128;

/// The object text to embed: `""` and `"null"` mean none (`{}`); anything else
/// must be one valid JSON object, or `Error::NotAnObject`.
pub fn object(text: &str) -> Result<&str, Error> {
    let t = trim_ws(text, true);
    if t.is_empty() || t == "null" {
        return Ok("{}");
    }
    if t.starts_with("{") && valid(t) {
        Ok(t)
    } else {
        Err(Error::NotAnObject)
    }
}

/// Whether `text` is exactly one JSON value (RFC 8259; escapes of lone
/// surrogates are refused, as serde_json does, so a collector never sees them).
pub fn valid(text: &str) -> bool {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    p.value(MAX_DEPTH) && p.i == p.b.len()
}

/// The top-level members of a valid object (`object`'s output) as (key with its
/// quotes, value text) pairs, in order.
pub fn members(obj: &str) -> Vec<(&str, &str)> {
    let mut p = Parser {
        b: obj.as_bytes(),
        i: 1,
    };
    let mut out = Vec::new();
    p.ws();
    if p.eat(b'}') {
        return out;
    }
    loop {
        p.ws();
        let k = p.i;
        if !p.string() {
            break;
        }
        let key = obj.get(k..p.i).unwrap_or_default();
        p.ws();
        if !p.eat(b':') {
            break;
        }
        p.ws();
        let v = p.i;
        if !p.value(MAX_DEPTH) {
            break;
        }
        let value = obj.get(v..p.i).unwrap_or_default();
        out.push((key, trim_ws(value, false)));
        if !p.eat(b',') {
            break;
        }
    }
    out
}

/// The text of a JSON string token (with its quotes), unescaped; `None` if it
/// is not one.
pub fn unescape(token: &str) -> Option<String> {
    // `&str` patterns, not `char`s (here and in `as_i64`): a char pattern encodes
    // itself to UTF-8 at run time, ~0.1 KB gzipped of the web tracker's wasm.
    let inner = token.strip_prefix("\"")?.strip_suffix("\"")?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match it.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                let hi = hex4(&mut it)?;
                if (0xd800..0xdc00).contains(&hi) {
                    if (it.next()?, it.next()?) != ('\\', 'u') {
                        return None;
                    }
                    let lo = hex4(&mut it)?;
                    char::from_u32(0x10000 + ((hi - 0xd800) << 10) + lo.checked_sub(0xdc00)?)?
                } else {
                    char::from_u32(hi)?
                }
            }
            c => c, // '"', '\\', '/'
        });
    }
    Some(out)
}

fn hex4(it: &mut std::str::Chars) -> Option<u32> {
    (0..4).try_fold(0, |n, _| Some(n * 16 + it.next()?.to_digit(16)?))
}

/// A JSON number token that is a whole number in u64 range (what serde_json's
/// `Number::is_u64` accepts): digits only.
pub fn as_u64(token: &str) -> Option<u64> {
    if token.is_empty() {
        return None;
    }
    // One pass: a non-digit or an overflow is `None`. Overflow checked by a
    // division, not `checked_mul` (which wasm32 does in 128 bits: `__multi3`).
    let mut n = 0u64;
    for b in token.bytes() {
        let d = u64::from(b.wrapping_sub(b'0'));
        if d > 9 || n > (u64::MAX - d) / 10 {
            return None;
        }
        n = n * 10 + d;
    }
    Some(n)
}

/// A JSON integer token (optionally negative) in i64 range.
pub fn as_i64(token: &str) -> Option<i64> {
    match token.strip_prefix("-") {
        Some(d) => as_u64(d).and_then(|n| 0i64.checked_sub_unsigned(n)),
        None => as_u64(token).and_then(|n| i64::try_from(n).ok()),
    }
}

/// `s` without JSON whitespace at its end (and its start if `start`). The four
/// whitespace characters are ASCII, so byte positions are char boundaries; bytes,
/// not a char pattern: the web tracker's wasm then has no pattern searcher for it.
pub(crate) fn trim_ws(s: &str, start: bool) -> &str {
    let b = s.as_bytes();
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let from = if start {
        b.iter().position(|c| !ws(c)).unwrap_or(b.len())
    } else {
        0
    };
    let to = b
        .iter()
        .rposition(|c| !ws(c))
        .map_or(from, |e| e + 1)
        .max(from);
    s.get(from..to).unwrap_or_default()
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn digits(&mut self) -> bool {
        let s = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i > s
    }
    /// A value with the whitespace around it.
    fn value(&mut self, depth: u32) -> bool {
        self.ws();
        let ok = match self.peek() {
            Some(b'{') => self.seq(b'}', depth, true),
            Some(b'[') => self.seq(b']', depth, false),
            Some(b'"') => self.string(),
            Some(b't') => self.lit(b"true"),
            Some(b'f') => self.lit(b"false"),
            Some(b'n') => self.lit(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        };
        self.ws();
        ok
    }
    fn lit(&mut self, l: &[u8]) -> bool {
        let hit = self.b.get(self.i..).is_some_and(|r| r.starts_with(l));
        self.i += if hit { l.len() } else { 0 };
        hit
    }
    fn number(&mut self) -> bool {
        self.eat(b'-');
        if !self.eat(b'0') && !self.digits() {
            return false;
        }
        if self.eat(b'.') && !self.digits() {
            return false;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            return self.digits();
        }
        true
    }
    fn seq(&mut self, close: u8, depth: u32, object: bool) -> bool {
        if depth == 0 {
            return false;
        }
        self.i += 1;
        self.ws();
        if self.eat(close) {
            return true;
        }
        loop {
            if object {
                self.ws();
                if !self.string() {
                    return false;
                }
                self.ws();
                if !self.eat(b':') {
                    return false;
                }
            }
            if !self.value(depth - 1) {
                return false;
            }
            if !self.eat(b',') {
                return self.eat(close);
            }
        }
    }
    fn string(&mut self) -> bool {
        if !self.eat(b'"') {
            return false;
        }
        // A high surrogate escape must be followed by a low one.
        let mut want_low = false;
        while let Some(c) = self.peek() {
            self.i += 1;
            let escape = c == b'\\';
            let unit = if escape && self.peek() == Some(b'u') {
                let h = self.b.get(self.i + 1..self.i + 5);
                let Some(h) = h.filter(|h| h.iter().all(u8::is_ascii_hexdigit)) else {
                    return false;
                };
                self.i += 5;
                Some(
                    h.iter()
                        .fold(0, |n, d| n * 16 + (*d as char).to_digit(16).unwrap_or(0)),
                )
            } else {
                None
            };
            let low = unit.is_some_and(|n| (0xdc00..0xe000).contains(&n));
            if want_low != low {
                return false;
            }
            want_low = unit.is_some_and(|n| (0xd800..0xdc00).contains(&n));
            match c {
                b'"' => return true,
                b'\\' if unit.is_none() => match self.peek() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                    _ => return false,
                },
                0..=0x1f => return false,
                _ => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
