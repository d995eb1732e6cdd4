"""The installed package ships the top-level templates/ folder: a wheel built from this checkout, installed
into a fresh virtual environment, finds every template with importlib.resources and `init` writes them."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(p.name for p in (ROOT / "templates").iterdir() if p.suffix != ".py" and p.is_file())


def test_templates_live_only_at_the_top_level():
    assert {"judge.md", "synthetic_inputs.md", "dimensions.toml", "sheetsync.toml", "env.example"} <= set(TEMPLATES)
    assert not (ROOT / "sheetsync" / "templates").exists()  # one copy, not two to keep in step


def test_a_wheel_installed_in_a_fresh_venv_finds_the_templates(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(ROOT)], check=True, cwd=tmp_path, capture_output=True)
    (wheel,) = dist.glob("sheetsync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"sheetsync/templates/{t}" for t in TEMPLATES} <= set(names)
    assert "sheetsync/examples/support_assistant.csv" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True)
    # The dependencies come from this environment's site-packages (on PYTHONPATH, so its .pth files — the
    # editable install of this checkout among them — are not processed): sheetsync itself is the wheel's.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    check = ("import sheetsync, sys; from importlib import resources; from sheetsync.workspace import template_text;"
             "print(sheetsync.__file__); print(len(template_text('judge.md')))")
    out = subprocess.run([str(python), "-c", check], check=True, cwd=tmp_path, env=env, capture_output=True,
                         text=True).stdout.split("\n")
    assert Path(out[0]).is_relative_to(venv), out
    assert int(out[1]) == len((ROOT / "templates" / "judge.md").read_text(encoding="utf-8"))
    run = subprocess.run([str(python), "-m", "sheetsync", "init", "ws"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for rel in ("sheetsync.toml", ".env.example", "prompts/judge.md", "prompts/synthetic_inputs.md", "dimensions.toml"):
        assert (tmp_path / "ws" / rel).is_file(), rel
    assert (tmp_path / "ws" / "prompts/judge.md").read_text(encoding="utf-8") == (
        ROOT / "templates" / "judge.md").read_text(encoding="utf-8")
