//! The model: everything the service answers from, built by applying feed records in
//! cursor order. Rules:
//!
//! - a record at or below [`Model::cursor`] was applied already and is skipped, so a
//!   replay after a restart applies nothing twice;
//! - a tombstone forgets its key and every identity it lists; a `consent_changed`
//!   revoking personalization forgets its subject, the anonymous identity it names
//!   and what is linked to them; forgetting removes profiles, links and cohort
//!   membership, never aggregate counts;
//! - aggregates (popularity, counts, co-occurrence, experiment counts, events per
//!   minute) take every event; a profile only takes events with personalization
//!   consent;
//! - decayed scores are kept relative to [`Model::epoch_ms`]: `boost(t)` is
//!   `2^((t - epoch) / half-life)`; the model rebases before that grows too large.

pub mod items;
pub mod profile;
pub mod shards;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use cairn_protocol::feed::{FeedRecord, RecordKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    event::{observe, weight, Observed},
    experiments::{attribute, VariantStats},
    ids::Ids,
    rules::Rules,
};
pub use items::Item;
pub use profile::Profile;
pub use shards::Shards;

/// Shards of people (profiles and links) and of products: a snapshot writes only the
/// shards that changed, and a deletion rewrites only the shards holding the person.
pub const PEOPLE_SHARDS: usize = 256;
pub const ITEM_SHARDS: usize = 64;

/// Rebase when a boost's exponent passes this.
const REBASE_EXPONENT: f64 = 400.0;
/// Minutes of events-per-minute history kept.
const MINUTES: i64 = 24 * 60;
/// Products in the popular list, and per category.
const POPULAR: usize = 200;
const CATEGORY_TOP: usize = 50;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub events: u64,
    pub tombstones: u64,
    pub revocations: u64,
    pub by_name: BTreeMap<String, u64>,
}

/// The model's small, whole-written part (the snapshot's manifest carries it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Aggregates {
    /// Events per minute of event time (minute since the epoch -> count).
    pub minutes: BTreeMap<i64, u64>,
    pub experiments: BTreeMap<String, BTreeMap<String, VariantStats>>,
    pub totals: Totals,
}

#[derive(Debug)]
pub struct Model {
    /// The last applied record.
    pub cursor: u64,
    /// [`fingerprint`] of the record at `cursor`: tells whether the collector's feed
    /// still holds that record (or was wiped and refilled).
    pub last_fingerprint: u64,
    pub half_life_ms: f64,
    pub epoch_ms: i64,
    pub profiles: Shards<Profile>,
    /// Anonymous identity -> the user pseudonym it was seen with (sharded by the
    /// anonymous identity, in the same shards as profiles).
    pub links: Shards<String>,
    pub items: Shards<Item>,
    pub agg: Aggregates,
    /// Identities forgotten since the follower last took them (not persisted): the
    /// snapshot writer removes them from the files at once.
    pub forgotten: Vec<String>,
    /// A reader's own position besides the cursor: the Kafka consumer's next offset
    /// per `topic:partition` (persisted with the model, so they always agree).
    pub offsets: BTreeMap<String, i64>,
    /// Message ids applied lately (the Kafka consumer's dedup window; persisted).
    pub seen: Seen,
    /// Derived (rebuilt on load): cohort -> members.
    pub cohorts: HashMap<String, HashSet<String>>,
    /// Derived: category -> its products.
    pub category_items: HashMap<String, BTreeSet<String>>,
    /// Derived: products by popularity.
    pub popular: Vec<String>,
    pub category_top: HashMap<String, Vec<String>>,
    pub(crate) dirty_categories: HashSet<String>,
    pub(crate) popular_dirty: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            cursor: 0,
            last_fingerprint: 0,
            half_life_ms: 0.0,
            epoch_ms: 0,
            profiles: Shards::new(PEOPLE_SHARDS),
            links: Shards::new(PEOPLE_SHARDS),
            items: Shards::new(ITEM_SHARDS),
            agg: Aggregates::default(),
            forgotten: Vec::new(),
            offsets: BTreeMap::new(),
            seen: Seen::default(),
            cohorts: HashMap::new(),
            category_items: HashMap::new(),
            popular: Vec::new(),
            category_top: HashMap::new(),
            dirty_categories: HashSet::new(),
            popular_dirty: false,
        }
    }
}

/// The last `capacity` message ids seen, as FNV-1a 64 hashes (a collision among a
/// window of 10^6 has odds around 10^-8), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    order: std::collections::VecDeque<u64>,
    set: HashSet<u64>,
}

impl Seen {
    pub fn from_list(list: Vec<u64>) -> Self {
        Self {
            set: list.iter().copied().collect(),
            order: list.into(),
        }
    }

