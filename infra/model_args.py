"""A typed options model back to a command line: how a process starts a child (a worker, the
learner) with the same settings. The inverse of `zeb_cli.model_options`, which generates the
command's options from the same models: `--field-name VALUE` for each field that differs from its
default, `--flag/--no-flag` for booleans, a repeated option for lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


def field_default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None


def model_args(instance: BaseModel, exclude: Iterable[str] = (), prefix: str = "") -> list[str]:
    args: list[str] = []
    skipped = set(exclude)
    for name, info in type(instance).model_fields.items():
        value = getattr(instance, name)
        if name in skipped or value is None or value == field_default(info):
            continue
        option = "--" + prefix + name.replace("_", "-")
        if isinstance(value, BaseModel):
            raise TypeError(f"{option}: a nested model has no flat command line")
        if isinstance(value, bool):
            args.append(option if value else "--no-" + option[2:])
        elif isinstance(value, list):
            for item in value:
                args += [option, str(item)]
        else:
            args += [option, str(value)]
    return args
