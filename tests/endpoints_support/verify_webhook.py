"""Verifies a request courier signed with the official Standard Webhooks library.

Reads one JSON object from stdin: {"secret": "whsec_...", "headers": {...},
"body_base64": "..."} (the request exactly as the test's receiver recorded it).
Prints "verified" and exits 0 when the library accepts it; prints the library's
error and exits 1 when it does not.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    received = json.load(sys.stdin)
    body = base64.b64decode(received["body_base64"])
    try:
        Webhook(received["secret"]).verify(body, received["headers"], json_parse=False)
    except WebhookVerificationError as error:
        print(f"refused: {error}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
