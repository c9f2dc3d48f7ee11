"""Notification wording from Jinja2 templates, each of which a deployment may override.

The built-in templates live beside this module in `templates/`. With `templates.dir` set,
a file of the same name in that folder replaces one of them; every other template stays
built in. The folder is read and compiled once, when the configuration is loaded, so a
syntax error stops `check-config` and start-up with the file and line instead of
surfacing at the first incident; later edits take effect at the next start.

A template that fails while rendering (an undefined name, a refused attribute) must not
cost the message: the built-in template of the same name is rendered instead and a
warning names the template that failed.

Templates run in Jinja2's immutable sandbox: they read the notification but cannot reach
Python internals (`__class__`, `__globals__`) or change lists and mappings in place. The
sandbox guards what a template can touch, not how long it runs; the folder should be as
trusted as the configuration file itself.

The active set is process-wide: `activate` installs the set of the loaded configuration
at start-up and `Notification.headline()` / `text()` render through it. A set never
changes once built, so replacing the reference is the only write and needs no lock.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, Template, TemplateSyntaxError, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from liberation_guardian.errors import ConfigError

if TYPE_CHECKING:
    from liberation_guardian.act.notify.base import Notification

logger = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).with_name("templates")

HEADLINE = "headline.j2"
TEXT = "text.j2"
EMAIL_SUBJECT = "email_subject.j2"
EMAIL_HTML = "email.html.j2"
NAMES = (HEADLINE, TEXT, EMAIL_SUBJECT, EMAIL_HTML)

VERBS: Mapping[str, str] = {
    "escalate": "needs a human",
    "auto_fix": "fix proposed",
    "investigate": "to investigate",
    "auto_acknowledge": "acknowledged",
}


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    """`count` and `word`, the word in its plural form unless the count is one: `3 occurrences`."""
    return f"{count} {word if count == 1 else plural_form or word + 's'}"


def _escape(value: object) -> Markup:
    # The standard library's escaping, so the HTML reads the same as the channel always sent it.
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(html.escape(str(value)))


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: object) -> object:
    return _escape(value) if eval_ctx.autoescape else value


@pass_eval_context
def _nl2br(eval_ctx: EvalContext, value: object) -> object:
    """Filter: line breaks as `<br>` in an HTML template, each line escaped."""
    lines = str(value).split("\n")
    if not eval_ctx.autoescape:
        return "<br>".join(lines)
    return Markup("<br>").join(_escape(line) for line in lines)


def _is_web_link(url: object) -> bool:
    """Test: an http(s) URL, the only kind an HTML template should make clickable."""
    return urlsplit(str(url)).scheme in ("http", "https")


def _environment(directory: Path | None) -> ImmutableSandboxedEnvironment:
    folders = [FileSystemLoader(directory, encoding="utf-8")] if directory is not None else []
    env = ImmutableSandboxedEnvironment(
        loader=ChoiceLoader([*folders, FileSystemLoader(BUILTIN_DIR, encoding="utf-8")]),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        finalize=_finalize,
        # What was checked at load time is what renders: no re-reading files behind the check's back.
        auto_reload=False,
    )
    env.globals["plural"] = plural
    env.filters["nl2br"] = _nl2br
    env.tests["web_link"] = _is_web_link
    return env


class TemplateSet:
    """The compiled notification templates: a user folder's files first, the built-in ones for the rest.

    Usage::

        templates = TemplateSet.load(Path("/etc/guardian/templates"))   # ConfigError if one does not compile
        activate(templates)
        notification.text()                                             # now rendered through text.j2 of that folder
    """

    def __init__(self, directory: Path | None = None, fallback: TemplateSet | None = None) -> None:
        self.directory = directory
        self._fallback = fallback
        self._env = _environment(directory)
        self._templates: dict[str, Template] = {name: self._env.get_template(name) for name in NAMES}

    @classmethod
    def load(cls, directory: Path) -> TemplateSet:
        """Compile every `*.j2` file of `directory`; raise `ConfigError` naming each file and line that does not."""
        if not directory.exists():
            raise ConfigError(f"folder {directory} does not exist", path="templates.dir")
        if not directory.is_dir():
            raise ConfigError(f"{directory} is not a folder", path="templates.dir")
        env = _environment(directory)
        problems = []
        for file in sorted(path for path in directory.rglob("*.j2") if path.is_file()):
            try:
                env.get_template(file.relative_to(directory).as_posix())
            except TemplateSyntaxError as exc:
                problems.append(f"{file} line {exc.lineno}: {exc.message}")
            except UnicodeDecodeError as exc:
                problems.append(f"{file}: cannot be read as UTF-8 text: {exc}")
            except OSError as exc:
                problems.append(f"{file}: cannot be read: {exc.strerror or exc}")
        if problems:
            raise ConfigError("; ".join(problems), path="templates.dir")
        return cls(directory, fallback=builtin())

    def render(self, name: str, notification: Notification) -> str:
        """Render template `name` for one notification, falling back to the built-in one if it fails."""
        context: dict[str, Any] = {"n": notification, "verb": VERBS.get(notification.action, notification.action)}
        if name != HEADLINE:
            context["headline"] = self.render(HEADLINE, notification)
        try:
            return self._templates[name].render(context)
        # A user's template can fail in many ways (undefined names, refused attributes, errors in its
        # expressions); none of them may cost the message, and the warning says which file to fix.
        except Exception as exc:
            if self._fallback is None:
                raise
            logger.warning(
                "template %s failed, the built-in one was used: %s",
                self._templates[name].filename or name,
                exc,
                extra={"template": name, "incident_id": notification.incident_id},
            )
            return self._fallback._templates[name].render(context)


@cache
def builtin() -> TemplateSet:
    """The templates shipped with the package."""
    return TemplateSet()


_active: TemplateSet | None = None


def activate(templates: TemplateSet) -> None:
    """Make `templates` the set every notification of this process is rendered with."""
    global _active
    _active = templates


def active() -> TemplateSet:
    """The set notifications are rendered with: the one activated, else the built-in one."""
    return _active or builtin()


def render(name: str, notification: Notification) -> str:
    """Render template `name` (one of `NAMES`) for one notification through the active set."""
    return active().render(name, notification)
