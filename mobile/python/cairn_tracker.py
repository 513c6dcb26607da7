"""The Python layer over the generated bindings (`cairn_mobile`): `Cairn(config)`
takes dicts, and uploads with urllib.

Rules:
- properties and traits are dicts (nested dicts, lists, str, int, float, bool,
  None); a NaN or infinity, a non-str key or any other type raises
  `cairn_mobile.CairnError.InvalidArgument` at the call, naming the value's path;
- every call hands its work to the library's dispatcher thread and returns: no
  disk sync and no network on the caller's thread; reads (`queued`, `consent`,
  `anonymous_id`) and `flush_and_wait` wait for the calls before them;
- `UrllibUploader` performs each request with urllib (the system's certificates,
  or `SSL_CERT_FILE`); it only reports how the request ended: Retry-After, 413
  splitting and backoff are the core's rules.
"""

import json
import math
import urllib.error
import urllib.request
import weakref

import cairn_mobile as _m

CairnError = _m.CairnError


class UrllibUploader(_m.HttpUploader):
    """POSTs with urllib: a status line read is a Status, anything else Transport."""

    def upload(self, request):
        req = urllib.request.Request(
            request.url, data=bytes(request.body), headers=dict(request.headers), method="POST"
        )
        timeout = max(request.timeout_ms, 1) / 1000.0
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
                return _m.UploadResult.STATUS(code=resp.status, retry_after=resp.headers.get("Retry-After"))
        except urllib.error.HTTPError as e:
            # urllib raises for every status >= 400: still a status the core must see.
            e.read()
            return _m.UploadResult.STATUS(code=e.code, retry_after=e.headers.get("Retry-After"))
        except Exception as e:  # URLError, timeouts, resets, TLS errors: no status
            return _m.UploadResult.TRANSPORT(message=f"{type(e).__name__}: {e}")


def _check(path, v, depth=0):
    if depth > 64:
        raise CairnError.InvalidArgument(f"invalid argument: {path} is nested deeper than 64 levels")
    if v is None or isinstance(v, (str, bool, int)):
        return
    if isinstance(v, float):
        if not math.isfinite(v):
            shown = "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
            raise CairnError.InvalidArgument(f"invalid argument: {path} is {shown} (not a finite number)")
        return
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                raise CairnError.InvalidArgument(
                    f"invalid argument: {path} has a key of type {type(k).__name__} (keys must be strings)"
                )
            _check(f"{path}.{k}", x, depth + 1)
        return
    if isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            _check(f"{path}[{i}]", x, depth + 1)
        return
    raise CairnError.InvalidArgument(
        f"invalid argument: {path} has unsupported type {type(v).__name__} "
        "(use str, int, float, bool, dict, list or None)"
    )


def _encode(what, d):
    if not d:
        return None
    _check(what, d)
    return json.dumps(d, separators=(",", ":"), allow_nan=False)


class Cairn:
    """One per app and data_dir. `uploader` defaults to UrllibUploader()."""

    def __init__(self, config, uploader=None):
        # The tracker is released when this object goes, or at interpreter exit
        # (weakref.finalize runs then, before finalization): its threads stop while
        # Python can still run the uploader's release.
        self._box = [_m.Tracker(config, uploader or UrllibUploader())]
        self._release = weakref.finalize(self, self._box.clear)

    @property
    def _t(self):
        if not self._box:
            raise CairnError.Stopped("tracker stopped: closed")
        return self._box[0]

    def track(self, event, properties=None, purpose=None):
        self._t.track(event, _encode("properties", properties), purpose)

    def track_event(self, event, properties=None, purpose=None):
        self._t.track_event(event, _encode("properties", properties), purpose)

    def screen(self, name, properties=None):
        self._t.screen(name, _encode("properties", properties))

    def identify(self, user_id, traits=None):
        self._t.identify(user_id, _encode("traits", traits))

    def alias(self, new_user_id):
        self._t.alias(new_user_id)

    def group(self, group_id, traits=None):
        self._t.group(group_id, _encode("traits", traits))

    def reset(self):
        self._t.reset()

    def set_consent(self, consent):
        self._t.set_consent(consent)

    def flush(self):
        self._t.flush()

    def on_foreground(self):
        self._t.on_foreground()

    def on_background(self):
        self._t.on_background()

    def consent(self):
        return self._t.consent()

    def anonymous_id(self):
        return self._t.anonymous_id()

    def queued(self):
        return self._t.queued()

    def last_error(self):
        return self._t.last_error()

    def flush_and_wait(self, timeout_ms):
        self._t.flush_and_wait(timeout_ms)

    def shutdown(self, timeout_ms):
        self._t.shutdown(timeout_ms)

    def close(self):
        """Stops the threads; what is queued stays on disk (synced)."""
        # The generated object frees the Rust tracker when its last reference goes
        # (CPython: at once), which syncs the queue and stops the threads.
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
