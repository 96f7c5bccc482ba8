"""Audio encoded by PyAV: WAV (16 and 24 bit), MP3, FLAC, Ogg Opus, M4A (AAC) and raw ADTS AAC.

The signal is a few tones with noise, long enough (5 s) that encoder priming and
padding stay well under the 1% duration tolerance. Bit depth is truth only for the
lossless formats; lossy codecs have none and a probe must say ``None``.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from tests.media import Entry

SECONDS = 5


def encode(path: Path, container: str, codec: str, *, rate: int, channels: int, sample_format: str) -> None:
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        if sample_format:
            stream.format = sample_format
        t = np.arange(rate * SECONDS) / rate
        signal = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(3).standard_normal(t.size)
        samples = np.tile(signal.astype(np.float32), (channels, 1))
        chunk = 1024
        for start in range(0, samples.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, start : start + chunk]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def build(root: Path, scale: str) -> list[Entry]:
    entries: list[Entry] = []

    def make(name: str, suffix: str, container: str, codec: str, mime: str, codec_name: str, *, rate: int,
             channels: int, bits: int | None, sample_format: str = "") -> None:  # fmt: skip
        path = root / f"{name}.{suffix}"
        encode(path, container, codec, rate=rate, channels=channels, sample_format=sample_format)
        truth = {
            "mime_type": mime, "duration": float(SECONDS), "sample_rate": rate, "num_channels": channels,
            "codec": codec_name, "bit_depth": bits,
        }  # fmt: skip
        entries.append(Entry(name, path, "audio", truth))

    make("wav-s16", "wav", "wav", "pcm_s16le", "audio/wav", "pcm_s16le", rate=44100, channels=2, bits=16)
    make("wav-s24", "wav", "wav", "pcm_s24le", "audio/wav", "pcm_s24le", rate=48000, channels=1, bits=24)
    make("mp3", "mp3", "mp3", "libmp3lame", "audio/mpeg", "mp3", rate=44100, channels=2, bits=None)
    make("flac", "flac", "flac", "flac", "audio/flac", "flac", rate=44100, channels=2, bits=16, sample_format="s16")
    make("ogg-opus", "opus", "ogg", "libopus", "audio/ogg", "opus", rate=48000, channels=2, bits=None)
    make("m4a-aac", "m4a", "ipod", "aac", "audio/mp4", "aac", rate=44100, channels=2, bits=None)
    make("aac-adts", "aac", "adts", "aac", "audio/aac", "aac", rate=44100, channels=2, bits=None)
    make("aiff", "aiff", "aiff", "pcm_s16be", "audio/aiff", "pcm_s16be", rate=22050, channels=1, bits=16)
    return entries
