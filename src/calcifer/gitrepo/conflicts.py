"""Conflicts left in a worktree by an update from main, resolved file by file and hunk by hunk.

State lives where git keeps it: a path still conflicted has its three stages (base, ours = the work
item's branch, theirs = main) in the worktree's index, and its working file holds the merged text so
far, the hunks not yet decided still between conflict markers (diff3 style, base included). A path is
resolved once its chosen content is staged (the conflict stages give way to one entry). Which paths
conflicted at all is asked of the merge itself (HEAD with MERGE_HEAD, recomputed in memory), so a
resolved file keeps its three versions on show. Finishing commits the index as a merge commit with
both parents; nothing here takes a path that is not one of the conflicted ones.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from calcifer.errors import Conflict, Invalid, NotFound, Problem

from ._repo import clean_message, forget_worktree, signature, worktree_repo
from .changes import conflict_entries, drop_conflict
from .models import Author, FileMerger
from .paths import MAX_FILE_BYTES, atomic_write, is_binary, relative, safe_path

OURS_LABEL = "HEAD"
BASE_LABEL = "base"
THEIRS_LABEL = "main"
SIDES = ("ours", "theirs", "both")

_START = re.compile(r"^<{7}(?: |$)")
_BASE = re.compile(r"^\|{7}(?: |$)")
_MIDDLE = re.compile(r"^={7}$")
_END = re.compile(r"^>{7}(?: |$)")


@dataclass(frozen=True)
class LineRange:
    """Lines of one version: ``start`` is the first (numbered from 1; for no lines, where they would
    start), ``count`` how many."""

    start: int
    count: int


@dataclass(frozen=True)
class ConflictHunk:
    number: int  # from 1, in the file's order
    base: str
    ours: str
    theirs: str
    base_lines: LineRange
    ours_lines: LineRange
    theirs_lines: LineRange
    resolved: bool  # no longer between conflict markers in the merged text


@dataclass(frozen=True)
class ConflictFile:
    path: str
    resolved: bool  # its content is staged: the index holds no conflict for it
    text: bool  # every version is text: it has hunks and an editable merged text
    base: str | None  # None: absent there (or not text)
    ours: str | None
    theirs: str | None
    ours_deleted: bool
    theirs_deleted: bool
    merged: str | None  # the working file now (None: absent, or not text)
    hunks: list[ConflictHunk]

    @property
    def unresolved_hunks(self) -> int:
        return sum(1 for h in self.hunks if not h.resolved)


@dataclass(frozen=True)
class HunkChoice:
    """What to put in place of hunk ``number``: a side (``take``) or ``text`` written by hand."""

    number: int
    take: str | None = None  # "ours" | "theirs" | "both"
    text: str | None = None


@dataclass(frozen=True)
class Resolution:
    """A merge commit made from the resolved index, not yet on the branch (see ``finish_resolution``)."""

    head: str  # the branch tip it goes on top of
    merged: str  # main's commit that was merged in (MERGE_HEAD)
    commit: str


# -- three-way merge of texts -------------------------------------------------------------------------

def split_lines(text: str) -> list[str]:
    """Lines with their "\\n" (the last one may lack it); only "\\n" ends a line, as for git."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _changes(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """Regions where ``b`` differs from ``a``: (a_start, a_end, b_start, b_end), 0-based, end excluded,
    by libgit2's diff (the one git's merge uses)."""
    old, new = "".join(a).encode(), "".join(b).encode()  # kept alive while the patch is read
    patch = pygit2.Patch.create_from(old, new, context_lines=0)
    regions = []
    for hunk in patch.hunks:
        a_start = hunk.old_start - 1 if hunk.old_lines else hunk.old_start
        b_start = hunk.new_start - 1 if hunk.new_lines else hunk.new_start
        regions.append((a_start, a_start + hunk.old_lines, b_start, b_start + hunk.new_lines))
    return regions


@dataclass(frozen=True)
class _Chunk:
    stable: str | None  # text all agree on (or that one side alone changed); None: a conflict
    hunk: ConflictHunk | None = None


def _side(lines: list[str], group: list[tuple[int, int, int, int]], lo: int, hi: int,
          base: list[str]) -> tuple[int, list[str]]:
    if not group:
        return lo, base[lo:hi]  # unchanged on this side; its position is only used for ranges
    first, last = group[0], group[-1]
    start = first[2] - (first[0] - lo)
    end = last[3] + (hi - last[1])
    return start, lines[start:end]


def merge3(base: str, ours: str, theirs: str) -> list[_Chunk]:
    """diff3 of three texts: stable chunks, and conflict hunks where both sides changed the same (or
    touching) lines differently. Lines both sides agree on at a hunk's edges are left out of it."""
    b, o, t = split_lines(base), split_lines(ours), split_lines(theirs)
    a_changes, b_changes = _changes(b, o), _changes(b, t)
    chunks: list[_Chunk] = []
    i = j = pos = 0
    number = 0
    # Offsets that map a base line to each side's line outside any change.
    o_shift = t_shift = 0
    while i < len(a_changes) or j < len(b_changes):
        if j >= len(b_changes) or (i < len(a_changes) and a_changes[i][0] <= b_changes[j][0]):
            lo, hi = a_changes[i][0], a_changes[i][1]
        else:
            lo, hi = b_changes[j][0], b_changes[j][1]
        group_a: list[tuple[int, int, int, int]] = []
        group_b: list[tuple[int, int, int, int]] = []
        while True:
            if i < len(a_changes) and a_changes[i][0] <= hi:
                hi = max(hi, a_changes[i][1])
                group_a.append(a_changes[i])
                i += 1
            elif j < len(b_changes) and b_changes[j][0] <= hi:
                hi = max(hi, b_changes[j][1])
                group_b.append(b_changes[j])
                j += 1
            else:
                break
        if pos < lo:
            chunks.append(_Chunk("".join(b[pos:lo])))
        o_start, o_lines = _side(o, group_a, lo, hi, b) if group_a else (lo + o_shift, b[lo:hi])
        t_start, t_lines = _side(t, group_b, lo, hi, b) if group_b else (lo + t_shift, b[lo:hi])
        if group_a:
            o_shift = group_a[-1][3] - group_a[-1][1]
        if group_b:
            t_shift = group_b[-1][3] - group_b[-1][1]
        pos = hi
        if not group_a:
            chunks.append(_Chunk("".join(t_lines)))
        elif not group_b or o_lines == t_lines:
            chunks.append(_Chunk("".join(o_lines)))
        else:
            # Lines both sides agree on at the edges are no part of the conflict.
            head = 0
            while head < min(len(o_lines), len(t_lines)) and o_lines[head] == t_lines[head]:
                head += 1
            tail = 0
            while (tail < min(len(o_lines), len(t_lines)) - head
                   and o_lines[-1 - tail] == t_lines[-1 - tail]):
                tail += 1
            if head:
                chunks.append(_Chunk("".join(o_lines[:head])))
            o_mid = o_lines[head:len(o_lines) - tail]
            t_mid = t_lines[head:len(t_lines) - tail]
            number += 1
            chunks.append(_Chunk(None, ConflictHunk(
                number=number, base="".join(b[lo:hi]), ours="".join(o_mid), theirs="".join(t_mid),
                base_lines=LineRange(lo + 1, hi - lo), ours_lines=LineRange(o_start + head + 1, len(o_mid)),
                theirs_lines=LineRange(t_start + head + 1, len(t_mid)), resolved=False)))
            if tail:
                chunks.append(_Chunk("".join(o_lines[len(o_lines) - tail:])))
    if pos < len(b):
        chunks.append(_Chunk("".join(b[pos:])))
    return chunks


