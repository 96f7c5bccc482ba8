"""MP4, MOV and M4A: video and audio tracks from the ``moov`` box (the index), wherever it lies.

The top-level boxes are walked by their headers alone, so with the index at the end
the ``mdat`` is stepped over: one read for the first block, one for the header of the
box after ``mdat`` (``moov``), one for the rest of ``moov``. The index is then read
whole (it is bounded by the probe's byte budget) and walked in memory:

- ``trak/tkhd``: the display matrix, from which the rotation comes;
- ``trak/mdia/mdhd``: the track's timescale and duration; ``hdlr``: video or sound;
- ``stbl/stsd``: codec, coded size or channels and sample rate; ``stts``/``stsz``: frames.

A fragmented file (``moov/mvex``) keeps its samples in ``moof`` fragments: its
duration comes from ``mvex/mehd`` when the writer gave it, with the frame rate from
the track's default sample duration (``trex``) or its single ``stts`` delta. Without
``mehd`` (FFmpeg never writes it) the fragments are walked and their ``trun`` samples
added to those ``moov`` lists (one read per fragment, at most 256 fragments; more is
``probe.unsupported``): the samples of ``moov`` alone would give a duration silently short.

Codec names are FFmpeg's (``h264``, ``qtrle``, ``pcm_s24le``); a sample entry whose
four-character code names no codec FFmpeg knows gives no codec rather than the code.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from accessio.probe import isobmff
from accessio.probe.errors import ProbeCorrupt, ProbeUnsupported
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.isobmff import Box, u16, u32, u64
from accessio.probe.source import Source

_VIDEO_CODECS = {
    b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"mp4v": "mpeg4", b"av01": "av1",
    b"vp09": "vp9", b"vp08": "vp8", b"jpeg": "mjpeg", b"mjpa": "mjpeg", b"mjpb": "mjpeg", b"apcn": "prores",
    b"apch": "prores", b"apcs": "prores", b"apco": "prores", b"ap4h": "prores", b"mp2v": "mpeg2video",
    b"s263": "h263", b"h263": "h263", b"dvh1": "hevc", b"dvhe": "hevc", b"rle ": "qtrle", b"SVQ1": "svq1",
    b"SVQ3": "svq3", b"cvid": "cinepak", b"smc ": "smc", b"rpza": "rpza", b"raw ": "rawvideo", b"mjp2": "jpeg2000",
    b"dvc ": "dvvideo", b"dvcp": "dvvideo", b"png ": "png", b"gif ": "gif", b"tiff": "tiff", b"8BPS": "8bps",
    b"hdv1": "mpeg2video", b"xdv7": "mpeg2video", b"mx5p": "mpeg2video",
}  # fmt: skip
_AUDIO_CODECS = {
    b"mp4a": "aac", b"Opus": "opus", b"fLaC": "flac", b"alac": "alac", b"ac-3": "ac3", b"ec-3": "eac3",
    b".mp3": "mp3", b"sowt": "pcm_s{bits}le", b"twos": "pcm_s{bits}be", b"in24": "pcm_s24be", b"in32": "pcm_s32be",
    b"fl32": "pcm_f32be", b"fl64": "pcm_f64be", b"ulaw": "pcm_mulaw", b"alaw": "pcm_alaw", b"ima4": "adpcm_ima_qt",
    b"MAC3": "mace3", b"MAC6": "mace6", b"QDM2": "qdm2", b"QDMC": "qdmc", b"samr": "amr_nb", b"sawb": "amr_wb",
    b"raw ": "pcm_u8", b"agsm": "gsm", b"dtsc": "dts", b"mlpa": "mlp", b"spex": "speex",
}  # fmt: skip
_LOSSLESS = {"flac", "alac"}
_MP4A_OBJECT_TYPES = {0x69: "mp3", 0x6B: "mp3", 0xA9: "dts", 0xA5: "ac3", 0xA6: "eac3", 0xAD: "opus"}
MAX_FRAGMENTS = 256
MAX_MOOF_BYTES = 1 << 20
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


@dataclass
class _Track:
    handler: bytes = b""
    timescale: int = 0
    duration: int = 0
    codec: str | None = None
    width: int = 0
    height: int = 0
    rotation: int = 0
    frames: int = 0
    sample_delta: int = 0
    channels: int = 0
    sample_rate: int = 0
    sample_size: int = 0
    track_id: int = 0
    fragmented: bool = False


def probe_mp4(src: Source, mime: str) -> MediaInfo:
    """Video or audio metadata of an ISO-BMFF movie; ``mime`` is what its ``ftyp`` suggested."""
    moov: Box | None = None
    boxes = isobmff.top_level(src)
    for box in boxes:
        if box.type == b"moov":
            moov = box
            break
        if box.end > src.size:
            break  # a truncated mdat: nothing after it can be read
    if moov is None:
        raise src.corrupt("MP4: no moov box (the index) in the file")
    if moov.end > src.size:
        raise src.corrupt(f"MP4: the moov box claims {moov.size:,} bytes, past the end of the file")
    if moov.size > src.limits.max_bytes:
        raise src.too_large(f"MP4: the moov box is {moov.size:,} bytes, over the probe's budget")
    data = src.exact(moov.start, moov.size, "the moov box")
    root = Box(b"moov", 0, moov.header, moov.size)
    movie_scale, movie_duration, fragment_duration = _movie_times(data, root)
    mvex = isobmff.child(data, root, b"mvex")
    tracks = [_track(data, box) for box in isobmff.children(data, root.body, root.end, depth=1) if box.type == b"trak"]
    if mvex is not None:
        defaults = _trex_durations(data, mvex)
        if fragment_duration and movie_scale:  # mvex/mehd: the whole duration, as the writer knew it
            for track in tracks:
                track.fragmented = True
                track.sample_delta = defaults.get(track.track_id) or track.sample_delta
        else:
            _add_fragments(src, mime, boxes, defaults, tracks)
    video = next((t for t in tracks if t.handler == b"vide"), None)
    audio = next((t for t in tracks if t.handler == b"soun"), None)
    if video is not None:
        return _video_info(src, mime, video, movie_scale, movie_duration, fragment_duration)
    if audio is not None:
        return _audio_info(src, audio, movie_scale, movie_duration, fragment_duration)
    raise ProbeUnsupported(f"{mime}: no video or sound track")


def _video_info(src: Source, mime: str, t: _Track, m_scale: int, m_duration: int, fragmented: int) -> MediaInfo:
    duration = _duration(t, m_scale, m_duration, fragmented)
    if t.frames and duration and not t.fragmented:
        fps = t.timescale / t.sample_delta if t.sample_delta and t.timescale else t.frames / duration
        frames = t.frames
    elif t.fragmented and t.sample_delta and t.timescale:
        fps = t.timescale / t.sample_delta
        frames = round(duration * fps) if duration else 0
    else:
        raise ProbeUnsupported(f"{mime}: the video track lists no samples and no default sample duration")
    if t.width * t.height > src.limits.max_pixels:
        raise src.too_large(f"{mime}: the video declares {t.width:,} x {t.height:,} pixels")
    mime = "video/quicktime" if mime == "video/quicktime" else "video/mp4"
    return MediaInfo(
        kind=Kind.VIDEO, mime_type=mime, file_size=src.size, width=t.width or None, height=t.height or None,
        fps=fps, duration=duration or None, frame_count=frames or None, codec=t.codec, rotation=t.rotation,
    )  # fmt: skip


def _audio_info(src: Source, t: _Track, m_scale: int, m_duration: int, fragmented: int) -> MediaInfo:
    duration = _duration(t, m_scale, m_duration, fragmented)
    lossless = t.codec in _LOSSLESS or (t.codec or "").startswith("pcm")
    return MediaInfo(
        kind=Kind.AUDIO, mime_type="audio/mp4", file_size=src.size, duration=duration or None, codec=t.codec,
        sample_rate=t.sample_rate or None, num_channels=t.channels or None,
        bit_depth=(t.sample_size or None) if lossless else None,
    )  # fmt: skip


def _duration(t: _Track, movie_scale: int, movie_duration: int, fragment_duration: int) -> float:
    if t.fragmented:
        return fragment_duration / movie_scale
    if t.timescale and t.duration and t.duration != 0xFFFFFFFF and t.frames:
        return t.duration / t.timescale
    if movie_scale and fragment_duration:
        return fragment_duration / movie_scale
    if movie_scale and movie_duration:
        return movie_duration / movie_scale
    return 0.0


def _movie_times(data: bytes, moov: Box) -> tuple[int, int, int]:
    scale = duration = fragment = 0
    mvhd = isobmff.child(data, moov, b"mvhd")
    if mvhd is not None:
        version, _ = isobmff.full_box(data, mvhd)
        if version == 1:
            scale, duration = u32(data, mvhd.body + 20), u64(data, mvhd.body + 24)
        else:
            scale, duration = u32(data, mvhd.body + 12), u32(data, mvhd.body + 16)
    mehd = isobmff.path(data, moov, b"mvex", b"mehd")
    if mehd is not None:
        version, _ = isobmff.full_box(data, mehd)
        fragment = u64(data, mehd.body + 4) if version == 1 else u32(data, mehd.body + 4)
    return scale, duration, fragment


def _add_fragments(
    src: Source, mime: str, boxes: Iterator[Box], defaults: dict[int, int], tracks: list[_Track]
) -> None:
    """Add the samples of the ``moof`` fragments after ``moov`` to the tracks (a fragmented file without ``mehd``).

    Each fragment's ``traf/trun`` lists its samples, with their durations or the
    defaults of ``tfhd`` or ``trex``: one read per fragment outside the first block, at
    most ``MAX_FRAGMENTS`` of them, else ``probe.unsupported``.
    """
    ticks: dict[int, int] = {}
    samples: dict[int, int] = {}
    fragments = 0
    for box in boxes:
        if box.type != b"moof":
            continue
        fragments += 1
        if fragments > MAX_FRAGMENTS:
            raise ProbeUnsupported(
                f"{mime}: a fragmented file without a total duration (mvex/mehd) and more than {MAX_FRAGMENTS} "
                "fragments: its duration would need every fragment read"
            )
        if box.size > MAX_MOOF_BYTES:
            raise src.too_large(f"{mime}: a moof box of {box.size:,} bytes")
        if box.end > src.size:
            break
        data = src.exact(box.start, box.size, "a moof box")
        moof = Box(b"moof", 0, box.header, box.size)
        for traf in isobmff.children(data, moof.body, moof.end, depth=1):
            if traf.type == b"traf":
                _traf_samples(data, traf, defaults, ticks, samples)
    for track in tracks:
        moov_ticks = track.duration if track.frames else 0
        track.frames += samples.get(track.track_id, 0)
        track.duration = moov_ticks + ticks.get(track.track_id, 0)
        if track.track_id in samples:
            track.sample_delta = 0  # the rate is frames over duration


def _traf_samples(data: bytes, traf: Box, defaults: dict[int, int], ticks: dict[int, int],
                  samples: dict[int, int]) -> None:  # fmt: skip
    """Add one track fragment's sample count and summed durations (track timescale) to ``samples``, ``ticks``."""
    tfhd = isobmff.child(data, traf, b"tfhd", depth=2)
    if tfhd is None:
        return
    _, flags = isobmff.full_box(data, tfhd)
    track_id = u32(data, tfhd.body + 4)
    at = tfhd.body + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
    default = u32(data, at) if flags & 0x08 else defaults.get(track_id, 0)
    for trun in isobmff.children(data, traf.body, traf.end, depth=2):
        if trun.type != b"trun":
            continue
        _, flags = isobmff.full_box(data, trun)
        count = u32(data, trun.body + 4)
        at = trun.body + 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
        stride = 4 * bin(flags & 0xF00).count("1")
        if at + count * stride > trun.end:
            raise ProbeCorrupt(f"MP4: a trun box lists {count:,} samples, more than it holds")
        durations = (u32(data, at + index * stride) for index in range(count)) if flags & 0x100 else None
        total = sum(durations) if durations is not None else count * default
        ticks[track_id] = ticks.get(track_id, 0) + total
        samples[track_id] = samples.get(track_id, 0) + count


