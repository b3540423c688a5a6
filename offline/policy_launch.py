"""How the Pulumi CLI starts a local Python policy pack, so that nothing else starts it differently.

Since v3.221.0 (pulumi/pulumi#21684) the CLI runs a Python pack through the language host's
``RunPlugin`` (``sdk/python/cmd/pulumi-language-python/main.go``); before, the shim
``pulumi-analyzer-policy-python`` did it (``sdk/go/common/resource/plugin/analyzer_plugin.go``
``NewPolicyAnalyzer``). Both agree on what is reproduced here:

- the working directory is the pack folder;
- ``runtime.options.virtualenv`` in ``PulumiPolicy.yaml``, when set, is the only interpreter:
  ``<virtualenv>/bin/python``, a relative path taken from the pack folder (``resolveVirtualEnvironmentPath``
  joins it to the pack's root; the shim prefixed ``$PWD``). The environment is "activated": its
  ``bin`` first on ``PATH``, ``VIRTUAL_ENV`` set, ``PYTHONHOME`` removed. Nothing creates that
  virtualenv for a local pack;
- without ``virtualenv``: ``$PULUMI_PYTHON_CMD``, else ``python3``, else ``python`` from ``PATH``;
- the command is ``python -u -m pulumi.policy <engine address> <pack folder>``; the pack prints its port.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PACK_FILE = "PulumiPolicy.yaml"
_SUPPORTED_TOOLCHAINS = {None, "pip"}  # uv and poetry resolve interpreters their own way


class PolicyPackLaunchError(RuntimeError):
    """``PulumiPolicy.yaml`` names an interpreter the CLI could not start either."""


@dataclass(frozen=True)
class PackLaunch:
    """One start of the pack: the exact command, folder and environment the CLI would use."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]

    @property
    def interpreter(self) -> str:
        return self.argv[0]


def launch(pack_dir: Path, engine_address: str, environ: Mapping[str, str] | None = None) -> PackLaunch:
    """The CLI's start of the pack in ``pack_dir``; ``environ`` defaults to this process's environment."""
    pack_dir = pack_dir.resolve()
    base = dict(os.environ if environ is None else environ)
    options = _runtime_options(pack_dir)
    toolchain = options.get("toolchain")
    if toolchain not in _SUPPORTED_TOOLCHAINS:
        raise PolicyPackLaunchError(
            f"{pack_dir / PACK_FILE}: runtime.options.toolchain is {toolchain!r}; "
            "this project starts the pack with pip's rules only (omit it or set 'pip')"
        )
    virtualenv = options.get("virtualenv")
    if virtualenv is None:
        interpreter, env = _python_on_path(base), base
    else:
        interpreter, env = _virtualenv_python(pack_dir, virtualenv), _activated(base, pack_dir / virtualenv)
    return PackLaunch(argv=(interpreter, "-u", "-m", "pulumi.policy", engine_address, str(pack_dir)), cwd=pack_dir, env=env)


def _runtime_options(pack_dir: Path) -> dict[str, Any]:
    path = pack_dir / PACK_FILE
    try:
        project = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PolicyPackLaunchError(f"{path}: the Pulumi CLI could not load the policy pack ({error})") from None
    runtime = project.get("runtime") if isinstance(project, dict) else None
    if runtime == "python":
        return {}
    if not isinstance(runtime, dict) or runtime.get("name") != "python":
        raise PolicyPackLaunchError(f"{path}: runtime is {runtime!r}; this pack must use runtime 'python'")
    options = runtime.get("options") or {}
    virtualenv = options.get("virtualenv")
    if virtualenv is not None and not (isinstance(virtualenv, str) and virtualenv):
        raise PolicyPackLaunchError(f"{path}: runtime.options.virtualenv is {virtualenv!r}; it must be a non-empty path")
    return dict(options)


def _virtualenv_python(pack_dir: Path, virtualenv: str) -> str:
    # normpath, not resolve(): Go's filepath.Join cleans ".." lexically and keeps symlinks.
    location = Path(os.path.normpath(pack_dir / virtualenv))
    python = location / "bin" / "python"
    if python.is_file():
        return str(python)
    state = "doesn't appear to be a virtual environment" if location.exists() else "doesn't exist"
    raise PolicyPackLaunchError(
        f"{pack_dir / PACK_FILE}: runtime.options.virtualenv is {virtualenv!r}, but {location} {state} "
        f"(the Pulumi CLI runs only {python}); run: make setup"
    )


def _activated(environ: Mapping[str, str], virtualenv: Path) -> dict[str, str]:
    location = os.path.normpath(virtualenv)
    env = {key: value for key, value in environ.items() if key not in {"PYTHONHOME", "VIRTUAL_ENV"}}
    env["PATH"] = os.pathsep.join(filter(None, [os.path.join(location, "bin"), environ.get("PATH")]))
    env["VIRTUAL_ENV"] = location
    return env


def _python_on_path(environ: Mapping[str, str]) -> str:
    names = [environ["PULUMI_PYTHON_CMD"]] if environ.get("PULUMI_PYTHON_CMD") else ["python3", "python"]
    for name in names:
        found = shutil.which(name, path=environ.get("PATH", ""))
        if found:
            return found
    raise PolicyPackLaunchError(f"none of {names} is on PATH, and PulumiPolicy.yaml names no virtualenv")
