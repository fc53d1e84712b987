import numpy as np
import pytest

from mirex.backbones import load_backbone
from mirex.constants import SEGMENT_SAMPLES
from mirex.engines import embed_clips, pool_segments
from mirex.engines.keras import KerasEngine
from mirex.engines import fast_bf16_cpu
from mirex.extractors.samplecnn import SampleCNNExtractor

#: OpenVINO's bf16 runs only on a CPU with AMX-BF16 or AVX512-BF16.
needs_bf16_cpu = pytest.mark.skipif(not fast_bf16_cpu(), reason="CPU has no bf16 instructions")


def openvino_engine(backbone, batch_segments, precision="bf16"):
    from mirex.engines.openvino import OpenVINOEngine

    return OpenVINOEngine(backbone, batch_segments, precision)


@pytest.fixture(scope="module")
def backbone(tiny_models):
    return load_backbone(tiny_models / "samplecnn-msd")


@pytest.fixture(scope="module")
def feature_model(backbone):
    return KerasEngine(backbone, batch_segments=4)


def segments(n, seed=0):
    return (0.3 * np.random.default_rng(seed).standard_normal((n, SEGMENT_SAMPLES))).astype(np.float32)


def test_segment_features_are_time_maxima_of_the_last_three_blocks(backbone, feature_model):
    import keras

    x = segments(3)
    model = backbone.build()
    taps = keras.Model(model.input, [model.get_layer(n).output for n in backbone.feature_layers])
    expected = np.concatenate([np.asarray(t).max(axis=1) for t in taps(x[..., None])], axis=1)
    got = feature_model.segment_features(x)
    assert got.shape == (3, backbone.embedding_dim)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_clip_embedding_is_the_mean_over_its_segments(feature_model):
    x = segments(5)
    per_segment = feature_model.segment_features(x)
    np.testing.assert_allclose(embed_clips(feature_model, [x])[0], per_segment.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pool_segments(per_segment), per_segment.mean(axis=0), rtol=1e-6)


def test_embedding_does_not_depend_on_batch_company(feature_model):
    a, b, c = segments(3, 1), segments(2, 2), segments(6, 3)
    alone = embed_clips(feature_model, [a])[0]
    in_company = embed_clips(feature_model, [b, a, c])[1]
    np.testing.assert_allclose(alone, in_company, rtol=1e-5, atol=1e-6)


def test_distinct_inputs_give_distinct_embeddings(feature_model):
    e = embed_clips(feature_model, [segments(2, 1), segments(2, 9) * 0.1])
    assert not np.allclose(e[0], e[1])


def test_extractor_id_changes_with_weights_and_parameters(tiny_models):
    msd = SampleCNNExtractor(load_backbone(tiny_models / "samplecnn-msd"))
    mtt = SampleCNNExtractor(load_backbone(tiny_models / "samplecnn-mtt"))
    fewer = SampleCNNExtractor(load_backbone(tiny_models / "samplecnn-msd"), max_segments=3)
    assert len({msd.id, mtt.id, fewer.id}) == 3
    assert msd.id == SampleCNNExtractor(load_backbone(tiny_models / "samplecnn-msd")).id
    assert msd.input_spec == mtt.input_spec != fewer.input_spec


def test_extractor_prepares_and_embeds_a_file(tiny_models, tone_task):
    ex = SampleCNNExtractor(load_backbone(tiny_models / "samplecnn-msd"))
    prepared = ex.prepare(tone_task[0][0])
    assert prepared.shape == (1, SEGMENT_SAMPLES)  # a 3-s clip holds one segment
    vectors = ex.embed([prepared, ex.prepare(tone_task[-1][0])])
    assert vectors.shape == (2, ex.dim) and np.isfinite(vectors).all()


def test_thread_bound_reaches_tensorflow(tmp_path):
    import subprocess
    import sys

    code = ("import os\nfrom mirex.config import configure_threads\n"
            "from mirex.engines.base import apply_thread_settings\n"
            "configure_threads(1)\nimport tensorflow as tf\napply_thread_settings(1)\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads(),"
            " os.environ['OMP_NUM_THREADS'], os.environ['TF_NUM_INTRAOP_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1", "1", "1"]


