"""Protected APIs (resource servers), identified by their audience."""
