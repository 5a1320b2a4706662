"""Operator tools for the MGN pipeline: status, approvals, audit export, preflight."""
