"""Run directories: safe names, exclusive creation, atomic JSON, provenance (versions, git)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mixgan.errors import ConfigError, first_line

# Files of a run dir that several layers read or write (docs/run-dir.md); the checkpoint's name is
# rundir/checkpoint.CHECKPOINT, the metrics file's rundir/logger.METRICS_FILE.
SUMMARY = "summary.json"  # the run's result (trainers/loop.write_summary)
FINAL_SAMPLES = "final_samples.npy"  # the toy GAN's last fixed-noise samples (compare's sample grid)
SAMPLES_PNG = "samples.png"  # the final sample picture (the TensorBoard image `samples` at the last step)
FAILED = "failed.json"  # the sweep executor's record of a run whose process failed (experiments/executor.py)

_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def safe_name(name: str) -> str:
    """A run name that stays one folder inside the runs dir: no separators, no leading dots."""
    cleaned = _SAFE.sub("-", name).strip("-.")
    if not cleaned:
        raise ConfigError(f"run.name: {name!r} has no usable characters; accepted: A-Z a-z 0-9 . _ = + -")
    return cleaned[:128]


def check_writable(path: str | Path, key: str) -> None:
    """Refuse in one line a folder that is a file, or lies under one, or cannot be written (a
    read-only file system, no permission), or a path with a NUL byte or a name past the file system's
    limit. Creates nothing: a temp file is made and gone at once."""
    from mixgan.config.untrusted import check_path

    path = probe = check_path(Path(path).expanduser(), key)
    while not probe.exists() and probe.parent != probe:  # the nearest folder that exists
        probe = probe.parent
    if not probe.is_dir():
        where = "is a file" if probe == path else f"lies under the file {probe}"
        raise ConfigError(f"{key}: {path} {where}; accepted: a folder that can be written")
    try:
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as err:
        raise ConfigError(f"{key}: {path} cannot be written ({probe}: {err.strerror or first_line(err)}); "
                          "accepted: a folder that can be written") from None


# What a run writes into its run dir by name (the TensorBoard events get new names each start): each
# must be a file that can be replaced or appended to, checked before the first iteration.
OUTPUTS = ("config.yaml", "metrics.jsonl", "checkpoint.pt", SUMMARY, FINAL_SAMPLES, SAMPLES_PNG)
_APPENDED = ("metrics.jsonl",)  # opened for appending, not replaced: the file itself must be writable


def check_outputs(run_dir: str | Path, key: str) -> None:
    """Refuse in one line, before any iteration, a run dir whose outputs could not be written when the
    run ends: the dir itself (a file, read-only: check_writable, which also covers the TensorBoard events
    written into it), or one of OUTPUTS that is a folder or another non-file (summary.json replaced by a
    folder), or a metrics.jsonl that cannot be appended to. Creates nothing."""
    run_dir = Path(run_dir)
    check_writable(run_dir, key)
    for name in OUTPUTS:
        path = run_dir / name
        if path.exists() and not path.is_file():
            mode = path.stat().st_mode
            kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "a device")
            raise ConfigError(f"{key}: {path}: is {kind}; accepted: a regular file or none (the run writes "
                              "it: delete it)")
        if name in _APPENDED and path.is_file() and not os.access(path, os.W_OK):
            raise ConfigError(f"{key}: {path} cannot be written (no permission), so the run could not log "
                              "its rows; accepted: a file this user can write")


def new_run_dir(parent: str | Path, name: str, unique: bool) -> Path:
    """Create parent/name; with `unique`, append -2, -3, … instead of reusing an existing dir.

    An existing run dir is never overwritten: without `unique` that is an error (use --resume).
    """
    from mixgan.config.untrusted import check_path

    parent = Path(parent)
    check_writable(parent, "run.dir")
    base = safe_name(name)
    check_path(f"{base}-9999", "run.name")  # with the suffix `unique` may add
    for i in range(1, 10_000):
        cand = parent / (base if i == 1 else f"{base}-{i}")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            cand.mkdir()
            return cand
        except FileExistsError:
            if not unique:
                raise ConfigError(
                    f"run dir {cand} already exists; choose another run.name or continue it "
                    f"with --resume {cand}"
                ) from None
        except OSError as err:  # e.g. the folder turned read-only since the check
            raise ConfigError(f"run.dir: cannot create {cand} ({err.strerror or first_line(err)})") from None
    raise ConfigError(f"too many runs named {base} in {parent}")


LOCK = ".lock"  # flock'ed by the one process that trains the run, fresh or resumed
_HELD: dict[Path, list[int]] = {}  # run dir -> [fd, depth]: this process's locks (re-entrant)


@contextlib.contextmanager
def run_dir_lock(run_dirs: Iterable[str | Path]) -> Iterator[None]:
    """Hold an exclusive flock on each run dir's `.lock` while training it, so that a second process
    (two `--resume` at once, a resume of a run still training) is refused in one line instead of
    interleaving its rows with the first's. The kernel drops the lock when the process dies."""
    import fcntl

    taken: list[Path] = []
    try:
        for run_dir in map(Path, run_dirs):
            key = run_dir.resolve()
            if key in _HELD:
                _HELD[key][1] += 1
            else:
                fd = _open_lock(key / LOCK)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise ConfigError(f"run dir {run_dir} is being trained by another process (it holds "
                                      f"{run_dir / LOCK}); wait for it to end or stop it first") from None
                _HELD[key] = [fd, 1]
            taken.append(key)
        yield
    finally:
        for key in reversed(taken):
            _HELD[key][1] -= 1
            if _HELD[key][1] == 0:
                os.close(_HELD.pop(key)[0])


