import logging
import os

import numpy as np
import pytest

from mirex.cache import FeatureStore, StoreError, content_key, find_stores


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
    stores = find_stores(fold)
    assert [s.root for s in stores] == [fold.resolve() / "features", tmp_path.resolve() / "features"]


@pytest.fixture
def cache_log(caplog, monkeypatch):
    """Warnings of ``mirex.cache``, whether or not the CLI turned propagation off."""
    logger = logging.getLogger("mirex.cache")
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.WARNING)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def _store_with_entry(root):
    FeatureStore(root).put("ex", "00" * 32, np.ones(2, np.float32))
    return root


def test_find_stores_takes_a_given_store_folder_as_it_is(tmp_path, cache_log):
    given = _store_with_entry(tmp_path / "other" / "features")
    stores = find_stores(tmp_path / "scratch", extra=[given])
    assert [s.root for s in stores[1:]] == [given]
    assert stores[1].get("ex", "00" * 32) is not None
    assert not cache_log.records


def test_find_stores_takes_a_given_scratch_folder_as_its_features_store(tmp_path, cache_log):
    # As a new user would: MIREX_FEATURE_STORES=/path/to/the/other/scratch
    _store_with_entry(tmp_path / "other" / "features")
    stores = find_stores(tmp_path / "scratch", extra=[tmp_path / "other"])
    assert [s.root for s in stores[1:]] == [tmp_path / "other" / "features"]
    assert stores[1].get("ex", "00" * 32) is not None
    assert not cache_log.records


def test_find_stores_warns_once_about_a_path_that_is_neither_and_skips_it(tmp_path, cache_log):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "features").mkdir()  # a folder named features is not a store
    stores = find_stores(tmp_path / "scratch", extra=[tmp_path / "empty", tmp_path / "missing"])
    assert len(stores) == 1
    messages = [r.getMessage() for r in cache_log.records]
    assert len(messages) == 2
    for path, message in zip(("empty", "missing"), messages):
        assert message.startswith(str(tmp_path / path) + ":")
        assert "not a feature store or a scratch folder" in message and "\n" not in message


def test_a_store_of_another_format_is_skipped_for_reading_and_never_written(tmp_path, cache_log):
    other = tmp_path / "v2" / "features"
    other.mkdir(parents=True)
    (other / "store.json").write_text('{"format": "mirex-feature-store/2"}')
    assert len(find_stores(tmp_path / "scratch", extra=[tmp_path / "v2"])) == 1
    assert "store.json: format is 'mirex-feature-store/2'" in cache_log.records[0].getMessage()
    with pytest.raises(StoreError, match="store.json: format"):
        FeatureStore(other).put("ex", "00" * 32, np.ones(2, np.float32))
    assert not (other / "ex").exists()


def test_audio_replaced_in_place_with_same_size_and_mtime_is_hashed_again(tmp_path):
    import time

    from mirex.cache import FeatureStore

    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"A" * 4096)
    store = FeatureStore(tmp_path / "features")
    first = store.key(str(audio))
    before = os.stat(audio)
    time.sleep(0.05)                                   # past the file system's clock tick
    with open(audio, "r+b") as handle:                 # same inode, same size
        handle.write(b"B" * 4096)
    os.utime(audio, ns=(before.st_atime_ns, before.st_mtime_ns))   # mtime put back
    assert os.stat(audio).st_mtime_ns == before.st_mtime_ns
    fresh = FeatureStore(tmp_path / "features")        # a later call: only the index on disk
    assert fresh.indexed_key(str(audio)) is None
    assert fresh.key(str(audio)) != first
    assert FeatureStore(tmp_path / "features").indexed_key(str(audio)) == fresh.key(str(audio))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_new_files_are_hashed_on_the_threads_allowed_and_keep_their_order(tmp_path, monkeypatch,
                                                                          n_threads):
    import threading

    from mirex import pipeline

    files = []
    for i in range(12):
        files.append(str(tmp_path / f"f{i}.wav"))
        with open(files[-1], "wb") as f:
            f.write(os.urandom(1000 + i))
    files.insert(5, str(tmp_path / "missing.wav"))
    threads, lookup = set(), pipeline._lookup

    def recording(path, extractors, stores):
        threads.add(threading.get_ident())
        threading.Event().wait(0.01)   # long enough for the pool to use every thread it has
        return lookup(path, extractors, stores)

    monkeypatch.setattr(pipeline, "_lookup", recording)
    store = FeatureStore(tmp_path / "store")
    results = pipeline._lookup_all(files, [], [store], n_threads)
    assert len(threads) == n_threads
    assert isinstance(results[5], FileNotFoundError)
    assert [r[0] for r in results if not isinstance(r, OSError)] == \
        [content_key(p) for p in files if not p.endswith("missing.wav")]