def _with_batch_norm_statistics(folder, config, seed=7):
    """A backbone whose batch norms have non-trivial statistics (so folding is exercised)."""
    from mirex.backbones import save_backbone
    from mirex.backbones.samplecnn import build_samplecnn

    model = build_samplecnn(config, seed=seed)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.name.endswith("_bn"):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            layer.beta.assign(rng.normal(0, 0.2, c))
            layer.moving_mean.assign(rng.normal(0, 0.2, c))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, c))
    return save_backbone(folder, model, "b", config,
                         [f"t{i}" for i in range(config["n_outputs"])], {}, trained=False)


@pytest.fixture(scope="module")
def trained_looking_backbone(tmp_path_factory):
    """A tiny backbone with non-trivial batch-norm statistics."""
    from conftest import TINY_CONFIG

    return _with_batch_norm_statistics(tmp_path_factory.mktemp("bn") / "b", TINY_CONFIG)


#: Wide enough that every convolution after block 1 has 1024 weights or more,
#: the converter's threshold for quantizing a tensor.
WIDE_CONFIG = {"widths": [16, 24, 24, 32, 32, 32, 32, 32, 32, 48, 48], "n_outputs": 5,
               "dropout": 0.0}


@pytest.fixture(scope="module")
def wide_backbone(tmp_path_factory):
    """A small backbone all of whose later convolutions dynamic-range quantization quantizes."""
    return _with_batch_norm_statistics(tmp_path_factory.mktemp("wide") / "b", WIDE_CONFIG)


def test_engines_are_selected_by_name_and_environment(tiny_models):
    from mirex.config import ConfigError, resolve
    from mirex.engines import make_engine
    from mirex.engines.tflite import TFLiteEngine

    backbone = load_backbone(tiny_models / "samplecnn-msd")
    assert isinstance(make_engine(backbone, "keras"), KerasEngine)
    assert isinstance(make_engine(backbone, "tflite"), TFLiteEngine)
    from mirex.engines.openvino import OpenVINOEngine

    assert isinstance(make_engine(backbone, "openvino", "fp32"), OpenVINOEngine)
    # no GPU here: 'auto' in float32 is openvino on an AVX-512 CPU, else the TFLite engine
    from mirex.engines import fast_fp32_cpu

    assert isinstance(make_engine(backbone, "auto", "fp32"),
                      OpenVINOEngine if fast_fp32_cpu() else TFLiteEngine)
    assert resolve(environ={"MIREX_ENGINE": "keras"}).engine == "keras"
    assert resolve(engine="tflite", environ={"MIREX_ENGINE": "keras"}).engine == "tflite"
    assert SampleCNNExtractor(backbone, **resolve(environ={"MIREX_ENGINE": "keras"})
                              .engine_options).engine == "keras"
    with pytest.raises(ConfigError, match="engine"):
        resolve(environ={"MIREX_ENGINE": "fast"})
    with pytest.raises(ConfigError, match="precision"):
        resolve(environ={"MIREX_PRECISION": "fp8"})
    with pytest.raises(ValueError, match="engine"):
        SampleCNNExtractor(backbone, engine="fast")
    with pytest.raises(ValueError, match="engine runs"):      # refused before any decoding
        SampleCNNExtractor(backbone, engine="tflite", precision="bf16")
    for deleted in ("int8", "dyn8"):   # measured and deleted: bf16 and openvino fp32 replace them
        with pytest.raises(ValueError, match="precision"):
            SampleCNNExtractor(backbone, precision=deleted)


def test_auto_prefers_a_gpu_then_cpu_bf16_then_fp32_on_avx512_then_fp32():
    from mirex.engines import resolve_engine

    for bf16 in (False, True):
        for fp32 in (False, True):
            assert resolve_engine("auto", "auto", gpu=True, bf16=bf16, fp32=fp32) \
                == ("keras", "bf16")
            assert resolve_engine("auto", "fp32", gpu=True, bf16=bf16, fp32=fp32) \
                == ("keras", "fp32")
            assert resolve_engine("auto", "fp32", gpu=False, bf16=bf16, fp32=fp32) \
                == ("openvino" if fp32 else "tflite", "fp32")
            assert resolve_engine("keras", "auto", gpu=False, bf16=bf16) == ("keras", "fp32")
            assert resolve_engine("tflite", "auto", gpu=True, bf16=bf16) == ("tflite", "fp32")
        assert resolve_engine("auto", "auto", gpu=False, bf16=True, fp32=False) \
            == ("openvino", "bf16")
        assert resolve_engine("auto", "bf16", gpu=False, bf16=True) == ("openvino", "bf16")
        assert resolve_engine("auto", "bf16", gpu=False, bf16=False) == ("keras", "bf16")
        assert resolve_engine("openvino", "auto", gpu=False, bf16=False) == ("openvino", "fp32")
    assert resolve_engine("auto", "auto", gpu=False, bf16=False, fp32=False) == ("tflite", "fp32")
    assert resolve_engine("auto", "auto", gpu=False, bf16=False, fp32=True) \
        == ("openvino", "fp32")
    for engine, precision in (("tflite", "bf16"),):
        with pytest.raises(ValueError, match="engine runs"):
            resolve_engine(engine, precision, gpu=False)


