"""Loading untrusted YAML (manifests, voice profiles) within bounds.

Both manifests and voice profiles are read by :func:`load_yaml_file`. It is
``yaml.SafeLoader`` (only plain data: mappings, lists, strings, numbers, booleans, null,
timestamps) with these rules on top, each refused with an error that gives the line:

- **no aliases** (``*name``) and **no merge keys** (``<<``): an alias repeats a whole
  subtree, so a few hundred bytes of anchors and aliases can stand for billions of values (the
  "billion laughs"). Anchors (``&name``) alone are harmless and ignored. Write values out.
- **no duplicate keys** in a mapping: the error names the key and both lines (plain
  ``yaml.safe_load`` silently keeps the last one).
- at most :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES` values in all;
- numbers of at most :data:`MAX_NUMBER_CHARS` characters (Python refuses to parse longer
  decimal integers, and sexagesimal ones take quadratic time);
- at most :data:`MAX_YAML_BYTES` bytes of UTF-8 text, without control characters.

Events come from libyaml's parser when PyYAML was built with it (fast), else from PyYAML's
pure-Python parser; the rules are enforced on the events and nodes by the Python code here
either way, so loading any input stays within bounded time and memory.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from castline.errors import quoted, shorten

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_NUMBER_CHARS",
    "YamlError",
    "load_yaml",
    "load_yaml_file",
]

MAX_YAML_BYTES = 1 << 20
"""Largest file :func:`load_yaml_file` reads (1 MiB)."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists."""
MAX_NODES = 100_000
"""Most values (scalars, mappings and lists) in one document."""
MAX_NUMBER_CHARS = 100
"""Longest number (``int`` or ``float`` scalar) in characters."""

_MERGE_TAG = "tag:yaml.org,2002:merge"

# What YAML 1.1 accepts as text: tab, line breaks and printable characters (no C0/C1 controls,
# no surrogates, no U+FFFE/U+FFFF).
_NOT_PRINTABLE_RE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _PyEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event source."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _libyaml_events() -> type | None:
    """libyaml's event source, when PyYAML was built with it."""
    try:
        from yaml import cyaml
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        return None
    return getattr(cyaml, "CParser", None)


_CEvents = _libyaml_events()


def _printable(text: str) -> str:
    """``text`` with control characters and the like escaped (``\\x1b``), safe to print."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii") for ch in text)


class YamlError(Exception):
    """A YAML document is malformed, or breaks one of this module's rules.

    ``str()`` is one line: ``line 3, column 7: <problem>``. ``syntax`` is true for YAML syntax
    errors (as opposed to valid YAML this module refuses).
    """

    def __init__(self, problem: str, line: int | None = None, column: int | None = None, *, syntax: bool = False) -> None:
        self.problem = shorten(_printable(" ".join(shorten(problem, 1000).split())), 300)
        self.line = line
        self.column = column
        self.syntax = syntax
        if line is None:
            where = ""
        elif column is None:
            where = f"line {line}: "
        else:
            where = f"line {line}, column {column}: "
        super().__init__(f"{where}{self.problem}")


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML this loader refuses (an alias, a duplicate key, too deep...)."""


def _refuse(problem: str, node_or_event: Any) -> _Refused:
    return _Refused(problem=problem, problem_mark=node_or_event.start_mark)


