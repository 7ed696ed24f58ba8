"""File uploads as `WebClient.files_upload_v2` performs them, for the Slack emulator.

The upload takes three requests: files.getUploadURLExternal hands out an upload URL and a file
id, the client POSTs the bytes to that URL (answered by `receive`, outside the Web API), and
files.completeUploadExternal shares the file. Slack shares asynchronously; the emulator does it
at once, so a test can inspect the share message as soon as the call returned.
"""

from __future__ import annotations

import copy
import json
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sandbox.slack.limits import check_message_blocks
from sandbox.slack.workspace import (
    APP_ID,
    BOT_ID,
    WORKSPACE_URL,
    JsonDict,
    Workspace,
    error,
)

# Path prefix of the upload URLs, served by the emulator's HTTP server next to /api/.
UPLOAD_PATH = "/upload/v1/"
# Limits documented for the two methods.
_ALT_TXT_MAX = 1000
_CHANNELS_MAX = 100
# channel_id only takes conversation ids (a user id or #name is refused with a pattern error).
_CHANNEL_ID_PREFIXES = ("C", "G", "D", "Z")


@dataclass
class _Upload:
    """One file between files.getUploadURLExternal and files.completeUploadExternal."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    content: bytes | None = None


class SlackFiles:
    """Uploads in flight and shared files; not thread-safe by itself (the emulator locks)."""

    def __init__(self, workspace: Workspace, url_root: Callable[[], str]) -> None:
        """Share into `workspace`; `url_root()` is the loopback URL upload paths hang off."""
        self._workspace = workspace
        self._url_root = url_root
        self._pending: dict[str, _Upload] = {}
        self._shared: list[JsonDict] = []
        self._counter = 0
        self.methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "files.getUploadURLExternal": self.get_upload_url_external,
            "files.completeUploadExternal": self.complete_upload_external,
        }

    # -- step 1 and 2: announce, then receive the bytes -------------------------------------------

    def get_upload_url_external(self, args: JsonDict) -> JsonDict:
        """files.getUploadURLExternal: a file id and the URL its bytes must be POSTed to."""
        filename = str(args.get("filename") or "")
        if not filename:
            return _invalid_arguments("missing required field: filename")
        try:
            length = int(str(args.get("length", "")))
        except ValueError:
            return _invalid_arguments("length must be an integer")
        if length == 0:
            return error("missing_argument")  # Slack's answer for an empty file
        if length < 0:
            return _invalid_arguments("length must be positive")
        alt_txt = args.get("alt_txt")
        if isinstance(alt_txt, str) and len(alt_txt) > _ALT_TXT_MAX:
            return error("alt_txt_too_large")
        self._counter += 1
        file_id = f"F{self._counter:010X}"
        self._pending[file_id] = _Upload(file_id, filename, length, str(alt_txt or "") or None)
        upload_url = f"{self._url_root().rstrip('/')}{UPLOAD_PATH}{file_id}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def receive(self, path: str, content_type: str, body: bytes) -> tuple[int, str]:
        """Take a POST to an upload URL (raw bytes or multipart); returns (status, text body).

        Slack answers 200 "OK - <length>", and anything else for a failed upload, which stops
        files_upload_v2 before it completes. A body whose size is not the announced length
        fails, so the file stays unfinished and completing it gives file_not_found.
        """
        upload = self._pending.get(path.removeprefix(UPLOAD_PATH))
        if upload is None:
            return 404, "upload not found"
        multipart = content_type.split(";")[0].strip().lower() == "multipart/form-data"
        content = _multipart_file(content_type, body) if multipart else body
        if content is None:
            return 400, "no file in the multipart body"
        if len(content) != upload.length:
            return 400, f"size mismatch: announced {upload.length}, received {len(content)}"
        upload.content = content
        return 200, f"OK - {len(content)}"

    # -- step 3: share ----------------------------------------------------------------------------

    def complete_upload_external(self, args: JsonDict) -> JsonDict:
        """files.completeUploadExternal: finish uploads and share them in at most 100 channels.

        Nothing changes unless every file and channel checks out, so a failed call can be retried.
        """
        entries = _file_entries(args.get("files"))
        if entries is None:
            return _invalid_arguments("files must be a JSON array of objects with an id")
        uploads: list[_Upload] = []
        for entry in entries:
            upload = self._pending.get(str(entry["id"]))
            if upload is None or upload.content is None:
                return error("file_not_found")  # unknown, not uploaded yet, or completed before
            uploads.append(upload)
        targets, problem = self._targets(args)
        if problem is not None:
            return problem
        thread_ts = str(args.get("thread_ts") or "") or None
        if thread_ts and len(targets) > 1:
            return _invalid_arguments("thread_ts needs exactly one channel")
        comment = str(args.get("initial_comment") or "")
        blocks = None if comment else args.get("blocks")  # Slack ignores blocks after a comment
        if blocks is not None and (findings := check_message_blocks(blocks).errors):
            return error("invalid_blocks", errors=findings)
        for channel, user in targets.items():
            if user is not None:
                self._workspace.dms[channel] = user
        ts_by_channel = {channel: self._workspace.next_ts() for channel in targets}
        now = int(time.time())
        # A file shared nowhere stays private; it is still listed, with channel None.
        places: list[str | None] = [*targets] or [None]
        files = []
        for entry, upload in zip(entries, uploads, strict=True):
            title = str(entry.get("title") or upload.filename)
            files.append(self._file_object(upload, title, now, ts_by_channel, thread_ts))
            del self._pending[upload.file_id]
            for place in places:
                self._shared.append(
                    {
                        "id": upload.file_id,
                        "filename": upload.filename,
                        "title": title,
                        "content": upload.content,
                        "size": upload.length,
                        "mimetype": files[-1]["mimetype"],
                        "alt_txt": upload.alt_txt,
                        "channel": place,
                        "thread_ts": thread_ts,
                        "initial_comment": comment or None,
                        "message_ts": ts_by_channel[place] if place else None,
                    }
                )
        for channel, ts in ts_by_channel.items():
            message = self._share_message(ts, comment, blocks, files, thread_ts)
            self._workspace.store_message(channel, message)
        return {"ok": True, "files": copy.deepcopy(files)}

    def shared(self, channel: str | None = None) -> list[JsonDict]:
        """Completed uploads with their bytes, one entry per channel shared to, in order."""
        wanted = None if channel is None else self._workspace.resolve_channel(channel)
        return copy.deepcopy([s for s in self._shared if wanted in (None, s["channel"])])

    # -- helpers ----------------------------------------------------------------------------------

    def _targets(self, args: JsonDict) -> tuple[dict[str, str | None], JsonDict | None]:
        """The conversations to share in, each with the user whose DM it is (else None).

        Checked as chat.postMessage checks its channel, except that an unknown conversation
        is refused with channel_not_found, as files.completeUploadExternal does.
        """
        channel_id = str(args.get("channel_id") or "")
        if channel_id and not channel_id.startswith(_CHANNEL_ID_PREFIXES):
            pattern = "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$"
            return {}, _invalid_arguments(f"{pattern} [json-pointer:/channel_id]")
        raw = args.get("channels") or []
        names = [str(c).strip() for c in (raw.split(",") if isinstance(raw, str) else raw)]
        wanted = [channel_id] if channel_id else []
        wanted += [c for c in names if c]
        if len(wanted) > _CHANNELS_MAX:
            return {}, error("channels_limit_exceeded")
        targets: dict[str, str | None] = {}
        for target in wanted:
            # `channels` may name users: the file then goes to the bot's DM with them.
            user = target if target[0] in "UW" else None
            channel = self._workspace.resolve_channel(target) if user else target
            known = self._workspace.channels.get(channel)
            if known is None and user is None and channel not in self._workspace.dms:
                return {}, error("channel_not_found")
            if known is not None and not known["is_member"]:
                return {}, error("not_in_channel")
            targets.setdefault(channel, user)
        return targets, None

    def _file_object(
        self,
        upload: _Upload,
        title: str,
        now: int,
        ts_by_channel: dict[str, str],
        thread_ts: str | None,
    ) -> JsonDict:
        """The file object Slack answers with, its shares pointing at the share messages."""
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        filetype = PurePath(upload.filename).suffix.lstrip(".").lower() or "binary"
        team, bot = self._workspace.team_id, self._workspace.bot_user_id
        shares: dict[str, JsonDict] = {}
        kinds: dict[str, list[str]] = {"channels": [], "groups": [], "ims": []}
        for channel, ts in ts_by_channel.items():
            known = self._workspace.channels.get(channel)
            public = known is not None and not known["is_private"]
            kind = "channels" if public else "ims" if channel.startswith("D") else "groups"
            kinds[kind].append(channel)
            share: JsonDict = {"ts": ts, "team_id": team, "share_user_id": bot}
            if known is not None:
                share["channel_name"] = known["name"]
            if thread_ts:
                share["thread_ts"] = thread_ts
            shares.setdefault("public" if public else "private", {})[channel] = [share]
        slug = upload.filename.replace(" ", "_")
        found: JsonDict = {
            "id": upload.file_id,
            "created": now,
            "timestamp": now,
            "name": upload.filename,
            "title": title,
            "mimetype": mimetype,
            "filetype": filetype,
            "user": bot,
            "user_team": team,
            "editable": False,
            "size": upload.length,
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(shares.get("public")),
            "url_private": f"https://files.slack.com/files-pri/{team}-{upload.file_id}/{slug}",
            "permalink": f"{WORKSPACE_URL}files/{bot}/{upload.file_id}/{slug}",
            **kinds,
            "shares": shares,
        }
        if upload.alt_txt:
            found["alt_txt"] = upload.alt_txt
        return found

    def _share_message(
        self, ts: str, comment: str, blocks: Any, files: list[JsonDict], thread_ts: str | None
    ) -> JsonDict:
        """The file_share message Slack posts for the bot when it shares files in a channel."""
        message: JsonDict = {
            "type": "message",
            "subtype": "file_share",
            "user": self._workspace.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self._workspace.team_id,
            "text": comment,
            "ts": ts,
            "upload": True,
            "display_as_bot": False,
            "files": copy.deepcopy(files),
        }
        if blocks is not None:
            message["blocks"] = copy.deepcopy(blocks)
        if thread_ts:
            message["thread_ts"] = thread_ts
        return message


def _invalid_arguments(detail: str) -> JsonDict:
    """Slack's answer for a malformed argument, with the detail it adds."""
    return error("invalid_arguments", response_metadata={"messages": [f"[ERROR] {detail}"]})


def _file_entries(raw: Any) -> list[JsonDict] | None:
    """The `files` argument (a JSON string from forms, a list from JSON bodies), or None."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return None
    if not isinstance(raw, list) or not raw:
        return None
    if not all(isinstance(entry, dict) and entry.get("id") for entry in raw):
        return None
    return raw


def _multipart_file(content_type: str, body: bytes) -> bytes | None:
    """The bytes of the first part with a filename or named `file`, or None.

    Parsed by hand: the email package's parser is not made to keep binary payloads byte-exact.
    """
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return None
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        content = content.removesuffix(b"\r\n")
        disposition = head.decode("latin-1").lower()
        if "filename=" in disposition or 'name="file"' in disposition:
            return content
    return None