def _ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def render_markers(chunks: list[_Chunk]) -> str:
    """The merged text with each conflict between diff3-style markers (ours, base, theirs)."""
    out: list[str] = []
    for chunk in chunks:
        if chunk.hunk is None:
            out.append(chunk.stable or "")
            continue
        h = chunk.hunk
        out.append(f"<<<<<<< {OURS_LABEL}\n{_ended(h.ours)}||||||| {BASE_LABEL}\n{_ended(h.base)}=======\n"
                   f"{_ended(h.theirs)}>>>>>>> {THEIRS_LABEL}\n")
    return "".join(out)


@dataclass(frozen=True)
class _Block:
    start: int  # index of its first line (the <<<<<<< line)
    end: int  # index after its last line (the >>>>>>> line)
    ours: str
    base: str | None
    theirs: str


def _blocks(lines: list[str]) -> list[_Block]:
    """The conflict-marker blocks of a text's lines (with or without a base section)."""
    blocks: list[_Block] = []
    index = 0
    while index < len(lines):
        if not _START.match(lines[index].rstrip("\n")):
            index += 1
            continue
        parts: dict[str, list[str]] = {"ours": [], "base": [], "theirs": []}
        start, section = index, "ours"
        has_base = False
        index += 1
        closed = False
        while index < len(lines):
            bare = lines[index].rstrip("\n")
            if section == "ours" and _BASE.match(bare):
                section, has_base = "base", True
            elif section in ("ours", "base") and _MIDDLE.match(bare):
                section = "theirs"
            elif section == "theirs" and _END.match(bare):
                closed = True
                index += 1
                break
            else:
                parts[section].append(_ended(lines[index]))
            index += 1
        if closed:
            blocks.append(_Block(start, index, "".join(parts["ours"]), "".join(parts["base"]) if has_base else None,
                                 "".join(parts["theirs"])))
        else:
            index = start + 1
    return blocks