def _trex_durations(data: bytes, mvex: Box) -> dict[int, int]:
    """The default sample duration of each track's fragments, by track id (``mvex/trex``)."""
    durations = {}
    for box in isobmff.children(data, mvex.body, mvex.end, depth=2):
        if box.type == b"trex" and box.end - box.body >= 20:
            durations[u32(data, box.body + 4)] = u32(data, box.body + 12)
    return durations


def _track(data: bytes, trak: Box) -> _Track:
    track = _Track()
    tkhd = isobmff.child(data, trak, b"tkhd", depth=2)
    if tkhd is not None:
        version, _ = isobmff.full_box(data, tkhd)
        track.track_id = u32(data, tkhd.body + (20 if version == 1 else 12))
        matrix = tkhd.body + (52 if version == 1 else 40)
        a, b = struct.unpack_from(">ii", data, matrix)
        track.rotation = round(math.degrees(math.atan2(b, a))) % 360
    mdia = isobmff.child(data, trak, b"mdia", depth=2)
    if mdia is None:
        return track
    mdhd = isobmff.child(data, mdia, b"mdhd", depth=3)
    if mdhd is not None:
        version, _ = isobmff.full_box(data, mdhd)
        if version == 1:
            track.timescale, track.duration = u32(data, mdhd.body + 20), u64(data, mdhd.body + 24)
        else:
            track.timescale, track.duration = u32(data, mdhd.body + 12), u32(data, mdhd.body + 16)
    hdlr = isobmff.child(data, mdia, b"hdlr", depth=3)
    if hdlr is not None:
        track.handler = data[hdlr.body + 8 : hdlr.body + 12]
    stbl = isobmff.path(data, mdia, b"minf", b"stbl")
    if stbl is not None:
        _sample_table(data, stbl, track)
    return track


