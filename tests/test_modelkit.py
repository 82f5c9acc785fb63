"""The model kit (`dxagent.modelkit`) against pydantic, its oracle.

Two layers: small models written once and built with either implementation (a factory taking
the API as a namespace) over a corpus of valid and invalid inputs; then dxagent's own models
(config, every kind, profiles, register, self-reports, web config) run over generated configs in
two subprocesses, one with the kit and one with pydantic substituted (tests/modelkit_oracle.py).
Values, error types, locations and messages must be equal. Known, deliberate differences: a
union that is not `X | None` reports the errors of its best branch (pydantic: of every branch,
tagged), and `str(ValidationError)` never shows the input.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import pydantic_core
import pytest
import yaml

from dxagent import modelkit
from dxagent.config.types import Secret

ROOT = Path(__file__).resolve().parent.parent


class _PydanticSecret(Secret):
    """`Secret` with the pydantic hook it had before the kit, for the oracle side."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def validate(value: Any, info: Any) -> Secret:
            try:
                return Secret._validate(value, info)
            except modelkit.CustomError as exc:
                raise pydantic_core.PydanticCustomError(exc.type, exc.message_template, exc.context) from None

        return core_schema.with_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda v: "<secret>"))


PYD = types.SimpleNamespace(Secret=_PydanticSecret,
    BaseModel=pydantic.BaseModel, ConfigDict=pydantic.ConfigDict, Field=pydantic.Field,
    BeforeValidator=pydantic.BeforeValidator, AfterValidator=pydantic.AfterValidator,
    field_validator=pydantic.field_validator, model_validator=pydantic.model_validator,
    ValidationError=pydantic.ValidationError, CustomError=pydantic_core.PydanticCustomError)
KIT = types.SimpleNamespace(Secret=Secret,
    BaseModel=modelkit.BaseModel, ConfigDict=modelkit.ConfigDict, Field=modelkit.Field,
    BeforeValidator=modelkit.BeforeValidator, AfterValidator=modelkit.AfterValidator,
    field_validator=modelkit.field_validator, model_validator=modelkit.model_validator,
    ValidationError=modelkit.ValidationError, CustomError=modelkit.CustomError)


def build(api: types.SimpleNamespace) -> types.SimpleNamespace:
    """The same model definitions over either implementation; `trace` records validator order."""
    BaseModel, ConfigDict, Field = api.BaseModel, api.ConfigDict, api.Field
    BeforeValidator, AfterValidator, CustomError = api.BeforeValidator, api.AfterValidator, api.CustomError
    field_validator, model_validator, SecretT = api.field_validator, api.model_validator, api.Secret
    trace: list[str] = []

    def log(tag: str) -> Any:
        def f(v: Any) -> Any:
            trace.append(tag)
            return v
        return f

    def ratio(v: Any) -> Any:
        if isinstance(v, str) and v.endswith("%"):
            return float(v[:-1]) / 100
        if v == "custom":
            raise CustomError("ratio", "invalid ratio '{value}' {{literal}}", {"value": v})
        return v

    Ratio = Annotated[float, BeforeValidator(ratio), Field(ge=0, le=1)]
    Even = Annotated[int, AfterValidator(lambda v: v if v % 2 == 0 else (_ for _ in ()).throw(ValueError("odd")))]

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    class Inner(Strict):
        name: str = Field(min_length=1, max_length=8, pattern=r"^[a-z]+$")
        weight: float = Field(1.0, gt=0, le=100)

    class Scalars(Strict):
        i: int = 0
        f: float = 0.0
        b: bool = False
        s: str = ""
        p: Path = Path(".")
        lit: Literal["a", "b", "c"] = "a"
        opt: int | None = Field(None, ge=1, le=10)
        r: Ratio | None = None
        small: float = Field(0.5, ge=0.05, lt=5)

    class Containers(Strict):
        t: tuple[int, ...] = ()
        names: list[str] = Field(default_factory=list, max_length=3)
        d: dict[str, float] = Field(default_factory=dict)
        fixed: tuple[int, str] = (1, "a")
        inners: tuple[Inner, ...] = Field((), max_length=2)
        inner: Inner | None = None
        ratios: dict[str, Ratio] = Field(default_factory=dict)
        evens: tuple[Even, ...] = Field((), min_length=0)
        lits: tuple[Literal["udp", "tcp"], ...] = ("udp",)
        union: int | str = 0

    class Required(Strict):
        a: int
        b: Inner
        c: str = Field("x", min_length=1)

    class Loose(BaseModel):
        model_config = ConfigDict(extra="ignore", frozen=True)
        schema_: Literal["v1"] = Field(alias="schema")
        items: list[int] = Field(default_factory=list)
        note: str | None = None

    class Ordered(Strict):
        x: Annotated[int, BeforeValidator(log("b1")), BeforeValidator(log("b2")),
                     AfterValidator(log("a1")), AfterValidator(log("a2"))] = 0
        y: int = 0

        @field_validator("x", "y", mode="before")
        @classmethod
        def _fb(cls, v: Any, info: Any) -> Any:
            trace.append(f"fb:{info.field_name}:{sorted(info.data)}:{info.context}")
            return v

        @field_validator("x")
        @classmethod
        def _fa(cls, v: int) -> int:
            trace.append("fa")
            if v == 13:
                raise ValueError("unlucky")
            return v

        @model_validator(mode="before")
        @classmethod
        def _mb(cls, data: Any) -> Any:
            trace.append("mb")
            if data == "refuse":
                raise ValueError("refused before")
            return data

        @model_validator(mode="after")
        def _ma(self) -> Any:
            trace.append("ma")
            assert self.y != 7, "seven"
            if self.x == self.y == 3:
                raise ValueError("x and y both 3")
            return self

    class Child(Ordered):
        z: int = 0

        @model_validator(mode="before")
        @classmethod
        def _cb(cls, data: Any) -> Any:
            trace.append("cb")
            return data

        @model_validator(mode="after")
        def _ma(self) -> Any:  # overrides the parent's, keeps its place
            trace.append("child-ma")
            return self

    class Outer(Strict):
        inner: Inner = Field(default_factory=lambda: Inner(name="dflt"))
        many: list[Required] = Field(default_factory=list)
        secret: SecretT | None = None

    return types.SimpleNamespace(trace=trace, **{k: v for k, v in locals().items() if isinstance(v, type)})


