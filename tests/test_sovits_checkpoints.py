"""Loading upstream GPT-SoVITS checkpoints (s1 .ckpt, s2 .pth) and rejecting bad ones clearly."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import pytest
import torch
from sovits_fixtures import (
    N_PHONE_SYMBOLS_V1,
    N_PHONE_SYMBOLS_V2,
    TINY_SV_DIM,
    build_s1_ckpt,
    build_s2_pth,
    build_sv_ckpt,
)

from castline.errors import CheckpointError
from voices.engines.gpt_sovits import checkpoints
from voices.engines.gpt_sovits.checkpoints import check_state_dict, load_s1, load_s2
from voices.engines.gpt_sovits.sovits import SoVITSDecoder
from voices.engines.gpt_sovits.sv import SpeakerVerifier


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    out = {v: build_s2_pth(root / f"{v}.pth", v) for v in ("v1", "v2", "v2Pro", "v2ProPlus")}
    out["s1"] = build_s1_ckpt(root / "gpt-e15.ckpt")
    return out


def _rewrite(src: Path, dest: Path, data: bytes) -> Path:
    dest.write_bytes(data)
    return dest


@pytest.mark.parametrize("version, header", [("v1", b"PK"), ("v2", b"PK"), ("v2Pro", b"05"), ("v2ProPlus", b"06")])
def test_load_s2_versions_in_upstream_format(files: dict[str, Path], version: str, header: bytes) -> None:
    path = files[version]
    assert path.read_bytes()[:2] == header  # the fixture writes upstream's variant header
    ckpt = load_s2(path)
    assert ckpt.path == path
    assert ckpt.version == version
    assert isinstance(ckpt.config, dict) and isinstance(ckpt.config["data"], dict)  # HParams -> dict
    assert ckpt.sample_rate == 32000
    assert ckpt.config["model"]["version"] == version
    emb = ckpt.state_dict["enc_p.text_embedding.weight"]
    assert emb.shape[0] == (N_PHONE_SYMBOLS_V1 if version == "v1" else N_PHONE_SYMBOLS_V2)
    assert emb.dtype == torch.float16  # as stored
    assert ("sv_emb.weight" in ckpt.state_dict) == ("Pro" in version)
    assert not any(k.startswith("enc_q.") for k in ckpt.state_dict)


def test_load_s1(files: dict[str, Path]) -> None:
    ckpt = load_s1(files["s1"])
    assert ckpt.config["model"]["n_layer"] == 2
    assert ckpt.config["data"]["max_sec"] == 54
    assert ckpt.state_dict["model.ar_predict_layer.weight"].shape == (1025, 32)
    assert all(k.startswith("model.") for k in ckpt.state_dict)


def test_enc_q_keys_of_pretrained_files_are_dropped(files: dict[str, Path], tmp_path: Path) -> None:
    ckpt = load_s2(files["v2"])
    weight = {**ckpt.state_dict, "enc_q.pre.weight": torch.zeros(4, 4, 1)}
    path = tmp_path / "pretrained.pth"
    torch.save({"weight": weight, "config": ckpt.config, "info": "pretrained"}, path)  # plain-dict config
    loaded = load_s2(path)
    assert "enc_q.pre.weight" not in loaded.state_dict
    assert loaded.version == "v2"


def test_pretrained_hash_table_decides_version(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    head = files["v2"].read_bytes()[:8192]
    table = {**checkpoints._PRETRAINED_MD5, hashlib.md5(head).hexdigest(): "v4"}
    monkeypatch.setattr(checkpoints, "_PRETRAINED_MD5", table)
    with pytest.raises(CheckpointError, match="v4 checkpoints are not supported"):
        load_s2(files["v2"])


@pytest.mark.parametrize("header, version", [(b"02", "v3"), (b"03", "v3"), (b"04", "v4")])
def test_v3_v4_are_refused(files: dict[str, Path], tmp_path: Path, header: bytes, version: str) -> None:
    path = _rewrite(files["v2"], tmp_path / "v3.pth", header + files["v2"].read_bytes()[2:])
    with pytest.raises(CheckpointError, match=f"{version} checkpoints are not supported") as err:
        load_s2(path)
    assert err.value.path == path


def test_untagged_pro_file_is_treated_as_pro(files: dict[str, Path], tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    path = _rewrite(files["v2Pro"], tmp_path / "untagged.pth", b"PK" + files["v2Pro"].read_bytes()[2:])
    with caplog.at_level(logging.WARNING):
        assert load_s2(path).version == "v2Pro"
    assert "sv_emb" in caplog.text


def test_pro_tag_on_a_v2_file_is_a_mismatch(files: dict[str, Path], tmp_path: Path) -> None:
    path = _rewrite(files["v2"], tmp_path / "fake-pro.pth", b"05" + files["v2"].read_bytes()[2:])
    with pytest.raises(CheckpointError, match="tagged v2Pro but has no sv_emb"):
        load_s2(path)


def _one_line(err: CheckpointError, path: Path) -> str:
    message = str(err)
    assert str(path) in message and "\n" not in message
    return message


@pytest.mark.parametrize("loader", [load_s1, load_s2])
def test_text_file_is_refused(tmp_path: Path, loader) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("this is not a model\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a PyTorch") as err:
        loader(path)
    _one_line(err.value, path)


@pytest.mark.parametrize("kind", ["v2", "v2Pro", "s1"])
def test_truncated_file_is_refused(files: dict[str, Path], tmp_path: Path, kind: str) -> None:
    data = files[kind].read_bytes()
    path = _rewrite(files[kind], tmp_path / f"cut-{kind}", data[: len(data) // 2])
    loader = load_s1 if kind == "s1" else load_s2
    with pytest.raises(CheckpointError, match="truncated or corrupt") as err:
        loader(path)
    _one_line(err.value, path)


@pytest.mark.parametrize("loader", [load_s1, load_s2])
def test_missing_and_empty_files(tmp_path: Path, loader) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        loader(tmp_path / "nope.pth")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty or truncated"):
        loader(empty)


def test_s1_given_as_s2_and_back(files: dict[str, Path]) -> None:
    with pytest.raises(CheckpointError, match="s1 \\(GPT\\) .ckpt file, not an s2") as err:
        load_s2(files["s1"])
    _one_line(err.value, files["s1"])
    for version in ("v2", "v2Pro"):
        with pytest.raises(CheckpointError, match="s2 \\(SoVITS\\) .pth file, not an s1"):
            load_s1(files[version])


def test_other_torch_files_are_refused(files: dict[str, Path], tmp_path: Path) -> None:
    plain = tmp_path / "state.pth"
    torch.save({"conv.weight": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="no 'weight' entry"):
        load_s2(plain)
    with pytest.raises(CheckpointError, match="no 'weight' entry"):
        load_s1(build_sv_ckpt(tmp_path / "sv.ckpt"))


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_checkpoints_cannot_run_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    buf = io.BytesIO()
    torch.save({"weight": {}, "config": _Evil()}, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="will not unpickle") as err:
        load_s2(path)
    _one_line(err.value, path)


def test_missing_and_mismatched_keys_name_the_file(files: dict[str, Path]) -> None:
    ckpt = load_s2(files["v2"])
    state = dict(ckpt.state_dict)
    del state["enc_p.proj.weight"]
    state["dec.conv_pre.bias"] = torch.zeros(3)
    state["extra.thing"] = torch.zeros(1)
    broken = type(ckpt)(path=ckpt.path, version=ckpt.version, config=ckpt.config, state_dict=state)
    with pytest.raises(CheckpointError) as err:
        SoVITSDecoder.from_checkpoint(broken)
    message = _one_line(err.value, ckpt.path)
    assert "missing 1 keys (enc_p.proj.weight)" in message
    assert "unexpected keys (extra.thing)" in message
    assert "dec.conv_pre.bias (3,) (expected (32,))" in message


def test_config_that_does_not_fit_the_weights(files: dict[str, Path]) -> None:
    ckpt = load_s2(files["v2"])
    config = {**ckpt.config, "model": {**ckpt.config["model"], "n_layers": 4}}
    wrong = type(ckpt)(path=ckpt.path, version=ckpt.version, config=config, state_dict=ckpt.state_dict)
    with pytest.raises(CheckpointError, match="missing .* keys"):
        SoVITSDecoder.from_checkpoint(wrong)
    no_model = {**ckpt.config, "model": {"gin_channels": 16}}
    with pytest.raises(CheckpointError, match="incomplete or invalid"):
        SoVITSDecoder.from_checkpoint(type(ckpt)(ckpt.path, ckpt.version, no_model, ckpt.state_dict))


def test_sv_checkpoint_errors(tmp_path: Path) -> None:
    good = build_sv_ckpt(tmp_path / "sv.ckpt")
    assert SpeakerVerifier.from_checkpoint(good).sv_dim == TINY_SV_DIM
    state = torch.load(good, weights_only=True)
    state["seg_1.bias"] = torch.zeros(5)
    torch.save(state, tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match="seg_1.bias"):
        SpeakerVerifier.from_checkpoint(tmp_path / "bad.ckpt")
    (tmp_path / "text.ckpt").write_text("hello", encoding="utf-8")
    with pytest.raises(CheckpointError, match="text.ckpt"):
        SpeakerVerifier.from_checkpoint(tmp_path / "text.ckpt")
    with pytest.raises(CheckpointError, match="not an ERes2NetV2"):
        SpeakerVerifier.from_checkpoint(build_s1_ckpt(tmp_path / "s1.ckpt"))


def test_check_state_dict_accepts_exact_match(tmp_path: Path) -> None:
    check_state_dict(tmp_path / "x", {"a": (2, 3)}, {"a": torch.zeros(2, 3)})
    with pytest.raises(CheckpointError, match="missing 6 keys .* and 2 more"):
        check_state_dict(tmp_path / "x", {f"k{i}": (1,) for i in range(6)}, {})
