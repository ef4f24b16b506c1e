"""Interop tests: third-party OAuth 2.0 / OpenID Connect clients against a real server."""
