"""Local image files are read only under ``LlamaGuard(media_root=...)`` (issue 20, item 7).

A path in an image part can be written by a user: the guard must never send a file outside the
root to the provider, never tell a missing file from an unreadable one, and never hang on a
FIFO. Paths are checked against a real tree of files, symlinks and a FIFO in a temporary folder.
"""

from __future__ import annotations

import builtins
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield._media import ImageLimits, ImageRejected, image_url_for
from llamashield.testing import LoopbackServer
from tests.images.image_data import MARKER, data_url, jpeg, png, sent_images

LG4 = "meta-llama/Llama-Guard-4-12B"
NOT_READ = "the local image file was not read"
INSIDE_A, INSIDE_B = png(b"cat"), jpeg(b"dog")
SECRET = png(MARKER + b" server secret")  # unsafe to the loopback server if it were ever sent

needs_posix = pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs as on POSIX")


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base/root holds the images the guard may read; base/outside the ones it must not."""
    base = tmp_path_factory.mktemp("media").resolve()
    root, outside, sibling = base / "root", base / "outside", base / "rootx"
    for folder in (root / "sub", root / "dir.png", outside, sibling):
        folder.mkdir(parents=True)
    (root / "a.png").write_bytes(INSIDE_A)
    (root / "sub" / "b.jpg").write_bytes(INSIDE_B)
    (root / "notes.txt").write_bytes(b"not an image")
    (root / "big.png").write_bytes(png(b"x" * 5000))
    (outside / "secret.png").write_bytes(SECRET)
    (sibling / "secret.png").write_bytes(SECRET)  # "rootx" starts with "root": not inside it
    if os.name == "posix":
        (root / "in.png").symlink_to("a.png")
        (root / "sub" / "up").symlink_to("..")
        (root / "out.png").symlink_to(outside / "secret.png")
        (root / "outdir").symlink_to("../outside")
        (root / "loop").symlink_to("loop")
        (base / "root-link").symlink_to("root")
        os.mkfifo(root / "pipe.png")
    return base


def user(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "look"}, *parts]}]


@contextmanager
def opened_paths() -> Iterator[list[str]]:
    """Every path ``os.open`` or ``open`` is asked for while the block runs (then opened)."""
    seen: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def spy_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        seen.append(os.fsdecode(path))
        return real_os_open(path, *args, **kwargs)

    def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | bytes | os.PathLike):
            seen.append(os.fsdecode(file))
        return real_open(file, *args, **kwargs)

    with patch("os.open", spy_os_open), patch("builtins.open", spy_open):
        yield seen


def inside(path: str, root: Path) -> bool:
    real = os.path.realpath(path)
    return os.path.commonpath([real, str(root)]) == str(root)


def readable_image_inside(path: str, root: Path) -> bytes | None:
    """What the guard should read for ``path``: the bytes of the regular image file it names
    inside ``root`` (relative paths from ``root``, file:// URLs as their path), else None."""
    if path.startswith("file:"):
        parts = urlsplit(path)
        if parts.netloc not in ("", "localhost"):
            return None
        path = url2pathname(parts.path)
    real = os.path.realpath(os.path.join(root, path))
    if not (inside(real, root) and os.path.exists(real) and stat.S_ISREG(os.stat(real).st_mode)):
        return None
    data = Path(real).read_bytes()
    return data if data in (INSIDE_A, INSIDE_B) else None


# -- no media_root: never read ------------------------------------------------------------------


def test_without_media_root_no_local_file_is_ever_read(server: LoopbackServer, tree: Path) -> None:
    guard = server.guard(model=LG4)
    before = server.count()
    for part in (
        {"type": "image", "path": str(tree / "root" / "a.png")},
        {"block_type": "image", "path": "a.png"},
        {"type": "image_url", "image_url": {"url": (tree / "root" / "a.png").as_uri()}},
    ):
        with opened_paths() as seen:
            verdict = guard.check(user(part))
        assert not verdict.safe and "no media_root" in (verdict.error or "")
        assert not [p for p in seen if "a.png" in p]
    assert server.count() == before  # nothing was sent


# -- inside the root: read and judged -----------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["absolute", "relative", "file_url", "dotted_inside", "symlink_inside"]
)
def test_a_file_inside_the_root_is_judged(server: LoopbackServer, tree: Path, form: str) -> None:
    root = tree / "root"
    path = {
        "absolute": str(root / "sub" / "b.jpg"),
        "relative": "sub/b.jpg",
        "file_url": (root / "sub" / "b.jpg").as_uri(),
        "dotted_inside": "sub/../sub/./b.jpg",
        "symlink_inside": "sub/up/sub/b.jpg",
    }[form]
    if form == "symlink_inside" and os.name != "posix":
        pytest.skip("symlinks as on POSIX")
    key = "url" if form == "file_url" else "path"
    guard = server.guard(model=LG4, media_root=root)
    assert guard.check(user({"type": "image", key: path})).safe
    assert sent_images(server) == [data_url(INSIDE_B, "image/jpeg")]


