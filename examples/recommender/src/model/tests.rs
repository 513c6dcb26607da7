//! The model's rules on hand-made records and a pinned clock.

use cairn_protocol::feed::{FeedRecord, RecordKind};
use serde_json::{json, Value};

use super::*;
use crate::{
    recommend::{recommend, Query},
    rules::{default_file, Rules, Strategy},
};

const T: i64 = 1_767_225_600_000; // 2026-01-01

struct World {
    model: Model,
    ids: Ids,
    rules: Rules,
    cursor: u64,
}

impl World {
    fn new() -> Self {
        Self {
            model: Model::new(7.0 * 86_400_000.0, T),
            ids: Ids::new("secret", "project"),
            rules: Rules::compile(default_file()).unwrap(),
            cursor: 0,
        }
    }

    fn record(&mut self, kind: RecordKind, key: &str, value: Value) -> FeedRecord<Value> {
        self.cursor += 1;
        FeedRecord {
            cursor: self.cursor,
            kind,
            key: key.into(),
            source: None,
            value,
        }
    }

    fn apply(&mut self, r: &FeedRecord<Value>) -> Effect {
        let ctx = Ctx {
            ids: &self.ids,
            rules: &self.rules,
            now_ms: T,
        };
        let e = self.model.apply(r, &ctx);
        self.model.refresh();
        e
    }

    /// A consented product event of user `u` (raw) at T + `min` minutes.
    fn event(
        &mut self,
        u: &str,
        name: &str,
        product: &str,
        category: &str,
        personal: bool,
        min: i64,
    ) -> Effect {
        let ts = chrono::DateTime::from_timestamp_millis(T + min * 60_000).unwrap();
        let v = json!({"type": "track", "event": name, "userId": self.ids.user(u), "anonymousId": format!("anon-{u}"),
            "timestamp": ts.to_rfc3339(),
            "context": {"consent": {"analytics": true, "personalization": personal}, "sessionId": format!("s-{u}")},
            "properties": {"product_id": product, "category": category, "price": 30}});
        let r = self.record(RecordKind::Event, &format!("m{}", self.cursor), v);
        self.apply(&r)
    }

    fn recs(&self, u: &str, product: Option<&str>) -> Vec<crate::recommend::Scored> {
        let q = Query {
            user: Some(self.ids.user(u)),
            anon: None,
            limit: 10,
            context: None,
            product: product.map(str::to_owned),
        };
        recommend(&self.model, &q, Strategy::Blended)
    }
}

#[test]
fn a_record_is_applied_once() {
    let mut w = World::new();
    w.event("u1", "product_viewed", "p1", "shoes", true, 0);
    let again = w.record(RecordKind::Event, "x", json!({}));
    let mut old = again.clone();
    old.cursor = 1;
    assert_eq!(w.apply(&old), Effect::Skipped);
    assert_eq!(w.model.agg.totals.events, 1);
    let u = w.ids.user("u1");
    assert_eq!(w.model.profiles[&u].count("product_viewed"), 1);
    assert_eq!(w.model.items["p1"].counts["product_viewed"], 1);
}

#[test]
fn only_personalization_consent_feeds_a_profile() {
    let mut w = World::new();
    w.event("u1", "add_to_cart", "p1", "shoes", false, 0);
    assert!(w.model.profiles.is_empty());
    assert!(w.model.items["p1"].pop > 0.0, "aggregates take it");
    assert_eq!(w.model.popular, vec!["p1".to_string()]);
}

#[test]
fn co_occurrence_drives_personal_and_item_to_item() {
    let mut w = World::new();
    for u in ["a", "b", "c"] {
        w.event(u, "product_viewed", "boots", "shoes", true, 0);
        w.event(u, "product_viewed", "socks", "socks", true, 1);
    }
    w.event("d", "product_viewed", "hat", "hats", true, 0);
    w.event("d", "purchase", "hat", "hats", true, 0);
    w.event("e", "product_viewed", "boots", "shoes", true, 2);
    let r = w.recs("e", None);
    assert_eq!(r[0].id, "socks");
    assert_eq!(r[0].reason, "Because you viewed boots");
    let page = w.recs("zz", Some("boots"));
    assert_eq!(page[0].id, "socks");
    assert!(
        page[0].reason.starts_with("Customers who viewed boots"),
        "{}",
        page[0].reason
    );
    assert!(page.iter().all(|s| s.id != "boots"));
    // The buyer never gets the bought product back.
    assert!(w.recs("d", None).iter().all(|s| s.id != "hat"));
}

