"""Tests for the rendered part of tools/corpus: composers, plan, renderer, resumable build.

No network and no Debian packages: a tiny SF2 soundfont (one looped 440-Hz
sine) is written here, and a fake toolbox stands in for MMA and abc2midi.
"""

from __future__ import annotations

import importlib
import io
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tools/ is not installed: import it from the checkout

mido = pytest.importorskip("mido")
pytest.importorskip("tinysoundfont")

from tools.corpus import build_corpus  # noqa: E402
from tools.corpus.build_rendered import build_rendered, rendered_hours_needed  # noqa: E402
from tools.corpus.charts import QUALITIES, chart_melody, make_chart, mma_text  # noqa: E402
from tools.corpus.compose import COMPOSERS  # noqa: E402
from tools.corpus.compose.chorale import RANGES, voice_lead  # noqa: E402
from tools.corpus.compose.folk import LEADS  # noqa: E402
from tools.corpus.compose.harmony import progression, triad_pcs  # noqa: E402
from tools.corpus.midi_ops import (BEND, NOTE_OFF, NOTE_ON, PROGRAM, add_part,  # noqa: E402
                                   midi_events)
from tools.corpus.notes import Part, Piece, make_notes, piece_seconds, to_midi  # noqa: E402
from tools.corpus.plan import (DOMAIN_CAP, DOMAINS, MAX_SECONDS, MIN_SECONDS,  # noqa: E402
                               domain_shares, domain_targets, make_plan, plan_hours)
from tools.corpus.scales import degrees_to_pitches, in_scale  # noqa: E402
from tools.corpus.synth import SoundfontSynth, fit_length, reverb, set_level  # noqa: E402

SR = 22050


# --- a soundfont made here: one preset (bank 0 and drum bank 128), a looped 440-Hz sine ------

def _chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def tiny_sf2(path: Path) -> Path:
    """A valid SF2 file: presets 0 (bank 0) and 0 (bank 128) play a sine sampled at 440 Hz."""
    n = SR  # exactly 440 periods: a seamless loop
    wave = (0.5 * 32767 * np.sin(2 * np.pi * 440 * np.arange(n) / SR)).astype("<i2")
    smpl = wave.tobytes() + b"\0" * 2 * 46
    name = lambda s: s.encode().ljust(20, b"\0")  # noqa: E731
    phdr = b"".join([name("sine") + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0),
                     name("drums") + struct.pack("<HHHIII", 0, 128, 1, 0, 0, 0),
                     name("EOP") + struct.pack("<HHHIII", 0, 0, 2, 0, 0, 0)])
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0) + struct.pack("<HH", 2, 0)
    pgen = struct.pack("<Hh", 41, 0) * 2 + struct.pack("<Hh", 0, 0)          # instrument 0
    inst = name("sine") + struct.pack("<H", 0) + name("EOI") + struct.pack("<H", 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 2, 0)
    igen = struct.pack("<Hh", 54, 1) + struct.pack("<Hh", 53, 0) + struct.pack("<Hh", 0, 0)
    shdr = (name("sine") + struct.pack("<IIIIIBbHH", 0, n, 0, n, SR, 69, 0, 0, 1)
            + name("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    zmod = b"\0" * 10
    body = b"sfbk" + _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)),
                           _chunk(b"isng", b"EMU8000\0"), _chunk(b"INAM", b"tiny\0\0")) \
        + _list(b"sdta", _chunk(b"smpl", smpl)) \
        + _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", zmod),
                _chunk(b"pgen", pgen), _chunk(b"inst", inst), _chunk(b"ibag", ibag),
                _chunk(b"imod", zmod), _chunk(b"igen", igen), _chunk(b"shdr", shdr))
    path.write_bytes(_chunk(b"RIFF", body))
    return path


@pytest.fixture(scope="module")
def soundfont(tmp_path_factory):
    return tiny_sf2(tmp_path_factory.mktemp("sf") / "tiny.sf2")


def _reload(mid):
    buf = io.BytesIO()
    mid.save(file=buf)
    buf.seek(0)
    return mido.MidiFile(file=buf)


def _notes_by_track(mid):
    """{track name: [(start_tick, pitch)]} of the note-ons of a MIDI file."""
    out = {}
    for tr in mid.tracks:
        now, name = 0, None
        for m in tr:
            now += m.time
            if m.type == "track_name":
                name = m.name
            elif m.type == "note_on" and m.velocity:
                out.setdefault(name, []).append((now, m.note))
    return out


# --- composers ---------------------------------------------------------------------------

