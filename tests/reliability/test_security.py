"""Security defaults: no model code runs unless asked, YAML is safe-loaded, keys stay in the environment."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import alignterm
from alignterm.config import load_config
from alignterm.engine.demo import ALIGNED_DIR, BASE_DIR
from alignterm.engine.values import ModelSpec
from alignterm.formats.html import HtmlWriter
from alignterm.sessions import Session
from alignterm.sessions.format import dumps, session_record
from alignterm.themes import load_themes

from .conftest import cli, one_line, snapshot

CUSTOM_CODE = """
import os, pathlib
pathlib.Path(os.environ["ALIGNTERM_TEST_MARKER"]).write_text("the model's own code ran")
from transformers import LlamaConfig, LlamaForCausalLM

class EvilConfig(LlamaConfig):
    model_type = "evilnet"

class EvilForCausalLM(LlamaForCausalLM):
    config_class = EvilConfig
"""


@pytest.fixture
def custom_code_model(tmp_path) -> Path:
    """The demo base model, with a config whose auto_map points at a .py that leaves a marker when imported."""
    folder = tmp_path / "custom"
    shutil.copytree(BASE_DIR, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="evilnet", architectures=["EvilForCausalLM"],
                  auto_map={"AutoConfig": "modeling_evil.EvilConfig",
                            "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text(CUSTOM_CODE)
    return folder


def _analyze(model: Path, marker: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALIGNTERM_TEST_MARKER": str(marker), "HF_HOME": str(marker.parent / "hf"),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "alignterm", "analyze", "--query", "hi", "--base", str(model),
                           "--aligned", str(ALIGNED_DIR), "--max-new-tokens", "2", "--format", "jsonl", *flags],
                          check=False, capture_output=True, text=True, env=env, timeout=300)


def test_a_models_own_code_never_runs_without_trust_remote_code(custom_code_model, tmp_path):
    marker = tmp_path / "marker"
    before = snapshot(custom_code_model)
    proc = _analyze(custom_code_model, marker)
    assert one_line(proc.returncode, proc.stderr) == (
        f"alignterm: error: {custom_code_model} ships its own Python code (auto_map in its config), which "
        "alignterm does not run by default: read that code, then pass --trust-remote-code to allow it")
    assert not marker.exists()
    assert snapshot(custom_code_model) == before
    # the same folder with the flag: the code does run (so the check above can fail)
    proc = _analyze(custom_code_model, marker, "--trust-remote-code")
    assert marker.read_text() == "the model's own code ran", proc.stderr


def _yaml_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "yaml"):
            yield node


def test_every_yaml_read_in_the_package_uses_a_safe_loader():
    root = Path(alignterm.__file__).parent
    checked = 0
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _yaml_calls(tree):
            name = call.func.attr
            where = f"{path.relative_to(root)}:{call.lineno}"
            assert name not in ("unsafe_load", "unsafe_load_all", "full_load", "full_load_all"), where
            if name in ("load", "load_all"):
                [loader] = [k.value for k in call.keywords if k.arg == "Loader"] or [None]
                assert isinstance(loader, ast.Name | ast.Attribute), f"{where}: yaml.{name} without a Loader"
                module = importlib.import_module("alignterm." + ".".join(path.relative_to(root).with_suffix("").parts))
                cls = getattr(module, loader.id) if isinstance(loader, ast.Name) else getattr(yaml, loader.attr)
                assert issubclass(cls, yaml.constructor.SafeConstructor), where
                assert not issubclass(cls, yaml.constructor.FullConstructor), where
            checked += 1
    assert checked >= 3  # sessions, themes, settings


PYTHON_TAG = "!!python/object/apply:os.system ['touch {marker}']"


def test_a_theme_or_settings_file_with_a_python_tag_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "evil.yaml").write_text(f"name: evil\ndark: true\napp: {PYTHON_TAG.format(marker=marker)}\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"theme: {PYTHON_TAG.format(marker=marker)}\n")
    before = snapshot(tmp_path)
    loaded, notices = load_themes(themes)
    assert "evil" not in loaded and any(str(themes / "evil.yaml") in n for n in notices)
    settings, notice = load_config(config)
    assert settings.theme is None and notice.startswith(f"settings file {config} line 1 ignored")
    assert not marker.exists() and snapshot(tmp_path) == before


def test_an_api_key_is_read_from_the_environment_and_written_nowhere(demo_session, monkeypatch, tmp_path):
    """ModelSpec holds the name of the variable, never the key: session files and pages cannot leak it."""
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ALIGNTERM_TEST_KEY", secret)
    assert not any("key" in f.name and f.name != "api_key_env" for f in dataclasses.fields(ModelSpec))
    remote = [dataclasses.replace(spec, spec="http://127.0.0.1:9/v1", api_key_env="ALIGNTERM_TEST_KEY")
              for spec in (demo_session.base, demo_session.aligned)]
    session = Session(demo_session.result, *remote, demo_session.urial_label, demo_session.created)
    text = dumps(session)
    assert "api_key_env: ALIGNTERM_TEST_KEY" in text and secret not in text
    page = io.StringIO()
    writer = HtmlWriter(page)
    writer.write(session_record(session))
    writer.close()
    assert secret not in page.getvalue() and secret not in json.dumps(session_record(session))
    parser = _tags(page.getvalue())  # and the page loads no script (or anything) from outside itself
    assert all("src" not in attrs and "href" not in attrs for _, attrs in parser)


@pytest.mark.parametrize("flag", ["--api-key-env", "--api-key"])  # argparse takes --api-key for --api-key-env
def test_a_key_typed_on_the_command_line_is_refused_and_not_echoed(flag, capfd):
    secret = "sk-test-0123456789abcdef"
    code, out, err = cli(capfd, "analyze", "--query", "hi", "--base", "http://127.0.0.1:9/v1",
                         "--aligned", "http://127.0.0.1:9/v1", flag, secret)
    assert one_line(code, err) == ("alignterm: error: --api-key-env takes the NAME of an environment variable "
                                   "holding the key (e.g. OPENAI_API_KEY), never the key itself")
    assert secret not in out + err


def _tags(page: str) -> list[tuple[str, dict]]:
    from html.parser import HTMLParser

    tags: list[tuple[str, dict]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Tags().feed(page)
    return tags
