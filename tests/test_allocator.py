"""The allocator setting applied before training (glibc's mallopt)."""

from __future__ import annotations

import platform

import pytest

from relabel.infra import allocator


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(allocator, "_done", False)
    for key in ("RELABEL_MALLOC", "MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_glibc_is_tuned_once(fresh: pytest.MonkeyPatch):
    expected = platform.libc_ver()[0] == "glibc"
    assert allocator.keep_freed_memory() is expected
    assert allocator._done is expected
    assert allocator.keep_freed_memory() is expected  # a second call changes nothing


@pytest.mark.parametrize(
    "env", [{"RELABEL_MALLOC": "system"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}]
)
def test_the_users_own_allocator_settings_win(fresh: pytest.MonkeyPatch, env: dict):
    for key, value in env.items():
        fresh.setenv(key, value)
    assert allocator.keep_freed_memory() is False
    assert allocator._done is False