def test_openvino_without_its_package_is_a_clear_error(monkeypatch):
    import mirex.engines as engines

    monkeypatch.setattr(engines, "_openvino_available", lambda: False)
    with pytest.raises(ValueError, match="needs the openvino package"):
        engines.resolve_engine("openvino", "fp32")
    assert engines.resolve_engine("auto", "auto", gpu=False) == ("tflite", "fp32")


def test_each_engine_brings_its_own_batch_size(backbone):
    from mirex.engines import default_batch, make_engine

    assert make_engine(backbone, "tflite", "fp32").batch_segments == default_batch("tflite", "fp32")
    assert make_engine(backbone, "openvino", "fp32").batch_segments \
        == default_batch("openvino", "fp32")
    assert make_engine(backbone, "keras", "fp32").batch_segments == default_batch("keras", "fp32")
    assert default_batch("keras", "bf16", gpu=True) > default_batch("keras", "fp32")
    assert make_engine(backbone, "tflite", "fp32", batch_segments=7).batch_segments == 7
    assert make_engine(backbone, "openvino", "fp32", batch_segments=5).batch_segments == 5


def test_tflite_fp32_equals_the_keras_model(trained_looking_backbone):
    from mirex.engines.tflite import TFLiteEngine

    x = segments(7, 11)
    keras_features = KerasEngine(trained_looking_backbone, batch_segments=4).segment_features(x)
    lite = TFLiteEngine(trained_looking_backbone, batch_segments=3)
    assert np.abs(keras_features).max() > 0.1  # not trivially zero
    np.testing.assert_allclose(lite.segment_features(x), keras_features, rtol=1e-4, atol=1e-5)
    # a segment's features do not depend on its batch company
    alone = lite.segment_features(x[2:3])
    np.testing.assert_array_equal(alone[0], lite.segment_features(x)[2])


def _relative_error(a, b):
    """Per-segment error relative to the segment's largest feature of the reference."""
    return np.abs(a - b).max(axis=1) / np.abs(a).max(axis=1)


def test_bf16_stays_within_tolerance_of_fp32(trained_looking_backbone):
    x = segments(6, 5)
    fp32 = KerasEngine(trained_looking_backbone, batch_segments=3).segment_features(x)
    bf16 = KerasEngine(trained_looking_backbone, batch_segments=3,
                       precision="bf16").segment_features(x)
    err = _relative_error(fp32, bf16)
    assert err.max() < 0.05, err           # bfloat16 keeps 8 bits of mantissa
    assert err.max() > 0                   # the path is really reduced precision
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"   # restored after building
    again = KerasEngine(trained_looking_backbone, batch_segments=3, precision="bf16")
    np.testing.assert_array_equal(again.segment_features(x[:1])[0], bf16[0])


def _music_at(dbfs, seed=999):
    """Segments of generated music (seeds other than the calibration's) at an RMS level."""
    from mirex.audio import scale_to_dbfs, segment
    from mirex.demo.synth import synthesize_clip

    x = np.concatenate([segment(synthesize_clip(g, seed=seed, duration=6.0), max_segments=2)
                        for g in ("march", "swing", "techno")])
    return scale_to_dbfs(x, dbfs, axis=1)


LEVELS_DBFS = (-40.0, -30.0, -20.0, -12.0, -6.0)


def _assert_alone_as_in_company(engine) -> tuple[np.ndarray, np.ndarray]:
    """A segment's features alone equal those it gets among quiet and loud company.

    Returns the mixed segments and their features."""
    mixed = np.concatenate([_music_at(-40.0)[:3], _music_at(-10.0)[:2], _music_at(-26.0)[:2]])
    together = engine.segment_features(mixed)
    for i in (0, 3, 6):
        np.testing.assert_array_equal(engine.segment_features(mixed[i : i + 1])[0], together[i])
    return mixed, together


