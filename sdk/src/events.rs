//! The event a track, page or screen call hands to the engine. The typed
//! constructors of the event table (`Event::add_to_cart`, ...) are generated into
//! `seed_events.rs`; any other name works through `Event::track(name, properties)`,
//! and `with` adds properties to any event.

use crate::consent::Purpose;
use crate::error::Error;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Which Segment call an `Event` becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Track,
    Page,
    Screen,
}

/// A track, page or screen call waiting to be handed to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub name: String,
    pub properties: Map<String, Value>,
    /// The consent purpose this event needs (default analytics).
    pub purpose: Purpose,
    /// When it happened; default is the engine clock at track() time.
    pub timestamp: Option<DateTime<Utc>>,
}

impl Event {
    /// A custom track event; `properties` must be a JSON object or null.
    pub fn track(name: impl Into<String>, properties: Value) -> Result<Self, Error> {
        Ok(Self::new(EventKind::Track, name, into_map(properties)?))
    }

    /// An event of `kind` (what the constructors in `seed_events.rs` build on).
    pub(crate) fn new(
        kind: EventKind,
        name: impl Into<String>,
        properties: Map<String, Value>,
    ) -> Self {
        Event {
            kind,
            name: name.into(),
            properties,
            purpose: Purpose::Analytics,
            timestamp: None,
        }
    }

    /// Adds (or replaces) one property.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets the consent purpose this event needs.
    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Sets when the event happened.
    pub fn at(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Properties and traits: a JSON object, or null for none.
pub(crate) fn into_map(v: Value) -> Result<Map<String, Value>, Error> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(Error::NotAnObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LineItem, LinkType};
    use serde_json::json;

    #[test]
    fn constructors_follow_the_table() {
        let e = Event::add_to_cart("sku-1", 0).with("price", 9.5);
        assert_eq!((e.name.as_str(), e.kind), ("add_to_cart", EventKind::Track));
        assert_eq!(
            Value::Object(e.properties),
            json!({"product_id": "sku-1", "quantity": 1, "price": 9.5}),
            "quantity clamped to its minimum 1"
        );
        assert_eq!(Event::scroll_depth(140).properties["percent"], 100);
        assert_eq!(Event::rating("p", -2.0).properties["rating"], 0.0);
        let page = Event::page_view("Home");
        assert_eq!((page.kind, page.name.as_str()), (EventKind::Page, "Home"));
        assert!(
            page.properties.is_empty(),
            "the view name is not a property"
        );
        assert_eq!(Event::screen_view("Cart").kind, EventKind::Screen);
        let shown = Event::recommendation_shown("m1", "homepage", &["a", "b"]);
        assert_eq!(shown.purpose, Purpose::Personalization);
        assert_eq!(shown.properties["product_ids"], json!(["a", "b"]));
        let link = Event::link_click("https://x.example/", LinkType::External);
        assert_eq!(link.properties["link_type"], "external");
        let item = LineItem {
            category: Some("perfume".into()),
            ..LineItem::new("sku-1", 12.5, 0)
        };
        let order = Event::purchase("o1", &[item, LineItem::new("sku-2", 3.0, 2)], 15.5, "EUR");
        assert_eq!(
            order.properties["products"],
            json!([
                {"product_id": "sku-1", "price": 12.5, "quantity": 1, "category": "perfume"},
                {"product_id": "sku-2", "price": 3.0, "quantity": 2}
            ])
        );
        assert!(Event::track("x", json!([1])).is_err());
        assert!(Event::track("x", Value::Null)
            .unwrap()
            .properties
            .is_empty());
    }
}
