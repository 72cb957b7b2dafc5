"""The push heartbeat URL: public, authenticated by the secret token in its path."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from calcifer.deps import CtxDep, SessionDep
from calcifer.monitoring import push
from calcifer.monitoring.schemas import PushAckPublic

pages = APIRouter()
api = APIRouter(prefix="/api/v1", tags=["monitoring"])


# Two routes, one handler: cron jobs use GET (curl URL), scripts often POST; distinct operation ids keep
# the OpenAPI document valid.
@api.get("/push/{token}", operation_id="push_heartbeat_get", response_model=PushAckPublic)
@api.post("/push/{token}", operation_id="push_heartbeat_post", response_model=PushAckPublic)
def heartbeat(
    token: str, ctx: CtxDep, session: SessionDep,
    status: Annotated[str, Query(max_length=20, description="up (default) or down")] = "up",
    msg: Annotated[str, Query(max_length=2000, description="A short message, kept 300 characters")] = "",
) -> dict[str, bool]:
    """Record a heartbeat of the push endpoint whose token this is (``?status=down&msg=...`` reports a
    failure). No login: the token is the secret. 404 for an unknown token."""
    push.record_push(session=session, secret_key=ctx.secret_key, token=token, status=status, message=msg)
    return {"ok": True}
