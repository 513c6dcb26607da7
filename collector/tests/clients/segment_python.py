"""Posts one of each Segment call to a Cairn collector with Segment's own Python library
(PyPI: segment-analytics-python). Run by collector/tests/segment_client.rs:

    python segment_python.py <collector url> <write key> <message id prefix>

Prints one JSON line: the library's name and version and every error it reported.
Exits 1 when the library reported any error.
"""

import json
import sys

import segment.analytics as analytics
from segment.analytics.client import Client
from segment.analytics.version import VERSION

url, write_key, prefix = sys.argv[1:4]
errors = []


def on_error(error, items):
    errors.append({"error": repr(error), "messageIds": [i.get("messageId") for i in items]})


# The library's default client: a background consumer batches the queue into
# POST {host}/v1/batch; gzip on, as many deployments configure it.
analytics.write_key = write_key
analytics.host = url
analytics.gzip = True
analytics.on_error = on_error
analytics.max_retries = 0

analytics.track(
    "py-user-1",
    "Product Added",
    {"sku": "SKU-42", "price": 19.5, "tags": ["a", "b"]},
    message_id=prefix + "track",
    anonymous_id="py-anon-1",
)
analytics.identify(
    "py-user-1",
    {"email": "py.user@example.com", "phone": "+44 20 7946 0958", "plan": "pro"},
    message_id=prefix + "identify",
    anonymous_id="py-anon-1",
)
analytics.page("py-user-1", "Docs", "Install", {"path": "/docs/install"}, message_id=prefix + "page")
analytics.screen("py-user-1", "Shop", "Basket", {"items": 3}, message_id=prefix + "screen")
analytics.group("py-user-1", "py-group-1", {"name": "Acme", "seats": 12}, message_id=prefix + "group")
analytics.alias("py-old-id", "py-user-1", message_id=prefix + "alias")
analytics.flush()
analytics.shutdown()

# sync_mode: each call is its own blocking POST, without gzip; errors raise.
sync = Client(write_key, host=url, sync_mode=True, on_error=on_error, max_retries=0)
try:
    sync.track(anonymous_id="py-anon-2", event="Sync Event", properties={"sync": True}, message_id=prefix + "sync")
except Exception as error:  # the library raises APIError or a transport error
    errors.append({"error": repr(error), "messageIds": [prefix + "sync"]})

print(json.dumps({"library": "analytics-python", "version": VERSION, "errors": errors}))
sys.exit(1 if errors else 0)
