"""File uploads against the Slack emulator, driven through slack_sdk's real files_upload_v2."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from urllib.error import HTTPError

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import SlackEmulator

TOKEN = "xoxb-test-token"
CHANNEL = "C0CHARTS01"


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG; its signature holds CR and LF bytes a sloppy upload path would mangle."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x0d\x0a" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A started emulator with one channel the bot is in and one it is not in."""
    with SlackEmulator(token=TOKEN) as emu:
        emu.add_channel(CHANNEL, "charts")
        emu.add_channel("C0OUTSIDE1", "elsewhere", is_member=False)
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    """A real WebClient pointed at the emulator."""
    return WebClient(token=TOKEN, base_url=emulator.base_url, timeout=5)


def slack_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    """The `error` field of a SlackApiError's response."""
    return str(excinfo.value.response["error"])


def test_png_upload_in_a_thread_arrives_byte_exact(
    emulator: SlackEmulator, client: WebClient
) -> None:
    """files_upload_v2 into a thread: bytes, names, thread and comment all reach the channel."""
    parent = client.chat_postMessage(channel=CHANNEL, text="Daily burndown")["ts"]
    image = png()
    answer = client.files_upload_v2(
        channel=CHANNEL,
        file=image,
        filename="burndown.png",
        title="Burndown, day 3",
        thread_ts=parent,
        initial_comment="Here is today's chart",
    )

    shared = answer["file"]
    assert shared["name"] == "burndown.png"
    assert shared["title"] == "Burndown, day 3"
    assert shared["mimetype"] == "image/png"
    assert shared["size"] == len(image)
    assert shared["shares"]["public"][CHANNEL][0]["thread_ts"] == parent
    [upload] = emulator.files(CHANNEL)
    assert upload["content"] == image
    assert upload["id"] == shared["id"]
    assert (upload["filename"], upload["title"]) == ("burndown.png", "Burndown, day 3")
    assert (upload["thread_ts"], upload["initial_comment"]) == (parent, "Here is today's chart")
    [reply] = emulator.thread(CHANNEL, parent)
    assert reply["text"] == "Here is today's chart"
    assert reply["ts"] == upload["message_ts"]
    assert [f["id"] for f in reply["files"]] == [shared["id"]]
    assert emulator.message(CHANNEL, parent)["reply_count"] == 1


def test_upload_to_a_channel_posts_a_file_share_message(
    emulator: SlackEmulator, client: WebClient
) -> None:
    """Outside a thread the share message is top-level and the upload has no thread_ts."""
    client.files_upload_v2(channel=CHANNEL, content=b"a,b\n1,2\n", filename="data.csv")

    [message] = emulator.messages(CHANNEL)
    assert message["subtype"] == "file_share"
    assert message["files"][0]["title"] == "data.csv"  # the title defaults to the filename
    [upload] = emulator.files()
    assert upload["thread_ts"] is None
    assert upload["content"] == b"a,b\n1,2\n"


def test_upload_url_stays_on_loopback(emulator: SlackEmulator, client: WebClient) -> None:
    """The upload URL handed out points back at the emulator on 127.0.0.1."""
    answer = client.files_getUploadURLExternal(filename="chart.png", length=10)
    assert answer["upload_url"].startswith(emulator.base_url.removesuffix("api/"))
    assert answer["upload_url"].startswith("http://127.0.0.1:")
    assert answer["file_id"].startswith("F")


def test_upload_to_unknown_channel_fails_with_channel_not_found(
    emulator: SlackEmulator, client: WebClient
) -> None:
    """An unknown channel is refused at completion and nothing is shared."""
    with pytest.raises(SlackApiError) as excinfo:
        client.files_upload_v2(channel="C0NOWHERE1", file=png(), filename="chart.png")
    assert slack_error(excinfo) == "channel_not_found"
    assert emulator.files() == []
    assert emulator.messages("C0NOWHERE1") == []


def test_upload_to_channel_without_the_bot_fails_with_not_in_channel(client: WebClient) -> None:
    """A channel the bot is not a member of is refused as chat.postMessage refuses it."""
    with pytest.raises(SlackApiError) as excinfo:
        client.files_upload_v2(channel="C0OUTSIDE1", file=png(), filename="chart.png")
    assert slack_error(excinfo) == "not_in_channel"