P, K = build(PYD), build(KIT)

VALUES: list[Any] = ["443", " 443 ", "5.0", "1_000", "+5", 5.0, 1.5, True, False, None, [1], {"a": 1}, "", "x", 0, 1,
                     -1, 2, 2.0, 0.5, "yes", "OFF", "t", "1e3", "inf", float("nan"), "5%", "custom", "a", "A", "b"]


def outcome(ns: types.SimpleNamespace, model: str, data: Any, context: Any = None) -> Any:
    """("ok", python dump, json dump) or ("err", [(type, loc, msg)]) — what must be equal."""
    cls = getattr(ns, model)
    try:
        m = cls.model_validate(data, context=context)
    except (pydantic.ValidationError, modelkit.ValidationError) as exc:
        return ("err", [(e["type"], e["loc"], e["msg"]) for e in exc.errors(include_url=False, include_input=False)])
    return ("ok", _nan(m.model_dump()), _nan(m.model_dump(mode="json")), m.model_dump_json() if "nan" not in repr(m) else "")


def _nan(value: Any) -> Any:
    """NaN != NaN: compare it as a marker."""
    return json.loads(json.dumps(value, default=str).replace("NaN", '"nan"')) if "nan" in repr(value) else value


@pytest.mark.parametrize("field", ["i", "f", "b", "s", "p", "lit", "opt", "r", "small"])
def test_scalar_coercion_and_errors_match_pydantic(field: str) -> None:
    for value in VALUES:
        assert outcome(K, "Scalars", {field: value}) == outcome(P, "Scalars", {field: value}), (field, value)


