"""Voice profiles on disk and the threshold decision, with synthetic vectors (no model)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from assistant.speakers.encoder import hz_to_mel, mel_filterbank, partial_slices, trim_silence
from assistant.speakers.identify import SpeakerMatch, identify
from assistant.speakers.profiles import ProfileStore, SpeakerError, SpeakerProfile


def unit(*values: float) -> np.ndarray:
    v = np.zeros(256, dtype=np.float32)
    v[: len(values)] = values
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_enroll_stores_the_normalised_mean_and_lists_it(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "speakers")
    stored = store.enroll("Ada Lovelace", [unit(1, 0), unit(0, 1)])
    assert stored.clips == 2
    np.testing.assert_allclose(stored.embedding, unit(1, 1), atol=1e-6)
    [listed] = store.list()
    assert (listed.name, listed.clips) == ("Ada Lovelace", 2)
    np.testing.assert_allclose(listed.embedding, unit(1, 1), atol=1e-6)
    assert listed.created_s == pytest.approx(stored.created_s)
    assert set(store.load_all()) == {"Ada Lovelace"}


def test_files_are_private(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "speakers")
    store.enroll("bob", [unit(1)])
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path_for("bob").stat().st_mode) == 0o600


def test_a_loose_existing_folder_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "speakers"
    folder.mkdir(mode=0o755)
    ProfileStore(folder).enroll("bob", [unit(1)])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_re_enrolling_replaces_and_remove_deletes(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.enroll("bob", [unit(1)])
    store.enroll("bob", [unit(0, 1)] * 3)
    [bob] = store.list()
    assert bob.clips == 3
    store.enroll("al", [unit(1)])
    assert [p.name for p in store.list()] == ["al", "bob"]
    store.remove("bob")
    assert [p.name for p in store.list()] == ["al"]


def test_removing_an_unknown_name_says_who_is_enrolled(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.enroll("al", [unit(1)])
    with pytest.raises(SpeakerError, match=r"no speaker named 'zoe'.*enrolled: al"):
        store.remove("zoe")


def test_empty_or_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert ProfileStore(tmp_path / "absent").list() == []


@pytest.mark.parametrize("name", ["", " bob", "bob ", "../etc", "a/b", "a.b", "unknown",
                                  "Unknown", "x" * 64, "-bob", "bob\n"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    store = ProfileStore(tmp_path)
    with pytest.raises(SpeakerError, match="speaker name|reserved"):
        store.enroll(name, [unit(1)])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["bob", "Anne-Marie", "kid_2", "Élodie", "Mary Ann"])
def test_good_names_are_accepted(tmp_path: Path, name: str) -> None:
    ProfileStore(tmp_path).enroll(name, [unit(1)])
    assert [p.name for p in ProfileStore(tmp_path).list()] == [name]


def test_no_clips_or_bad_vectors_are_refused(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    with pytest.raises(SpeakerError, match="no clips"):
        store.enroll("bob", [])
    with pytest.raises(SpeakerError, match="finite"):
        store.enroll("bob", [np.full(256, np.nan, dtype=np.float32)])


def test_a_failed_write_keeps_the_old_profile_and_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ProfileStore(tmp_path)
    store.enroll("bob", [unit(1)])
    before = store.path_for("bob").read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("assistant.speakers.profiles.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.enroll("bob", [unit(0, 1)])
    assert store.path_for("bob").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bob.json"]


def test_a_leftover_temp_file_is_not_a_profile(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.enroll("bob", [unit(1)])
    (tmp_path / ".abc123.tmp").write_text("{half")
    assert [p.name for p in store.list()] == ["bob"]


def test_a_corrupt_profile_names_the_file_and_the_fix(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.enroll("bob", [unit(1)])
    store.path_for("bob").write_text("{not json")
    [bad] = store.scan().broken
    assert re.search(r"bob\.json: not a usable voice profile \(not JSON.*enroll bob again",
                     bad.message())
    data = {"model": "other", "name": "x", "clips": 1, "created_s": 0, "embedding": [1.0]}
    store.path_for("bob").write_text(json.dumps(data))
    [bad] = store.scan().broken
    assert "another voice model" in bad.problem
    assert store.list() == []


def profiles() -> list[SpeakerProfile]:
    return [SpeakerProfile("al", unit(1, 0), 1, 0), SpeakerProfile("bo", unit(0, 1), 1, 0)]


def test_the_best_profile_above_the_threshold_is_named() -> None:
    match = identify(unit(1, 0.2), profiles(), threshold=0.9)
    assert match.name == "al"
    assert match.score == pytest.approx(float(unit(1, 0.2) @ unit(1, 0)))
    assert identify(unit(0.1, 1), profiles(), threshold=0.9).name == "bo"


def test_below_the_threshold_is_unknown_with_the_best_score() -> None:
    query = unit(1, 1)  # cos 0.707 to both
    match = identify(query, profiles(), threshold=0.75)
    assert match.name == "unknown"
    assert match.score == pytest.approx(0.7071, abs=1e-4)
    assert identify(query, profiles(), threshold=0.70).name in {"al", "bo"}


def test_the_threshold_is_inclusive_and_no_profiles_means_unknown() -> None:
    assert identify(unit(1, 0), profiles(), threshold=1.0 - 1e-6).name == "al"
    assert identify(unit(1), [], threshold=0.1) == SpeakerMatch("unknown", 0.0)


def test_a_zero_embedding_matches_no_one() -> None:
    assert identify(np.zeros(256, dtype=np.float32), profiles(), 0.5).name == "unknown"


def test_slaney_mel_scale_and_filterbank_match_the_formula() -> None:
    # Slaney: 3 mels per 200 Hz up to 1 kHz (15 mel), then 27 mels per factor 6.4.
    mels = hz_to_mel(np.array([0.0, 200.0, 1000.0, 6400.0]))
    np.testing.assert_allclose(mels, [0.0, 3.0, 15.0, 42.0], atol=1e-9)
    bank = mel_filterbank()
    assert bank.shape == (40, 201)
    # Slaney norm: every triangle has unit area in Hz (bins are 40 Hz apart), up to sampling.
    np.testing.assert_allclose(bank.sum(axis=1) * 40.0, 1.0, atol=0.05)
    # Independently, scalar maths: 42 edges evenly spaced in mel from 0 Hz to 8 kHz; band i
    # rises from edge i to i+1, falls to i+2, scaled by 2 / (edge i+2 - edge i).
    def to_hz(mel: float) -> float:
        return mel * 200 / 3 if mel < 15 else 1000 * 6.4 ** ((mel - 15) / 27)
    top = 15 + 27 * np.log(8.0) / np.log(6.4)
    edges = [to_hz(top * k / 41) for k in range(42)]
    for band in (0, 7, 20, 39):
        lo, mid, hi = edges[band: band + 3]
        for fft_bin in range(201):
            f = fft_bin * 40.0
            expected = 2 / (hi - lo) * max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
            assert bank[band, fft_bin] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    # Triangles: each band peaks once and bands are ordered along the frequency axis.
    assert np.all(np.diff(bank.argmax(axis=1)) >= 0)


def test_partials_follow_resemblyzer() -> None:
    # 1.6 s partials every round(16000 / 1.3 / 160) = 77 frames; the last kept if >= 75 % audio.
    assert partial_slices(16000) == [slice(0, 160)]
    assert [s.start for s in partial_slices(48000)] == [0, 77, 154]
    assert [s.start for s in partial_slices(40000)] == [0, 77]  # last only 60 % audio


def test_trim_silence_keeps_the_voice() -> None:
    rng = np.random.default_rng(1)
    voice = (rng.normal(0, 3000, 16000)).astype("<i2").tobytes()
    quiet = np.zeros(8000, dtype="<i2").tobytes()
    trimmed = trim_silence(quiet + voice + quiet)
    assert abs(len(trimmed) - len(voice)) <= 2 * 480  # within one 30 ms frame
    assert trim_silence(b"") == b""
