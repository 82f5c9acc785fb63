"""Run dxagent's real models over a corpus with the model kit or with pydantic, print the outcomes as JSON.

    python tests/modelkit_oracle.py kit|pydantic < corpus.json > outcomes.json

With `pydantic`, `dxagent.modelkit` is replaced (before any dxagent model is defined) by a shim
mapping the same names to pydantic, and `Secret` gets back its pydantic hook; the code of every
model is then exactly what runs in production, validated by the other implementation. The test
(`tests/test_modelkit.py`) compares the two outputs entry by entry. Each corpus entry is
`[what, text]` with `what` one of config, profile, register (CSV), selfreport (JSON), webconfig.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import types
from typing import Any


def _pydantic_shim() -> None:
    import pydantic
    import pydantic.fields
    import pydantic_core

    shim = types.ModuleType("dxagent.modelkit")
    for name in ("AfterValidator", "BaseModel", "BeforeValidator", "ConfigDict", "Field", "ValidationError",
                 "field_validator", "model_validator"):
        setattr(shim, name, getattr(pydantic, name))
    shim.FieldInfo = pydantic.fields.FieldInfo  # type: ignore[attr-defined]
    shim.CustomError = pydantic_core.PydanticCustomError  # type: ignore[attr-defined]
    shim.Undefined = pydantic_core.PydanticUndefined  # type: ignore[attr-defined]
    sys.modules["dxagent.modelkit"] = shim
    import dxagent

    dxagent.modelkit = shim  # type: ignore[attr-defined]
    from pydantic_core import core_schema

    from dxagent.config.types import Secret

    def schema(cls: type, source: Any, handler: Any) -> Any:
        return core_schema.with_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda v: "<secret>"))

    Secret.__get_pydantic_core_schema__ = classmethod(schema)  # type: ignore[attr-defined]


def _outcome(what: str, text: str) -> Any:
    from dxagent import config, register, selfreport
    from dxagent.daemon import webconfig
    from dxagent.reports import profile

    try:
        if what == "config":
            return {"ok": config.load_text(text, "c.yml").model_dump(mode="json")}
        if what == "profile":
            return {"ok": profile.load_profile_text(text, "p.yml").model_dump(mode="json")}
        if what == "register":
            reg = register.load_text(text, "r.csv")
            return {"ok": [e.model_dump(mode="json") for e in reg.entries], "problems": [str(p) for p in reg.problems]}
        if what == "selfreport":
            return {"ok": selfreport.parse_report(text.encode()).model_dump(mode="json", by_alias=True)}
        if what == "webconfig":
            with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
                fh.write(text)
            try:
                return {"ok": webconfig.load_web_config(fh.name).model_dump(mode="json")}
            finally:
                os.unlink(fh.name)
    except config.ConfigError as exc:
        return {"problems": [str(p).replace(fh.name, "w.yml") if what == "webconfig" else str(p) for p in exc.problems]}
    except selfreport.ReportRejected as exc:
        return {"rejected": exc.status, "message": exc.message}
    raise ValueError(what)


def main() -> None:
    if sys.argv[1] == "pydantic":
        _pydantic_shim()
    corpus = json.load(sys.stdin)
    json.dump([_outcome(what, text) for what, text in corpus], sys.stdout)


if __name__ == "__main__":
    main()
