import os

import numpy as np

from mirex.cache import FeatureStore, content_key, find_stores


def test_put_get_round_trip_and_no_temp_files(tmp_path):
    store = FeatureStore(tmp_path / "features")
    v = np.arange(5, dtype=np.float32)
    assert store.get("ex", "ab" * 32) is None
    store.put("ex", "ab" * 32, v)
    np.testing.assert_array_equal(store.get("ex", "ab" * 32), v)
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files if f.endswith(".tmp")]
    assert leftovers == []


def test_corrupt_or_partial_entries_are_misses_not_errors(tmp_path):
    store = FeatureStore(tmp_path / "features")
    store.put("ex", "cd" * 32, np.ones(4, np.float32))
    entry = tmp_path / "features" / "ex" / "cd" / ("cd" * 32 + ".npy")
    entry.write_bytes(entry.read_bytes()[:20])
    assert store.get("ex", "cd" * 32) is None


def test_entries_are_never_unpickled(tmp_path):
    store = FeatureStore(tmp_path / "features")
    entry = tmp_path / "features" / "ex" / "ef" / ("ef" * 32 + ".npy")
    entry.parent.mkdir(parents=True)
    np.save(entry, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    assert store.get("ex", "ef" * 32) is None


def test_key_is_the_content_hash_and_follows_changes(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"first version")
    store = FeatureStore(tmp_path / "features")
    k1 = store.key(audio)
    assert k1 == content_key(audio)
    copy = tmp_path / "copy.wav"
    copy.write_bytes(b"first version")
    assert store.key(copy) == k1  # a copied file still hits the cache
    audio.write_bytes(b"second version, longer")
    assert store.key(audio) != k1  # a changed file is never served stale
    assert FeatureStore(tmp_path / "features").indexed_key(audio) == store.key(audio)


def test_index_is_used_without_rehashing(tmp_path, monkeypatch):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"x" * 1000)
    FeatureStore(tmp_path / "features").key(audio)
    import mirex.cache

    monkeypatch.setattr(mirex.cache, "content_key", lambda p: (_ for _ in ()).throw(AssertionError))
    assert FeatureStore(tmp_path / "features").key(audio)


def test_find_stores_sees_marked_stores_in_parent_folders(tmp_path):
    FeatureStore(tmp_path / "features").put("ex", "00" * 32, np.zeros(2, np.float32))
    fold = tmp_path / "fold 1"
    fold.mkdir()
    stores = find_stores(fold, extra=[tmp_path / "elsewhere"])
    assert [s.root for s in stores] == [fold.resolve() / "features", tmp_path.resolve() / "features",
                                        tmp_path / "elsewhere"]
