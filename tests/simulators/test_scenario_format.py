"""Reading scenario files: what installers write, and the errors they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import scenario
from simulators.scenario import ScenarioError

MINIMAL = """
[charger]
id = "CP-1"

[[step]]
do = "boot"
"""


def test_every_shipped_scenario_reads() -> None:
    paths = scenario.shipped()
    assert {p.name for p in paths} >= {
        "demo_session.toml",
        "blocked_card.toml",
        "offline_session.toml",
    }
    for path in paths:
        loaded = scenario.load(path)
        assert loaded.steps[0].do == "boot", path
        assert loaded.charger.charge_point_id.startswith("GARAGE-CP-"), path


def test_a_full_step_and_charger() -> None:
    loaded = scenario.parse(
        """
        name = "n"
        timeout = 3
        [charger]
        id = "CP-9"
        connectors = 2
        power_w = 7400
        config = { MeterValueSampleInterval = 0, LocalPreAuthorize = true }
        quirks = ["naive-timestamps"]
        display_vendors = ["com.acme"]

        [[step]]
        do = "present"
        tag = "T"
        connector = 2
        timeout = 1.5
        expect = { authorization = "Accepted", status = "Preparing" }
        """
    )
    assert loaded.timeout == 3
    charger = loaded.charger
    assert (charger.charge_point_id, charger.connectors, charger.power_w) == ("CP-9", 2, 7400)
    assert dict(charger.config) == {"MeterValueSampleInterval": "0", "LocalPreAuthorize": "true"}
    assert charger.quirks.naive_timestamps
    assert charger.display_vendors == ("com.acme",)
    (step,) = loaded.steps
    assert (step.do, step.tag, step.connector, step.timeout) == ("present", "T", 2, 1.5)
    assert dict(step.expect) == {"authorization": "Accepted", "status": "Preparing"}
    assert step.describe() == "present T on 2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[charger]\nid='CP'\n", r"no \[\[step\]\]"),
        ("[[step]]\ndo='boot'\n", r"\[charger\] is required"),
        ("[charger]\nconnectors=1\n[[step]]\ndo='boot'\n", "needs an `id`"),
        (MINIMAL + "[[step]]\ndo='dance'\n", "step 2: `do` must be one of"),
        (MINIMAL + "[[step]]\ndo='present'\n", "step 2: `present` needs a `tag`"),
        (MINIMAL + "[[step]]\ndo='wait'\n", "needs `seconds`"),
        (MINIMAL + "[[step]]\ndo='set'\nkey='A'\n", "needs `key` and `value`"),
        (MINIMAL + "[[step]]\ndo='plug'\nplug=1\n", r"unknown fields \['plug'\]"),
        (MINIMAL + "[[step]]\ndo='plug'\nexpect={colour='red'}\n", "unknown expectations"),
        (
            MINIMAL + "[[step]]\ndo='plug'\nexpect={transaction='maybe'}\n",
            "started, stopped or none",
        ),
        ("nmae='x'\n" + MINIMAL, "unknown top-level fields"),
        (
            MINIMAL.replace('id = "CP-1"', 'id = "CP-1"\nconfig = { Bogus = 1 }'),
            "unknown configuration key",
        ),
        (MINIMAL.replace('id = "CP-1"', 'id = "CP-1"\nquirks = ["odd"]'), "unknown quirk"),
        (MINIMAL.replace('id = "CP-1"', 'id = "CP-1"\ncolour = 1'), "unknown fields"),
    ],
)
def test_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario.parse(text, where="garage.toml")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="No such file"):
        scenario.load(tmp_path / "absent.toml")


def test_every_step_and_expectation_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    for name in [*scenario.STEPS, *scenario.EXPECTATIONS]:
        assert f"`{name}`" in docs, name
