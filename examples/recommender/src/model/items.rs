//! Aggregates per product: catalogue context (the latest seen), decayed popularity,
//! counts per event type, and item-to-item co-occurrence. Aggregates hold no person's
//! id, so a deletion leaves them (only the person's profile and links go).
//!
//! Co-occurrence rule: when a consenting person interacts with a product that is not
//! among their [`super::profile::RECENT`] most recent ones, the pair (product, each of
//! those) counts once, both ways. A product keeps at most [`MAX_NEIGHBOURS`]
//! neighbours; past that, the weaker half goes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::event::ProductRef;

pub const MAX_NEIGHBOURS: usize = 100;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Item {
    pub name: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub price: Option<f64>,
    /// Decayed weighted popularity, at the reference time.
    pub pop: f64,
    pub counts: BTreeMap<String, u64>,
    pub co: HashMap<String, f32>,
}

impl Item {
    /// Takes the catalogue fields an event carries; returns the old category when
    /// it changed.
    pub fn describe(&mut self, p: &ProductRef) -> Option<Option<String>> {
        if p.name.is_some() {
            self.name.clone_from(&p.name);
        }
        if p.brand.is_some() {
            self.brand.clone_from(&p.brand);
        }
        if p.price.is_some() {
            self.price = p.price;
        }
        if p.category.is_some() && p.category != self.category {
            return Some(std::mem::replace(&mut self.category, p.category.clone()));
        }
        None
    }

    pub fn add_neighbour(&mut self, other: &str) {
        *super::Slot::slot(&mut self.co, other) += 1.0;
        if self.co.len() > MAX_NEIGHBOURS {
            let mut v: Vec<f32> = self.co.values().copied().collect();
            v.sort_by(|a, b| b.total_cmp(a));
            let cut = v[MAX_NEIGHBOURS / 2];
            let mut kept = 0;
            self.co.retain(|_, n| {
                let keep = *n > cut || (*n == cut && kept < MAX_NEIGHBOURS / 2);
                kept += keep as usize;
                keep
            });
        }
    }

    pub fn label(&self, id: &str) -> String {
        self.name.clone().unwrap_or_else(|| id.to_owned())
    }
}
