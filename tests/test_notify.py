"""Once per episode."""

from __future__ import annotations

from lsprotocol import types

from codestral_ls.notify import Notifier


def test_once_per_episode_and_upstream_resolution() -> None:
    shown: list[str] = []
    notifier = Notifier(lambda kind, message: shown.append(message))
    assert notifier.once("upstream", "down")
    assert not notifier.once("upstream", "down again")
    notifier.once("settings:x", "bad x")
    notifier.once("unsuitable:file:///a.bin", "binary")
    notifier.once("model:m", "unknown m", types.MessageType.Error)
    notifier.resolve()  # a success ends the upstream episodes only
    assert set(notifier.active) == {"settings:x", "unsuitable:file:///a.bin"}
    assert notifier.once("upstream", "down")
    assert not notifier.once("unsuitable:file:///a.bin", "binary")
    assert shown == ["down", "bad x", "binary", "unknown m", "down"]


def test_a_failing_transport_does_not_break_the_caller() -> None:
    def broken(kind: types.MessageType, message: str) -> None:
        raise RuntimeError("closed")

    assert Notifier(broken).once("k", "m")