@pytest.mark.parametrize("generator", sorted(COMPOSERS))
def test_composers_write_valid_midi_of_the_asked_length(generator):
    for seed in range(3):
        piece = COMPOSERS[generator](seed, 90.0)
        again = COMPOSERS[generator](seed, 90.0)
        assert piece.meta == again.meta                                   # deterministic
        for a, b in zip(piece.parts, again.parts):
            np.testing.assert_array_equal(a.notes, b.notes)
        mid = _reload(to_midi(piece))
        assert 45 <= mid.length <= 150, (generator, seed, mid.length)
        assert mid.length == pytest.approx(piece_seconds(piece), abs=0.05)
        notes = _notes_by_track(mid)
        assert set(notes) == {p.name for p in piece.parts}
        assert all(0 <= n <= 127 for v in notes.values() for _, n in v)


def test_chorale_voices_in_range_sing_the_triads_without_parallels():
    piece = COMPOSERS["chorale"](7, 60)
    satb = np.stack([p.notes["pitch"] for p in piece.parts[:4]], axis=1)
    for i, (lo, hi) in enumerate(RANGES):
        assert lo <= satb[:, i].min() and satb[:, i].max() <= hi
    assert (np.diff(satb, axis=1) < 0).all()                           # S > A > T > B
    rng = np.random.default_rng(0)
    chords = progression(rng, 15, "authentic")
    voiced = voice_lead(rng, chords, "major", 0)
    for root, v in zip(chords, voiced):
        assert set((v % 12).tolist()) == set(triad_pcs(int(root), "major").tolist())
    for a, b in zip(voiced[:-1], voiced[1:]):                          # no parallel 5ths/8ves
        for i in range(4):
            for j in range(i + 1, 4):
                before, after = (a[i] - a[j]) % 12, (b[i] - b[j]) % 12
                assert not (before == after and after in (0, 7) and a[i] != b[i]), (a, b)


def test_folk_tune_in_its_mode_and_world_piece_in_its_scale():
    for seed in range(4):
        folk = COMPOSERS["folk"](seed, 60)
        lead = folk.parts[0]
        assert lead.program == LEADS[folk.meta["lead"]][0]
        assert in_scale(lead.notes["pitch"], folk.meta["tonic"], folk.meta["mode"]).all()
        world = COMPOSERS["world"](seed, 60)
        melodic = [p for p in world.parts if not p.drums and p.name not in ("gong", "taiko")]
        for p in melodic:
            assert in_scale(p.notes["pitch"], world.meta["tonic"], world.meta["scale"]).all(), p.name
    styles = {COMPOSERS["world"](s, 60).meta["style"] for s in range(40)}
    assert styles == {"maqam", "raga", "japanese", "chinese", "gamelan", "african"}


def test_scales_and_classical_ranges():
    np.testing.assert_array_equal(degrees_to_pitches([-1, 0, 7, 5], 60, "major"), [59, 60, 72, 69])
    assert in_scale([61, 64, 65], 60, "hijaz").all() and not in_scale([62], 60, "hijaz").any()
    piece = COMPOSERS["classical"](3, 60)
    mel = piece.parts[0].notes["pitch"]
    assert mel.min() >= piece.meta["tonic"] and mel.max() <= piece.meta["tonic"] + 28


