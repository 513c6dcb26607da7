//! Typed constructors for the seed events (DESIGN.md, "Events"), so every app
//! spells names and core properties the same way. Any custom name works through
//! `Event::track(name, properties)`; `with` adds properties to any event.

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

    /// A page view (Segment `page`; the feed's `page_view`).
    pub fn page_view(name: impl Into<String>) -> Self {
        Self::new(EventKind::Page, name, Map::new())
    }

    /// A screen view (Segment `screen`; the feed's `screen_view`).
    pub fn screen_view(name: impl Into<String>) -> Self {
        Self::new(EventKind::Screen, name, Map::new())
    }

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

    fn named(name: &str, props: &[(&str, Value)]) -> Self {
        let mut m = Map::new();
        for (k, v) in props {
            m.insert((*k).to_string(), v.clone());
        }
        Self::new(EventKind::Track, name, m)
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

    // --- Explicit signals ---------------------------------------------------

    pub fn rating(product_id: &str, rating: f64) -> Self {
        Self::named(
            "rating",
            &[("product_id", product_id.into()), ("rating", rating.into())],
        )
    }
    pub fn review(product_id: &str, rating: f64) -> Self {
        Self::named(
            "review",
            &[("product_id", product_id.into()), ("rating", rating.into())],
        )
    }
    pub fn wishlist_add(product_id: &str) -> Self {
        Self::named("wishlist_add", &[("product_id", product_id.into())])
    }
    pub fn collection_add(product_id: &str) -> Self {
        Self::named("collection_add", &[("product_id", product_id.into())])
    }
    pub fn trade_offer(product_id: &str, offer_id: &str) -> Self {
        Self::named(
            "trade_offer",
            &[
                ("product_id", product_id.into()),
                ("offer_id", offer_id.into()),
            ],
        )
    }
    pub fn add_to_cart(product_id: &str, quantity: u32) -> Self {
        Self::named(
            "add_to_cart",
            &[
                ("product_id", product_id.into()),
                ("quantity", quantity.into()),
            ],
        )
    }
    pub fn purchase(order_id: &str, total: f64, currency: &str) -> Self {
        Self::named(
            "purchase",
            &[
                ("order_id", order_id.into()),
                ("total", total.into()),
                ("currency", currency.into()),
            ],
        )
    }
    pub fn signup(method: &str) -> Self {
        Self::named("signup", &[("method", method.into())])
    }

    // --- Implicit signals ---------------------------------------------------

    /// A product detail view (the recommender's "view").
    pub fn product_viewed(product_id: &str) -> Self {
        Self::named("product_viewed", &[("product_id", product_id.into())])
    }
    /// A click; add `.with("product_id", id)` for a product clicked from a listing.
    pub fn click(target: &str) -> Self {
        Self::named("click", &[("target", target.into())])
    }
    pub fn search(query: &str) -> Self {
        Self::named("search", &[("query", query.into())])
    }
    pub fn search_result_click(query: &str, product_id: &str, position: u32) -> Self {
        Self::named(
            "search_result_click",
            &[
                ("query", query.into()),
                ("product_id", product_id.into()),
                ("position", position.into()),
            ],
        )
    }
    pub fn filter_applied(filter: &str, value: &str) -> Self {
        Self::named(
            "filter_applied",
            &[("filter", filter.into()), ("value", value.into())],
        )
    }
    /// Deepest scroll reached on the page, in percent (0-100).
    pub fn scroll_depth(percent: u8) -> Self {
        Self::named("scroll_depth", &[("percent", percent.min(100).into())])
    }
    pub fn time_on_page(duration_ms: u64) -> Self {
        Self::named("time_on_page", &[("duration_ms", duration_ms.into())])
    }
    pub fn video_play(video_id: &str) -> Self {
        Self::named("video_play", &[("video_id", video_id.into())])
    }
    pub fn video_complete(video_id: &str) -> Self {
        Self::named("video_complete", &[("video_id", video_id.into())])
    }
    pub fn form_start(form_id: &str) -> Self {
        Self::named("form_start", &[("form_id", form_id.into())])
    }
    pub fn form_submit(form_id: &str) -> Self {
        Self::named("form_submit", &[("form_id", form_id.into())])
    }

    // --- Negative signals ---------------------------------------------------

    /// Left a page quickly; `dwell_ms` is how long it was shown.
    pub fn quick_exit(dwell_ms: u64) -> Self {
        Self::named("quick_exit", &[("dwell_ms", dwell_ms.into())])
    }
    pub fn wishlist_remove(product_id: &str) -> Self {
        Self::named("wishlist_remove", &[("product_id", product_id.into())])
    }
    pub fn remove_from_cart(product_id: &str, quantity: u32) -> Self {
        Self::named(
            "remove_from_cart",
            &[
                ("product_id", product_id.into()),
                ("quantity", quantity.into()),
            ],
        )
    }
    pub fn hide_item(product_id: &str) -> Self {
        Self::named("hide_item", &[("product_id", product_id.into())])
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
    use serde_json::json;

    #[test]
    fn helpers_use_seed_names_and_fields() {
        let e = Event::add_to_cart("sku-1", 2).with("price", 9.5);
        assert_eq!(e.name, "add_to_cart");
        assert_eq!(e.kind, EventKind::Track);
        assert_eq!(
            Value::Object(e.properties),
            json!({"product_id":"sku-1","quantity":2,"price":9.5})
        );
        assert_eq!(Event::scroll_depth(140).properties["percent"], 100);
        assert_eq!(Event::page_view("Home").kind, EventKind::Page);
        assert_eq!(
            Event::hide_item("x")
                .purpose(Purpose::Personalization)
                .purpose,
            Purpose::Personalization
        );
        let names: Vec<String> = [
            Event::rating("p", 4.0),
            Event::review("p", 2.0),
            Event::wishlist_add("p"),
            Event::collection_add("p"),
            Event::trade_offer("p", "o"),
            Event::purchase("o", 1.0, "EUR"),
            Event::signup("email"),
            Event::product_viewed("p"),
            Event::click("b"),
            Event::search("q"),
            Event::search_result_click("q", "p", 1),
            Event::filter_applied("f", "v"),
            Event::time_on_page(1),
            Event::video_play("v"),
            Event::video_complete("v"),
            Event::form_start("f"),
            Event::form_submit("f"),
            Event::quick_exit(1),
            Event::wishlist_remove("p"),
            Event::remove_from_cart("p", 1),
        ]
        .into_iter()
        .map(|e| e.name)
        .collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        assert!(Event::track("x", json!([1])).is_err());
        assert!(Event::track("x", Value::Null)
            .unwrap()
            .properties
            .is_empty());
    }
}
