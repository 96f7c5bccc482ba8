"""Unit keys: the batch form the runner uses agrees with the one-unit form."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from accessio.jobs.units import dedup_key, dedup_keys
from accessio.spec import DicomSeries, Image, ImageGroup, Video

_URL = st.text(min_size=1, max_size=40).map(lambda tail: f"s3://bucket/{tail}")


@given(
    st.lists(st.tuples(st.sampled_from(["image", "video", "group", "series"]), st.lists(_URL, min_size=1, max_size=3)))
)
def test_batch_keys_equal_single_keys(drawn: list[tuple[str, list[str]]]) -> None:
    units = []
    for kind, urls in drawn:
        if kind == "image":
            units.append(Image(object_url=urls[0]))
        elif kind == "video":
            units.append(Video(object_url=urls[0]))
        elif kind == "group":
            units.append(ImageGroup(urls=tuple(urls), title="g"))
        else:
            units.append(DicomSeries(urls=tuple(urls), title="s"))
    indexed = list(enumerate(units, 7))
    assert dedup_keys(indexed) == {index: dedup_key(unit) for index, unit in indexed}


def test_a_group_of_one_url_has_another_key_than_the_image() -> None:
    url = "s3://bucket/a.jpg"
    keys = dedup_keys([(0, Image(object_url=url)), (1, ImageGroup(urls=(url,), title="g"))])
    assert keys[0] != keys[1]
