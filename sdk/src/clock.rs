//! Time is given to the core, never read by it: every rule that depends on time
//! (batch interval, backoff, session timeout, queue age) uses a `Clock`, so tests
//! drive the engine with a `ManualClock` and never sleep.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: crate::store::MaybeSendSync {
    fn now_millis(&self) -> i64;

    /// The same instant as a chrono date. (`Self: Sized` keeps it, and chrono's
    /// date code, out of `dyn Clock` vtables: the engine never calls it.)
    fn now(&self) -> DateTime<Utc>
    where
        Self: Sized,
    {
        DateTime::from_timestamp_millis(self.now_millis()).unwrap_or_default()
    }
}

/// The platform's clock (what native drivers use).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        ms(d)
    }
}

/// A duration in whole milliseconds; durations too long for an i64 (such as
/// `Duration::MAX`) count as `i64::MAX`. Stamps and durations are added with
/// `saturating_add` / `saturating_sub`, so no setting or stamp can overflow.
/// In i64, not `as_millis`'s u128 (no 128-bit multiply in the web tracker).
#[inline(never)] // one copy (smaller web tracker)
pub(crate) fn ms(d: Duration) -> i64 {
    // Compared, not `checked_mul`: wasm32 checks a u64 product in 128 bits.
    const MAX_SECS: u64 = i64::MAX as u64 / 1000;
    let s = d.as_secs();
    if s > MAX_SECS {
        return i64::MAX;
    }
    (s as i64 * 1000).saturating_add(i64::from(d.subsec_millis()))
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at `millis` since the epoch.
    pub fn new(millis: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(millis)))
    }
    pub fn advance(&self, d: Duration) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms(d)))
            });
    }
    pub fn set(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
