"""Command-line options generated from pydantic models: each option is declared once.

The typed models that are the Prefect flows' parameters (LearnerOptions, FleetSpec, ...) also
define the `zeb` command's options: a field `batch_size: int = Field(64, description=...)` becomes
`--batch-size INTEGER` with that help and default. A command declares the models it takes:

    @model_options(learner=ModelGroup(LearnerOptions, exclude={"experiment"}))
    def learner_command(exp: str = typer.Option(...), learner: dict | None = None): ...

and receives, per group, a dict holding only the options the user changed (so the model's own
defaults and validators decide the rest); `build_model` then validates it into the model with a
one-line error. Nested models are flattened (`FleetSpec.worker.sims` is `--sims`).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from infra.model_args import field_default

_SIMPLE = (int, float, str, bool, Path)


@dataclass(frozen=True)
class ModelGroup:
    model: type[BaseModel]
    exclude: frozenset[str] = frozenset()  # dotted paths ("vast", "worker.device") left out
    prefix: str = ""  # option name prefix, e.g. "evalaux-" for a second fleet's options
    panel: str | None = None  # the --help section the options are listed under
    defaults: dict[str, Any] = field(default_factory=dict)  # dotted path -> shown default
    nested_prefix: dict[str, str] = field(default_factory=dict)  # nested field -> its prefix


@dataclass(frozen=True)
class _Generated:
    group: str
    path: tuple[str, ...]
    default: Any
    from_cli: Callable[[Any], Any]


class OptionError(ValueError):
    """A value given on the command line does not fit the model (one line)."""


def model_options(**groups: ModelGroup) -> Callable[[Callable], Callable]:
    """Replace the groups' parameters of the decorated command by one option per model field."""

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)  # strings under __future__
        params = [
            p.replace(annotation=hints.get(name, p.annotation))
            for name, p in signature.parameters.items()
            if name not in groups
        ]
        generated: dict[str, _Generated] = {}
        for group, spec in groups.items():
            for name, param, gen in _fields(spec, spec.model, (), group):
                if name in generated or name in signature.parameters:
                    raise TypeError(f"option --{name} is declared twice")
                params.append(param)
                generated[name] = gen

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            values: dict[str, dict[str, Any]] = {group: {} for group in groups}
            for name, gen in generated.items():
                value = kwargs.pop(name)
                if value is None or value == gen.default:
                    continue  # unchanged: the model's default (and validators) apply
                _put(values[gen.group], gen.path, gen.from_cli(value))
            return fn(**kwargs, **values)

        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


def build_model(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """Validate option values into the model; the first problem as a one-line OptionError."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise OptionError(validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    """The first problem of a validation error as one line naming the option."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return message
    return f"bad option --{str(first['loc'][-1]).replace('_', '-')}: {message}"


def _fields(
    spec: ModelGroup,
    model: type[BaseModel],
    path: tuple[str, ...],
    group: str,
    prefix: str | None = None,
):
    prefix = spec.prefix if prefix is None else prefix
    for name, info in model.model_fields.items():
        full = (*path, name)
        dotted = ".".join(full)
        if dotted in spec.exclude:
            continue
        nested = _nested_model(info.annotation)
        if nested is not None:
            inner = spec.nested_prefix.get(dotted, prefix)
            yield from _fields(spec, nested, full, group, inner)
            continue
        option = prefix + name.replace("_", "-")
        default = spec.defaults.get(dotted, field_default(info))
        kind, from_cli = _cli_type(info.annotation, option)
        help_text = (info.description or "") + _choices(info.annotation)
        param_default = _option(option, default, kind, help_text, spec.panel)
        param = inspect.Parameter(
            option.replace("-", "_"),
            inspect.Parameter.KEYWORD_ONLY,
            default=param_default,
            annotation=kind,
        )
        yield param.name, param, _Generated(group, full, default, from_cli)


def _option(option: str, default: Any, kind: Any, help_text: str, panel: str | None):
    decls = [f"--{option}/--no-{option}"] if kind is bool else [f"--{option}"]
    return typer.Option(default, *decls, help=help_text, rich_help_panel=panel)


def _number_or_word(annotation: Any) -> bool:
    """An int, or one of a Literal's words."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return False
    args = [get_args(a)[0] if get_origin(a) is Annotated else a for a in get_args(annotation)]
    return len(args) == 2 and int in args and any(get_origin(a) is Literal for a in args)


def _choices(annotation: Any) -> str:
    inner = _strip_optional(annotation)
    if _number_or_word(inner):
        words = next(get_args(a) for a in get_args(inner) if get_origin(a) is Literal)
        return " (a number | " + " | ".join(words) + ")"
    if get_origin(inner) is not Literal:
        return ""
    return " (" + " | ".join(str(c) for c in get_args(inner)) + ")"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _cli_type(annotation: Any, option: str) -> tuple[Any, Callable[[Any], Any]]:
    """The type typer parses an option as, and how to turn its value back into the field's.

    A Literal is parsed as its values' type and checked by the model, so a bad choice is the
    same one-line error as any other bad value (the choices are listed in the help).
    """
    inner = _strip_optional(annotation)
    if get_origin(inner) is Literal:
        return type(get_args(inner)[0]), lambda v: v
    if get_origin(inner) is list:
        (item,) = get_args(inner)
        return list[item], list  # type: ignore[valid-type]
    if inner in _SIMPLE:
        return inner, lambda v: v
    if _number_or_word(inner):  # `target: int | "auto"`: the model checks the word
        return str, lambda v: int(v) if v.lstrip("-").isdigit() else v
    raise TypeError(f"--{option}: no command-line form for {annotation!r}")


def signature_model(fn: Callable, exclude: frozenset[str] = frozenset()) -> type[BaseModel]:
    """A model of a function's parameters (a flow's): the same types, defaults and descriptions
    Prefect shows in its UI become the command's options."""
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in exclude:
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints[name], default)
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    return create_model(f"{fn.__name__}_parameters", __config__=config, **fields)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