    pub fn list(&self) -> Vec<u64> {
        self.order.iter().copied().collect()
    }

    /// Records `id`; false when it is in the window already (a duplicate).
    pub fn first_time(&mut self, id: u64, capacity: usize) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What applying a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Skipped,
    Applied,
    Forgot,
}

/// `map.entry(key.to_owned())` without allocating a key that is already there (the
/// hot path: most updates hit existing entries).
pub trait Slot<V> {
    fn slot(&mut self, key: &str) -> &mut V;
}

impl<V: Default> Slot<V> for HashMap<String, V> {
    fn slot(&mut self, key: &str) -> &mut V {
        if !self.contains_key(key) {
            self.insert(key.to_owned(), V::default());
        }
        self.get_mut(key).expect("present")
    }
}

impl<V: Default> Slot<V> for BTreeMap<String, V> {
    fn slot(&mut self, key: &str) -> &mut V {
        if !self.contains_key(key) {
            self.insert(key.to_owned(), V::default());
        }
        self.get_mut(key).expect("present")
    }
}

/// A record parsed for applying (the parsing needs no lock).
pub enum Prepared {
    Event(Box<Observed>),
    /// The identities to forget.
    Tombstone(Vec<String>),
}

/// A record's identity, for telling whether a feed still holds it: FNV-1a of its kind,
/// key and messageId (a hash, so no file holds the key, a pseudonym, through it).
pub fn fingerprint(record: &FeedRecord<Value>) -> u64 {
    let id = record
        .value
        .get("messageId")
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = format!("{}\n{}\n{id}", record.kind.as_str(), record.key);
    shards::fnv1a(text.as_bytes())
}

pub fn prepare(record: &FeedRecord<Value>, ids: &Ids, now_ms: i64) -> Prepared {
    match record.kind {
        RecordKind::Tombstone => {
            let mut out = vec![record.key.clone()];
            if let Some(Value::Array(list)) = record.value.get("identities") {
                out.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            Prepared::Tombstone(out)
        }
        RecordKind::Event => Prepared::Event(Box::new(observe(&record.value, ids, now_ms))),
    }
}

/// What applying needs besides the record.
pub struct Ctx<'a> {
    pub ids: &'a Ids,
    pub rules: &'a Rules,
    pub now_ms: i64,
}

impl Model {
    pub fn new(half_life_ms: f64, epoch_ms: i64) -> Self {
        Self {
            half_life_ms,
            epoch_ms,
            ..Self::default()
        }
    }

    /// `2^((t - epoch) / half-life)`.
    pub fn boost(&self, ts_ms: i64) -> f64 {
        2f64.powf((ts_ms - self.epoch_ms) as f64 / self.half_life_ms)
    }

    /// The factor from reference-time scores to `now_ms`.
    pub fn decay_now(&self, now_ms: i64) -> f64 {
        1.0 / self.boost(now_ms)
    }

    /// Rebuilds what is derived (after a load, or after rules changed).
    pub fn rebuild(&mut self, rules: &Rules, now_ms: i64) {
        self.category_items.clear();
        for (id, item) in self.items.iter() {
            if let Some(c) = &item.category {
                self.category_items
                    .entry(c.clone())
                    .or_default()
                    .insert(id.clone());
            }
        }
        self.dirty_categories = self.category_items.keys().cloned().collect();
        self.popular_dirty = true;
        self.refresh();
        self.cohorts.clear();
        let ids: Vec<String> = self.profiles.keys().cloned().collect();
        for id in ids {
            self.evaluate(&id, rules, now_ms);
        }
    }

    /// Recomputes the popular lists that changed (after each applied batch).
    pub fn refresh(&mut self) {
        // Highest popularity first, ties by id; scores read once, not per comparison.
        fn top(mut v: Vec<(f64, &String)>, n: usize) -> Vec<String> {
            let order = |a: &(f64, &String), b: &(f64, &String)| {
                b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
            };
            if v.len() > n {
                v.select_nth_unstable_by(n, order);
                v.truncate(n);
            }
            v.sort_by(order);
            v.into_iter().map(|(_, id)| id.clone()).collect()
        }
        if self.popular_dirty {
            let all: Vec<(f64, &String)> = self
                .items
                .iter()
                .filter(|(_, i)| i.pop > 0.0)
                .map(|(k, i)| (i.pop, k))
                .collect();
            self.popular = top(all, POPULAR);
            self.popular_dirty = false;
        }
        for c in std::mem::take(&mut self.dirty_categories) {
            let Some(members) = self.category_items.get(&c) else {
                self.category_top.remove(&c);
                continue;
            };
            let scored: Vec<(f64, &String)> = members
                .iter()
                .filter_map(|id| self.items.get(id).map(|i| (i.pop, id)))
                .filter(|(p, _)| *p > 0.0)
                .collect();
            let ids = top(scored, CATEGORY_TOP);
            self.category_top.insert(c, ids);
        }
    }

