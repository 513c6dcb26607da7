//! Pseudonymisation: identifiers are re-keyed with the server's secret before anything is
//! written, so the store never holds a raw user id, e-mail or phone, and a value hashed on
//! the device cannot be reversed by someone who only has the SDK's key.
//!
//! One person has one pseudonym whichever path an identifier came by: the stored value is
//! `hex(HMAC(server secret, D))`, where `D` is the device hash (cairn-protocol's scheme
//! under the write key's project hash key). `D` is the value as sent when the event's
//! `context.hashed` lists the field, else the collector computes it from the raw value.

mod scan;

pub use scan::PiiRules;

use cairn_protocol::identity::{
    contact_trait, hex, ProjectHasher, CONTEXT_TRAITS_PREFIX, PREVIOUS_ID, TRAITS_PREFIX, USER_ID,
};
use ring::hmac;
use serde_json::{Map, Value};

/// HMAC-SHA256 under the server secret.
pub struct Pseudonymiser {
    key: hmac::Key,
    enabled: bool,
    rules: PiiRules,
}

/// An identity (user id, anonymous id, alias) as the store indexes it: always hashed,
/// whether or not event bodies are pseudonymised.
pub type Identity = [u8; 32];

/// The identities of an event's user ids, derived as their stored pseudonyms are.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UserIdentities {
    pub user: Option<Identity>,
    pub previous: Option<Identity>,
}

/// The device hash `D` of a user id: the value itself when the SDK hashed it, else the
/// project hash of the raw id.
pub fn device_user_id(project: &ProjectHasher, id: &str, hashed: bool) -> String {
    if hashed {
        id.to_owned()
    } else {
        project.user_id(id)
    }
}

