"""Reading a folder of YAML definition files: the one loader the pattern pack and the playbooks share.

Each `*.yml` of the folder holds a `version`, an optional `description` and a list of
entries under one key (`patterns`, `playbooks`). Files are read in name order; YAML that
repeats a key in one mapping is refused (plain YAML keeps the last value silently); every
entry is validated by its model, its id must start with the file's stem and be unique in
the folder. Errors come from the caller's `fail(message, file, entry id, line)`, so each
kind of definition names itself in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from liberation_guardian.errors import ConfigError


class Strict(BaseModel):
    """A definition model: unknown keys refused, values not coerced, frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Definition(Strict):
    """An entry of a definition file; its id is `<file stem>.<name>`."""

    id: str


class DefinitionFile(Strict):
    """One definition file: a version, a description, and its entries under a key of the subclass."""

    version: int = Field(ge=1)
    description: str | None = None


Entry = TypeVar("Entry", bound=Definition)
# Builds the error to raise: message, file name, entry id (or None), line (or None).
Fail = Callable[[str, str, str | None, int | None], ConfigError]


@dataclass(frozen=True)
class Folder(Generic[Entry]):
    """The entries of a folder in file order, each file's version, and the file each entry came from."""

    entries: tuple[Entry, ...]
    versions: dict[str, int]
    origin: dict[str, str]


def read_folder(
    folder: Path, *, key: str, file_model: type[DefinitionFile], entry_model: type[Entry], noun: str, fail: Fail
) -> Folder[Entry]:
    """Every entry of every `*.yml` of `folder`, validated; `noun` names the kind of file in errors."""
    if not folder.is_dir():
        raise fail(f"no such {noun} folder", str(folder), None, None)
    files = sorted(folder.glob("*.yml"))
    if not files:
        raise fail(f"the folder holds no *.yml {noun} files", str(folder), None, None)
    entries: list[Entry] = []
    versions: dict[str, int] = {}
    origin: dict[str, str] = {}
    for path in files:
        version, loaded = _read_file(path, key, file_model, entry_model, fail)
        versions[path.name] = version
        for entry in loaded:
            if entry.id in origin:
                raise fail(f"duplicate id, first defined in {origin[entry.id]}", path.name, entry.id, None)
            origin[entry.id] = path.name
            entries.append(entry)
    return Folder(tuple(entries), versions, origin)


def _read_file(
    path: Path, key: str, file_model: type[DefinitionFile], entry_model: type[Entry], fail: Fail
) -> tuple[int, list[Entry]]:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise fail(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", path.name, None, line) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the file: {exc}", path.name, None, None) from None
    try:
        document = file_model.model_validate(raw)
    except ValidationError as exc:
        raise fail(describe(exc), path.name, None, None) from None
    entries = []
    for number, raw_entry in enumerate(getattr(document, key)):
        name = raw_entry.get("id") if isinstance(raw_entry.get("id"), str) else f"#{number + 1}"
        try:
            entry = entry_model.model_validate(raw_entry)
        except ValidationError as exc:
            raise fail(describe(exc), path.name, name, None) from None
        if entry.id.split(".", 1)[0] != path.stem:
            raise fail(f"the id must start with the file's stem {path.stem!r}", path.name, entry.id, None)
        entries.append(entry)
    return document.version, entries


def describe(exc: ValidationError) -> str:
    """A validation error as one line: `where: what; where: what`."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping, which YAML would silently drop."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
