"""The API's list of backup files pages by cursor, newest first, like every list."""

from __future__ import annotations

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.paging import assert_bad_cursor_refused, walk_pages


def test_backup_files_page_newest_first_each_once(ctx: AppContext, cast: Cast) -> None:
    # The list reads the folder by file name (which carries the time); real archives are made in
    # test_backup_process.py, so plain files named like them stand in here. Two share a millisecond.
    folder = ctx.settings.resolved_backup_dir
    folder.mkdir(parents=True, exist_ok=True)
    names = ["calcifer-backup-20260101T000000000Z.tar.gz", "calcifer-backup-20260102T000000000Z.tar.gz",
             "calcifer-backup-20260102T000000000Z-2.tar.gz", "calcifer-backup-20260103T120000500Z.tar.gz",
             "calcifer-backup-20260104T000000000Z.tar.gz"]
    for name in names:
        (folder / name).write_bytes(b"archive")
    pages = walk_pages(cast.admin, "/api/v1/backups", limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [b["name"] for page in pages for b in page]
    assert sorted(walked) == sorted(names)
    assert walked[0] == names[-1] and walked[-1] == names[0]
    times = [b["created_at"] for page in pages for b in page]
    assert times == sorted(times, reverse=True)
    assert_bad_cursor_refused(cast.admin, "/api/v1/backups")
