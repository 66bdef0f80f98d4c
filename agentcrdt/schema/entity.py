"""``Entity``: a pydantic model whose fields are CRDTs, with pure builders for the ops that change it.

Builders return payload items for an ``ops`` event (``replica.commit("ops", {"ops": ops})``); they take
the entity's current :class:`EntityState` because OR-Set removes, MV writes and text edits must name
what the writer observed. :meth:`Entity.from_state` reads a state back under the declared types.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from agentcrdt.errors import SchemaError, UsageError
from agentcrdt.kernel import JSON
from agentcrdt.ops.state import _NAME_RE, DELETED, EntityState, op
from agentcrdt.schema import _ops
from agentcrdt.schema.fields import FieldSpec, InvalidEntityValue, MultiValue, build_spec

__all__ = ["BASE_FIELDS", "Entity"]

#: Fields every entity has; they come from the log (id, first/last touch, soft-delete flag), not a CRDT.
BASE_FIELDS = ("id", "created_at", "updated_at", "deleted")
_DERIVED_HINT = {
    "id": "the id names the entity; pass it as the first argument",
    "created_at": "created_at is derived from the log (the entity's first op)",
    "updated_at": "updated_at is derived from the log (the entity's latest op)",
    "deleted": "use delete_ops(entity_id) / restore_ops(entity_id) to change the soft-delete flag",
}


def _describe(owner: str, e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(entity)"
        got = repr(err.get("input"))
        got = got if len(got) <= 80 else got[:77] + "..."  # a long text must not drown the message
        parts.append(f"{owner}.{where}: {err['msg']} (got {got})")
    return "; ".join(parts)


def _invalid(owner: str, e: ValidationError) -> InvalidEntityValue:
    errors = e.errors(include_url=False)
    first = errors[0]["loc"][0] if errors and errors[0]["loc"] else None
    return InvalidEntityValue(_describe(owner, e), owner, None if first is None else str(first))


class Entity(BaseModel):
    """Base of typed entities. Subclass it; the entity type name is the class name unless given as
    ``class Task(Entity, entity_type="task")`` or ``entity_type: ClassVar[str] = "task"``."""

    model_config = ConfigDict(extra="forbid")

    entity_type: ClassVar[str] = "Entity"
    __crdt_fields__: ClassVar[Mapping[str, FieldSpec] | None] = None

    id: Annotated[str, Field(min_length=1, max_length=200)]
    created_at: int | None = None
    updated_at: int | None = None
    deleted: bool = False

    _conflicts: dict[str, list[Any]] = PrivateAttr(default_factory=dict)

    def __init_subclass__(cls, *, entity_type: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a name given on this class counts: a subclass is a different entity type.
        name = entity_type or cls.__dict__.get("entity_type") or cls.__name__
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise SchemaError(
                f"entity type {name!r} of {cls.__qualname__} must be an identifier of at most 63 characters "
                "(letters, digits, underscore); pass another one with `entity_type=`"
            )
        cls.entity_type = name

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.__crdt_fields__ = None
        if cls.__pydantic_complete__:  # else forward refs are pending: check on first use
            cls.crdt_fields()

    # -- schema -------------------------------------------------------------------------------------

    @classmethod
    def crdt_fields(cls) -> Mapping[str, FieldSpec]:
        """Return the CRDT-backed fields in declaration order (checked once, then cached)."""
        specs = cls.__dict__.get("__crdt_fields__")
        if specs is not None:
            return specs  # type: ignore[no-any-return]  # cached by this very method
        if not cls.__pydantic_complete__:
            try:
                cls.model_rebuild()
            except Exception as e:  # pydantic raises its own error types for unresolvable annotations
                raise SchemaError(f"{cls.__qualname__} has unresolved annotations: {e}") from e
        out: dict[str, FieldSpec] = {}
        for name, info in cls.model_fields.items():
            if name in BASE_FIELDS:
                continue
            if not _NAME_RE.fullmatch(name):
                raise SchemaError(f"{cls.__qualname__}.{name}: field names are at most 63 characters")
            out[name] = build_spec(cls.__qualname__, name, info)
        specs = MappingProxyType(out)
        cls.__crdt_fields__ = specs
        return specs

    # -- reading ------------------------------------------------------------------------------------

    @classmethod
    def from_state(cls, entity_id: str, state: EntityState) -> Self:
        """Read an entity from its state, each field under its declared CRDT type; validated by pydantic.

        Raises :class:`InvalidEntityValue` when a stored value does not validate (peers may run another
        version of the schema); :meth:`field_values` reads what it can instead.
        """
        data: dict[str, Any] = {
            "id": entity_id,
            "created_at": None if state.first is None else state.first[1],
            "updated_at": None if state.last is None else state.last[1],
            "deleted": state.deleted,
        }
        conflicts: dict[str, list[Any]] = {}
        for name, spec in cls.crdt_fields().items():
            value, concurrent = _ops.read(spec, state.fields.get((name, spec.crdt)))
            if value is not _ops.MISSING:
                data[name] = value
            if concurrent:
                conflicts[name] = concurrent
        try:
            obj = cls.model_validate(data, strict=False)
            for name, values in conflicts.items():
                adapter = cls.crdt_fields()[name].adapter
                obj._conflicts[name] = [adapter.validate_python(v, strict=False) for v in values]
        except ValidationError as e:
            raise _invalid(cls.entity_type, e) from e
        return obj

    def conflicts(self, field_name: str) -> list[Any]:
        """Return every concurrent value of a MultiValue field (oldest first), or [] when there is one."""
        spec = type(self).crdt_fields().get(field_name)
        if spec is None or not isinstance(spec.marker, MultiValue):
            raise UsageError(
                f"{self.entity_type}.{field_name} is not a MultiValue() field; only those conflict"
            )
        return list(self._conflicts.get(field_name, []))

    @classmethod
    def field_values(cls, state: EntityState | None) -> dict[str, Any]:
        """Read each field on its own, None where a stored value does not validate (never raises)."""
        out: dict[str, Any] = {}
        for name, spec in cls.crdt_fields().items():
            raw, _ = _ops.read(spec, None if state is None else state.fields.get((name, spec.crdt)))
            if raw is _ops.MISSING:
                info = cls.model_fields[name]
                out[name] = None if info.is_required() else info.get_default(call_default_factory=True)
                continue
            try:
                out[name] = spec.adapter.validate_python(raw, strict=False)
            except ValidationError:
                out[name] = None
        return out

    # -- writing ------------------------------------------------------------------------------------

    @classmethod
    def create_ops(cls, **values: Any) -> list[dict[str, Any]]:
        """Return ops creating an entity (``id=`` required) with ``values`` and defaults for the rest.

        Meant for a new id: counters increment from zero and text is inserted from the start. The
        soft-delete flag is written ``false`` too, so creating again an id that was deleted restores it.
        """
        if "id" not in values:
            raise UsageError(f"{cls.entity_type}.create_ops needs the entity id: create_ops(id=..., ...)")
        for name in BASE_FIELDS[1:]:
            if name in values:
                raise UsageError(f"{cls.entity_type}.create_ops: {_DERIVED_HINT[name]}")
        try:
            obj = cls(**values)
        except ValidationError as e:
            raise _invalid(cls.entity_type, e) from e
        ops = cls._ops_for(obj.id, None, {name: getattr(obj, name) for name in cls.crdt_fields()})
        return [op(cls.entity_type, obj.id, DELETED, "lww", {"set": False}), *ops]

    @classmethod
    def update_ops(
        cls, entity_id: str, current: EntityState | None, /, **changes: Any
    ) -> list[dict[str, Any]]:
        """Return the minimal ops taking the fields named in ``changes`` from ``current`` to new values.

        ``current`` is the entity's state as this writer sees it (None if it has none). Fields whose
        value would not change produce no op; ``[]`` means nothing to commit.
        """
        specs = cls.crdt_fields()
        for name in changes:
            if name in BASE_FIELDS:
                raise UsageError(f"{cls.entity_type}.update_ops: {_DERIVED_HINT[name]}")
            if name not in specs:
                known = ", ".join(specs) or "(none)"
                raise UsageError(f"{cls.entity_type} has no field {name!r}; its fields are: {known}")
        if not changes:
            return []
        return cls._ops_for(entity_id, current, cls._validate_changes(entity_id, current, changes))

    @classmethod
    def _validate_changes(
        cls, entity_id: str, current: EntityState | None, changes: dict[str, Any]
    ) -> dict[str, Any]:
        # validate_assignment runs field and model validators too; it works on a constructed instance
        # holding the current values, so cross-field validators see the rest of the entity.
        scratch = cls.model_construct(id=entity_id, **cls.field_values(current))
        frozen = bool(cls.model_config.get("frozen"))
        out: dict[str, Any] = {}
        for name, value in changes.items():
            try:
                if frozen:
                    out[name] = cls.crdt_fields()[name].adapter.validate_python(value)
                    continue
                cls.__pydantic_validator__.validate_assignment(scratch, name, value)
            except ValidationError as e:
                raise _invalid(cls.entity_type, e) from e
            out[name] = getattr(scratch, name)
        return out

    @classmethod
    def _ops_for(
        cls, entity_id: str, current: EntityState | None, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, spec in cls.crdt_fields().items():
            if name not in values:
                continue
            state = None if current is None else current.fields.get((name, spec.crdt))
            kernel_ops: list[JSON] = _ops.diff(spec, state, values[name], cls.entity_type)
            out.extend(op(cls.entity_type, entity_id, name, spec.crdt, k) for k in kernel_ops)
        return out

    @classmethod
    def delete_ops(cls, entity_id: str) -> list[dict[str, Any]]:
        """Return the op soft-deleting an entity (concurrent edits are kept; restore shows them)."""
        return [op(cls.entity_type, entity_id, DELETED, "lww", {"set": True})]

    @classmethod
    def restore_ops(cls, entity_id: str) -> list[dict[str, Any]]:
        """Return the op undoing a soft delete."""
        return [op(cls.entity_type, entity_id, DELETED, "lww", {"set": False})]
