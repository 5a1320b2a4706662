"""Domain package of the MGN closed-network migration pipeline, shipped as a Lambda layer.

Handlers in ``functions/`` stay thin: they parse input and call one function in ``logic``.
``domain`` holds pure types and rules, ``adapters`` wraps AWS clients that are injected.
"""
