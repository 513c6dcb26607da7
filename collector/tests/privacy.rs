//! The privacy scan: events carrying known raw e-mails, phones and user ids go in through
//! several endpoints, encodings and fields; the feed holds them pseudonymised (64-hex
//! HMACs where the raw values were), and after a clean stop no byte of any file in the
//! data dir contains a raw value or any normalised form of it.

mod api_support;

use std::path::{Path, PathBuf};

use api_support::*;
use cairn_testkit::WRITE_KEY;
use serde_json::{json, Value};

const USER_A: &str = "User-Alice-8c1f";
const USER_B: &str = "carol_uid_0042";
const PREVIOUS: &str = "legacy-bob-id-77";
const EMAIL_A: &str = "Alice.Smith+shop@Example.COM";
const EMAIL_B: &str = "bob.jones@mail.example.org";
const PHONE_A: &str = "+44 20 7946 0958";
const PHONE_B: &str = "0049 (30) 1234-5678";
/// Not an identifier: stored as given, which proves the scan can see stored values.
const CANARY: &str = "canary-visible-7391";

/// Every form of the raw values that must not be found, compared case-insensitively.
fn needles() -> Vec<&'static str> {
    vec![
        USER_A,
        USER_B,
        PREVIOUS,
        EMAIL_A,
        "alice.smith+shop@example.com",
        "alice.smith",
        EMAIL_B,
        "bob.jones",
        PHONE_A,
        "+442079460958",
        "442079460958",
        "2079460958",
        "7946 0958",
        PHONE_B,
        "+493012345678",
        "493012345678",
        "3012345678",
        "1234-5678",
        "4915112345678",
        "carol.numeric@example.org",
        // PII anywhere (the `p-anywhere` event).
        "dana.anywhere@example.net",
        "dana.anywhere",
        "+33 6 12 34 56 78",
        "33612345678",
        "612345678",
        "ellen%40example.com",
        "ellen@example.com",
        "frank.trait@example.com",
        "gina.key@example.com",
        "+1 415 555 0100",
        "14155550100",
        "4155550100",
        "harry@e-mail.example",
        "203.0.113.77",
        LOYALTY_CARD,
    ]
}

