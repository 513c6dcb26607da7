//! The generated `SeedEvent`: numbers outside a field's range are refused with
//! `InvalidArgument` naming the field; in range, the core event has the table's name,
//! purpose and the fields as properties.

use crate::error::CairnError;
use crate::seed_event::{LineItem, LinkType, SeedEvent};
use cairn::{EventKind, Purpose};
use serde_json::json;

fn item(quantity: i32) -> LineItem {
    LineItem {
        product_id: "sku-1".into(),
        price: 2.5,
        quantity,
        category: Some("shoes".into()),
        name: None,
        brand: None,
        variant: None,
    }
}

fn invalid(e: SeedEvent) -> String {
    match e.into_event() {
        Err(CairnError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn out_of_range_numbers_are_refused() {
    let depth = |percent| SeedEvent::ScrollDepth { percent };
    assert_eq!(invalid(depth(101)), "percent is 101, not 0..=100");
    assert_eq!(invalid(depth(-1)), "percent is -1, not 0..=100");
    assert!(depth(100).into_event().is_ok());
    let order = |products, total| SeedEvent::Purchase {
        order_id: "o-1".into(),
        products,
        total,
        currency: "EUR".into(),
    };
    assert_eq!(
        invalid(order(vec![item(0)], 1.0)),
        "quantity is 0, not 1..=2147483647"
    );
    assert_eq!(
        invalid(order(vec![], -1.0)),
        "total is -1, not a number >= 0"
    );
    assert_eq!(
        invalid(order(vec![], f64::NAN)),
        "total is NaN, not a number >= 0"
    );
    let played = SeedEvent::VideoPlay {
        video_id: "v".into(),
        position_ms: Some(-5),
        duration_ms: None,
    };
    assert_eq!(
        invalid(played),
        "positionMs is -5, not 0..=9223372036854775807"
    );
}

#[test]
fn in_range_fields_become_the_core_event() {
    let order = SeedEvent::Purchase {
        order_id: "o-1".into(),
        products: vec![item(2)],
        total: 5.0,
        currency: "EUR".into(),
    };
    let e = order.into_event().unwrap();
    assert_eq!((e.name.as_str(), e.kind), ("purchase", EventKind::Track));
    assert_eq!(
        serde_json::Value::Object(e.properties),
        json!({"order_id": "o-1", "total": 5.0, "currency": "EUR",
               "products": [{"product_id": "sku-1", "price": 2.5, "quantity": 2, "category": "shoes"}]})
    );
    let link = SeedEvent::LinkClick {
        url: "https://x.example/".into(),
        link_type: LinkType::Internal,
        text: Some("x".into()),
    };
    let e = link.into_event().unwrap();
    assert_eq!(e.properties["link_type"], "internal");
    assert_eq!(e.properties["text"], "x");
    let shown = SeedEvent::RecommendationShown {
        model_version: "m1".into(),
        list: "home".into(),
        product_ids: vec!["a".into(), "b".into()],
    };
    assert_eq!(
        shown.into_event().unwrap().purpose,
        Purpose::Personalization
    );
    let screen = SeedEvent::ScreenView {
        name: "Cart".into(),
    };
    let e = screen.into_event().unwrap();
    assert_eq!((e.name.as_str(), e.kind), ("Cart", EventKind::Screen));
}
