"""Login throttling: atomic under concurrency, per (username, address) and per address, never a lock
that keeps the real user out from everywhere."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role
from calcifer.auth.models import LoginThrottle
from calcifer.db import utcnow
from calcifer.errors import Invalid, TooManyRequests
from calcifer.web.context import AppContext
from tests.conftest import PASSWORD, make_user

LIMITS = auth_service.ThrottleLimits(per_user_and_address=5, per_address=20, window_minutes=15)


def _login(ctx: AppContext, username: str, password: str, addr: str) -> str:
    """One login attempt in its own database session; returns 'ok', 'wrong' or 'throttled'."""
    with ctx.session_factory() as session:
        try:
            auth_service.authenticate(session=session, username=username, password=password, limits=LIMITS,
                                      remote_addr=addr)
        except Invalid:
            return "wrong"
        except TooManyRequests:
            return "throttled"
    return "ok"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check made, by the username's hash it was checked against."""
    made: list[str] = []
    lock = threading.Lock()
    real = auth_service.verify_password

    def counting(password_hash: str, password: str) -> bool:
        with lock:
            made.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(auth_service, "verify_password", counting)
    # Unknown usernames are checked against a decoy hash made with production cost: use a test-cost one.
    monkeypatch.setattr(auth_service, "_DUMMY_HASH", auth_service.hash_password("decoy password"))
    return made


def test_thirty_parallel_wrong_passwords_get_at_most_the_limit_of_checks(ctx: AppContext, checks: list[str]) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    start = threading.Barrier(30)

    def attempt(_: int) -> str:
        start.wait()
        return _login(ctx, "alice", "wrong password", "203.0.113.9")

    with ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = list(pool.map(attempt, range(30)))
    assert 1 <= len(checks) <= LIMITS.per_user_and_address
    assert outcomes.count("wrong") == len(checks)
    assert outcomes.count("throttled") == 30 - len(checks)


def test_one_address_guessing_many_usernames_is_throttled(ctx: AppContext, checks: list[str]) -> None:
    outcomes = [_login(ctx, f"user{n}", "guess", "198.51.100.4") for n in range(40)]
    assert len(checks) == LIMITS.per_address
    assert outcomes[:20] == ["wrong"] * 20 and outcomes[20:] == ["throttled"] * 20
    # Another address is not held back by it.
    assert _login(ctx, "user1", "guess", "198.51.100.5") == "wrong"


def test_an_attacker_cannot_lock_the_admin_out_from_her_own_address(ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    for _ in range(30):
        assert _login(ctx, "alice", "wrong password", "203.0.113.9") in {"wrong", "throttled"}
    assert _login(ctx, "alice", PASSWORD, "203.0.113.9") == "throttled"
    assert _login(ctx, "alice", PASSWORD, "192.0.2.10") == "ok"


def test_each_failure_past_the_limit_doubles_the_wait(ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.EDITOR)
    addr = "203.0.113.9"
    for _ in range(5):
        assert _login(ctx, "alice", "wrong password", addr) == "wrong"
    with ctx.session_factory() as session:
        with pytest.raises(TooManyRequests, match="Try again in 1 minute,"):
            auth_service.authenticate(session=session, username="alice", password=PASSWORD, limits=LIMITS,
                                      remote_addr=addr)

    def time_passes() -> None:
        with ctx.session_factory() as session:
            session.execute(update(LoginThrottle).values(blocked_until=utcnow() - dt.timedelta(seconds=1)))
            session.commit()

    time_passes()
    assert _login(ctx, "alice", "wrong again", addr) == "wrong"  # one more guess, then twice the wait
    with ctx.session_factory() as session:
        with pytest.raises(TooManyRequests, match="Try again in 2 minutes"):
            auth_service.authenticate(session=session, username="alice", password=PASSWORD, limits=LIMITS,
                                      remote_addr=addr)
    time_passes()
    assert _login(ctx, "alice", PASSWORD, addr) == "ok"
    with ctx.session_factory() as session:
        keys = list(session.scalars(select(LoginThrottle.key).where(LoginThrottle.username == "alice")))
    assert keys == []  # a success forgets the pair's failures


def test_failed_and_throttled_logins_are_audited_with_the_address(ctx: AppContext) -> None:
    from calcifer.audit.models import AuditEntry

    make_user(ctx, "alice", Role.EDITOR)
    for _ in range(6):
        _login(ctx, "alice", "wrong password", "203.0.113.9")
    with ctx.session_factory() as session:
        rows = list(session.execute(select(AuditEntry.action, AuditEntry.remote_addr)
                                    .where(AuditEntry.action.like("login.%"))))
    assert rows.count(("login.failed", "203.0.113.9")) == 5
    assert rows.count(("login.throttled", "203.0.113.9")) == 1


def test_cli_unlock_lets_the_user_in_again_from_the_throttled_address(ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    for _ in range(6):
        _login(ctx, "alice", "wrong password", "203.0.113.9")
    assert _login(ctx, "alice", PASSWORD, "203.0.113.9") == "throttled"
    env = {**os.environ, "CALCIFER_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_schema:
        env["CALCIFER_DATABASE_URL"] = ctx.settings.resolved_database_url
        env["CALCIFER_DATABASE_SCHEMA"] = ctx.settings.database_schema
    done = subprocess.run([sys.executable, "-m", "calcifer.cli", "user", "unlock", "alice"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Unlocked alice" in done.stdout
    assert _login(ctx, "alice", PASSWORD, "203.0.113.9") == "ok"
    unknown = subprocess.run([sys.executable, "-m", "calcifer.cli", "user", "unlock", "nobody"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode != 0 and "No user named 'nobody'" in unknown.stderr