/// What the hashing scheme writes: 64 lower-case hex digits.
pub fn is_device_hash(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Pseudonymiser {
    pub fn new(secret: &str, enabled: bool) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            enabled,
            rules: PiiRules::new(&[], &["context.ip".to_owned()]),
        }
    }

    /// The configured keys to pseudonymise or drop (`scan`); `context.ip` is dropped
    /// unless the rules say otherwise.
    pub fn with_rules(mut self, rules: PiiRules) -> Self {
        self.rules = rules;
        self
    }

    /// HMAC of `text` under the server secret: the identity of an anonymousId as sent,
    /// or of a device hash `D`.
    pub fn identity(&self, text: &str) -> Identity {
        hmac::sign(&self.key, text.as_bytes())
            .as_ref()
            .try_into()
            .expect("32-byte tag")
    }

    /// The userId a deletion names in its tombstone: the pseudonym of `D`, or `D`
    /// itself when pseudonymisation is off.
    pub fn stored_user_id(&self, device_hash: &str) -> String {
        if self.enabled {
            hex(&self.identity(device_hash))
        } else {
            device_hash.to_owned()
        }
    }

    /// Replaces userId, previousId and the contact traits of one event in place by
    /// their pseudonyms (when enabled), then every other e-mail and phone and the
    /// configured keys (`scan`), and returns the identities of the two ids.
    /// `hashed` is the event's `context.hashed`.
    pub fn apply(
        &self,
        event: &mut Map<String, Value>,
        project: &ProjectHasher,
        hashed: &[String],
    ) -> UserIdentities {
        let listed = |path: &str| hashed.iter().any(|h| h == path);
        let mut ids = UserIdentities::default();
        for (field, slot) in [(USER_ID, &mut ids.user), (PREVIOUS_ID, &mut ids.previous)] {
            if let Some(Value::String(id)) = event.get_mut(field) {
                let identity = self.identity(&device_user_id(project, id, listed(field)));
                if self.enabled {
                    *id = hex(&identity);
                }
                *slot = Some(identity);
            }
        }
        if !self.enabled {
            return ids;
        }
        if let Some(Value::Object(traits)) = event.get_mut("traits") {
            self.hash_contact_traits(traits, project, TRAITS_PREFIX, &listed);
        }
        if let Some(Value::Object(context)) = event.get_mut("context") {
            if let Some(Value::Object(traits)) = context.get_mut("traits") {
                self.hash_contact_traits(traits, project, CONTEXT_TRAITS_PREFIX, &listed);
            }
        }
        self.scan(event, project, &self.rules);
        ids
    }

    /// Contact traits are found whatever the case of their key and hashed whether
    /// they are strings or numbers (validation refuses other types). A value listed as
    /// hashed (`<prefix><key as sent>`) is `D`; a raw one is normalised and
    /// project-hashed first.
    fn hash_contact_traits(
        &self,
        traits: &mut Map<String, Value>,
        project: &ProjectHasher,
        prefix: &str,
        listed: &dyn Fn(&str) -> bool,
    ) {
        for (key, value) in traits.iter_mut() {
            let Some(contact) = contact_trait(key) else {
                continue;
            };
            let text = match value {
                Value::String(s) => std::mem::take(s),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            let device_hash = if listed(&format!("{prefix}{key}")) {
                text
            } else {
                project.contact(contact, &text)
            };
            *value = Value::String(hex(&self.identity(&device_hash)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project() -> ProjectHasher {
        ProjectHasher::new(b"project")
    }

    fn pseudonym(p: &Pseudonymiser, device_hash: &str) -> Value {
        json!(hex(&p.identity(device_hash)))
    }

    #[test]
    fn raw_ids_and_contact_traits_become_pseudonyms_of_their_device_hash() {
        let p = Pseudonymiser::new("secret", true);
        let project = project();
        let mut event = json!({
            "userId": " alice ",
            "traits": {"email": "  Alice@Example.COM ", "phone": "(00) 44 20 7946-0958", "plan": "pro"},
            "context": {"traits": {"email": "alice@example.com"}}
        });
        let ids = p.apply(event.as_object_mut().unwrap(), &project, &[]);
        let text = event.to_string();
        assert!(!text.contains("alice") && !text.contains("7946"), "{text}");
        assert_eq!(event["traits"]["plan"], "pro");
        assert_eq!(event["userId"], pseudonym(&p, &project.user_id("alice")));
        assert_eq!(ids.user, Some(p.identity(&project.user_id("alice"))));
        assert_eq!(
            event["traits"]["email"],
            event["context"]["traits"]["email"]
        );
        assert_eq!(
            event["traits"]["phone"],
            pseudonym(&p, &project.hash("+442079460958"))
        );
    }

    #[test]
    fn listed_fields_are_rekeyed_as_sent() {
        let p = Pseudonymiser::new("secret", true);
        let project = project();
        let d_user = project.user_id("alice");
        let d_mail = project.hash("a@x.io");
        let mut device = json!({"userId": d_user, "traits": {"Email": d_mail},
            "context": {"traits": {"email": "A@x.io"}}});
        let hashed = vec!["userId".to_owned(), "traits.Email".to_owned()];
        let ids = p.apply(device.as_object_mut().unwrap(), &project, &hashed);
        let mut raw = json!({"userId": "alice", "traits": {"Email": " A@X.io"}});
        let raw_ids = p.apply(raw.as_object_mut().unwrap(), &project, &[]);
        assert_eq!(ids, raw_ids);
        assert_eq!(device["userId"], raw["userId"]);
        assert_eq!(device["traits"]["Email"], raw["traits"]["Email"]);
        // Not listed: the raw context trait is hashed to the same pseudonym.
        assert_eq!(device["context"]["traits"]["email"], raw["traits"]["Email"]);
    }

    #[test]
    fn numbers_and_any_key_case() {
        let p = Pseudonymiser::new("secret", true);
        let project = project();
        let mut event = json!({"traits": {"Phone": 15551234567_u64, "EMAIL": " Bob@X.io "}});
        p.apply(event.as_object_mut().unwrap(), &project, &[]);
        assert_eq!(
            event["traits"]["Phone"],
            pseudonym(&p, &project.hash("15551234567"))
        );
        assert_eq!(
            event["traits"]["EMAIL"],
            pseudonym(&p, &project.hash("bob@x.io"))
        );
    }

    #[test]
    fn disabled_keeps_values_and_still_derives_identities() {
        let p = Pseudonymiser::new("secret", false);
        let project = project();
        let mut event = json!({"userId": "u1"});
        let ids = p.apply(event.as_object_mut().unwrap(), &project, &[]);
        assert_eq!(event["userId"], "u1");
        assert_eq!(ids.user, Some(p.identity(&project.user_id("u1"))));
        assert_eq!(p.stored_user_id("d"), "d");
    }
}