def _sample_table(data: bytes, stbl: Box, track: _Track) -> None:
    for box in isobmff.children(data, stbl.body, stbl.end, depth=5):
        if box.type == b"stsd" and u32(data, box.body + 4) >= 1:
            entries = isobmff.children(data, box.body + 8, box.end, depth=6)
            entry = next(entries, None)
            if entry is not None:
                _sample_entry(data, entry, track)
        elif box.type in (b"stsz", b"stz2"):
            track.frames = track.frames or u32(data, box.body + 8)
        elif box.type == b"stts":
            count = u32(data, box.body + 4)
            if count >= 1:
                track.sample_delta = u32(data, box.body + 12)
            if count > 1:
                track.sample_delta = 0  # several durations: the rate is frames over duration


def _sample_entry(data: bytes, entry: Box, track: _Track) -> None:
    if track.handler == b"vide":
        track.codec = _VIDEO_CODECS.get(entry.type)
        track.width, track.height = u16(data, entry.body + 24), u16(data, entry.body + 26)
        return
    if track.handler != b"soun":
        return
    track.codec = _AUDIO_CODECS.get(entry.type)
    version = u16(data, entry.body + 8)
    if version == 2:
        track.sample_rate = round(struct.unpack_from(">d", data, entry.body + 32)[0])
        track.channels, track.sample_size = u32(data, entry.body + 40), u32(data, entry.body + 48)
        if entry.type == b"lpcm":
            track.codec = _lpcm_codec(u32(data, entry.body + 52), track.sample_size)
        return
    track.channels, track.sample_size = u16(data, entry.body + 16), u16(data, entry.body + 18)
    if track.codec is not None and "{bits}" in track.codec:  # sowt, twos: the sample size says which
        bits = track.sample_size
        track.codec = "pcm_s8" if bits == 8 else track.codec.format(bits=bits) if bits in (16, 24, 32) else None
    track.sample_rate = u32(data, entry.body + 24) >> 16
    if entry.type == b"mp4a":
        skip = {0: 28, 1: 44}.get(version, 28)
        boxes = isobmff.children(data, entry.body + skip, entry.end, depth=7)
        esds = next((b for b in boxes if b.type == b"esds"), None)
        if esds is not None:
            _esds(data[esds.body + 4 : esds.end], track)


