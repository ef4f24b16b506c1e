"""AuthGate: a self-hosted API authorization server."""

__version__ = "0.1.0"
