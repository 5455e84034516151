import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of templates/ and environments/ that a test may change."""
    for folder in ("templates", "environments"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path