def _open_lock(path: Path) -> int:
    """The lock file, opened without blocking (a FIFO put in its place) and refused in one line when it
    is not a regular file (a folder, a device)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as err:
        raise ConfigError(f"{path}: cannot be opened as the run's lock ({first_line(err)}); accepted: a "
                          "regular file (delete it: mixgan makes it)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{path}: not a regular file; accepted: a regular file (delete it)")
    return fd


_ORPHAN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # a mkstemp name of the atomic writes here


def remove_orphans(run_dir: str | Path) -> list[str]:
    """Delete the temp files of atomic writes a killed process left behind (`.checkpoint.pt.*.tmp`, as
    big as a checkpoint each); returns their names. Call it holding the run dir's lock, when no writer
    can be using one."""
    removed = []
    for path in sorted(Path(run_dir).glob(".*.tmp")):
        if _ORPHAN.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def record_length(run_dir: str | Path, key: str, value: int) -> None:
    """Set a resumed run's length (`train.iterations`, raised by the resume) in its config.yaml, so
    that the file says how long the run trains (compare and sweeps read it); atomic, and nothing is
    written when the length is unchanged or the config has no such key."""
    import yaml

    from mixgan.config.core import flatten, read_yaml, set_dotted

    path = Path(run_dir) / "config.yaml"
    data = read_yaml(path)
    old = flatten(data).get(key)
    if old is not None and old != value:  # a run of the user's own loop keeps its length elsewhere
        set_dotted(data, key, value)
        write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file through a temp file and a rename, so readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON atomically (write_text_atomic); NaN and Infinity kept, as for diverged runs."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=True) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file (NaN/Infinity allowed, as written for diverged runs) through the limits of
    config/untrusted.py: a run dir may be foreign or hand-edited."""
    from mixgan.config.untrusted import read_json_file

    return read_json_file(path)


UNKNOWN = "unknown"  # what provenance records for a field it could not read


def package_version() -> str:
    """mixgan's installed version (package metadata), else the source's, else "unknown".

    Read from metadata, not `mixgan.__version__`: run from a folder that holds the clone as `mixgan/`,
    Python imports that folder as a namespace package that has no attributes (issue 11).
    """
    from importlib import metadata

    try:
        return metadata.version("mixgan")
    except metadata.PackageNotFoundError:
        pass
    init = Path(__file__).resolve().parent.parent / "__init__.py"  # mixgan/__init__.py
    match = re.search(r'__version__\s*=\s*"([^"]+)"', init.read_text()) if init.is_file() else None
    return match.group(1) if match else UNKNOWN


def git_commit() -> str | None:
    """The short git commit of the checkout this module's own file lives in (None outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance() -> dict[str, Any]:
    """Versions of Python, torch and mixgan, and the git commit of the code when there is one.

    Bookkeeping must never turn a finished run into a crash: a field that cannot be read is "unknown".
    """
    import platform

    def torch_version() -> str:
        import torch

        return torch.__version__

    def cuda_version() -> str | None:
        import torch

        return torch.version.cuda if torch.cuda.is_available() else None

    fields = {"python": platform.python_version, "torch": torch_version, "mixgan": package_version,
              "cuda": cuda_version, "git": git_commit}
    info: dict[str, Any] = {}
    for key, read in fields.items():
        try:
            info[key] = read()
        except Exception:  # any failure here is a missing record, not a failed run
            info[key] = UNKNOWN
    return info
