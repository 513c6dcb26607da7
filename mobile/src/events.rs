//! What the app tracks and what it gets back: the typed seed events ([`SeedEvent`])
//! mapped to the core's [`Event`] constructors, with their arguments checked, and
//! [`TrackResult`] from the core's [`Tracked`].

use crate::args::{count, millis};
use crate::error::CairnError;
use cairn::{Event, Tracked};

/// What happened to a tracked event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TrackResult {
    /// Queued on the device for upload.
    Queued,
    /// Discarded: its purpose is not consented to. Nothing was stored.
    NoConsent,
}

impl From<Tracked> for TrackResult {
    fn from(t: Tracked) -> Self {
        match t {
            Tracked::Queued => TrackResult::Queued,
            Tracked::NoConsent(_) => TrackResult::NoConsent,
        }
    }
}

/// The seed events with typed fields (DESIGN.md, "Events"). Extra properties go
/// in `trackEvent`'s `propertiesJson`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SeedEvent {
    // Explicit signals.
    Rating {
        product_id: String,
        rating: f64,
    },
    Review {
        product_id: String,
        rating: f64,
    },
    WishlistAdd {
        product_id: String,
    },
    CollectionAdd {
        product_id: String,
    },
    TradeOffer {
        product_id: String,
        offer_id: String,
    },
    AddToCart {
        product_id: String,
        quantity: i32,
    },
    Purchase {
        order_id: String,
        total: f64,
        currency: String,
    },
    Signup {
        method: String,
    },
    // Implicit signals.
    ScreenView {
        name: String,
    },
    ProductViewed {
        product_id: String,
    },
    Click {
        target: String,
    },
    Search {
        query: String,
    },
    SearchResultClick {
        query: String,
        product_id: String,
        position: i32,
    },
    FilterApplied {
        filter: String,
        value: String,
    },
    ScrollDepth {
        percent: i32,
    },
    TimeOnPage {
        duration_ms: i64,
    },
    VideoPlay {
        video_id: String,
    },
    VideoComplete {
        video_id: String,
    },
    FormStart {
        form_id: String,
    },
    FormSubmit {
        form_id: String,
    },
    // Negative signals.
    QuickExit {
        dwell_ms: i64,
    },
    WishlistRemove {
        product_id: String,
    },
    RemoveFromCart {
        product_id: String,
        quantity: i32,
    },
    HideItem {
        product_id: String,
    },
}

impl SeedEvent {
    pub(crate) fn into_event(self) -> Result<Event, CairnError> {
        use SeedEvent as S;
        Ok(match self {
            S::Rating { product_id, rating } => Event::rating(&product_id, rating),
            S::Review { product_id, rating } => Event::review(&product_id, rating),
            S::WishlistAdd { product_id } => Event::wishlist_add(&product_id),
            S::CollectionAdd { product_id } => Event::collection_add(&product_id),
            S::TradeOffer {
                product_id,
                offer_id,
            } => Event::trade_offer(&product_id, &offer_id),
            S::AddToCart {
                product_id,
                quantity,
            } => Event::add_to_cart(&product_id, count("quantity", quantity)?),
            S::Purchase {
                order_id,
                total,
                currency,
            } => Event::purchase(&order_id, total, &currency),
            S::Signup { method } => Event::signup(&method),
            S::ScreenView { name } => Event::screen_view(name),
            S::ProductViewed { product_id } => Event::product_viewed(&product_id),
            S::Click { target } => Event::click(&target),
            S::Search { query } => Event::search(&query),
            S::SearchResultClick {
                query,
                product_id,
                position,
            } => Event::search_result_click(&query, &product_id, count("position", position)?),
            S::FilterApplied { filter, value } => Event::filter_applied(&filter, &value),
            S::ScrollDepth { percent } => Event::scroll_depth(
                u8::try_from(percent)
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| {
                        CairnError::InvalidArgument(format!("percent is {percent}, not 0..=100"))
                    })?,
            ),
            S::TimeOnPage { duration_ms } => {
                Event::time_on_page(millis("durationMs", duration_ms)?.as_millis() as u64)
            }
            S::VideoPlay { video_id } => Event::video_play(&video_id),
            S::VideoComplete { video_id } => Event::video_complete(&video_id),
            S::FormStart { form_id } => Event::form_start(&form_id),
            S::FormSubmit { form_id } => Event::form_submit(&form_id),
            S::QuickExit { dwell_ms } => {
                Event::quick_exit(millis("dwellMs", dwell_ms)?.as_millis() as u64)
            }
            S::WishlistRemove { product_id } => Event::wishlist_remove(&product_id),
            S::RemoveFromCart {
                product_id,
                quantity,
            } => Event::remove_from_cart(&product_id, count("quantity", quantity)?),
            S::HideItem { product_id } => Event::hide_item(&product_id),
        })
    }
}
