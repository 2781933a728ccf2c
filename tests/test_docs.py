"""Every configuration knob is documented in its section, with its default."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from hubactors import config

DOC = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()

SECTIONS = {
    config.HubConfig: "## Top level",
    config.DeploymentConfig: "## `[[deployments]]`",
    config.RouteConfig: "## `[[routes]]`",
    config.RetryConfig: "### `[routes.retry]`",
    config.SupervisionConfig: "## `[supervision]`",
    config.TimeoutConfig: "### `[deployments.timeouts]`",
    config.BreakerConfig: "### `[deployments.breaker]`",
    config.HealthConfig: "### `[deployments.health]`",
    config.SimulationConfig: "### `[deployments.simulation]`",
    config.RedisConfig: "## `[redis]`",
    config.CacheConfig: "## `[cache]`",
    config.LimitsConfig: "## `[limits]`",
    config.BreakersConfig: "## `[breakers]`",
}


def rows_of(heading: str) -> dict[str, str]:
    """The table rows of one section: key name -> whole row."""
    start = DOC.index(heading + "\n")
    rest = DOC[start + len(heading) :]
    end = re.search(r"^#{2,3} ", rest, flags=re.MULTILINE)
    section = rest[: end.start()] if end else rest
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            key = line.split("|")[1].strip().strip("`").strip("[]")
            rows[key.removeprefix("deployments.").removeprefix("routes.")] = line
    return rows


@pytest.mark.parametrize("struct", SECTIONS, ids=lambda s: s.__name__)
def test_every_field_has_a_row_with_its_default(struct: type[msgspec.Struct]) -> None:
    rows = rows_of(SECTIONS[struct])
    fields = msgspec.structs.fields(struct)
    for field in fields:
        assert field.name in rows, f"{struct.__name__}.{field.name} is not documented"
        if field.default is not msgspec.NODEFAULT and isinstance(field.default, int | float):
            assert f"`{field.default}`".lower() in rows[field.name].lower(), rows[field.name]
    assert set(rows) <= {f.name for f in fields}, "documented keys that do not exist"