class _Rules(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """Composing (events -> nodes) and constructing (nodes -> values) under the module's rules.

    A loader puts this class before a parser class (the event source) in its bases, so that
    :meth:`get_single_node` here replaces any composer the parser has (libyaml's resolves aliases).
    """

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.what = "YAML document"
        self.nodes = 0

    if TYPE_CHECKING:  # provided by the parser mixed in

        def get_event(self) -> Any: ...
        def peek_event(self) -> Any: ...
        def check_event(self, *choices: Any) -> bool: ...

    # -- composing: events -> nodes ---------------------------------------------------------

    def get_single_node(self) -> Node | None:
        self.get_event()  # StreamStart
        document = None
        if not self.check_event(StreamEndEvent):
            self.get_event()  # DocumentStart
            document = self._compose(0)
            self.get_event()  # DocumentEnd
        if not self.check_event(StreamEndEvent):
            raise _refuse(f"a second document in the stream; a {self.what} is one YAML document", self.get_event())
        self.get_event()  # StreamEnd
        return document

    def _compose(self, depth: int) -> Node:
        event: Any = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _refuse(
                f"aliases (*name) are not allowed in a {self.what} (found *{shorten(str(event.anchor), 40)}); "
                "write the value out in full",
                event,
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refuse(f"more than {MAX_NODES} values; a {self.what} is never that large", event)
        if depth >= MAX_DEPTH and not isinstance(event, ScalarEvent):
            raise _refuse(f"nested more than {MAX_DEPTH} levels deep", event)
        self.get_event()
        tag = event.tag
        start: Any = event.start_mark
        if isinstance(event, ScalarEvent):
            if tag is None or tag == "!":
                tag = self.resolve(ScalarNode, event.value, event.implicit)
            return ScalarNode(tag, event.value, start, cast(Any, event).end_mark, style=event.style)
        if isinstance(event, SequenceStartEvent):
            if tag is None or tag == "!":
                tag = self.resolve(SequenceNode, None, event.implicit)
            seq = SequenceNode(tag, [], start, None, flow_style=event.flow_style)
            while not self.check_event(SequenceEndEvent):
                seq.value.append(self._compose(depth + 1))
            seq.end_mark = self.get_event().end_mark
            return seq
        if isinstance(event, MappingStartEvent):
            if tag is None or tag == "!":
                tag = self.resolve(MappingNode, None, event.implicit)
            mapping = MappingNode(tag, [], start, None, flow_style=event.flow_style)
            while not self.check_event(MappingEndEvent):
                key = self._compose(depth + 1)
                mapping.value.append((key, self._compose(depth + 1)))
            mapping.end_mark = self.get_event().end_mark
            return mapping
        raise ComposerError(None, None, f"unexpected {type(event).__name__}", event.start_mark)  # pragma: no cover

    # -- constructing: nodes -> Python values -----------------------------------------------

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping node, but found {node.id}", node.start_mark)
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise _refuse(f"merge keys (<<) are not allowed in a {self.what}; write the keys out in full", key_node)
        self.flatten_mapping(node)  # only turns '=' value keys into strings, now
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
                )
            try:
                seen = first_line.get(key)
            except TypeError:  # a tuple or the like holding something unhashable
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
                ) from None
            if seen is not None:
                raise _refuse(f"duplicate key {quoted(key, 80)} (first given on line {seen})", key_node)
            first_line[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """PyYAML's, with a constructor's own complaint about a scalar turned into a marked error
        (``!!int ""`` raises IndexError there, ``!!bool x`` KeyError, ``!!float x`` ValueError)."""
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, IndexError, KeyError, AttributeError, TypeError, OverflowError):
            kind = str(node.tag).rsplit(":", 1)[-1]
            value = quoted(node.value, 60) if isinstance(node, ScalarNode) else "this value"
            raise ConstructorError(None, None, f"{value} is not a valid {kind}", node.start_mark) from None

    def _number_text(self, node: ScalarNode) -> None:
        value = node.value
        if isinstance(node, ScalarNode) and len(value) > MAX_NUMBER_CHARS:
            raise _refuse(f"a number of {len(value)} characters; at most {MAX_NUMBER_CHARS} are allowed", node)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        self._number_text(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        self._number_text(node)
        return super().construct_yaml_float(node)

    def construct_yaml_timestamp(self, node: ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:  # 2024-13-45, an offset of 99 hours...
            raise ConstructorError(None, None, f"not a valid date or time: {exc}", node.start_mark) from None


for _tag, _constructor in (
    ("tag:yaml.org,2002:int", _Rules.construct_yaml_int),
    ("tag:yaml.org,2002:float", _Rules.construct_yaml_float),
    ("tag:yaml.org,2002:timestamp", _Rules.construct_yaml_timestamp),
):
    cast(Any, _Rules).add_constructor(_tag, _constructor)


class _PyLoader(_Rules, _PyEvents):
    """The rules over PyYAML's pure-Python parser."""

    def __init__(self, stream: str, what: str) -> None:
        _PyEvents.__init__(self, stream)
        _Rules.__init__(self)
        self.what = what


_LOADERS: dict[str, type[_Rules]] = {"python": _PyLoader}
"""The loaders by event source: ``python`` always, ``libyaml`` when PyYAML was built with it.
The rules (composing and constructing) are this module's Python code in both."""

if _CEvents is not None:

    class _CLoader(_Rules, _CEvents):  # type: ignore[valid-type, misc]
        """The rules over libyaml's parser (our get_single_node comes first in the MRO)."""

        def __init__(self, stream: str, what: str) -> None:
            cast(Any, _CEvents).__init__(self, stream)
            _Rules.__init__(self)
            self.what = what

    _LOADERS["libyaml"] = _CLoader

_LOADER: type[_Rules] = _LOADERS.get("libyaml", _PyLoader)
"""The loader :func:`load_yaml` uses."""


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _from_yaml_error(exc: yaml.YAMLError) -> YamlError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if exc.problem and exc.context:
            ctx = exc.context_mark
            started = f" started on line {ctx.line + 1}" if ctx is not None and mark is not None and ctx.line != mark.line else ""
            problem = f"{problem} ({exc.context}{started})"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        return YamlError(problem, line, column, syntax=not isinstance(exc, _Refused))
    if isinstance(exc, yaml.reader.ReaderError):
        return YamlError(str(exc.reason), syntax=True)
    return YamlError(str(exc) or type(exc).__name__, syntax=True)


def load_yaml(text: str, what: str = "YAML document") -> Any:
    """Parse one YAML document under the module's rules.

    ``what`` names the kind of document in messages (``"manifest"``: "aliases (*name) are not
    allowed in a manifest"). Raises :class:`YamlError` for anything that is not a document
    these rules accept; nothing else.
    """
    bad = _NOT_PRINTABLE_RE.search(text)
    if bad is not None:
        line, column = _position(text, bad.start())
        raise YamlError(f"control character U+{ord(bad.group()):04X} is not allowed in YAML", line, column, syntax=True)
    loader: Any = _LOADER(text, what)  # type: ignore[call-arg]  # (stream, what): see _PyLoader
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _from_yaml_error(exc) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # a constructor's own complaint, without a mark
        raise YamlError(f"{type(exc).__name__}: {exc}") from None
    finally:
        if hasattr(loader, "dispose"):
            loader.dispose()


def load_yaml_file(path: str | Path, what: str = "YAML document", max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Read a UTF-8 YAML file of at most ``max_bytes`` bytes and parse it with :func:`load_yaml`.

    Raises ``FileNotFoundError`` and other ``OSError`` as they come, and :class:`YamlError`
    for a file that is too large, not UTF-8 or not acceptable YAML. Never reads more than
    ``max_bytes`` + 1 bytes, whatever the file (a pipe, ``/dev/zero``) says its size is.
    """
    with open(path, "rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlError(f"{what} is larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", line) from None
    return load_yaml(text, what)