def _match(hunks: list[ConflictHunk], blocks: list[_Block]) -> dict[int, _Block]:
    """Each hunk still between markers, by number, with its block (matched in order, by content)."""
    found: dict[int, _Block] = {}
    next_block = 0
    for hunk in hunks:
        for index in range(next_block, len(blocks)):
            block = blocks[index]
            if (block.ours == _ended(hunk.ours) and block.theirs == _ended(hunk.theirs)
                    and (block.base is None or block.base == _ended(hunk.base))):
                found[hunk.number] = block
                next_block = index + 1
                break
    return found


def has_markers(text: str) -> bool:
    return bool(_blocks(split_lines(text)))


# -- reading the conflicts of a worktree -------------------------------------------------------------

@dataclass(frozen=True)
class _Stages:
    base: pygit2.IndexEntry | None
    ours: pygit2.IndexEntry | None
    theirs: pygit2.IndexEntry | None


def _merge_head(repo: pygit2.Repository) -> pygit2.Oid | None:
    heads = repo.listall_mergeheads()
    return heads[0] if heads else None


def _conflicted(repo: pygit2.Repository, file_mergers: dict[str, FileMerger] | None) -> dict[str, _Stages]:
    """Every path the merge in progress conflicted in (resolved since or not), with its three stages;
    paths merged by a merger function (CHANGES.md) never conflict. Empty without a merge in progress."""
    merge_head = _merge_head(repo)
    if merge_head is None or repo.head_is_unborn:
        return {}
    ours = repo.head.peel(pygit2.Commit)
    theirs = repo[merge_head].peel(pygit2.Commit)
    index = repo.merge_commits(ours, theirs)
    result: dict[str, _Stages] = {}
    for path, (anc, our, their) in conflict_entries(index).items():
        if file_mergers and path in file_mergers and our is not None and their is not None:
            continue
        result[path] = _Stages(anc, our, their)
    # Whatever the worktree's index still holds as conflicted is listed too (its own stages), so nothing
    # left to resolve is ever out of sight.
    for path, (anc, our, their) in conflict_entries(repo.index).items():
        result.setdefault(path, _Stages(anc, our, their))
    return result