def test_an_unsafe_file_inside_the_root_is_unsafe(server: LoopbackServer, tree: Path) -> None:
    guard = server.guard(model=LG4, media_root=tree / "outside")
    verdict = guard.check(user({"type": "image", "path": "secret.png"}))
    assert not verdict.safe and verdict.error is None  # judged by the model, not refused
    assert sent_images(server) == [data_url(SECRET)]


def test_a_llamaindex_image_block_path_is_read_under_the_root(
    server: LoopbackServer, tree: Path
) -> None:
    li_types = pytest.importorskip("llama_index.core.base.llms.types")
    block = li_types.ImageBlock(path=tree / "root" / "a.png")
    message = li_types.ChatMessage(role="user", blocks=[block])
    assert server.guard(model=LG4, media_root=tree / "root").check([message]).safe
    assert sent_images(server) == [data_url(INSIDE_A)]
    refused = server.guard(model=LG4, media_root=tree / "rootx").check([message])
    assert not refused.safe and NOT_READ in (refused.error or "")
    with opened_paths() as seen:  # no media_root: neither the guard nor LlamaIndex reads it
        unread = server.guard(model=LG4).check([message])
    assert not unread.safe and "no media_root" in (unread.error or "")
    assert not [p for p in seen if p.endswith("a.png")]


# -- escapes: refused with one text, the file never opened ----------------------------------------


@needs_posix
@pytest.mark.parametrize(
    "path",
    [
        "out.png",  # a symlink inside the root to a file outside it
        "outdir/secret.png",  # a symlink to a folder outside
        "../outside/secret.png",  # .. traversal
        "sub/../../outside/secret.png",
        "sub/up/../outside/secret.png",  # .. after a symlink that stays inside
        "../rootx/secret.png",  # a sibling whose name starts with the root's
        "{base}/outside/secret.png",  # absolute, outside
        "{base}/root/../outside/secret.png",
        "file://{base}/outside/secret.png",
        "file://{base}/root/out.png",
        "file://evil.test/{base}/root/a.png",  # a file on another host
    ],
)
def test_paths_that_leave_the_root_are_refused_unopened(
    server: LoopbackServer, tree: Path, path: str
) -> None:
    path = path.format(base=tree)
    key = "url" if path.startswith("file:") else "path"
    guard = server.guard(model=LG4, media_root=tree / "root")
    before = server.count()
    with opened_paths() as seen:
        verdict = guard.check(user({"type": "image", key: path}))
    assert not verdict.safe and verdict.error is not None
    assert NOT_READ in verdict.error and "secret" not in verdict.error
    assert all(inside(p, tree / "root") for p in seen), seen
    assert server.count() == before


def test_a_root_reached_through_a_symlink_is_the_same_root(
    server: LoopbackServer, tree: Path
) -> None:
    if os.name != "posix":
        pytest.skip("symlinks as on POSIX")
    guard = server.guard(model=LG4, media_root=tree / "root-link")
    assert guard.check(user({"type": "image", "path": str(tree / "root-link" / "a.png")})).safe
    assert guard.check(user({"type": "image", "path": str(tree / "root" / "in.png")})).safe


