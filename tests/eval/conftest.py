"""Where the published data sets are: ``LLAMASHIELD_SHARED_DATA``, else ``<repo>/../shared/data``.

The files (OpenAI's moderation set, XSTest; sources and licenses in ``SOURCES.md`` there) are
never copied into the project: CI and developers' machines keep ``shared/`` beside the clone.
A test that needs them skips, naming the folder it looked in, when they are absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_folder() -> Path:
    configured = os.environ.get("LLAMASHIELD_SHARED_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


@pytest.fixture
def published_file() -> Callable[[str], Path]:
    """``published_file("xstest_prompts.csv")``: the file's path, or skip the test saying where
    it was looked for and how to point at it."""

    def find(name: str) -> Path:
        folder = shared_data_folder()
        path = folder / name
        if not path.is_file():
            pytest.skip(
                f"published data {name} not found in {folder} (set LLAMASHIELD_SHARED_DATA to "
                "the shared/data folder that holds it)"
            )
        return path

    return find
