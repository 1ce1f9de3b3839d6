"""The harness that runs the documents' examples: it must catch wrong outputs and failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.doc_examples import (
    Block,
    DocRun,
    base_env,
    blocks,
    matches_json,
    matches_text,
    parse_expected,
)


def pattern(text: str) -> object:
    ok, value = parse_expected(text)
    assert ok, text
    return value


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ('{"written": 3, "created": false}', {"written": 3, "created": False}),
        ('{"written": 3}', {"written": 3, "created": False}),  # members may be left out
        ('{"points": [[1, 21.73]], "n": 2}', {"points": [[1, 21.733333]], "n": 2}),
        ('{"points": [[1, 2.0], ...]}', {"points": [[1, 2.0], [3, 4.0], [5, 6.0]]}),
        ('{"labels": {...}, "points": [...]}', {"labels": {"a": "b"}, "points": []}),
        ('{"v": ..., "k": "temp:..."}', {"v": None, "k": "temp:austin"}),
        ('{"cpu:...": 1}', {"cpu:abc123": 1}),
        ("[(1706659200000, 25.0)]", [[1706659200000, 25.0]]),
        ("{'a': None, 'b': True}", {"a": None, "b": True}),
    ],
)
def test_outputs_that_fit_the_shown_pattern_match(expected: str, actual: object) -> None:
    assert matches_json(pattern(expected), actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ('{"written": 3}', {"written": 2}),
        ('{"created": false}', {"created": 0}),
        ('{"points": [[1, 2.0]]}', {"points": [[1, 2.0], [3, 4.0]]}),  # no "...": exact length
        ('{"points": [[1, 2.0], ...]}', {"points": []}),
        ('{"v": 21.73}', {"v": 21.74}),
        ('{"missing": 1}', {}),
        ('{"k": "temp:..."}', {"k": "hum:austin"}),
    ],
)
def test_outputs_that_differ_from_the_shown_pattern_do_not_match(
    expected: str, actual: object
) -> None:
    assert not matches_json(pattern(expected), actual)


def test_prose_comments_are_not_json_and_text_lines_match_in_order() -> None:
    assert parse_expected("poll until finished") == (False, None)
    output = "KEY    LABELS\n------\na      x=1\nb      x=2\n"
    assert matches_text(["KEY LABELS", "b x=2"], output)
    assert matches_text(["a x=..."], output)
    assert not matches_text(["b x=2", "a x=1"], output)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text)
    return path


def run_doc(path: Path, url: str, workdir: Path) -> DocRun:
    with DocRun(url, workdir, base_env(url)) as run:
        for block in blocks(path):
            if block.runnable:
                run.run(block)
    return run


def test_marked_blocks_are_skipped_and_heredocs_are_not_expectations(tmp_path: Path) -> None:
    doc = write(
        tmp_path,
        "<!-- no-test -->\n```bash\nexit 3\n```\n\n```bash\ncat > f.txt <<'EOF'\n# not output\n"
        "EOF\ncat f.txt\n# # not output\nX=5\n```\n\n```python\nimport os\n"
        "def twice(n):\n    return 2 * n\n```\n\n```python\n"
        'print(twice(int(os.environ["X"])))  # 10\n```\n',
    )
    found = blocks(doc)
    assert [(b.lang, b.skip) for b in found] == [
        ("bash", True),
        ("bash", False),
        ("python", False),
        ("python", False),
    ]
    run = run_doc(doc, "http://127.0.0.1:1", tmp_path)
    assert run.ran == ["doc.md:7", "doc.md:16", "doc.md:22"]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ('echo \'{"a": 1}\'\n# {"a": 2}', "does not match"),
        ("echo one\n# two", "not in the output"),
        ("false", "block failed"),
        ("print(1 + 1)  # 3", "printed no line like 3"),
    ],
)
def test_a_wrong_example_fails_with_where_it_is(block: str, message: str, tmp_path: Path) -> None:
    lang = "python" if block.startswith("print") else "bash"
    doc = Block(tmp_path / "doc.md", 10, lang, block.splitlines(), skip=False)
    with (
        pytest.raises(AssertionError, match=message) as caught,
        DocRun("http://127.0.0.1:1", tmp_path, base_env("http://127.0.0.1:1")) as run,
    ):
        run.run(doc)
    assert "doc.md:1" in str(caught.value)


def test_curl_errors_fail_a_block_unless_the_document_shows_the_error(
    api_url: str, tmp_path: Path
) -> None:
    shown = 'curl -s http://127.0.0.1:5000/v1/series/nope\n# {"status": 404, "key": "nope", ...}'
    unshown = "curl -s http://127.0.0.1:5000/v1/series/nope\necho after"
    ok = write(tmp_path, f"```bash\n{shown}\n```\n")
    run_doc(ok, api_url, tmp_path)
    bad = write(tmp_path, f"```bash\n{unshown}\n```\n")
    with pytest.raises(AssertionError, match="exit 22"):
        run_doc(bad, api_url, tmp_path)
    wrong = write(
        tmp_path, '```bash\ncurl -s http://127.0.0.1:5000/healthz\n# {"status": 404}\n```\n'
    )
    with pytest.raises(AssertionError, match="should have failed"):
        run_doc(wrong, api_url, tmp_path)
