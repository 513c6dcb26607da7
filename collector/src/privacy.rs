//! Pseudonymisation: identifiers are re-keyed with the server's secret before anything is
//! written, so the store never holds a raw user id, e-mail or phone, and a value hashed on
//! the device cannot be reversed by someone who only has the SDK's key.

use ring::hmac;
use serde_json::{Map, Value};

/// HMAC-SHA256 under the server secret, as lower-case hex.
pub struct Pseudonymiser {
    key: hmac::Key,
    enabled: bool,
}

/// An identity (user id, anonymous id, alias) as the store indexes it: always hashed,
/// whether or not event bodies are pseudonymised.
pub type Identity = [u8; 32];

impl Pseudonymiser {
    pub fn new(secret: &str, enabled: bool) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            enabled,
        }
    }

    pub fn identity(&self, id: &str) -> Identity {
        hmac::sign(&self.key, id.as_bytes())
            .as_ref()
            .try_into()
            .expect("32-byte tag")
    }

    fn hash_hex(&self, value: &str) -> String {
        hex(&self.identity(value))
    }

    /// The userId as the store keeps it.
    pub fn stored_user_id(&self, user_id: &str) -> String {
        if self.enabled {
            self.hash_hex(user_id)
        } else {
            user_id.to_owned()
        }
    }

    /// Replaces userId, previousId and the e-mail / phone traits of one event in place.
    pub fn apply(&self, event: &mut Map<String, Value>) {
        if !self.enabled {
            return;
        }
        for field in ["userId", "previousId"] {
            if let Some(Value::String(id)) = event.get_mut(field) {
                *id = self.hash_hex(id);
            }
        }
        if let Some(Value::Object(traits)) = event.get_mut("traits") {
            self.hash_contact_traits(traits);
        }
        if let Some(Value::Object(context)) = event.get_mut("context") {
            if let Some(Value::Object(traits)) = context.get_mut("traits") {
                self.hash_contact_traits(traits);
            }
        }
    }

    /// Contact traits are found whatever the case of their key and hashed whether
    /// they are strings or numbers (validation refuses other types). Raw values are
    /// normalised first; a value the device already hashed (64 hex digits) is re-keyed
    /// as it is, since normalising it as a phone number would throw most of it away.
    fn hash_contact_traits(&self, traits: &mut Map<String, Value>) {
        for (key, value) in traits.iter_mut() {
            let Some(normalise) = contact_normaliser(key) else {
                continue;
            };
            let text = match value {
                Value::String(s) => std::mem::take(s),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            let input = if is_device_hash(&text) {
                text
            } else {
                normalise(&text)
            };
            *value = Value::String(self.hash_hex(&input));
        }
    }
}

/// Brings a raw identifier to the one form that is hashed.
type Normalise = fn(&str) -> String;

/// The contact traits that are pseudonymised, each with its normalisation.
const CONTACT_TRAITS: [(&str, Normalise); 2] =
    [("email", normalise_email), ("phone", normalise_phone)];

/// The normalisation of a contact trait key (`email`, `Phone`, ...), if it is one.
pub fn contact_normaliser(key: &str) -> Option<Normalise> {
    CONTACT_TRAITS
        .iter()
        .find(|(name, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, normalise)| *normalise)
}

/// What an SDK sends for a hashed identifier: HMAC-SHA256 as lower-case hex.
fn is_device_hash(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Trimmed and lower-cased, so one address always hashes the same.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// E.164 shape: a leading `+` (from `+` or `00`) and digits only.
pub fn normalise_phone(phone: &str) -> String {
    let trimmed = phone.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    match (international, trimmed.starts_with("00")) {
        (true, true) => format!("+{}", &digits[2..]),
        (true, false) => format!("+{digits}"),
        _ => digits,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_ids_and_contact_traits() {
        let p = Pseudonymiser::new("secret", true);
        let mut event = json!({
            "userId": "alice@example.com",
            "traits": {"email": "  Alice@Example.COM ", "phone": "+44 (20) 7946-0958", "plan": "pro"},
            "context": {"traits": {"email": "alice@example.com"}}
        });
        p.apply(event.as_object_mut().unwrap());
        let text = event.to_string();
        assert!(!text.contains("alice"), "{text}");
        assert!(!text.contains("7946"), "{text}");
        assert_eq!(event["traits"]["plan"], "pro");
        assert_eq!(
            event["traits"]["email"],
            event["context"]["traits"]["email"]
        );
        assert_eq!(event["traits"]["phone"], json!(p.hash_hex("+442079460958")));
        assert_eq!(event["userId"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn contact_traits_match_any_case_and_numbers() {
        let p = Pseudonymiser::new("secret", true);
        let mut event = json!({"traits": {"Phone": 15551234567_u64, "EMAIL": " Bob@X.io "}});
        p.apply(event.as_object_mut().unwrap());
        assert_eq!(event["traits"]["Phone"], json!(p.hash_hex("15551234567")));
        assert_eq!(event["traits"]["EMAIL"], json!(p.hash_hex("bob@x.io")));
    }

    #[test]
    fn device_hashes_are_rekeyed_whole() {
        let p = Pseudonymiser::new("secret", true);
        let device = hex(&[0xab; 32]);
        let mut event = json!({"traits": {"phone": device.clone(), "email": device.clone()}});
        p.apply(event.as_object_mut().unwrap());
        assert_eq!(event["traits"]["phone"], json!(p.hash_hex(&device)));
        assert_eq!(event["traits"]["email"], json!(p.hash_hex(&device)));
    }

    #[test]
    fn disabled_keeps_values() {
        let p = Pseudonymiser::new("secret", false);
        let mut event = json!({"userId": "u1"});
        p.apply(event.as_object_mut().unwrap());
        assert_eq!(event["userId"], "u1");
        assert_eq!(p.stored_user_id("u1"), "u1");
    }

    #[test]
    fn phone_normalisation() {
        assert_eq!(normalise_phone("0044 20 7946 0958"), "+442079460958");
        assert_eq!(normalise_phone(" +1 (555) 010-9999 "), "+15550109999");
        assert_eq!(normalise_phone("555 0100"), "5550100");
    }
}