def test_channel_id_must_be_a_conversation_id(client: WebClient) -> None:
    """A user id as channel_id is refused with invalid_arguments, as Slack does."""
    with pytest.raises(SlackApiError) as excinfo:
        client.files_upload_v2(channel="U0ALICE001", file=png(), filename="chart.png")
    assert slack_error(excinfo) == "invalid_arguments"


def test_channels_may_name_a_user_for_a_dm(emulator: SlackEmulator, client: WebClient) -> None:
    """`channels` takes user ids: the file goes to the bot's DM with that user."""
    client.files_upload_v2(channels=["U0ALICE001"], file=png(), filename="chart.png")

    [upload] = emulator.files("U0ALICE001")
    assert upload["channel"] == emulator.dm_channel("U0ALICE001")
    assert len(emulator.messages("U0ALICE001")) == 1


def test_upload_without_channel_stays_private(emulator: SlackEmulator, client: WebClient) -> None:
    """Without a channel the file is completed but shared nowhere."""
    answer = client.files_upload_v2(file=png(), filename="chart.png", initial_comment="hi")
    assert answer["file"]["shares"] == {}
    [upload] = emulator.files()
    assert upload["channel"] is None
    assert emulator.files(CHANNEL) == []


def test_completing_unknown_file_id_fails(client: WebClient) -> None:
    """A file id the emulator never handed out is not found."""
    with pytest.raises(SlackApiError) as excinfo:
        client.files_completeUploadExternal(
            files=[{"id": "F0NOTREAL01", "title": "x"}], channel_id=CHANNEL
        )
    assert slack_error(excinfo) == "file_not_found"


def test_completing_before_upload_fails(client: WebClient) -> None:
    """A file whose bytes never arrived cannot be completed."""
    file_id = client.files_getUploadURLExternal(filename="chart.png", length=10)["file_id"]
    with pytest.raises(SlackApiError) as excinfo:
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL)
    assert slack_error(excinfo) == "file_not_found"


def test_completing_twice_fails(client: WebClient) -> None:
    """files.completeUploadExternal can be called only once per file."""
    file_id = client.files_upload_v2(channel=CHANNEL, file=png(), filename="c.png")["file"]["id"]
    with pytest.raises(SlackApiError) as excinfo:
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL)
    assert slack_error(excinfo) == "file_not_found"


def test_size_mismatch_fails_the_upload(emulator: SlackEmulator, client: WebClient) -> None:
    """Bytes that differ from the announced length get a non-200, and the file stays unfinished."""
    ticket = client.files_getUploadURLExternal(filename="chart.png", length=10)
    answer = httpx.post(ticket["upload_url"], content=b"short", timeout=5)
    assert answer.status_code == 400
    with pytest.raises(SlackApiError) as excinfo:
        client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id=CHANNEL)
    assert slack_error(excinfo) == "file_not_found"
    assert emulator.files() == []


def test_failed_upload_raises_in_files_upload_v2(
    emulator: SlackEmulator, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused upload stops files_upload_v2 before completing (WebClient's urllib raises)."""
    real = client._upload_file

    def truncating(**kwargs: object) -> object:
        kwargs["data"] = b"x"
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "_upload_file", truncating)
    with pytest.raises(HTTPError) as excinfo:
        client.files_upload_v2(channel=CHANNEL, file=png(), filename="chart.png")
    assert excinfo.value.code == 400
    assert emulator.calls_to("files.completeUploadExternal") == []


def test_multipart_upload_is_accepted(emulator: SlackEmulator, client: WebClient) -> None:
    """Slack also takes the bytes multipart-encoded; the file part's bytes are kept exactly."""
    image = png(3, 3)
    ticket = client.files_getUploadURLExternal(filename="chart.png", length=len(image))
    answer = httpx.post(
        ticket["upload_url"], files={"file": ("chart.png", image, "image/png")}, timeout=5
    )
    assert (answer.status_code, answer.text) == (200, f"OK - {len(image)}")
    client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id=CHANNEL)
    assert emulator.files(CHANNEL)[0]["content"] == image


def test_empty_file_is_refused(client: WebClient) -> None:
    """A zero length is refused with missing_argument, Slack's answer for an empty file."""
    with pytest.raises(SlackApiError) as excinfo:
        client.files_upload_v2(channel=CHANNEL, content=b"", filename="empty.txt")
    assert slack_error(excinfo) == "missing_argument"
