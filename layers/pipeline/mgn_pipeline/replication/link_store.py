"""What the link budget remembers between reconciles: one account record in the servers table.

The throttles the pipeline wrote (so a reconcile knows them without reading every server's
replication configuration), which servers were copying at the last plan (a change is what makes a
re-plan due), the copied bytes at the last look (what the link actually gave), and the ETAs.

One JSON document per link under ``account#link-budget`` (another link's: ``#<name>`` after
it; ``account#link-budgets`` names them), written with a version condition: the reconciler
(one run at a time) writes it after its pass; a guard in the event function notes an exception
server's throttle between passes, and whichever writes second reads again and merges. About 100
bytes a server: the item's 400 KB holds some 3,000 servers on one link.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mgn_pipeline.shared.aws.dynamodb import conditional
from mgn_pipeline.shared.aws.server_registry import ACCOUNT_CHECK_PREFIX
from mgn_pipeline.shared.errors import PipelineError

LINK_RECORD_KEY = ACCOUNT_CHECK_PREFIX + "link-budget"
# The names of the links that have a record (what ``mgn-migrate status`` reads).
LINK_INDEX_KEY = ACCOUNT_CHECK_PREFIX + "link-budgets"
DEFAULT_LINK = "default"
_TRIES = 3


def link_record_key(link: str) -> str:
    """The default link keeps the first record's key; another link's record carries its name."""
    return LINK_RECORD_KEY if link == DEFAULT_LINK else f"{LINK_RECORD_KEY}#{link}"


class LinkRecordConflict(PipelineError):
    """The link record kept moving under this write (someone else writes it as fast): try later."""


@dataclass(slots=True)
class WaveEta:
    wave: str
    window: str | None  # ISO 8601, the wave's planned cutover window
    eta: str | None  # when its last server is ready to test (None: not within the horizon)
    bytes_left: int
    late: bool = False
    # The Mbps its servers would need from now to be ready by the window.
    need_mbps: float | None = None


@dataclass(slots=True)
class LinkState:
    version: int = 0
    link: str = DEFAULT_LINK
    budget_mbps: int = 0
    throttles: dict[str, int] = field(default_factory=dict)  # what MGN has, as written or read
    copying: dict[str, bool] = field(default_factory=dict)  # at the last plan
    last_rebalance: str | None = None
    progress_at: str | None = None
    progress: dict[str, int] = field(default_factory=dict)  # bytes copied at progress_at
    efficiency: float = 1.0  # what the copying servers got against what their throttles allowed
    eta_at: str | None = None
    server_eta: dict[str, str | None] = field(default_factory=dict)
    waves: dict[str, WaveEta] = field(default_factory=dict)
    late_told: list[str] = field(default_factory=list)  # waves whose lateness a person was told

    def to_json(self) -> str:
        body = asdict(self)
        body.pop("version")
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> LinkState:
        if not item:
            return cls()
        body = json.loads(item["state"]["S"])
        waves = {name: WaveEta(**wave) for name, wave in (body.pop("waves", None) or {}).items()}
        return cls(version=int(item["version"]["N"]), waves=waves, **body)


class LinkStore:
    """Takes an injected ``boto3.client("dynamodb")`` and the servers table's name."""

    def __init__(self, client: Any, table: str, link: str = DEFAULT_LINK) -> None:
        self._client = client
        self._table = table
        self.link = link
        self._key = link_record_key(link)

    def load(self) -> LinkState:
        item = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": self._key}}, ConsistentRead=True
        ).get("Item")
        state = LinkState.from_item(item)
        state.link = self.link
        return state

    def load_all(self) -> list[LinkState]:
        """Every link's record that exists (the index names them; without one, the default's)."""
        index = self._client.get_item(
            TableName=self._table, Key={"serverId": {"S": LINK_INDEX_KEY}}, ConsistentRead=True
        ).get("Item")
        names = sorted(index["links"]["SS"]) if index and "links" in index else [DEFAULT_LINK]
        states = [LinkStore(self._client, self._table, name).load() for name in names]
        return [state for state in states if state.version]

    def index_links(self, names: list[str]) -> None:
        """Name the links with a record, once they change (one read per pass otherwise)."""
        index = self._client.get_item(TableName=self._table, Key={"serverId": {"S": LINK_INDEX_KEY}}).get(
            "Item"
        )
        if index and set(index.get("links", {}).get("SS", [])) == set(names):
            return
        self._client.put_item(
            TableName=self._table,
            Item={"serverId": {"S": LINK_INDEX_KEY}, "links": {"SS": sorted(set(names))}},
        )

    def save(self, state: LinkState, merge: Callable[[LinkState], LinkState] | None = None) -> LinkState:
        """Write ``state`` if nobody wrote since it was read; else read again, apply ``merge`` to
        what is there now, and try again. Returns what was written."""
        for _ in range(_TRIES):
            if self._put(state):
                state.version += 1
                return state
            if merge is None:
                break
            state = merge(self.load())
        raise LinkRecordConflict("the link record changed under every write; the next reconcile tries again")

    def note_throttle(self, server_id: str, mbps: int) -> None:
        """A throttle read from MGN (an exception server's, set by a person): counted from now on."""

        def noted(state: LinkState) -> LinkState:
            state.throttles[server_id] = mbps
            return state

        self.save(noted(self.load()), merge=noted)

    def _put(self, state: LinkState) -> bool:
        condition = (
            {"ConditionExpression": "attribute_not_exists(serverId)"}
            if state.version == 0
            else {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(state.version)}},
            }
        )
        return conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item={
                    "serverId": {"S": self._key},
                    "version": {"N": str(state.version + 1)},
                    "state": {"S": state.to_json()},
                },
                **condition,
            )
        )
