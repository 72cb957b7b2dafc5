"""Admin-changeable preferences, stored in the database and audited."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.errors import Invalid
from calcifer.prefs.choices import DEFAULTS, Pref
from calcifer.prefs.models import Preference


def get(*, session: Session, key: Pref) -> object:
    row = session.get(Preference, key.value)
    return DEFAULTS[key] if row is None else row.value


def get_bool(*, session: Session, key: Pref) -> bool:
    return bool(get(session=session, key=key))


def all_prefs(*, session: Session) -> dict[Pref, object]:
    return {key: get(session=session, key=key) for key in Pref}


def set_pref(*, session: Session, actor: User, key: Pref, value: object) -> object:
    """Set ``key`` (audited). Raises Invalid, naming what is wrong, for a value of the wrong kind; for
    ``compose_dirs`` (a list of paths, or text with one a line; None: the server's setting again) every
    folder that does not exist or cannot be read."""
    if key is Pref.COMPOSE_DIRS:
        value = None if value is None else check_folders(value)
    default = DEFAULTS[key]
    if isinstance(default, bool) and not isinstance(value, bool):
        raise Invalid(f"{key.value} takes true or false.")
    if isinstance(default, int) and not isinstance(default, bool) and (
            isinstance(value, bool) or not isinstance(value, int)):
        raise Invalid(f"{key.value} takes a whole number.")
    if isinstance(default, str) and not isinstance(value, str):
        raise Invalid(f"{key.value} takes text.")
    before = get(session=session, key=key)
    row = session.get(Preference, key.value)
    if row is None:
        session.add(Preference(key=key.value, value=value))
    else:
        row.value = value
    audit_service.record(session=session, actor=actor, action="preference.update", object_type="preference",
                         object_id=key.value, summary=f"set {key.value} to {value!r}", before=before, after=value)
    session.commit()
    return value


# A person pastes the list; a bound keeps the form and each discovery scan small.
MAX_FOLDERS = 50
MAX_PATH = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _folder_problem(text: str) -> str | None:
    if len(text) > MAX_PATH or _CONTROL.search(text):
        return f"{text[:80]!r} is not a folder path: write one path a line, without control characters"
    path = Path(text).expanduser()
    if not path.is_absolute():
        return f"{text}: write the absolute path (starting with /), as the server sees it"
    if not path.exists():
        return f"{text} does not exist on the server"
    if not path.is_dir():
        return f"{text} is a file, not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{text} cannot be read by Calcifer (check its permissions)"
    return None


def check_folders(value: object) -> list[str]:
    """The folders of ``value`` (text with one path a line, or a list of paths), blank lines and repeats
    dropped. Raises Invalid listing every folder that is not an absolute path to a readable folder."""
    if isinstance(value, str):
        lines = value.splitlines()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        lines = value
    else:
        raise Invalid(f"{Pref.COMPOSE_DIRS.value} takes folder paths: text with one a line, or a list.")
    folders = list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if len(folders) > MAX_FOLDERS:
        raise Invalid(f"Name at most {MAX_FOLDERS} folders (there are {len(folders)}).")
    problems = [(folder, problem) for folder in folders if (problem := _folder_problem(folder))]
    if problems:
        raise Invalid("Fix these folders: " + "; ".join(problem for _, problem in problems) + ".",
                      code="bad_folder", details=[{"field": Pref.COMPOSE_DIRS.value, "folder": folder[:MAX_PATH],
                                                   "message": problem} for folder, problem in problems])
    return folders


def chosen_compose_dirs(*, session: Session) -> list[str] | None:
    """The folders admins set under Settings, or None while the server's setting applies."""
    chosen = get(session=session, key=Pref.COMPOSE_DIRS)
    return [str(folder) for folder in chosen] if isinstance(chosen, list) else None


def compose_dirs(*, session: Session, fallback: Sequence[Path]) -> list[Path]:
    """The folders compose discovery scans now: the admins' choice under Settings, else ``fallback`` (the
    server's CALCIFER_COMPOSE_DIRS). Read at every scan, so a change needs no restart."""
    chosen = chosen_compose_dirs(session=session)
    return list(fallback) if chosen is None else [Path(folder) for folder in chosen]
