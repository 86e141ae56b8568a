"""``POST /v1/recordings``: the devices' door into earmuff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from earmuff.pipeline.ingest import Ingestor
from earmuff.web.errors import ApiError, ErrorBody
from earmuff.web.multipart import MultipartError, NotMultipartError, parse_multipart

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["ingestion"])
bearer = HTTPBearer(auto_error=False, description="The device token from `earmuff devices add`")


class DeviceProfile(BaseModel):
    """What a device needs to fill in its upload metadata."""

    account_id: str
    device_serial: str
    first_name: str | None


class RecordingCreated(BaseModel):
    recording_id: str
    status: str
    duration_s: float
    sample_rate: int


_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["audio", "metadata"],
                "properties": {
                    "audio": {
                        "type": "string",
                        "format": "binary",
                        "description": "WAV, FLAC or Ogg; 8-48 kHz; mono, or downmixed",
                    },
                    "metadata": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "description": "A JSON object: see the RecordingMetadata schema",
                    },
                },
            },
            "encoding": {"metadata": {"contentType": "application/json"}},
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "malformed request, metadata or audio",
        401: "missing, unknown or revoked device token",
        403: "metadata names another account or device than the token's",
        409: "device_recording_id was already used by this device",
        413: "audio too large or too long",
        415: "not multipart/form-data, or audio in an unsupported format",
        422: "metadata or audio fails validation; Idempotency-Key reused for another request",
    }.items()
}


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Retries with the same key return the first answer and store nothing",
}


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer ...`` header, as HTTPBearer reads them."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def ingestor(request: Request) -> Ingestor:
    service: Ingestor = request.app.state.ingestor
    return service


@router.post(
    "/recordings",
    status_code=201,
    response_model=RecordingCreated,
    responses={
        **_ERRORS,
        200: {"model": RecordingCreated, "description": "a retry: the first answer"},
    },
    openapi_extra={
        "requestBody": _REQUEST_BODY,
        "parameters": [_IDEMPOTENCY_KEY],
        "security": [{"HTTPBearer": []}],
    },
    summary="Upload one recording",
)
async def create_recording(request: Request) -> JSONResponse:
    """Store a recording sealed under its account's key. Nothing is stored on any error.

    The token and the Idempotency-Key are read here rather than declared as FastAPI
    dependencies (the operation's documentation declares them): resolving dependencies
    cost a tenth of an upload's time, and this runs on every upload.
    """
    service: Ingestor = request.app.state.ingestor
    idempotency_key = request.headers.get("idempotency-key")
    token = bearer_token(request.headers.get("authorization"))
    uploader = await off_loop(service, 0, service.authenticate, token, idempotency_key)
    body = await read_body(request, service.settings.limits.max_body_bytes)
    try:
        parts = parse_multipart(request.headers.get("content-type", ""), body)
    except NotMultipartError as exc:
        raise ApiError(415, "unsupported_media_type", str(exc)) from None
    except MultipartError as exc:
        raise ApiError(400, "malformed_body", str(exc)) from None
    for name in ("metadata", "audio"):
        if name not in parts:
            raise ApiError(400, "missing_field", f"the multipart field {name!r} is required", name)
    if parts["audio"].filename is None:
        raise ApiError(400, "invalid_field", "'audio' must be a file part", "audio")
    metadata, audio = parts["metadata"].data, parts["audio"].data
    result = await off_loop(service, len(audio), service.ingest, uploader, metadata, audio)
    return JSONResponse(result.body, status_code=result.status_code)


@router.get(
    "/devices/me",
    response_model=DeviceProfile,
    responses={401: _ERRORS[401]},
    summary="The device the token belongs to",
)
async def current_device(
    service: Annotated[Ingestor, Depends(ingestor)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> DeviceProfile:
    """Lets a device (or `earmuff ingest`) learn the account and serial its token stands for."""
    token = credentials.credentials if credentials else None
    uploader = await off_loop(service, 0, service.authenticate, token)
    device = uploader.device
    return DeviceProfile(
        account_id=device.account_external_id,
        device_serial=device.serial,
        first_name=uploader.first_name,
    )


INLINE_AUDIO_BYTES = 1 << 20
"""Audio up to this size is stored on the event loop itself (with SQLite): see off_loop."""


async def off_loop(service: Ingestor, audio_bytes: int, work: Callable[..., T], *args: Any) -> T:
    """Run ``work`` on the event loop when it is short and waits on no other machine.

    With SQLite, checking a token is one indexed read of a local file, and storing a
    few seconds of speech about a millisecond of CPU and one local fsync. Handing that
    to a worker thread cost more than doing it: on a small machine the threads spent
    their time switching and contending for the GIL (the ingest benchmark served 30 %
    fewer uploads per second). A long recording still goes to a thread, so that one
    upload cannot hold up the others; so does everything on PostgreSQL, where each
    statement waits on the network.
    """
    if service.db.dialect == "sqlite" and audio_bytes <= INLINE_AUDIO_BYTES:
        return work(*args)
    return await run_in_threadpool(work, *args)


async def read_body(request: Request, limit: int) -> bytearray:
    """The whole body, refusing early (by Content-Length) or as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "malformed_body", "Content-Length is not a number")
        if int(declared) > limit:
            raise ApiError(413, "body_too_large", f"the request body exceeds {limit} bytes")
    chunks = bytearray()
    try:
        async for chunk in request.stream():
            chunks.extend(chunk)
            if len(chunks) > limit:
                raise ApiError(413, "body_too_large", f"the request body exceeds {limit} bytes")
    except ClientDisconnect:
        raise ApiError(400, "malformed_body", "the client disconnected mid-body") from None
    if not chunks:
        raise ApiError(400, "empty_body", "the request has no body")
    return chunks
