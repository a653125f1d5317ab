"""What codestral-ls remembers between runs: the models picked with ``codestral.selectModel``.

The state is one small JSON file in the user's state directory, the choices kept per endpoint
(each endpoint has models of its own)::

    {"version": 2, "models": {"https://codestral.mistral.ai": {"completion": "codestral-2508",
                                                               "chat": "codestral-latest"},
                              "http://localhost:11434": {"completion": "qwen2.5-coder:latest"}}}

Version 1 kept one choice per kind for every endpoint (``"models": {"completion": ...}``); such
entries say nothing about their endpoint and are ignored (with a log line).

The directory is ``$CODESTRAL_LS_STATE_DIR`` if set, else ``$XDG_STATE_HOME/codestral-ls``, else
``~/.local/state/codestral-ls``.  Writes are atomic (a temporary file in the same directory,
then ``os.replace``), so a crash or a second editor never leaves half a file.  A missing,
unreadable or corrupt file is treated as empty (with a log line): the state is a convenience,
never a reason to fail.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .settings import is_model_id

logger = logging.getLogger(__name__)

STATE_DIR_VARIABLE = "CODESTRAL_LS_STATE_DIR"
STATE_FILE_NAME = "state.json"
VERSION = 2
#: The kinds of model that can be remembered.
MODEL_KINDS = ("completion", "chat")
#: What a model name looks like (the same shape the settings accept), at most 256 characters.


def is_model_name(value: object) -> bool:
    """Whether ``value`` can be a model id (any printable string: the endpoint's list, not a
    pattern, says whether it exists)."""
    return is_model_id(value)


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory of the state file, from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_DIR_VARIABLE, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_STATE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec says relative values are ignored
        return Path(xdg) / "codestral-ls"
    home = env.get("HOME", "").strip()
    base = Path(home) if home else Path.home()
    return base / ".local" / "state" / "codestral-ls"


class StateFile:
    """The JSON state file: read tolerantly, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> StateFile:
        return cls(state_dir(environ) / STATE_FILE_NAME)

    def read(self) -> dict[str, Any]:
        """The file's object; ``{}`` when it is missing, unreadable or not a JSON object."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("ignoring unreadable state file %s: %s", self.path, error)
            return {}
        try:
            data = json.loads(raw)
        except ValueError as error:
            logger.warning("ignoring corrupt state file %s: %s", self.path, error)
            return {}
        if not isinstance(data, dict):
            logger.warning("ignoring state file %s: not a JSON object", self.path)
            return {}
        return data

    def write(self, data: Mapping[str, Any]) -> None:
        """Replace the file with ``data`` atomically; raises OSError when it cannot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        fd, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    # --- selected models -------------------------------------------------------------------

    def selected_models(self) -> dict[str, dict[str, str]]:
        """The remembered model of each kind, by endpoint; entries that are not model names
        (and choices of version 1, which have no endpoint) are skipped."""
        models = self.read().get("models")
        if not isinstance(models, dict):
            return {}
        chosen: dict[str, dict[str, str]] = {}
        for endpoint, kinds in models.items():
            if not isinstance(kinds, dict):
                logger.warning(
                    "ignoring %r in %s: a choice without its endpoint (pick it again)",
                    endpoint,
                    self.path,
                )
                continue
            for kind in MODEL_KINDS:
                value = kinds.get(kind)
                if isinstance(value, str) and is_model_name(value):
                    chosen.setdefault(endpoint, {})[kind] = value
                elif value is not None:
                    logger.warning(
                        "ignoring the remembered %s model of %s in %s: %r",
                        kind,
                        endpoint,
                        self.path,
                        value,
                    )
        return chosen

    def remember_model(self, endpoint: str, kind: str, model: str) -> None:
        """Remember ``model`` for ``kind`` on ``endpoint``, keeping everything else the file
        holds.

        Re-reads the file first, so another editor's other choices are kept.
        Raises OSError when the file cannot be written.
        """
        if kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {kind!r}")
        data = self.read()
        models = data.get("models")
        models = dict(models) if isinstance(models, dict) else {}
        kinds = models.get(endpoint)
        kinds = dict(kinds) if isinstance(kinds, dict) else {}
        kinds[kind] = model
        models[endpoint] = kinds
        data["models"] = models
        data["version"] = VERSION
        self.write(data)
