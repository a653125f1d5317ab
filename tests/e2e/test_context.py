"""Cross-file context through the protocol: what other files put in the FIM request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codestral_ls.testing.fake_mistral import FakeMistral
from tests.e2e.conftest import Session, Starter

MAIN = "file:///proj/app/main.py"
UTILS = "file:///proj/app/billing.py"
UNRELATED = "file:///proj/app/colors.py"
ENV = "file:///proj/.env"

BILLING = (
    "import math\n\n\n"
    "def invoice_total(line_items, tax_rate):\n"
    '    """Sum of the line items with tax."""\n'
    "    subtotal = sum(item.price * item.quantity for item in line_items)\n"
    "    return round(subtotal * (1 + tax_rate), 2)\n"
    + "".join(f"\n\ndef helper_{i}(value):\n    return value * {i}\n" for i in range(40))
)
COLORS = "".join(f"PALETTE_{i} = ('red', 'green', 'blue', {i})\n" for i in range(60))
MAIN_TEXT = "from billing import invoice_total\n\nline_items = load()\ntax_rate = 0.2\ntotal = "


def body_of(fake: FakeMistral) -> dict[str, Any]:
    request = fake.fim_requests()[-1]
    assert request.errors == []
    assert request.body is not None
    return request.body


async def open_and_complete(session: Session, fake: FakeMistral, *others: tuple[str, str]) -> str:
    for uri, text in others:
        session.open(uri, text)
    session.open(MAIN, MAIN_TEXT)
    await session.complete_at(MAIN, len(MAIN_TEXT))
    prompt: str = body_of(fake)["prompt"]
    return prompt


async def test_the_relevant_window_of_another_open_file_comes_first(
    start: Starter, fake: FakeMistral
) -> None:
    fake.fim_text = "invoice_total(line_items, tax_rate)"
    session = await start({"context": {"imports": False}})
    prompt = await open_and_complete(session, fake, (UTILS, BILLING), (UNRELATED, COLORS))
    assert prompt.startswith("+++++ billing.py\n")
    assert "def invoice_total(line_items, tax_rate):" in prompt
    assert prompt.endswith("+++++ main.py\n" + MAIN_TEXT)
    assert "PALETTE_" not in prompt  # nothing in common with the lines before the cursor
    assert "\n+++++ " in body_of(fake)["stop"]
    assert body_of(fake)["suffix"] == ""


async def test_an_excluded_file_and_secrets_never_appear(start: Starter, fake: FakeMistral) -> None:
    env = "line_items = 1\ntax_rate = 2\ninvoice_total = 'SECRET_FROM_DOTENV'\n" * 5
    secret = (
        "def invoice_total(line_items, tax_rate):\n"
        '    password = "hunter2-very-secret"\n'
        "    return line_items, tax_rate\n"
    )
    session = await start({"context": {"imports": False}})
    session.open(ENV, env, "dotenv")
    prompt = await open_and_complete(session, fake, (UTILS, secret))
    assert "SECRET_FROM_DOTENV" not in prompt and ".env" not in prompt
    assert "+++++ billing.py" in prompt
    assert "hunter2" not in prompt and "[REDACTED]" in prompt


async def test_turning_open_files_off_removes_them(start: Starter, fake: FakeMistral) -> None:
    session = await start({"context": {"openFiles": False, "imports": False}})
    prompt = await open_and_complete(session, fake, (UTILS, BILLING))
    assert prompt == MAIN_TEXT
    assert "\n+++++ " not in body_of(fake).get("stop", [])


async def test_context_off_sends_the_file_alone(start: Starter, fake: FakeMistral) -> None:
    session = await start({"context": False})
    prompt = await open_and_complete(session, fake, (UTILS, BILLING))
    assert prompt == MAIN_TEXT


async def test_recent_edits_in_another_file(start: Starter, fake: FakeMistral) -> None:
    other = "file:///proj/app/notes.py"
    text = "".join(f"# note {i}\n" for i in range(30))
    for recent in (True, False):
        session = await start(
            {"context": {"openFiles": False, "imports": False, "recentEdits": recent}}
        )
        session.open(other, text)
        offset = text.index("# note 12")
        session.replace(other, offset, offset, "shipping_fee = compute_shipping(order)\n")
        session.open(MAIN, MAIN_TEXT)
        await session.complete_at(MAIN, len(MAIN_TEXT))
        prompt: str = body_of(fake)["prompt"]
        if recent:
            assert prompt.startswith("+++++ notes.py\n")
            assert (
                "# note 9\n# note 10\n# note 11\nshipping_fee = compute_shipping(order)\n" in prompt
            )
            assert "# note 0\n" not in prompt  # only the region, not the file
        else:
            assert prompt == MAIN_TEXT


async def test_imported_definitions_as_an_outline(
    start: Starter, fake: FakeMistral, tmp_path: Path
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "geometry.py").write_text(
        "import math\n\n\n"
        "def scale(shape, factor: float) -> Shape:\n"
        '    """Scale a shape around its centre.\n\n    Long explanation.\n    """\n'
        "    return shape.map(lambda p: p * factor)\n\n\n"
        "def rotate(shape, angle):\n    return shape\n"
    )
    main = tmp_path / "main.py"
    text = "from pkg.geometry import scale\n\nsquare = make()\nbig = "
    main.write_text(text)
    uri = main.as_uri()
    for imports in (True, False):
        session = await start({"context": {"imports": imports}})
        session.open(uri, text)
        await session.complete_at(uri, len(text))
        prompt: str = body_of(fake)["prompt"]
        if imports:
            assert prompt.startswith("+++++ pkg/geometry.py\n")
            assert "def scale(shape, factor: float) -> Shape:" in prompt
            assert '"""Scale a shape around its centre."""' in prompt
            assert "Long explanation" not in prompt and "shape.map" not in prompt
            assert "def rotate" not in prompt
            assert prompt.endswith("+++++ main.py\n" + text)
        else:
            assert prompt == text


async def test_the_cache_key_follows_the_context(start: Starter, fake: FakeMistral) -> None:
    fake.fim_text = "invoice_total(line_items, tax_rate)"
    session = await start({"context": {"imports": False}})
    await open_and_complete(session, fake, (UTILS, BILLING))
    await session.complete_at(MAIN, len(MAIN_TEXT))
    assert len(fake.fim_requests()) == 1  # same spot, same context: the cache answers
    offset = session.texts[UTILS].index("    return round")
    session.replace(UTILS, offset, offset, "    line_items = list(line_items)\n")
    await session.complete_at(MAIN, len(MAIN_TEXT))
    assert len(fake.fim_requests()) == 2
    assert "    line_items = list(line_items)\n" in body_of(fake)["prompt"]
