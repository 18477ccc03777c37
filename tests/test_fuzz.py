"""A bounded fuzz test (issue 15): a folder of random bytes, random Unicode, random file names,
special files and truncated files, ingested through the real CLI next to known good files,
then asked. Seeded (FUZZ_SEED, FUZZ_INPUTS to try others); it prints the figures:

    inputs tried, tracebacks, hangs past the time bound, good files lost, inputs without a
    report line

and fails unless all but the first are 0."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from assistant.documents import key_path, key_to_path

from .conftest import REPO

SEED = int(os.environ.get("FUZZ_SEED", "15"))
INPUTS = int(os.environ.get("FUZZ_INPUTS", "60"))
HANG_S = 150  # an ingest of this folder takes ~20 s; past this bound it counts as a hang
GOOD = [
    "The zorblat mineral glows green under ultraviolet light.",
    "Captain Quillon sailed the brig Meridian around Cape Horn in 1841.",
    "The village of Esterwick brews a cider from frost-bitten quinces.",
]
_ALPHABET = (
    [chr(c) for c in range(0x20, 0x7f)] * 4 + list("\n\n\n\t\r .,;!?") * 6
    + [chr(c) for c in range(0, 0x20)] + [chr(c) for c in range(0x7f, 0xa0)]
    + list("\u202e\u202d\u2066\u200b\u200f\ufeff\u2028\u00e9\u00df\u0301\u4e2d\u6587")
    + list("\U0001f600\U0001f4a9\u05d0\u0627\u0915\ufffd")
)


def _name(rng: random.Random, i: int) -> bytes:
    """A file name: any bytes but '/' and NUL, often not UTF-8, with controls and newlines."""
    kind = rng.choice(["plain", "bytes", "controls", "unicode"])
    if kind == "plain":
        stem = "".join(rng.choice("abcdefgh -_") for _ in range(rng.randint(1, 12))).encode()
    elif kind == "bytes":
        stem = bytes(rng.choice([b for b in range(1, 256) if b != 0x2F])
                     for _ in range(rng.randint(1, 20)))
    elif kind == "controls":
        stem = "".join(rng.choice("ab\n\r\t\x1b\x07\x7f\\ ") for _ in range(8)).encode()
    else:
        stem = "".join(rng.choice(_ALPHABET[-30:]) for _ in range(6)).replace("/", "").encode(
            "utf-8", "surrogatepass")
    suffix = rng.choice([b".txt", b".txt", b".md", b".TXT", b".markdown", b"", b".bin"])
    return b"%02d-" % i + stem.replace(b"/", b"_").replace(b"\x00", b"_")[:60] + suffix


def _content(rng: random.Random) -> bytes:
    kind = rng.choice(["bytes", "unicode", "unicode", "truncated", "bom", "long-line", "empty"])
    if kind == "bytes":
        return rng.randbytes(rng.randint(1, 3000))
    if kind == "unicode":
        return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 2500))).encode(
            "utf-8", "surrogatepass")
    if kind == "truncated":
        text = "Ein Käfer krabbelt über die Straße. 中文句子。 " * rng.randint(1, 40)
        data = text.encode(rng.choice(["utf-8", "utf-16", "utf-32"]))
        return data[:rng.randint(1, len(data))]
    if kind == "bom":
        body = "".join(rng.choice(_ALPHABET[:400]) for _ in range(300))
        return rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"]) + \
            body.encode(rng.choice(["utf-8", "utf-16-le", "utf-16-be", "utf-32-le"]))
    if kind == "long-line":
        return (" ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(8000))).encode()
    return rng.choice([b"", b"   \n\n\t ", b"\x00" * 10])


def _special(rng: random.Random, folder: bytes, name: bytes) -> None:
    path = os.path.join(folder, name)
    kind = rng.choice(["fifo", "dev-zero", "dev-null", "broken", "loop", "self"])
    if kind == "fifo":
        os.mkfifo(path)
    elif kind in ("dev-zero", "dev-null"):
        os.symlink(b"/dev/zero" if kind == "dev-zero" else b"/dev/null", path)
    elif kind == "broken":
        os.symlink(b"/nonexistent/target.txt", path)
    elif kind == "self":
        os.symlink(path, path)
    else:
        os.mkdir(path)
        os.symlink(b"..", os.path.join(path, b"back"))


def _run(args: list[str], timeout: float) -> tuple[subprocess.CompletedProcess | None, str]:
    env = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml", "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              errors="surrogateescape")
        return proc, proc.stderr
    except subprocess.TimeoutExpired:
        return None, ""


def test_fuzz_ingest_then_ask(tmp_path):
    rng = random.Random(SEED)
    folder = os.fsencode(tmp_path / "inputs")
    os.mkdir(folder)
    inputs: list[bytes] = []
    for i in range(INPUTS):
        name = _name(rng, i)
        if rng.random() < 0.2:
            _special(rng, folder, name)
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(_content(rng))
        inputs.append(name)
    goods = []
    for j, sentence in enumerate(GOOD):
        name = b"%02d-good-%d.txt" % (INPUTS + j, j)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(f"Some context first.\n\n{sentence}\n".encode())
        goods.append((name, sentence))
    index = str(tmp_path / "index")
    figures = {"seed": SEED, "inputs_tried": len(inputs) + len(goods), "tracebacks": 0,
               "hangs": 0, "good_files_lost": 0, "inputs_without_a_report_line": 0}

    proc, err = _run(["ingest", "--index", index, os.fsdecode(folder), "--json"], HANG_S)
    figures["tracebacks"] += err.count("Traceback")
    report_paths: set[str] = set()
    if proc is None:
        figures["hangs"] += 1
    elif proc.returncode == 0:
        report_paths = {f["path"] for f in json.loads(proc.stdout)["files"]}
    for name in inputs + [g for g, _ in goods]:
        key = key_path(Path(os.fsdecode(os.path.join(folder, name))))
        if not any(p == key or p.startswith(key + "/") for p in report_paths):
            figures["inputs_without_a_report_line"] += 1
    for name, sentence in goods:
        proc, err = _run(["cite", "--index", index, sentence, "-k", "1", "--json"], 60)
        figures["tracebacks"] += err.count("Traceback")
        if proc is None:
            figures["hangs"] += 1
            continue
        top = json.loads(proc.stdout)[0] if proc.returncode == 0 and proc.stdout else {}
        if not (top.get("exact") and os.fsencode(key_to_path(top["path"])).endswith(name)):
            figures["good_files_lost"] += 1
    proc, err = _run(["ask", "--index", index, "What glows green under ultraviolet light?"], 60)
    figures["tracebacks"] += err.count("Traceback")
    if proc is None:
        figures["hangs"] += 1
    elif "zorblat" not in proc.stdout or "\x1b" in proc.stdout:
        figures["good_files_lost"] += 1
    print("fuzz figures:", json.dumps(figures))
    assert figures["tracebacks"] == figures["hangs"] == 0, figures
    assert figures["good_files_lost"] == figures["inputs_without_a_report_line"] == 0, figures
