"""What makes two node runs "the same paid request": the identity the journal matches on.

Built from the endpoint, the request's fields with upload placeholders (not the URLs the files get
once uploaded), the content hash of each file behind a placeholder, and the seed (which fal never
sees: changing it is how a user asks for a new paid take). So a match is found before anything is
encoded or uploaded again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def request_identity(endpoint_id: str, payload: Mapping[str, Any], content: Mapping[str, str], seed: int | None) -> str:
    """A stable hex digest of (endpoint, payload with placeholders, placeholder -> content hash, seed)."""
    blob = json.dumps({"endpoint": endpoint_id, "payload": payload, "seed": seed, "uploads": dict(content)},
                      sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
