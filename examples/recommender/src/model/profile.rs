//! One person's profile: what seed 004 asks for, built only from events whose consent
//! grants personalization. Rules:
//!
//! - weighted signals per product decay with the configured half-life; they are kept
//!   as values at a fixed reference time (see [`super::boost`]), so an update is one
//!   addition and ranking needs no "now";
//! - at most [`MAX_ITEMS`] products are kept per person (the weakest go first) and the
//!   [`RECENT`] most recent ones feed co-occurrence;
//! - bought and hidden products are remembered so they are never recommended;
//! - engagement: every event adds `1 + its weight`, decayed like the signals; the
//!   tier comes from the decayed score and the days since the last event.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use cairn_protocol::Consent;
use chrono::{Datelike, Timelike};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Slot;
use crate::cohorts::{Fields, Val};

pub const MAX_ITEMS: usize = 300;
pub const RECENT: usize = 20;
const SHOWN: usize = 50;
const DAY_MS: f64 = 86_400_000.0;
pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A person's signal on one product.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ItemSignal {
    /// Decayed weight, at the reference time.
    pub s: f64,
    /// The strongest weight seen (5 bought, 3 carted, 2 clicked, 1 viewed).
    pub top: u8,
}

/// A product shown in a recommendation, with the variants it was shown under.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Shown {
    pub product: String,
    pub variants: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub counts: BTreeMap<String, u64>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub sessions: u32,
    pub last_session: u64,
    pub items: HashMap<String, ItemSignal>,
    pub recent: VecDeque<String>,
    pub bought: BTreeSet<String>,
    pub hidden: BTreeSet<String>,
    pub categories: HashMap<String, f64>,
    pub brands: HashMap<String, f64>,
    pub price_sum: f64,
    pub price_n: u32,
    pub devices: BTreeMap<String, u32>,
    pub platforms: BTreeMap<String, u32>,
    pub days: [u32; 7],
    pub hours: [u32; 24],
    pub consent: Consent,
    pub engagement: f64,
    pub shown: VecDeque<Shown>,
}

fn top_n(map: &HashMap<String, f64>, n: usize) -> Vec<(&String, f64)> {
    let mut v: Vec<(&String, f64)> = map.iter().map(|(k, s)| (k, *s)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v.truncate(n);
    v
}

fn favourite(map: &BTreeMap<String, u32>) -> Option<&String> {
    map.iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse(*k)))
        .map(|(k, _)| k)
}

impl Profile {
    /// Records when and how: counts, times, session, device, consent, engagement.
    pub fn touch(&mut self, o: &crate::event::Observed, engagement_boost: f64) {
        *self.counts.slot(&o.name) += 1;
        if self.first_seen == 0 || o.ts_ms < self.first_seen {
            self.first_seen = o.ts_ms;
        }
        self.last_seen = self.last_seen.max(o.ts_ms);
        if let Some(s) = o.session {
            if s != self.last_session {
                self.sessions += 1;
                self.last_session = s;
            }
        }
        if let Some(d) = &o.device {
            *self.devices.slot(d) += 1;
        }
        if let Some(p) = &o.platform {
            *self.platforms.slot(p) += 1;
        }
        if let Some(t) = chrono::DateTime::from_timestamp_millis(o.ts_ms) {
            self.days[t.weekday().num_days_from_monday() as usize] += 1;
            self.hours[t.hour() as usize] += 1;
        }
        if let Some(c) = o.consent {
            self.consent = c;
        }
        self.engagement += engagement_boost;
    }

    /// Adds a weighted signal on a product; returns whether it is new among the
    /// recent ones (co-occurrence counts a pair once per visit, not per view).
    pub fn signal(&mut self, product: &crate::event::ProductRef, weight: f64, boost: f64) -> bool {
        let e = self.items.slot(&product.id);
        e.s += weight * boost;
        e.top = e.top.max(weight as u8);
        if let Some(c) = &product.category {
            *self.categories.slot(c) += weight * boost;
        }
        if let Some(b) = &product.brand {
            *self.brands.slot(b) += weight * boost;
        }
        if let Some(p) = product.price {
            self.price_sum += p;
            self.price_n += 1;
        }
        if self.items.len() > MAX_ITEMS {
            let weakest = self
                .items
                .iter()
                .min_by(|a, b| a.1.s.total_cmp(&b.1.s))
                .map(|(k, _)| k.clone());
            if let Some(k) = weakest {
                self.items.remove(&k);
            }
        }
        let new = !self.recent.contains(&product.id);
        self.recent.retain(|p| *p != product.id);
        self.recent.push_front(product.id.clone());
        self.recent.truncate(RECENT);
        new
    }

    pub fn remember_shown(&mut self, products: &[String], variants: &[(String, String)]) {
        for p in products {
            self.shown.retain(|s| s.product != *p);
            self.shown.push_front(Shown {
                product: p.clone(),
                variants: variants.to_vec(),
            });
        }
        self.shown.truncate(SHOWN);
    }

    /// The variants under which `product` was shown, once (the entry is used up).
    pub fn take_shown(&mut self, product: &str) -> Option<Vec<(String, String)>> {
        let at = self.shown.iter().position(|s| s.product == product)?;
        self.shown.remove(at).map(|s| s.variants)
    }

    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// The strongest products, by decayed weight.
    pub fn top_items(&self, n: usize) -> Vec<(&String, &ItemSignal)> {
        let mut v: Vec<_> = self.items.iter().collect();
        v.sort_by(|a, b| b.1.s.total_cmp(&a.1.s).then_with(|| a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    pub fn top_categories(&self, n: usize) -> Vec<(&String, f64)> {
        top_n(&self.categories, n)
    }

    /// What rules and the API see, at `now_ms`.
    pub fn facts<'a>(&'a self, now_ms: i64, decay_now: f64) -> Facts<'a> {
        Facts {
            p: self,
            now_ms,
            decay_now,
        }
    }
}

/// A profile's derived facts at one instant (cohort rules read these).
pub struct Facts<'a> {
    p: &'a Profile,
    now_ms: i64,
    /// Multiplier from reference-time scores to now.
    decay_now: f64,
}

