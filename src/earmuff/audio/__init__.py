"""Audio as numpy arrays: decoding untrusted uploads and encoding what earmuff stores."""

from earmuff.audio.codec import AudioError, DecodedAudio, decode_audio, encode_wav, sniff_format

__all__ = ["AudioError", "DecodedAudio", "decode_audio", "encode_wav", "sniff_format"]
