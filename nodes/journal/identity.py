"""What makes two node runs "the same paid request": the identity the journal matches on.

Built from the endpoint, the request's fields with upload placeholders (not the URLs the files get
once uploaded), the content hash of each file behind a placeholder, and the seed (which fal never
sees: changing it is how a user asks for a new paid take), and the take index of a fan-out (several
independent takes of the same inputs in one node run). Take 0 adds nothing, so a single take keeps the
identity it always had and older journal entries still match. So a match is found before anything is
encoded or uploaded again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def request_identity(endpoint_id: str, payload: Mapping[str, Any], content: Mapping[str, str], seed: int | None,
                     take: int = 0) -> str:
    """A stable hex digest of (endpoint, payload with placeholders, placeholder -> content hash, seed[, take])."""
    fields: dict[str, Any] = {"endpoint": endpoint_id, "payload": payload, "seed": seed, "uploads": dict(content)}
    if take:
        fields["take"] = take
    blob = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