impl Facts<'_> {
    pub fn days_since_last(&self) -> f64 {
        ((self.now_ms - self.p.last_seen) as f64 / DAY_MS)
            .max(0.0)
            .floor()
    }

    pub fn engagement_score(&self) -> f64 {
        (self.p.engagement * self.decay_now * 10.0).round() / 10.0
    }

    pub fn tier(&self) -> &'static str {
        let score = self.engagement_score();
        if self.days_since_last() > 30.0 {
            "dormant"
        } else if score >= 60.0 {
            "champion"
        } else if score >= 20.0 {
            "loyal"
        } else if score >= 5.0 {
            "casual"
        } else {
            "new"
        }
    }

    pub fn average_price(&self) -> Option<f64> {
        (self.p.price_n > 0).then(|| self.p.price_sum / self.p.price_n as f64)
    }

    pub fn price_band(&self) -> &'static str {
        match self.average_price() {
            None => "unknown",
            Some(p) if p < 25.0 => "budget",
            Some(p) if p < 100.0 => "mid",
            Some(_) => "premium",
        }
    }

    /// Days of the week with the most events (the top two, ties by order).
    pub fn peak_days(&self) -> Vec<String> {
        let mut d: Vec<(usize, u32)> = self.p.days.iter().copied().enumerate().collect();
        d.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        d.iter()
            .take(2)
            .filter(|(_, n)| *n > 0)
            .map(|(i, _)| DAYS[*i].to_owned())
            .collect()
    }

    pub fn peak_hours(&self) -> Vec<u32> {
        let mut h: Vec<(usize, u32)> = self.p.hours.iter().copied().enumerate().collect();
        h.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        h.iter()
            .take(3)
            .filter(|(_, n)| *n > 0)
            .map(|(i, _)| *i as u32)
            .collect()
    }

    /// The profile as `GET /api/v1/users/{id}/profile` shows it.
    pub fn view(&self, id: &str, cohorts: &[String]) -> Value {
        let p = self.p;
        let scored = |v: Vec<(&String, f64)>| {
            v.into_iter()
                .map(|(k, s)| json!({"name": k, "score": round(s * self.decay_now)}))
                .collect::<Vec<_>>()
        };
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        json!({
            "user_id": id,
            "event_counts": p.counts,
            "first_seen": time(p.first_seen),
            "last_seen": time(p.last_seen),
            "days_since_last_visit": self.days_since_last(),
            "sessions": p.sessions,
            "top_categories": scored(top_n(&p.categories, 5)),
            "top_brands": scored(top_n(&p.brands, 5)),
            "top_products": p.top_items(5).into_iter()
                .map(|(k, s)| json!({"id": k, "score": round(s.s * self.decay_now)}))
                .collect::<Vec<_>>(),
            "price_band": {"band": self.price_band(), "average_price": self.average_price().map(round)},
            "device_preference": favourite(&p.devices),
            "platform_preference": favourite(&p.platforms),
            "devices": p.devices,
            "platforms": p.platforms,
            "peak_days": self.peak_days(),
            "peak_hours_utc": self.peak_hours(),
            "hours": p.hours,
            "engagement": {"tier": self.tier(), "score": self.engagement_score()},
            "consent": p.consent,
            "purchased": p.bought,
            "hidden": p.hidden,
            "cohorts": cohorts,
        })
    }
}

pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Fields for Facts<'_> {
    fn field(&self, name: &str) -> Val {
        let p = self.p;
        let list = |v: Vec<String>| Val::List(v);
        let opt = |s: Option<&String>| s.map_or(Val::Null, |s| Val::Str(s.clone()));
        match name {
            "engagement_tier" => Val::Str(self.tier().into()),
            "engagement_score" => Val::Num(self.engagement_score()),
            "days_since_last_visit" => Val::Num(self.days_since_last()),
            "days_since_first_visit" => Val::Num(
                ((self.now_ms - p.first_seen) as f64 / DAY_MS)
                    .max(0.0)
                    .floor(),
            ),
            "event_count" => Val::Num(p.counts.values().sum::<u64>() as f64),
            "sessions" => Val::Num(p.sessions as f64),
            "purchases" => Val::Num(p.count("purchase") as f64),
            "add_to_carts" => Val::Num(p.count("add_to_cart") as f64),
            "product_views" => Val::Num(p.count("product_viewed") as f64),
            "top_category" => opt(top_n(&p.categories, 1).first().map(|(k, _)| *k)),
            "top_categories" => list(
                top_n(&p.categories, 3)
                    .into_iter()
                    .map(|(k, _)| k.clone())
                    .collect(),
            ),
            "top_brands" => list(
                top_n(&p.brands, 3)
                    .into_iter()
                    .map(|(k, _)| k.clone())
                    .collect(),
            ),
            "price_band" => Val::Str(self.price_band().into()),
            "average_price" => self.average_price().map_or(Val::Null, Val::Num),
            "device_preference" => opt(favourite(&p.devices)),
            "platform_preference" => opt(favourite(&p.platforms)),
            "peak_days" => list(self.peak_days()),
            "peak_hours" => list(self.peak_hours().iter().map(|h| h.to_string()).collect()),
            "consent_marketing" => Val::Bool(p.consent.marketing),
            _ => Val::Null,
        }
    }
}
