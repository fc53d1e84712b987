"""Tests for tools/corpus on small fake .deb files (no network, no apt)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import json
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mirex.fileio import sha256_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tools/ is not installed: import it from the checkout

import tools.corpus as corpus  # noqa: E402
from tools.corpus import (build_corpus, deb_control, extract_music, is_music_path,  # noqa: E402
                          summarize)
from tools.corpus import cli as corpus_cli  # noqa: E402
from tools.corpus.debfile import _deb_ok  # noqa: E402

SR = 8000


def ogg_bytes(seconds: float, freq: float) -> bytes:
    """A mono OGG Vorbis tone, as bytes."""
    t = np.arange(int(seconds * SR)) / SR
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), SR, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _tar_bytes(files: dict[str, bytes], compression: str, links: dict[str, str] = {}) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as tf:
        dirs = sorted({str(Path(p).parent) for p in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo("./" + d)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo("./" + path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for path, target in links.items():
            info = tarfile.TarInfo("./" + path)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = [b"!<arch>\n"]
    for name, data in members:
        out.append(f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode())
        out.append(data + (b"\n" if len(data) % 2 else b""))
    return b"".join(out)


def make_deb(path: Path, package: str, version: str, files: dict[str, bytes],
             links: dict[str, str] = {}, compression: str = "xz") -> Path:
    """Write a real (dpkg-deb readable) binary package holding ``files``."""
    control = (f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
               f"Maintainer: Test <t@example.org>\nDescription: fake\n test package\n").encode()
    files = {f"usr/share/doc/{package}/copyright": f"{package}: free as in freedom\n".encode(),
             **files}
    path.write_bytes(_ar([
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", _tar_bytes({"control": control}, "gz")),
        (f"data.tar.{compression}", _tar_bytes(files, compression, links)),
    ]))
    return path


@pytest.fixture(scope="module")
def audio():
    return {"song_a": ogg_bytes(25, 220), "song_b": ogg_bytes(25, 330),
            "song_c": ogg_bytes(22, 440), "effect": ogg_bytes(2, 880)}


def _pk3(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def debs(tmp_path_factory, audio):
    d = tmp_path_factory.mktemp("debs")
    game = make_deb(d / "game-data.deb", "game-data", "1:2.0-1", {
        "usr/share/games/game/music/track.ogg": audio["song_a"],
        "usr/share/games/game/music/sting.ogg": audio["effect"],     # too short
        "usr/share/games/game/sounds/effect.ogg": audio["effect"],   # sound effect
        "usr/share/games/game/sounds/long.ogg": audio["song_c"],     # long, but not music
        "usr/share/games/game/textures/logo.png": b"\x89PNG\r\n\x1a\nfake",
        "usr/share/games/game/data/music.pk3": _pk3({
            "music/inner.ogg": audio["song_b"], "sound/beep.ogg": audio["effect"]}),
    })
    other = make_deb(d / "other-data.deb", "other-data", "0.1-1", {
        "usr/share/other/Music/a.ogg": audio["song_c"],
    }, compression="gz")
    songs = make_deb(d / "songs-music.deb", "songs-music", "3-1", {
        "usr/share/songs/audio/one.ogg": audio["song_c"],            # music package: any folder
        "usr/share/songs/sounds/click.ogg": audio["effect"],
    }, links={"usr/share/songs/en/one.ogg": "../audio/one.ogg"})
    return {"game-data": game, "other-data": other, "songs-music": songs}


class LocalFetch:
    """Stands in for apt: copies a prepared .deb into the work folder."""

    def __init__(self, debs):
        self.debs = debs
        self.calls = []

    def __call__(self, name, workdir):
        self.calls.append(name)
        if name not in self.debs:
            raise corpus.PackageUnavailable(f"{name}: not in the current Debian release")
        Path(workdir).mkdir(parents=True, exist_ok=True)
        dest = Path(workdir) / f"{name}.deb"
        dest.write_bytes(self.debs[name].read_bytes())
        return dest


def test_is_music_path():
    assert is_music_path("usr/share/games/x/music/a.ogg")
    assert is_music_path("usr/share/games/x/Data/Music/a.OGG")
    assert is_music_path("usr/share/games/x/sounds/music/a.flac")
    assert is_music_path("usr/share/x/data/music.pk3/sound/cdtracks/a.ogg")
    assert not is_music_path("usr/share/games/x/sounds/a.ogg")
    assert not is_music_path("usr/share/games/x/music/readme.txt")
    assert not is_music_path("usr/share/games/x/audio/a.ogg")
    assert is_music_path("usr/share/games/x/audio/a.ogg", whole_package=True)
    assert not is_music_path("usr/share/games/x/sfx/a.ogg", whole_package=True)


def test_deb_control_and_truncated_deb(debs, tmp_path):
    fields = deb_control(debs["game-data"])
    assert fields["Package"] == "game-data" and fields["Version"] == "1:2.0-1"
    assert fields["Description"] == "fake\ntest package"
    assert _deb_ok(debs["game-data"])
    part = tmp_path / "partial.deb"
    data = debs["game-data"].read_bytes()
    part.write_bytes(data[: len(data) // 2])
    assert not _deb_ok(part)
    assert not _deb_ok(debs["game-data"], sha256="0" * 64)
    with pytest.raises(ValueError):
        deb_control(part)


def test_extract_music_keeps_only_music(debs, audio, tmp_path):
    out = tmp_path / "out"
    lic = tmp_path / "lic" / "copyright"
    tracks = extract_music(debs["game-data"], out, min_seconds=20, copyright_dest=lic)
    assert [t["source"] for t in tracks] == [
        "usr/share/games/game/data/music.pk3/music/inner.ogg",
        "usr/share/games/game/music/track.ogg"]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [t["path"] for t in tracks]
    assert not any(p.name.startswith(".extract") for p in out.iterdir())
    for t in tracks:
        assert t["duration_s"] == pytest.approx(25, abs=0.01)
        assert (t["samplerate"], t["channels"], t["subtype"]) == (SR, 1, "VORBIS")
        assert t["sha256"] == sha256_file(out / t["path"])
        assert t["bytes"] == (out / t["path"]).stat().st_size
    assert lic.read_text() == "game-data: free as in freedom\n"
    # a lower threshold lets the 2 s jingle in, never the sound effects or the .png
    tracks = extract_music(debs["game-data"], tmp_path / "low", min_seconds=1)
    assert {Path(t["source"]).name for t in tracks} == {"inner.ogg", "track.ogg", "sting.ogg"}


def test_extract_music_package_links_and_gzip(debs, tmp_path):
    tracks = extract_music(debs["songs-music"], tmp_path / "s")
    assert [t["path"] for t in tracks] == ["one.ogg"]          # link skipped, click too short
    tracks = extract_music(debs["other-data"], tmp_path / "o")  # data.tar.gz, "Music" folder
    assert [t["path"] for t in tracks] == ["a.ogg"]
    assert tracks[0]["duration_s"] == pytest.approx(22, abs=0.01)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*.ogg")}


def test_build_corpus_manifest_idempotence_and_heldout(debs, tmp_path, caplog):
    root = tmp_path / "corpus"
    fetch = LocalFetch(debs)
    m = build_corpus(root, packages=("game-data", "missing-data"),
                     heldout=("other-data",), fetch=fetch)
    assert fetch.calls == ["other-data", "game-data", "missing-data"]
    assert "skipping missing-data" in caplog.text
    assert "missing-data" in m["failed"]
    assert not (root / ".debs").exists() and not (root / ".staging").exists()

    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk["totals"] == m["totals"]
    tot = m["totals"]
    assert tot["tracks"] == {"train": 2, "heldout": 1}
    assert tot["hours"]["train"] == pytest.approx(50 / 3600, abs=1e-3)
    assert tot["hours"]["heldout"] == pytest.approx(22 / 3600, abs=1e-3)
    assert tot["packages"]["game-data"] == {"split": "train", "version": "1:2.0-1",
                                            "tracks": 2, "hours": pytest.approx(50 / 3600, abs=1e-3)}
    assert m["packages"]["game-data"]["copyright"] == "licenses/game-data.copyright"
    assert (root / "licenses" / "other-data.copyright").is_file()
    assert "--root" in m["command"]
    for t in m["tracks"]:
        assert set(t) >= {"path", "package", "version", "split", "duration_s", "samplerate",
                          "channels", "sha256"}
        assert (root / t["path"]).is_file()
        assert t["path"].startswith(f"{t['split']}/{t['package']}/")

    train = (root / "train.txt").read_text().splitlines()
    heldout = (root / "heldout.txt").read_text().splitlines()
    assert heldout == [str(root / "heldout" / "other-data" / "a.ogg")]
    assert len(train) == 2 and all(p.startswith(str(root / "train" / "game-data")) for p in train)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in train + heldout)
    assert not (root / "train" / "other-data").exists()
    assert sorted(p.parent.name for p in (root / "heldout").rglob("*.ogg")) == ["other-data"]

    # second build: nothing fetched or extracted again, files untouched
    before = _mtimes(root)
    time.sleep(0.01)
    fetch.calls.clear()
    m2 = build_corpus(root, packages=("game-data",), heldout=("other-data",), fetch=fetch)
    assert fetch.calls == []
    assert _mtimes(root) == before
    assert m2["totals"] == {**m["totals"]}
    assert m2["failed"] == {}

    # a lost track, or leftovers of an interrupted run, make only that package re-extract
    Path(train[0]).unlink()
    (root / ".staging" / "junk").mkdir(parents=True)
    m3 = build_corpus(root, packages=("game-data",), heldout=("other-data",), fetch=fetch)
    assert fetch.calls == ["game-data"]
    assert Path(train[0]).is_file() and not (root / ".staging").exists()
    assert m3["totals"]["tracks"] == {"train": 2, "heldout": 1}

    # moving a package to the held-out list moves its files
    fetch.calls.clear()
    m4 = build_corpus(root, packages=(), heldout=("other-data", "game-data"), fetch=fetch)
    assert fetch.calls == ["game-data"]
    assert not (root / "train" / "game-data").exists()
    assert (root / "train.txt").read_text() == ""
    assert m4["totals"]["tracks"] == {"train": 0, "heldout": 3}
    assert summarize(m4)["hours"]["heldout"] == pytest.approx(72 / 3600, abs=1e-3)


def test_duplicates_of_heldout_are_removed_from_train(debs, audio, tmp_path):
    dup = make_deb(tmp_path / "copy-data.deb", "copy-data", "1", {
        "usr/share/copy/music/same.ogg": audio["song_c"],       # same bytes as other-data
        "usr/share/copy/music/own.ogg": audio["song_a"]})
    root = tmp_path / "corpus"
    m = build_corpus(root, packages=("copy-data",), heldout=("other-data",),
                     fetch=LocalFetch({**debs, "copy-data": dup}))
    assert not (root / "train" / "copy-data" / "same.ogg").exists()
    assert (root / "train.txt").read_text().splitlines() == [
        str(root / "train" / "copy-data" / "own.ogg")]
    same = [t for t in m["packages"]["copy-data"]["tracks"] if t["path"].endswith("same.ogg")]
    assert same[0]["duplicate_of"] == "heldout/other-data/a.ogg"
    fetch = LocalFetch({})
    build_corpus(root, packages=("copy-data",), heldout=("other-data",), fetch=fetch)
    assert fetch.calls == []  # a removed duplicate does not make the package look incomplete


def test_overlapping_lists_rejected(tmp_path):
    with pytest.raises(ValueError, match="both"):
        build_corpus(tmp_path, packages=("a",), heldout=("a",), fetch=LocalFetch({}))


def test_main_prints_json_summary(debs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(corpus_cli, "fetch_package", LocalFetch(debs))
    rc = corpus.main(["--root", str(tmp_path / "c"), "--packages", "game-data",
                      "--heldout", "songs-music", "--no-render", "-q"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tracks"] == {"train": 2, "heldout": 1}
    assert set(summary["packages"]) == {"game-data", "songs-music"}
    assert summary["packages"]["songs-music"]["split"] == "heldout"
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["command"].endswith(f"--root {tmp_path / 'c'} --packages game-data "
                                        "--heldout songs-music --no-render -q")


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd program not installed")
def test_zstd_compressed_data(audio, tmp_path):
    raw = _tar_bytes({"usr/share/z/music/a.ogg": audio["song_a"]}, "")
    zst = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    control = _tar_bytes({"control": b"Package: z-data\nVersion: 1\n"}, "gz")
    deb = tmp_path / "z.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control),
                         ("data.tar.zst", zst)]))
    tracks = extract_music(deb, tmp_path / "out")
    assert [t["path"] for t in tracks] == ["a.ogg"]


def test_main_extra_appends_packages(debs, tmp_path, monkeypatch, capsys):
    fetch = LocalFetch(debs)
    monkeypatch.setattr(corpus_cli, "fetch_package", fetch)
    rc = corpus.main(["--root", str(tmp_path / "c"), "--packages", "game-data", "--heldout", "",
                      "--extra", "--no-render", "-q"])
    assert rc == 0
    assert fetch.calls == ["game-data", *corpus.EXTRA_TRAIN_PACKAGES]
    summary = json.loads(capsys.readouterr().out)
    assert summary["tracks"] == {"train": 2, "heldout": 0}
    assert set(summary["failed"]) == set(corpus.EXTRA_TRAIN_PACKAGES)


def test_command_line_module_has_click_help():
    run = subprocess.run([sys.executable, "-m", "tools.corpus", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Usage: python -m tools.corpus [OPTIONS]")
    assert "--extra" in run.stdout and "--min-seconds" in run.stdout
