"""Inputs that cannot hurt (issue 15), each through the real CLI in a subprocess: special files,
any file name, long lines, encodings and line endings, damaged and read-only indexes, bad
settings, and control characters that must never reach the terminal raw."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.documents import key_path, key_to_path
from assistant.sentences import _MAX_SEGMENT, split_spans

from .conftest import REPO

ESC_LINE = "Terminal \x1b]0;pwned\x07 titles and \x9b2J screens are set by escape codes \u202e."
NAMES = {
    "bad": os.fsdecode(b"bad\xff.txt"),
    "newline": "new\nline.txt",
}


def run(*args: str, cwd: Path = REPO, timeout: float = 180,
        env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml", "HF_HUB_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(REPO), **(env or {})}
    full.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout,
                          errors="surrogateescape")


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """One folder of hostile inputs next to good files, ingested once through the CLI."""
    root = tmp_path_factory.mktemp("hostile")
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    os.mkfifo(docs / "notes.txt")
    (docs / "zero.txt").symlink_to("/dev/zero")
    (docs / "sub" / "up").symlink_to("..")  # a loop
    (docs / "sub" / "inner.txt").write_text("The pangolin curls into a scaly ball.\n")
    (docs / "linked").symlink_to("sub")  # a second way into sub: read once
    (docs / NAMES["bad"]).write_text("The quokka lives on Rottnest Island.\n")
    (docs / NAMES["newline"]).write_text("Newline file names are rare but legal.\n")
    (docs / "esc.txt").write_text(ESC_LINE + "\n")
    (docs / "bom.txt").write_bytes(
        b"\xef\xbb\xbfThe aardvark eats termites at night.\r\nIt sleeps by day.\r\n\r\n"
        b"The third paragraph mentions burrows.\r\n")
    (docs / "cr.txt").write_bytes(
        b"Old Mac files ended lines with carriage returns.\rThe second line.\r\r"
        b"A paragraph about classic Macintosh.")
    (docs / "utf16.txt").write_bytes("The okapi is related to the giraffe.\n".encode("utf-16"))
    (docs / "utf32.txt").write_bytes("The axolotl regrows its limbs.\n".encode("utf-32"))
    (docs / "long.txt").write_text(" ".join(["zebu"] * 8000))  # 40 KB, no punctuation
    (docs / "good.txt").write_text("The narwhal tusk is a long tooth.\n")
    locked = docs / "locked"
    locked.mkdir()
    (locked / "hidden.txt").write_text("Nobody can list this.\n")
    locked.chmod(0)
    index = root / "index"
    try:
        proc = run("ingest", "--index", str(index), str(docs), "--json", timeout=240)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    text = run("ingest", "--index", str(index), str(docs))  # the same, as text
    return {"root": root, "docs": docs, "index": index, "report": report,
            "by_path": {f["path"]: f for f in report["files"]}, "text": text}


def entry(hostile: dict, path: Path) -> dict:
    return hostile["by_path"][key_path(path)]


def test_special_files_are_skipped_with_a_reason_and_never_block(hostile):
    docs = hostile["docs"]
    assert entry(hostile, docs / "notes.txt")["reason"] == "not a regular file: a named pipe (FIFO)"
    assert entry(hostile, docs / "zero.txt")["reason"] == "not a regular file: a character device"
    assert entry(hostile, docs / "good.txt")["status"] == "indexed"


def test_symlinked_folders_are_walked_once_and_a_loop_is_reported(hostile):
    docs = hostile["docs"]
    assert "symbolic link loop" in entry(hostile, docs / "linked" / "up")["reason"]
    # docs/linked is read (first in order); the real folder is then reported, not dropped
    assert entry(hostile, docs / "linked" / "inner.txt")["status"] == "indexed"
    assert "already read as" in entry(hostile, docs / "sub")["reason"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may list any folder")
def test_a_folder_that_cannot_be_listed_is_a_report_line(hostile):
    assert "cannot list this folder" in entry(hostile, hostile["docs"] / "locked")["reason"]


def test_any_file_name_is_indexed_escaped_on_screen_and_reversible_in_json(hostile):
    docs = hostile["docs"]
    for name in NAMES.values():
        got = entry(hostile, docs / name)
        assert got["status"] == "indexed"
        # the JSON form is valid Unicode and gives back the exact name on disk
        assert os.fsencode(key_to_path(got["path"])) == os.fsencode(str(docs / name))
    shown = hostile["text"].stdout
    assert "bad\\xff.txt" in shown and "new\\nline.txt" in shown
    assert "\x1b" not in shown
    out = run("ask", "--index", str(hostile["index"]), "Where does the quokka live?")
    assert out.returncode == 0, out.stderr
    assert "bad\\xff.txt:1" in out.stdout and "Rottnest" in out.stdout


def test_control_characters_never_reach_the_terminal(hostile):
    out = run("cite", "--index", str(hostile["index"]), "titles are set by escape codes",
              "-k", "1")
    assert out.returncode == 0, out.stderr
    assert "\\e]0;pwned\\x07" in out.stdout and "\\x9b2J" in out.stdout
    assert "\\u202e" in out.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in out.stdout
    js = run("cite", "--index", str(hostile["index"]), "titles are set by escape codes",
             "-k", "1", "--json")
    assert not any(c in js.stdout for c in "\x1b\x07\x9b\u202e")
    assert json.loads(js.stdout)[0]["text"] == ESC_LINE  # the same text for a parser


def cite_json(hostile: dict, text: str) -> dict:
    out = run("cite", "--index", str(hostile["index"]), text, "-k", "1", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def test_bom_spans_are_exact_against_the_file_and_crlf_lines_are_right(hostile):
    top = cite_json(hostile, "The third paragraph mentions burrows.")
    assert top["exact"] and top["line"] == 4
    # the contract: offsets into the file decoded without its BOM
    text = (hostile["docs"] / "bom.txt").read_bytes().decode("utf-8-sig")
    assert text[top["char_start"]:top["char_end"]] == top["text"]
    assert entry(hostile, hostile["docs"] / "bom.txt")["sentences"] == 3


def test_cr_line_endings_make_lines_and_paragraphs(hostile):
    top = cite_json(hostile, "A paragraph about classic Macintosh.")
    assert top["exact"] and top["line"] == 4
    assert entry(hostile, hostile["docs"] / "cr.txt")["sentences"] == 3


def test_utf16_and_utf32_with_a_bom_are_text(hostile):
    for name in ("utf16.txt", "utf32.txt"):
        assert entry(hostile, hostile["docs"] / name)["status"] == "indexed"
    assert cite_json(hostile, "The axolotl regrows its limbs.")["exact"]


def test_a_long_line_without_punctuation_is_split_in_bounded_pieces(hostile):
    got = entry(hostile, hostile["docs"] / "long.txt")
    assert got["status"] == "indexed"
    assert got["sentences"] >= 40_000 // _MAX_SEGMENT


@pytest.mark.parametrize("shape", ["nopunct", "lines", "long-sentences", "crlf"])
def test_split_spans_are_exact_for_every_shape(shape):
    text = {
        "nopunct": "lorem ipsum " * 100_000,  # 1.2 MB, one line
        "lines": "word\n" * 200_000,
        "long-sentences": ("alpha beta gamma " * 2000 + "end. ") * 6,
        "crlf": "First line.\r\nSecond line.\r\n\r\nNew paragraph.\rCR line.",
    }[shape]
    spans = split_spans(text)
    assert spans
    for start, end, _line in spans:
        piece = text[start:end]
        assert piece == piece.strip() and end - start <= _MAX_SEGMENT
    if shape == "lines":
        assert len(spans) == 200_000 and spans[-1][2] == 200_000
    if shape == "crlf":
        assert [(text[s:e], ln) for s, e, ln in spans] == [
            ("First line.", 1), ("Second line.", 2), ("New paragraph.", 4), ("CR line.", 5)]


# -- indexes ------------------------------------------------------------------------------
@pytest.fixture
def index_copy(hostile, tmp_path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(hostile["index"], copy)
    return copy


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_catalog_is_one_message_and_repair_rebuilds_it_from_chroma(index_copy,
                                                                            damage):
    catalog = index_copy / "catalog.sqlite3"
    data = catalog.read_bytes()
    catalog.write_bytes(data[:len(data) // 3] if damage == "truncated" else b"x" * 5000)
    line = one_line_error(run("ask", "--index", str(index_copy), "Where does the quokka live?"))
    assert str(catalog) in line and "assistant repair" in line
    fixed = run("repair", "--index", str(index_copy))
    assert fixed.returncode == 0, fixed.stderr
    assert "documents" in fixed.stdout
    assert list(index_copy.glob("catalog.sqlite3.damaged-*"))  # nothing thrown away
    out = run("ask", "--index", str(index_copy), "Where does the quokka live?", "--json")
    assert out.returncode == 0, out.stderr
    top = json.loads(out.stdout)["citations"][0]
    assert "Rottnest" in top["text"]
    assert os.fsencode(key_to_path(top["path"])).endswith(b"bad\xff.txt")


def _snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_a_read_only_index_can_be_asked_and_nothing_is_written(index_copy):
    for p in [index_copy, *index_copy.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    before = _snapshot(index_copy)
    try:
        out = run("ask", "--index", str(index_copy), "Where does the quokka live?")
        after = _snapshot(index_copy)
    finally:
        for p in [index_copy, *index_copy.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    assert out.returncode == 0, out.stderr
    assert "Rottnest" in out.stdout
    assert after == before  # no lock file, no journal, no marker


def test_a_mistyped_index_is_an_error_and_is_not_created(tmp_path):
    missing = tmp_path / "indx"
    line = one_line_error(run("ask", "--index", str(missing), "anything"))
    assert str(missing) in line and "does not exist" in line
    assert not missing.exists()
    line = one_line_error(run("cite", "--index", str(missing), "anything"))
    assert not missing.exists()


@pytest.mark.parametrize("kind", ["file", "device", "empty"])
def test_an_index_that_is_not_a_folder_gets_a_clear_message(tmp_path, kind):
    target = {"file": tmp_path / "afile", "device": Path("/dev/null"), "empty": ""}[kind]
    if kind == "file":
        target.write_text("not an index")
    proc = run("ingest", "--index", str(target), str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "empty path" in proc.stderr if kind == "empty" else "is not a folder" in proc.stderr


def test_a_tilde_in_index_is_expanded(index_copy, tmp_path):
    out = run("cite", "--index", "~/index", "The narwhal tusk is a long tooth.", "-k", "1",
              env={"HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "[exact]" in out.stdout


# -- settings -----------------------------------------------------------------------------
@pytest.mark.parametrize(("toml", "expected"), [
    ("top_k = [3]", "top_k must be a whole number"),
    ("top_k = 2.5", "top_k must be a whole number"),
    ("top_k = true", "top_k must be a whole number"),
    ("top_k = 0", "top_k must be at least 1"),
    ("max_file_mb = 0", "max_file_mb must be more than 0"),
    ("max_retries = -1", "max_retries must be at least 0"),
    ("max_tokens = 0", "max_tokens must be at least 1"),
    ("model = 3", "model must be a string"),
    ("top_k = ", "not valid TOML"),
])
def test_bad_settings_are_one_line_naming_the_field_and_the_file(tmp_path, toml, expected):
    config = tmp_path / "config.toml"
    config.write_text(toml + "\n")
    line = one_line_error(run("ask", "--config", str(config), "--index", str(tmp_path), "x"))
    assert str(config) in line and expected in line


def test_a_config_that_is_missing_or_unreadable_is_named(tmp_path):
    line = one_line_error(run("ask", "--config", str(tmp_path / "nope.toml"), "x"))
    assert "nope.toml: config file not found" in line
    line = one_line_error(run("ask", "--config", str(tmp_path), "x"))  # a folder
    assert f"{tmp_path}: cannot read the config file" in line


def test_an_unknown_environment_variable_is_a_warning(hostile):
    out = run("cite", "--index", str(hostile["index"]), "narwhal", "-k", "1",
              env={"ASSISTANT_TOPK": "3"})
    assert out.returncode == 0, out.stderr
    assert "warning: ASSISTANT_TOPK is not a setting" in out.stderr
    bad = one_line_error(run("cite", "--index", str(hostile["index"]), "narwhal",
                             env={"ASSISTANT_TOP_K": "many"}))
    assert "ASSISTANT_TOP_K: top_k must be a whole number" in bad
