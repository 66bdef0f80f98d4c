"""The system Chromium (Debian's package) driven by playwright: what the browser tests share."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: no QUIC, no background, component or sync traffic to wait on.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need_browser() -> None:
    """Skip (fail on CI) when playwright or the system Chromium is missing."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run it")
        pytest.skip(reason)


def expect(target: Any) -> Any:
    """playwright's ``expect`` (its assertions retry until their timeout), imported when first used:
    this module is imported where playwright may be missing."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)
