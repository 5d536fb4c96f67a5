"""The checkout's own virtual environment, `.venv`: made and kept up to date on demand.

`python3 -m bot` in a fresh clone, with only the system Python (PEP 668 refuses `pip
install` there), needs somewhere to install the bot's dependencies: when they are missing
it sets up `.venv` beside `pyproject.toml` and runs again inside it. `tests/run.sh` asks
for the same venv with the dev extras (`python3 -m bot.venv dev` prints its python).

The venv is reinstalled only when `pyproject.toml` changed since the last install (a stamp
file in the venv records its hash and the extras installed). Standard library only, and
syntax an older python3 parses, so that one can say which Python is needed.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = ".incident-bot-installed"
# set in the environment of the re-executed process: it never sets up a venv again
MARK = "INCIDENT_BOT_VENV"
PYTHON_NEEDED = (3, 11)


class VenvError(Exception):
    """The venv could not be made or installed; the message is one line for a person."""


def checkout() -> bool:
    """Whether this is a source checkout (pyproject.toml beside the package), not an
    installed copy of the bot."""
    return (ROOT / "pyproject.toml").is_file()


def venv_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def _pyproject_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _installed(venv: Path) -> tuple[str, set[str]]:
    """(pyproject hash, extras) of the last install into `venv`; ("", set()) if none."""
    try:
        digest, _, extras = (venv / STAMP).read_text().partition("\n")
    except OSError:
        return "", set()
    return digest.strip(), {e.strip() for e in extras.split(",") if e.strip()}


def up_to_date(extras: set[str], venv: Path = VENV) -> bool:
    digest, have = _installed(venv)
    return venv_python(venv).exists() and digest == _pyproject_hash() and extras <= have


# -- are the dependencies here already? --------------------------------------------------------

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)")


def _numbers(version: str) -> tuple[int, ...] | None:
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(p) for p in match.group(0).split(".")) if match else None


def _satisfies(version: str, specifiers: str) -> bool:
    """`>=`/`<` bounds only (all pyproject.toml uses); anything else is taken as met."""
    have = _numbers(version)
    for spec in filter(None, (s.strip() for s in specifiers.split(","))):
        op = re.match(r"(>=|<=|==|<|>)\s*(.+)", spec)
        want = _numbers(op.group(2)) if op else None
        if op is None or want is None or have is None:
            continue
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {">=": a >= b, "<=": a <= b, "==": a == b, "<": a < b, ">": a > b}[op.group(1)]
        if not ok:
            return False
    return True


def _extra_requirements(name: str, extras: str) -> list[str]:
    """What `name[extras]` adds to `name`, from its installed metadata."""
    from importlib import metadata

    wanted = [e.strip() for e in extras.strip("[]").split(",") if e.strip()]
    out = []
    for requirement in metadata.requires(name) or []:
        spec, _, marker = requirement.partition(";")
        if any(re.search(rf"extra\s*==\s*['\"]{re.escape(e)}['\"]", marker) for e in wanted):
            out.append(spec)
    return out


def missing_requirements(extras: set[str] | None = None) -> list[str]:
    """The project's requirements (pyproject.toml) this Python lacks or has too old."""
    import tomllib
    from importlib import metadata

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in sorted(extras or ()):
        wanted += project.get("optional-dependencies", {}).get(extra, [])
    missing = []
    while wanted:
        match = _NAME.match(wanted.pop(0))
        if match is None:
            continue
        name, specifiers = match.group(1), match.group(3)
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if not _satisfies(version, specifiers):
            missing.append(f"{name}{specifiers.strip()} (have {version})")
        if match.group(2):  # e.g. fakeredis[lua]: what the extra pulls in too
            wanted += _extra_requirements(name, match.group(2))
    return missing


# -- making it ----------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["no output"])[-1]


