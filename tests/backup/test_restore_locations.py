"""Which configured target an s3:// or sftp:// restore location takes its credentials from."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from calcifer.auth.models import User
from calcifer.backup import targets
from calcifer.backup.schemas import BackupTargetCreate
from calcifer.errors import Invalid, NotFound
from calcifer.web.context import AppContext
from tests.conftest import Cast

NAME = "calcifer-backup-20260101T030000123Z.tar.gz"


def test_a_location_matches_the_target_whose_place_holds_it(cast: Cast, ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        actor = session.scalars(select(User).where(User.username == "alice")).one()
        made = {}
        for data in (BackupTargetCreate(name="s3", kind="s3", bucket="calcifer", prefix="nightly/", access_key_id="a",
                                        secret_access_key="b"),
                     BackupTargetCreate(name="nas", kind="sftp", host="NAS.example.org", username="backup",
                                        folder="/srv/backups/", password="p"),
                     BackupTargetCreate(name="v6", kind="sftp", host="[::1]", port=2222, username="backup",
                                        folder="/b", password="p")):
            made[data.name] = targets.create_target(session=session, actor=actor, secret_key=ctx.secret_key,
                                                    data=data).id

        def found(location: str) -> str:
            target, name = targets.find_target(session=session, location_text=location)
            assert name == NAME
            return target.name

        assert found(f"s3://calcifer/nightly/{NAME}") == "s3"
        assert found(f"sftp://backup@nas.example.org/srv/backups/{NAME}") == "nas"  # port 22 by default
        assert found(f"sftp://backup@nas.example.org:22/srv/backups/{NAME}") == "nas"
        assert found(f"sftp://backup@[::1]:2222/b/{NAME}") == "v6"
        v6 = targets.get_target(session=session, target_id=made["v6"])
        assert targets.location(v6, NAME) == f"sftp://backup@[::1]:2222/b/{NAME}"
        for elsewhere in (f"s3://calcifer/{NAME}", f"s3://other/nightly/{NAME}",
                          f"sftp://root@nas.example.org/srv/backups/{NAME}",
                          f"sftp://backup@nas.example.org:2222/srv/backups/{NAME}",
                          f"sftp://backup@nas.example.org/srv/{NAME}"):
            with pytest.raises(NotFound, match="No backup target configured here holds"):
                targets.find_target(session=session, location_text=elsewhere)
        with pytest.raises(Invalid, match="does not name a Calcifer archive"):
            targets.find_target(session=session, location_text="s3://calcifer/nightly/secret_key")
