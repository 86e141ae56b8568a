"""A convolutional code with soft-decision Viterbi decoding, for the audio watermark.

The watermark's channel erases most of its slots (silence, noise-drowned bands) and
garbles some of the rest; what survives comes as soft values of varying confidence. A
short terminated convolutional code decoded by Viterbi on those soft values turns a
few dozen reliable slots into an exact payload, and it is small enough to keep here:
the trellis has 64 states, and decoding runs one vectorised step per information bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Bits = np.ndarray[Any, np.dtype[np.uint8]]
Soft = np.ndarray[Any, np.dtype[np.float64]]

CONSTRAINT_LENGTH = 7
RATE_THIRD = (0o133, 0o165, 0o171)
"""The standard constraint-length-7, rate-1/3 generators (as in 3GPP and IEEE 802.16)."""


@dataclass(frozen=True)
class ConvolutionalCode:
    """A terminated code: ``constraint_length - 1`` zero bits flush the encoder, so the
    decoder knows the path ends in state 0."""

    generators: tuple[int, ...] = RATE_THIRD
    constraint_length: int = CONSTRAINT_LENGTH
    _outputs: np.ndarray = field(init=False, repr=False, compare=False)
    _previous: np.ndarray = field(init=False, repr=False, compare=False)
    _input: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        states = 1 << (self.constraint_length - 1)
        registers = (np.arange(2)[None, :] << (self.constraint_length - 1)) | np.arange(states)[
            :, None
        ]  # register of (state, input): the newest input in the top bit
        outputs = np.stack([_parity(registers & g) for g in self.generators], axis=-1)
        following = registers >> 1
        previous = np.zeros((states, 2), dtype=np.int64)
        entering = np.zeros((states, 2), dtype=np.int64)
        order = np.argsort(following.ravel(), kind="stable")
        previous.ravel()[:] = (order // 2).reshape(-1)
        entering.ravel()[:] = (order % 2).reshape(-1)
        object.__setattr__(self, "_outputs", outputs.astype(np.uint8))
        object.__setattr__(self, "_previous", previous)
        object.__setattr__(self, "_input", entering)

    @property
    def rate(self) -> int:
        """Coded bits per information bit."""
        return len(self.generators)

    def coded_length(self, info_bits: int) -> int:
        return (info_bits + self.constraint_length - 1) * self.rate

    def encode(self, bits: Bits) -> Bits:
        """The coded bits, tail included."""
        memory = self.constraint_length - 1
        padded = np.concatenate([np.zeros(memory, np.uint8), bits, np.zeros(memory, np.uint8)])
        windows = sliding_window_view(padded.astype(np.int64), self.constraint_length)
        registers = (windows << np.arange(self.constraint_length)).sum(axis=1)
        return (
            np.stack([_parity(registers & g) for g in self.generators], axis=1)
            .ravel()
            .astype(np.uint8)
        )

    def decode(self, soft: Soft, info_bits: int) -> Bits:
        """Most likely information bits for each row of ``soft`` (positive means a coded 0).

        ``soft`` has shape (candidates, coded_length); the result (candidates, info_bits).
        """
        steps = info_bits + self.constraint_length - 1
        batch = soft.shape[0]
        received = soft.reshape(batch, steps, self.rate)
        signs = 1.0 - 2.0 * self._outputs[self._previous, self._input]  # (state, 2, rate)
        states = self._previous.shape[0]
        metric = np.full((batch, states), -np.inf)
        metric[:, 0] = 0.0
        choices = np.zeros((steps, batch, states), dtype=np.int8)
        for step in range(steps):
            branch = np.einsum("br,skr->bsk", received[:, step], signs)
            candidates = metric[:, self._previous] + branch
            choice = np.argmax(candidates, axis=2)
            choices[step] = choice
            metric = np.take_along_axis(candidates, choice[..., None], axis=2)[..., 0]
        state = np.zeros(batch, dtype=np.int64)
        rows = np.arange(batch)
        decoded = np.zeros((batch, steps), dtype=np.uint8)
        for step in range(steps - 1, -1, -1):
            choice = choices[step, rows, state]
            decoded[:, step] = self._input[state, choice]
            state = self._previous[state, choice]
        return decoded[:, :info_bits]


def _parity(values: np.ndarray) -> np.ndarray:
    """Parity of every integer in ``values`` (registers are at most 7 bits wide)."""
    bits = np.unpackbits(values.astype(np.uint8)[..., None], axis=-1)
    parity: np.ndarray = bits.sum(axis=-1) & 1
    return parity
