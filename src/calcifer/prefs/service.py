"""Admin-changeable preferences, stored in the database and audited."""

from __future__ import annotations

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
