"""The one boundary for files a user hands over (configs, sweep files, run dirs, checkpoints, arrays).

Every reader checks, before it parses: the path (no NUL byte, no name past the file system's limits),
the file's kind (`os.stat` first: a regular file, never a FIFO, device or folder; a FIFO is never
opened) and size; while it parses: nesting depth, node count (YAML alias bombs, counted expanded),
integer size, UTF-8 text. Anything past a limit is a one-line `UntrustedFileError` naming the file and
the limit (docs/bad_input.md). Files stay data: YAML through SafeLoader, checkpoints with
`weights_only=True`, arrays without pickle. Here in config/, the first stage: every stage may import it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from mixgan.errors import CheckpointError, ConfigError, first_line

MiB = 2**20
# File sizes: far above what mixgan writes (a config is ~2 KiB, a 100k-step metrics.jsonl ~50 MiB).
MAX_YAML_BYTES = 4 * MiB
MAX_JSON_BYTES = 64 * MiB
MAX_JSONL_BYTES = 1024 * MiB
MAX_NPY_BYTES = 1024 * MiB
MAX_CHECKPOINT_BYTES = 16 * 1024 * MiB
MAX_DEPTH = 64  # nesting of mappings/lists: a config has 3 levels, a sweep ~6
MAX_NODES = 1_000_000  # YAML nodes with every alias expanded (a billion-laughs bomb has 10^9)
MAX_INT_DIGITS = 100  # far past 64 bits (19 digits), far below Python's 4,300-digit parse limit


class UntrustedFileError(ConfigError):
    """A user's file past a limit, of the wrong kind, or that does not parse: one line."""


def _where(path: Path | str, what: str) -> str:
    return f"{what} {path}" if what else str(path)


def check_path(path: Path | str, what: str = "") -> Path:
    """A path without NUL bytes and with no component past the file system's name limit (255 bytes)."""
    text = os.fspath(path)
    if "\x00" in text:
        raise UntrustedFileError(f"{_where(repr(text), what)}: holds a NUL byte; accepted: no NUL")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > 255:
            raise UntrustedFileError(f"{_where(text[:80] + '…', what)}: a name of {len(os.fsencode(part))} "
                                     "bytes; accepted: at most 255 bytes per path component")
    return Path(text)


def stat_file(path: Path | str, limit: int, what: str = "") -> os.stat_result | None:
    """The stat of a regular file no larger than `limit` bytes (following links: a link to /dev/zero is
    a device); None when it does not exist. Nothing is opened."""
    path = check_path(path, what)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ENOTDIR:
            return None
        raise UntrustedFileError(f"{_where(path, what)}: cannot be read ({first_line(err)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UntrustedFileError(f"{_where(path, what)}: is a folder; accepted: a regular file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device")
        raise UntrustedFileError(f"{_where(path, what)}: is {kind}; accepted: a regular file")
    if st.st_size > limit:
        raise UntrustedFileError(f"{_where(path, what)}: is {st.st_size / MiB:.0f} MiB; accepted: at most "
                                 f"{limit // MiB} MiB")
    return st


def is_file(path: Path | str) -> bool:
    """Whether `path` is a regular file (links followed); never raises, never opens."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_bytes(path: Path | str, limit: int, what: str = "") -> bytes:
    """A regular file's bytes, at most `limit`; opened non-blocking and re-checked on the open file, so
    that a FIFO swapped in after the stat cannot hang the reader."""
    if stat_file(path, limit, what) is None:
        raise UntrustedFileError(f"{_where(path, what)}: not found; accepted: an existing file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise UntrustedFileError(f"{_where(path, what)}: cannot be read ({first_line(err)})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UntrustedFileError(f"{_where(path, what)}: not a regular file; accepted: a regular file")
        try:
            # read(n) reserves n bytes at once: ask for the file's size (+1, to see it grew since), not
            # the limit (1 GiB for metrics.jsonl: a 1 GiB reservation per run read), then read on while
            # it grows, up to the limit.
            size = os.fstat(fd).st_size
            data = f.read(min(limit, size) + 1)
            while size < len(data) <= limit:
                more = f.read(min(MiB, limit + 1 - len(data)))
                if not more:
                    break
                data += more
        except OSError as err:
            raise UntrustedFileError(f"{_where(path, what)}: cannot be read ({first_line(err)})") from None
    if len(data) > limit:
        raise UntrustedFileError(f"{_where(path, what)}: larger than {limit // MiB} MiB; accepted: <= that")
    return data


def read_text(path: Path | str, limit: int, what: str = "", accepted: str = "a UTF-8 text file") -> str:
    """A regular file's text; not UTF-8 is one line."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UntrustedFileError(f"{_where(path, what)}: not a text file (not UTF-8); accepted: {accepted} "
                                 f"(the first bad byte is at offset {err.start})") from None


# --- YAML -----------------------------------------------------------------------------------------

class _Limit(yaml.MarkedYAMLError):
    """A YAML limit, raised while composing or constructing, with the line it was met on."""


def _int_digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader with limits: depth while composing (before PyYAML's recursion), nodes with every alias
    expanded and no recursive alias (before anything is constructed), integers of <= MAX_INT_DIGITS."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limit(None, None, f"nested deeper than {MAX_DEPTH} levels; accepted: at most "
                             f"{MAX_DEPTH}", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: Any) -> Any:
        _count_nodes(node)
        return super().construct_document(node)

    def construct_yaml_int(self, node: Any) -> int:
        value = self.construct_scalar(node)
        if _int_digits(value) > MAX_INT_DIGITS:
            raise _Limit(None, None, f"an integer of {_int_digits(value)} digits; accepted: at most "
                         f"{MAX_INT_DIGITS} digits", node.start_mark)
        return super().construct_yaml_int(node)