def test_a_missing_file_and_an_existing_one_that_cannot_be_read_give_one_text(
    server: LoopbackServer, tree: Path
) -> None:
    root = tree / "root"
    locked = root / "locked.png"
    locked.write_bytes(INSIDE_A)
    locked.chmod(0)
    guard = server.guard(model=LG4, media_root=root, max_image_bytes=1000)

    def error_for(name: str) -> str:
        verdict = guard.check(user({"type": "image", "path": name}))
        assert not verdict.safe and verdict.error is not None
        return verdict.error

    real_os_open = os.open

    def denied(path: Any, *args: Any, **kwargs: Any) -> int:
        # Root reads a mode-000 file anyway: the kernel's answer to anyone else is simulated.
        if os.fsdecode(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_os_open(path, *args, **kwargs)

    try:
        with patch("os.open", denied):
            unreadable = error_for("locked.png")
        texts = {
            unreadable,
            error_for("missing.png"),
            error_for("sub/missing/deeper.png"),
            error_for("notes.txt"),  # exists, not an image
            error_for("big.png"),  # exists, past max_image_bytes below
            error_for("dir.png"),  # a directory
            error_for("../outside/secret.png"),
        }
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert len(texts) == 1 and NOT_READ in texts.pop()


@needs_posix
def test_a_fifo_returns_promptly_and_is_refused(server: LoopbackServer, tree: Path) -> None:
    guard = server.guard(model=LG4, media_root=tree / "root", timeout=5)
    verdicts: list[Any] = []
    worker = threading.Thread(
        target=lambda: verdicts.append(guard.check(user({"type": "image", "path": "pipe.png"}))),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)  # a hang guard, not a speed claim: a blocking open never returns
    assert not worker.is_alive(), "the check hung on a FIFO"
    assert not verdicts[0].safe and NOT_READ in (verdicts[0].error or "")


@needs_posix
def test_a_fifo_swapped_in_after_the_type_check_is_not_waited_on(tree: Path) -> None:
    root = tree / "root"
    regular = os.stat(root / "a.png")
    real_stat = os.stat

    def stale_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        # What a check that raced a swap would have seen: a regular file at the FIFO's path.
        if os.fsdecode(path).endswith("pipe.png"):
            return regular
        return real_stat(path, *args, **kwargs)

    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            outcome.append(image_url_for({"path": "pipe.png"}, ImageLimits(), media_root=root))
        except ImageRejected as exc:
            outcome.append(exc)

    with patch("os.stat", stale_stat):
        worker = threading.Thread(target=read, daemon=True)
        worker.start()
        worker.join(timeout=60)
    assert not worker.is_alive(), "opening the FIFO blocked"
    assert isinstance(outcome[0], ImageRejected) and NOT_READ in str(outcome[0])


def test_past_the_deadline_nothing_is_read(tree: Path) -> None:
    with opened_paths() as seen, pytest.raises(ImageRejected, match=NOT_READ):
        image_url_for(
            {"path": "a.png"}, ImageLimits(), media_root=tree / "root",
            deadline=time.monotonic() - 1,
        )  # fmt: skip
    assert seen == []


def test_media_root_must_be_an_existing_folder(server: LoopbackServer, tree: Path) -> None:
    for bad in (tree / "nope", tree / "root" / "a.png", "a\x00b"):
        with pytest.raises(ValueError, match="media_root must be an existing directory"):
            server.guard(model=LG4, media_root=bad)


# -- the property: whatever the path, nothing outside the root is opened ------------------------

SEGMENTS = [
    ".", "..", "", "a.png", "sub", "b.jpg", "up", "in.png", "out.png", "outdir", "secret.png",
    "loop", "pipe.png", "dir.png", "root", "rootx", "outside", "root-link", "missing", "notes.txt",
]  # fmt: skip


@st.composite
def paths(draw: st.DrawFn, base: Path) -> str:
    relative = "/".join(draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6)))
    prefix = draw(
        st.sampled_from(["", f"{base}/", f"{base}/root/", f"{base}/outside/", "/", "//", "./"])
    )
    path = prefix + relative or "."
    if draw(st.booleans()) and path.startswith("/"):
        return "file://" + path
    return path


@needs_posix
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_path_opens_anything_outside_the_root(tree: Path, data: st.DataObject) -> None:
    root = tree / "root"
    path = data.draw(paths(tree), label="path")
    key = "url" if path.startswith("file:") else "path"
    expected = readable_image_inside(path, root)
    with opened_paths() as seen:
        try:
            url = image_url_for({"type": "image", key: path}, ImageLimits(), media_root=root)
        except ImageRejected as exc:
            url = None
            assert NOT_READ in str(exc) and str(tree) not in str(exc)
    assert all(inside(p, root) for p in seen), (path, seen)
    assert len(seen) <= 1
    # Read exactly when the path names a regular image file inside the root, and then that one.
    if expected is None:
        assert url is None
    else:
        mime = "image/png" if expected == INSIDE_A else "image/jpeg"
        assert url == data_url(expected, mime)
