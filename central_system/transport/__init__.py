"""OCPP-J 1.6 over WebSocket: the only package that imports ``ocpp`` and ``websockets``."""
