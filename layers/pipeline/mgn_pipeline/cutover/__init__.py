"""The cutover gate: a person approves in the AWS console, then cutover, verification, finalize or rollback.

One Step Functions Standard execution per server and attempt (``statemachines/cutover-gate.asl.json``)
waits on task tokens that live only in the gate table (``store``): for the network and replication
to be ready, for a person's decision (SSM Automation ``aws:approve``, bridged by an event), and for
the cutover launch result (an MGN event). ``service`` holds the tasks and the bridges; ``model`` is
pure; ``wiring`` builds everything for the handlers and for composition.
"""
