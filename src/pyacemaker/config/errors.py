"""Loading the user's YAML with errors a person can act on.

Every problem becomes one line: the field's dotted path, the bad value, what is
wrong and the fix (taken from the field's description), so ``pyacemaker validate``
can print them all at once with no traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from pyacemaker.config.schema import RunConfig

# Paths in the YAML are relative to the YAML file, so a config can be run from anywhere.
_RELATIVE_PATHS = (("structure", "file"), ("dft", "pseudo_dir"))


class ConfigError(ValueError):
    """One or more problems in a configuration, one line each."""

    def __init__(self, problems: list[str]) -> None:
        """Keep the problems as a list so the CLI can print them line by line."""
        self.problems = problems
        super().__init__("\n".join(problems))


def _field_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The schema field at a dotted location (None when the path leaves the schema)."""
    current: Any = model
    field = None
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
    return field


def _field_description(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The description of the field at ``loc``, or of the mapping that holds it (dict keys)."""
    field = _field_at(model, loc) or (_field_at(model, loc[:-1]) if len(loc) > 1 else None)
    return field.description if field else None


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    field = _field_at(model, loc) if loc else None
    owner = field.annotation if field else (None if loc else model)
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        return ", ".join(owner.model_fields)
    return "?"


def format_error(model: type[BaseModel], error: ErrorDetails) -> str:
    """One line: ``field: got <value>: <problem>; expected <fix>``."""
    full = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
    where = ".".join(str(p) for p in full) or "(top level)"
    loc = tuple(p for p in full if not isinstance(p, int))  # list items share their field
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        parent = _field_description(model, loc[:-1]) if len(loc) > 1 else None
        allowed = _allowed_keys(model, loc[:-1])
        return f"{where}: unknown key; remove it or use one of: {allowed}" + (
            f" ({parent})" if parent else ""
        )
    if error["type"] == "missing":
        fix = _field_description(model, loc)
        return f"{where}: missing; add it" + (f" ({fix})" if fix else "")
    fix = _field_description(model, loc)
    value = repr(error.get("input"))[:80]
    return f"{where}: got {value}: {message}" + (f"; expected {fix}" if fix else "")


def _absolute(value: Any, base: Path) -> Any:
    """A path string (or list of them) made absolute against ``base``; anything else as is."""
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    if not isinstance(value, str):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path))


def _resolve_relative(data: dict[str, Any], base: Path) -> None:
    for section, key in _RELATIVE_PATHS:
        block = data.get(section)
        if isinstance(block, dict) and key in block:
            block[key] = _absolute(block[key], base)


def parse_config(data: Any, base: Path = Path()) -> RunConfig:
    """Validate already-loaded YAML data; relative paths are taken from ``base``."""
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping with at least 'structure:'"])
    _resolve_relative(data, base)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([format_error(RunConfig, e) for e in exc.errors()]) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file; every problem becomes a ConfigError line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: no such config file"])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({exc})".replace("\n", " ")]) from None
    return parse_config(data, path.parent.resolve())