def test_chart_melody_and_mma_text():
    rng = np.random.default_rng(1)
    chart = make_chart(rng, "jazz", 12, key_pc=5)
    assert len(chart) == 12 and chart[-1][0][0] == 5
    text = mma_text(chart, "Swing", 140)
    assert text.splitlines()[:2] == ["Tempo 140.0", "Groove Swing"]
    assert text.splitlines()[2].startswith("1 ") and len(text.splitlines()) == 14
    part = chart_melody(rng, chart, 4, program=66)
    on_beat = np.isclose(part.notes["start"] % 1, 0)
    for n in part.notes[on_beat]:
        bar = chart[int(n["start"] // 4)]
        chord = bar[int((n["start"] % 4) // (4 / len(bar)))]
        assert (n["pitch"] - chord[0]) % 12 in {i % 12 for i in QUALITIES[chord[1]]}


# --- MIDI events and audio finishing -----------------------------------------------------

def _two_channel_file():
    piece = Piece((Part("lead", 5, make_notes([0, 1, 1.5], 0.5, [60, 62, 60], 90)),
                   Part("kit", 0, make_notes([0, 1], 0.1, [36, 38]), drums=True)), bpm=120)
    return to_midi(piece)


def test_midi_events_apply_tempo_transposition_programs_and_repeats():
    mid = _two_channel_file()
    ev = midi_events(mid)
    on = ev[ev["kind"] == NOTE_ON]
    assert sorted(on["a"][on["channel"] == 0].tolist()) == [60, 60, 62]
    assert on["time"].max() == pytest.approx(0.75)                     # beat 1.5 at 120 bpm
    ev2 = midi_events(mid, tempo_factor=1.5, transpose=3, programs={5: 7}, repeats=2)
    on2 = ev2[ev2["kind"] == NOTE_ON]
    assert on2.size == 2 * on.size
    assert sorted(set(on2["a"][on2["channel"] == 0].tolist())) == [63, 65]
    assert sorted(set(on2["a"][on2["channel"] == 9].tolist())) == [36, 38]  # drums stay
    assert ev2[ev2["kind"] == PROGRAM]["a"][0] == 7
    assert ev2["time"][:ev.size] == pytest.approx(ev["time"] / 1.5)
    # a key struck again while it sounds is released first
    retrig = mido.MidiFile(tracks=[mido.MidiTrack([
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_on", note=60, velocity=80, time=240),
        mido.Message("note_off", note=60, time=240)])])
    kinds = midi_events(retrig)["kind"].tolist()
    assert kinds == [NOTE_ON, NOTE_OFF, NOTE_ON, NOTE_OFF]
    assert BEND not in kinds


def test_add_part_uses_a_free_channel():
    mid = _two_channel_file()
    ch = add_part(mid, Part("melody", 66, make_notes([0, 1], 1, [70, 72])))
    assert ch == 1 and len(mid.tracks) == 4
    assert _notes_by_track(_reload(mid))[None] == [(0, 70), (480, 72)]


def test_reverb_level_and_length():
    rng = np.random.default_rng(0)
    x = np.zeros(SR, np.float32)
    x[100] = 1.0
    wet = reverb(x, SR, rt60=0.5, wet=0.5, seed=1)
    assert wet.shape == x.shape and wet.dtype == np.float32
    assert np.abs(wet[SR // 4:]).max() < np.abs(wet[110:SR // 8]).max()   # it decays
    np.testing.assert_array_equal(reverb(x, SR, 0.5, 0.0), x)
    y = set_level(rng.standard_normal(SR).astype(np.float32), -20)
    assert 20 * np.log10(np.sqrt(np.mean(y ** 2))) == pytest.approx(-20, abs=0.01) \
        or np.abs(y).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)
    z = np.concatenate([np.ones(5 * SR, np.float32), np.zeros(SR, np.float32)])
    assert fit_length(z, SR, 10).size == 5 * SR                          # silence trimmed
    cut = fit_length(z, SR, 2, fade=1)
    assert cut.size == 2 * SR and cut[-1] == 0 and cut[0] == 1


def test_real_render_with_a_tiny_soundfont(soundfont):
    piece = Piece((Part("a", 0, make_notes([0.0], [4.0], [69], 100)),
                   Part("b", 0, make_notes([4.0], [2.0], [81], 100))), bpm=120)
    audio = SoundfontSynth(SR).render(midi_events(to_midi(piece)), soundfont, tail=0.5)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == pytest.approx(3.5 * SR, abs=SR // 10)
    first, second = audio[SR // 2: 3 * SR // 2], audio[int(2.2 * SR): int(2.8 * SR)]
    for seg, hz in ((first, 440), (second, 880)):                      # A4, then A5
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
        assert np.fft.rfftfreq(seg.size, 1 / SR)[spec.argmax()] == pytest.approx(hz, abs=3)
    assert np.sqrt(np.mean(first ** 2)) > 0.01


# --- plan --------------------------------------------------------------------------------

def test_plan_meets_targets_is_deterministic_and_grows_by_appending():
    targets = domain_targets(30)
    assert set(targets) == set(DOMAINS) and sum(targets.values()) == pytest.approx(30)
    fonts = {"a": 1.0, "b": 0.5}
    jobs = make_plan(targets, fonts, seed=0)
    hours = plan_hours(jobs)
    for d in DOMAINS:
        assert targets[d] <= hours[d] < targets[d] + MAX_SECONDS / 3600
    assert [j.key for j in make_plan(targets, fonts, 0)] == [j.key for j in jobs]
    assert len({j.key for j in jobs}) == len(jobs) and len({j.path for j in jobs}) == len(jobs)
    small = make_plan(domain_targets(6), fonts, 0)
    big_keys = {j.key for j in jobs}
    assert all(j.key in big_keys for j in small)                        # a prefix, per domain
    assert {j.kind for j in jobs} == {"composer", "mma", "abc"}
    assert all(j.soundfont in fonts for j in jobs)
    assert {j.key for j in make_plan(targets, fonts, 1)}.isdisjoint(big_keys)
    # with 11 h of game music no domain comes near half
    shares = domain_shares({"game": 11.0, **hours})
    assert max(shares.values()) < DOMAIN_CAP and shares["game"] == max(shares.values())


def test_hours_needed_keeps_the_game_under_half_and_reaches_the_total():
    assert rendered_hours_needed(11, 30, 40) == 30
    assert rendered_hours_needed(5, 10, 40) == 35
    assert rendered_hours_needed(50, 10, 40) == pytest.approx(50)      # game at most half


# --- the build: real rendering, fake MMA / abc2midi --------------------------------------

class FakeToolbox:
    """The Toolbox seam: the tiny soundfont, and simple MIDI files for MMA and abc2midi."""

    def __init__(self, sf2: Path):
        self.sf2, self.versions, self.calls = sf2, {"mma": "test"}, []

    def soundfonts(self):
        return {"TimGM6mb": self.sf2}

    def abc_file(self, name):
        return Path(name)

    def _write(self, out, bars, bpm, beats=4):
        piece = Piece((Part("chords", 0, make_notes(np.arange(bars) * beats, beats,
                                                    60 + np.arange(bars) % 5)),), bpm)
        to_midi(piece).save(out)
        return out

    def mma(self, text, out):
        self.calls.append("mma")
        lines = text.splitlines()
        return self._write(out, len(lines) - 2, float(lines[0].split()[1]))

    def abc2midi(self, abc, out):
        self.calls.append("abc")
        return self._write(out, 8, 120)


def _mtimes(root):
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*.flac")}


def test_build_rendered_is_recorded_idempotent_and_resumable(soundfont, tmp_path):
    root = tmp_path / "corpus"
    tools = FakeToolbox(soundfont)
    m = build_rendered(root, rendered_hours=0.01, min_total_hours=0, toolbox=tools)
    stats = m["rendered"]["last_run"]
    entries = {n: e for n, e in m["packages"].items() if e.get("kind") == "rendered"}
    assert set(entries) == {f"rendered-{d}" for d in DOMAINS}
    assert stats["rendered"] == len(m["tracks"]) == 6 and stats["failed"] == 0
    train = (root / "train.txt").read_text().splitlines()
    assert sorted(train) == sorted(str(root / t["path"]) for t in m["tracks"])
    for t in m["tracks"]:
        assert t["path"].startswith(f"train/rendered-{t['domain']}/") and t["path"].endswith(".flac")
        info = sf.info(str(root / t["path"]))
        assert (info.samplerate, info.channels) == (SR, 1)
        assert MIN_SECONDS <= t["duration_s"] <= MAX_SECONDS
        assert t["soundfont"]["name"] == "TimGM6mb" and t["soundfont"]["licence"]
        assert set(t["settings"]) >= {"tempo_factor", "transpose", "programs", "reverb_rt60",
                                      "reverb_wet"}
        assert t["source"]["licence"]
    assert {t["kind"] for t in m["tracks"]} == {"composer", "mma", "abc"}
    tot = m["totals"]
    assert set(tot["domains"]) == set(DOMAINS)
    assert tot["domains"]["jazz"]["train"] > 0 and tot["domain_over_half"] is False
    assert json.loads((root / "manifest.json").read_text())["totals"] == tot

    before, calls = _mtimes(root), len(tools.calls)
    time.sleep(0.01)
    m2 = build_rendered(root, rendered_hours=0.01, min_total_hours=0, toolbox=tools)
    assert m2["rendered"]["last_run"]["rendered"] == 0 and len(tools.calls) == calls
    assert _mtimes(root) == before and m2["totals"]["domains"] == tot["domains"]

    # an interrupted run: a lost track and a half-written file; only that track is rendered
    lost = root / m["tracks"][2]["path"]
    lost.unlink()
    (lost.parent / ".part-x.flac").write_bytes(b"half")
    m3 = build_rendered(root, rendered_hours=0.01, min_total_hours=0, toolbox=tools)
    assert m3["rendered"]["last_run"]["rendered"] == 1 and lost.is_file()
    assert not (lost.parent / ".part-x.flac").exists()
    assert len(m3["tracks"]) == 6

    # a new render version renders everything again, into the same files
    module = importlib.import_module("tools.corpus.build_rendered")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "RENDER_VERSION", module.RENDER_VERSION + 1)
        m5 = build_rendered(root, rendered_hours=0.01, min_total_hours=0, toolbox=tools)
    assert m5["rendered"]["last_run"]["rendered"] == 6 and len(m5["tracks"]) == 6

    # the game build leaves the rendered music alone, even with --prune
    m4 = build_corpus(root, packages=(), heldout=(), prune=True, fetch=lambda *a: None)
    assert len(m4["tracks"]) == 6 and (root / "train.txt").read_text().count("\n") == 6


def test_command_line_has_render_options():
    run = subprocess.run([sys.executable, "-m", "tools.corpus", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "--rendered-hours" in run.stdout and "--no-render" in run.stdout
