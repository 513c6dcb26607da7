//! Sends a few seed events to a local collector.
//!
//! ```sh
//! CAIRN_ENDPOINT=http://127.0.0.1:8080 CAIRN_WRITE_KEY=wk_dev \
//!   cargo run -p cairn-example-native
//! ```
//!
//! Optional: CAIRN_HASH_KEY (identifier hashing key), CAIRN_DATA (queue directory,
//! default ./cairn-example-data). Events not delivered stay queued there and go
//! out on the next run.

use cairn::{Client, Config, Consent, Event, LineItem, Os, SledStore, StaticContext};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let mut config = Config::new(
        env("CAIRN_WRITE_KEY", "wk_dev"),
        env("CAIRN_ENDPOINT", "http://127.0.0.1:8080"),
    );
    config.hash_key = env("CAIRN_HASH_KEY", "example-hash-key");
    config.context = StaticContext {
        os: Some(Os {
            name: Some(std::env::consts::OS.into()),
            version: None,
        }),
        locale: Some("en-GB".into()),
        timezone: Some("Europe/London".into()),
        ..StaticContext::default()
    };
    let store = SledStore::open(env("CAIRN_DATA", "cairn-example-data"))?;
    let client = Client::new(config, Arc::new(store))?;

    // Opt-in: nothing is collected before this.
    client.set_consent(Consent::all())?;
    client.identify(
        "user-42",
        json!({ "email": "Alice@Example.com", "plan": "pro" }),
    )?;
    client.track_event(Event::page_view("Home").with("path", "/"))?;
    client.track_event(Event::search("oud"))?;
    client.track_event(Event::search_result_click("oud", "sku-123").with("position", 1))?;
    client.track_event(Event::product_viewed("sku-123"))?;
    client.track_event(Event::add_to_cart("sku-123", 1).with("price", 89.0))?;
    let items = [LineItem::new("sku-123", 89.0, 1)];
    client.track_event(Event::purchase("order-9", &items, 89.0, "EUR"))?;
    client.track("custom_event", json!({ "source": "example" }))?;

    let anon = client.with_engine(|e| e.anonymous_id().to_string());
    match client.shutdown(Duration::from_secs(10)).await {
        Ok(()) => println!("delivered 8 events (anonymousId {anon})"),
        Err(e) => {
            let left = client.with_engine(|e| e.queued());
            println!("not delivered yet ({e}); {left} events stay queued for the next run");
        }
    }
    Ok(())
}
