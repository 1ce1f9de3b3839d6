"""The architecture holds: layers point down, the command line loads lazily, the sync client
is generated from the async one."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_import_contracts_hold() -> None:
    done = subprocess.run(
        [str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "broken" in done.stdout and " 0 broken" in done.stdout


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    done = subprocess.run(
        [sys.executable, "client/scripts/unasync.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_tsapi_help_lists_every_command_without_importing_any() -> None:
    code = (
        "import sys; sys.argv = ['tsapi', '--help']\n"
        "from tsapi.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('api', 'workers', 'tsdb', 'core', 'quart', 'redis', 'tsapi_client')"
        " if m in sys.modules]\n"
        "print('loaded:', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "loaded: []" in done.stdout, done.stdout + done.stderr
    from tsapi.cli import COMMANDS

    for name in COMMANDS:
        assert f"  {name} " in done.stdout


def test_the_help_table_says_what_each_command_says_of_itself() -> None:
    from tsapi.cli import COMMANDS

    for name, (target, help_line) in COMMANDS.items():
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert (command.help or "").strip().splitlines()[0] == help_line, name
