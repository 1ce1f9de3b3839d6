"""The README and the user guide cannot rot: every shell and Python example in them runs, in
order, against a live server and worker, and prints what the document says it prints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.client.doc_examples import DocRun, base_env, runnable_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "guide.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_example_of_the_document_runs_and_prints_what_it_shows(
    doc: Path, api_url: str, job_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    with DocRun(api_url, tmp_path, base_env(api_url)) as run:
        for block in runnable_blocks(doc):
            run.run(block)
    assert run.ran, f"{doc.name} has no runnable example"


def test_the_guide_shows_every_route_of_the_api() -> None:
    import re

    from api.app import create_app
    from core.settings import Settings

    text = (ROOT / "docs" / "guide.md").read_text()
    for rule in create_app(Settings()).url_map.iter_rules():
        if not rule.rule.startswith(("/v1/", "/healthz", "/readyz")):
            continue  # the user API; the web interface and operations endpoints are elsewhere
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert f"`{path}" in text or f" {path}" in text, f"{path} is missing from docs/guide.md"
