"""OCPP 1.6-J central system for EV charging in residential parking garages."""

__version__ = "0.1.0"
