"""Token grants: one small class per grant type, registered in :data:`registry`."""
