"""OAuth 2.0 clients: registration, secrets, and their validation rules."""
