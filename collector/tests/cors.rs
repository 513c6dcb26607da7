//! CORS preflights of the browser SDKs that post to a Segment-compatible collector from
//! another origin: Segment's analytics-next and RudderStack's analytics-js (3.x), whose
//! requests carry headers of their own. The header sets are the ones Chromium asked for
//! in tests/rudderstack_browser.rs (RudderStack 3.34.1; the Rsa-* ones on a retry).

mod api_support;

use api_support::*;

/// Every path a browser SDK posts to.
const PATHS: [&str; 6] = [
    "/v1/batch",
    "/v1/track",
    "/v1/page",
    "/v1/identify",
    "/v1/t",
    "/v1/import",
];

#[test]
fn preflights_of_segment_and_rudderstack_browser_sdks_are_accepted() {
    let c = start("cors-sdks", &[]);
    let sdks = [
        ("segment analytics-next", "content-type"),
        (
            "rudderstack analytics-js",
            "anonymousid,authorization,content-type,sentat",
        ),
        (
            "rudderstack analytics-js, retrying",
            "anonymousid,authorization,content-type,rsa-retry-attempt,rsa-retry-reason,\
             rsa-since-first-attempt,rsa-since-last-attempt,sentat",
        ),
        ("rudderstack analytics-js, recovered", "rsa-recovered"),
        ("any future header", "x-some-new-sdk-header"),
    ];
    for (sdk, requested) in sdks {
        for path in PATHS {
            let reply = send(
                &c,
                "OPTIONS",
                path,
                &[
                    ("origin", "https://shop.example"),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", requested),
                ],
                Vec::new(),
            );
            assert!(
                (200..300).contains(&reply.status),
                "{sdk} {path}: {}",
                reply.status
            );
            assert_eq!(
                reply.header("access-control-allow-origin").as_deref(),
                Some("*")
            );
            let allowed = reply
                .header("access-control-allow-headers")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let allowed: Vec<&str> = allowed.split(',').map(str::trim).collect();
            for h in requested.split(',') {
                assert!(allowed.contains(&h), "{sdk}: {h} not in {allowed:?}");
            }
            let methods = reply
                .header("access-control-allow-methods")
                .unwrap_or_default();
            assert!(methods.contains("POST"), "{sdk} {path}: {methods}");
            // The answer depends on the headers asked for: a cache must not reuse it for
            // another set.
            let vary = reply
                .header("vary")
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(
                vary.contains("access-control-request-headers"),
                "{sdk} {path}: vary {vary:?}"
            );
            // Origin `*` and no credentials: mirroring any header exposes nothing.
            assert_eq!(
                reply.header("access-control-allow-credentials"),
                None,
                "{sdk} {path}"
            );
        }
    }
}

/// A post from another origin (as after the preflight) is answered with the CORS
/// headers the browser needs to hand the response, and Retry-After, to the page.
#[test]
fn cross_origin_posts_expose_their_answer() {
    let c = start("cors-post", &[]);
    let body = br#"{"type":"track","event":"Cors","anonymousId":"cors-anon","messageId":"cors-1"}"#;
    let auth = basic(cairn_testkit::WRITE_KEY);
    let reply = send(
        &c,
        "POST",
        "/v1/track",
        &[
            ("origin", "https://shop.example"),
            ("content-type", "application/json"),
            ("authorization", &auth),
            ("anonymousid", "Y29ycy1hbm9u"),
            ("sentat", "2026-01-01T00:00:00.000Z"),
        ],
        body.to_vec(),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.header("content-type"));
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let exposed = reply
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "exposed: {exposed:?}");
}
