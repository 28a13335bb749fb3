"""``python -m central_system`` with a TLS listener, set up by flags and environment."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.e2e.test_process import server
from tests.security.conftest import charger_connection, heartbeat
from tests.security.pki import Pki

KEY_PASSWORD = "listener-key-password-1"


async def test_the_tls_listener_runs_beside_the_plain_one(tmp_path: Path, pki: Pki) -> None:
    encrypted_key = tmp_path / "listener.key"
    encrypted_key.write_bytes(
        pki.server.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    async with server(
        tmp_path / "central.sqlite3",
        "--unknown-chargers",
        "accept",
        "--ocpp-tls-port",
        "0",
        "--tls-cert-file",
        str(pki.server.certificate_file),
        "--tls-key-file",
        str(encrypted_key),
        env={
            "CENTRAL_SYSTEM_TLS_KEY_PASSWORD": KEY_PASSWORD,
            "CENTRAL_SYSTEM_TLS_CLIENT_CA_FILE": str(pki.chargers.certificate_file),
        },
    ) as running:
        found = re.search(r"wss://127\.0\.0\.1:(\d+)/ocpp/", running.banner)
        assert found is not None, running.banner
        tls_port = int(found.group(1))
        assert tls_port != running.ocpp_port
        client = pki.chargers.issue("process", "CP-PROC")
        async with charger_connection(
            f"wss://127.0.0.1:{tls_port}/ocpp/CP-PROC", ssl_context=pki.client_context(client)
        ) as connection:
            assert (await heartbeat(connection))[:2] == [3, "hb"]
        async with charger_connection(f"ws://127.0.0.1:{running.ocpp_port}/ocpp/CP-0") as plain:
            assert (await heartbeat(plain))[:2] == [3, "hb"]
        running.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _, stderr = await running.process.communicate()
    assert running.process.returncode == 0
    log = stderr.decode()
    assert "tls_key_password" in log  # the settings line was written ...
    assert KEY_PASSWORD not in log  # ... without the key's password