#[test]
fn tombstone_and_revocation_forget_the_person_but_not_aggregates() {
    let mut w = World::new();
    w.event("u1", "add_to_cart", "p1", "shoes", true, 0);
    w.event("u2", "add_to_cart", "p1", "shoes", true, 0);
    let u1 = w.ids.user("u1");
    let anon = w.ids.anonymous("anon-u1");
    assert_eq!(w.model.links.get(&anon), Some(&u1));
    assert!(w.model.cohorts["cart_abandoners"].contains(&u1));
    let t = w.record(
        RecordKind::Tombstone,
        &u1,
        json!({"userId": u1, "identities": [u1, anon]}),
    );
    assert_eq!(w.apply(&t), Effect::Forgot);
    assert!(!w.model.profiles.contains_key(&u1));
    assert!(!w.model.links.contains_key(&anon));
    assert!(!w.model.cohorts["cart_abandoners"].contains(&u1));
    assert_eq!(w.model.items["p1"].counts["add_to_cart"], 2);
    let bytes = String::from_utf8(crate::snapshot::encode_all(&w.model)).unwrap();
    assert!(!bytes.contains(&u1) && !bytes.contains(&anon));

    let u2 = w.ids.user("u2");
    let revoke = json!({"type": "track", "event": "consent_changed", "userId": u2,
        "context": {"purpose": "consent", "consent": {"analytics": true}},
        "properties": {"analytics": true, "personalization": false, "marketing": false}});
    let r = w.record(RecordKind::Event, "rv", revoke);
    assert_eq!(w.apply(&r), Effect::Forgot);
    assert!(w.model.profiles.is_empty());
    let bytes = String::from_utf8(crate::snapshot::encode_all(&w.model)).unwrap();
    assert!(!bytes.contains(&u2));
}

#[test]
fn decay_prefers_recent_signals() {
    let mut w = World::new();
    w.event("u", "product_viewed", "old", "a", true, 0);
    w.event("u", "product_viewed", "new", "b", true, 14 * 24 * 60);
    let p = &w.model.profiles[&w.ids.user("u")];
    let ratio = p.items["new"].s / p.items["old"].s;
    assert!((ratio - 4.0).abs() < 1e-9, "two half-lives: {ratio}");
}

#[test]
fn experiments_count_shown_clicked_and_carted() {
    let mut w = World::new();
    let u = w.ids.user("u");
    let mv = "cairn-reco-1+reco-strategy=blended";
    for (name, props) in [
        (
            "recommendation_shown",
            json!({"model_version": mv, "list": "homepage", "product_ids": ["p1", "p2"]}),
        ),
        (
            "recommendation_clicked",
            json!({"model_version": mv, "list": "homepage", "product_id": "p1", "position": 0}),
        ),
        ("add_to_cart", json!({"product_id": "p1", "quantity": 1})),
        ("add_to_cart", json!({"product_id": "p1", "quantity": 1})),
        (
            "experiment_exposure",
            json!({"experiment": "reco-strategy", "variant": "recent"}),
        ),
    ] {
        let v = json!({"type": "track", "event": name, "userId": u,
            "context": {"consent": {"analytics": true, "personalization": true}}, "properties": props});
        let r = w.record(RecordKind::Event, name, v);
        w.apply(&r);
    }
    let b = &w.model.agg.experiments["reco-strategy"]["blended"];
    assert_eq!((b.impressions, b.clicks, b.add_to_carts), (1, 1, 1));
    assert_eq!(
        w.model.agg.experiments["reco-strategy"]["recent"].exposures,
        1
    );
}
