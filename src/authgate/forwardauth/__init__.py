"""Forward auth for reverse proxies (spec §6): route rules, decisions and their cache,
and the rules managed through the admin API. docs/forward-auth.md describes it."""
