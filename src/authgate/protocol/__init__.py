"""The OAuth 2.0 / OpenID Connect engine.

Pure protocol: no web framework, no database. Endpoints take a neutral
:class:`~authgate.protocol.messages.OAuthRequest` and return an
:class:`~authgate.protocol.messages.OAuthResponse`; everything stateful is reached
through the narrow ports in :mod:`authgate.protocol.ports`.
"""
