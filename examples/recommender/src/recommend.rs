//! Ranking (seed 002). For one request the candidates come from four sources, each
//! normalised to 0..1 and weighted:
//!
//! | source | what | weight with productId / without |
//! |---|---|---|
//! | item-to-item | co-occurrence with the page's product | 0.55 / - |
//! | personal | co-occurrence with the person's strongest (or, strategy `recent`, latest) products, by their decayed weight | 0.25 / 0.60 |
//! | category | popular products of the person's top categories, and of the page product's category | 0.12 / 0.25 |
//! | popular | the most popular products (decayed) | 0.08 / 0.15 |
//!
//! Rules: a product the person bought or hid, and the page's product, are never
//! returned; the reason is that of the source that gave the most; an unknown,
//! anonymous-without-history or opted-out person gets the item-to-item, category
//! and popular sources only (there is no profile to read), so nothing personal;
//! strategy `popular` uses the popular source alone. Ties rank by product id, so the
//! same state always gives the same list.

use std::{
    collections::{BTreeSet, HashMap},
    hash::{BuildHasherDefault, Hasher},
};

use crate::{
    model::{profile::round, Model, Profile},
    rules::Strategy,
};

#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The user's pseudonym.
    pub user: Option<String>,
    /// The anonymous identity.
    pub anon: Option<String>,
    pub limit: usize,
    pub context: Option<String>,
    pub product: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub id: String,
    pub score: f64,
    pub reason: String,
}

/// The profiles a query reads: the user's, the anonymous id's, and the user an
/// anonymous id was seen with when no user is given.
pub fn profiles_of<'a>(model: &'a Model, q: &Query) -> Vec<&'a Profile> {
    let mut ids: Vec<&str> = Vec::new();
    if let Some(u) = &q.user {
        ids.push(u);
    }
    if let Some(a) = &q.anon {
        ids.push(a);
        if q.user.is_none() {
            if let Some(u) = model.links.get(a) {
                ids.push(u);
            }
        }
    }
    ids.dedup();
    ids.iter()
        .filter_map(|id| model.profiles.get(*id))
        .collect()
}

/// The identity experiments assign by: the user, else the user the anonymous id was
/// seen with, else the anonymous identity.
pub fn assignment_identity<'a>(model: &'a Model, q: &'a Query) -> Option<&'a str> {
    q.user
        .as_deref()
        .or_else(|| {
            q.anon
                .as_ref()
                .and_then(|a| model.links.get(a))
                .map(String::as_str)
        })
        .or(q.anon.as_deref())
}