    /// Applies one feed record (see the rules above).
    pub fn apply(&mut self, record: &FeedRecord<Value>, ctx: &Ctx) -> Effect {
        let prepared = prepare(record, ctx.ids, ctx.now_ms);
        self.apply_prepared(record.cursor, fingerprint(record), prepared, ctx)
    }

    /// Applies a record [`prepare`]d outside the model's lock.
    pub fn apply_prepared(
        &mut self,
        cursor: u64,
        fingerprint: u64,
        prepared: Prepared,
        ctx: &Ctx,
    ) -> Effect {
        if cursor <= self.cursor {
            return Effect::Skipped;
        }
        self.cursor = cursor;
        self.last_fingerprint = fingerprint;
        self.apply_unordered(prepared, ctx)
    }

    /// Applies a record without the cursor rule (a reader that keeps its own position,
    /// such as the Kafka consumer, decides what was applied).
    pub fn apply_unordered(&mut self, prepared: Prepared, ctx: &Ctx) -> Effect {
        match prepared {
            Prepared::Tombstone(ids) => {
                self.agg.totals.tombstones += 1;
                self.forget(&ids);
                Effect::Forgot
            }
            Prepared::Event(o) => self.apply_event(*o, ctx),
        }
    }

    /// Removes every trace of these identities but aggregate counts.
    pub fn forget(&mut self, identities: &[String]) {
        let mut gone: HashSet<String> = identities.iter().cloned().collect();
        // What was linked to them goes too: anonymous ids of a user, the user of one.
        loop {
            let before = gone.len();
            for (anon, user) in self.links.iter() {
                if gone.contains(user) || gone.contains(anon) {
                    gone.insert(anon.clone());
                    gone.insert(user.clone());
                }
            }
            if gone.len() == before {
                break;
            }
        }
        self.links
            .retain(|anon, user| !gone.contains(anon) && !gone.contains(user));
        for id in &gone {
            self.profiles.remove(id);
            for members in self.cohorts.values_mut() {
                members.remove(id);
            }
        }
        self.forgotten.extend(gone);
    }

    fn apply_event(&mut self, o: Observed, ctx: &Ctx) -> Effect {
        self.agg.totals.events += 1;
        *self.agg.totals.by_name.slot(&o.name) += 1;
        let minute = o.ts_ms.div_euclid(60_000);
        *self.agg.minutes.entry(minute).or_default() += 1;
        while let Some((&first, _)) = self.agg.minutes.first_key_value() {
            let newest = *self
                .agg
                .minutes
                .last_key_value()
                .map(|(k, _)| k)
                .unwrap_or(&first);
            if first >= newest - MINUTES {
                break;
            }
            self.agg.minutes.remove(&first);
        }
        if o.revokes_personalization() {
            self.agg.totals.revocations += 1;
            let mut ids: Vec<String> = o.subject.iter().cloned().collect();
            ids.extend(o.tied_anonymous.iter().cloned());
            self.forget(&ids);
            return Effect::Forgot;
        }
        if (o.ts_ms - self.epoch_ms) as f64 / self.half_life_ms > REBASE_EXPONENT {
            self.rebase(o.ts_ms);
        }
        let w = weight(&o.name);
        let b = self.boost(o.ts_ms);
        for p in &o.products {
            let item = self.items.slot(&p.id);
            if let Some(old) = item.describe(p) {
                if let Some(old) = old {
                    if let Some(set) = self.category_items.get_mut(&old) {
                        set.remove(&p.id);
                    }
                    self.dirty_categories.insert(old);
                }
                if let Some(c) = &p.category {
                    self.category_items
                        .entry(c.clone())
                        .or_default()
                        .insert(p.id.clone());
                }
            }
            *item.counts.slot(&o.name) += 1;
            if let Some(w) = w {
                item.pop += w * b;
                self.popular_dirty = true;
                if let Some(c) = &item.category {
                    self.dirty_categories.insert(c.clone());
                }
            }
        }
        self.count_experiments(&o, ctx);
        let Some(subject) = o.subject.clone().filter(|_| o.personal) else {
            return Effect::Applied;
        };
        if let Some(anon) = &o.tied_anonymous {
            self.links.insert(anon.clone(), subject.clone());
        }
        let profile = self.profiles.slot(&subject);
        profile.touch(&o, (1.0 + w.unwrap_or(0.0)) * b);
        match o.name.as_str() {
            "purchase" => profile
                .bought
                .extend(o.products.iter().map(|p| p.id.clone())),
            "hide_item" => profile
                .hidden
                .extend(o.products.iter().map(|p| p.id.clone())),
            _ => {}
        }
        if let Some(w) = w {
            for p in &o.products {
                if profile.signal(p, w, b) {
                    for other in profile.recent.iter().skip(1) {
                        self.items.slot(other).add_neighbour(&p.id);
                        self.items
                            .get_mut(&p.id)
                            .expect("added above")
                            .add_neighbour(other);
                    }
                }
            }
        }
        self.evaluate(&subject, ctx.rules, ctx.now_ms);
        Effect::Applied
    }

