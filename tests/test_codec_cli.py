"""`manage.py codec encode/decode/info` with a tiny model's weights."""
import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from compression.learned import coder
from compression.learned.models import build_model
from compression.learned.zoo import model_config

from .conftest import make_photo, photo_folder


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    cfg = model_config("mscae-tiny")
    path = tmp_path_factory.mktemp("w") / "tiny.weights.h5"
    coder.save_model(coder.wrap_model("mscae-tiny", build_model(cfg["N"], cfg["M"], cfg["lambdas"])), path)
    return str(path)


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("codec", *args, stdout=out)
    return out.getvalue()


def test_encode_several_inputs_then_decode_and_describe_them(tmp_path, tiny_weights):
    sources = []
    for i, (w, h) in enumerate([(70, 50), (33, 90)]):
        path = tmp_path / f"in{i}.png"
        make_photo(w, h, seed=i).save(path)
        sources.append(path)
    model = ["--model", "mscae-tiny", "--weights", tiny_weights]
    out = run("encode", *map(str, sources), "--out-dir", str(tmp_path / "msc"), "--quality", "70", *model)
    assert out.count("bpp") == 2
    files = sorted((tmp_path / "msc").glob("*.msc"))
    assert [f.name for f in files] == ["in0.msc", "in1.msc"]

    info = run("info", str(files[0]))
    size = files[0].stat().st_size
    assert "mscae-tiny" in info and "70×50" in info and f"{size} bytes" in info
    assert f"{size * 8 / (70 * 50):.4f} bpp" in info

    run("decode", *map(str, files), "--out-dir", str(tmp_path / "png"), *model)
    for source, name in zip(sources, ["in0.png", "in1.png"]):
        decoded = Image.open(tmp_path / "png" / name)
        assert decoded.size == Image.open(source).size


def test_max_effort_on_the_command_line_writes_a_file_the_normal_decoder_reads(tmp_path, tiny_weights, monkeypatch):
    from compression.learned import refine

    monkeypatch.setattr(refine, "LEARNING_RATE", 0.1)  # the untrained tiny model needs large steps
    src = tmp_path / "a.png"
    make_photo(64, 48, seed=5).save(src)
    model = ["--model", "mscae-tiny", "--weights", tiny_weights]
    run("encode", str(src), "-o", str(tmp_path / "d.msc"), "--quality", "60", *model)
    run("encode", str(src), "-o", str(tmp_path / "m.msc"), "--quality", "60", "--effort", "max",
        "--refine-steps", "30", *model)
    assert (tmp_path / "m.msc").read_bytes() != (tmp_path / "d.msc").read_bytes()
    run("decode", str(tmp_path / "m.msc"), "-o", str(tmp_path / "m.png"), *model)
    assert Image.open(tmp_path / "m.png").size == (64, 48)


def test_target_bpp_on_the_command_line(tmp_path, tiny_weights):
    src = tmp_path / "a.png"
    make_photo(128, 128, seed=3).save(src)
    loaded = coder.load_model("mscae-tiny", tiny_weights)
    pixels = 128 * 128
    lo, hi = (len(coder.encode(loaded, np.asarray(Image.open(src)), q)) * 8 / pixels for q in (0, 100))
    target = lo + 0.6 * (hi - lo)
    run("encode", str(src), "-o", str(tmp_path / "a.msc"), "--target-bpp", f"{target}",
        "--model", "mscae-tiny", "--weights", tiny_weights)
    achieved = (tmp_path / "a.msc").stat().st_size * 8 / pixels
    assert lo < achieved <= target


@pytest.mark.parametrize(
    "args, message",
    [
        (["encode", "missing.png", "-o", "x.msc"], "does not exist"),
        (["decode", "{junk}", "-o", "x.png"], "not an MSCAE file"),
        (["info", "{junk}"], "not an MSCAE file"),
        (["encode", "{junk}", "-o", "x.msc"], "not an image"),
        (["encode", "{png}", "-o", "x.msc", "--quality", "150"], "0–100"),
        (["encode", "{png}", "-o", "x.msc", "--effort", "max", "--refine-steps", "0"], "got 0"),
        (["encode", "{png}", "-o", "x.msc", "--target-psnr", "120"], "'120.0' dB is out of range"),
    ],
)
def test_bad_input_exits_with_a_one_line_message(tmp_path, tiny_weights, args, message):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"definitely not an image or a codec file")
    png = tmp_path / "ok.png"
    make_photo(20, 20).save(png)
    args = [a.format(junk=junk, png=png) for a in args]
    with pytest.raises(CommandError, match=message) as info:
        run(*args, "--model", "mscae-tiny", "--weights", tiny_weights) if args[0] != "info" else run(*args)
    assert "\n" not in str(info.value)


def test_train_codec_trains_resumes_and_refuses_missing_folders(tmp_path):
    from io import StringIO

    folder = photo_folder(tmp_path / "photos", 3, 72, 72)
    common = ["--model", "mscae-tiny", "--data", str(folder), "--run-dir", str(tmp_path / "run"),
              "--steps-per-epoch", "1", "--batch-size", "2", "--crop", "64", "--precision", "float32", "--quiet"]
    out = StringIO()
    call_command("train_codec", *common, "--epochs", "1", stdout=out)
    assert "Done: epoch 1" in out.getvalue()
    out = StringIO()
    call_command("train_codec", *common, "--epochs", "1", "--lr", "5e-5", stdout=out)  # one more epoch
    assert "Resuming mscae-tiny from epoch 1 (lr 5e-05)" in out.getvalue() and "Done: epoch 2" in out.getvalue()
    with pytest.raises(CommandError, match="--epochs 0 trains nothing"):
        call_command("train_codec", *common, "--epochs", "0")

    with pytest.raises(CommandError, match="nowhere"):
        call_command("train_codec", "--model", "mscae-tiny", "--data", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="'other'"):
        call_command("train_codec", *common[2:], "--model", "other")
