"""``docs/approvals.md`` stays true: its walk-through runs as written, its fragments compile,
and its sample of ``writ approve`` output has the labels the command prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _approvals_proc import LAUNCHER

DOC = (Path(__file__).resolve().parents[2] / "docs" / "approvals.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def _files() -> dict[str, str]:
    return {m.group(1): block for block in _blocks("python")
            if (m := re.match(r"# (\w+\.py): ", block))}


def _run(command: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = command.split()
    if argv[0] == "python":
        argv[0] = sys.executable
    elif argv[0] == "writ":
        argv[:1] = [sys.executable, LAUNCHER]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                          input=stdin, check=False)


def test_the_walk_through_runs_as_written(tmp_path: Path) -> None:
    files = _files()
    assert set(files) == {"gate.py", "ask.py"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    [transcript] = [b for b in _blocks("console") if b.startswith("$ python gate.py")]
    steps: list[tuple[str, list[str]]] = []
    for line in transcript.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    for command, expected in steps:
        done = _run(command, tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.splitlines() == expected, command
        assert "Traceback" not in done.stderr


def test_the_sample_output_has_the_real_labels(tmp_path: Path) -> None:
    for name, text in _files().items():
        (tmp_path / name).write_text(text)
    assert _run("python gate.py", tmp_path).returncode == 0
    assert _run("python ask.py", tmp_path).returncode == 0
    [sample] = [b for b in _blocks("console")
                if b.startswith("$ writ approve request.json --key approver.key\n")]
    done = _run("writ approve request.json --key approver.key", tmp_path, stdin="y\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().count(".") == 2
    for line in sample.splitlines()[1:-1]:
        label = re.match(r"\s*(\w+:|Approve this exact call\? \[y/N\]:|Agent …)", line)
        if label:
            assert label.group(1) in done.stderr, line
    assert "Q3 supplier run" in done.stderr and "(as reported by the agent)" in done.stderr


def test_the_fragments_compile() -> None:
    for block in _blocks("python"):
        if not re.match(r"# \w+\.py: ", block):
            body = "".join(f"    {line}\n" for line in block.splitlines())
            compile(f"async def fragment():\n{body}", "<docs/approvals.md>", "exec")
