"""Closed-network health checks: one result per check (pass, warn or fail) with evidence and a fix.

Layout (read in this order):

* ``model``      - ``CheckResult``, ``HealthReport`` and ``NetworkExpectations`` (what the VPC must have);
* ``inventory``  - ``NetworkInventory`` (one snapshot of describe_* answers) and the adapter reading it;
* ``netrules``   - CIDR, security-group and network-ACL evaluation, pure;
* ``checks``     - the pure checks over an inventory (endpoints, SGs, NACLs, routes, resolver, S3 policy);
* ``probes``     - DNS, TCP and verified TLS from inside the VPC, each with its own timeout;
* ``runner``     - runs the checks, then the probes concurrently under an overall deadline;
* ``reports``    - the DynamoDB report store and the operator-facing text (notification, forwarder);
* ``service``    - one invocation: parse the request, run, store, emit metrics, notify, gate;
* ``settings``   - the function's settings (pydantic; import inside the handler body).
"""
