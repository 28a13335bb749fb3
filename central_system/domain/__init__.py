"""The domain: plain data and pure rules, standard library only.

Nothing in here imports ``ocpp``, ``sqlalchemy``, ``websockets``, ``pydantic`` or
``asyncio``; time is always passed in.
"""
