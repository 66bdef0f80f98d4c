"""The sample room, built once per test process and copied for each test (tests write reviews)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.log.keys import Identity
from agentcrdt.rooms.local import open_local
from agentcrdt.ui.views import RoomViews
from tests._browser import CHROMIUM, CHROMIUM_ARGS, need_browser
from tests.ui.sample import Sample, build_sample


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return build_sample(tmp_path_factory.mktemp("ui-sample"))


@pytest.fixture
def sample(sample_template: Sample, tmp_path: Path) -> Sample:
    path = tmp_path / "room.db"
    shutil.copy(sample_template.path, path)
    return dataclasses.replace(sample_template, path=path)


@pytest.fixture
def views_as(sample: Sample) -> Iterator[Callable[[Identity | None], RoomViews]]:
    """Open the sample room as a given key (None: no key) and return its views."""
    opened: list[RoomViews] = []

    def open_as(identity: Identity | None) -> RoomViews:
        views = RoomViews(open_local(sample.path, identity=identity))
        opened.append(views)
        return views

    yield open_as
    for v in opened:
        v.replica.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