def _create(python: str, venv: Path) -> None:
    done = subprocess.run(
        [python, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    if done.returncode == 0 and venv_python(venv).exists():
        return
    output = done.stdout + done.stderr
    if "ensurepip" in output:
        why = "this Python has no venv/ensurepip module"
    else:
        why = _last_line(output)
    raise VenvError(
        f"cannot create {venv} with `{python} -m venv` ({why}); on Debian/Ubuntu run "
        "`sudo apt install python3-venv`, then run the command again"
    )


def _install(venv: Path, extras: set[str]) -> None:
    target = "." + (f"[{','.join(sorted(extras))}]" if extras else "")
    command = [str(venv_python(venv)), "-m", "pip", "install", "-q"]
    command += ["--disable-pip-version-check", "-e", target]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise VenvError(
            f"installing the bot into {venv} failed ({_last_line(done.stdout + done.stderr)}); "
            "the pip output above says why; run the command again once it is fixed"
        )


def ensure(extras: set[str] | None = None, *, python: str | None = None, venv: Path = VENV) -> Path:
    """The venv's python, with the project (and `extras`) installed as pyproject.toml says
    now: made with `python` (default: this one) if missing, reinstalled if pyproject.toml
    changed. One process at a time (a lock on the checkout), so two first runs do not
    install over each other. Raises VenvError."""
    import fcntl

    extras = set(extras or ())
    if up_to_date(extras, venv):
        return venv_python(venv)
    lock = os.open(ROOT, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if up_to_date(extras, venv):  # another process did it while we waited
            return venv_python(venv)
        if not venv_python(venv).exists():
            _say(
                f"Setting up {venv}: installing the bot's packages into it (a minute or so, "
                "once: the next runs reuse it)…"
            )
            _create(python or sys.executable, venv)
        else:
            _say(f"Updating {venv} (pyproject.toml changed, or more extras wanted)…")
        # extras installed before stay installed, at the versions pyproject.toml now says
        extras |= _installed(venv)[1]
        _install(venv, extras)
        (venv / STAMP).write_text(f"{_pyproject_hash()}\n{','.join(sorted(extras))}\n")
    finally:
        os.close(lock)
    return venv_python(venv)


def inside_a_venv() -> bool:
    return sys.prefix != sys.base_prefix


def run_in_venv_if_needed(argv: list[str]) -> None:
    """For `python3 -m bot`: return when this Python can run the bot; else set up `.venv`
    and replace this process with the same command inside it. Exits with one line when
    neither is possible. Never twice: not inside a venv, nor in the re-executed process."""
    if sys.version_info < PYTHON_NEEDED:
        _say(
            f"Cannot start: the bot needs Python 3.11 or newer; this is {sys.executable} "
            f"{sys.version.split()[0]}. Run it with a newer python3."
        )
        sys.exit(2)
    if not checkout():
        return  # an installed copy: pip installed its dependencies with it
    missing = missing_requirements()
    if not missing:
        return
    if os.environ.get(MARK) or inside_a_venv():
        where = Path(os.environ.get(MARK) or sys.prefix)
        if where.resolve() == VENV.resolve():
            fix = f"remove it (`rm -rf {VENV}`) and run `python3 -m bot` again to set it up anew"
        else:
            fix = (
                f"run `{sys.executable} -m pip install -e .` there (or deactivate it and run "
                "`python3 -m bot` again to let it set up .venv)"
            )
        _say(f"Cannot start: the Python environment {where} lacks {', '.join(missing)}; {fix}.")
        sys.exit(2)
    try:
        python = ensure()
    except VenvError as exc:
        _say(f"Cannot start: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        _say("Interrupted while setting up .venv; the next run finishes it.")
        sys.exit(130)
    os.environ[MARK] = str(VENV)
    os.execv(python, [str(python), "-m", "bot", *argv])


def main(argv: list[str]) -> int:
    """`python3 -m bot.venv [EXTRA,...]`: make/update .venv, print its python's path."""
    extras = {e for arg in argv for e in arg.split(",") if e}
    if sys.version_info < PYTHON_NEEDED:
        _say(f"the bot needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")
        return 2
    try:
        print(ensure(extras))
    except VenvError as exc:
        _say(str(exc))
        return 2
    except KeyboardInterrupt:
        _say("Interrupted while setting up .venv; the next run finishes it.")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
