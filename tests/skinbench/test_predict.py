"""``skinbench predict`` and ``skinbench.load_run``: training's preprocessing, one row per image, no crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import skinbench
from skinbench.cli import main as cli
from skinbench.data import decode_image, load_metadata

pytestmark = pytest.mark.usefixtures("one_thread")


def _test_images(run: Path, data: Path) -> pd.DataFrame:
    """The run's test images: image_id, path, and the probabilities evaluation wrote."""
    meta = load_metadata(data)[["image_id", "path"]]
    predictions = pd.read_csv(run / "predictions.csv")
    return predictions.merge(meta, on="image_id")


def test_predict_folder_with_a_corrupt_jpeg_reports_it_and_matches_evaluate(
    trained_run: Path, synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = _test_images(trained_run, synthetic_root)
    folder = tmp_path / "new"
    folder.mkdir()
    for path in test["path"]:
        shutil.copy(path, folder)
    (folder / "broken.jpg").write_bytes(Path(test["path"].iloc[0]).read_bytes()[:300])  # truncated JPEG
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "pred.csv"

    assert cli(["predict", str(trained_run), str(folder), "--out", str(out), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "empty.jpg" in captured.err and "skipped 1 file" in captured.err
    assert f"{len(test) + 2} image(s), 2 could not be decoded" in captured.out

    table = pd.read_csv(out, keep_default_na=False)
    classes = skinbench.load_run(trained_run).classes
    assert list(table.columns) == [
        "image", "source", "status", "error", "width", "height", "pred", *[f"prob_{c}" for c in classes]
    ]  # fmt: skip
    assert len(table) == len(test) + 2
    bad = table[table["status"] == "error"].set_index("image")
    assert set(bad.index) == {"broken", "empty"} and (bad["error"] != "").all() and (bad["pred"] == "").all()
    good = table[table["status"] == "ok"].set_index("image").loc[test["image_id"]]
    prob_cols = [f"prob_{c}" for c in classes]
    np.testing.assert_allclose(good[prob_cols].astype(float).to_numpy(), test[prob_cols].to_numpy(), atol=1e-6)
    assert (good["pred"].to_numpy() == np.array(classes)[test["pred"].to_numpy()]).all()
    assert set(zip(good["width"], good["height"])) == {("200", "150")}


def test_load_run_api_paths_pil_arrays_and_tta(trained_run: Path, tmp_path: Path) -> None:
    predictor = skinbench.load_run(trained_run)
    assert predictor.preprocessing.image_size == 16 and len(predictor.preprocessing.mean) == 3
    assert "stretched" in predictor.preprocessing.resize_rule and predictor.checkpoint == "best.pt"
    # a PNG (no JPEG draft mode) gives the same pixels as a file, a PIL image and an array
    pixels = np.random.default_rng(0).integers(0, 256, (45, 60, 3), dtype=np.uint8)  # no symmetry for TTA
    png = tmp_path / "lesion.png"
    Image.fromarray(pixels).save(png)
    table = predictor.predict([png, Image.open(png), pixels, np.zeros((4, 4), np.uint8), tmp_path / "missing.jpg"])
    assert table["status"].tolist() == ["ok", "ok", "ok", "error", "error"]
    assert table["image"].tolist()[:3] == ["lesion", "#1", "#2"]
    probs = table[predictor.prob_columns].to_numpy(float)
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-7)
    np.testing.assert_allclose(probs[0], probs[2], atol=1e-7)
    assert "uint8 (H, W, 3)" in table.at[3, "error"]
    assert np.array_equal(predictor.pixels(png)[0], decode_image(png, 16))

    tta = predictor.predict([png], tta=True)
    p = tta[predictor.prob_columns].to_numpy(float)[0]
    assert abs(p.sum() - 1) < 1e-6 and not np.allclose(p, probs[0], atol=1e-9)


def test_predict_from_a_csv_and_refusals(trained_run: Path, synthetic_root: Path, tmp_path: Path, capsys) -> None:
    test = _test_images(trained_run, synthetic_root).head(3)
    listing = tmp_path / "list.csv"
    pd.DataFrame({"path": test["path"]}).to_csv(listing, index=False)
    out = tmp_path / "out.csv"
    assert cli(["predict", str(trained_run), str(listing), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    assert pd.read_csv(out)["image"].tolist() == test["image_id"].tolist()
    capsys.readouterr()
    for argv, fragment in [
        (["predict", str(trained_run), str(listing), "--out", str(trained_run / "p.csv")], "inside the run folder"),
        (["predict", str(tmp_path), str(listing)], "not a skinbench run folder"),
        (["predict", str(trained_run), str(tmp_path / "out.csv"), "--out", str(tmp_path / "x.csv")], "no path column"),
        (["predict", str(trained_run), str(listing), "--device", "tpu"], "unknown device"),
    ]:
        assert cli(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err, err
