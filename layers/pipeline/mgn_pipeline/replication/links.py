"""Which link a server replicates over, when there are several (one per data centre).

A link is named, has its own budget, and takes the servers whose source address is in one of its
networks. A server's ``mgn-pipeline:link`` tag overrides the networks (a host with addresses in
two). The default link (``LinkBudgetMbps``) takes the servers no other link takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address

from mgn_pipeline.replication.bandwidth import LinkBudget
from mgn_pipeline.replication.link_store import DEFAULT_LINK
from mgn_pipeline.shared.observability import logger
from mgn_pipeline.shared.server import SourceServer

DEFAULT_LINK_TAG_KEY = "mgn-pipeline:link"


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    budget: LinkBudget
    source_networks: tuple[IPv4Network, ...] = ()


class LinkRouter:
    def __init__(self, links: Sequence[Link], tag_key: str = DEFAULT_LINK_TAG_KEY) -> None:
        self._links = {link.name: link for link in links}
        self._tag_key = tag_key

    @property
    def names(self) -> list[str]:
        return sorted(self._links)

    def link_of(self, server: SourceServer) -> str | None:
        """The name of the link ``server`` replicates over; None when no link takes it (its
        throttle is then left as it is)."""
        tagged = server.tags.get(self._tag_key, "").strip()
        if tagged:
            if tagged in self._links:
                return tagged
            logger.error(
                "link tag names no link of the budget; the server's throttle is left as it is",
                extra={
                    "server_id": server.server_id,
                    "tag": self._tag_key,
                    "value": tagged,
                    "fix": f"one of {', '.join(self.names)} (LinkBudgets), or remove the tag",
                },
            )
            return None
        addresses = [_address(ip) for ip in server.ip_addresses]
        for link in self._links.values():
            if any(a is not None and a in net for a in addresses for net in link.source_networks):
                return link.name
        return DEFAULT_LINK if DEFAULT_LINK in self._links else None


def _address(text: str) -> IPv4Address | None:
    try:
        found = ip_address(text)
    except ValueError:
        return None
    return found if isinstance(found, IPv4Address) else None
