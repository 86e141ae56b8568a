"""The local-folder blob store: opaque bytes under safe keys, written whole or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from earmuff.store.blobs import BlobNotFound, LocalFolderBlobStore


@pytest.fixture
def blobs(tmp_path: Path) -> LocalFolderBlobStore:
    return LocalFolderBlobStore(tmp_path / "blobs")


def all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_creating_the_store_creates_its_folder(tmp_path: Path) -> None:
    LocalFolderBlobStore(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_a_blob_put_is_got_back_byte_for_byte(blobs: LocalFolderBlobStore) -> None:
    data = bytes(range(256)) * 17
    blobs.put("recordings/abc123.flac", data)
    assert blobs.get("recordings/abc123.flac") == data
    assert blobs.exists("recordings/abc123.flac")


def test_an_empty_blob_is_a_blob(blobs: LocalFolderBlobStore) -> None:
    blobs.put("empty", b"")
    assert blobs.exists("empty")
    assert blobs.get("empty") == b""


def test_putting_again_under_the_same_key_replaces_the_blob(blobs: LocalFolderBlobStore) -> None:
    blobs.put("recordings/r.flac", b"first version, rather long")
    blobs.put("recordings/r.flac", b"second")
    assert blobs.get("recordings/r.flac") == b"second"
    assert list(blobs.keys()) == ["recordings/r.flac"]


def test_delete_removes_the_blob_and_is_idempotent(blobs: LocalFolderBlobStore) -> None:
    blobs.put("recordings/gone.flac", b"x")
    blobs.delete("recordings/gone.flac")
    assert not blobs.exists("recordings/gone.flac")
    blobs.delete("recordings/gone.flac")
    blobs.delete("never-stored")
    assert list(blobs.keys()) == []


def test_keys_lists_every_blob_once_in_order_and_nothing_else(
    blobs: LocalFolderBlobStore,
) -> None:
    for key in ("recordings/b.flac", "recordings/a.flac", "review/x/y.ogg", "top"):
        blobs.put(key, key.encode())
    (blobs.root / "recordings" / ".half-written.tmp").write_bytes(b"partial")
    assert list(blobs.keys()) == [
        "recordings/a.flac",
        "recordings/b.flac",
        "review/x/y.ogg",
        "top",
    ]


def test_a_missing_blob_raises_blob_not_found(blobs: LocalFolderBlobStore) -> None:
    with pytest.raises(BlobNotFound):
        blobs.get("recordings/nothing.flac")
    assert not blobs.exists("recordings/nothing.flac")


def test_blob_not_found_is_a_key_error_naming_the_key(blobs: LocalFolderBlobStore) -> None:
    with pytest.raises(KeyError) as caught:
        blobs.get("recordings/missing.flac")
    assert caught.value.args == ("recordings/missing.flac",)


def test_blob_files_are_readable_and_writable_by_their_owner_only(
    blobs: LocalFolderBlobStore,
) -> None:
    blobs.put("recordings/private.flac", b"sealed bytes")
    blobs.put("recordings/private.flac", b"sealed again")
    mode = stat.S_IMODE((blobs.root / "recordings" / "private.flac").stat().st_mode)
    assert mode == 0o600


def test_put_leaves_no_temporary_file_behind(blobs: LocalFolderBlobStore) -> None:
    for n in range(5):
        blobs.put(f"recordings/r{n}.flac", b"\x00" * 1000 * n)
    assert all_files(blobs.root) == [f"recordings/r{n}.flac" for n in range(5)]


def test_a_failed_put_leaves_neither_the_blob_nor_a_temporary_file(
    blobs: LocalFolderBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename is the commit point: fail before it and nothing appears."""

    def no_rename(self: Path, target: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", no_rename)
    with pytest.raises(OSError, match="disk full"):
        blobs.put("recordings/r.flac", b"data")
    monkeypatch.undo()
    assert all_files(blobs.root) == []
    assert not blobs.exists("recordings/r.flac")


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "/abs",
        "/etc/passwd",
        "a/../../b",
        "a/..",
        "a/b/../../../c",
        "..",
        ".",
        "./a",
        "a//b",
        "a/",
        "",
        ".hidden",
        "a/.hidden",
        "A/upper",
        "a\\..\\b",
        "a/b\x00c",
        "a b",
        "récording",
        "a\n",
    ],
)
def test_unsafe_keys_are_refused_by_every_operation(
    blobs: LocalFolderBlobStore, tmp_path: Path, key: str
) -> None:
    for operation in (
        lambda: blobs.put(key, b"data"),
        lambda: blobs.get(key),
        lambda: blobs.delete(key),
        lambda: blobs.exists(key),
    ):
        with pytest.raises(ValueError, match="invalid blob key"):
            operation()
    assert all_files(tmp_path) == []


def test_a_traversal_key_cannot_touch_a_file_outside_the_store(
    blobs: LocalFolderBlobStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    for key in ("../outside.txt", "recordings/../../outside.txt"):
        with pytest.raises(ValueError):
            blobs.delete(key)
        with pytest.raises(ValueError):
            blobs.put(key, b"overwritten")
    assert outside.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "key", ["a", "recordings/0f3a.flac", "r/x-y_z/v1.2.ogg", "0/1/2/3", "review/item.tar.gz"]
)
def test_plain_lowercase_keys_with_folders_are_accepted(
    blobs: LocalFolderBlobStore, key: str
) -> None:
    blobs.put(key, b"ok")
    assert blobs.get(key) == b"ok"
    assert list(blobs.keys()) == [key]


def test_keys_can_be_listed_under_one_folder(tmp_path) -> None:
    store = LocalFolderBlobStore(tmp_path / "blobs")
    for key in ("derived/a/t.json", "derived/a/r.wav", "derived/ab/t.json", "recordings/a.wav"):
        store.put(key, b"x")
    assert list(store.keys(prefix="derived/a/")) == ["derived/a/r.wav", "derived/a/t.json"]
    assert list(store.keys(prefix="derived/zz/")) == []
    assert len(list(store.keys())) == 4