def _data(repo: pygit2.Repository, entry: pygit2.IndexEntry | None) -> bytes | None:
    if entry is None:
        return None
    blob = repo.get(entry.id)
    return blob.data if isinstance(blob, pygit2.Blob) else None


def _is_text(entry: pygit2.IndexEntry | None, data: bytes | None) -> bool:
    if entry is None:
        return True
    return (data is not None and entry.mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)
            and len(data) <= MAX_FILE_BYTES and not is_binary(data))


def _read_working(root: Path, path: str) -> str | None:
    full = root / path
    if full.is_symlink() or not full.is_file():
        return None
    data = full.read_bytes()
    if len(data) > MAX_FILE_BYTES or is_binary(data):
        return None
    return data.decode("utf-8")


def _file(repo: pygit2.Repository, root: Path, path: str, stages: _Stages, unresolved: set[str]) -> ConflictFile:
    datas = [_data(repo, e) for e in (stages.base, stages.ours, stages.theirs)]
    text = all(_is_text(e, d) for e, d in zip((stages.base, stages.ours, stages.theirs), datas, strict=True))
    base, ours, theirs = ((d.decode("utf-8") if d is not None and text else None) for d in datas)
    merged = _read_working(root, path)
    resolved = path not in unresolved
    hunks: list[ConflictHunk] = []
    if text and stages.ours is not None and stages.theirs is not None:
        found = [c.hunk for c in merge3(base or "", ours or "", theirs or "") if c.hunk is not None]
        matched = _match(found, _blocks(split_lines(merged or ""))) if not resolved else {}
        hunks = [ConflictHunk(h.number, h.base, h.ours, h.theirs, h.base_lines, h.ours_lines, h.theirs_lines,
                              resolved=h.number not in matched) for h in found]
    return ConflictFile(path=path, resolved=resolved, text=text, base=base, ours=ours, theirs=theirs,
                        ours_deleted=stages.ours is None, theirs_deleted=stages.theirs is None,
                        merged=merged if text else None, hunks=hunks)


def merge_in_progress(*, worktree_path: Path) -> bool:
    """True while the worktree is mid-merge (an update from main left conflicts to resolve)."""
    return _merge_head(worktree_repo(worktree_path)) is not None


def conflict_files(*, worktree_path: Path, file_mergers: dict[str, FileMerger] | None = None) -> list[ConflictFile]:
    """Every file the update from main in progress conflicted in, sorted by path, resolved or not, with
    its three versions, its merged text now and its hunks. Empty when no merge is in progress. Raises
    NotFound when the worktree is missing."""
    repo = worktree_repo(worktree_path)
    root = worktree_path.resolve()
    unresolved = set(conflict_entries(repo.index))
    return [_file(repo, root, path, stages, unresolved)
            for path, stages in sorted(_conflicted(repo, file_mergers).items())]


def render_conflicted(repo: pygit2.Repository, root: Path, paths: list[str]) -> None:
    """Rewrite each conflicted text file's working copy with this module's diff3 markers, so its marker
    blocks are the hunks ``conflict_files`` reports (libgit2 draws its own, without the base)."""
    conflicts = conflict_entries(repo.index)
    for path in paths:
        if path not in conflicts:
            continue
        anc, our, their = conflicts[path]
        datas = [_data(repo, e) for e in (anc, our, their)]
        if our is None or their is None or not all(
                _is_text(e, d) for e, d in zip((anc, our, their), datas, strict=True)):
            continue
        base, ours, theirs = ((d or b"").decode("utf-8") for d in datas)
        atomic_write(root / path, render_markers(merge3(base, ours, theirs)).encode())


# -- resolving ----------------------------------------------------------------------------------------

