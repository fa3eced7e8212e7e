"""Bad input and faults, as a hostile but realistic user meets them: one table of cases.

Every case runs the real ``relabel`` command (in this process, through click) and asserts
three things: the exit code, the message (a pattern of the output), and that the project
folder is unchanged: the hash of every file in it is the same before and after (for the
cases that must create or change it, what must exist afterwards instead). A traceback in
the output fails every case. The kill -9 faults run ``relabel`` as a child process that
kills itself at a failpoint (:mod:`relabel.infra.failpoints`); those of push and pull talk to
the session's real Label Studio.

The reliability table of ``docs/reliability.md`` is generated from this table and the
outcome of the last run (``make reliability``; see ``tests/reliability_readme.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from relabel.errors import ExitCode
from relabel.infra.lock import project_lock
from relabel.project import Project
from tests.clirun import Ran, relabel_in_process, relabel_subprocess
from tests.imagefiles import write_manifest_dataset, write_png

ROOT = Path(__file__).resolve().parents[1]
INVALID, STUDIO, LOCKED, USAGE = (
    int(ExitCode.INVALID_INPUT),
    int(ExitCode.STUDIO),
    int(ExitCode.LOCKED),
    int(ExitCode.USAGE),
)
CLOSED_PORT = "http://127.0.0.1:9"

# ---------------------------------------------------------------------------------------
# Helpers: files, projects, the folder hash, running the command
# ---------------------------------------------------------------------------------------


def tree(folder: Path) -> dict[str, str] | None:
    """sha256 of every file under ``folder`` by relative path (None: no folder)."""
    if not folder.exists():
        return None
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def invoke(argv: list[str], env: dict[str, str | None]) -> tuple[int, str]:
    """Run ``relabel ARGV`` with ``env`` on top of this environment (None: unset); return
    the exit code and stdout + stderr (with any traceback)."""
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    ran = relabel_in_process(argv, full)
    return ran.returncode, ran.stdout + ran.stderr


def data(tmp: Path, **kwargs: object) -> Path:
    """Twelve small PNGs (cat, dog) and their manifest.csv; return the manifest."""
    return write_manifest_dataset(tmp / "data", **kwargs)  # type: ignore[arg-type]


def init_argv(tmp: Path, manifest: Path, *extra: str) -> list[str]:
    return ["init", str(tmp / "proj"), "--manifest", str(manifest), "--folds", "3", *extra]


def project(tmp: Path) -> Path:
    """An initialised project of twelve images at ``tmp/proj``."""
    Project.init(tmp / "proj", manifest=data(tmp), folds=3)
    return tmp / "proj"


def trained(tmp: Path) -> Path:
    """A project with a run of chosen out-of-fold probabilities (no training here)."""
    from tests.test_roundtrip import make_project

    return make_project(tmp, 9, budget=3)


def set_key(proj: Path, section: str, key: str, value: str) -> None:
    """Edit ``relabel.toml`` as a user would: replace or add ``key = value`` in a section."""
    path = proj / "relabel.toml"
    text = path.read_text()
    head = f"[{section}]\n"
    start = text.index(head) + len(head)
    end = text.find("\n[", start)
    end = len(text) if end < 0 else end + 1
    body = text[start:end]
    line = re.compile(rf"^{re.escape(key)} = .*$", re.M)
    body = line.sub(f"{key} = {value}", body) if line.search(body) else f"{key} = {value}\n" + body
    path.write_text(text[:start] + body + text[end:])


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says WIDTH x HEIGHT (its pixel data is never needed)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


def edit_line(manifest: Path, line: int, new: str) -> Path:
    lines = manifest.read_text().splitlines()
    lines[line - 1] = new
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def with_image(tmp: Path, name: str, save: Callable[[Path], None]) -> Path:
    """The twelve-image manifest plus one image written by ``save``, labelled cat."""
    manifest = data(tmp)
    save(tmp / "data" / "img" / name)
    with manifest.open("a") as fh:
        fh.write(f"extra,img/{name},cat\n")
    return manifest


def studio_env(url: str = CLOSED_PORT, token: str | None = "t" * 40) -> dict[str, str | None]:
    return {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": token}


def one_retry(proj: Path) -> Path:
    set_key(proj, "studio", "retries", "1")
    return proj


def damage_pages(proj: Path) -> None:
    db = proj / "relabel.db"
    raw = bytearray(db.read_bytes())
    raw[4096:8192] = b"\xa5" * 4096  # the second page: a table's b-tree
    db.write_bytes(bytes(raw))


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input or fault.

    Attributes
    ----------
    id : str
        Short name (the pytest id and the row of docs/reliability.md).
    about : str
        What the user does, for docs/reliability.md.
    setup : callable
        Builds what the case needs under a temporary folder; returns the command's argv.
    code : int
        The expected exit code.
    says : str
        A regular expression the output must match.
    env : dict
        Environment for the command (None removes a variable).
    unchanged : bool
        The project folder (``tmp/proj``) must hash the same before and after.
    hold_lock : bool
        Another holder keeps the project lock while the command runs.
    then : callable, optional
        More checks: ``then(tmp, output)``.
    issue : bool
        One of the faults of the reliability issue (did not hold before it).
    read_only : str
        A path under the temporary folder (``proj``, ``proj/relabel.db``) that is
        read-only while the command runs: the command runs as a child process, under a
        read-only bind mount of that path (as root, whom file modes do not stop) or with
        the write bits of the path and everything under it removed.
    """

    id: str
    about: str
    setup: Callable[[Path], list[str]]
    code: int
    says: str
    env: dict[str, str | None] = field(default_factory=dict)
    unchanged: bool = True
    hold_lock: bool = False
    then: Callable[[Path, str], None] | None = None
    issue: bool = False
    read_only: str = ""