/// A fast hasher for the per-request maps (FxHash's mixing): the keys are product
/// ids, the maps live for one request, and SipHash was a third of a request's time.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Why a product is proposed; written out only for the products returned.
#[derive(Debug, Clone, Copy)]
enum Why<'a> {
    CoViewed(&'a str),
    Because(&'a str, u8),
    LikedCategory(&'a str),
    Category(&'a str),
    Popular,
}

impl Why<'_> {
    fn text(self, model: &Model) -> String {
        let label = |id: &str| {
            model
                .items
                .get(id)
                .map_or_else(|| id.to_owned(), |i| i.label(id))
        };
        match self {
            Why::CoViewed(p) => format!("Customers who viewed {} also viewed this", label(p)),
            Why::Because(p, top) => because(top, &label(p)),
            Why::LikedCategory(c) => format!("Popular in {c}, a category you like"),
            Why::Category(c) => format!("Popular in {c}"),
            Why::Popular => "Popular right now".to_owned(),
        }
    }
}

/// One candidate source: product -> (raw score, the reason of its largest share).
#[derive(Default)]
struct Source<'a>(FxMap<&'a str, (f64, f64, Why<'a>)>);

impl<'a> Source<'a> {
    fn add(&mut self, id: &'a str, v: f64, why: Why<'a>) {
        if v <= 0.0 {
            return;
        }
        let e = self.0.entry(id).or_insert((0.0, 0.0, why));
        e.0 += v;
        if v > e.1 {
            e.1 = v;
            e.2 = why;
        }
    }

    fn max(&self) -> f64 {
        self.0.values().map(|v| v.0).fold(0.0, f64::max)
    }
}

/// "Because you bought X", by the strongest thing the person did with X.
fn because(top: u8, name: &str) -> String {
    match top {
        5.. => format!("Because you bought {name}"),
        3..=4 => format!("Because you added {name} to your cart"),
        2 => format!("Because you clicked {name}"),
        _ => format!("Because you viewed {name}"),
    }
}

pub fn recommend(model: &Model, q: &Query, strategy: Strategy) -> Vec<Scored> {
    let all_profiles = profiles_of(model, q);
    let profiles: &[&Profile] = if strategy == Strategy::Popular {
        &[]
    } else {
        &all_profiles
    };
    let mut excluded: BTreeSet<&str> = BTreeSet::new();
    for p in &all_profiles {
        excluded.extend(p.bought.iter().map(String::as_str));
        excluded.extend(p.hidden.iter().map(String::as_str));
    }
    if let Some(p) = &q.product {
        excluded.insert(p);
    }
    let page_item = q
        .product
        .as_ref()
        .and_then(|p| model.items.get_key_value(p.as_str()));

    let sized = |n: usize| Source(FxMap::with_capacity_and_hasher(n, Default::default()));
    let mut item_to_item = sized(128);
    let mut personal = sized(1024);
    let mut category = sized(256);
    let mut popular = sized(64);

    if strategy != Strategy::Popular {
        if let Some((pid, item)) = page_item {
            for (other, n) in &item.co {
                item_to_item.add(other, *n as f64, Why::CoViewed(pid));
            }
        }
        // Personal: the person's products, by decayed weight or recency.
        let mut sources: Vec<(&str, f64, u8)> = Vec::new();
        for p in profiles {
            match strategy {
                Strategy::Recent => {
                    for (i, id) in p.recent.iter().take(5).enumerate() {
                        let top = p.items.get(id).map_or(1, |s| s.top);
                        sources.push((id, 1.0 - 0.15 * i as f64, top));
                    }
                }
                _ => {
                    let top = p.top_items(10);
                    let max = top.first().map_or(1.0, |(_, s)| s.s);
                    for (id, s) in top {
                        sources.push((id, s.s / max, s.top));
                    }
                }
            }
        }
        for (src, w, top) in sources {
            let Some((src, item)) = model.items.get_key_value(src) else {
                continue;
            };
            let max = item.co.values().copied().fold(0.0f32, f32::max) as f64;
            if max <= 0.0 {
                continue;
            }
            for (other, n) in &item.co {
                personal.add(other, w * *n as f64 / max, Why::Because(src, top));
            }
        }
        // Category affinity, and the page product's category.
        let mut cats: Vec<(&str, f64, bool)> = Vec::new();
        for p in profiles {
            let top = p.top_categories(3);
            let max = top.first().map_or(1.0, |(_, s)| *s);
            cats.extend(top.into_iter().map(|(c, s)| (c.as_str(), s / max, true)));
        }
        if let Some(c) = page_item.and_then(|(_, i)| i.category.as_deref()) {
            cats.push((c, 0.8, false));
        }
        for (c, affinity, liked) in cats {
            let Some((c, top)) = model.category_top.get_key_value(c) else {
                continue;
            };
            let max = top.first().map_or(1.0, |id| model.items[id].pop);
            let why = if liked {
                Why::LikedCategory(c)
            } else {
                Why::Category(c)
            };
            for id in top {
                category.add(id, affinity * model.items[id].pop / max, why);
            }
        }
    }
    let max_pop = model.popular.first().map_or(1.0, |id| model.items[id].pop);
    for id in model.popular.iter().take(50.max(q.limit + excluded.len())) {
        popular.add(id, model.items[id].pop / max_pop, Why::Popular);
    }

    let weights = match (strategy, page_item.is_some()) {
        (Strategy::Popular, _) => [0.0, 0.0, 0.0, 1.0],
        (_, true) => [0.55, 0.25, 0.12, 0.08],
        (_, false) => [0.0, 0.60, 0.25, 0.15],
    };
    let mut total: FxMap<&str, (f64, f64, Why)> =
        FxMap::with_capacity_and_hasher(1024, Default::default());
    for (source, w) in [item_to_item, personal, category, popular]
        .into_iter()
        .zip(weights)
    {
        let max = source.max();
        if w == 0.0 || max <= 0.0 {
            continue;
        }
        for (id, (v, _, why)) in source.0 {
            if excluded.contains(id) {
                continue;
            }
            let c = v / max * w;
            let e = total.entry(id).or_insert((0.0, 0.0, why));
            e.0 += c;
            if c > e.1 {
                e.1 = c;
                e.2 = why;
            }
        }
    }
    let mut ranked: Vec<(&str, f64, Why)> = total
        .into_iter()
        .map(|(id, (score, _, why))| (id, round(score), why))
        .collect();
    let order =
        |a: &(&str, f64, Why), b: &(&str, f64, Why)| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if ranked.len() > q.limit {
        ranked.select_nth_unstable_by(q.limit, order);
        ranked.truncate(q.limit);
    }
    ranked.sort_by(order);
    ranked
        .into_iter()
        .map(|(id, score, why)| Scored {
            id: id.to_owned(),
            score,
            reason: why.text(model),
        })
        .collect()
}
