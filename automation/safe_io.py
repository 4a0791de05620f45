"""One safe reader per format and one safe writer for every file the CLI touches.

Readers turn every way a file can be wrong into a :class:`~summit_platform.automation.errors.UserError` that
names the file, where in it, what was expected and what was found (exit 2, no traceback):

- bytes: a missing file, a folder, an unreadable file, a file over its size limit, invalid
  UTF-8 (named with the byte offset);
- YAML (:func:`load_yaml`): syntax errors with line and column, duplicate keys (the Pulumi CLI
  rejects them; PyYAML silently keeps the last), non-string keys, non-finite numbers, and
  aliases whose expansion would be more than a small multiple of the document (a nine-line
  "billion laughs" file otherwise costs gigabytes downstream);
- JSON (:func:`load_json`): syntax errors with line, column and offset, duplicate keys,
  ``NaN``/``Infinity`` and numbers too large to be finite;
- CSV (:func:`read_csv_rows`): undecodable or malformed rows with the line number.

Writers (:func:`atomic_write`, :func:`update_yaml`, :func:`append_jsonl`) take an advisory lock
on a sidecar file (``.<name>.lock`` in the same folder: the target's inode changes on every
rename, so it cannot carry the lock), write a unique temp file in the same folder, fsync it,
rename it over the target and fsync the folder. A reader never sees half a file; two writers
never interleave; a crash leaves the old file or the new one. :func:`update_yaml` edits a YAML
file in round-trip mode, so comments, key order, quoting, flow style and indentation stay as
they were and a one-key change is a one-line diff.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import itertools
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from summit_platform.automation.errors import UserError

MAX_BYTES = 64 * 1024 * 1024
"""Default ceiling for a file read whole (stack files, budgets, metrics, state)."""
LOCK_TIMEOUT_S = 30.0
_ALIAS_FACTOR = 10
_ALIAS_FLOOR = 10_000


# ------------------------------------------------------------------------------------- bytes


def read_bytes(path: Path | str, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes; a clear error for a missing file, a folder, no permission or a file
    larger than ``max_bytes``."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError("file not found", source=str(p)) from None
    except IsADirectoryError:
        raise UserError("expected a file, found a folder", source=str(p)) from None
    except PermissionError:
        raise UserError("cannot read the file (permission denied)", source=str(p)) from None
    except OSError as err:
        raise UserError(f"cannot read the file ({err.strerror})", source=str(p)) from None
    if len(data) > max_bytes:
        raise UserError(f"file is larger than {max_bytes} bytes", source=str(p))
    return data


def decode_utf8(data: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); invalid bytes are named by offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(
            f"not valid UTF-8 at byte {err.start} (found 0x{data[err.start]:02x})",
            source=source,
        ) from None


def read_text(path: Path | str, *, max_bytes: int = MAX_BYTES) -> str:
    """The file as UTF-8 text, with :func:`read_bytes`' and :func:`decode_utf8`'s errors."""
    return decode_utf8(read_bytes(path, max_bytes=max_bytes), str(path))


# -------------------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, non-string keys (when asked) and non-finite
    floats, and names the line of each."""

    string_keys = True
    finite = True
    source = "<yaml>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if self.string_keys and not isinstance(key, str):
                raise UserError(
                    f"keys must be strings, found {_short(key)}",
                    source=self.source,
                    key=f"line {line}",
                )
            try:
                if key in seen:
                    raise UserError(
                        f"duplicate key {_short(key)} (first at line {seen[key]})",
                        source=self.source,
                        key=f"line {line}",
                    )
                seen[key] = line
            except TypeError:  # an unhashable key (a list or a mapping used as a key)
                raise UserError(
                    f"keys must be strings, found {_short(key)}",
                    source=self.source,
                    key=f"line {line}",
                ) from None
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if self.finite and not math.isfinite(value):
            raise UserError(
                f"expected a finite number, found {node.value!r}",
                source=self.source,
                key=f"line {node.start_mark.line + 1}",
            )
        return value


_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)  # type: ignore[type-var]


