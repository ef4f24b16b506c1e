"""The revocation feed: revocations, in order, for enforcement points that verify JWT
access tokens locally (docs/revocation-feed.md)."""
