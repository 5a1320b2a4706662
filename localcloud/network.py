"""What a function in the closed VPC sees of the network, for the health probes: DNS and TCP 443.

moto models the VPC's resources, not its packets. This answers a probe the way the VPC would,
from moto's state at the moment of the probe:

- DNS (AmazonProvidedDNS): a service name resolves to its interface endpoint's private address
  when that endpoint exists with private DNS on; an endpoint's own ``vpce`` names resolve while
  it exists; anything else resolves to the service's public address, as AWS's public DNS would.
- TCP: an address of an existing endpoint reaches a real TLS listener on loopback whose certificate
  a CA made here signs (the probe verifies it as it would AWS's); any other address is outside the
  closed network and times out.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localcloud.listeners import TlsListener, make_certificates
from mgn_pipeline.health.probes import ProbeTools

# Documentation-range stand-in for "a public AWS address" (never routed from the closed VPC).
PUBLIC_ADDRESS = "198.51.100.10"


class SimulatedVpcNetwork:
    def __init__(self, ec2: Any, vpc_id: str, region: str, listener_port: int) -> None:
        self._ec2 = ec2
        self._vpc_id = vpc_id
        self._region = region
        self._listener_port = listener_port

    def _endpoints(self) -> list[dict[str, Any]]:
        endpoints = self._ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [self._vpc_id]}])
        return [e for e in endpoints["VpcEndpoints"] if e.get("State", "").lower() == "available"]

    def _address_of(self, endpoint: dict[str, Any]) -> str:
        # moto gives endpoint ENIs addresses outside their subnet; an address derived from the
        # endpoint's first subnet stands for it (stable for the endpoint's life).
        subnet = self._ec2.describe_subnets(SubnetIds=endpoint["SubnetIds"][:1])["Subnets"][0]
        network = ipaddress.ip_network(subnet["CidrBlock"])
        offset = 10 + int(endpoint["VpcEndpointId"].rsplit("-", 1)[-1], 16) % (network.num_addresses - 20)
        return str(network[offset])

    def resolve(self, hostname: str, _timeout: float) -> list[str]:
        for endpoint in self._endpoints():
            if endpoint.get("VpcEndpointType") != "Interface":
                continue
            service = endpoint["ServiceName"].rsplit(".", 1)[-1]
            public_name = f"{service}.{self._region}.amazonaws.com"
            own_names = {d.get("DnsName", "").lstrip("*.") for d in endpoint.get("DnsEntries", [])}
            if (hostname == public_name and endpoint.get("PrivateDnsEnabled")) or hostname in own_names:
                return [self._address_of(endpoint)]
        return [PUBLIC_ADDRESS]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        reachable = {
            self._address_of(e) for e in self._endpoints() if e.get("VpcEndpointType") == "Interface"
        }
        if port == 443 and address in reachable:
            return socket.create_connection(("127.0.0.1", self._listener_port), timeout=timeout)
        raise TimeoutError(f"{address}:{port} is outside the closed network (no route)")


@contextmanager
def simulated_network(ec2: Any, vpc_id: str, region: str) -> Iterator[ProbeTools]:
    """Probe tools for the VPC, with a TLS listener and its CA alive for the duration."""
    names = [f"*.{region}.amazonaws.com", "*.vpce.amazonaws.com"]
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    names += [
        d["DnsName"].lstrip("*.") for e in endpoints for d in e.get("DnsEntries", []) if d.get("DnsName")
    ]
    with tempfile.TemporaryDirectory(prefix="localcloud-tls-") as directory:
        certs = make_certificates(Path(directory), names, ca_name="localcloud VPC endpoints CA")
        with TlsListener(certs) as listener:
            network = SimulatedVpcNetwork(ec2, vpc_id, region, listener.port)
            yield ProbeTools(network.resolve, network.connect, str(certs.ca_file), timeout_seconds=1.0)
