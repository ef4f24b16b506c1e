"""API keys (spec §5): long-lived credentials for programs, limited to part of what their
owner may do."""
