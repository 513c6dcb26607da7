//! What the model takes from one feed event. Rules:
//!
//! - the subject is the userId (already the collector's pseudonym) when there is one,
//!   else the identity of the anonymousId; an event with both also ties the
//!   anonymous identity to the user;
//! - `personal` is true only when `context.consent.personalization` is true (Cairn's
//!   flags or Segment's `categoryPreferences`); an event without it never feeds a
//!   person's signals;
//! - the time is the collector's skew-corrected `timestamp`, else `receivedAt`;
//! - products come from `product_id` (or `productId`) with their catalogue context, or
//!   from the `products` line items of checkout and purchase events.

use std::hash::{Hash, Hasher};

use cairn_protocol::{events::CONSENT_CHANGED, Consent};
use serde_json::{Map, Value};

use crate::ids::Ids;

/// A signal's weight (seed 002): what one event says about a person's interest.
pub fn weight(name: &str) -> Option<f64> {
    Some(match name {
        "purchase" => 5.0,
        "add_to_cart" => 3.0,
        "product_clicked" | "click" => 2.0,
        "search_result_click" => 2.0,
        "product_viewed" => 1.0,
        _ => return None,
    })
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductRef {
    pub id: String,
    pub name: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub price: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub name: String,
    pub subject: Option<String>,
    /// The anonymous identity, when the subject is a user id.
    pub tied_anonymous: Option<String>,
    pub ts_ms: i64,
    pub personal: bool,
    pub consent: Option<Consent>,
    pub products: Vec<ProductRef>,
    pub session: Option<u64>,
    pub device: Option<String>,
    pub platform: Option<String>,
    pub properties: Map<String, Value>,
}

impl Observed {
    /// A consent record that revokes personalization.
    pub fn revokes_personalization(&self) -> bool {
        self.name == CONSENT_CHANGED
            && self
                .properties
                .get("personalization")
                .and_then(Value::as_bool)
                == Some(false)
    }

    pub fn str_prop(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(Value::as_str)
    }
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn product_from(p: &Map<String, Value>) -> Option<ProductRef> {
    let id = text(p.get("product_id"))
        .or_else(|| text(p.get("productId")))
        .or_else(|| text(p.get("sku")))?;
    Some(ProductRef {
        id,
        name: text(p.get("name")),
        category: text(p.get("category")),
        brand: text(p.get("brand")),
        price: p.get("price").and_then(Value::as_f64),
    })
}

/// Reads `context.consent` in either shape.
pub fn consent_of(context: Option<&Value>) -> Option<Consent> {
    let mut grants = context?.get("consent")?.as_object()?;
    if let Some(Value::Object(c)) = grants.get("categoryPreferences") {
        grants = c;
    }
    let flag = |name: &str| {
        grants
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .is_some_and(|(_, v)| v.as_bool() == Some(true))
    };
    Some(Consent {
        analytics: flag("analytics"),
        personalization: flag("personalization"),
        marketing: flag("marketing"),
    })
}

fn time_ms(v: Option<&Value>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v?.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Parses one event record's value; `now_ms` stands in for a missing time.
pub fn observe(value: &Value, ids: &Ids, now_ms: i64) -> Observed {
    let name = match value.get("type").and_then(Value::as_str) {
        Some("track") => text(value.get("event")).unwrap_or_default(),
        Some("page") => "page_view".into(),
        Some("screen") => "screen_view".into(),
        Some(other) => other.to_owned(),
        None => String::new(),
    };
    let user = text(value.get("userId"));
    let anonymous = text(value.get("anonymousId")).map(|a| ids.anonymous(&a));
    let (subject, tied_anonymous) = match user {
        Some(u) => (Some(u), anonymous),
        None => (anonymous, None),
    };
    let context = value.get("context");
    let consent = consent_of(context);
    let properties = value
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut products = Vec::new();
    if let Some(p) = product_from(&properties) {
        products.push(p);
    }
    if let Some(Value::Array(items)) = properties.get("products") {
        products.extend(
            items
                .iter()
                .filter_map(Value::as_object)
                .filter_map(product_from),
        );
    }
    let session = context
        .and_then(|c| c.get("sessionId"))
        .and_then(|s| text(Some(s)))
        .map(|s| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            s.hash(&mut h);
            h.finish()
        });
    let device = text(context.and_then(|c| get(c, &["device", "type"])))
        .map(|d| d.to_lowercase())
        .or_else(|| {
            let ua = context
                .and_then(|c| c.get("userAgent"))
                .and_then(Value::as_str)?;
            Some(
                if ua.contains("Mobi") {
                    "mobile"
                } else {
                    "desktop"
                }
                .to_owned(),
            )
        });
    let platform = text(context.and_then(|c| get(c, &["os", "name"])))
        .map(|d| d.to_lowercase())
        .or_else(|| {
            context
                .and_then(|c| c.get("userAgent"))
                .map(|_| "web".to_owned())
        });
    let ts_ms = time_ms(value.get("timestamp"))
        .or_else(|| time_ms(value.get("receivedAt")))
        .unwrap_or(now_ms);
    Observed {
        personal: consent.is_some_and(|c| c.personalization),
        name,
        subject,
        tied_anonymous,
        ts_ms,
        consent,
        products,
        session,
        device,
        platform,
        properties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_subject_consent_and_products() {
        let ids = Ids::new("s", "p");
        let v = json!({"type": "track", "event": "purchase", "userId": "U", "anonymousId": "a-1",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "context": {"consent": {"analytics": true, "personalization": true}, "sessionId": "s1",
                        "os": {"name": "Android"}},
            "properties": {"order_id": "o", "products": [{"product_id": "p1", "price": 3, "quantity": 1, "category": "c"},
                                                          {"productId": 7}]}});
        let o = observe(&v, &ids, 0);
        assert_eq!(o.name, "purchase");
        assert_eq!(o.subject.as_deref(), Some("U"));
        assert_eq!(o.tied_anonymous, Some(ids.anonymous("a-1")));
        assert!(o.personal);
        assert_eq!(o.products.len(), 2);
        assert_eq!(o.products[1].id, "7");
        assert_eq!(o.products[0].category.as_deref(), Some("c"));
        assert_eq!(o.platform.as_deref(), Some("android"));
        assert_eq!(o.ts_ms, 1_767_225_600_000);
    }

    #[test]
    fn no_consent_is_not_personal_and_segment_shape_is_read() {
        let ids = Ids::new("s", "p");
        let v = json!({"type": "track", "event": "product_viewed", "anonymousId": "a",
            "properties": {"product_id": "p"}});
        let o = observe(&v, &ids, 5);
        assert!(!o.personal);
        assert_eq!(o.subject, Some(ids.anonymous("a")));
        assert_eq!(o.ts_ms, 5);
        let seg = json!({"type": "page", "anonymousId": "a",
            "context": {"consent": {"categoryPreferences": {"Personalization": true}}}});
        let o = observe(&seg, &ids, 0);
        assert!(o.personal);
        assert_eq!(o.name, "page_view");
        let revoke = json!({"type": "track", "event": "consent_changed", "anonymousId": "a",
            "context": {"purpose": "consent"},
            "properties": {"analytics": true, "personalization": false, "marketing": false}});
        assert!(observe(&revoke, &ids, 0).revokes_personalization());
    }
}
