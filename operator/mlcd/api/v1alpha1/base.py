"""Shared model configuration: camelCase on the wire, unknown fields refused."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """A part of a spec: camelCase field names, unknown fields are an error (a typo must not vanish)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, allow_inf_nan=False
    )

    def to_wire(self) -> dict:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class StatusModel(BaseModel):
    """A part of a status: written by the operator, read back leniently across versions.

    On the wire a status holds what was read or set, no more: a field left at its default is not
    written, so reading a status and writing it back changes nothing.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              validate_assignment=True)

    def to_wire(self) -> dict:
        return self.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
