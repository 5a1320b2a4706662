"""Test launches: enqueue ready servers, launch them in as few MGN jobs as the quotas allow, verify
the test instances, and decide pass (ready for cutover), retry or "needs a person".

``model`` and ``verification`` are pure; ``queue``, ``jobs``, ``instances``, ``health`` and
``probe`` wrap injected clients; ``service`` (the START_TEST / VERIFY_TEST actions) and
``batcher`` (the scheduled launcher) are the use cases; ``wiring`` builds them for composition.
"""