def _one_file(repo: pygit2.Repository, root: Path, path: str,
              file_mergers: dict[str, FileMerger] | None) -> tuple[str, _Stages, ConflictFile]:
    full = safe_path(root=root, path=path)
    rel = relative(root, full)
    conflicted = _conflicted(repo, file_mergers)
    if not conflicted:
        raise Conflict("No update from main is in progress: there is no conflict to resolve.",
                       code="no_conflicts", problems=[Problem("no_conflicts", "No merge is in progress.")])
    if rel not in conflicted:
        raise NotFound(f"{rel} is not one of the conflicted files ({', '.join(sorted(conflicted))}).")
    unresolved = set(conflict_entries(repo.index))
    return rel, conflicted[rel], _file(repo, root, rel, conflicted[rel], unresolved)


def _apply(file: ConflictFile, choices: list[HunkChoice]) -> str:
    """The merged text with each chosen hunk's markers replaced by its choice."""
    if not file.text or file.merged is None:
        raise Invalid(f"{file.path} is not a text file with hunks: keep one side whole instead.")
    by_number = {h.number: h for h in file.hunks}
    lines = split_lines(file.merged)
    matched = _match(file.hunks, _blocks(lines))
    replacements: dict[int, tuple[_Block, str]] = {}
    for choice in choices:
        hunk = by_number.get(choice.number)
        if hunk is None:
            raise Invalid(f"{file.path} has no hunk {choice.number}: its hunks are numbered 1 to {len(file.hunks)}.")
        block = matched.get(choice.number)
        if block is None:
            raise Conflict(f"Hunk {choice.number} of {file.path} is already resolved: edit the merged text instead.",
                           code="hunk_resolved",
                           problems=[Problem("hunk_resolved", f"hunk {choice.number} is resolved", path=file.path)])
        if (choice.take is None) == (choice.text is None):
            raise Invalid(f"Hunk {choice.number}: choose a side (ours, theirs or both) or give its text.")
        if choice.text is not None:
            text = choice.text.replace("\r\n", "\n")
        elif choice.take == "ours":
            text = hunk.ours
        elif choice.take == "theirs":
            text = hunk.theirs
        elif choice.take == "both":
            text = _ended(hunk.ours) + hunk.theirs if hunk.theirs else hunk.ours
        else:
            raise Invalid(f"Hunk {choice.number}: take must be one of ours, theirs or both.")
        if block.end < len(lines):
            text = _ended(text)  # more lines follow: this one must end
        replacements[block.start] = (block, text)
    out: list[str] = []
    index = 0
    for start in sorted(replacements):
        block, text = replacements[start]
        out.extend(lines[index:start])
        out.append(text)
        index = block.end
    out.extend(lines[index:])
    return "".join(out)