CONTAINERS: list[dict[str, Any]] = [
    {}, {"t": [1, "2", 3.0]}, {"t": (1,)}, {"t": "12"}, {"t": [1, "x", 2.5]}, {"t": None}, {"t": {1, 2}},
    {"names": ("a", "b")}, {"names": ["a", 1]}, {"names": ["a", "b", "c", "d"]}, {"names": "abc"},
    {"d": {"a": "1.5"}}, {"d": {"a": "x", "b": None}}, {"d": {1: 1}}, {"d": []},
    {"fixed": [1]}, {"fixed": [1, "a", "b"]}, {"fixed": ["x", 2]}, {"fixed": ("7", "b")},
    {"inners": [{"name": "abc"}, {"name": "ABC", "weight": 0}]}, {"inners": [{"name": "a"}] * 3},
    {"inners": [{"name": "a", "extra": 1}, 5, None]}, {"inner": {"name": ""}}, {"inner": None}, {"inner": "x"},
    {"inner": {"name": "abcdefghij", "weight": "heavy"}}, {"ratios": {"a": "5%", "b": 0.2}},
    {"ratios": {"a": "150%", "b": "custom", "c": -1}}, {"evens": [2, "4", 3, 5.0]}, {"lits": ["tcp", "udp"]},
    {"lits": ["TCP", "sctp"]}, {"union": "5"}, {"union": 5}, {"union": 5.0}, {"union": True},
    {"t": [1], "names": [2], "d": 3, "fixed": 4, "zzz": 5, "inner": {"nope": 1}},
]


@pytest.mark.parametrize("data", CONTAINERS, ids=lambda d: json.dumps(d, default=str)[:60])
def test_containers_nested_models_and_locations_match_pydantic(data: dict[str, Any]) -> None:
    assert outcome(K, "Containers", data) == outcome(P, "Containers", data)


@pytest.mark.parametrize(("model", "data"), [
    ("Required", {}), ("Required", {"a": "1", "b": {"name": "x"}}), ("Required", {"b": {}}), ("Required", None),
    ("Required", [("a", 1)]), ("Required", {"a": 1, "b": {"name": "x"}, "c": ""}), ("Required", "text"),
    ("Loose", {"schema": "v1", "whatever": 1, "items": ["1", 2]}), ("Loose", {"schema_": "v1"}),
    ("Loose", {"schema": "v2", "note": 5}), ("Outer", {}), ("Outer", {"many": [{}, {"a": 1, "b": {"name": "q"}}]}),
    ("Outer", {"secret": "hunter2"}), ("Outer", {"secret": 5}), ("Outer", {"secret": {"env": "DX_MODELKIT_UNSET"}}),
    ("Outer", {"secret": {"file": "/nonexistent/secret"}}), ("Outer", {"inner": {"name": "ok", "weight": 101}}),
])
def test_required_aliases_extra_ignore_and_custom_types_match_pydantic(model: str, data: Any) -> None:
    assert outcome(K, model, data) == outcome(P, model, data)


@pytest.mark.parametrize("data", [{}, {"x": "4"}, {"x": 13}, {"x": 3, "y": 3}, {"y": 7}, "refuse", {"x": "q"},
                                  {"x": "q", "y": "r"}, {"x": 1, "z": 1}])
@pytest.mark.parametrize("model", ["Ordered", "Child"])
def test_validator_order_and_errors_match_pydantic(model: str, data: Any) -> None:
    K.trace.clear()
    P.trace.clear()
    assert outcome(K, model, data, context={"c": 1}) == outcome(P, model, data, context={"c": 1})
    assert K.trace == P.trace


def test_frozen_equality_hash_copy_and_construct() -> None:
    for ns in (K, P):
        a = ns.Inner(name="abc", weight="2")
        assert a == ns.Inner(name="abc", weight=2.0) and hash(a) == hash(ns.Inner(name="abc", weight=2))
        assert a != ns.Inner(name="abd") and a != "abc"
        with pytest.raises(Exception, match="frozen"):
            a.name = "x"
        b = a.model_copy(update={"weight": -5})  # not validated, as pydantic
        assert (b.name, b.weight, a.weight) == ("abc", -5, 2.0)
        c = ns.Containers.model_construct(t=(9,))
        assert c.t == (9,) and c.names == [] and c.fixed == (1, "a")
        assert repr(a) == "Inner(name='abc', weight=2.0)"
    assert K.Inner.model_validate(a_k := K.Inner(name="abc")) is a_k  # instances are not re-validated


