"""Running the examples of a Markdown document, in order, and checking what they print.

- Fenced ``bash``/``sh`` blocks run under ``bash -e -o pipefail``; ``python`` blocks run in
  one Python process per document, in a shared namespace (as if pasted into one
  interpreter). A block right after the line ``<!-- no-test -->`` is skipped. Blocks share a
  working directory and the variables they set (``ID=...`` in one block is ``$ID`` in the
  next, and in ``os.environ`` for Python).
- ``http://127.0.0.1:5000`` is rewritten to the test server's URL, and ``tsapi`` commands get
  ``TSAPI_URL`` pointing there too.
- In shell blocks ``curl`` behaves as ``curl -sS --fail-with-body`` (an error answer fails the
  block) and ends its output with a line break.
- Expected output: comment lines right after a command (no blank line between) show what it
  prints. A JSON object or array is compared structurally: ``...`` stands for "more items"
  (as a member's value: any value; in a string or a key: any text), ``{...}``/``[...]`` for
  any value, objects may have more members than shown, and a number is compared to as many
  decimals as written. Other text must appear as lines of the output, in order (``...``
  matching anything within a line). An expected problem document (a ``status`` of 400 or
  more) or a line starting with ``Error:`` means the command must fail, and then it may. In
  Python blocks, a ``# comment`` after ``print(...)`` on the same line is the expected output
  of that print, to be found among the lines printed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import selectors
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Block", "DocRun", "blocks", "matches_json", "matches_text", "parse_expected"]

NO_TEST = "<!-- no-test -->"
DOC_URL = "http://127.0.0.1:5000"
SHELLS = ("bash", "sh", "shell")
_FENCE = re.compile(r"^```([\w+-]*)\s*$")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_MARK = re.compile(r"^@@doc-check (\d+) (\d)@@$", re.MULTILINE)

PRELUDE = r"""
set -o pipefail
__doc_expect_fail=""
__doc_failed=""
curl() {
  local rc=0
  command curl -sS --fail-with-body "$@" || rc=$?
  printf '\n'
  if [ "$rc" -ne 0 ]; then
    __doc_failed=1
    if [ -n "$__doc_expect_fail" ]; then return 0; fi
  fi
  return "$rc"
}
tsapi() {
  local rc=0
  if [ -n "$__doc_expect_fail" ]; then command tsapi "$@" 2>&1 || rc=$?
  else command tsapi "$@" || rc=$?; fi
  if [ "$rc" -ne 0 ]; then
    __doc_failed=1
    if [ -n "$__doc_expect_fail" ]; then return 0; fi
  fi
  return "$rc"
}
__doc_check() {
  printf '\n@@doc-check %s %s@@\n' "$1" "${__doc_failed:-0}"
  __doc_failed=""
  __doc_expect_fail=""
}
"""


@dataclass
class Block:
    """A fenced code block: where it starts (1-based line of its first code line)."""

    path: Path
    line: int
    lang: str
    lines: list[str]
    skip: bool

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def runnable(self) -> bool:
        return not self.skip and self.lang in (*SHELLS, "python")


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the no-test marker applied."""
    lines = path.read_text().splitlines()
    out: list[Block] = []
    previous = ""
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            end = i + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"{path.name}:{i + 1}: unclosed code block")
            skip = previous.strip() == NO_TEST
            out.append(Block(path, i + 2, fence.group(1).lower(), lines[i + 1 : end], skip))
            previous, i = "```", end + 1
            continue
        if lines[i].strip():
            previous = lines[i]
        i += 1
    return out


# -- expected output -----------------------------------------------------------------------------

_ANY = "@@doc-any@@"
_MORE = "@@doc-more@@"


def parse_expected(text: str) -> tuple[bool, Any]:
    """``(True, pattern)`` if ``text`` starts with a JSON object/array (``...`` allowed, text
    after it ignored); ``(False, None)`` otherwise."""
    text = text.strip()
    if not text or text[0] not in "[{":
        return False, None
    marked = text.replace("{...}", f'"{_ANY}"').replace("[...]", f'"{_ANY}"')
    marked = re.sub(r":\s*\.\.\.(?=\s*[,}])", lambda _: f': "{_ANY}"', marked)
    marked = re.sub(r",\s*\.\.\.\s*\}", lambda _: f', "{_MORE}": 0}}', marked)
    marked = re.sub(r",\s*\.\.\.\s*\]", lambda _: f', "{_MORE}"]', marked)
    try:
        value, _ = json.JSONDecoder().raw_decode(marked)
        return True, value
    except ValueError:
        pass
    try:
        return True, ast.literal_eval(marked)
    except (ValueError, SyntaxError):
        return False, None


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 12


