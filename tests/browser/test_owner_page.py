"""The owner page in real headless Chromium (Debian's), against the real server.

Log in, reserve a free space, see it reserved, start charging at a charger that
answers as an ocpp-library charger, see the energy rise, stop. Screenshots go to
``test-output/browser/``. Selenium is synchronous, so every browser step runs in
a thread while the event loop serves the page and the charger.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from tests.api.owner_support import CHEAP_HASHING, PASSWORDS, seed
from tests.chargers import LibraryCharger, library_charger
from tests.conftest import DatabaseConfig, MovableClock, ocpp_url, running_system

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
WAIT = 15

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = (
            "Debian's chromium and chromium-driver are not installed (make test installs them)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver or browser
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=412,915",  # a phone: the page is mobile-first
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots() -> Path:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


async def command(charger: LibraryCharger, action: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while not any(name == action for name, _ in charger.received):
            charger.command_received.clear()
            await charger.command_received.wait()
    return next(payload for name, payload in charger.received if name == action)


def now(clock: MovableClock) -> str:
    return clock.now().isoformat()


def _text_is(locator: tuple[str, str], wanted: Callable[[str], bool]) -> Any:
    def check(driver: WebDriver) -> bool:
        elements = driver.find_elements(*locator)
        return bool(elements) and wanted(elements[0].text)

    return check


async def test_log_in_reserve_charge_and_stop(
    sqlite_config: DatabaseConfig, browser: WebDriver, shots: Path
) -> None:
    clock = MovableClock()
    async with running_system(sqlite_config, clock=clock, **CHEAP_HASHING) as system:
        garage = await seed(system, clock)
        page = f"http://127.0.0.1:{system.api_port}/app"
        wait = WebDriverWait(browser, WAIT)

        def log_in() -> None:
            browser.get(page)
            browser.find_element(By.ID, "login").send_keys("alice@example.org")
            browser.find_element(By.ID, "password").send_keys(PASSWORDS["alice"])
            browser.save_screenshot(str(shots / "01-login.png"))
            browser.find_element(By.ID, "sign-in").click()
            wait.until(ec.presence_of_element_located((By.ID, "space-list")))
            browser.save_screenshot(str(shots / "02-free-spaces.png"))

        await asyncio.to_thread(log_in)
        labels = await asyncio.to_thread(
            lambda: [
                e.get_attribute("data-space-label")
                for e in browser.find_elements(By.CSS_SELECTOR, "#space-list li")
            ]
        )
        assert labels == ["A1", "A2", "A3"]

        def reserve() -> str:
            browser.find_element(
                By.CSS_SELECTOR, "li[data-space-label='A2'] button.reserve"
            ).click()
            wait.until(_text_is((By.ID, "reservation-state"), lambda t: t == "active"))
            browser.save_screenshot(str(shots / "03-reserved.png"))
            return browser.find_element(By.ID, "space-state").text

        assert await asyncio.to_thread(reserve) == "reserved"
        assert "/app/reservations/" in browser.current_url

        async with library_charger(ocpp_url(system, "CP-A"), "CP-A") as charger:
            await charger.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )

            # Another car at Alice's space: refused, and Alice's page says so plainly.
            refused = await charger.call(
                call.StartTransaction(
                    connector_id=2, id_tag="BOB-TAG", meter_start=0, timestamp=now(clock)
                )
            )
            assert refused.id_tag_info["status"] == "Invalid"

            def notice() -> str:
                wait.until(ec.presence_of_element_located((By.ID, "notice")))
                browser.save_screenshot(str(shots / "04-space-in-use.png"))
                return browser.find_element(By.ID, "notice").text

            assert await asyncio.to_thread(notice) == (
                "Your space is in use by another car: the charger shows it is reserved."
            )
            await charger.call(
                call.StopTransaction(
                    meter_stop=0,
                    timestamp=now(clock),
                    transaction_id=refused.transaction_id,
                    reason="DeAuthorized",
                )
            )

            def start() -> str:
                browser.find_element(By.ID, "start").click()
                wait.until(ec.presence_of_element_located((By.ID, "action-message")))
                return browser.find_element(By.ID, "action-message").text

            assert "accepted" in await asyncio.to_thread(start)
            remote = await command(charger, "RemoteStartTransaction")
            assert (remote["connector_id"], remote["id_tag"]) == (2, "ALICE-TAG")
            started = await charger.call(
                call.StartTransaction(
                    connector_id=2,
                    id_tag=remote["id_tag"],
                    meter_start=1000,
                    timestamp=now(clock),
                )
            )

            async def meter(register: int) -> None:
                clock.advance(timedelta(minutes=10))
                await charger.call(
                    call.MeterValues(
                        connector_id=2,
                        transaction_id=started.transaction_id,
                        meter_value=[
                            {
                                "timestamp": now(clock),
                                "sampledValue": [{"value": str(register), "unit": "Wh"}],
                            }
                        ],
                    )
                )

            def energy_reaches(kwh: str, shot: str) -> None:
                wait.until(_text_is((By.ID, "energy"), lambda t: t == kwh))
                browser.save_screenshot(str(shots / shot))

            await meter(1600)
            await asyncio.to_thread(energy_reaches, "0.600", "05-charging.png")
            await meter(2400)
            await asyncio.to_thread(energy_reaches, "1.400", "06-energy-rising.png")
            power, duration = await asyncio.to_thread(
                lambda: (
                    browser.find_element(By.ID, "power").text,
                    browser.find_element(By.ID, "duration").text,
                )
            )
            assert (power, duration) == ("4.80", "20 min 00 s")  # 0.8 kWh in 10 minutes

            def stop() -> str:
                browser.find_element(By.ID, "stop").click()
                wait.until(_text_is((By.ID, "action-message"), lambda t: "stopping" in t))
                return browser.find_element(By.ID, "action-message").text

            assert "stopping" in await asyncio.to_thread(stop)
            remote_stop = await command(charger, "RemoteStopTransaction")
            assert remote_stop["transaction_id"] == started.transaction_id
            await charger.call(
                call.StopTransaction(
                    meter_stop=2500,
                    timestamp=now(clock),
                    transaction_id=started.transaction_id,
                    reason="Remote",
                )
            )

            def fulfilled() -> str:
                browser.refresh()
                wait.until(_text_is((By.ID, "reservation-state"), lambda t: t == "fulfilled"))
                browser.save_screenshot(str(shots / "07-stopped.png"))
                return browser.find_element(By.ID, "energy").text

            assert await asyncio.to_thread(fulfilled) == "1.500"
        assert garage.owners["alice"] > 0
    saved = await asyncio.to_thread(lambda: sorted(p.name for p in shots.iterdir()))
    assert saved == [
        "01-login.png",
        "02-free-spaces.png",
        "03-reserved.png",
        "04-space-in-use.png",
        "05-charging.png",
        "06-energy-rising.png",
        "07-stopped.png",
    ]
