"""The three-way merge of texts behind the conflict resolver (``gitrepo.conflicts.merge3``): what one side
alone changed is taken, what both changed alike is taken once, and every conflict hunk's base, ours and
theirs are exactly the lines its ranges name in each version (checked on generated edits)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from calcifer.gitrepo.conflicts import _blocks, _match, merge3, render_markers, split_lines

LINES = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "e\n", "f\n"]), max_size=14)


@st.composite
def edited(draw: st.DrawFn, base: list[str]) -> list[str]:
    """``base`` with a few lines replaced, inserted or removed."""
    lines = list(base)
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, len(lines)))
        kind = draw(st.sampled_from(["insert", "replace", "delete"]))
        new = draw(st.sampled_from(["X\n", "Y\n", "Z\n", "a\n"]))
        if kind == "insert" or where == len(lines):
            lines.insert(where, new)
        elif kind == "replace":
            lines[where] = new
        else:
            del lines[where]
    return lines


def text(lines: list[str]) -> str:
    return "".join(lines)


def slice_of(lines: list[str], start: int, count: int) -> str:
    return "".join(lines[start - 1:start - 1 + count])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_hunk_ranges_name_exactly_their_lines_in_each_version(data: st.DataObject) -> None:
    base = data.draw(LINES)
    ours, theirs = data.draw(edited(base)), data.draw(edited(base))
    chunks = merge3(text(base), text(ours), text(theirs))
    hunks = [c.hunk for c in chunks if c.hunk is not None]
    for hunk in hunks:
        assert hunk.ours != hunk.theirs
        assert slice_of(base, hunk.base_lines.start, hunk.base_lines.count) == hunk.base
        assert slice_of(ours, hunk.ours_lines.start, hunk.ours_lines.count) == hunk.ours
        assert slice_of(theirs, hunk.theirs_lines.start, hunk.theirs_lines.count) == hunk.theirs
    # Each hunk's marker block is found again in the rendered text, in order.
    assert sorted(_match(hunks, _blocks(split_lines(render_markers(chunks))))) == [h.number for h in hunks]
    if not hunks:
        merged = render_markers(chunks)
        if ours == base:
            assert merged == text(theirs)
        if theirs == base or theirs == ours:
            assert merged == text(ours)


def test_one_sided_and_identical_changes_never_conflict() -> None:
    base = "one\ntwo\nthree\n"
    assert render_markers(merge3(base, "one\n2\nthree\n", base)) == "one\n2\nthree\n"
    assert render_markers(merge3(base, base, "one\ntwo\n3\n")) == "one\ntwo\n3\n"
    assert render_markers(merge3(base, "1\ntwo\nthree\n", "one\ntwo\n3\n")) == "1\ntwo\n3\n"
    same = merge3(base, "one\nTWO\nthree\n", "one\nTWO\nthree\n")
    assert all(c.hunk is None for c in same) and render_markers(same) == "one\nTWO\nthree\n"


def test_lines_both_sides_agree_on_are_left_out_of_the_hunk() -> None:
    chunks = merge3("a\nb\nc\n", "a\nx\nsame\nc\n", "a\ny\nsame\nc\n")
    (hunk,) = [c.hunk for c in chunks if c.hunk is not None]
    assert (hunk.ours, hunk.theirs, hunk.base) == ("x\n", "y\n", "b\n")
    assert render_markers(chunks).endswith("same\nc\n")


def test_a_last_line_without_a_newline_gets_one_inside_markers_only() -> None:
    chunks = merge3("a\nb", "a\nours", "a\ntheirs")
    (hunk,) = [c.hunk for c in chunks if c.hunk is not None]
    assert hunk.ours == "ours" and hunk.theirs == "theirs"
    assert render_markers(chunks) == "a\n<<<<<<< HEAD\nours\n||||||| base\nb\n=======\ntheirs\n>>>>>>> main\n"
