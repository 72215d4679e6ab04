"""Failures in one or two lines: the underlying cause and where in our code it was
raised, not a wrapper's "Error occurred while executing op ...:" whose cause Dagster
keeps in a chain. Used by the runner (a failed step of a run) and by the command
(an unexpected exception)."""

from __future__ import annotations

import re
import traceback
from typing import Any

#: Longest message shown (a cause can carry a whole frame's repr).
MAX_MESSAGE = 300
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_PACKAGE = "saas_metrics"


def _first_line(text: str) -> str:
    """The message's first line; with the next one when it ends in a colon (the list it announces)."""
    lines = [part.strip() for part in text.strip().splitlines() if part.strip()]
    line = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else "")
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _where(frames: list[str]) -> str:
    """``path:line in func`` of the innermost frame in the project, else outside installed
    packages (a framework's own frame says nothing to the user: then nothing)."""
    found = [m for m in (_FRAME.search(frame) for frame in frames) if m]
    ours = [m for m in found if f"/{_PACKAGE}/" in m["path"].replace("\\", "/")]
    user = [m for m in found if "-packages" not in m["path"] and not m["path"].startswith("<frozen")]
    if not (ours or user):
        return ""
    match = (ours or user)[-1]
    path = match["path"].replace("\\", "/")
    if f"/{_PACKAGE}/" in path:
        path = _PACKAGE + "/" + path.split(f"/{_PACKAGE}/", 1)[1]
    return f"{path}:{match['line']} in {match['func']}"


def _with_class(cls_name: str | None, message: str) -> str:
    """``Class: message`` once (a serialised message may already start with the dotted class name)."""
    line = _first_line(message)
    token, _, rest = line.partition(" ")
    if cls_name and token.endswith(f"{cls_name}:"):
        return f"{cls_name}: {rest}".rstrip()
    return f"{cls_name}: {line}" if cls_name else line


def describe_error_info(error: Any) -> str:
    """One line for a Dagster ``SerializableErrorInfo``: its root cause and where it was raised.

    ``error.message`` of a failed step is "DagsterExecutionStepExecutionError: Error
    occurred while executing op ...:"; the user's exception is at the end of ``error.cause``.
    """
    root = error
    while getattr(root, "cause", None) is not None:
        root = root.cause
    text = _with_class(getattr(root, "cls_name", None), root.message)
    where = _where(list(getattr(root, "stack", None) or []))
    return f"{text} (at {where})" if where else text


def describe_exception(exc: BaseException) -> list[str]:
    """One or two lines for an exception: itself, and its root cause (``raise ... from``
    or raised while handling) with where it was raised, when that is another exception."""
    root = exc
    seen = {id(exc)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        root = nxt
    head = _with_class(type(exc).__name__, str(exc) or type(exc).__name__)
    if root is exc:
        return [head]
    where = _where(traceback.format_tb(root.__traceback__))
    cause = _with_class(type(root).__name__, str(root) or type(root).__name__)
    return [head, f"cause: {cause}" + (f" (at {where})" if where else "")]