def test_dump_modes_exclusions_and_json() -> None:
    for ns in (K, P):
        m = ns.Containers.model_validate({"t": [1, 2], "inners": [{"name": "a"}], "d": {"é": 1e-3}})
        assert m.model_dump(exclude={"d", "ratios"}, exclude_none=True)["t"] == (1, 2)
        assert "inner" not in m.model_dump(exclude_none=True)
        assert json.loads(m.model_dump_json()) == m.model_dump(mode="json")
    k = K.Containers.model_validate({"t": [1, 2], "inners": [{"name": "a"}], "d": {"é": 1.5}})
    p = P.Containers.model_validate({"t": [1, 2], "inners": [{"name": "a"}], "d": {"é": 1.5}})
    assert k.model_dump_json() == p.model_dump_json()  # compact, UTF-8 as is
    lk, lp = K.Loose.model_validate({"schema": "v1"}), P.Loose.model_validate({"schema": "v1"})
    assert lk.model_dump(by_alias=True) == lp.model_dump(by_alias=True) == {"schema": "v1", "items": [], "note": None}
    assert lk.model_dump_json(by_alias=True) == lp.model_dump_json(by_alias=True)


def test_secrets_stay_masked_in_dumps_reprs_and_errors() -> None:
    o = K.Outer.model_validate({"secret": "hunter2"})
    assert "hunter2" not in repr(o) + str(o) + o.model_dump_json() + str(o.model_dump())
    with pytest.raises(modelkit.ValidationError) as err:
        K.Required.model_validate({"a": "hunter2", "b": {"name": "hunter2!"}})
    assert "hunter2" not in str(err.value)
    assert "Input should be a valid integer" in str(err.value)


def test_model_fields_expose_what_configdoc_reads() -> None:
    for ns in (K, P):
        f = ns.Scalars.model_fields
        assert list(f) == ["i", "f", "b", "s", "p", "lit", "opt", "r", "small"]
        assert f["i"].annotation is int and not f["i"].is_required() and f["i"].default == 0
        assert f["opt"].annotation == (int | None)
        assert ns.Required.model_fields["a"].is_required()
        assert ns.Containers.model_fields["names"].default_factory is list
        assert ns.Loose.model_fields["schema_"].alias == "schema"


def test_limits_nan_float_formatting_in_messages() -> None:
    assert modelkit.ValidationError("M", []).error_count() == 0
    from dxagent.modelkit_fields import number

    assert [number(x) for x in (0, 5.0, 0.05, 1e-5, 1e20, 16 * 2**20)] == ["0", "5", "0.05", "0.00001",
                                                                           "100000000000000000000", "16777216"]
    assert math.isnan(K.Scalars(f="nan").f)


# --------------------------------------------------------------------- dxagent's own models, both ways

def _kind_examples() -> dict[str, dict[str, Any]]:
    from dxagent import checks

    out = {}
    for kind in sorted(checks.KINDS):
        example = getattr(checks.module(kind), "EXAMPLE", "")
        if example:
            out[kind] = yaml.safe_load(example)[0]
    return out


BAD_VALUES: list[Any] = [None, "x", -1, 0, 1.5, [], {}, True, "1e3", "70000", ["a", 1], {"warn": "soon"}]


def _config(data: dict[str, Any]) -> tuple[str, str]:
    """A generated config; the readiness profile is not loaded (pure-Python YAML: 30 ms each) unless tested."""
    return ("config", yaml.safe_dump({"readiness": {"enabled": False}, **data}))


