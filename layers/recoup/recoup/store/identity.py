"""The one hash that stands for a person in the table's keys: an email, a phone number, a
card fingerprint, an IP address or a shipping address.

HMAC-SHA256 under the stack's identity-hash key (`Settings.identity_hash_key`): a bare
SHA-256 of a phone number is reversed by hashing every number of an area code, which takes
seconds; without the key, the keys of the table reveal nothing.

Records written before the key existed are keyed by the bare SHA-256 (`unkeyed`). They
cannot be re-keyed, since the hash cannot be undone (that is the point), and an opt-out
among them must stay honoured: readers look under both hashes and erasure deletes under
both; writers use only `keyed`.
"""

from __future__ import annotations

import hashlib
import hmac

from recoup.settings import get_settings


def keyed(text: str) -> str:
    """The hex HMAC-SHA256 of the (already normalised) text under the identity-hash key."""
    return hmac.new(get_settings().identity_hash_key(), text.encode(), hashlib.sha256).hexdigest()


def unkeyed(text: str) -> str:
    """The bare SHA-256 earlier versions wrote: read and erased, never written."""
    return hashlib.sha256(text.encode()).hexdigest()
