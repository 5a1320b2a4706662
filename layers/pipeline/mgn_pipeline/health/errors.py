"""Errors the network-health function raises on purpose.

Step Functions matches the class *name* (``NetworkHealthGateFailed``) in ``Catch``/``Retry``:
renaming a class is a breaking change for the state machine.
"""

from __future__ import annotations

from mgn_pipeline.shared.errors import InvalidEventError, NetworkHealthGateFailed, PipelineError

__all__ = ["InvalidHealthRequest", "NetworkHealthGateFailed", "NetworkInventoryUnavailable"]


class InvalidHealthRequest(InvalidEventError):
    """The invocation's input is not a schedule, an on-demand request or a gate request."""


class NetworkInventoryUnavailable(PipelineError):
    """The VPC itself could not be read (no VPC, no permission, no path to the EC2 API).

    Nothing can be checked then; a gate fails closed with this error.
    """
