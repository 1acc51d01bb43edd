"""pydantic's ValidationError -> our Problems, with messages a ComfyUI user can act on."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ValidationError

from .errors import Loc, Problem, field_path
from .rules import RULES_ERROR_TYPE

_TYPE_WORDS = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "missing": "is required",
}


def problems_from_validation_error(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        if err["type"] == RULES_ERROR_TYPE:
            problems.extend(err["ctx"]["problems"])
        else:
            problems.append(_problem(err, model))
    return problems


def _problem(err: Any, model: type[BaseModel]) -> Problem:
    loc: Loc = tuple(err["loc"])
    kind: str = err["type"]
    got = f" (got {_show(err.get('input'))})"
    if kind == "literal_error":
        choices = _choices(model, loc)
        listed = ", ".join(choices) if choices else err.get("ctx", {}).get("expected", "?")
        message = f"must be one of {listed}{got}"
    elif kind == "extra_forbidden":
        message = _unknown_field(model, loc)
    elif kind == "missing":
        message = _TYPE_WORDS[kind]
    elif kind in _TYPE_WORDS:
        message = _TYPE_WORDS[kind] + got
    else:
        text = str(err.get("msg", kind))
        message = text[:1].lower() + text[1:]
    return Problem(field_path(loc), message, kind, loc=loc, fal_type=kind, fal_msg=err.get("msg"))


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown_field(model: type[BaseModel], loc: Loc) -> str:
    owner = _model_at(model, loc[:-1])
    if owner is model:
        title = getattr(model, "TITLE", model.__name__)
        return f"is not an input of {title} (unknown field)"
    known = ", ".join(owner.model_fields) if owner is not None else "?"
    return f"is not a known field here; expected one of {known}"


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/list[...]."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    if origin is list:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _annotation_at(model: type[BaseModel], loc: Loc) -> Any:
    current: Any = model
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the item type is found by _unwrap
        models = [t for t in _unwrap(current) if isinstance(t, type) and issubclass(t, BaseModel)]
        if not models or part not in models[0].model_fields:
            return None
        annotation = current = models[0].model_fields[part].annotation
    return annotation


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    if not loc:
        return model
    found = [t for t in _unwrap(_annotation_at(model, loc))
             if isinstance(t, type) and issubclass(t, BaseModel)]
    return found[0] if found else None


def _choices(model: type[BaseModel], loc: Loc) -> list[str]:
    for t in _unwrap(_annotation_at(model, loc)):
        if typing.get_origin(t) is Literal:
            return [str(v) for v in typing.get_args(t)]
    return []
