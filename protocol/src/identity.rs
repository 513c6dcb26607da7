//! One identity per person, on every path.
//!
//! The scheme: an identifier is normalised (user ids trimmed; e-mails trimmed and
//! lower-cased; phones brought to E.164 shape), then hashed with HMAC-SHA256 under the
//! *project hash key*, which all of a project's platforms share, and written as
//! lower-case hex. SDKs do this on the device and list what they hashed in
//! `context.hashed`; the collector does it for whatever arrives raw (a Segment server
//! library, a tracker with hashing off), using the project hash key configured for
//! the write key. Either way the collector then re-keys the device hash with its
//! server secret, so one person has one stored pseudonym whichever path the event
//! came by, and deletion by the raw id finds all of them.

/// HMAC-SHA256 under one key: ring on native targets, `sha256.rs` on wasm32.
#[derive(Clone)]
struct Mac(
    #[cfg(not(target_arch = "wasm32"))] ring::hmac::Key,
    #[cfg(target_arch = "wasm32")] crate::sha256::HmacKey,
);

impl Mac {
    fn new(key: &[u8]) -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        return Mac(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key));
        #[cfg(target_arch = "wasm32")]
        return Mac(crate::sha256::HmacKey::new(key));
    }

    fn hex(&self, data: &[u8]) -> String {
        #[cfg(not(target_arch = "wasm32"))]
        return hex(ring::hmac::sign(&self.0, data).as_ref());
        #[cfg(target_arch = "wasm32")]
        return hex(&self.0.sign(data));
    }
}

/// A contact trait: a personal identifier that is never stored raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    Email,
    Phone,
}

/// Trait keys that hold contact identifiers (matched in any ASCII case: `Email`,
/// `PHONE`), in `traits` and in `context.traits`.
pub const CONTACT_TRAITS: [(&str, Contact); 2] =
    [("email", Contact::Email), ("phone", Contact::Phone)];

/// Which contact identifier a trait key holds, if any.
pub fn contact_trait(key: &str) -> Option<Contact> {
    CONTACT_TRAITS
        .iter()
        .find(|(name, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
}

/// `context.hashed` path of the user id.
pub const USER_ID: &str = "userId";
/// `context.hashed` path of an alias's previous id.
pub const PREVIOUS_ID: &str = "previousId";
/// Prefix of a trait's `context.hashed` path (`traits.email`).
pub const TRAITS_PREFIX: &str = "traits.";
/// Prefix of a context trait's `context.hashed` path (`context.traits.email`).
pub const CONTEXT_TRAITS_PREFIX: &str = "context.traits.";

/// User ids are case-sensitive: only surrounding white space goes.
pub fn normalize_user_id(raw: &str) -> &str {
    trim(raw)
}

/// `char::is_whitespace` (Unicode `White_Space`, 25 chars, unchanged since Unicode
/// 6.3) as one match, without core's 256-byte lookup table; a test checks every
/// char against core's.
fn is_white_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `str::trim`'s result (Unicode `White_Space` gone from both ends), found in one
/// forward pass: core's double-ended searcher is ~0.3 KB of the web tracker's wasm.
pub fn trim(s: &str) -> &str {
    let (mut start, mut end) = (s.len(), 0);
    let mut chars = s.chars();
    loop {
        let at = s.len() - chars.as_str().len();
        let Some(c) = chars.next() else { break };
        if !is_white_space(c) {
            start = start.min(at);
            end = s.len() - chars.as_str().len();
        }
    }
    s.get(start..end).unwrap_or_default()
}

/// Trimmed and lower-cased (Unicode full lower-case, as `str::to_lowercase`).
pub fn normalize_email(raw: &str) -> String {
    normalize_email_with(raw, str::to_lowercase)
}

/// [`normalize_email`] with another lower-case mapping of the same Unicode rules (the
/// web tracker uses the browser's `toLowerCase` to keep Rust's tables out of its wasm).
pub fn normalize_email_with(raw: &str, lowercase: impl Fn(&str) -> String) -> String {
    let t = trim(raw);
    if t.is_ascii() {
        t.to_ascii_lowercase()
    } else {
        lowercase(t)
    }
}

/// E.164 shape: the digits, after a `+` when the number is international (written
/// with `+` or the `00` prefix, wherever the first digit or `+` stands):
/// `"+44 (20) 7946-0018"` and `"(00) 44 20 7946 0018"` both give `"+442079460018"`;
/// a national number keeps its digits (`"06 12 34 56 78"` -> `"0612345678"`).
pub fn normalize_phone(raw: &str) -> String {
    // No trim: white space is neither a digit nor `+`, so it changes nothing here.
    let plus = raw.chars().find(|c| *c == '+' || c.is_ascii_digit()) == Some('+');
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if plus {
        ["+", &digits].concat()
    } else if let Some(rest) = digits.strip_prefix("00") {
        ["+", rest].concat()
    } else {
        digits
    }
}

/// The normalised text of a contact identifier.
pub fn normalize_contact(contact: Contact, raw: &str) -> String {
    match contact {
        Contact::Email => normalize_email(raw),
        Contact::Phone => normalize_phone(raw),
    }
}

/// Hashes normalised identifiers under a project hash key (the device side of the
/// scheme; the collector uses it too for identifiers that arrive raw).
#[derive(Clone)]
pub struct ProjectHasher(Mac);

impl core::fmt::Debug for ProjectHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ProjectHasher(..)")
    }
}

