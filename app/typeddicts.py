"""``typing.TypedDict`` → ``typing_extensions.TypedDict``, so pydantic can describe a graph's
state on Python 3.11.

pydantic refuses ``typing.TypedDict`` before Python 3.12 ("Please use
``typing_extensions.TypedDict``"), so LangGraph's ``get_input_jsonschema`` fails for the most
common way of writing a state (``class State(TypedDict)``) and the schemas LangGraph Studio
draws its forms from come out null. ``pydantic_compatible`` rebuilds such a class, and every
``typing.TypedDict`` nested in its fields, as a ``typing_extensions.TypedDict`` with the same
name, fields, required keys and ``Annotated`` metadata: the JSON schema is the one pydantic
gives for the original class on Python 3.12.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Annotated, Any, Union, get_args, get_origin

import typing_extensions


def needs_conversion(tp: Any) -> bool:
    """True for a ``typing.TypedDict`` class that pydantic refuses on this Python."""
    return (
        sys.version_info < (3, 12)
        and typing_extensions.is_typeddict(tp)
        and type(tp) is not typing_extensions._TypedDictMeta  # type: ignore[attr-defined]
    )


def pydantic_compatible(tp: Any, _seen: dict[int, Any] | None = None) -> Any:
    """``tp`` with each ``typing.TypedDict`` in it (itself, or in the arguments of a generic,
    ``Annotated``, a union) rebuilt as a ``typing_extensions.TypedDict``; other types as they
    are. Raises ``NameError`` when a field's annotation names something undefined."""
    seen = {} if _seen is None else _seen
    if needs_conversion(tp):
        if id(tp) in seen:
            return seen[id(tp)]
        hints = typing.get_type_hints(tp, include_extras=True)
        fields = {}
        for key, hint in hints.items():
            converted = pydantic_compatible(hint, seen)
            if key in tp.__required_keys__:
                fields[key] = typing_extensions.Required[converted]
            else:
                fields[key] = typing_extensions.NotRequired[converted]
        new = typing_extensions.TypedDict(tp.__name__, fields)  # type: ignore[operator]
        new.__module__ = tp.__module__
        new.__doc__ = tp.__doc__
        seen[id(tp)] = new
        return new
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or not args:
        return tp
    if origin is Annotated:
        return Annotated[(pydantic_compatible(args[0], seen), *tp.__metadata__)]
    converted = tuple(pydantic_compatible(a, seen) for a in args)
    if converted == args:
        return tp
    if origin in (Union, types.UnionType):
        return Union[converted]  # noqa: UP007 - built from a tuple of arguments
    try:
        return origin[converted]  # list[...], dict[...], tuple[...], Literal stays as is
    except TypeError:
        return tp
