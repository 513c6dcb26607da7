//! Identifiers are hashed on the device: HMAC-SHA256 (ring) under the app's hash
//! key, hex-encoded, over a normalised input, so the same person hashes the same
//! way on every platform and no raw e-mail, phone or user id leaves the device.

#[cfg(not(target_arch = "wasm32"))]
use ring::hmac;

/// HMAC-SHA256: ring on native targets, the core's own on wasm32 (`sha256.rs`).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone)]
struct Key(hmac::Key);
#[cfg(not(target_arch = "wasm32"))]
impl Key {
    fn new(k: &[u8]) -> Self {
        Key(hmac::Key::new(hmac::HMAC_SHA256, k))
    }
    fn sign(&self, data: &[u8]) -> hmac::Tag {
        hmac::sign(&self.0, data)
    }
}
#[cfg(target_arch = "wasm32")]
use crate::sha256::HmacKey as Key;

/// Trait names whose values are personal identifiers, hashed by `identify` and
/// `group` (matched in any case).
pub const EMAIL_TRAITS: &[&str] = &["email"];
pub const PHONE_TRAITS: &[&str] = &["phone"];

/// Hashes identifiers under one key (or passes them through when hashing is off).
#[derive(Clone)]
pub struct Hasher {
    key: Option<Key>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("enabled", &self.key.is_some())
            .finish()
    }
}

impl Hasher {
    /// `None` disables hashing.
    pub fn new(key: Option<&[u8]>) -> Self {
        Hasher {
            key: key.map(Key::new),
        }
    }

    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// User ids: trimmed (case is kept, ids are case-sensitive), then hashed.
    pub fn user_id(&self, raw: &str) -> String {
        self.hash(raw.trim())
    }

    /// E-mails: trimmed and lower-cased, then hashed.
    pub fn email(&self, raw: &str) -> String {
        self.hash(&normalize_email(raw))
    }

    /// Phones: E.164-ish (leading `+` kept, digits only), then hashed.
    pub fn phone(&self, raw: &str) -> String {
        self.hash(&normalize_phone(raw))
    }

    fn hash(&self, normalised: &str) -> String {
        match &self.key {
            Some(k) => hex(k.sign(normalised.as_bytes()).as_ref()),
            None => normalised.to_string(),
        }
    }
}

/// Trimmed, lower-cased (Unicode full lower-case, as `str::to_lowercase`).
pub fn normalize_email(raw: &str) -> String {
    lowercase(raw.trim())
}

#[cfg(not(all(feature = "js", target_arch = "wasm32")))]
fn lowercase(s: &str) -> String {
    s.to_lowercase()
}

/// The browser's `toLowerCase` for non-ASCII text (the same Unicode mapping as
/// `str::to_lowercase`, final sigma included), so Rust's case tables stay out of
/// the web tracker. ASCII, nearly every e-mail, never leaves Rust.
#[cfg(all(feature = "js", target_arch = "wasm32"))]
fn lowercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    use wasm_bindgen::JsCast;
    wasm_bindgen::JsValue::from_str(s)
        .unchecked_into::<JsText>()
        .to_lower_case()
}

#[cfg(all(feature = "js", target_arch = "wasm32"))]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A JavaScript string.
    type JsText;
    /// `String.prototype.toLowerCase`.
    #[wasm_bindgen(method, js_name = toLowerCase)]
    fn to_lower_case(this: &JsText) -> String;
}

/// E.164-ish: keeps a leading `+` and the digits ("+44 (20) 7946-0018" ->
/// "+442079460018"); a "00" international prefix becomes "+".
pub fn normalize_phone(raw: &str) -> String {
    let t = raw.trim();
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if t.starts_with('+') {
        format!("+{digits}")
    } else if let Some(rest) = digits.strip_prefix("00") {
        format!("+{rest}")
    } else {
        digits
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_email("  Alice@Example.COM \n"),
            "alice@example.com"
        );
        // Non-ASCII: full Unicode lower-case with final sigma (the web tracker's
        // browser test expects the same text from String.prototype.toLowerCase).
        assert_eq!(normalize_email(" ÅSA.Σ@Exämple.COM "), "åsa.ς@exämple.com");
        assert_eq!(normalize_phone(" +44 (20) 7946-0018 "), "+442079460018");
        assert_eq!(normalize_phone("0033 6 12 34 56 78"), "+33612345678");
        assert_eq!(normalize_phone("06-12-34-56-78"), "0612345678");
    }

    #[test]
    fn hmac_sha256_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = Hasher::new(Some(b"Jefe"));
        assert_eq!(
            h.user_id(" what do ya want for nothing? "),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn equal_after_normalisation_and_keyed() {
        let h = Hasher::new(Some(b"k1"));
        assert_eq!(h.email("A@B.com"), h.email(" a@b.COM"));
        assert_eq!(h.phone("+1 (555) 010-0000"), h.phone("+15550100000"));
        assert_ne!(
            h.email("a@b.com"),
            Hasher::new(Some(b"k2")).email("a@b.com")
        );
        assert_eq!(h.email("a@b.com").len(), 64);
        let off = Hasher::new(None);
        assert!(!off.enabled());
        assert_eq!(off.email(" A@B.com "), "a@b.com");
    }
}