def resolve_file(*, worktree_path: Path, path: str, file_mergers: dict[str, FileMerger] | None = None,
                 content: str | None = None, choices: list[HunkChoice] | None = None,
                 take: str | None = None) -> ConflictFile:
    """Resolve (part of) one conflicted file, by exactly one of: its whole merged ``content``, hunk
    ``choices`` applied to the merged text so far, or ``take`` ("ours" or "theirs") the whole file of
    one side (a side that deleted it deletes it). The working file is written; once no conflict marker
    is left (or a side was taken) the result is staged and the file counts as resolved. Returns the
    file as it stands.

    Raises Invalid (bad path, not exactly one way given, a hunk number that is none, a text edit of a
    binary file, markers left in a file resolved before), NotFound (not a conflicted path), Conflict
    code "no_conflicts" (no merge in progress) or "hunk_resolved" (that hunk was decided already).
    """
    if sum(x is not None for x in (content, choices, take)) != 1:
        raise Invalid("Give exactly one of: content (the merged text), choices (per hunk) or take (a side).")
    repo = worktree_repo(worktree_path)
    root = worktree_path.resolve()
    rel, stages, file = _one_file(repo, root, path, file_mergers)
    try:
        data: bytes | None
        if take is not None:
            if take not in ("ours", "theirs"):
                raise Invalid("take must be ours or theirs: the whole file as one side has it.")
            entry = stages.ours if take == "ours" else stages.theirs
            if entry is not None and entry.mode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
                raise Invalid(f"{rel} is not a regular file on that side: resolve it in the worktree with git.")
            data = _data(repo, entry)
        else:
            if not file.text:
                raise Invalid(f"{rel} is not a text file: keep one side whole (take ours or theirs).")
            text = _apply(file, choices) if choices is not None else (content or "").replace("\r\n", "\n")
            if file.resolved and has_markers(text):
                raise Invalid(f"{rel} is resolved already: write it without conflict markers.")
            data = text.encode("utf-8")
        full = root / rel
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                full.unlink()
        else:
            full.parent.mkdir(parents=True, exist_ok=True)
            if full.is_symlink():
                full.unlink()
            atomic_write(full, data)
        if data is None or take is not None or not has_markers(data.decode("utf-8")):
            index = repo.index
            drop_conflict(index, rel, set(conflict_entries(index)))
            if data is None:
                if rel in index:
                    index.remove(rel)
            else:
                # The mode of the side taken, else of the side that kept the file (executable stays so).
                taken = stages.theirs if take == "theirs" else stages.ours
                source = taken or stages.ours or stages.theirs
                mode = source.mode if source is not None else FileMode.BLOB
                index.add(pygit2.IndexEntry(rel, repo.create_blob(data), mode))
            index.write()
    except BaseException:
        forget_worktree(worktree_path)
        raise
    unresolved = set(conflict_entries(repo.index))
    return _file(repo, root, rel, stages, unresolved)


def resolution_commit(*, worktree_path: Path, author: Author, message: str | None = None) -> Resolution:
    """The merge commit of the resolved index (parents: the branch tip and main's merged commit), made
    but not yet put on the branch, so it can be validated first. Raises Conflict code "no_conflicts"
    (no merge in progress) or "unresolved_conflicts" (one problem per path still conflicted)."""
    repo = worktree_repo(worktree_path)
    merge_head = _merge_head(repo)
    if merge_head is None:
        raise Conflict("No update from main is in progress: there is nothing to resolve.", code="no_conflicts",
                       problems=[Problem("no_conflicts", "No merge is in progress.")])
    left = sorted(conflict_entries(repo.index))
    if left:
        raise Conflict(f"{len(left)} file(s) still have conflicts: {', '.join(left)}.", code="unresolved_conflicts",
                       problems=[Problem("unresolved_conflicts", f"{p} still has conflicts", path=p) for p in left])
    sig = signature(author)
    head = repo.head.target
    text = clean_message(message or f"Merge branch 'main' into {repo.head.shorthand}\n")
    tree = repo.index.write_tree()
    commit = repo.create_commit(None, sig, sig, text, tree, [head, merge_head])
    return Resolution(head=str(head), merged=str(merge_head), commit=str(commit))


def finish_resolution(*, worktree_path: Path, resolution: Resolution) -> None:
    """Put the resolution's commit on the branch (only if the branch is still where it was made) and end
    the merge state. Raises Conflict code "branch_moved" when the branch moved meanwhile."""
    repo = worktree_repo(worktree_path)
    ref = repo.head.resolve()
    if str(ref.target) != resolution.head or [str(h) for h in repo.listall_mergeheads()][:1] != [resolution.merged]:
        raise Conflict("The branch changed while resolving: reload and try again.", code="branch_moved",
                       problems=[Problem("branch_moved", "The branch moved while resolving.")])
    try:
        ref.set_target(pygit2.Oid(hex=resolution.commit), "merge main: conflicts resolved in Calcifer")
        repo.state_cleanup()
        repo.index.write()
    except BaseException:
        forget_worktree(worktree_path)
        raise
