//! The event table: every event the SDKs have a typed helper for, with its wire name,
//! message kind, consent purpose and typed properties. It is the one place the
//! vocabulary is written; `cairn-codegen` reads it and writes each platform's helpers
//! (Rust, JavaScript and TypeScript, the mobile `SeedEvent` for Kotlin and Swift), a
//! JSON Schema per event and the reference page `docs/events.md` (Mozilla Glean's
//! metrics.yaml and glean_parser are the model). Any other event name is allowed too;
//! it is simply not typed.
//!
//! Rules of the table: names are snake_case; required fields come first in the order
//! the helpers take them; every product event carries [`PRODUCT`] context.

use crate::{Kind, Purpose};

/// The family a signal belongs to (seed 000's taxonomy; the recommender weighs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A stated preference: rating, purchase, wishlist.
    Explicit,
    /// Behaviour: views, clicks, searches.
    Implicit,
    /// A turn away: quick exit, removal, hiding.
    Negative,
    /// App and session lifecycle.
    Lifecycle,
    /// What the recommender showed and what was clicked (CTR).
    Recommendation,
    /// A/B test exposure.
    Experiment,
    /// The user's consent choice.
    Consent,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Explicit => "explicit",
            Signal::Implicit => "implicit",
            Signal::Negative => "negative",
            Signal::Lifecycle => "lifecycle",
            Signal::Recommendation => "recommendation",
            Signal::Experiment => "experiment",
            Signal::Consent => "consent",
        }
    }
}

/// A property's type, as every platform checks and types it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    /// A string.
    Str,
    /// A whole number within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A number at least `min`.
    Num {
        min: f64,
    },
    Bool,
    /// One of the given strings.
    Enum(&'static [&'static str]),
    /// A list of strings.
    StrList,
    /// A list of line items, each with [`PRODUCT_ITEM`]'s fields.
    Products,
}

/// One property of an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// The property name on the wire (snake_case).
    pub name: &'static str,
    pub ty: FieldType,
    /// Required fields are the helpers' positional arguments.
    pub required: bool,
    pub doc: &'static str,
}

/// Who sends an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitter {
    /// The app, through a typed helper.
    App,
    /// The SDK itself (no public helper): the consent record.
    Sdk,
}

/// One event of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventSpec {
    /// The wire name: `event` of a track, the feed's name of a page or screen view.
    pub name: &'static str,
    /// Track, or Page / Screen for the view events (their first argument is the
    /// page or screen name, sent as `name`).
    pub kind: Kind,
    /// The purpose it needs; `None` for the consent record, which needs none.
    pub purpose: Option<Purpose>,
    pub signal: Signal,
    pub emitter: Emitter,
    pub doc: &'static str,
    /// Property groups, concatenated in order.
    pub fields: &'static [&'static [Field]],
}

impl EventSpec {
    /// Every property, in order.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.fields.iter().flat_map(|g| g.iter())
    }

    /// The required properties: the helpers' positional arguments, in order.
    pub fn required(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.all_fields().filter(|f| f.required)
    }

    /// The optional properties.
    pub fn optional(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.all_fields().filter(|f| !f.required)
    }

    /// The purpose's wire name (`consent` for the consent record).
    pub fn purpose_name(&self) -> &'static str {
        self.purpose
            .map_or(crate::field::CONSENT_RECORD_PURPOSE, Purpose::as_str)
    }
}

/// The event named `name`, if the table has it.
pub fn spec(name: &str) -> Option<&'static EventSpec> {
    EVENTS.iter().find(|e| e.name == name)
}

const fn req(name: &'static str, ty: FieldType, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: true,
        doc,
    }
}

const fn opt(name: &'static str, ty: FieldType, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        doc,
    }
}

const STR: FieldType = FieldType::Str;
const MONEY: FieldType = FieldType::Num { min: 0.0 };
const COUNT: FieldType = FieldType::Int {
    min: 1,
    max: i32::MAX as i64,
};
const INDEX: FieldType = FieldType::Int {
    min: 0,
    max: i32::MAX as i64,
};
const MILLIS: FieldType = FieldType::Int {
    min: 0,
    max: i64::MAX,
};
const PERCENT: FieldType = FieldType::Int { min: 0, max: 100 };

/// ISO 4217 currency code of the prices of an event.
const CURRENCY_DOC: &str = "ISO 4217 currency code, e.g. EUR";