def _lpcm_codec(flags: int, bits: int) -> str | None:
    """FFmpeg's name of QuickTime ``lpcm`` from its format flags (float 1, big-endian 2, signed 4)."""
    order = "be" if flags & 2 else "le"
    if flags & 1:
        return f"pcm_f{bits}{order}" if bits in (32, 64) else None
    if bits == 8:
        return "pcm_s8" if flags & 4 else "pcm_u8"
    return f"pcm_s{bits}{order}" if bits in (16, 24, 32) else None


def _esds(body: bytes, track: _Track) -> None:
    """The decoder config of an ``mp4a`` entry: the real codec and, for AAC, the AudioSpecificConfig."""
    pos = 0
    for _ in range(8):
        if pos + 2 > len(body):
            return
        tag, pos = body[pos], pos + 1
        length = 0
        for _ in range(4):
            byte, pos = body[pos], pos + 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:
            flags = body[pos + 2]
            pos += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                pos += 1 + body[pos]
        elif tag == 0x04:
            object_type = body[pos]
            track.codec = _MP4A_OBJECT_TYPES.get(object_type, "aac")
            pos += 13
        elif tag == 0x05:
            if track.codec == "aac" and length >= 2:
                _audio_specific_config(body[pos : pos + length], track)
            return
        else:
            return


def _audio_specific_config(config: bytes, track: _Track) -> None:
    bits = int.from_bytes(config[:5].ljust(5, b"\0"), "big")
    index = (bits >> 31) & 0xF
    if index == 0xF:
        track.sample_rate = (bits >> 7) & 0xFFFFFF
        channels = (bits >> 3) & 0xF
    else:
        track.sample_rate = _AAC_RATES[index] if index < len(_AAC_RATES) else track.sample_rate
        channels = (bits >> 27) & 0xF
    if 1 <= channels <= 6:
        track.channels = channels
    elif channels == 7:
        track.channels = 8
