"""Where every server is, for people: lifecycle, replication, the pipeline's step, what it waits
for, its last error with the fix, and each wave's progress. Read-only (``mgn-migrate status``)."""