def test_bf16_has_its_own_cache_and_auto_follows_the_cpu(wide_backbone, tmp_path, monkeypatch):
    import mirex.engines as engines

    def ids():
        return {p: SampleCNNExtractor(wide_backbone, precision=p).id
                for p in ("auto", "fp32", "bf16")}

    monkeypatch.setattr(engines, "gpu_available", lambda: False)
    monkeypatch.setattr(engines, "_openvino_available", lambda: True)
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(engines, "CPUINFO_PATH", str(cpuinfo))
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c\n")
    plain = ids()
    assert plain["auto"] == plain["fp32"] == plain["bf16"]   # bf16 without bf16: keras's, float
    info = SampleCNNExtractor(wide_backbone).info()
    assert (info["engine"], info["precision"]) == ("tflite", "fp32")
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    avx512 = ids()
    assert avx512 == plain   # fp32 on openvino: the same features, the same cache
    info = SampleCNNExtractor(wide_backbone).info()
    assert (info["engine"], info["precision"]) == ("openvino", "fp32")
    cpuinfo.write_text("processor\t: 0\nflags\t\t: avx512f avx512_vnni avx512_bf16 amx_bf16\n")
    amx = ids()
    assert amx["auto"] == amx["bf16"] != amx["fp32"] == plain["fp32"]
    assert "-bf16-" in amx["bf16"] and "bf16" not in amx["fp32"]
    info = SampleCNNExtractor(wide_backbone).info()
    assert (info["engine"], info["precision"]) == ("openvino", "bf16")
    monkeypatch.setattr(engines, "_openvino_available", lambda: False)   # not installed
    assert SampleCNNExtractor(wide_backbone).id == plain["fp32"]


def test_the_choice_is_described_with_its_reason(tmp_path, monkeypatch):
    import mirex.engines as engines

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: avx512f avx512_vnni avx512_bf16 amx_bf16\n")
    monkeypatch.setattr(engines, "CPUINFO_PATH", str(cpuinfo))
    line = engines.describe_choice("openvino", "bf16", ("auto", "auto"))
    assert line == "openvino engine, bf16 (auto: CPU has amx_bf16/avx512_bf16)"
    assert engines.describe_choice("tflite", "fp32", ("tflite", "fp32")) == "tflite engine, fp32"
    assert "a GPU" in engines.describe_choice("keras", "bf16", ("auto", "auto"))
    # fp32 asked for on a CPU that has bf16: no claim about the CPU, only what was asked
    assert engines.describe_choice("tflite", "fp32", ("auto", "fp32")) == \
        "tflite engine, fp32 (fp32 requested, engine auto)"


def test_fast_bf16_cpu_reads_the_cpu_flags():
    from mirex.engines import fast_bf16_cpu

    def flags(text):
        return f"processor\t: 0\nvendor_id\t: x\nflags\t\t: {text}\nbugs\t\t: spectre\n"

    assert not fast_bf16_cpu(flags("fpu sse4_2 avx avx2 fma"))                 # AVX2 only
    assert not fast_bf16_cpu(flags("avx2 avx512f avx512_vnni"))               # Cascade/Ice Lake
    assert fast_bf16_cpu(flags("avx2 avx512f avx512_vnni avx512_bf16"))       # Zen 4/5, Cooper Lake
    assert fast_bf16_cpu(flags("avx512f amx_tile amx_bf16 amx_int8"))         # Sapphire Rapids
    assert not fast_bf16_cpu("processor\t: 0\nFeatures\t: fp asimd bf16\n")  # ARM: no flags line
    assert not fast_bf16_cpu("")


def test_fast_fp32_cpu_is_avx512(tmp_path, monkeypatch):
    import mirex.engines as engines
    from mirex.engines import fast_fp32_cpu

    def flags(text):
        return f"processor\t: 0\nflags\t\t: {text}\n"

    assert not fast_fp32_cpu(flags("fpu sse4_2 avx avx2 fma avx_vnni"))       # AVX2 only
    assert fast_fp32_cpu(flags("avx2 avx512f avx512bw"))                      # Skylake-SP and later
    assert not fast_fp32_cpu("processor\t: 0\nFeatures\t: fp asimd\n")      # ARM
    cpuinfo = tmp_path / "c"
    cpuinfo.write_text(flags("avx2 avx512f"))
    monkeypatch.setattr(engines, "CPUINFO_PATH", str(cpuinfo))
    monkeypatch.setattr(engines, "_openvino_available", lambda: True)
    assert engines.resolve_engine("auto", "auto", gpu=False) == ("openvino", "fp32")
    assert engines.describe_choice("openvino", "fp32", ("auto", "auto")) == \
        "openvino engine, fp32 (auto: no GPU, no bf16; CPU has avx512f)"
    monkeypatch.setattr(engines, "_openvino_available", lambda: False)   # not installed
    assert engines.resolve_engine("auto", "auto", gpu=False) == ("tflite", "fp32")


