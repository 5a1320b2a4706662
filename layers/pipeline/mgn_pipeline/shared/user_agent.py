"""The mark every AWS call of the pipeline carries in its User-Agent.

CloudTrail records the User-Agent of each call, so the MGN event function tells the echo of its own
calls (nothing new to read) from a call a person or another tool made (checked at once). The mark
is a hint for saving reads, never a permission: a call that only pretends to be ours is still
checked by the reconciler's recheck interval.
"""

PIPELINE_USER_AGENT = "mgn-closed-network-pipeline"