/// A value of a key configured with `--pii-pseudonymise-keys`.
const LOYALTY_CARD: &str = "LOYAL-CARD-5521";

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_raw_identifier_reaches_the_data_dir() {
    let mut c = start(
        "privacy-scan",
        &["--pii-pseudonymise-keys", "properties.loyaltyCard"],
    );
    let auth = basic(WRITE_KEY);

    let identify = json!({"messageId": "p-identify", "userId": USER_A, "anonymousId": "anon-p1",
        "traits": {"email": EMAIL_A, "phone": PHONE_A, "plan": "pro"},
        "properties": {"canary": CANARY}});
    assert_eq!(post_json(&c, "/v1/identify", &identify).status, 200);

    let batch = json!({"batch": [
        {"type": "track", "messageId": "p-track", "userId": USER_A, "event": "Purchased",
         "context": {"traits": {"email": " alice.smith+shop@example.com ", "phone": "00442079460958"}}},
        {"type": "alias", "messageId": "p-alias", "previousId": PREVIOUS, "userId": USER_B},
        {"type": "page", "messageId": "p-page", "userId": USER_B, "name": "Account"},
        {"type": "group", "messageId": "p-group", "userId": USER_B, "groupId": "team-1",
         "traits": {"email": EMAIL_B}}
    ]});
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("authorization", &auth), ("content-encoding", "gzip")],
        gzip(batch.to_string().as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["accepted"], 4);

    // sendBeacon shape: text/plain with the key in the body.
    let beacon = json!({"writeKey": WRITE_KEY, "batch": [
        {"type": "identify", "messageId": "p-beacon", "userId": USER_B,
         "traits": {"email": EMAIL_B, "phone": PHONE_B}}
    ]});
    let reply = send(
        &c,
        "POST",
        "/v1/batch",
        &[("content-type", "text/plain")],
        beacon.to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let screen = json!({"messageId": "p-screen", "userId": USER_A, "name": "Home", "context": {"traits": {"phone": PHONE_A}}});
    assert_eq!(post_json(&c, "/v1/screen", &screen).status, 200);
    // Keys in another case and a phone sent as a number are contact traits too.
    let numeric = json!({"messageId": "p-numeric", "userId": USER_B,
        "traits": {"Phone": 4915112345678_u64, "EMAIL": "Carol.Numeric@Example.org"}});
    assert_eq!(post_json(&c, "/v1/identify", &numeric).status, 200);

    // E-mails and phones anywhere: free text, nested traits, other trait keys, page URLs
    // and search strings (also URL-encoded), names; context.ip dropped by default; a
    // configured key pseudonymised.
    let anywhere = json!({"messageId": "p-anywhere", "anonymousId": "anon-p2", "name": "Dana",
        "properties": {"note": "write to dana.anywhere@example.net or +33 6 12 34 56 78",
                       "loyaltyCard": LOYALTY_CARD,
                       "url": "https://shop.example/account?email=ellen%40example.com&tab=1",
                       "search": "orders of ellen@example.com"},
        "context": {"ip": "203.0.113.77",
                    "page": {"url": "https://shop.example/?phone=%2B14155550100",
                             "search": "?phone=+1 415 555 0100&q=x",
                             "title": "Account of harry@e-mail.example"},
                    "traits": {"profile": {"contact": {"mail": "frank.trait@example.com"}},
                               "emailAddress": "gina.key@example.com",
                               "phoneNumber": "+1 415 555 0100", "e-mail": "harry@e-mail.example"}}});
    assert_eq!(post_json(&c, "/v1/page", &anywhere).status, 200);
    let page = || stored(&c, "p-anywhere");
    assert!(page()["context"].get("ip").is_none(), "context.ip dropped");
    assert!(is_hash(&page()["properties"]["loyaltyCard"]));
    assert!(is_hash(&page()["context"]["traits"]["emailAddress"]));
    assert!(page()["properties"]["url"]
        .as_str()
        .unwrap()
        .ends_with("&tab=1"));

    // The feed has every event, with 64-hex values where the raw ones were.
    let ids = feed_keys(&c);
    assert_eq!(
        ids,
        [
            "p-identify",
            "p-track",
            "p-alias",
            "p-page",
            "p-group",
            "p-beacon",
            "p-screen",
            "p-numeric",
            "p-anywhere"
        ]
    );
    let e = stored(&c, "p-identify");
    for v in [&e["userId"], &e["traits"]["email"], &e["traits"]["phone"]] {
        assert!(is_hash(v), "{e}");
    }
    assert_eq!(e["traits"]["plan"], "pro");
    assert_eq!(e["properties"]["canary"], CANARY);
    let t = stored(&c, "p-track");
    assert_eq!(t["userId"], e["userId"], "one user, one pseudonym");
    assert_eq!(
        t["context"]["traits"]["email"], e["traits"]["email"],
        "e-mail normalised before hashing"
    );
    assert_eq!(
        t["context"]["traits"]["phone"], e["traits"]["phone"],
        "phone normalised to E.164 before hashing"
    );
    let a = stored(&c, "p-alias");
    assert!(is_hash(&a["previousId"]) && is_hash(&a["userId"]), "{a}");
    assert_eq!(stored(&c, "p-page")["userId"], a["userId"]);
    assert!(is_hash(&stored(&c, "p-group")["traits"]["email"]));
    let b = stored(&c, "p-beacon");
    assert_eq!(
        b["traits"]["email"],
        stored(&c, "p-group")["traits"]["email"]
    );
    assert!(is_hash(&b["traits"]["phone"]));
    assert_eq!(
        stored(&c, "p-screen")["context"]["traits"]["phone"],
        e["traits"]["phone"]
    );
    let feed_text: String = c.feed(0).iter().map(Value::to_string).collect();
    for needle in needles() {
        assert!(
            !feed_text.to_lowercase().contains(&needle.to_lowercase()),
            "{needle} is in the feed"
        );
    }

    let status = c.terminate();
    assert_eq!(status.code(), Some(0));

    let mut files = Vec::new();
    files_under(&c.data_dir, &mut files);
    let mut scanned = 0;
    let mut canary_seen = false;
    for file in &files {
        let bytes = std::fs::read(file)
            .expect("read data file")
            .to_ascii_lowercase();
        scanned += bytes.len();
        canary_seen |= contains(&bytes, CANARY.as_bytes());
        for needle in needles() {
            assert!(
                !contains(&bytes, needle.to_ascii_lowercase().as_bytes()),
                "{needle:?} found in {}",
                file.display()
            );
        }
    }
    assert!(scanned > 0 && files.len() > 1, "scanned {files:?}");
    assert!(
        canary_seen,
        "the scan must see stored values: {CANARY} not found in {} bytes of {files:?}",
        scanned
    );
}
