"""The faults real-world media showed (issue 12), each on a small file made here and checked against a reader.

Every expected value comes from a writer or from the reference reader of the kind
(PyAV, soundfile, Pillow, pydicom), never from the probe itself.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest
import soundfile
from PIL import Image
from pydicom.uid import DeflatedExplicitVRLittleEndian

from accessio.probe import MediaInfo, ProbeTooLarge, ProbeTypeMismatch, ProbeUnsupported, probe, sniff
from tests.media.medical import dicom
from tests.probe.conftest import file_ranged


def _probe(path: Path, kind: str) -> MediaInfo:
    return probe(file_ranged(path), kind, url=str(path))


def _pyav_codec(path: Path) -> str:
    with av.open(str(path)) as container:
        return str(container.streams[0].codec_context.codec.canonical_name)


# -- DICOM -----------------------------------------------------------------------------------------


def test_a_dicom_whose_preamble_holds_a_tiff_header_is_read_as_dicom(tmp_path: Path) -> None:
    path = tmp_path / "dual.dcm"
    truth = dicom(path, rows=16, columns=20, frames=1, modality="MR")
    data = bytearray(path.read_bytes())
    data[:8] = b"II*\x00\x08\x00\x00\x00"  # a TIFF header, as dual-format DICOM/TIFF files carry
    path.write_bytes(bytes(data))
    assert sniff(io.BytesIO(bytes(data))) == "application/dicom"
    info = _probe(path, "dicom")
    assert (info.width, info.height, info.dicom_series_uid) == (20, 16, truth["dicom_series_uid"])


def _deflated(path: Path, extra: bytes = b"") -> dict[str, object]:
    truth = dicom(path, rows=16, columns=16, frames=1, modality="CT")
    dataset = pydicom.dcmread(path)
    if extra:
        dataset.add_new(0x00091010, "OB", extra)  # a private element before the pixels
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    dataset.save_as(path, enforce_file_format=True)
    return truth


def test_deflated_dicom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "deflated.dcm"
    truth = _deflated(path)
    assert b"1.2.840.10008.1.2.1.99" in path.read_bytes()[:400]
    reference = pydicom.dcmread(path)
    info = _probe(path, "dicom")
    assert (info.width, info.height) == (reference.Columns, reference.Rows)
    assert (info.dicom_instance_uid, info.modality) == (truth["dicom_instance_uid"], "CT")


def test_a_deflated_dicom_that_inflates_without_end_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.dcm"
    _deflated(path, extra=bytes(40 * 1024 * 1024))  # 40 MiB of zeros deflate to ~40 KiB
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(ProbeTooLarge, match="inflates past"):
        _probe(path, "dicom")


# -- WAV, AIFF ---------------------------------------------------------------------------------------


def _wav(tag: int, channels: int, rate: int, bits: int, frames: int, *, big_endian: bool = False,
         container_bits: int | None = None) -> bytes:  # fmt: skip
    order = ">" if big_endian else "<"
    width = (container_bits or bits) // 8
    align = width * channels
    fmt = struct.pack(order + "HHIIHH", tag, channels, rate, rate * align, align, bits)
    data = bytes(frames * align)
    body = b"WAVE" + b"fmt " + struct.pack(order + "I", len(fmt)) + fmt + b"data" + struct.pack(order + "I", len(data))
    return (b"RIFX" if big_endian else b"RIFF") + struct.pack(order + "I", len(body) + len(data)) + body + data


@pytest.mark.parametrize(
    ("bits", "container_bits"),
    [(8, 8), (5, 8), (12, 16), (16, 16), (20, 24), (24, 24), (32, 32)],
)
def test_pcm_wav_codecs_are_named_as_ffmpeg_names_them(tmp_path: Path, bits: int, container_bits: int) -> None:
    path = tmp_path / f"pcm{bits}.wav"
    path.write_bytes(_wav(1, 2, 8000, bits, 800, container_bits=container_bits))
    info = _probe(path, "audio")
    assert info.codec == _pyav_codec(path)  # pcm_u8 for 8 bits (unsigned), pcm_s24le for 20 bits
    assert info.bit_depth == bits
    assert info.duration == pytest.approx(0.1)


def test_big_endian_wav_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rifx.wav"
    path.write_bytes(_wav(1, 1, 16000, 16, 8000, big_endian=True))
    reference = soundfile.info(str(path))
    assert reference.endian == "BIG"
    info = _probe(path, "audio")
    assert (info.codec, info.sample_rate, info.num_channels) == ("pcm_s16be", reference.samplerate, 1)
    assert info.duration == pytest.approx(reference.duration)


def test_a_wav_cut_inside_its_data_gives_the_duration_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(_wav(1, 1, 8000, 16, 8000)[: 44 + 4000])  # the header says 1 s; 0.25 s is there
    with av.open(str(path)) as container:
        decoded = sum(frame.samples for frame in container.decode(audio=0))
    assert _probe(path, "audio").duration == pytest.approx(decoded / 8000)


@pytest.mark.parametrize(("fmt", "subtype"), [("AIFF", "PCM_16"), ("AIFF", "PCM_24"), ("AIFF", "PCM_S8"),
                                              ("AIFF", "FLOAT")])  # fmt: skip
def test_aiff_is_read(tmp_path: Path, fmt: str, subtype: str) -> None:
    path = tmp_path / f"sound-{subtype}.aiff"
    soundfile.write(str(path), np.zeros((22050, 2), dtype=np.float32), 44100, format=fmt, subtype=subtype)
    reference = soundfile.info(str(path))
    info = _probe(path, "audio")
    assert (info.mime_type, info.sample_rate, info.num_channels) == ("audio/aiff", 44100, 2)
    assert info.duration == pytest.approx(reference.duration)
    assert info.codec == _pyav_codec(path)
    assert info.bit_depth == {"PCM_16": 16, "PCM_24": 24, "PCM_S8": 8, "FLOAT": 32}[subtype]


# -- MP3 -------------------------------------------------------------------------------------------


def _mp3(path: Path, seconds: float, rate: int = 44100) -> None:
    with av.open(str(path), "w", format="mp3") as output:
        stream = output.add_stream("libmp3lame", rate=rate, layout="mono")
        samples = np.zeros((1, int(rate * seconds)), dtype=np.float32)
        for start in range(0, samples.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1152]), format="fltp",
                                               layout="mono")  # fmt: skip
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


def _zero_xing_frames(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at > 0
    assert struct.unpack_from(">I", data, at + 4)[0] & 1  # the header counts frames
    data[at + 8 : at + 12] = bytes(4)
    path.write_bytes(bytes(data))


def test_an_mp3_whose_xing_header_counts_0_frames_gets_its_frames_counted(tmp_path: Path) -> None:
    path = tmp_path / "short.mp3"
    _mp3(path, 1.0, rate=16000)
    _zero_xing_frames(path)
    assert path.stat().st_size < 65536
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.demux(audio=0))
    info = _probe(path, "audio")
    assert info.duration is not None
    assert info.duration > 0
    assert abs(info.duration - frames * 576 / 16000) <= 576 / 16000 * 2  # the VBR header frame, the flush


def test_a_long_mp3_whose_xing_header_counts_0_frames_is_unsupported_not_zero(tmp_path: Path) -> None:
    path = tmp_path / "long.mp3"
    _mp3(path, 10.0)
    _zero_xing_frames(path)
    with pytest.raises(ProbeUnsupported, match="0 frames"):
        _probe(path, "audio")


def test_mp3_frames_after_junk_are_found_when_audio_is_declared(tmp_path: Path) -> None:
    path = tmp_path / "junk.mp3"
    _mp3(path, 1.0)
    path.write_bytes(b"not a tag, just words\r\n" + path.read_bytes())
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
    info = _probe(path, "audio")
    assert (info.codec, info.sample_rate) == ("mp3", rate)


# -- MP4, QuickTime, MPEG-PS -------------------------------------------------------------------------


def _fragmented_mp4(path: Path, frames: int, gop: int, movflags: str) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": movflags}) as output:
        stream = output.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"preset": "ultrafast", "keyint": str(gop), "scenecut": "0"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index % 256, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


@pytest.mark.parametrize("movflags", ["frag_keyframe+empty_moov", "frag_keyframe", "frag_keyframe+empty_moov+"
                                      "default_base_moof+global_sidx"])  # fmt: skip
def test_a_fragmented_mp4_gets_the_duration_of_all_its_fragments(tmp_path: Path, movflags: str) -> None:
    path = tmp_path / "fragmented.mp4"
    _fragmented_mp4(path, 60, 10, movflags)
    assert path.read_bytes().count(b"moof") >= 5
    with av.open(str(path)) as container:
        packets = sum(1 for packet in container.demux(video=0) if packet.size)
    info = _probe(path, "video")
    assert packets == 60
    assert (info.frame_count, info.fps) == (60, 25.0)
    assert info.duration == pytest.approx(2.4)


def test_a_fragmented_mp4_with_too_many_fragments_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "many.mp4"
    _fragmented_mp4(path, 300, 1, "frag_keyframe+empty_moov")
    with pytest.raises(ProbeUnsupported, match="more than 256 fragments"):
        _probe(path, "video")


def test_classic_quicktime_without_ftyp_is_read(tmp_path: Path) -> None:
    path = tmp_path / "old.mov"
    with av.open(str(path), "w", format="mov") as output:
        stream = output.add_stream("mjpeg", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuvj420p"
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), index, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    path.write_bytes(struct.pack(">I4s", struct.unpack_from(">I", data)[0], b"free") + data[8:])  # ftyp -> free
    info = _probe(path, "video")
    assert (info.mime_type, info.width, info.height, info.frame_count, info.codec) == (
        "video/quicktime", 48, 32, 20, "mjpeg",
    )  # fmt: skip


@pytest.mark.parametrize(("codec", "frames", "b_frames"), [("mpeg2video", 30, 0), ("mpeg1video", 30, 0),
                                                         ("mpeg2video", 120, 2)])  # fmt: skip
def test_an_mpeg_program_stream_is_read(tmp_path: Path, codec: str, frames: int, b_frames: int) -> None:
    path = tmp_path / "clip.mpg"
    rng = np.random.default_rng(5)
    with av.open(str(path), "w", format="mpeg") as output:
        stream = output.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.gop_size, stream.codec_context.max_b_frames = 12, b_frames
        for _ in range(frames):  # noise: the 120-frame file passes the first 64 KiB block
            pixels = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    assert (path.stat().st_size > 65536) == (frames == 120)
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
        assert container.streams.video[0].codec_context.codec.canonical_name == codec
    info = _probe(path, "video")
    assert (info.mime_type, info.width, info.height, info.codec, info.fps) == ("video/mpeg", 96, 64, codec, 25.0)
    assert decoded == frames
    assert info.duration == pytest.approx(decoded / 25)
    assert info.frame_count == decoded


# -- Ogg, JPEG, text, unknown content ------------------------------------------------------------------


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _ogg_page(serial: int, sequence: int, packet: bytes, *, flags: int) -> bytes:
    lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    header = b"OggS" + struct.pack("<BBqIIIB", 0, flags, 0, serial, sequence, 0, len(lacing)) + lacing
    page = bytearray(header + packet)
    struct.pack_into("<I", page, 22, _ogg_crc(bytes(page)))
    return bytes(page)


def test_an_ogg_file_opening_with_a_skeleton_stream_is_read(tmp_path: Path) -> None:
    opus = tmp_path / "plain.opus"
    with av.open(str(opus), "w", format="ogg") as output:
        stream = output.add_stream("libopus", rate=48000, layout="mono")
        for start in range(0, 48000, 960):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    data = opus.read_bytes()
    first_page_end = 27 + data[26] + sum(data[27 : 27 + data[26]])
    fishead = b"fishead\x00" + struct.pack("<HHqqqq", 4, 0, 0, 1000, 0, 1000) + bytes(20) + bytes(16)
    skeleton = (
        _ogg_page(0x5EE1, 0, fishead, flags=0x02)
        + data[:first_page_end]
        + _ogg_page(0x5EE1, 1, b"", flags=0x04)
        + data[first_page_end:]
    )
    path = tmp_path / "skeleton.ogg"
    path.write_bytes(skeleton)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        reference = (audio.codec_context.codec.canonical_name, audio.codec_context.sample_rate)
    info = _probe(path, "audio")
    assert (info.codec, info.sample_rate) == reference == ("opus", 48000)
    assert info.duration == pytest.approx(1.0, abs=0.03)


def test_a_jpeg_with_junk_before_a_marker_is_read_as_pillow_reads_it(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(out, "JPEG")
    data = out.getvalue()
    app0_end = 4 + struct.unpack_from(">H", data, 4)[0]
    path = tmp_path / "junk.jpg"
    path.write_bytes(data[:app0_end] + b"\x00junk\x13" * 10 + data[app0_end:])
    with Image.open(path) as image:
        size = image.size
    info = _probe(path, "image")
    assert (info.width, info.height) == size == (40, 30)


def test_json_longer_than_the_first_block_is_json_and_an_ini_file_is_not(tmp_path: Path) -> None:
    long_json = tmp_path / "long.json"
    long_json.write_text(json.dumps({f"key{i}": [i, "value", {"nested": True}] for i in range(10_000)}))
    assert long_json.stat().st_size > 65536
    assert _probe(long_json, "text").mime_type == "application/json"
    ini = tmp_path / "settings.ini"
    ini.write_text("[section]\nkey = value\n" * 5000)
    assert _probe(ini, "text").mime_type == "text/plain"


def test_content_in_no_known_format_is_unsupported_with_the_reason() -> None:
    noise = zlib.compress(bytes(range(256)) * 64)[::-1] * 4
    with pytest.raises(ProbeUnsupported, match="no format the probes read as a video"):
        probe(io.BytesIO(noise), "video")
    with pytest.raises(ProbeTypeMismatch):  # binary declared text is plainly not text
        probe(io.BytesIO(noise), "text")
    with pytest.raises(ProbeUnsupported, match="no DICM marker at byte 128"):
        probe(io.BytesIO(noise), "dicom")
