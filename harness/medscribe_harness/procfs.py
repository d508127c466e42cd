"""Live processes as /proc lists them: a process's descendants and a process group's members.

Standard library only (see :mod:`medscribe_harness.devstack`); Linux only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def _live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of each live (not zombie) process, from /proc/<pid>/stat."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            yield int(entry.name), int(fields[1]), int(fields[2])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants, from /proc (children that moved to a group of their own too)."""
    children: dict[int, list[int]] = {}
    for child, parent, _ in _live_processes():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def process_group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    return [member for member, _, group in _live_processes() if group == pgid]
