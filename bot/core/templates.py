"""Stakeholder templates on disk: where they are looked for (a team's templates_dir
first, then the shipped ones), which exist, and whether one parses. The file I/O of the
configuration's checks lives here, not in the models."""

from __future__ import annotations

from pathlib import Path

BUILTIN_TEMPLATES = Path(__file__).parent.parent / "templates" / "stakeholders"


def template_dirs(templates_dir: Path | None) -> list[Path]:
    """Where stakeholder templates are looked for, first match wins."""
    dirs = [templates_dir / "stakeholders"] if templates_dir is not None else []
    return [*dirs, BUILTIN_TEMPLATES]


def template_path(templates_dir: Path | None, name: str) -> Path | None:
    for folder in template_dirs(templates_dir):
        if (folder / f"{name}.j2").is_file():
            return folder / f"{name}.j2"
    return None


def template_syntax_problem(templates_dir: Path | None, name: str) -> str | None:
    """Why a stakeholder template does not parse as jinja2, or None (checked at load, so a
    broken template stops the start instead of the first stakeholder update)."""
    path = template_path(templates_dir, name)
    if path is None:
        return None
    import jinja2  # here, not at start-up: a config naming no template never needs it

    try:
        jinja2.Environment().parse(path.read_text())
    except jinja2.TemplateSyntaxError as exc:
        return f"{path}: line {exc.lineno}: {exc.message}"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path}: cannot read it ({exc})"
    return None


def available_templates(templates_dir: Path | None) -> set[str]:
    names: set[str] = set()
    for folder in template_dirs(templates_dir):
        if folder.is_dir():
            names |= {f.stem for f in folder.glob("*.j2")}
    return names


class Templates:
    """The stakeholder templates a configuration can name, looked up once for its checks."""

    def __init__(self, templates_dir: Path | None) -> None:
        self.templates_dir = templates_dir
        self.names = available_templates(templates_dir)

    def folder_problem(self) -> str | None:
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            return f"no directory {str(self.templates_dir)!r}"
        return None

    def problem(self, name: str) -> str | None:
        """Why a template named in the configuration cannot be used, or None."""
        if name not in self.names:
            return f"no template {name!r} (have: {', '.join(sorted(self.names)) or 'none'})"
        return template_syntax_problem(self.templates_dir, name)
