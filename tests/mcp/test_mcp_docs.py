"""``docs/mcp.md`` stays true: its three files run as written, its fragments compile."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from writ import CODES
from writ.mcp import DENIED

DOC = (Path(__file__).parent.parent.parent / "docs" / "mcp.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def _files() -> dict[str, str]:
    """Python blocks whose first line is ``# <name>.py: …``."""
    files = {}
    for block in _blocks("python"):
        match = re.match(r"# (\w+\.py): ", block)
        if match:
            files[match.group(1)] = block
    return files


def test_the_example_runs_as_written(tmp_path: Path) -> None:
    files = _files()
    assert set(files) == {"setup.py", "server.py", "agent.py"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for script in ("setup.py", "agent.py"):
        done = subprocess.run(
            [sys.executable, script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    [transcript] = [b for b in _blocks("text") if b.startswith("$ python setup.py")]
    expected = transcript.splitlines()[1:]
    assert done.stdout.splitlines() == expected


def test_the_fragments_compile() -> None:
    for block in _blocks("python"):
        if not re.match(r"# \w+\.py: ", block):
            # A fragment may use `async with` at top level: compile it inside a coroutine.
            body = "".join(f"    {line}\n" for line in block.splitlines())
            compile(f"async def fragment():\n{body}", "<docs/mcp.md>", "exec")


def test_the_documented_error_is_the_real_one() -> None:
    [error] = [json.loads(b) for b in _blocks("json") if '"error"' in b]
    data = error["error"]["data"]
    assert error["error"]["code"] == DENIED == -32051
    assert set(data) == {"code", "reason", "challenge", "decision_id"}
    assert error["error"]["message"] == data["reason"] == CODES[data["code"]][1]
