"""Chapter 4's music-pretrained backbone: musicnn's TF1 checkpoint ported to Keras 3
(``genrelab.transfer``, ``data_scripts/port_musicnn.py``).

The port is proved against the original extractor (run in its own process, TF1 graph code on
``tf_keras``) on a synthesized clip always and on a real GTZAN clip where the course staff's copy
is present: the same patches give the same taggram, penultimate and pooled features within the
stated tolerance, and the two preprocessings agree where the original's float16 stays finite.
The JAX pass of ``make test`` runs this file too: the port is plain Keras 3."""
import numpy as np
import pytest

from data_scripts import port_musicnn
from genrelab import transfer

from helpers import tone_clip, write_clip


def test_the_network_has_a_checkpoint_name_for_every_layer_with_weights():
    model = transfer.musicnn()
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert weighted == set(transfer.CHECKPOINT_NAMES)
    assert [t._keras_history.operation.name for t in model.outputs] == list(transfer.OUTPUTS)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 50), (None, 200), (None, 753),
                                                        (None, 753)]


def checkpoint_like(model):
    """Variables named and shaped as musicnn's TF1 checkpoint names them, each of its own
    values (so that two layers swapped, or gamma and beta, cannot go unnoticed)."""
    rng, variables = np.random.default_rng(0), {}
    for layer in model.layers:
        scope = transfer.CHECKPOINT_NAMES.get(layer.name)
        if scope is None:
            continue
        names = (("gamma", "beta", "moving_mean", "moving_variance") if len(layer.weights) == 4
                 else ("kernel", "bias"))
        for name, weight in zip(names, layer.weights):
            shape = tuple(weight.shape)
            if len(shape) == 3:  # TF1 wrote the mid end's kernels as 2-D over a one-band image
                shape = (shape[0], shape[1], 1, shape[2])
            variables[f"{scope}/{name}"] = rng.normal(size=shape).astype(np.float32)
    return variables


def test_each_layer_gets_the_checkpoint_variables_of_its_own_name():
    model = transfer.musicnn()
    variables = checkpoint_like(model)
    variables["beta1_power"] = np.float32(0.9)  # optimizer state: ignored
    variables["conv2d/kernel/Adam"] = np.zeros((7, 38, 1, 204), np.float32)
    used = transfer.load_checkpoint_weights(model, variables)
    assert len(used) == len(variables) - 2 == 64  # 11 batch norms, 8 convolutions, 2 dense
    bn = model.get_layer("timbral_67_norm").get_weights()  # batch_normalization_2
    for value, name in zip(bn, ("gamma", "beta", "moving_mean", "moving_variance")):
        assert np.array_equal(value, variables[f"batch_normalization_2/{name}"])
    assert np.array_equal(model.get_layer("midend_3").get_weights()[0],
                          variables["conv2d_7/kernel"][:, :, 0, :])
    assert np.array_equal(model.get_layer("tag_logits").get_weights()[1], variables["dense_1/bias"])


def test_loading_refuses_a_checkpoint_with_a_missing_unused_or_misshapen_variable():
    variables = checkpoint_like(transfer.musicnn())
    missing = dict(variables)
    del missing["conv2d_5/kernel"]
    with pytest.raises(ValueError, match="conv2d_5/kernel"):
        transfer.load_checkpoint_weights(transfer.musicnn(), missing)
    extra = {**variables, "dense_2/kernel": np.zeros((50, 3), np.float32)}
    with pytest.raises(ValueError, match="left unused.*dense_2"):
        transfer.load_checkpoint_weights(transfer.musicnn(), extra)
    wrong = {**variables, "dense/kernel": np.zeros((10, 200), np.float32)}
    with pytest.raises(ValueError, match="dense/kernel has shape"):
        transfer.load_checkpoint_weights(transfer.musicnn(), wrong)
    transposed = {**variables, "conv2d_6/kernel": np.zeros((64, 7, 1, 64), np.float32)}
    with pytest.raises(ValueError, match="conv2d_6/kernel has shape"):  # same size, not the shape
        transfer.load_checkpoint_weights(transfer.musicnn(), transposed)


def test_input_patches_and_their_errors():
    y = tone_clip(seconds=7.0, sr=22050)
    patches = transfer.musicnn_input(y, 22050)
    assert patches.shape == (2, transfer.FRAMES, transfer.N_MELS) and patches.dtype == np.float32
    loud = 8 * np.sin(2 * np.pi * 440 * np.arange(4 * transfer.SR) / transfer.SR)
    assert np.isfinite(transfer.musicnn_input(loud, transfer.SR)).all()  # no float16 overflow
    with pytest.raises(ValueError, match="at least one patch"):
        transfer.musicnn_input(y[:22050], 22050)
    shortest = (transfer.FRAMES - 1) * transfer.HOP  # center=True: frames reach past the end
    assert len(transfer.musicnn_input(np.ones(shortest, np.float32), transfer.SR)) == 1
    with pytest.raises(ValueError, match="2.976 s"):
        transfer.musicnn_input(np.ones(shortest - 1, np.float32), transfer.SR)
    with pytest.raises(ValueError, match="mono"):
        transfer.musicnn_input(np.stack([y, y]), 22050)


def test_a_port_is_saved_as_keras_or_not_at_all(tmp_path):
    with pytest.raises(ValueError, match=r"\*\.keras"):
        port_musicnn.port(out=tmp_path / "musicnn.h5")
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    return port_musicnn.port(out=tmp_path_factory.mktemp("port") / "MTT_musicnn.keras")


def check_against_the_original(audio, port):
    found = port_musicnn.compare(audio, model=port_musicnn.load_port(path=port))
    for name, difference in found["network"].items():
        assert difference <= port_musicnn.TOLERANCE, (name, difference)
    assert found["input"]["largest"] <= port_musicnn.INPUT_TOLERANCE, found["input"]
    return found


@pytest.mark.slow
def test_the_port_equals_the_original_on_a_synthesized_clip(port, tmp_path):
    clip = write_clip(tmp_path / "tone.wav", tone_clip(seconds=7.0, sr=22050), sr=22050)
    found = check_against_the_original(clip, port)
    assert found["input"]["of"] == 2
    labels = port.with_suffix(".json").read_text()
    assert '"guitar"' in labels and '"MTT_musicnn"' in labels


@pytest.mark.slow
@pytest.mark.real_data
def test_the_port_equals_the_original_on_a_real_clip(port, real_gtzan):
    clip = sorted((real_gtzan / "genres" / "jazz").iterdir())[0]
    found = check_against_the_original(clip, port)
    assert found["input"]["of"] == 10


@pytest.mark.slow
def test_a_failed_restore_is_refused(tmp_path, monkeypatch):
    """The original extractor keeps random weights when its restore fails; the comparison
    says so instead of comparing with them."""
    fake = tmp_path / "musicnn"
    real = port_musicnn.package_dir()
    fake.mkdir()
    for name in ("__init__.py", "extractor.py", "models.py", "configuration.py"):
        (fake / name).write_text((real / name).read_text())
    (fake / "MTT_musicnn").mkdir()  # no checkpoint
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    clip = write_clip(tmp_path / "tone.wav", tone_clip(seconds=4.0, sr=22050), sr=22050)
    with pytest.raises(RuntimeError, match=f"did not restore its checkpoint {tmp_path}"):
        port_musicnn.original_outputs(clip)
