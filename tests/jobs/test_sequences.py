"""Image sequences become videos: frames read through the integration, encoded with
PyAV, written under the write prefix; the item is the video (read back with PyAV)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import msgspec
import numpy as np
import pytest
from PIL import Image
from tests.search.test_embeddings_register import stored

from accessio.jobs.dry_run import dry_run
from accessio.jobs.sequences import DEFAULT_FPS, SequenceFpsInvalid, video_name
from accessio.service import Accessio
from accessio.spec import load_spec
from accessio.storage import IntegrationInvalid

W, H = 160, 96


def picture(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth picture (gradients a video codec keeps well) that differs by ``seed``."""
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(1, width - 1) + seed * 40) % 256
    green = y * 255 // max(1, height - 1)
    blue = np.full_like(x, (seed * 70) % 256)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def jpeg(array: np.ndarray, orientation: int = 1) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(array).save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def decoded(path: Path | io.BytesIO) -> tuple[list[np.ndarray], av.VideoStream]:
    """Every frame of a video as RGB, and its stream (read back with PyAV)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return frames, stream


def close(one: np.ndarray, other: np.ndarray) -> float:
    return float(np.abs(one.astype(np.int16) - other.astype(np.int16)).mean())


def spec_json(urls: list[str], **extra: object) -> dict[str, object]:
    group: dict[str, object] = {"title": "walk", "createVideo": True, **extra}
    group.update({f"objectUrl_{n}": url for n, url in enumerate(urls)})
    return {"image_groups": [group]}


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    (folder / "frames").mkdir(parents=True)
    return folder


@pytest.fixture
def app(tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Accessio]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where videos are made before the upload
    (tmp_path / "tmp").mkdir()
    with Accessio(str(tmp_path / "catalog.db")) as accessio:
        accessio.create_folder("f")
        accessio.add_integration("media", "local", root=str(media), write_prefix=str(media / "videos"))
        yield accessio


def write_frames(media: Path, frames: list[bytes]) -> list[str]:
    urls = []
    for n, data in enumerate(frames):
        path = media / "frames" / f"{n:04d}.jpg"
        path.write_bytes(data)
        urls.append(path.as_uri())
    return urls


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def spec_file(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "spec.json"
    path.write_bytes(msgspec.json.encode(doc))
    return path


def test_a_sequence_of_mixed_sizes_and_orientations_becomes_one_video(
    app: Accessio, media: Path, tmp_path: Path
) -> None:
    first, last = picture(W, H, 0), picture(W, H, 5)
    upright = picture(W, H, 2)
    frames = [
        jpeg(first),
        jpeg(picture(2 * W, 2 * H, 1)),  # twice the size: scaled down
        jpeg(np.rot90(upright).copy(), orientation=6),  # stored on its side; EXIF turns it upright
        jpeg(picture(H, H, 3)),  # square: scaled to fit, padded left and right
        jpeg(picture(W, H, 4)),
        jpeg(last),
    ]
    urls = write_frames(media, frames)
    job = app.register(spec_file(tmp_path, spec_json(urls)), folder="f", integration="media")
    assert job.to_json()["status"] == "DONE", job.to_json()["unitErrors"]

    (item,) = app.items("f")
    assert item["itemType"] == "imageSequence"
    assert (item["width"], item["height"], item["fps"], item["frameCount"]) == (W, H, DEFAULT_FPS, 6)
    assert item["duration"] == pytest.approx(6 / DEFAULT_FPS)
    assert (item["codec"], item["mimeType"]) == ("h264", "video/mp4")
    video = Path(item["url"].removeprefix("file://"))
    assert video.parent == media / "videos"
    assert video.suffix == ".mp4"
    assert item["fileSize"] == video.stat().st_size
    assert app.signed_url(item["uuid"]) == video.as_uri()  # signable like any object

    shown = app.item(item["uuid"])
    assert [child["url"] for child in shown["children"]] == urls  # the frames, in order
    assert [child["position"] for child in shown["children"]] == list(range(6))
    assert [(c["width"], c["height"]) for c in shown["children"]][:4] == [
        (W, H),
        (2 * W, 2 * H),
        (W, H),
        (H, H),
    ]  # upright sizes

    pictures, stream = decoded(video)
    assert len(pictures) == 6
    assert (stream.width, stream.height, stream.average_rate) == (W, H, DEFAULT_FPS)
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert close(pictures[0], first) < 6
    assert close(pictures[-1], last) < 6
    assert close(pictures[2], upright) < 6  # turned upright
    assert close(pictures[1], picture(W, H, 1)) < 10  # scaled down to the first frame's size
    square = pictures[3]
    pad = (W - H) // 2
    assert square[:, : pad - 2].max() < 30
    assert square[:, W - pad + 2 :].max() < 30
    assert close(square[:, pad + 2 : W - pad - 2], picture(H, H, 3)[:, 2:-2]) < 10
    assert files_under(media / "videos") == [video.name]  # no temporary name left


def test_a_csv_sequence_takes_the_jobs_frame_rate(app: Accessio, media: Path, tmp_path: Path) -> None:
    urls = write_frames(media, [jpeg(picture(W + 1, H + 1, n)) for n in range(4)])  # odd: rounded up to even
    csv = tmp_path / "spec.csv"
    csv.write_text("ObjectUrl,Image group title,Create video\n" + "".join(f"{u},walk,\n" for u in urls))
    job = app.register(csv, folder="f", integration="media", sequence_fps=7.5)
    assert job.to_json()["status"] == "DONE", job.to_json()["unitErrors"]
    (item,) = app.items("f")
    assert (item["itemType"], item["fps"], item["frameCount"]) == ("imageSequence", 7.5, 4)
    pictures, stream = decoded(Path(item["url"].removeprefix("file://")))
    assert (len(pictures), stream.width, stream.height, stream.average_rate) == (4, W + 2, H + 2, 7.5)
    assert close(pictures[3][: H + 1, : W + 1], picture(W + 1, H + 1, 3)) < 6


def test_a_frame_rate_out_of_range_is_refused(app: Accessio, media: Path, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, spec_json(write_frames(media, [jpeg(picture(W, H, 0))])))
    with pytest.raises(SequenceFpsInvalid, match=r"0\.1 to 240"):
        app.register(spec, folder="f", integration="media", sequence_fps=0)
    assert app.jobs() == []


def test_a_read_only_integration_fails_the_unit_and_says_what_to_change(
    app: Accessio, media: Path, tmp_path: Path
) -> None:
    app.add_integration("readonly", "local", root=str(media))
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(3)])
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode(spec_json(urls)))
    shown = app.register(spec, folder="f", integration="readonly").to_json()
    assert shown["status"] == "ERROR"
    (error,) = shown["unitErrors"]
    assert error["objectUrls"] == urls
    assert "no write prefix" in error["error"]
    assert "--write-prefix" in error["actionDescription"]
    assert "createVideo: false" in error["actionDescription"]
    assert app.items("f") == []
    assert files_under(media) == ["frames", *(f"frames/{n:04d}.jpg" for n in range(3))]


def test_a_strict_integration_cannot_write_and_fails_a_sequence(app: Accessio, media: Path, tmp_path: Path) -> None:
    with pytest.raises(IntegrationInvalid, match="strictClientOnly integration cannot have a write prefix"):
        app.add_integration(
            "strict", "local", root=str(media), access_mode="strictClientOnly", write_prefix=str(media / "v")
        )
    app.add_integration("strict", "local", root=str(media), access_mode="strictClientOnly")
    meta = {"mimeType": "image/jpeg", "fileSize": 10, "width": W, "height": H}
    urls = write_frames(media, [jpeg(picture(W, H, 0))])
    group = {"title": "s", "createVideo": True, "objectUrl_0": urls[0], "imageMetadata_0": meta}
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode({"image_groups": [group]}))
    shown = app.register(spec, folder="f", integration="strict").to_json()
    (error,) = shown["unitErrors"]
    assert "strictClientOnly" in error["error"]
    assert "server mode with a write prefix" in error["actionDescription"]


def test_a_write_prefix_outside_the_integration_is_refused(app: Accessio, media: Path, tmp_path: Path) -> None:
    with pytest.raises(IntegrationInvalid, match="write prefix is not a place in this integration"):
        app.add_integration("other", "local", root=str(media), write_prefix=str(tmp_path / "elsewhere"))
    with pytest.raises(IntegrationInvalid, match="write prefix"):
        app.set_write_prefix("media", str(tmp_path))
    assert app.integration_record("media").write_prefix == str(media / "videos")
    assert app.set_write_prefix("media", None).write_prefix is None


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("missing", "no object at"),
        ("text", "image"),
        ("truncated", "cannot be decoded"),
        ("huge", "more than 35,651,584 pixels"),
    ],
)
def test_a_bad_frame_fails_the_unit_with_its_position_and_url(
    app: Accessio, media: Path, tmp_path: Path, bad: str, expected: str
) -> None:
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(5)])
    broken = media / "frames" / "0003.jpg"
    if bad == "missing":
        broken.unlink()
    elif bad == "text":
        broken.write_text("not a picture at all\n")
    elif bad == "truncated":
        broken.write_bytes(jpeg(picture(W, H, 3))[:400])
    else:  # 8,200 x 4,400: over H.264's largest frame (cheap to store in one bit per pixel)
        out = io.BytesIO()
        Image.new("1", (8200, 4400)).save(out, "PNG")
        broken.write_bytes(out.getvalue())
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode(spec_json(urls)))
    shown = app.register(spec, folder="f", integration="media").to_json()
    (error,) = shown["unitErrors"]
    assert f"frame 3 ({urls[3]})" in error["error"]
    assert expected in error["error"]
    assert "no video was written" in error["error"]
    assert "position 3" in error["actionDescription"]
    assert app.items("f") == []
    assert files_under(media / "videos") == []
    assert files_under(tmp_path / "tmp" / "accessio-sequences") == []


def test_a_rerun_skipping_duplicates_writes_nothing_and_a_second_job_reuses_the_video(
    app: Accessio, media: Path, tmp_path: Path
) -> None:
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(5)])
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode({"skip_duplicate_urls": True, **spec_json(urls)}))
    app.register(spec, folder="f", integration="media")
    (video,) = (media / "videos").iterdir()
    made = video.stat().st_mtime_ns

    shown = app.register(spec, folder="f", integration="media").to_json()
    assert (shown["counts"]["skipped"], shown["counts"]["created"]) == (1, 0)
    assert len(app.items("f")) == 1
    # Another folder: a new item, and the video under its stable name is not made again.
    app.create_folder("g")
    app.register(spec, folder="g", integration="media")
    (other,) = app.items("g")
    assert other["url"] == video.as_uri()
    assert other["frameCount"] == 5
    assert [child["width"] for child in app.item(other["uuid"])["children"]] == [W] * 5
    assert files_under(media / "videos") == [video.name]
    assert video.stat().st_mtime_ns == made


def test_two_jobs_with_the_same_sequence_at_once_make_one_whole_video(
    app: Accessio, media: Path, tmp_path: Path
) -> None:
    urls = write_frames(media, [jpeg(picture(W, H, n % 6)) for n in range(40)])
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode(spec_json(urls)))
    app.create_folder("g")
    jobs = [app.start_registration(spec, folder=folder, integration="media") for folder in ("f", "g")]
    with Accessio(app.catalog) as second:  # another handle, as another process would have
        threads = [
            threading.Thread(target=jobs[0].run),
            threading.Thread(target=second.job(jobs[1].id).run),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [job.status for job in jobs] == ["DONE", "DONE"]
    (one,), (two,) = app.items("f"), app.items("g")
    assert one["url"] == two["url"]
    (video,) = (media / "videos").iterdir()
    pictures, _ = decoded(video)
    assert len(pictures) == 40
    assert close(pictures[39], picture(W, H, 39 % 6)) < 6
    assert files_under(tmp_path / "tmp" / "accessio-sequences") == []


@pytest.mark.slow
def test_killed_while_encoding_then_resumed_leaves_one_video_and_no_leftovers(media: Path, tmp_path: Path) -> None:
    frames = 500
    data = [jpeg(picture(320, 180, n % 8)) for n in range(8)]
    urls = write_frames(media, [data[n % 8] for n in range(frames)])
    spec = tmp_path / "spec.json"
    spec.write_bytes(msgspec.json.encode(spec_json(urls)))
    catalog = str(tmp_path / "catalog.db")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "ACCESSIO_CATALOG": catalog, "TMPDIR": str(temp)}
    app = Accessio(catalog)
    app.add_integration("media", "local", root=str(media), write_prefix=f"{media.as_uri()}/videos")
    command = [sys.executable, "-m", "accessio", "register", str(spec), "--folder", "f", "--integration", "media",
               "--create-folder"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    making = temp / "accessio-sequences"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in making.glob("*.mp4")):
        assert process.poll() is None, "the registration ended before it was killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(making.glob("*.mp4")), "the kill did not land while the video was being made"
    # nothing bears a video's name (a kill during the upload leaves a temporary name only)
    assert [name for name in files_under(media / "videos") if not name.startswith(".partial")] == []
    (job,) = app.jobs()
    assert job.status == "PENDING"

    resumed = subprocess.run(
        [sys.executable, "-m", "accessio", "jobs", "resume", job.id],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert job.status == "DONE"
    (item,) = app.items("f")
    video = Path(item["url"].removeprefix("file://"))
    assert files_under(media / "videos") == [video.name]
    assert list(making.iterdir()) == []  # the killed process's half video is gone
    pictures, stream = decoded(video)
    assert (len(pictures), stream.width, stream.height) == (frames, 320, 180)
    assert close(pictures[-1], picture(320, 180, (frames - 1) % 8)) < 6
    app.close()


def test_a_sequence_keeps_its_embeddings_and_its_frames_address_the_video(
    app: Accessio, media: Path, tmp_path: Path
) -> None:
    app.schema_add_embedding("clip", 4)
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(10)])
    frames = {"0": {"clip": [1, 0, 0, 0]}, "7": {"clip": [0, 1, 0, 0]}}
    encord = {"config": {"sampling_rate": 0}, "frames": frames}
    good = spec_json(urls, clientMetadata={"clip": [0, 0, 1, 0], "$encord": encord})
    past = {**frames, "12": {"clip": [0, 0, 0, 1]}}  # the video has 10 frames
    late = spec_json(urls[:5] + urls[6:], clientMetadata={"$encord": {"frames": past}})
    late["image_groups"][0]["title"] = "late"  # type: ignore[index]
    spec = spec_file(tmp_path, {"image_groups": good["image_groups"] + late["image_groups"]})  # type: ignore[operator]
    shown = app.register(spec, folder="f", integration="media", ignore_errors=True, sequence_fps=5).to_json()
    (error,) = shown["unitErrors"]
    assert "frame 12 is past the video's last frame (8)" in error["error"]
    (item,) = app.items("f")
    assert stored(app, item["uuid"]) == {None: [0.0, 0.0, 1.0, 0.0], 0: [1.0, 0.0, 0.0, 0.0], 7: [0.0, 1.0, 0.0, 0.0]}
    assert item["clientMetadata"]["$encord"]["frames"] == {"0": {}, "7": {}}


def test_the_cli_sets_a_write_prefix_and_a_frame_rate(media: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

    from accessio.cli import app as cli  # noqa: PLC0415

    runner = CliRunner()
    env = {"ACCESSIO_CATALOG": str(tmp_path / "catalog.db"), "TMPDIR": str(tmp_path)}
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(3)])
    spec = spec_file(tmp_path, spec_json(urls))
    assert runner.invoke(cli, ["integration", "add", "media", "--provider", "local", "--root", str(media)], env=env)
    register = ["register", str(spec), "--folder", "f", "--integration", "media", "--json", "--create-folder"]
    failed = runner.invoke(cli, register, env=env)
    assert failed.exit_code == 1
    assert "--write-prefix" in json.loads(failed.stdout)["unitErrors"][0]["actionDescription"]

    outside = runner.invoke(cli, ["integration", "set", "media", "--write-prefix", str(tmp_path)], env=env)
    assert outside.exit_code == 1
    assert "not a place in this integration" in outside.stderr
    videos = f"{media.as_uri()}/videos"
    done = runner.invoke(cli, ["integration", "set", "media", "--write-prefix", videos], env=env)
    assert (done.exit_code, done.stdout.strip()) == (0, f"media may write under {videos}")
    listed = json.loads(runner.invoke(cli, ["integration", "ls", "--json"], env=env).stdout)
    assert listed[0]["writePrefix"] == videos
    shown = json.loads(runner.invoke(cli, [*register, "--sequence-fps", "2.5"], env=env).stdout)
    assert shown["status"] == "DONE"
    item = json.loads(runner.invoke(cli, ["items", "ls", "--folder", "f", "--json"], env=env).stdout)[0]
    assert (item["fps"], item["duration"], item["frameCount"]) == (2.5, 1.2, 3)
    assert runner.invoke(cli, [*register, "--sequence-fps", "0"], env=env).exit_code == 2
    read_only = runner.invoke(cli, ["integration", "set", "media", "--read-only"], env=env)
    assert (read_only.exit_code, read_only.stdout.strip()) == (0, "media is read-only")


def test_a_dry_run_says_a_sequence_needs_a_write_prefix(app: Accessio, media: Path, tmp_path: Path) -> None:
    app.add_integration("readonly", "local", root=str(media))
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(2)])
    spec = load_spec(spec_file(tmp_path, spec_json(urls)))
    (problem,) = dry_run(app, spec, folder="f", integration="readonly")["unreachable"]
    assert problem["url"] == urls[0]
    assert "'walk'" in problem["error"]
    assert "accessio integration set readonly --write-prefix" in problem["error"]
    assert dry_run(app, spec, folder="f", integration="media")["unreachable"] == []
    assert files_under(media / "videos") == []  # a dry run writes nothing


def test_the_sequences_of_one_job_each_get_their_video(app: Accessio, media: Path, tmp_path: Path) -> None:
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(6)])
    groups = [spec_json(urls[n : n + 3], title=f"s{n}")["image_groups"][0] for n in range(3)]  # type: ignore[index]
    shown = app.register(spec_file(tmp_path, {"image_groups": groups}), folder="f", integration="media").to_json()
    assert shown["counts"]["created"] == 3, shown["unitErrors"]
    videos = {item["name"]: Path(item["url"].removeprefix("file://")) for item in app.items("f")}
    assert len(set(videos.values())) == 3
    for n in range(3):
        pictures, _ = decoded(videos[f"s{n}"])
        assert len(pictures) == 3
        assert close(pictures[0], picture(W, H, n)) < 6


def test_leftovers_of_a_dead_process_are_removed_when_the_sequence_is_encoded(
    app: Accessio, media: Path, tmp_path: Path
) -> None:
    urls = write_frames(media, [jpeg(picture(W, H, n)) for n in range(3)])
    digest = video_name(tuple(urls), DEFAULT_FPS)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    pid = int(dead.stdout)  # a process of this machine that has ended
    host = socket.gethostname()
    uploaded = media / "videos" / ".partial" / digest / f"{host}-{pid}-0a1b2c.mp4"  # killed between upload and move
    uploaded.parent.mkdir(parents=True)
    uploaded.write_bytes(b"half")
    alive = media / "videos" / ".partial" / digest / f"{host}-{os.getpid()}-3d4e5f.mp4"  # still working: kept
    alive.write_bytes(b"in flight")
    made = tmp_path / "tmp" / "accessio-sequences"
    made.mkdir()
    (made / f"{'0' * 32}.{pid}.abcdef.mp4").write_bytes(b"half")  # killed while encoding another sequence
    app.register(spec_file(tmp_path, spec_json(urls)), folder="f", integration="media")
    assert files_under(media / "videos") == [".partial", f".partial/{digest}", f".partial/{digest}/{alive.name}",
                                             f"{digest}.mp4"]  # fmt: skip
    assert list(made.iterdir()) == []