def _corpus() -> list[tuple[str, str]]:
    """Every built-in config and each kind's example, then each field of them broken in many ways."""
    corpus = [("config", p.read_text(encoding="utf-8")) for p in sorted((ROOT / "agent/defaults").glob("*.yml"))]
    from dxagent.config.doc import sample_text

    corpus.append(("config", sample_text()))
    for item in _kind_examples().values():
        corpus.append(_config({"checks": [item]}))
        for key in item:
            if key not in ("id", "kind"):
                corpus.append(_config({"checks": [{k: v for k, v in item.items() if k != key}]}))
            for bad in BAD_VALUES:
                corpus.append(_config({"checks": [{**item, key: bad}]}))
        corpus.append(_config({"checks": [{**item, "surprise": 1, "thresholds": {"warn_x": 1}}]}))
    sections = {"site": {"id": "a-b", "staff": 3}, "server": {"listen": "127.0.0.1:1"}, "store": {"retention": "10d"},
                "push": {"url": "http://p:9091"}, "snapshot": {"interval": "1m"},
                "notify": {"webhooks": [{"url": "http://h/x"}], "email": {"host": "m", "sender": "a@b", "to": ["c@d"]}},
                "readiness": {"profile": "plan02"}, "labels": {"team": "x"}, "lang": "vi", "concurrency": 4}
    for section, good in sections.items():
        corpus.append(_config({section: good}))
        for bad in BAD_VALUES:
            corpus.append(_config({section: bad}))
            if isinstance(good, dict):
                for key in good:
                    corpus.append(_config({section: {**good, key: bad}}))
    corpus += [("profile", (ROOT / "reports/profiles/plan02.yml").read_text(encoding="utf-8")),
               ("profile", "id: p\nname: {vi: a, en: b}\nsource: abc\ntargets:\n  - {id: T, name: {vi: x}, source: s,"
                           " criteria: [{label: {vi: a, en: b}, measure: mean, compare: '>=', threshold: x}]}\n"),
               ("register", (ROOT / "agent/defaults/register-sample.csv").read_text(encoding="utf-8")),
               ("register", "hostname,mac,ip,type\npc1,zz,1.2.3.4,laptop\n,,,\npc2,00:11:22:33:44:55,999.1.1.1,toaster\n"),
               ("webconfig", "basic_auth_users: {a: nothash}\nhttp_server_config: {headers: {'X-A': 'b'}, http2: maybe}\n"),
               ("webconfig", "tls_server_config: {cert_file: /x, key_file: /y, client_auth_type: Bad, min_version: TLS99}\n")]
    report = {"schema": "dxagent.inventory/1", "sent_at": 1.5, "agent_version": "1",
              "facts": {"hostname": "pc-1", "os": {"name": "Debian"}, "disks": [{"device": "/dev/sda", "mount": "/",
                                                                               "total_bytes": 10, "used_bytes": 5,
                                                                               "free_bytes": "5"}]}}
    corpus += [("selfreport", json.dumps(report)),
               ("selfreport", json.dumps({**report, "facts": {**report["facts"], "hostname": "-bad", "os": {}}})),
               ("selfreport", json.dumps({**report, "schema": "other", "sent_at": "soon", "x": 1}))]
    return corpus


def _run(impl: str, corpus: list[tuple[str, str]]) -> list[Any]:
    out = subprocess.run([sys.executable, str(ROOT / "tests/modelkit_oracle.py"), impl], input=json.dumps(corpus),
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_dxagent_models_give_the_same_values_and_problems_as_with_pydantic() -> None:
    corpus = _corpus()
    kit, pyd = _run("kit", corpus), _run("pydantic", corpus)
    assert len(kit) == len(pyd) == len(corpus) > 500
    for (what, text), k, p in zip(corpus, kit, pyd, strict=True):
        assert k == p, f"{what}:\n{text}"
    assert sum("problems" in k for k in kit) > 400  # the corpus mostly breaks things


def test_runtime_imports_neither_pydantic_nor_pydantic_core() -> None:
    code = ("import sys, dxagent.daemon, dxagent.config as c; c.load_default(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


class _Early(modelkit.BaseModel):
    """Refers to a model defined below: annotations are resolved on first use, not at class creation."""

    later: _Later | None = None
    many: tuple[_Later, ...] = ()


class _Later(modelkit.BaseModel):
    x: int = 1


def test_forward_references_resolve_on_first_use() -> None:
    e = _Early.model_validate({"later": {"x": "2"}, "many": [{}, {"x": 3}]})
    assert e.later == _Later(x=2) and [m.x for m in e.many] == [1, 3]


def test_a_validator_for_an_unknown_field_fails_on_first_use_unless_told() -> None:
    class Typo(modelkit.BaseModel):
        name: str = ""

        @modelkit.field_validator("nmae")
        @classmethod
        def _check(cls, v: str) -> str:
            return v

    with pytest.raises(TypeError, match="unknown field"):
        Typo()

    class Base(modelkit.BaseModel):
        @modelkit.field_validator("port", check_fields=False)
        @classmethod
        def _check(cls, v: int) -> int:
            return v + 1

    class Sub(Base):
        port: int = 0

    assert Sub(port="1").port == 2 and Base().model_dump() == {}


def test_unsupported_settings_and_annotations_are_refused() -> None:
    with pytest.raises(TypeError, match="strict"):
        modelkit.ConfigDict(strict=True)
    with pytest.raises(TypeError, match="unknown constraint"):
        modelkit.Field(multiple_of=2)

    class Odd(modelkit.BaseModel):
        x: typing.Callable[[], int] | None = None

    with pytest.raises(TypeError, match="does not support"):
        Odd()