impl ProjectHasher {
    pub fn new(project_hash_key: &[u8]) -> Self {
        ProjectHasher(Mac::new(project_hash_key))
    }

    /// HMAC-SHA256 of already normalised text, as 64 lower-case hex digits.
    pub fn hash(&self, normalised: &str) -> String {
        self.0.hex(normalised.as_bytes())
    }

    pub fn user_id(&self, raw: &str) -> String {
        self.hash(normalize_user_id(raw))
    }

    pub fn contact(&self, contact: Contact, raw: &str) -> String {
        self.hash(&normalize_contact(contact, raw))
    }
}

/// The pseudonym the collector stores for a device hash: HMAC-SHA256 under its
/// server secret, as hex. Services downstream that are given the secret (the
/// recommender) derive it the same way from an id a caller passes them.
pub fn pseudonym(server_secret: &[u8], device_hash: &str) -> String {
    Mac::new(server_secret).hex(device_hash.as_bytes())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
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
    fn one_normalisation() {
        assert_eq!(
            normalize_email("  Alice@Example.COM \n"),
            "alice@example.com"
        );
        assert_eq!(normalize_email(" ÅSA.Σ@Exämple.COM "), "åsa.ς@exämple.com");
        assert_eq!(normalize_phone(" +44 (20) 7946-0018 "), "+442079460018");
        assert_eq!(normalize_phone("(00) 44 20 7946 0018"), "+442079460018");
        assert_eq!(normalize_phone("0033 6 12 34 56 78"), "+33612345678");
        assert_eq!(normalize_phone("(+1) 555 0100"), "+15550100");
        assert_eq!(normalize_phone("06-12-34-56-78"), "0612345678");
        assert_eq!(normalize_user_id("  u-1 "), "u-1");
    }

    #[test]
    fn trim_is_str_trim() {
        // Every char `str::trim` takes away (Unicode White_Space), and some it keeps
        // (zero-width space, BOM, NUL, multi-byte text), at either end, inside and
        // alone; then the phone, which is not trimmed, around the same.
        let ws: Vec<char> = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        assert_eq!(ws.len(), 25);
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            assert_eq!(is_white_space(c), c.is_whitespace(), "{c:?}");
        }
        let kept = ['\u{200B}', '\u{FEFF}', '\0', 'a', 'é', '€', '😀'];
        let mut cases = vec![String::new()];
        for a in ws.iter().chain(&kept) {
            for b in ws.iter().chain(&kept) {
                cases.push([*a, *b].iter().collect());
                cases.push([*a, 'x', *a, '€', *b, *b].iter().collect());
                cases.push([*a, '😀', *b].iter().collect());
            }
        }
        for s in &cases {
            assert_eq!(trim(s), s.trim(), "{s:?}");
            assert_eq!(normalize_user_id(s), s.trim());
            let phone = [s.as_str(), "+44 20", s.as_str()].concat();
            assert_eq!(normalize_phone(&phone), normalize_phone(phone.trim()));
        }
    }

    #[test]
    fn contact_keys_in_any_case() {
        assert_eq!(contact_trait("EMAIL"), Some(Contact::Email));
        assert_eq!(contact_trait("Phone"), Some(Contact::Phone));
        assert_eq!(contact_trait("phones"), None);
    }

    #[test]
    fn ring_and_the_portable_hmac_agree() {
        let portable = crate::sha256::HmacKey::new(b"k");
        for text in ["", "user-42", "alice@example.com", &"x".repeat(200)] {
            assert_eq!(
                ProjectHasher::new(b"k").hash(text),
                hex(&portable.sign(text.as_bytes()))
            );
        }
    }

    #[test]
    fn hashing_scheme_known_vector() {
        // RFC 4231 test case 2 through the scheme (user ids are trimmed first).
        let h = ProjectHasher::new(b"Jefe");
        assert_eq!(
            h.user_id(" what do ya want for nothing? "),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            h.contact(Contact::Email, "A@B.com"),
            h.contact(Contact::Email, " a@b.COM")
        );
        assert_eq!(
            h.contact(Contact::Phone, "0044 20 7946 0018"),
            h.contact(Contact::Phone, "+442079460018")
        );
        let device = h.user_id("u-1");
        assert_eq!(pseudonym(b"s", &device).len(), 64);
        assert_ne!(pseudonym(b"s", &device), pseudonym(b"t", &device));
    }
}
