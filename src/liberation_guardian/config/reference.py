"""The configuration reference, generated from the models so the docs cannot drift from the code.

`python -m liberation_guardian.config.reference > docs/configuration-reference.md`
writes it; a test fails when the checked-in page differs from what the models say.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from liberation_guardian import sources
from liberation_guardian.act import notify
from liberation_guardian.config.schema import Settings

HEADER = """\
# Configuration reference

Generated from the configuration models (`python -m liberation_guardian.config.reference`);
do not edit by hand. Keys marked *not yet used* are accepted and validated, and listed at
start-up, but have no effect yet.
"""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value: Any = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "none"
    if hasattr(value, "value"):
        value = value.value
    shown = f"`{value!r}`" if not isinstance(value, str) else f'`"{value}"`'
    return shown.replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        annotation = info.annotation
        nested = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        note = " *(not yet used)*" if extra.get("not_yet_used") else ""
        described = (
            info.description or (nested.__doc__ or "").strip().splitlines()[0] if nested else info.description
        ) or ""
        if nested is not None:
            yield f"| `{path}` | section | | {described}{note} |"
            yield from _rows(nested, path)
        else:
            yield f"| `{path}` | {_type(annotation)} | {_default(info)} | {described}{note} |"


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("liberation_guardian.events.", "").replace("|", "or")


def render() -> str:
    """The whole reference page as Markdown."""
    out = [HEADER, "## Sections", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    out += [row for row in _rows(Settings, "") if not row.startswith("| `integrations`")]
    out += ["", "## Sources (`integrations.<group>.<name>`)", ""]
    for name, cls in sorted(sources.registry().items()):
        aliases = f" (also accepted as `{'`, `'.join(cls.aliases)}`)" if cls.aliases else ""
        out += [
            f"### `{name}`{aliases}",
            "",
            f"URL `/webhook/{name}`; group `{cls.group}`; authentication: {cls.auth_scheme}.",
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        out += list(_rows(cls.config_model, f"integrations.{cls.group}.{name}"))
        out.append("")
    out += ["## Channels (`integrations.notifications.<name>`)", ""]
    for name, channel in sorted(notify.registry().items()):
        out += [f"### `{name}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        out += list(_rows(channel.config_model, f"integrations.notifications.{name}"))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