def _expanded_size(root: yaml.Node, limit: int, source: str) -> int:
    """Nodes the document would have with every alias expanded (memoised, so linear in the
    composed graph); stops counting past ``limit``. A collection that contains itself
    (``&a [*a]``, an alias to one of its own ancestors) has no expansion: a UserError."""
    memo: dict[int, int | None] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            done = memo[key]
            if done is None:  # still being counted: the alias points at an ancestor
                raise UserError(
                    "not valid YAML here: a recursive alias (an anchor used inside itself)",
                    source=source,
                )
            return done
        memo[key] = None
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        memo[key] = total
        return total

    return size(root)


def _distinct_nodes(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
    return len(seen)


def load_yaml_text(text: str, source: str, *, string_keys: bool = True, finite: bool = True) -> Any:
    """Parse one YAML document with the rules in the module docstring."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # its reader refuses control characters here already
        loader.source = source
        loader.string_keys = string_keys
        loader.finite = finite
        node = loader.get_single_node()
        if node is None:
            return None
        distinct = _distinct_nodes(node)
        limit = max(_ALIAS_FLOOR, _ALIAS_FACTOR * distinct)
        if _expanded_size(node, limit, source) > limit:
            raise UserError(
                f"aliases expand to more than {limit} values ({distinct} written):"
                " refusing a document that grows on reading",
                source=source,
            )
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else None
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"not valid YAML: {problem}", source=source, key=where) from None
    except RecursionError:
        raise UserError("not valid YAML: nested too deeply", source=source) from None
    except ValueError as err:  # a constructor's: an int of 5000 digits, a 13th month
        problem = "a number of more than 4300 digits" if "digits" in str(err) else str(err)
        raise UserError(f"not valid YAML: {_short_text(problem)}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(
    path: Path | str, *, string_keys: bool = True, finite: bool = True, max_bytes: int = MAX_BYTES
) -> Any:
    """Read and parse a YAML file (see :func:`load_yaml_text`)."""
    return load_yaml_text(
        read_text(path, max_bytes=max_bytes), str(path), string_keys=string_keys, finite=finite
    )


# -------------------------------------------------------------------------------------- JSON


def _no_constant(name: str) -> Any:
    raise ValueError(f"expected a finite number, found {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, found {_short(text)}")
    return value


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_json_text(text: str, source: str, *, finite: bool = True) -> Any:
    """Parse JSON text: duplicate keys, NaN/Infinity and overflowing numbers are errors."""
    try:
        if finite:
            return json.loads(
                text,
                parse_constant=_no_constant,
                parse_float=_finite_float,
                object_pairs_hook=_unique_pairs,
            )
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as err:
        raise UserError(
            f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno} (char {err.pos})",
            source=source,
        ) from None
    except ValueError as err:  # our hooks, and int() of a number with too many digits
        raise UserError(f"not valid JSON: {_short_text(str(err))}", source=source) from None
    except RecursionError:
        raise UserError("not valid JSON: nested too deeply", source=source) from None


def load_json(path: Path | str, *, finite: bool = True, max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse a JSON file (see :func:`load_json_text`)."""
    return load_json_text(read_text(path, max_bytes=max_bytes), str(path), finite=finite)


def dumps_json(doc: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """JSON text that is valid JSON: a NaN or infinity anywhere is a bug, never ``NaN``."""
    return json.dumps(doc, indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------- CSV


def read_csv_rows(path: Path | str, *, max_bytes: int = MAX_BYTES) -> list[dict[str, str]]:
    """Rows of a CSV file with a header line, as dicts; malformed rows name their line."""
    text = read_text(path, max_bytes=max_bytes)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict[str, str]] = []
    try:
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise UserError(
                    "row has a different number of fields than the header",
                    source=str(path),
                    key=f"line {reader.line_num}",
                )
            rows.append(row)
    except csv.Error as err:
        raise UserError(
            f"not valid CSV: {err}", source=str(path), key=f"line {reader.line_num}"
        ) from None
    return rows


# ------------------------------------------------------------------------------------ writing


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: Path | str, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive advisory lock for ``path`` (a sidecar ``.<name>.lock``) for a whole
    read-modify-write; waits up to ``timeout`` seconds for another writer."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(_lock_path(p), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"cannot lock the file ({err.strerror})", source=str(p)) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserError(
                        f"another command has held the file's lock for {timeout:g}s; try again",
                        source=str(p),
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace(path: Path, data: bytes, mode: int | None) -> None:
    if path.is_dir():
        raise UserError("expected a file path, found a folder", source=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise UserError(f"cannot write the file ({err.strerror})", source=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write the file ({err.strerror})", source=str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _write_through(path: Path, data: bytes) -> None:
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as err:
        raise UserError(f"cannot write the file ({err.strerror})", source=str(path)) from None


def _is_special(path: Path) -> bool:
    """A device, pipe or socket (``/dev/null``, ``/dev/stdout``, a FIFO): written through,
    never replaced (a rename over ``/dev/null`` run as root would replace the device)."""
    try:
        mode = os.stat(path).st_mode  # follows symlinks: /dev/stdout -> /proc/self/fd/1
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def atomic_write(path: Path | str, data: str | bytes, *, lock: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (lock, temp in the same folder, fsync,
    rename). ``lock=False`` when the caller already holds :func:`locked` for ``path``. An
    existing file keeps its permission bits; a symlink stays a symlink (its target is
    replaced); a device or pipe is written through."""
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _is_special(p):
        _write_through(p, raw)
        return
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    mode = None
    with contextlib.suppress(OSError):
        mode = p.stat().st_mode & 0o7777
    if lock:
        with locked(p):
            _replace(p, raw, mode)
    else:
        _replace(p, raw, mode)


def append_jsonl(path: Path | str, entry: dict[str, Any], *, lock: bool = True) -> None:
    """Append one JSON line and fsync it before returning (an audit entry is on disk, or the
    caller got an error and must not go on)."""
    p = Path(path)
    line = json.dumps(entry, sort_keys=True, allow_nan=False) + "\n"
    if p.is_dir():  # refused before a lock file exists: bad input leaves nothing behind
        raise UserError("expected a file path, found a folder", source=str(p))

    def write() -> None:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise UserError(f"cannot write the log ({err.strerror})", source=str(p)) from None
        try:
            size = os.fstat(fd).st_size
            # A last line cut short (a crash, a full disk) stays as it is, and this entry
            # starts on a line of its own instead of being glued to it.
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            os.write(fd, (("\n" if torn else "") + line).encode("utf-8"))
            os.fsync(fd)
        except OSError as err:
            raise UserError(f"cannot write the log ({err.strerror})", source=str(p)) from None
        finally:
            os.close(fd)

    if lock:
        with locked(p):
            write()
    else:
        write()


def round_trip_yaml() -> Any:
    """A ruamel.yaml round-trip instance: comments, key order, quotes and flow style kept."""
    from ruamel.yaml import YAML  # only commands that edit YAML files pay for ruamel

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    return y


def update_yaml(path: Path | str, change: Callable[[Any], Any], *, lock: bool = True) -> Any:
    """Edit a YAML file in place keeping its formatting: load in round-trip mode (under the
    lock), call ``change(doc)`` (it mutates the document), write atomically. The file is read
    with :func:`load_yaml`'s rules first, so a broken file is an error and is left alone.
    Returns what ``change`` returned."""
    p = Path(path)

    def edit() -> Any:
        text = read_text(p)
        load_yaml_text(text, str(p))  # duplicate keys, bombs, bad bytes: refuse before editing
        mapping, dash_offset = _guess_layout(text)
        y = round_trip_yaml()
        # ruamel's `sequence` is the item content's indent, two past the dash at `offset`.
        y.indent(mapping=mapping, sequence=dash_offset + 2, offset=dash_offset)
        doc = y.load(text)
        result = change(doc)
        out = io.StringIO()
        y.dump(doc, out)
        _replace(p, out.getvalue().encode("utf-8"), p.stat().st_mode & 0o7777)
        return result

    if lock:
        with locked(p):
            return edit()
    return edit()


def _guess_layout(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset) of a block-style YAML file, from the first key whose
    children are a mapping and the first whose children are a sequence; (2, 0) when unsure.
    ruamel's own guess gives one indent for both, which misreads the common 2-space mapping
    with indented dashes."""
    mapping: int | None = None
    offset: int | None = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, nxt in itertools.pairwise(lines):
        if not line.rstrip().endswith(":"):
            continue
        base = len(line) - len(line.lstrip(" -"))
        child = len(nxt) - len(nxt.lstrip(" "))
        if child < base:
            continue
        if nxt.lstrip().startswith("- "):
            offset = child - base if offset is None else offset
        elif child > base:
            mapping = child - base if mapping is None else mapping
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset or 0


# ------------------------------------------------------------------------------------ helpers


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_text(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
