//! Identifiers are hashed on the device: HMAC-SHA256 under the project hash
//! key, hex-encoded, over a normalised input, so the same person hashes the same
//! way on every platform and no raw e-mail, phone or user id leaves the device.

use cairn_protocol::identity::{self as scheme, Contact, ProjectHasher};

/// Hashes identifiers under one key (or passes them through when hashing is off).
#[derive(Clone)]
pub struct Hasher {
    key: Option<ProjectHasher>,
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
            key: key.map(ProjectHasher::new),
        }
    }

    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// User ids: trimmed (case is kept, ids are case-sensitive), then hashed.
    pub fn user_id(&self, raw: &str) -> String {
        self.hash(scheme::normalize_user_id(raw))
    }

    /// E-mails: trimmed and lower-cased, then hashed.
    pub fn email(&self, raw: &str) -> String {
        self.hash(&normalize_email(raw))
    }

    /// Phones: E.164 shape (protocol's one normalisation), then hashed.
    pub fn phone(&self, raw: &str) -> String {
        self.hash(&scheme::normalize_phone(raw))
    }

    /// A contact trait's value, normalised for its kind, then hashed.
    pub fn contact(&self, contact: Contact, raw: &str) -> String {
        match contact {
            Contact::Email => self.email(raw),
            Contact::Phone => self.phone(raw),
        }
    }

    fn hash(&self, normalised: &str) -> String {
        match &self.key {
            Some(k) => k.hash(normalised),
            None => normalised.to_owned(),
        }
    }
}

/// Trimmed, lower-cased (Unicode full lower-case, as `str::to_lowercase`): the
/// protocol's normalisation, with the browser's lower-case mapping in the web tracker.
pub fn normalize_email(raw: &str) -> String {
    scheme::normalize_email_with(raw, lowercase)
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
    js::lower_case(s)
}

#[cfg(all(feature = "js", target_arch = "wasm32"))]
mod js {
    #[link(wasm_import_module = "cairn")]
    extern "C" {
        /// `String.prototype.toLowerCase` of the UTF-8 text at `ptr`: the host
        /// (wasm/js/wasm.js) writes the result into memory from the web tracker's
        /// `alloc` and the block's pointer and size, then the text's pointer (the
        /// block's) and length into `out`.
        fn lower(ptr: *const u8, len: usize, out: *mut [usize; 4]);
    }

    pub fn lower_case(s: &str) -> String {
        let mut out = [0usize; 4];
        // Safety: the host hands over UTF-8 it wrote into memory it got from
        // `alloc(out[1])` (one byte alignment, as a String's), owned from here.
        unsafe {
            lower(s.as_ptr(), s.len(), &mut out);
            String::from_raw_parts(out[0] as *mut u8, out[3], out[1])
        }
    }
}

pub use cairn_protocol::identity::normalize_phone;

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
