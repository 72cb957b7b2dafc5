"""A check type from another package (registered as its entry point would) is usable in catalog files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from calcifer.catalog.schemas import EndpointSpec, endpoint_json_schema
from calcifer.monitoring import checks
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status


class _DiskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = "/"
    min_free_percent: int = 10


class DiskFreeCheck(CheckType):
    kind: ClassVar[str] = "disk-free"
    Options = _DiskOptions
    summary: ClassVar[str] = "Free space on a local disk."
    needs_target: ClassVar[bool] = False

    async def check(self, target: Target, options: Any, ctx: CheckContext) -> Outcome:
        return Outcome(Status.UP, f"{options.path} has space")


@pytest.fixture
def disk_plugin() -> Iterator[None]:
    checks.load()
    checks.register(DiskFreeCheck)
    yield
    checks.REGISTRY.pop("disk-free", None)


def test_a_plugin_type_validates_in_a_catalog_file_with_its_own_options(disk_plugin: None) -> None:
    spec = EndpointSpec.model_validate({"name": "Root disk", "slug": "root-disk", "type": "disk-free",
                                        "options": {"path": "/srv", "min_free_percent": 20}})
    assert str(spec.type) == "disk-free" and spec.options == {"path": "/srv", "min_free_percent": 20}
    with pytest.raises(ValidationError) as caught:
        EndpointSpec.model_validate({"name": "Root disk", "slug": "root-disk", "type": "disk-free",
                                     "options": {"min_free": 20}})
    assert "options" in str(caught.value) and "min_free" in str(caught.value)


def test_the_published_schema_lists_the_plugin_type(disk_plugin: None) -> None:
    assert "disk-free" in endpoint_json_schema()["properties"]["type"]["enum"]


def test_an_unknown_type_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ValidationError) as caught:
        EndpointSpec.model_validate({"name": "X", "slug": "x", "type": "carrier-pigeon", "target": "h"})
    message = str(caught.value)
    assert "unknown endpoint type 'carrier-pigeon'" in message and "http" in message


def test_a_kind_too_long_for_the_index_is_refused_at_registration() -> None:
    class TooLong(DiskFreeCheck):
        kind: ClassVar[str] = "a-very-long-check-type-name"

    with pytest.raises(ValueError, match="1-16"):
        checks.register(TooLong)
    assert "a-very-long-check-type-name" not in checks.REGISTRY
