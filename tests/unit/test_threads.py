"""How many threads llama.cpp is given when ``n_threads = 0``: one per physical core it may use."""

from __future__ import annotations

import os

import psutil
import pytest

from rag_app.generation.llama import physical_cores


def test_one_thread_per_physical_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 4 if not logical else 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert physical_cores() == 4  # not llama-cpp-python's default, half the logical CPUs when it writes


def test_no_more_threads_than_the_cpus_the_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # e.g. a container given 2 CPUs
    assert physical_cores() == 2


def test_unknown_core_count_falls_back_to_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert physical_cores() == 3


def test_without_cpu_affinity_the_physical_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 6)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS and Windows have none
    assert physical_cores() == 6
