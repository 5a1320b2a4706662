"""Which part of the local cloud answers a request that reached the endpoint.

Every AWS client signs its requests with SigV4, whose credential scope names the service
(``Credential=AKID/20260105/us-east-1/mgn/aws4_request``): MGN goes to the MGN emulator, the SSM
Automation operations (named by ``X-Amz-Target``) to the SSM emulator, everything else to moto.
Paths under ``/_localcloud/`` are the endpoint's own control calls, which no AWS client makes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

from localcloud.ssm.emulator import OPERATIONS as SSM_AUTOMATION_OPERATIONS
from localcloud.ssm.emulator import TARGET_PREFIX as SSM_TARGET_PREFIX

CONTROL_PREFIX = "/_localcloud/"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


class Backend(Enum):
    CONTROL = "control"
    MGN = "mgn"
    SSM_AUTOMATION = "ssm-automation"
    MOTO = "moto"


def signed_service(headers: Mapping[str, str]) -> str | None:
    """The service a SigV4 request was signed for (its credential scope), if it was signed."""
    found = _SCOPE.search(_header(headers, "Authorization"))
    return found.group("service") if found else None


def ssm_operation(headers: Mapping[str, str]) -> str:
    """The SSM operation of a JSON-protocol request (``X-Amz-Target: AmazonSSM.<operation>``)."""
    return _header(headers, "X-Amz-Target").removeprefix(SSM_TARGET_PREFIX)


def backend_for(path: str, headers: Mapping[str, str]) -> Backend:
    if path.startswith(CONTROL_PREFIX):
        return Backend.CONTROL
    service = signed_service(headers)
    if service == "mgn":
        return Backend.MGN
    if service == "ssm" and ssm_operation(headers) in SSM_AUTOMATION_OPERATIONS:
        return Backend.SSM_AUTOMATION
    return Backend.MOTO


def _header(headers: Mapping[str, str], name: str) -> str:
    # WSGI servers and clients differ in the case they give header names.
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), "")
