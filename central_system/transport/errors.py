"""OCPP-J 1.6 CallError codes, with the 1.6 spellings.

OCPP-J 1.6 §4.2.3 spells two codes ``FormationViolation`` and
``OccurenceConstraintViolation``; the errata keep them ("won't fix"), and some
1.6 chargers break on the 2.x spellings. The ``ocpp`` library raises the 2.x
``FormatViolation`` from its own validation, so we raise these classes instead.
"""

from __future__ import annotations

from ocpp.exceptions import (
    FormationViolationError,
    GenericError,
    InternalError,
    NotImplementedError,
    NotSupportedError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    SecurityError,
    TypeConstraintViolationError,
)

__all__ = [
    "FormationViolationError",
    "GenericError",
    "InternalError",
    "NotImplementedError",
    "NotSupportedError",
    "OCPPError",
    "OccurenceConstraintViolationError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "SecurityError",
    "TypeConstraintViolationError",
    "unknown_action",
]

# OCPP-J 1.6 §4.2.3 describes the two codes the ocpp library's descriptions swap.
_NOT_IMPLEMENTED = "Requested Action is not known by receiver"
_NOT_SUPPORTED = "Requested Action is recognized but not supported by the receiver"


def unknown_action(action: str, *, known_to_ocpp16: bool) -> OCPPError:
    """The error for a CALL we have no handler for.

    ``NotImplemented`` when the action is not an OCPP 1.6 action at all;
    ``NotSupported`` when it is one, but not one a charger sends to us.
    """
    if known_to_ocpp16:
        return NotSupportedError(
            description=_NOT_SUPPORTED, details={"action": action, "cause": "not handled here"}
        )
    return NotImplementedError(description=_NOT_IMPLEMENTED, details={"action": action})