def _no_project(tmp: Path, out: str) -> None:
    assert not (tmp / "proj").exists(), list((tmp / "proj").rglob("*"))


def _created(n: int) -> Callable[[Path, str], None]:
    def check(tmp: Path, out: str) -> None:
        with Project.open(tmp / "proj") as p:
            assert p.store.n_samples() == n

    return check


def _no_runs(tmp: Path, out: str) -> None:
    assert not (tmp / "proj" / "runs").exists()


def _no_secret(tmp: Path, out: str) -> None:
    assert "secret" not in out and "qval" not in out, out


def _still_empty_db(tmp: Path, out: str) -> None:
    assert (tmp / "proj" / "relabel.db").stat().st_size == 0


def _skipped_lists(name: str) -> Callable[[Path, str], None]:
    def check(tmp: Path, out: str) -> None:
        skipped = pd.read_csv(tmp / "proj" / "skipped.csv")
        assert skipped["path"].str.endswith(name).tolist() == [True]
        with Project.open(tmp / "proj") as p:
            assert p.store.n_samples() == 12

    return check


def _nothing_at(path: str) -> Callable[[Path, str], None]:
    def check(tmp: Path, out: str) -> None:
        assert not (tmp / path).exists()

    return check


def _ok_image(name: str, save: Callable[[Path], None]) -> Case:
    return Case(
        f"image-{name.split('.')[0]}",
        f"a manifest with one {name.split('.')[0]} image ({name}) among PNGs",
        lambda t: init_argv(t, with_image(t, name, save)),
        0,
        r"13 samples, 2 classes",
        unchanged=False,
        then=_created(13),
    )


def _save_mode(mode: str, fmt: str = "PNG", **kw: object) -> Callable[[Path], None]:
    def save(path: Path) -> None:
        rng = np.random.default_rng(1)
        if mode == "I;16":
            img = Image.fromarray(rng.integers(0, 65535, (12, 12), dtype=np.uint16))
        else:
            img = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).convert(mode)
        img.save(path, fmt, **kw)

    return save