    fn count_experiments(&mut self, o: &Observed, ctx: &Ctx) {
        let subject = o.subject.as_deref();
        match o.name.as_str() {
            "experiment_exposure" | "recommendation_shown" | "recommendation_clicked" => {
                let variants = attribute(ctx.rules, &o.properties, subject);
                for (e, v) in &variants {
                    let s = self
                        .agg
                        .experiments
                        .entry(e.clone())
                        .or_default()
                        .entry(v.clone())
                        .or_default();
                    match o.name.as_str() {
                        "experiment_exposure" => s.exposures += 1,
                        "recommendation_shown" => s.impressions += 1,
                        _ => s.clicks += 1,
                    }
                }
                if o.name == "recommendation_shown" && o.personal {
                    if let (Some(subject), Some(Value::Array(ids))) =
                        (subject, o.properties.get("product_ids"))
                    {
                        let ids: Vec<String> = ids
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect();
                        self.profiles.slot(subject).remember_shown(&ids, &variants);
                    }
                }
            }
            "add_to_cart" if o.personal => {
                let Some(profile) = subject.and_then(|s| self.profiles.get_mut(s)) else {
                    return;
                };
                for p in &o.products {
                    for (e, v) in profile.take_shown(&p.id).unwrap_or_default() {
                        self.agg
                            .experiments
                            .entry(e)
                            .or_default()
                            .entry(v)
                            .or_default()
                            .add_to_carts += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// Re-evaluates one person's cohorts.
    pub fn evaluate(&mut self, id: &str, rules: &Rules, now_ms: i64) {
        let decay = self.decay_now(now_ms);
        let Some(p) = self.profiles.get(id) else {
            return;
        };
        let facts = p.facts(now_ms, decay);
        for (cohort, expr) in &rules.cohorts {
            let member = expr.eval(&facts);
            match self.cohorts.get_mut(cohort) {
                Some(members) if member && !members.contains(id) => {
                    members.insert(id.to_owned());
                }
                Some(_) if member => {}
                Some(members) => {
                    members.remove(id);
                }
                None if member => {
                    self.cohorts
                        .insert(cohort.clone(), HashSet::from([id.to_owned()]));
                }
                None => {}
            }
        }
    }

    /// Memberships that time alone changed (days since the last visit grow):
    /// `(cohort, id, member)` for each difference, computed without changing anything.
    pub fn cohort_drift(&self, rules: &Rules, now_ms: i64) -> Vec<(String, String, bool)> {
        let decay = self.decay_now(now_ms);
        let mut out = Vec::new();
        for (id, p) in self.profiles.iter() {
            let facts = p.facts(now_ms, decay);
            for (cohort, expr) in &rules.cohorts {
                let now_in = expr.eval(&facts);
                let was_in = self.cohorts.get(cohort).is_some_and(|m| m.contains(id));
                if now_in != was_in {
                    out.push((cohort.clone(), id.clone(), now_in));
                }
            }
        }
        out
    }

    pub fn apply_drift(&mut self, drift: Vec<(String, String, bool)>) {
        for (cohort, id, member) in drift {
            let members = self.cohorts.entry(cohort).or_default();
            if member && self.profiles.contains_key(&id) {
                members.insert(id);
            } else {
                members.remove(&id);
            }
        }
    }

    /// The cohorts `id` belongs to.
    pub fn cohorts_of(&self, id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .cohorts
            .iter()
            .filter(|(_, m)| m.contains(id))
            .map(|(c, _)| c.clone())
            .collect();
        v.sort();
        v
    }

    /// Moves the reference time to `ts_ms`, rescaling every stored score.
    fn rebase(&mut self, ts_ms: i64) {
        let f = 1.0 / self.boost(ts_ms);
        self.epoch_ms = ts_ms;
        for item in self.items.values_mut() {
            item.pop *= f;
        }
        for p in self.profiles.values_mut() {
            p.engagement *= f;
            p.items.values_mut().for_each(|s| s.s *= f);
            p.categories.values_mut().for_each(|s| *s *= f);
            p.brands.values_mut().for_each(|s| *s *= f);
        }
    }
}

#[cfg(test)]
mod tests;
