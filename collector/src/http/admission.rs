//! Admission of ingest requests, decided when a request arrives (after its header key is
//! checked, before a byte of its body is read), so that under overload a refusal costs
//! microseconds and the admitted requests keep their latency.
//!
//! Two bounds, both on the work admitted past the door:
//! - a count: at most `max_pending` ingest requests between admission and their answer
//!   (reading their body, parsing, waiting for the writer's commit). Waiting work, and
//!   with it memory and latency, is bounded by the count instead of growing with the
//!   number of connections;
//! - a queue delay (CoDel's standing-queue test): the time a request spends from its
//!   body being read to its answer (parsing and the commit queue; not the client's
//!   upload) is its sojourn. When the *smallest* sojourn of an interval is above
//!   `target`, even the luckiest request waited, so a queue is standing rather than
//!   passing through: the count bound drops to a quarter until an interval's smallest
//!   sojourn is back under target. A burst that drains within an interval does not trip
//!   it; a machine slowed by other work (fewer cycles per request) does.
//!
//! The rest is answered 503 with Retry-After at once, without reading the body; the
//! connection is then closed (see `ingest`), since the unread body cannot be told apart
//! from a next request.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// How long a sojourn must stay above target before the bound tightens (CoDel's
/// interval).
const INTERVAL: Duration = Duration::from_millis(100);
/// The share of `max_pending` admitted while a queue stands.
const STANDING_SHARE: usize = 4;

pub struct Admission {
    max_pending: usize,
    target: Duration,
    pending: AtomicUsize,
    standing: AtomicBool,
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    /// Smallest sojourn seen since `started`.
    smallest: Option<Duration>,
}

/// One admitted request; the slot is released when it is dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    body_read: Option<Instant>,
}

impl Admission {
    pub fn new(max_pending: usize, target: Duration) -> Arc<Self> {
        Arc::new(Self {
            max_pending: max_pending.max(1),
            target,
            pending: AtomicUsize::new(0),
            standing: AtomicBool::new(false),
            window: Mutex::new(Window {
                started: Instant::now(),
                smallest: None,
            }),
        })
    }

    /// A slot for one more request, or `None` when it must be shed.
    pub fn try_admit(self: &Arc<Self>) -> Option<Ticket> {
        let limit = if self.standing.load(Ordering::Relaxed) {
            (self.max_pending / STANDING_SHARE).max(1)
        } else {
            self.max_pending
        };
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(Ticket {
            admission: self.clone(),
            body_read: None,
        })
    }

    /// Requests admitted and not answered yet.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Whether a standing queue has tightened the bound.
    pub fn standing(&self) -> bool {
        self.standing.load(Ordering::Relaxed)
    }

    fn observe(&self, sojourn: Duration) {
        let mut w = self.window.lock().unwrap();
        w.smallest = Some(w.smallest.map_or(sojourn, |s| s.min(sojourn)));
        if w.started.elapsed() >= INTERVAL {
            let standing = w.smallest.is_some_and(|s| s > self.target);
            self.standing.store(standing, Ordering::Relaxed);
            w.started = Instant::now();
            w.smallest = None;
        }
    }
}

impl Ticket {
    /// The body has been read: the sojourn is measured from here.
    pub fn body_read(&mut self) {
        self.body_read = Some(Instant::now());
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.pending.fetch_sub(1, Ordering::AcqRel);
        if let Some(read) = self.body_read {
            self.admission.observe(read.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_bounds_admission_and_a_dropped_ticket_frees_its_slot() {
        let a = Admission::new(2, Duration::from_secs(60));
        let first = a.try_admit().expect("first");
        let _second = a.try_admit().expect("second");
        assert!(a.try_admit().is_none());
        drop(first);
        assert!(a.try_admit().is_some());
    }

    #[test]
    fn a_standing_queue_tightens_the_bound_and_a_short_sojourn_releases_it() {
        let a = Admission::new(8, Duration::ZERO);
        // Sojourns above a zero target for a whole interval: a standing queue.
        let started = Instant::now();
        while !a.standing() {
            let mut t = a.try_admit().expect("slot");
            t.body_read();
            assert!(started.elapsed() < Duration::from_secs(30), "never tripped");
        }
        let held: Vec<_> = (0..2).map_while(|_| a.try_admit()).collect();
        assert_eq!(held.len(), 2, "a quarter of 8 while standing");
        drop(held);
        // An interval whose smallest sojourn is under target clears it.
        let a = Admission::new(8, Duration::from_secs(60));
        a.standing.store(true, Ordering::Relaxed);
        let started = Instant::now();
        while a.standing() {
            let mut t = a.try_admit().expect("slot");
            t.body_read();
            assert!(started.elapsed() < Duration::from_secs(30), "never cleared");
        }
    }
}
