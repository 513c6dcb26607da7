//! CORS preflights of the browser SDKs that post to a Segment-compatible collector from
//! another origin: Segment's analytics-next and RudderStack's analytics-js (3.x), whose
//! requests carry headers of their own.

mod api_support;

use api_support::*;

#[test]
fn preflights_of_segment_and_rudderstack_browser_sdks_are_accepted() {
    let c = start("cors-sdks", &[]);
    let sdks = [
        ("segment analytics-next", "content-type"),
        (
            "rudderstack analytics-js",
            "anonymousid,authorization,content-type,rsa-request-attempt,rsa-since-last-attempt,rsa-request-retry-reason",
        ),
        ("any future header", "x-some-new-sdk-header"),
    ];
    for (sdk, requested) in sdks {
        for path in ["/v1/batch", "/v1/track", "/v1/page"] {
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
            for h in requested.split(',') {
                assert!(allowed.contains(h), "{sdk}: {h} not in {allowed}");
            }
        }
    }
}
