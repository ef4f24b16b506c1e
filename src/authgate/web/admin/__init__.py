"""The admin REST API under ``/admin/v1`` (spec §4)."""
