"""The touch key bar (pyclient/keybar.py): xterm's bytes and the sticky Ctrl/Alt, under CPython."""

from __future__ import annotations

import itertools

import pytest

from pyclient.keybar import KEYS, TAPS, Modifier, Modifiers, ModState, shows_key_bar


@pytest.mark.parametrize(
    ("name", "normal", "application"),
    [
        ("esc", "\x1b", "\x1b"),
        ("tab", "\t", "\t"),
        ("up", "\x1b[A", "\x1bOA"),
        ("down", "\x1b[B", "\x1bOB"),
        ("right", "\x1b[C", "\x1bOC"),
        ("left", "\x1b[D", "\x1bOD"),
    ],
)
def test_unmodified_keys_are_xterms_bytes_in_both_cursor_modes(name, normal, application) -> None:
    assert Modifiers().press(name, application_cursor=False) == normal
    assert Modifiers().press(name, application_cursor=True) == application


def test_every_tap_toggles_one_modifier_and_keeps_the_other() -> None:
    assert set(TAPS) == set(itertools.product(ModState, Modifier))
    has = {ModState.IDLE: set(), ModState.CTRL: {Modifier.CTRL}, ModState.ALT: {Modifier.ALT},
           ModState.CTRL_ALT: {Modifier.CTRL, Modifier.ALT}}  # fmt: skip
    for (state, tapped), after in TAPS.items():
        assert has[after] == has[state] ^ {tapped}


def test_ctrl_is_one_shot_for_the_next_typed_key() -> None:
    heard: list[ModState] = []
    modifiers = Modifiers(on_change=heard.append)
    assert modifiers.tap(Modifier.CTRL) is ModState.CTRL
    assert modifiers.typed("c") == "\x03"
    assert modifiers.state is ModState.IDLE
    assert modifiers.typed("c") == "c"
    assert heard == [ModState.CTRL, ModState.IDLE]


@pytest.mark.parametrize(
    ("taps", "typed", "sent"),
    [
        ((Modifier.CTRL,), "C", "\x03"),
        ((Modifier.CTRL,), " ", "\x00"),
        ((Modifier.CTRL,), "[", "\x1b"),
        ((Modifier.CTRL,), "?", "\x7f"),
        ((Modifier.CTRL,), "é", "é"),  # no control character: sent as typed (and the modifier spent)
        ((Modifier.ALT,), "x", "\x1bx"),
        ((Modifier.CTRL, Modifier.ALT), "x", "\x1b\x18"),
        ((Modifier.CTRL,), "ls", "\x0cs"),  # a word from the soft keyboard: its first key takes the modifier
        ((Modifier.CTRL,), "\x1b[A", "\x1b[1;5A"),  # an arrow typed on a hardware keyboard
        ((Modifier.ALT,), "\x1bOD", "\x1b[1;3D"),
        ((Modifier.CTRL, Modifier.CTRL), "c", "c"),  # tapped twice: off
    ],
)
def test_modifiers_apply_to_what_is_typed(taps, typed, sent) -> None:
    modifiers = Modifiers()
    for tap in taps:
        modifiers.tap(tap)
    assert modifiers.typed(typed) == sent
    assert modifiers.state is ModState.IDLE


def test_modified_bar_keys_are_xterms_modified_forms() -> None:
    cases = [
        ((Modifier.CTRL,), "up", False, "\x1b[1;5A"),
        ((Modifier.CTRL,), "left", True, "\x1b[1;5D"),  # modified cursor keys are CSI in both modes
        ((Modifier.ALT,), "right", False, "\x1b[1;3C"),
        ((Modifier.CTRL, Modifier.ALT), "down", False, "\x1b[1;7B"),
        ((Modifier.ALT,), "esc", False, "\x1b\x1b"),
        ((Modifier.ALT,), "tab", False, "\x1b\t"),
        ((Modifier.CTRL,), "esc", False, "\x1b"),
    ]
    for taps, name, application, sent in cases:
        modifiers = Modifiers()
        for tap in taps:
            modifiers.tap(tap)
        assert modifiers.press(name, application_cursor=application) == sent, (taps, name)
        assert modifiers.state is ModState.IDLE


def test_terminal_replies_pass_through_and_leave_the_modifier_armed() -> None:
    modifiers = Modifiers()
    modifiers.tap(Modifier.CTRL)
    assert modifiers.typed("\x1b[?1;2c") == "\x1b[?1;2c"  # xterm answering tmux's DA, not a key
    assert modifiers.typed("\x1b[12;40R") == "\x1b[12;40R"
    assert modifiers.state is ModState.CTRL
    assert modifiers.typed("d") == "\x04"


def test_the_bar_is_for_a_coarse_main_pointer() -> None:
    assert shows_key_bar(coarse_pointer=True)
    assert not shows_key_bar(coarse_pointer=False)
    assert set(KEYS) == {"esc", "tab", "up", "down", "left", "right"}
