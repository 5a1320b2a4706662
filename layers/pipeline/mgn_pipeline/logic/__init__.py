"""Use cases the handlers call: each takes its adapters as arguments."""