/// Product context, on every product event (seed 002's catalogue fields).
pub const PRODUCT: &[Field] = &[
    req(
        "product_id",
        STR,
        "The product's id in the shop's catalogue (SKU).",
    ),
    opt("name", STR, "Product name."),
    opt("price", MONEY, "Unit price."),
    opt("currency", STR, CURRENCY_DOC),
    opt("category", STR, "Category path, e.g. `perfume/floral`."),
    opt("brand", STR, "Brand."),
    opt("variant", STR, "Variant (size, colour...)."),
    opt(
        "position",
        INDEX,
        "Position in the list it was shown in, from 0.",
    ),
    opt(
        "list",
        STR,
        "The list it was shown in (search results, a category, a recommendation slot).",
    ),
];

/// One line item of a checkout or purchase.
pub const PRODUCT_ITEM: &[Field] = &[
    req("product_id", STR, "The product's id (SKU)."),
    req("price", MONEY, "Unit price."),
    req("quantity", COUNT, "Units."),
    opt("category", STR, "Category path."),
    opt("name", STR, "Product name."),
    opt("brand", STR, "Brand."),
    opt("variant", STR, "Variant."),
];

const ORDER: &[Field] = &[
    req("products", FieldType::Products, "The line items."),
    req("total", MONEY, "Order total, in `currency`."),
    req("currency", STR, CURRENCY_DOC),
];

const QUANTITY: &[Field] = &[req("quantity", COUNT, "Units added or removed.")];

const VIDEO: &[Field] = &[
    req("video_id", STR, "The video's id."),
    opt("position_ms", MILLIS, "Playback position, in milliseconds."),
    opt(
        "duration_ms",
        MILLIS,
        "The video's length, in milliseconds.",
    ),
];

const PAGE: &[Field] = &[
    opt("path", STR, "URL path."),
    opt("url", STR, "Full URL."),
    opt("title", STR, "Document title."),
    opt("referrer", STR, "The referring URL."),
    opt("search", STR, "URL query string."),
];

const EXPLICIT: Signal = Signal::Explicit;
const IMPLICIT: Signal = Signal::Implicit;
const NEGATIVE: Signal = Signal::Negative;
const ANALYTICS: Option<Purpose> = Some(Purpose::Analytics);

const fn track(
    name: &'static str,
    signal: Signal,
    doc: &'static str,
    fields: &'static [&'static [Field]],
) -> EventSpec {
    EventSpec {
        name,
        kind: Kind::Track,
        purpose: ANALYTICS,
        signal,
        emitter: Emitter::App,
        doc,
        fields,
    }
}

/// The name of the consent record: sent by the SDKs on every grant and revoke with
/// the full purpose set, whatever is granted (it is the record of the choice, and
/// nothing else rides on it), so downstream knows to forget a user for a purpose.
pub const CONSENT_CHANGED: &str = "consent_changed";