LimitedLoader.add_constructor("tag:yaml.org,2002:int", LimitedLoader.construct_yaml_int)


def _count_nodes(root: Any) -> None:
    """Nodes of the document with aliases expanded (memoized per node, so a bomb costs its distinct
    nodes); a node that contains itself (a recursive alias) is refused."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_NODES:
                raise _Limit(None, None, f"more than {MAX_NODES:,} values with its aliases expanded; "
                             f"accepted: at most {MAX_NODES:,}", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in active:
            raise _Limit(None, None, "an alias refers to a node that holds it (a recursive alias); "
                         "accepted: aliases to finished nodes", node.start_mark)
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def parse_yaml(text: str, where: str, loader: type = LimitedLoader) -> Any:
    """YAML text as data within the limits; bad YAML or a limit is one line naming `where` and the line."""
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 (a LimitedLoader: a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None)
        if isinstance(err, _Limit):  # "c.yaml (line 3): nested deeper than 64 levels; accepted: ..."
            raise UntrustedFileError(f"{where}{line}: {problem}") from None
        detail = f": {problem}" if problem else ""
        raise UntrustedFileError(f"{where}: not valid YAML{line}{detail}") from None
    except (RecursionError, MemoryError, ValueError, TypeError) as err:  # a shape PyYAML itself trips on
        raise UntrustedFileError(f"{where}: not usable YAML ({first_line(err)})") from None


def read_yaml_file(path: Path | str, what: str = "", loader: type = LimitedLoader,
                   limit: int = MAX_YAML_BYTES) -> Any:
    """A YAML file's data (None when empty), within every limit."""
    text = read_text(path, limit, what, accepted="a YAML file")
    return parse_yaml(text, _where(path, what), loader)


# --- JSON and JSONL ---------------------------------------------------------------------------------

def _parse_int(text: str) -> int:
    if _int_digits(text) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {_int_digits(text)} digits; accepted: <= {MAX_INT_DIGITS} digits")
    return int(text)


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def parse_json(text: str, where: str) -> Any:
    """JSON text as data (NaN/Infinity allowed, as written for diverged runs), within the limits."""
    try:
        value = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise UntrustedFileError(f"{where}: nested deeper than {MAX_DEPTH} levels; accepted: at most "
                                 f"{MAX_DEPTH}") from None
    except ValueError as err:  # json.JSONDecodeError is one
        raise UntrustedFileError(f"{where}: not valid JSON ({first_line(err)[:120]})") from None
    if _depth(value) > MAX_DEPTH:
        raise UntrustedFileError(f"{where}: nested deeper than {MAX_DEPTH} levels; accepted: <= {MAX_DEPTH}")
    return value


def read_json_file(path: Path | str, what: str = "", limit: int = MAX_JSON_BYTES) -> Any:
    return parse_json(read_text(path, limit, what, accepted="a JSON file"), _where(path, what))


def read_jsonl_lines(path: Path | str, what: str = "", limit: int = MAX_JSONL_BYTES) -> list[str]:
    """The non-empty lines of a JSONL file (checked as a file: kind, size, UTF-8); parse each with
    `parse_json`, which the caller does to decide about a torn last line."""
    text = read_text(path, limit, what, accepted="a JSON-lines file")
    return [line for line in text.splitlines() if line.strip()]


# --- arrays and checkpoints -------------------------------------------------------------------------

def read_npy(path: Path | str, what: str = "", ndim: int | None = None, columns: int | None = None,
             limit: int = MAX_NPY_BYTES) -> Any:
    """A .npy array of numbers (never pickled objects), of `ndim` dimensions and `columns` columns
    when given."""
    import io

    import numpy as np

    data = read_bytes(path, limit, what)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        why = first_line(err)[:100]
        raise UntrustedFileError(f"{_where(path, what)}: not a .npy array of numbers ({why})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise UntrustedFileError(f"{_where(path, what)}: holds {getattr(array, 'dtype', type(array))}; "
                                 "accepted: an array of numbers")
    if (ndim is not None and array.ndim != ndim) or (columns is not None and array.shape[-1:] != (columns,)):
        want = " × ".join(x for x in (f"{ndim} dimensions" if ndim else "", f"{columns} columns" if columns
                                      else "") if x)
        shape = tuple(array.shape)
        raise UntrustedFileError(f"{_where(path, what)}: an array of shape {shape}; accepted: {want}")
    return array


def load_torch(path: Path | str, what: str = "checkpoint", map_location: Any = "cpu",
               limit: int = MAX_CHECKPOINT_BYTES) -> Any:
    """torch.load(weights_only=True) of a regular file whose zip members all pass their CRC check (a
    garbled member is refused, not loaded as if fine); any decode error is one CheckpointError line."""
    import zipfile

    import torch

    try:
        if stat_file(path, limit, what) is None:
            raise CheckpointError(f"no {what} at {path}")
    except UntrustedFileError as err:
        raise CheckpointError(str(err)) from None
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad is not None:
                raise CheckpointError(f"{what} {path} is corrupted: its member {bad} fails its CRC check")
        return torch.load(path, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - the decoder of an untrusted file: any error is bad input
        raise CheckpointError(f"{what} {path} is truncated or corrupted ({first_line(err)[:120]})") from None
