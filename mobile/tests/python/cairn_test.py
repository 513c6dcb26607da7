"""The Python side of mobile/tests/foreign.rs: the same scenarios as
tests/kotlin/CairnTest.kt, through the written layer (mobile/python/cairn_tracker.py:
dicts, urllib) over the generated bindings (ctypes, no extra package). The first
argument picks the scenario; it prints `KEY value` lines the Rust test reads.

    hashed  <endpoint> <dataDir> <hashKey>
    consent <endpoint> <dataDir>
    crash1  <endpoint> <dataDir> <sent> <left>   delivers `sent`, tracks `left` more,
                                                 prints TRACKED, then idles
    crash2  <endpoint> <dataDir>
    count   <endpoint> <dataDir>                 what a new process finds queued, its consent
    roundtrip <endpoint> <dataDir>               every SeedEvent variant (samples.py, generated)
    https   <endpoint> <dataDir> <n>             n events over HTTPS (SSL_CERT_FILE trusts the
                                                 test CA); flushes until delivered
    syscalls <endpoint> <dataDir>                every call of the layer from this thread, run
                                                 under strace by the test: prints this thread's
                                                 id and every live thread's id and name
"""

import datetime
import os
import sys
import threading
import time

import cairn_mobile as cairn
from cairn_tracker import Cairn
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


def expect_raises(error, key, f):
    try:
        f()
    except error as e:
        print(f"{key} {e}")
        return
    check(False, f"{key}: must raise {error}")


def hashed(endpoint, data_dir, hash_key):
    t = Cairn(config(endpoint, data_dir, hash_key))
    t.track("before_consent")
    check(t.queued() == 0, "opt-in by default: nothing queued before consent")
    t.set_consent(cairn.ConsentState(analytics=True))
    t.identify("user-42", {"email": "  Alice@Example.COM ", "phone": "+33 6 12 34 56 78", "plan": "pro"})
    t.track("python_custom", {"n": 1, "nested": {"ok": True}, "list": [1, "two", None, 2.5]})
    t.track_event(cairn.SeedEvent.ADD_TO_CART(product_id="sku-1", quantity=2), {"price": 9.5})
    t.screen("Home")
    expect_raises(cairn.CairnError.InvalidArgument, "ERROR_NAN", lambda: t.track("bad", {"price": float("nan")}))
    expect_raises(
        cairn.CairnError.InvalidArgument,
        "ERROR_TYPE",
        lambda: t.track("bad", {"items": [{"at": datetime.date(1970, 1, 1)}]}),
    )
    expect_raises(cairn.CairnError.EmptyName, "ERROR_EMPTY", lambda: t.track(" "))
    expect_raises(
        cairn.CairnError.InvalidArgument,
        "ERROR_ARG",
        lambda: t.track_event(cairn.SeedEvent.ADD_TO_CART(product_id="sku-1", quantity=-1)),
    )
    print(f"ANONYMOUS_ID {t.anonymous_id()}")
    t.flush_and_wait(20_000)
    check(t.queued() == 0, "queue empty after flush_and_wait")
    check(t.last_error() is None, f"no error after the call: {t.last_error()}")
    print("DONE")


def consent(endpoint, data_dir):
    # flush_at / flush_interval high: the events stay queued until the revocation.
    t = Cairn(config(endpoint, data_dir, flush_at=1000, flush_interval_ms=600_000))
    t.set_consent(cairn.ConsentState(analytics=True, personalization=True))
    for i in range(5):
        t.track(f"analytics_{i}")
    t.track_event(cairn.SeedEvent.HIDE_ITEM(product_id="sku-9"), purpose=cairn.Purpose.PERSONALIZATION)
    print(f"QUEUED_BEFORE {t.queued()}")
    t.set_consent(cairn.ConsentState(analytics=False, personalization=True))
    print(f"QUEUED_AFTER {t.queued()}")
    t.track("after_revoke")
    t.track_event(cairn.SeedEvent.CLICK(target="buy"))
    print(f"QUEUED_AFTER_REFUSED {t.queued()}")
    t.flush_and_wait(20_000)
    check(t.queued() == 0, "queue empty after flush_and_wait")
    print("DONE")