/// The table.
pub const EVENTS: &[EventSpec] = &[
    // --- Views ---------------------------------------------------------------
    EventSpec {
        name: "page_view",
        kind: Kind::Page,
        purpose: ANALYTICS,
        signal: IMPLICIT,
        emitter: Emitter::App,
        doc: "A page was shown (Segment `page`; the web tracker sends it by itself).",
        fields: &[&[req("name", STR, "The page's name.")], PAGE],
    },
    EventSpec {
        name: "screen_view",
        kind: Kind::Screen,
        purpose: ANALYTICS,
        signal: IMPLICIT,
        emitter: Emitter::App,
        doc: "An app screen was shown (Segment `screen`).",
        fields: &[&[req("name", STR, "The screen's name.")]],
    },
    // --- Explicit signals ----------------------------------------------------
    track("rating", EXPLICIT, "The user rated a product.", &[
        PRODUCT,
        &[req("rating", FieldType::Num { min: 0.0 }, "The rating given (the shop's scale, e.g. 1-5).")],
    ]),
    track("review", EXPLICIT, "The user reviewed a product (the text stays in the shop).", &[
        PRODUCT,
        &[
            req("rating", FieldType::Num { min: 0.0 }, "The review's rating."),
            opt("review_id", STR, "The review's id in the shop."),
        ],
    ]),
    track("like", EXPLICIT, "The user liked a product.", &[PRODUCT]),
    track("comment", EXPLICIT, "The user commented on a product (the text stays in the shop).", &[
        PRODUCT,
        &[opt("comment_id", STR, "The comment's id in the shop.")],
    ]),
    track("share", EXPLICIT, "The user shared a product.", &[
        PRODUCT,
        &[opt("channel", STR, "Where it was shared: email, link, a network's name.")],
    ]),
    track("survey_response", EXPLICIT, "The user answered a survey question.", &[&[
        req("survey_id", STR, "The survey's id."),
        req("question_id", STR, "The question's id."),
        opt("answer", STR, "The chosen answer's id (never free text)."),
        opt("score", FieldType::Num { min: 0.0 }, "A numeric answer (NPS, scale)."),
    ]]),
    track("wishlist_add", EXPLICIT, "A product was added to the wishlist.", &[PRODUCT]),
    track("collection_add", EXPLICIT, "A product was added to the user's collection.", &[PRODUCT]),
    track("trade_offer", EXPLICIT, "The user made a trade offer on a product.", &[
        PRODUCT,
        &[req("offer_id", STR, "The offer's id.")],
    ]),
    track("add_to_cart", EXPLICIT, "A product was added to the cart.", &[PRODUCT, QUANTITY]),
    track("checkout_started", EXPLICIT, "The user began checking out.", &[
        ORDER,
        &[opt("order_id", STR, "The order's id, if known yet.")],
    ]),
    track("purchase", EXPLICIT, "An order was completed.", &[
        &[req("order_id", STR, "The order's id.")],
        ORDER,
    ]),
    track("signup", EXPLICIT, "The user created an account.", &[&[req(
        "method",
        STR,
        "How: email, google, apple...",
    )]]),
    // --- Implicit signals ----------------------------------------------------
    track("product_viewed", IMPLICIT, "A product's detail was viewed (the recommender's \"view\").", &[PRODUCT]),
    track("product_clicked", IMPLICIT, "A product was clicked in a listing (the recommender's \"click\").", &[PRODUCT]),
    track("click", IMPLICIT, "A user-interface element was clicked.", &[&[req(
        "target",
        STR,
        "What was clicked (an element's name).",
    )]]),
    track("link_click", IMPLICIT, "A link was followed.", &[&[
        req("url", STR, "The link's target."),
        req("link_type", FieldType::Enum(&["internal", "external"]), "Whether it stays on the site."),
        opt("text", STR, "The link's text."),
    ]]),
    track("download", IMPLICIT, "A file was downloaded.", &[&[
        req("file_name", STR, "The file's name."),
        opt("url", STR, "Where it came from."),
    ]]),
    track("search", IMPLICIT, "A search was run.", &[&[
        req("query", STR, "The query as typed."),
        opt("result_count", INDEX, "How many results it gave."),
    ]]),
    track("search_result_click", IMPLICIT, "A search result was clicked.", &[
        &[req("query", STR, "The query that gave the result.")],
        PRODUCT,
    ]),
    track("filter_applied", IMPLICIT, "A listing filter was set.", &[&[
        req("filter", STR, "The filter's name."),
        req("value", STR, "Its value."),
    ]]),
    track("sort_changed", IMPLICIT, "A listing's sort order was changed.", &[&[
        req("sort", STR, "The sort key (price, newest, relevance...)."),
        opt("order", FieldType::Enum(&["asc", "desc"]), "Direction."),
    ]]),
    track("scroll_depth", IMPLICIT, "The deepest scroll reached on a page.", &[&[req(
        "percent",
        PERCENT,
        "Percent of the page, 0-100.",
    )]]),
    track("time_on_page", IMPLICIT, "How long a page was shown.", &[&[req(
        "duration_ms",
        MILLIS,
        "Milliseconds visible.",
    )]]),
    track("video_play", IMPLICIT, "A video started or resumed playing.", &[VIDEO]),
    track("video_pause", IMPLICIT, "A video was paused.", &[VIDEO]),
    track("video_progress", IMPLICIT, "A video reached a milestone.", &[
        VIDEO,
        &[req("percent", PERCENT, "Percent watched, 0-100.")],
    ]),
    track("video_complete", IMPLICIT, "A video played to its end.", &[VIDEO]),
    track("page_exit", IMPLICIT, "A page was left (closed, or another page of a single-page app shown).", &[&[
        req("engaged_ms", MILLIS, "Milliseconds the page was visible with the user active (input or scroll within the last 10 s)."),
        opt("visible_ms", MILLIS, "Milliseconds the page was visible."),
        opt("max_scroll", PERCENT, "The deepest scroll reached, percent of the page."),
    ]]),
    track("product_impression", IMPLICIT, "Products were seen in a listing (at least half visible for one second), batched.", &[&[
        req("product_ids", FieldType::StrList, "The products seen, in the order they became visible."),
        opt("list", STR, "The listing they were in (home, search, category...)."),
    ]]),
    track("form_start", IMPLICIT, "The user began filling a form.", &[&[req("form_id", STR, "The form's id.")]]),
    track("form_submit", IMPLICIT, "A form was submitted.", &[&[req("form_id", STR, "The form's id.")]]),
    // --- Negative signals ----------------------------------------------------
    track("quick_exit", NEGATIVE, "A page was left quickly.", &[&[req(
        "dwell_ms",
        MILLIS,
        "How long it was shown, in milliseconds.",
    )]]),
    track("wishlist_remove", NEGATIVE, "A product was removed from the wishlist.", &[PRODUCT]),
    track("remove_from_cart", NEGATIVE, "A product was removed from the cart.", &[PRODUCT, QUANTITY]),
    track("hide_item", NEGATIVE, "The user asked not to see a product.", &[PRODUCT]),
    // --- Lifecycle -----------------------------------------------------------
    track("app_opened", Signal::Lifecycle, "The app came to the foreground.", &[&[
        opt("from_background", FieldType::Bool, "False on a cold start."),
    ]]),
    track("app_backgrounded", Signal::Lifecycle, "The app went to the background.", &[]),
    track("session_started", Signal::Lifecycle, "A session began.", &[]),
    track("session_ended", Signal::Lifecycle, "A session ended.", &[&[opt(
        "duration_ms",
        MILLIS,
        "The session's length.",
    )]]),
    // --- Recommendations and experiments --------------------------------------
    EventSpec {
        purpose: Some(Purpose::Personalization),
        ..track("recommendation_shown", Signal::Recommendation, "Recommendations were shown (the CTR denominator).", &[&[
            req("model_version", STR, "The recommender's modelVersion."),
            req("list", STR, "The slot: product-page, homepage, cart."),
            req("product_ids", FieldType::StrList, "The products shown, in order."),
        ]])
    },
    EventSpec {
        purpose: Some(Purpose::Personalization),
        ..track("recommendation_clicked", Signal::Recommendation, "A recommended product was clicked (the CTR numerator).", &[&[
            req("model_version", STR, "The recommender's modelVersion."),
            req("list", STR, "The slot it was shown in."),
            req("product_id", STR, "The product clicked."),
            req("position", INDEX, "Its position in the slot, from 0."),
        ]])
    },
    track("experiment_exposure", Signal::Experiment, "The user saw a variant of an A/B test.", &[&[
        req("experiment", STR, "The experiment's id."),
        req("variant", STR, "The variant shown."),
    ]]),
    // --- Consent ---------------------------------------------------------------
    EventSpec {
        name: CONSENT_CHANGED,
        kind: Kind::Track,
        purpose: None,
        signal: Signal::Consent,
        emitter: Emitter::Sdk,
        doc: "The user granted or revoked a purpose: the full purpose set after the change. Sent by the SDK itself, whatever is granted.",
        fields: &[&[
            req("analytics", FieldType::Bool, "Analytics granted."),
            req("personalization", FieldType::Bool, "Personalization granted."),
            req("marketing", FieldType::Bool, "Marketing granted."),
        ]],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rules() {
        let mut names = std::collections::HashSet::new();
        for e in EVENTS {
            assert!(names.insert(e.name), "{} twice", e.name);
            assert!(
                e.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{} is not snake_case",
                e.name
            );
            let mut fields = std::collections::HashSet::new();
            for f in e.all_fields() {
                assert!(fields.insert(f.name), "{}.{} twice", e.name, f.name);
            }
            assert!(matches!(e.kind, Kind::Track | Kind::Page | Kind::Screen));
            assert_eq!(e.purpose.is_none(), e.emitter == Emitter::Sdk);
        }
        let consent = spec(CONSENT_CHANGED).unwrap();
        assert_eq!(consent.purpose_name(), "consent");
        let purchase = spec("purchase").unwrap();
        let args: Vec<_> = purchase.required().map(|f| f.name).collect();
        assert_eq!(args, ["order_id", "products", "total", "currency"]);
        assert!(spec("add_to_cart")
            .unwrap()
            .all_fields()
            .any(|f| f.name == "price"));
    }
}
