//! Offline evaluation on a seeded simulation of shoppers with planted tastes:
//! leave-last-out hit rate at 10 of the recommender against the popular-items baseline.
//!
//! How the simulation is built (all from one seed, so every run prints the same):
//! - 1,000 products in 20 categories of 50; within a category a product's appeal
//!   follows Zipf (s = 1) over a shuffled order, so each category has its hits;
//! - 5,000 shoppers; each has two planted favourite categories (picked with weights
//!   0.6 and 0.3) and wanders to a random category 10% of the time;
//! - each shopper makes 8 to 30 interactions in sessions of 3 to 6: a product is
//!   chosen from the category drawn by their taste, then viewed (70%), clicked (15%),
//!   added to the cart (10%) or bought (5%);
//! - everything goes through the service's own code: each interaction becomes the
//!   feed record the collector would deliver (personalization consent, a userId
//!   pseudonym, timestamps a minute apart) and is applied by `Model::apply`.
//!
//! Leave-last-out: each shopper's last interaction with a product new to them is held
//! out (and every record of it removed from training); after training on the rest,
//! a hit is that product in the top 10 for the shopper (homepage: no productId).
//! The baseline is the `popular` strategy on the same model with the same exclusions.
//!
//! Run: `cargo bench -p cairn-recommender --bench offline_eval`.

use std::collections::HashSet;

use cairn_protocol::feed::{FeedRecord, RecordKind};
use cairn_recommender::{
    ids::Ids,
    model::{Ctx, Model},
    recommend::{recommend, Query},
    rules::{default_file, Rules, Strategy},
};
use serde_json::json;

const SEED: u64 = 0x5eed_ca1e;
const CATEGORIES: usize = 20;
const PER_CATEGORY: usize = 50;
const SHOPPERS: usize = 5_000;
const T0: i64 = 1_767_225_600_000;

/// SplitMix64: a small seeded generator, so the simulation needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Index drawn by the cumulative weights `cdf` (last entry 1.0).
    fn pick(&mut self, cdf: &[f64]) -> usize {
        let u = self.unit();
        cdf.iter().position(|c| u < *c).unwrap_or(cdf.len() - 1)
    }
}

struct Interaction {
    user: usize,
    product: usize,
    name: &'static str,
    ts: i64,
}

fn simulate() -> Vec<Interaction> {
    let mut rng = Rng(SEED);
    // Zipf over ranks within a category, and a shuffled rank -> product per category.
    let weights: Vec<f64> = (1..=PER_CATEGORY).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let zipf: Vec<f64> = weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect();
    let orders: Vec<Vec<usize>> = (0..CATEGORIES)
        .map(|c| {
            let mut v: Vec<usize> = (0..PER_CATEGORY).map(|i| c * PER_CATEGORY + i).collect();
            for i in (1..v.len()).rev() {
                let j = rng.below(i + 1);
                v.swap(i, j);
            }
            v
        })
        .collect();
    let mut out = Vec::new();
    for user in 0..SHOPPERS {
        let first = rng.below(CATEGORIES);
        let second = (first + 1 + rng.below(CATEGORIES - 1)) % CATEGORIES;
        let n = 8 + rng.below(23);
        let mut ts = T0 + rng.below(86_400_000) as i64;
        for i in 0..n {
            if i % (3 + rng.below(4)) == 0 {
                ts += 3_600_000 * (1 + rng.below(48)) as i64;
            }
            let u = rng.unit();
            let category = if u < 0.6 {
                first
            } else if u < 0.9 {
                second
            } else {
                rng.below(CATEGORIES)
            };
            let product = orders[category][rng.pick(&zipf)];
            let a = rng.unit();
            let name = if a < 0.70 {
                "product_viewed"
            } else if a < 0.85 {
                "product_clicked"
            } else if a < 0.95 {
                "add_to_cart"
            } else {
                "purchase"
            };
            ts += 60_000;
            out.push(Interaction {
                user,
                product,
                name,
                ts,
            });
        }
    }
    out
}