def _animated(path: Path) -> None:
    frames = [Image.new("P", (12, 12), i * 40) for i in range(3)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def _bom_crlf(tmp: Path) -> list[str]:
    manifest = data(tmp)
    text = manifest.read_text().replace("\n", "\r\n")
    manifest.write_bytes(b"\xef\xbb\xbf" + text.encode())
    return init_argv(tmp, manifest)


def _parquet_int_labels(tmp: Path) -> list[str]:
    frame = pd.read_csv(data(tmp), dtype=str)
    frame["label"] = (frame["label"] == "dog").astype(int)
    pq = tmp / "data" / "manifest.parquet"
    frame.to_parquet(pq)
    return init_argv(tmp, pq)


def _hidden_and_nested(tmp: Path) -> list[str]:
    images = tmp / "images"
    for i in range(6):
        write_png(images / "cat" / f"{i}.png", i)
        write_png(images / "dog" / "deeper" / "still" / f"{i}.png", 10 + i)
    write_png(images / "cat" / ".hidden.png", 99)
    write_png(images / ".thumbs" / "x.png", 98)
    (images / "cat" / "notes.txt").write_text("not an image")
    return ["init", str(tmp / "proj"), "--images", str(images), "--folds", "3"]


def _image_replaced(name: str, damage: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    """The twelve-image manifest with one image damaged before init."""

    def setup(tmp: Path) -> list[str]:
        manifest = data(tmp)
        damage(tmp / "data" / "img" / name)
        return init_argv(tmp, manifest)

    return setup


def _init_twice(tmp: Path) -> list[str]:
    project(tmp)
    return init_argv(tmp, data(tmp / "again"))


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _broken_after_init(how: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        proj = project(tmp)
        img = tmp / "data" / "img"
        if how == "deleted":
            (img / "cat_001.png").unlink()
            (img / "dog_009.png").unlink()
        else:
            (img / "cat_002.png").write_bytes(b"garbage, not a PNG any more")
        return ["train", str(proj)]

    return setup


def _edited(section: str, key: str, value: str, *argv: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        proj = project(tmp)
        set_key(proj, section, key, value)
        return [a.replace("PROJ", str(proj)) for a in argv]

    return setup


def _after(make: Callable[[Path], Path], *argv: str, edit: Callable | None = None) -> Callable:
    """Setup: ``make`` a project, ``edit`` it, then run ARGV (PROJ and TMP substituted)."""

    def setup(tmp: Path) -> list[str]:
        proj = make(tmp)
        if edit is not None:
            edit(proj)
        return [a.replace("PROJ", str(proj)).replace("TMP", str(tmp)) for a in argv]

    return setup


def _then_project(*argv: str, edit: Callable | None = None) -> Callable:
    return _after(project, *argv, edit=edit)


def _then_trained(*argv: str, edit: Callable | None = None) -> Callable:
    return _after(trained, *argv, edit=edit)


def _regular_file(tmp: Path) -> list[str]:
    proj = project(tmp)
    (tmp / "afile").write_text("a regular file")
    return ["export", str(proj), "--out", str(tmp / "afile" / "x.csv")]


def _truth(tmp: Path) -> list[str]:
    proj = project(tmp)
    (tmp / "truth.csv").write_text("id,label\ns000,cat\n")
    return ["review-simulate", str(proj), "--truth", str(tmp / "truth.csv")]


def _lock_before_init(tmp: Path) -> list[str]:
    manifest = data(tmp)
    (tmp / "proj").mkdir()
    (tmp / "proj" / ".lock").touch()
    return init_argv(tmp, manifest)


CASES: list[Case] = [
    # -- init: files and rows (held before the reliability issue) -------------------------
    Case(
        "missing-file",
        "a manifest row names a file that does not exist",
        lambda t: init_argv(t, edit_line(data(t), 3, "s001,img/nope.png,cat")),
        INVALID,
        r"manifest\.csv line 3: file not found",
        then=_no_project,
    ),
    Case(
        "truncated-image",
        "a PNG cut short (its last 40 bytes)",
        _image_replaced("dog_007.png", lambda p: p.write_bytes(p.read_bytes()[:-40])),
        INVALID,
        r"manifest\.csv line 9: corrupt image .*dog_007\.png",
        then=_no_project,
    ),
    Case(
        "zero-byte-image",
        "an image file of zero bytes",
        _image_replaced("cat_003.png", lambda p: p.write_bytes(b"")),
        INVALID,
        r"manifest\.csv line 5: not an image .*cat_003\.png",
        then=_no_project,
    ),
    Case(
        "not-an-image",
        "a text file named .png",
        _image_replaced("cat_004.png", lambda p: p.write_text("hello")),
        INVALID,
        r"manifest\.csv line 6: not an image",
        then=_no_project,
    ),
    Case(
        "empty-path",
        "a row with an empty path",
        lambda t: init_argv(t, edit_line(data(t), 5, "s003,,cat")),
        INVALID,
        r"manifest\.csv line 5: empty path",
        then=_no_project,
    ),
    Case(
        "duplicate-id",
        "two rows with the same id",
        lambda t: init_argv(t, edit_line(data(t), 4, "s001,img/cat_002.png,cat")),
        INVALID,
        r"line 4: duplicate id 's001' \(first at manifest\.csv line 3\)",
        then=_no_project,
    ),
    Case(
        "one-class",
        "every row has the same label",
        lambda t: init_argv(t, data(t, classes=("cat",))),
        INVALID,
        r"at least 2 classes",
        then=_no_project,
    ),
    Case(
        "class-smaller-than-folds",
        "a class with fewer samples than cross-validation folds",
        lambda t: init_argv(t, data(t, per_class=2)),
        INVALID,
        r"class 'cat' has 2 valid sample\(s\), fewer than the 3 cross-validation folds",
        then=_no_project,
    ),
    Case(
        "missing-column",
        "a manifest without a path column",
        lambda t: init_argv(t, edit_line(data(t), 1, "id,file,label")),
        INVALID,
        r"missing column\(s\) path",
        then=_no_project,
    ),
    Case(
        "bom-and-crlf",
        "a manifest saved by Excel: UTF-8 BOM and CRLF line ends",
        _bom_crlf,
        0,
        r"12 samples, 2 classes",
        unchanged=False,
        then=_created(12),
    ),
    Case(
        "parquet-integer-labels",
        "a Parquet manifest with integer labels",
        _parquet_int_labels,
        0,
        r"12 samples, 2 classes",
        unchanged=False,
        then=_created(12),
    ),
    Case(
        "hidden-and-nested",
        "an images folder with hidden files, a hidden folder, nested folders and a .txt",
        _hidden_and_nested,
        0,
        r"12 samples, 2 classes",
        unchanged=False,
        then=_created(12),
    ),
    _ok_image("rgba.png", _save_mode("RGBA")),
    _ok_image("palette.png", _save_mode("P")),
    _ok_image("16bit.png", _save_mode("I;16")),
    _ok_image("cmyk.jpg", _save_mode("CMYK", "JPEG")),
    _ok_image("animated.gif", _animated),
    Case(
        "skip-invalid",
        "--skip-invalid with a missing file",
        lambda t: [*init_argv(t, with_image(t, "gone.png", lambda p: None)), "--skip-invalid"],
        0,
        r"skipped 1 invalid row",
        unchanged=False,
        then=_skipped_lists("gone.png"),
    ),
    Case(
        "init-twice",
        "init on a project that exists",
        _init_twice,
        INVALID,
        r"already initialised",
    ),
    Case(
        "missing-project",
        "a command on a folder that is not a project",
        lambda t: ["status", str(t / "proj")],
        INVALID,
        r"relabel\.toml",
        then=_no_project,
    ),
    # -- config ----------------------------------------------------------------------------
    Case(
        "unknown-config-key",
        "relabel.toml with a key relabel does not know",
        _edited("training", "epoch", "3", "status", "PROJ"),
        INVALID,
        r"training\.epoch",
    ),
    Case(
        "mistyped-config-key",
        "relabel.toml with a string where a number belongs",
        _edited("training", "folds", '"five"', "status", "PROJ"),
        INVALID,
        r"training\.folds",
    ),
    Case(
        "out-of-range-config-key",
        "relabel.toml with one fold",
        _edited("training", "folds", "1", "status", "PROJ"),
        INVALID,
        r"training\.folds must be at least 2",
    ),
    Case(
        "classes-edited-after-init",
        "dataset.classes edited after init",
        _edited("dataset", "classes", '["cat", "dog", "cow"]', "status", "PROJ"),
        INVALID,
        r"dataset\.classes was changed after init .*set dataset\.classes back to \['cat', 'dog'\]",
        issue=True,
    ),
    # -- commands in the wrong order, unknown ids, the label store -----------------------
    Case(
        "score-before-train",
        "score before any training run",
        _then_project("score", "PROJ", "--out", "TMP/s.csv"),
        INVALID,
        r"no trained run yet; run: relabel train",
        then=_nothing_at("s.csv"),
    ),
    Case(
        "unknown-sample-id",
        "history of a sample id that does not exist",
        _then_project("history", "PROJ", "no-such-id"),
        INVALID,
        r"no-such-id",
    ),
    Case(
        "store-broken-header",
        "relabel.db whose first bytes were overwritten",
        _then_project(
            "status",
            "PROJ",
            edit=lambda p: (p / "relabel.db").write_bytes(
                b"x" * 16 + (p / "relabel.db").read_bytes()[16:]
            ),
        ),
        INVALID,
        r"relabel\.db: not a relabel label store",
    ),
    Case(
        "store-damaged-pages-status",
        "status on a relabel.db with damaged pages",
        _then_project("status", "PROJ", edit=damage_pages),
        INVALID,
        r"relabel\.db: not a relabel label store, or a damaged one",
        issue=True,
    ),
    Case(
        "store-damaged-pages-export",
        "export from a relabel.db with damaged pages",
        _then_project("export", "PROJ", "--out", "TMP/e.csv", edit=damage_pages),
        INVALID,
        r"not a relabel label store, or a damaged one",
        then=_nothing_at("e.csv"),
        issue=True,
    ),
    Case(
        "store-damaged-pages-score",
        "score on a relabel.db with damaged pages",
        _then_trained("score", "PROJ", "--out", "TMP/s.csv", edit=damage_pages),
        INVALID,
        r"not a relabel label store, or a damaged one",
        then=_nothing_at("s.csv"),
        issue=True,
    ),
    Case(
        "store-zero-bytes",
        "status on a zero-byte relabel.db (it must stay zero bytes)",
        _then_project("status", "PROJ", edit=lambda p: (p / "relabel.db").write_bytes(b"")),
        INVALID,
        r"relabel\.db: not a relabel label store \(an empty file\)",
        then=_still_empty_db,
        issue=True,
    ),
    # -- unwritable outputs ----------------------------------------------------------------
    Case(
        "out-in-proc",
        "export --out /proc/x.csv",
        _then_project("export", "PROJ", "--out", "/proc/x.csv"),
        INVALID,
        r"/proc/x\.csv: cannot write the output file",
        issue=True,
    ),
    Case(
        "out-under-a-file",
        "export --out under a regular file",
        _regular_file,
        INVALID,
        r"afile/x\.csv: cannot write the output file",
        then=lambda t, o: (t / "afile").read_text() == "a regular file" or pytest.fail("changed"),
        issue=True,
    ),
    Case(
        "score-out-unwritable",
        "score --out /proc/x.csv",
        _then_trained("score", "PROJ", "--out", "/proc/x.csv"),
        INVALID,
        r"/proc/x\.csv: cannot write the output file",
        issue=True,
    ),
    Case(
        "report-out-unwritable",
        "report --out /proc/report",
        _then_trained("report", "PROJ", "--out", "/proc/report"),
        INVALID,
        r"/proc/report: cannot write the report there",
        issue=True,
    ),
    # -- huge images ---------------------------------------------------------------------------
    Case(
        "huge-image",
        "a 20000 x 20000 PNG in the manifest",
        lambda t: init_argv(t, with_image(t, "huge.png", lambda p: png_header(p, 20000, 20000))),
        INVALID,
        r"line 14: image too large: (20000 x 20000 = )?400,000,000 pixels, over "
        r"dataset\.max_pixels = 100,000,000",
        then=_no_project,
        issue=True,
    ),
    Case(
        "huge-image-skip-invalid",
        "the same with --skip-invalid",
        lambda t: init_argv(
            t, with_image(t, "huge.png", lambda p: png_header(p, 20000, 20000)), "--skip-invalid"
        ),
        0,
        r"skipped 1 invalid row",
        unchanged=False,
        then=_skipped_lists("huge.png"),
        issue=True,
    ),
    Case(
        "large-image-no-raw-warning",
        "a 12000 x 12000 PNG (over the limit; no raw Pillow warning)",
        lambda t: init_argv(t, with_image(t, "big.png", lambda p: png_header(p, 12000, 12000))),
        INVALID,
        r"^(?![\s\S]*DecompressionBombWarning)[\s\S]*image too large: 12000 x 12000",
        then=_no_project,
        issue=True,
    ),
    Case(
        "max-pixels-at-train",
        "dataset.max_pixels lowered below the images' size, then train",
        _edited("dataset", "max_pixels", "100", "train", "PROJ"),
        INVALID,
        r"12 image\(s\) changed since init[\s\S]*over dataset\.max_pixels = 100",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "header-only-manifest",
        "a manifest with a header and no rows",
        lambda t: init_argv(t, _written(t / "m.csv", "id,path,label\n")),
        INVALID,
        r"m\.csv: the manifest has no rows",
        then=_no_project,
        issue=True,
    ),
    Case(
        "empty-manifest",
        "a manifest of zero bytes",
        lambda t: init_argv(t, _written(t / "m.csv", "")),
        INVALID,
        r"m\.csv: the manifest is empty",
        then=_no_project,
        issue=True,
    ),
    # -- images that break after init ---------------------------------------------------------
    Case(
        "images-deleted-after-init",
        "two images deleted after init, then train",
        _broken_after_init("deleted"),
        INVALID,
        r"2 image\(s\) changed since init[\s\S]*cat_001\.png[\s\S]*dog_009\.png",
        then=_no_runs,
        issue=True,
    ),
    Case(
        "image-garbage-after-init",
        "an image overwritten with garbage after init, then train",
        _broken_after_init("garbage"),
        INVALID,
        r"1 image\(s\) changed since init[\s\S]*not an image \(unreadable\): .*cat_002\.png",
        then=_no_runs,
        issue=True,
    ),
    # -- Label Studio without a server -------------------------------------------------------
    Case(
        "push-without-token",
        "push with LABEL_STUDIO_API_KEY unset",
        _then_trained("push", "PROJ"),
        INVALID,
        r"LABEL_STUDIO_API_KEY is not set",
        env=studio_env(token=None),
    ),
    Case(
        "push-closed-port",
        "push to a port nothing listens on",
        _then_trained("push", "PROJ", edit=one_retry),
        STUDIO,
        r"Label Studio at http://127\.0\.0\.1:9 is unreachable",
        env=studio_env(),
    ),
    Case(
        "credentials-in-url",
        "LABEL_STUDIO_URL with user:secret@ and a query string",
        _then_trained("push", "PROJ", edit=one_retry),
        STUDIO,
        r"unreachable",
        env=studio_env("http://user:secret@127.0.0.1:9/?key=qval"),
        then=_no_secret,
        issue=True,
    ),
    Case(
        "http-logs-with-vv",
        "-vv: one log line per HTTP request",
        lambda t: ["-vv", *_then_trained("push", "PROJ", edit=one_retry)(t)],
        STUDIO,
        r"D .*(GET|POST|PATCH) http://127\.0\.0\.1:9/",
        env=studio_env(),
        issue=True,
    ),
    Case(
        "push-budget-fraction",
        "push --budget 0.05 (a fraction, as review.budget takes)",
        _then_trained("push", "PROJ", "--budget", "0.05", edit=one_retry),
        STUDIO,
        r"unreachable",
        env=studio_env(),
        issue=True,
    ),
    Case(
        "budget-not-a-budget",
        "cycle --budget 1.5",
        _then_project("cycle", "PROJ", "--budget", "1.5"),
        USAGE,
        r"give a count >= 0 or a fraction in \(0, 1\)",
        issue=True,
    ),
    # -- the project lock ----------------------------------------------------------------
    *[
        Case(
            f"locked-{command}",
            f"{command} while another relabel process holds the project",
            _then_project(command, "PROJ"),
            LOCKED,
            r"another relabel process \(pid \d+",
            env=studio_env(),
            hold_lock=True,
            issue=command != "cycle",
        )
        for command in ("train", "push", "pull", "cycle")
    ],
    Case(
        "locked-review-simulate",
        "review-simulate while another relabel process holds the project",
        _truth,
        LOCKED,
        r"another relabel process",
        env=studio_env(),
        hold_lock=True,
        issue=True,
    ),
    Case(
        "locked-init",
        "init into a folder while another relabel process holds it",
        _lock_before_init,
        LOCKED,
        r"another relabel process",
        hold_lock=True,
        issue=True,
    ),
    Case(
        "cycle-budget-fraction-and-yes",
        "cycle --budget 0.05 --yes (fraction accepted; --yes says it is deprecated)",
        _then_project("cycle", "PROJ", "--budget", "0.05", "--yes"),
        LOCKED,
        r"--yes is deprecated and has no effect[\s\S]*another relabel process",
        env=studio_env(),
        hold_lock=True,
        issue=True,
    ),
]


@contextmanager
def _held(proj: Path, hold: bool) -> Iterator[None]:
    if not hold:
        yield
        return
    with project_lock(proj):
        yield


def _writable_bits(path: Path, on: bool) -> None:
    """Remove (or give back) the write bits of ``path`` and everything under it."""
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        mode = p.stat().st_mode
        p.chmod(mode | 0o200 if on else mode & ~0o222)


def invoke_read_only(argv: list[str], env: dict[str, str | None], path: Path) -> tuple[int, str]:
    """Run ``relabel ARGV`` as a child process while ``path`` is read-only."""
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    command = [sys.executable, "-m", "relabel.cli", *argv]
    if os.geteuid() == 0:  # root writes whatever the modes say: a read-only mount
        script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(path)]
        command += [sys.executable, "-m", "relabel.cli", *argv]
    else:
        _writable_bits(path, on=False)
    try:
        done = subprocess.run(
            command, env=full, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
        )
    finally:
        if os.geteuid() != 0:
            _writable_bits(path, on=True)
    return done.returncode, done.stdout + done.stderr


def run_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one case of a case table and check its exit code, message and folder."""
    monkeypatch.chdir(tmp_path)
    argv = case.setup(tmp_path)
    proj = tmp_path / "proj"
    env = {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None, **case.env}
    with _held(proj, case.hold_lock) if case.hold_lock else nullcontext():
        before = tree(proj)
        if case.read_only:
            code, out = invoke_read_only(argv, env, tmp_path / case.read_only)
        else:
            code, out = invoke(argv, env)
        after = tree(proj)
    assert "Traceback" not in out, out
    assert code == case.code, out
    assert re.search(case.says, out), out
    if case.unchanged:
        assert after == before
    if case.then is not None:
        case.then(tmp_path, out)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)


def test_case_ids_are_unique_and_enough() -> None:
    from tests.test_reliability3 import CASES as CASES3
    from tests.test_reliability3 import FAULTS as FAULTS3

    ids = [c.id for c in [*CASES, *CASES3]] + [f.id for f in [*FAULTS, *FAULTS3]]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


# ---------------------------------------------------------------------------------------
# kill -9 at the worst moment (child processes; push and pull on the real server)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A case with its own test function (a kill -9, a moved Label Studio).

    Attributes
    ----------
    id, about : str
        As for :class:`Case`.
    test : str
        The test function that checks it (here, or in ``tests/test_studio_move.py``).
    exit : str
        The exit codes the user sees.
    holds : str
        What must hold afterwards.
    issue : bool
        It did not hold before the reliability issue.
    """

    id: str
    about: str
    test: str
    exit: str
    holds: str
    issue: bool = False


_RERUN = "the rerun ends as an uninterrupted run would: no duplicate task, no doubled review"
FAULTS = [
    Fault(
        "kill-9-init",
        "init killed inside the store's transaction, then run again",
        "test_kill_9_during_init",
        "-9, then 0",
        "no relabel.db after the kill; the rerun creates the project",
        issue=True,
    ),
    Fault(
        "kill-9-push",
        "push killed after the 2nd import batch, then run again",
        "test_kill_9_during_push",
        "-9, then 0",
        _RERUN,
    ),
    Fault(
        "kill-9-pull",
        "pull killed before its commit, then run twice",
        "test_kill_9_during_pull",
        "-9, then 0",
        _RERUN,
    ),
    Fault(
        "studio-reached-as-localhost",
        "push and pull at localhost after pushing at 127.0.0.1",
        "test_push_and_pull_carry_on_when_reached_as_localhost",
        "0",
        "the same Label Studio project, zero duplicates, zero stuck samples",
        issue=True,
    ),
    Fault(
        "studio-restarted-on-another-port",
        "a push killed, Label Studio restarted on another port, push and pull again",
        "test_killed_push_finishes_after_the_server_moved_to_another_port",
        "-9, then 0",
        "the same Label Studio project, zero duplicates, zero stuck samples",
        issue=True,
    ),
    Fault(
        "studio-project-missing-at-new-url",
        "the bound Label Studio project is not at the new URL",
        "test_a_bound_project_missing_at_the_new_url_exits_7_and_changes_nothing",
        "7 Label Studio",
        "both URLs and `relabel studio bind` named; no second project; folder unchanged",
        issue=True,
    ),
    Fault(
        "studio-bind",
        "relabel studio bind to the right, a foreign and a missing project",
        "test_studio_bind",
        "0 / 7 Label Studio",
        "only the right project is bound; refusals change no file",
        issue=True,
    ),
]


def _env(extra: dict[str, str]) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO")}
    full.update(extra)
    return full


def relabel_child(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``relabel ARGV`` as a child process (it kills itself at the failpoint in ``env``)."""
    return relabel_subprocess(argv, _env(env), cwd=ROOT)


def relabel_here(argv: list[str], env: dict[str, str]) -> Ran:
    """``relabel ARGV`` in this process, with the environment of :func:`relabel_child`."""
    return relabel_in_process(argv, _env(env), cwd=ROOT)


def test_the_command_exits_with_the_documented_code_as_a_process(tmp_path: Path) -> None:
    """The ``relabel`` console script and ``python -m relabel.cli`` as real processes: the
    exit code of a library error reaches the shell (the cases above run in this process)."""
    proj = trained(tmp_path)
    env = _env({"LABEL_STUDIO_URL": CLOSED_PORT})  # and no token
    script = Path(sys.executable).with_name("relabel")
    assert script.is_file(), f"no console script {script}: run make install (pip install -e .)"
    for command in ([str(script)], [sys.executable, "-m", "relabel.cli"]):
        done = subprocess.run(
            [*command, "push", str(proj)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=False,
        )
        assert done.returncode == INVALID, (command, done.stderr)
        assert "LABEL_STUDIO_API_KEY is not set" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_kill_9_during_init(tmp_path: Path) -> None:
    argv = init_argv(tmp_path, data(tmp_path))
    killed = relabel_child(argv, {"RELABEL_FAILPOINT": "init:before_commit"})
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / "proj" / "relabel.db").exists()  # the store is the commit point
    again = relabel_here(argv, {})
    assert again.returncode == 0, again.stderr
    assert "12 samples, 2 classes" in again.stdout
    assert not list((tmp_path / "proj").glob("*.partial*"))
    with Project.open(tmp_path / "proj") as p:
        assert p.store.n_samples() == 12
        assert p.store.max_version() == 12


def test_kill_9_during_push(tmp_path: Path, studio_server, studio_client) -> None:
    proj = trained(tmp_path)
    set_key(proj, "review", "budget", "9")
    env = {"LABEL_STUDIO_URL": studio_client.url, "LABEL_STUDIO_API_KEY": studio_server.token}
    argv = ["push", str(proj), "--batch-size", "2"]
    killed = relabel_child(argv, {**env, "RELABEL_FAILPOINT": "push:after_import:2"})
    assert killed.returncode == -9, killed.stderr
    done = relabel_here(argv, env)
    assert done.returncode == 0, done.stderr
    with Project.open(proj) as p:
        rows = p.store.conn.execute("SELECT sample_id, task_id, state FROM tasks").fetchall()
        sp = {r[0] for r in p.store.conn.execute("SELECT studio_project_id FROM tasks")}
    assert {r[2] for r in rows} == {"open"}
    assert len(rows) == 9 and len({r[0] for r in rows}) == 9
    in_studio = studio_client.list_task_sample_ids(sp.pop())
    assert sorted(len(v) for v in in_studio.values()) == [1] * 9


def test_kill_9_during_pull(tmp_path: Path, studio_server, studio_client) -> None:
    proj = trained(tmp_path)
    env = {"LABEL_STUDIO_URL": studio_client.url, "LABEL_STUDIO_API_KEY": studio_server.token}
    assert relabel_here(["push", str(proj)], env).returncode == 0
    with Project.open(proj) as p:
        tasks = dict(p.store.conn.execute("SELECT sample_id, task_id FROM tasks").fetchall())
        given = dict(zip(*p.store.labels()[["sample_id", "label"]].T.to_numpy(), strict=True))
    reviewer = studio_client.ensure_user("kill9@relabel.test")
    for task in tasks.values():
        studio_client.create_annotation(task, "fox", reviewer)
    killed = relabel_child(["pull", str(proj)], {**env, "RELABEL_FAILPOINT": "apply:before_commit"})
    assert killed.returncode == -9

    def changed() -> list[tuple[str, ...]]:
        with Project.open(proj) as p:
            return [
                tuple(r)
                for r in p.store.conn.execute(
                    "SELECT sample_id, label FROM label_versions WHERE source = 'review'"
                )
            ]

    assert changed() == []
    assert relabel_here(["pull", str(proj)], env).returncode == 0
    first = changed()
    assert relabel_here(["pull", str(proj)], env).returncode == 0
    assert changed() == first
    assert sorted(first) == sorted((sid, "fox") for sid in tasks if given[sid] != "fox")
    assert len(first) >= 1


# ---------------------------------------------------------------------------------------
# The smaller points of the issue that are not a single command's outcome
# ---------------------------------------------------------------------------------------


def test_python_warnings_become_log_lines() -> None:
    import logging
    import warnings

    from relabel.cli.main import setup_logging

    logging.captureWarnings(False)  # undo what an earlier command in this process did
    setup_logging(0, False, False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("py.warnings").addHandler(handler)
    try:
        warnings.warn("a library complains", UserWarning, stacklevel=1)
    finally:
        logging.getLogger("py.warnings").removeHandler(handler)
        logging.captureWarnings(False)
    assert any("a library complains" in r.getMessage() for r in records)


def test_the_demo_report_folder_is_ignored_by_git() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "-q", "projects/digits/report/report.html"],
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, "projects/*/report/ must be in .gitignore"


def test_yes_is_not_offered_in_help() -> None:
    code, out = invoke(["cycle", "--help"], {})
    assert code == 0 and "--yes" not in out and "fraction" in out


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_images_are_decoded_at_reduced_size(tmp_path: Path, fmt: str) -> None:
    from relabel.data.images import read_image

    gradient = np.linspace(0, 255, 4000, dtype=np.float32)
    pixels = np.stack([np.broadcast_to(gradient, (3000, 4000))] * 3, axis=-1).astype(np.uint8)
    path = tmp_path / f"big.{fmt.lower()}"
    Image.fromarray(pixels).save(path, fmt)
    reduced = read_image(str(path), (32, 32))
    assert reduced.dtype == np.uint8 and reduced.shape[2] == 3
    assert 64 <= reduced.shape[0] < 4 * 64 and 64 <= reduced.shape[1] < 4 * 64  # not 3000x4000
    expected = np.asarray(Image.fromarray(pixels).resize(reduced.shape[1::-1], Image.BOX))
    assert np.abs(reduced.astype(int) - expected.astype(int)).mean() < 3
