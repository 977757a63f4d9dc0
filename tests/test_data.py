"""Reading corpora: every bad input is refused with the path and the problem."""

import re
import time
import tracemalloc

import pytest

from keras_nextword import NextWordLSTM, data


def write(path, content):
    path.write_bytes(content)
    return path


def named(path, problem):
    """A `match` pattern: the message starts with `path: `, then `problem` (a regex)."""
    return f"^{re.escape(str(path))}: {problem}"


def test_universal_newlines_and_byte_order_mark(tmp_path):
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfIt is\r\nwith a\rheavy\nheart")
    assert data.read_lines(path) == ["It is", "with a", "heavy", "heart"]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=named(tmp_path / "nope.txt", "no such corpus file")
    ):
        data.read_lines(tmp_path / "nope.txt")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=named(tmp_path, r"a directory, not a text file")):
        data.read_lines(tmp_path)


def test_text_files_of_a_directory(tmp_path):
    write(tmp_path / "b.txt", b"b")
    write(tmp_path / "a.txt", b"a")
    write(tmp_path / "notes.md", b"not a corpus")
    (tmp_path / "sub.txt").mkdir()
    assert data.text_files(tmp_path) == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert data.text_files(tmp_path / "a.txt") == [str(tmp_path / "a.txt")]


def test_directory_without_txt_files_is_named(tmp_path):
    write(tmp_path / "notes.md", b"not a corpus")
    with pytest.raises(FileNotFoundError, match=named(tmp_path, r"a directory without .txt files")):
        data.text_files(tmp_path)
    with pytest.raises(
        FileNotFoundError, match=named(tmp_path / "nope", "no such file or directory")
    ):
        data.text_files(tmp_path / "nope")


@pytest.mark.parametrize(
    "content,problem", [(b"", "empty"), (b"\xef\xbb\xbf", "empty"), (b" \r\n\t\n", "whitespace")]
)
def test_empty_or_whitespace_only_file_is_refused(tmp_path, content, problem):
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(ValueError, match=named(path, problem)):
        data.read_lines(path)


def test_non_utf8_byte_is_named_with_its_offset(tmp_path):
    path = write(tmp_path / "latin1.txt", b"one line\ncaf\xe9 au lait\n")
    with pytest.raises(
        ValueError, match=named(path, r"not UTF-8: byte 0xe9 at offset 12 \(line 2\)")
    ):
        data.read_lines(path)


def test_replace_reads_bad_bytes_and_warns_with_their_count(tmp_path):
    # Three bad sequences, and one U+FFFD that is valid UTF-8 (not counted).
    path = write(tmp_path / "mixed.txt", b"caf\xe9 \xef\xbf\xbd\n\xff\xfe ok\n")
    with pytest.warns(UnicodeWarning, match=named(path, r"not UTF-8: 3 undecodable .* offset 3")):
        lines = data.read_lines(path, errors="replace")
    assert lines == ["caf\ufffd \ufffd", "\ufffd\ufffd ok", ""]


def test_bad_errors_argument_is_named(tmp_path):
    path = write(tmp_path / "a.txt", b"a b")
    with pytest.raises(ValueError, match="errors='ignore'"):
        data.read_lines(path, errors="ignore")


def test_binary_file_is_refused_at_its_first_nul(tmp_path):
    path = write(tmp_path / "model.bin", b"PK\x03\x04\x00\x00")
    with pytest.raises(
        ValueError, match=named(path, r"a binary file, not text: NUL byte at offset 4")
    ):
        data.read_lines(path)


def test_utf16_text_is_refused_as_binary(tmp_path):
    path = write(tmp_path / "utf16.txt", "hi there".encode("utf-16"))
    with pytest.raises(ValueError, match=named(path, r"a binary file.*UTF-16")):
        data.read_lines(path)


def test_decode_lines_names_its_source():
    assert data.decode_lines(b"a b\r\nc", "<stdin>") == ["a b", "c"]
    with pytest.raises(ValueError, match="<stdin>: empty"):
        data.decode_lines(b"", "<stdin>")


def test_lines_of_one_word_have_nothing_to_learn(tmp_path):
    path = write(tmp_path / "names.txt", b"Holmes\n\nMoriarty, \n")
    data.check_next_words(["Holmes", "Mr. Holmes"], path)
    with pytest.raises(ValueError, match=named(path, r"no line .* two or more words")):
        data.check_next_words(data.read_lines(path), path)
    with pytest.raises(ValueError, match=named(path, r"no line .* two or more words")):
        NextWordLSTM.from_text(path, epochs=0, validation_split=0.0)


def test_reads_a_4mb_book_quickly(tmp_path):
    path = write(
        tmp_path / "book.txt", b"It is with a heavy heart that I take up my pen\r\n" * 85_000
    )
    start = time.perf_counter()
    lines = data.read_lines(path)
    assert time.perf_counter() - start < 2.0  # about 0.05 s on one core
    assert len(lines) == 85_001


def test_10mb_without_newline_is_read_in_bounded_memory(tmp_path):
    path = write(tmp_path / "one_line.txt", b"word " * 2_000_000)
    tracemalloc.start()
    try:
        lines = data.read_lines(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(lines) == 1 and len(lines[0]) == 10_000_000
    assert peak < 3 * 10_000_000  # the bytes and the text, no per-character objects