fn main() {
    let started = std::time::Instant::now();
    let interactions = simulate();
    // Held out: per shopper, the last interaction with a product new to them.
    let mut held: Vec<Option<usize>> = vec![None; SHOPPERS];
    let mut seen: Vec<HashSet<usize>> = vec![HashSet::new(); SHOPPERS];
    for (i, x) in interactions.iter().enumerate() {
        if seen[x.user].insert(x.product) {
            held[x.user] = Some(i);
        }
    }
    let held_products: Vec<Option<usize>> = held
        .iter()
        .map(|h| h.map(|i| interactions[i].product))
        .collect();
    let ids = Ids::new("eval-secret", "eval-project");
    let rules = Rules::compile(default_file()).expect("rules");
    let mut model = Model::new(7.0 * 86_400_000.0, T0);
    let users: Vec<String> = (0..SHOPPERS)
        .map(|u| ids.user(&format!("shopper-{u}")))
        .collect();
    let ctx = Ctx {
        ids: &ids,
        rules: &rules,
        now_ms: T0,
    };
    let mut cursor = 0;
    let mut applied = 0;
    let mut apply_time = std::time::Duration::ZERO;
    for x in &interactions {
        // Training leaves out every record of a held-out (shopper, product) pair.
        if held_products[x.user] == Some(x.product) {
            continue;
        }
        let category = x.product / PER_CATEGORY;
        let p = json!({"product_id": format!("p{}", x.product), "category": format!("c{category}"),
                       "name": format!("Product {}", x.product), "price": 5 + x.product % 100});
        let properties = if x.name == "purchase" {
            json!({"order_id": format!("o{cursor}"), "products": [{"product_id": p["product_id"], "category": p["category"], "price": p["price"], "quantity": 1}], "total": p["price"], "currency": "EUR"})
        } else {
            p
        };
        let ts = chrono::DateTime::from_timestamp_millis(x.ts)
            .unwrap()
            .to_rfc3339();
        cursor += 1;
        let record = FeedRecord {
            cursor,
            kind: RecordKind::Event,
            key: format!("m{cursor}"),
            source: None,
            value: json!({"type": "track", "event": x.name, "userId": users[x.user], "timestamp": ts,
                "context": {"consent": {"analytics": true, "personalization": true, "marketing": false}, "sessionId": format!("s{}-{}", x.user, x.ts / 3_600_000)},
                "properties": properties}),
        };
        let t = std::time::Instant::now();
        model.apply(&record, &ctx);
        apply_time += t.elapsed();
        applied += 1;
    }
    model.refresh();
    let mut hits = [0usize; 3];
    let mut evaluated = 0;
    for (u, product) in held_products.iter().enumerate() {
        let Some(product) = product else { continue };
        let target = format!("p{product}");
        let q = Query {
            user: Some(users[u].clone()),
            anon: None,
            limit: 10,
            context: Some("homepage".into()),
            product: None,
        };
        evaluated += 1;
        for (i, s) in [Strategy::Blended, Strategy::Recent, Strategy::Popular]
            .into_iter()
            .enumerate()
        {
            if recommend(&model, &q, s).iter().any(|r| r.id == target) {
                hits[i] += 1;
            }
        }
    }
    println!(
        "in-process apply: {:.1} µs per event",
        apply_time.as_secs_f64() * 1e6 / applied as f64
    );
    let rate = |h: usize| h as f64 / evaluated as f64;
    println!("offline evaluation: {SHOPPERS} shoppers with planted tastes, {} products in {CATEGORIES} categories, {applied} training events (seed {SEED:#x})", CATEGORIES * PER_CATEGORY);
    println!("leave-last-out hit rate @10 over {evaluated} shoppers:");
    println!(
        "  recommender (blended)      {:.4}  ({} hits)",
        rate(hits[0]),
        hits[0]
    );
    println!(
        "  recommender (recent)       {:.4}  ({} hits)",
        rate(hits[1]),
        hits[1]
    );
    println!(
        "  popular-items baseline     {:.4}  ({} hits)",
        rate(hits[2]),
        hits[2]
    );
    println!(
        "  lift of blended over popular: {:.2}x   ({:.1} s)",
        rate(hits[0]) / rate(hits[2]).max(1e-9),
        started.elapsed().as_secs_f64()
    );
}
