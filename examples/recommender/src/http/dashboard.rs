//! The dashboard: one static page (HTML + JS drawing on canvas, nothing fetched from
//! elsewhere) that reads `/api/v1/stats`, `/api/v1/experiments` and a profile.

use axum::response::{Html, Redirect};

static PAGE: &str = include_str!("dashboard.html");

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn root() -> Redirect {
    Redirect::temporary("/dashboard")
}
