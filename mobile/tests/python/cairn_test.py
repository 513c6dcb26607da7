"""The Python side of mobile/tests/foreign.rs: the same scenarios as
tests/kotlin/CairnTest.kt, through the generated Python bindings (ctypes, no
extra package). The first argument picks the scenario; it prints `KEY value`
lines the Rust test reads.

    hashed  <endpoint> <dataDir> <hashKey>
    consent <endpoint> <dataDir>
    crash1  <endpoint> <dataDir> <sent> <left>   delivers `sent`, tracks `left` more,
                                                 prints TRACKED, then idles
    crash2  <endpoint> <dataDir>
    count   <endpoint> <dataDir>                 what a new process finds queued, its consent
    roundtrip <endpoint> <dataDir>               every SeedEvent variant (samples.py, generated)
"""

import asyncio
import sys
import time

import cairn_mobile as cairn
from samples import sample_seed_events


def check(cond, what):
    if not cond:
        print(f"CHECK FAILED: {what}", file=sys.stderr)
        sys.exit(3)


def config(endpoint, data_dir, hash_key="device-hash-key", **overrides):
    return cairn.TrackerConfig(
        write_key="test-write-key",
        endpoint=endpoint,
        data_dir=data_dir,
        hash_key=hash_key,
        context=cairn.DeviceContext(
            app_name="Python test",
            app_version="1.0",
            device_type="mobile",
            os_name="Linux",
            locale="fr-FR",
            timezone="Europe/Paris",
        ),
        **overrides,
    )


def hashed(endpoint, data_dir, hash_key):
    t = cairn.Tracker(config(endpoint, data_dir, hash_key))
    check(t.track("before_consent") == cairn.TrackResult.NO_CONSENT, "opt-in by default")
    t.set_consent(cairn.ConsentState(analytics=True))
    t.identify("user-42", '{"email":"  Alice@Example.COM ","phone":"+33 6 12 34 56 78","plan":"pro"}')
    t.track("python_custom", '{"n":1,"nested":{"ok":true}}')
    t.track_event(cairn.SeedEvent.ADD_TO_CART(product_id="sku-1", quantity=2), '{"price":9.5}')
    t.screen("Home")
    try:
        t.track("bad", "[1,2]")
        check(False, "a JSON array as properties must raise")
    except cairn.CairnError.NotAnObject as e:
        print(f"ERROR {e}")
    try:
        t.track_event(cairn.SeedEvent.ADD_TO_CART(product_id="sku-1", quantity=-1))
        check(False, "a negative quantity must raise")
    except cairn.CairnError.InvalidArgument as e:
        print(f"ERROR_ARG {e}")
    print(f"ANONYMOUS_ID {t.anonymous_id()}")
    asyncio.run(t.flush_await(20_000))
    check(t.queued() == 0, "queue empty after flush_await")
    print("DONE")


def consent(endpoint, data_dir):
    # flush_at / flush_interval high: the events stay queued until the revocation.
    t = cairn.Tracker(config(endpoint, data_dir, flush_at=1000, flush_interval_ms=600_000))
    t.set_consent(cairn.ConsentState(analytics=True, personalization=True))
    for i in range(5):
        check(t.track(f"analytics_{i}") == cairn.TrackResult.QUEUED, "queued")
    t.track_event(cairn.SeedEvent.HIDE_ITEM(product_id="sku-9"), purpose=cairn.Purpose.PERSONALIZATION)
    print(f"QUEUED_BEFORE {t.queued()}")
    t.set_consent(cairn.ConsentState(analytics=False, personalization=True))
    print(f"QUEUED_AFTER {t.queued()}")
    check(t.track("after_revoke") == cairn.TrackResult.NO_CONSENT, "analytics refused after revoke")
    check(t.track_event(cairn.SeedEvent.CLICK(target="buy")) == cairn.TrackResult.NO_CONSENT, "seed refused too")
    asyncio.run(t.flush_await(20_000))
    check(t.queued() == 0, "queue empty after flush_await")
    print("DONE")


def crash1(endpoint, data_dir, sent, left):
    # The first `sent` events are delivered (flush_await); the last `left` stay below
    # flush_at and inside the 10 s flush interval, so they are only on the device
    # when the test kills this process.
    t = cairn.Tracker(config(endpoint, data_dir, flush_at=10))
    t.set_consent(cairn.ConsentState(analytics=True))
    for i in range(sent):
        t.track("crash_event", f'{{"seq":{i}}}')
    asyncio.run(t.flush_await(20_000))
    for i in range(sent, sent + left):
        t.track("crash_event", f'{{"seq":{i}}}')
    print(f"TRACKED {sent + left}", flush=True)
    time.sleep(600)  # killed by the test long before this ends


def crash2(endpoint, data_dir):
    t = cairn.Tracker(config(endpoint, data_dir))
    print(f"CONSENT {str(t.consent().analytics).lower()}")
    print(f"QUEUED_AT_START {t.queued()}")
    asyncio.run(t.flush_await(20_000))
    print(f"QUEUED_AFTER {t.queued()}")
    print("DONE")


def count(endpoint, data_dir):
    # flush_at / flush_interval high: this process only looks.
    t = cairn.Tracker(config(endpoint, data_dir, flush_at=1000, flush_interval_ms=600_000))
    print(f"QUEUED {t.queued()}")
    print(f"ANALYTICS {str(t.consent().analytics).lower()}")
    print(f"PERSONALIZATION {str(t.consent().personalization).lower()}")
    print("DONE")


def roundtrip(endpoint, data_dir):
    t = cairn.Tracker(config(endpoint, data_dir))
    t.set_consent(cairn.ConsentState(analytics=True, personalization=True, marketing=True))
    events = sample_seed_events(cairn)
    for e in events:
        check(t.track_event(e) == cairn.TrackResult.QUEUED, f"queued: {e}")
    asyncio.run(t.flush_await(20_000))
    print(f"TRACKED {len(events)}")
    print(f"ANONYMOUS_ID {t.anonymous_id()}")
    print("DONE")


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "hashed":
        hashed(argv[2], argv[3], argv[4])
    elif mode == "consent":
        consent(argv[2], argv[3])
    elif mode == "crash1":
        crash1(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif mode == "crash2":
        crash2(argv[2], argv[3])
    elif mode == "count":
        count(argv[2], argv[3])
    elif mode == "roundtrip":
        roundtrip(argv[2], argv[3])
    else:
        print("usage: cairn_test.py hashed|consent|crash1|crash2|count|roundtrip <endpoint> <dataDir> ...", file=sys.stderr)
        sys.exit(2)
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