def matches_json(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` fits the pattern ``expected`` (see the module docstring)."""
    if expected == _ANY:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k == _MORE
            or any(_key_fits(k, name) and matches_json(v, actual[name]) for name in actual)
            for k, v in expected.items()
        )
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple):
            return False
        items = list(expected)
        if items and items[-1] == _MORE:
            items.pop()
            return len(actual) >= len(items) and all(
                matches_json(e, a) for e, a in zip(items, actual, strict=False)
            )
        return len(items) == len(actual) and all(
            matches_json(e, a) for e, a in zip(items, actual, strict=True)
        )
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    if isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        if isinstance(expected, float):
            return round(actual, _decimals(expected)) == round(expected, _decimals(expected))
        return actual == expected
    if isinstance(expected, str):
        return isinstance(actual, str) and _wild(expected).fullmatch(actual) is not None
    return bool(expected == actual)


def _key_fits(expected: str, key: Any) -> bool:
    if "..." in expected:
        return isinstance(key, str) and _wild(expected).fullmatch(key) is not None
    return bool(expected == key)


def _wild(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("...")), re.DOTALL)


def _squash(line: str) -> str:
    return " ".join(line.split())


def matches_text(expected: list[str], output: str) -> bool:
    """Whether the expected lines appear, in order, among the output's lines."""
    lines = [_squash(line) for line in output.splitlines() if line.strip()]
    position = 0
    for want in expected:
        pattern = _wild(_squash(want))
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        if position == len(lines):
            return False
        position += 1
    return True


def _parse_output(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None


@dataclass
class Expectation:
    """Comment lines showing what the command before them prints."""

    line: int  # in the document
    text: list[str]
    is_json: bool
    pattern: Any

    @property
    def must_fail(self) -> bool:
        if self.is_json:
            status = self.pattern.get("status") if isinstance(self.pattern, dict) else None
            return isinstance(status, int) and status >= 400
        return any(line.startswith("Error:") for line in self.text)

    def check(self, output: str) -> str | None:
        """None if ``output`` fits, else why not."""
        if self.is_json:
            lines = [line for line in output.splitlines() if line.strip()]
            if not lines:
                return "the command printed nothing"
            actual = _parse_output(lines[-1])
            if actual is None:
                return f"the last line printed is not JSON: {lines[-1][:500]}"
            return None if matches_json(self.pattern, actual) else "the output does not match"
        return None if matches_text(self.text, output) else "the lines are not in the output"


# -- shell blocks ----------------------------------------------------------------------------------


def _line_kinds(lines: list[str]) -> list[str]:
    """Each line of a shell block: start, cont(inued command), comment, blank or heredoc."""
    kinds: list[str] = []
    single = double = continued = False
    heredoc: str | None = None
    for line in lines:
        if heredoc is not None:
            kinds.append("heredoc")
            if line.strip() == heredoc:
                heredoc = None
            continue
        if single or double or continued:
            kinds.append("cont")
        elif not line.strip():
            kinds.append("blank")
            continue
        elif line.lstrip().startswith("#"):
            kinds.append("comment")
            continue
        else:
            kinds.append("start")
        j = 0
        while j < len(line):
            c = line[j]
            if single:
                single = c != "'"
            elif double:
                if c == "\\":
                    j += 1
                elif c == '"':
                    double = False
            elif c == "#" and (j == 0 or line[j - 1].isspace()):
                break
            elif c == "'":
                single = True
            elif c == '"':
                double = True
            elif c == "\\":
                j += 1
            j += 1
        continued = not (single or double) and line.rstrip().endswith("\\")
        here = _HEREDOC.search(line)
        if here and not (single or double):
            heredoc = here.group(2)
    return kinds


@dataclass
class ShellScript:
    """A shell block made runnable: checks where its expected outputs are."""

    text: str
    expectations: list[Expectation]
    offset: int  # script line = block line + offset


def shell_script(block: Block, url: str) -> ShellScript:
    lines = [line.replace(DOC_URL, url) for line in block.lines]
    kinds = _line_kinds(lines)
    expectations: list[Expectation] = []
    groups: dict[int, tuple[int, int]] = {}  # first comment line -> (last line, expectation)
    i = 0
    while i < len(lines):
        if kinds[i] == "comment" and i > 0 and kinds[i - 1] in ("start", "cont", "heredoc"):
            end = i
            while end + 1 < len(lines) and kinds[end + 1] == "comment":
                end += 1
            text = [line.strip()[1:].strip() for line in lines[i : end + 1]]
            is_json, pattern = parse_expected(" ".join(text))
            expectations.append(Expectation(block.line + i, text, is_json, pattern))
            groups[i] = (end, len(expectations) - 1)
            i = end + 1
        else:
            i += 1
    fail_before: set[int] = set()
    for first, (_, number) in groups.items():
        if expectations[number].must_fail:
            fail_before.add(max(j for j in range(first) if kinds[j] == "start"))
    out = ['source "$DOC_PRELUDE"; set -a']
    i = 0
    while i < len(lines):
        if i in groups:
            end, number = groups[i]
            out.append(f"__doc_check {number}")
            out += [""] * (end - i)
            i = end + 1
            continue
        out.append(f"__doc_expect_fail=1; {lines[i]}" if i in fail_before else lines[i])
        i += 1
    out += ["set +a", 'env -0 > "$DOC_ENV_OUT"']
    return ShellScript("\n".join(out) + "\n", expectations, offset=1)


# -- running ---------------------------------------------------------------------------------------


@dataclass
class DocRun:
    """Runs the blocks of documents against one server, carrying variables between blocks."""

    url: str
    workdir: Path
    env: dict[str, str]
    ran: list[str] = field(default_factory=list)
    timeout: float = 90
    python: PythonSession | None = None

    def __post_init__(self) -> None:
        (self.workdir / ".prelude.sh").write_text(PRELUDE)

    def run(self, block: Block) -> None:
        if block.lang in SHELLS:
            self._shell(block)
        else:
            self._python(block)
        self.ran.append(block.where)

    def _shell(self, block: Block) -> None:
        script = shell_script(block, self.url)
        path = self.workdir / f".block-{block.line}.sh"
        path.write_text(script.text)
        env_out = self.workdir / ".env"
        env = {
            **self.env,
            "DOC_PRELUDE": str(self.workdir / ".prelude.sh"),
            "DOC_ENV_OUT": str(env_out),
        }
        done = self._exec(["bash", "-e", str(path)], env, block)
        self.env = _read_env(env_out.read_bytes())
        marks = list(_MARK.finditer(done.stdout))
        start = 0
        for mark in marks:
            expectation = script.expectations[int(mark.group(1))]
            output = done.stdout[start : mark.start()]
            start = mark.end()
            failed = mark.group(2) == "1"
            where = f"{block.path.name}:{expectation.line}"
            if expectation.must_fail and not failed:
                raise AssertionError(
                    f"{where}: the command should have failed; it printed\n{output}"
                )
            problem = expectation.check(output)
            if problem:
                raise AssertionError(
                    f"{where}: {problem}\nexpected: {' '.join(expectation.text)}\n"
                    f"printed:\n{output.strip()[-3000:]}"
                )
        assert len(marks) == len(script.expectations), f"{block.where}: not every check ran"

    def _python(self, block: Block) -> None:
        code = "\n".join(line.replace(DOC_URL, self.url) for line in block.lines) + "\n"
        answer = self._session().run(code, block.where, self.env, self.timeout)
        if not answer["ok"]:
            raise AssertionError(
                f"{block.where}: the python block failed\n"
                f"stdout:\n{answer['stdout'][-3000:]}\nstderr:\n{answer['stderr'][-3000:]}"
            )
        stdout = answer["stdout"]
        for number, line in enumerate(block.lines):
            code_part, sep, comment = line.partition("  # ")
            if not sep or "print(" not in code_part:
                continue
            text = comment.strip()
            is_json, pattern = parse_expected(text)
            outputs = [_parse_output(out) for out in stdout.splitlines() if out.strip()]
            found = (
                any(matches_json(pattern, out) for out in outputs)
                if is_json
                else matches_text([text], stdout)
            )
            assert found, (
                f"{block.path.name}:{block.line + number}: printed no line like {text}\n"
                f"printed:\n{stdout[-3000:]}"
            )

    def _session(self) -> PythonSession:
        if self.python is None:
            self.python = PythonSession(self.workdir, self.env)
        return self.python

    def close(self) -> None:
        """Stop the Python session, if one was started."""
        if self.python is not None:
            self.python.close()
            self.python = None

    def __enter__(self) -> DocRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exec(
        self, command: list[str], env: dict[str, str], block: Block
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                command,
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{block.where}: still running after {self.timeout} s") from exc
        if done.returncode != 0:
            raise AssertionError(
                f"{block.where}: the {block.lang} block failed (exit {done.returncode})\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
            )
        return done


_DRIVER = r"""
import contextlib, io, json, os, sys, traceback

namespace = {"__name__": "__main__"}
answers = sys.stdout
for line in sys.stdin:
    message = json.loads(line)
    os.environ.clear()
    os.environ.update(message["env"])
    out, err, ok = io.StringIO(), io.StringIO(), True
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            exec(compile(message["code"], message["name"], "exec"), namespace)
        except BaseException:
            ok = False
            traceback.print_exc()
    answers.write(json.dumps({"ok": ok, "stdout": out.getvalue(), "stderr": err.getvalue()}))
    answers.write("\n")
    answers.flush()
"""


class PythonSession:
    """One Python process that runs a document's blocks in a shared namespace, as a reader
    pasting them into one interpreter would (a function defined in one block is there in the
    next)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        driver = workdir / ".python-session.py"
        driver.write_text(_DRIVER)
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(driver)],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, code: str, name: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
        """Run one block; its ``ok``, ``stdout`` and ``stderr``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"code": code, "name": name, "env": env}) + "\n")
        self.process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.close()
                raise AssertionError(f"{name}: still running after {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"{name}: the Python session died\n{stderr[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _read_env(data: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in data.split(b"\0"):
        name, sep, value = item.decode(errors="replace").partition("=")
        if sep and not name.startswith(("BASH_FUNC_", "DOC_", "__doc_")):
            env[name] = value
    return env


def runnable_blocks(*paths: Path) -> Iterator[Block]:
    for path in paths:
        yield from (b for b in blocks(path) if b.runnable)


def base_env(url: str) -> dict[str, str]:
    """The environment blocks start with: the venv's tools first, ``TSAPI_URL`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSAPI_")}
    bin_dir = str(Path(sys.executable).parent)
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "TSAPI_URL": url}
