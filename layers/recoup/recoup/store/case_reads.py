"""The worker's reads for one event in one call: the case and the shop's reminder and fraud
policies by one consistent BatchGetItem, instead of a GetItem each.

The policies read are held for the event (`policies.held`), so the screening and the
reminder sequence that ask for them later in the same event use these instead of reading
again; a retry after a concurrent update reloads only the case.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from recoup.settings import get_settings
from recoup.store import policies
from recoup.store.bind import bind, connection
from recoup.store.cases import StoredCase, stored
from recoup.store.models import CASE_SK, CaseItem, PolicyItem, case_pk, shop_pk

MAX_ROUNDS = 8  # retries of unprocessed keys (throttling), with growing pauses


def case_with_policies(
    shop: str, case_id: str, kinds: Sequence[str] = (policies.REMINDERS, policies.FRAUD)
) -> tuple[StoredCase | None, dict[str, tuple[int, dict[str, Any]] | None]]:
    """The case (None: new) and each policy kind's stored (version, document) (None: the
    shop has none, the defaults apply)."""
    bind()
    table = get_settings().table_name
    wanted = [(case_pk(shop, case_id), CASE_SK)] + [
        (shop_pk(shop), f"POLICY#{kind}") for kind in kinds
    ]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    request: dict[str, Any] = {
        table: {
            "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted],
            "ConsistentRead": True,
        }
    }
    for attempt in range(MAX_ROUNDS):
        client: Any = connection().client  # the connection's botocore client, reused
        response = client.batch_get_item(RequestItems=request)
        for item in response.get("Responses", {}).get(table, []):
            found[(item["pk"]["S"], item["sk"]["S"])] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(min(0.05 * 2**attempt, 1.0))
    else:
        raise RuntimeError(f"keys still unprocessed after {MAX_ROUNDS} rounds")
    raw_case = found.get(wanted[0])
    case = stored(CaseItem.from_raw_data(raw_case)) if raw_case else None
    docs: dict[str, tuple[int, dict[str, Any]] | None] = {}
    for kind, key in zip(kinds, wanted[1:], strict=True):
        raw = found.get(key)
        if raw is None:
            docs[kind] = None
        else:
            item = PolicyItem.from_raw_data(raw)
            docs[kind] = (int(item.version), dict(item.doc))
    return case, docs
