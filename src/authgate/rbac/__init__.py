"""Role-based access control: permissions, roles, bindings (spec §1)."""
