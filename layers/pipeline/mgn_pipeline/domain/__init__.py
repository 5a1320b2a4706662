"""Pure types and rules: no AWS calls, no I/O."""
