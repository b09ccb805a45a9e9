"""`value`: the decorator of the domain's hot value types (entries, portions).

A value is never changed once made. The type checker holds every caller to that: to it
a value is a frozen dataclass. At run time it is a plain slotted dataclass (hashable by
its fields, as a frozen one is), because a frozen dataclass sets each field through
`object.__setattr__` when it is built, which makes building one with 20 fields about
ten times slower, and a run builds millions of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from typing_extensions import dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def value(cls: type[T]) -> type[T]:
    return dataclass(slots=True, unsafe_hash=True)(cls)