def crash1(endpoint, data_dir, sent, left):
    # The first `sent` events are delivered; the last `left` stay below flush_at and
    # inside the 10 s flush interval, so they are only on the device when the test
    # kills this process.
    t = Cairn(config(endpoint, data_dir, flush_at=10))
    t.set_consent(cairn.ConsentState(analytics=True))
    for i in range(sent):
        t.track("crash_event", {"seq": i})
    t.flush_and_wait(20_000)
    for i in range(sent, sent + left):
        t.track("crash_event", {"seq": i})
    print(f"TRACKED {sent + left}", flush=True)
    time.sleep(600)  # killed by the test long before this ends


def crash2(endpoint, data_dir):
    t = Cairn(config(endpoint, data_dir))
    print(f"CONSENT {str(t.consent().analytics).lower()}")
    print(f"QUEUED_AT_START {t.queued()}")
    t.flush_and_wait(20_000)
    print(f"QUEUED_AFTER {t.queued()}")
    print("DONE")


def count(endpoint, data_dir):
    # flush_at / flush_interval high: this process only looks.
    t = Cairn(config(endpoint, data_dir, flush_at=1000, flush_interval_ms=600_000))
    print(f"QUEUED {t.queued()}")
    print(f"ANALYTICS {str(t.consent().analytics).lower()}")
    print(f"PERSONALIZATION {str(t.consent().personalization).lower()}")
    print("DONE")


def roundtrip(endpoint, data_dir):
    t = Cairn(config(endpoint, data_dir))
    t.set_consent(cairn.ConsentState(analytics=True, personalization=True, marketing=True))
    events = sample_seed_events(cairn)
    for e in events:
        t.track_event(e)
    check(t.queued() == len(events) + 1, "all queued, with the consent record")
    t.flush_and_wait(20_000)
    print(f"TRACKED {len(events)}")
    print(f"ANONYMOUS_ID {t.anonymous_id()}")
    print("DONE")


def https(endpoint, data_dir, n):
    # flush_at above n: the events go in one batch when flushed (413 then halves it).
    with Cairn(config(endpoint, data_dir, flush_at=1000, request_timeout_ms=5_000)) as t:
        t.set_consent(cairn.ConsentState(analytics=True))
        for i in range(n):
            t.track("https_event", {"seq": i, "cart": {"items": [i, i + 1]}})
        failures = 0
        while True:
            try:
                t.flush_and_wait(30_000)
                break
            except cairn.CairnError.Upload as e:
                failures += 1
                print(f"FLUSH_FAILED {e}")
                check(failures < 10, "delivered within 10 attempts")
        check(t.queued() == 0, "queue empty")
        print("DONE")


def threads():
    """`tid:name;...` for every live thread of this process (the kernel's names)."""
    out = []
    for tid in sorted(os.listdir("/proc/self/task")):
        with open(f"/proc/self/task/{tid}/comm") as f:
            out.append(f"{tid}:{f.read().strip()}")
    return ";".join(out)


def syscalls(endpoint, data_dir):
    # Python calls the library on its own thread (no hand-off thread in this layer):
    # this is the library's own promise, the one Swift relies on too.
    print(f"CALLER_TID {threading.get_native_id()}")
    t = Cairn(config(endpoint, data_dir, flush_at=1))
    t.set_consent(cairn.ConsentState(analytics=True, personalization=True))
    t.on_foreground()
    t.identify("user-42", {"email": "a@b.com"})
    t.track("syscalls_custom", {"n": 1})
    t.track_event(cairn.SeedEvent.ADD_TO_CART(product_id="sku-1", quantity=1))
    t.track_event(cairn.SeedEvent.HIDE_ITEM(product_id="sku-9"), purpose=cairn.Purpose.PERSONALIZATION)
    t.screen("Home")
    t.alias("user-43")
    t.group("acme")
    t.on_background()
    t.flush()
    t.set_consent(cairn.ConsentState(analytics=True))  # revokes personalization: purge and sync
    t.reset()
    t.on_foreground()
    print(f"QUEUED {t.queued()}")
    print(f"ANALYTICS {t.consent().analytics}")
    print(f"ANONYMOUS_ID {t.anonymous_id()}")
    t.flush_and_wait(30_000)
    check(t.last_error() is None, f"no error: {t.last_error()}")
    print(f"THREADS {threads()}")  # before close joins the library's threads
    t.close()  # on this thread: the queue is synced on the dispatcher's
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
    elif mode == "https":
        https(argv[2], argv[3], int(argv[4]))
    elif mode == "syscalls":
        syscalls(argv[2], argv[3])
    else:
        print("usage: cairn_test.py hashed|consent|crash1|crash2|count|roundtrip|https <endpoint> <dataDir> ...", file=sys.stderr)
        sys.exit(2)
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
