import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirex import lists


def write_bytes(tmp_path, data: bytes, name="list.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_read_paths_tolerates_bom_crlf_blank_lines_and_trailing_tab(tmp_path):
    path = write_bytes(tmp_path, "\ufeff/a/one.wav\t\r\n\r\n  \r\n/b/two words.wav\r\n/c/x.wav\t".encode())
    assert lists.read_paths(path) == ["/a/one.wav", "/b/two words.wav", "/c/x.wav"]


def test_read_paths_keeps_duplicates_in_order(tmp_path):
    path = write_bytes(tmp_path, b"/a.wav\n/b.wav\n/a.wav\n")
    assert lists.read_paths(path) == ["/a.wav", "/b.wav", "/a.wav"]


def test_read_labelled_splits_on_last_tab_and_keeps_spaces(tmp_path):
    path = write_bytes(tmp_path, "\ufeff/x/my song.wav\tCountry / Western \r\n\n/y.wav \t R&B\n".encode())
    assert lists.read_labelled(path) == [("/x/my song.wav", "Country / Western"), ("/y.wav", "R&B")]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"\n \r\n", "empty"),
    (b"/a.wav\tpop\n/b.wav\n", "no tab"),
    (b"/a.wav\t\n", "no label"),
    (b"\tpop\n", "no path"),
])
def test_read_labelled_rejects_malformed_lists_with_file_and_line(tmp_path, content, reason):
    path = write_bytes(tmp_path, content)
    with pytest.raises(lists.ListError) as err:
        lists.read_labelled(path)
    assert str(path) in str(err.value) and reason in str(err.value)


def test_missing_list_is_a_list_error(tmp_path):
    with pytest.raises(lists.ListError, match="cannot read"):
        lists.read_paths(tmp_path / "nope.txt")


def test_write_labelled_round_trips_and_leaves_no_temp_files(tmp_path):
    items = [("/a b/c.wav", "Hip-Hop"), ("/d.wav", "label with spaces")]
    out = tmp_path / "out.txt"
    lists.write_labelled(out, items)
    assert lists.read_labelled(out) == items
    assert out.read_bytes() == b"/a b/c.wav\tHip-Hop\n/d.wav\tlabel with spaces\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_labelled_refuses_labels_that_break_the_format(tmp_path):
    with pytest.raises(ValueError):
        lists.write_labelled(tmp_path / "o.txt", [("/a.wav", "bad\tlabel")])
    assert not (tmp_path / "o.txt").exists()


path_text = st.text(st.characters(blacklist_categories=("Cs",),
                                  blacklist_characters="\t\n\r\ufeff"),
                    min_size=1).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(path_text, path_text), min_size=1, max_size=8),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_labelled_lists_round_trip_whatever_the_line_ends(tmp_path_factory, items, eol, bom):
    path = tmp_path_factory.mktemp("h") / "l.txt"
    text = "".join(f"{p}\t{label}{eol}" for p, label in items)
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    assert lists.read_labelled(path) == items


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_readers_never_fail_with_anything_but_list_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "l.txt"
    path.write_bytes(data)
    for reader in (lists.read_paths, lists.read_labelled):
        try:
            result = reader(path)
        except lists.ListError:
            continue
        assert result and all(result)
