//! Sends the seed events of a small shopping session to a local collector, and says
//! what really happened: delivered, or kept queued and why.
//!
//! ```sh
//! bash scripts/run.sh                       # in another terminal: the collector
//! cargo run -p cairn-example-native         # demo-key, demo-hash-key, 127.0.0.1:8080
//! ```
//!
//! Settings (environment): CAIRN_ENDPOINT (default http://127.0.0.1:8080),
//! CAIRN_WRITE_KEY (default demo-key, the key scripts/run.sh configures),
//! CAIRN_HASH_KEY (default demo-hash-key, the project hash key scripts/run.sh gives the
//! collector), CAIRN_DATA (the queue's directory, default cairn-example-data under the
//! system temp dir). Events not delivered stay queued there and go out on the next run.

use cairn::{Client, Config, Consent, Event, LineItem, Os, SledStore, StaticContext};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let mut config = Config::new(
        env("CAIRN_WRITE_KEY", "demo-key"),
        env("CAIRN_ENDPOINT", "http://127.0.0.1:8080"),
    );
    config.hash_key = env("CAIRN_HASH_KEY", "demo-hash-key");
    config.context = StaticContext {
        os: Some(Os {
            name: Some(std::env::consts::OS.into()),
            version: None,
        }),
        locale: Some("en-GB".into()),
        timezone: Some("Europe/London".into()),
        ..StaticContext::default()
    };
    let data = std::env::var_os("CAIRN_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cairn-example-data"));
    let store = SledStore::open(&data)?;
    let client = Client::new(config, Arc::new(store))?;

    // Opt-in: nothing is collected before this (the choice itself is sent as the
    // consent record, `consent_changed`).
    client.set_consent(Consent::all())?;
    client.identify(
        "user-42",
        json!({ "email": "Alice@Example.com", "plan": "pro" }),
    )?;
    let oud = |e: Event| {
        e.with("name", "Oud Wood")
            .with("price", 89.0)
            .with("currency", "EUR")
            .with("category", "perfume/woody")
    };
    client.track_event(Event::page_view("Home").with("path", "/"))?;
    client.track_event(Event::search("oud").with("result_count", 3))?;
    client.track_event(oud(Event::search_result_click("oud", "sku-123")).with("position", 0))?;
    client.track_event(oud(Event::product_viewed("sku-123")))?;
    client.track_event(oud(Event::add_to_cart("sku-123", 1)))?;
    let items = [LineItem::new("sku-123", 89.0, 1)];
    client.track_event(Event::purchase("order-9", &items, 89.0, "EUR"))?;
    client.track("custom_event", json!({ "origin": "example" }))?;

    let anon = client.with_engine(|e| e.anonymous_id().to_string());
    let tracked = client.with_engine(|e| e.queued());
    match client.shutdown(Duration::from_secs(10)).await {
        Ok(()) => {
            println!("delivered {tracked} events (anonymousId {anon})");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let left = client.with_engine(|e| e.queued());
            println!(
                "NOT delivered: {e}; {left} events stay queued in {} for the next run",
                data.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