def test_openvino_fp32_equals_tflite(trained_looking_backbone, tmp_path):
    from mirex.engines.openvino import OpenVINOEngine
    from mirex.engines.tflite import TFLiteEngine

    x = segments(7, 12)
    lite = TFLiteEngine(trained_looking_backbone, batch_segments=3).segment_features(x)
    ov = openvino_engine(trained_looking_backbone, 3, "fp32")
    np.testing.assert_allclose(ov.segment_features(x), lite, rtol=1e-4, atol=1e-5)
    # through OpenVINO's compiled-model cache: a second engine finds the first one's
    first = OpenVINOEngine(trained_looking_backbone, 3, "fp32", cache_dir=tmp_path)
    assert any((tmp_path / "openvino").iterdir())
    again = OpenVINOEngine(trained_looking_backbone, 3, "fp32", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.segment_features(x), first.segment_features(x))
    np.testing.assert_allclose(again.segment_features(x), lite, rtol=1e-4, atol=1e-5)
    for blob in (tmp_path / "openvino").iterdir():   # a damaged cache: compiled again
        blob.write_bytes(b"not a compiled model")
    damaged = OpenVINOEngine(trained_looking_backbone, 3, "fp32", cache_dir=tmp_path)
    np.testing.assert_array_equal(damaged.segment_features(x), first.segment_features(x))


def test_openvino_builds_its_graph_without_tensorflow(trained_looking_backbone):
    """The weights are read with h5py and the graph built in OpenVINO: no TensorFlow import."""
    import subprocess
    import sys

    script = ("import sys, numpy as np\n"
              "from mirex.backbones import load_backbone\n"
              "from mirex.engines.openvino import OpenVINOEngine\n"
              f"b = load_backbone({str(trained_looking_backbone.path)!r})\n"
              "e = OpenVINOEngine(b, 2, 'fp32')\n"
              "assert e.segment_features(np.zeros((3, b.segment_samples), np.float32)).shape "
              "== (3, b.embedding_dim)\n"
              "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_folded_blocks_refuse_weights_of_another_architecture(trained_looking_backbone):
    from mirex.backbones.samplecnn import folded_blocks

    blocks = folded_blocks(trained_looking_backbone.weights_path, trained_looking_backbone.config)
    widths = trained_looking_backbone.config["widths"]
    assert [bias.shape[0] for _, bias in blocks] == widths
    other = {**trained_looking_backbone.config, "widths": [w * 2 for w in widths]}
    with pytest.raises(ValueError, match="block 1 holds a"):
        folded_blocks(trained_looking_backbone.weights_path, other)


@needs_bf16_cpu
def test_openvino_bf16_stays_within_tolerance_of_fp32_at_every_loudness(wide_backbone):
    fp32 = KerasEngine(wide_backbone, batch_segments=3)
    bf16 = openvino_engine(wide_backbone, batch_segments=3)
    for level in LEVELS_DBFS:
        x = _music_at(level)
        ref, got = fp32.segment_features(x), bf16.segment_features(x)
        err = _relative_error(ref, got)
        assert 0 < err.max() < 0.05, (level, err)   # a segment: really reduced, within 5 %
        cosine = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
        assert cosine.min() > 0.999, (level, cosine)
        clip_err = _relative_error(ref.mean(0, keepdims=True), got.mean(0, keepdims=True))
        assert clip_err.max() < 0.02, (level, clip_err)


@needs_bf16_cpu
def test_openvino_bf16_features_do_not_depend_on_batch_company(wide_backbone):
    bf16 = openvino_engine(wide_backbone, batch_segments=4)
    mixed, together = _assert_alone_as_in_company(bf16)
    other_batch = openvino_engine(wide_backbone, batch_segments=3).segment_features(mixed)
    np.testing.assert_array_equal(other_batch, together)


@pytest.mark.skipif(fast_bf16_cpu(), reason="this CPU has bf16")
def test_openvino_bf16_is_refused_on_a_cpu_without_bf16(wide_backbone):
    with pytest.raises(ValueError, match="bf16"):
        openvino_engine(wide_backbone, batch_segments=2)
