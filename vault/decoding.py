"""Decoding an original under a CPU-time bound, in the worker.

The header check (`compression.imageio.probe_upload`) bounds what a file declares (pixels, pages,
frames), but a file can still be built to make its decoder slow, and some decoders (libheif,
libavif, zlib inside one chunk) run as one C call that no Python-level timer interrupts. So the
decode runs in a forked child under RLIMIT_CPU: past the budget the kernel stops it (SIGXCPU,
and the job fails with a message instead of burning its whole time limit. The
child hands back the decoded upload pickled through a pipe (a Pillow image pickles as its
pixels); it does nothing else, so forking a worker that holds other threads' locks is safe.
"""
from __future__ import annotations

import os
import pickle
import resource
import signal

from django.conf import settings

from compression.imageio import DecodedUpload, InvalidImage, load_upload

_OK, _INVALID, _MEMORY = "ok", "invalid", "memory"


def cpu_budget() -> int:
    return max(1, int(getattr(settings, "DECODE_CPU_SECONDS", 60)))


def slow_message(filename: str, seconds: int) -> str:
    return (
        f"'{filename}' took more than {seconds} CPU seconds to decode and was stopped: the file may be "
        "damaged or built to be slow. It can still be downloaded as it is; to compress it, save it "
        "again in another format (e.g. PNG or JPEG) and upload that."
    )


def decode_original(data: bytes, *, filename: str, max_pixels: int) -> DecodedUpload:
    """`load_upload` of a stored original, stopped after `DECODE_CPU_SECONDS` of CPU time.
    Raises `InvalidImage` (its message is for the owner) or `MemoryError`."""
    seconds = cpu_budget()
    if not hasattr(os, "fork"):
        return load_upload(data, filename=filename, max_bytes=len(data), max_pixels=max_pixels)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: decode, write the answer, leave without running any clean-up
        code = 0
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would otherwise dump the worker's memory
            try:
                answer = (_OK, load_upload(data, filename=filename, max_bytes=len(data), max_pixels=max_pixels))
            except InvalidImage as exc:
                answer = (_INVALID, str(exc))
            except MemoryError:
                answer = (_MEMORY, "")
            with os.fdopen(write_end, "wb") as pipe:
                pickle.dump(answer, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # noqa: BLE001 - whatever it was, the parent reads no answer
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
    except BaseException:  # e.g. the job's soft time limit: the child must not outlive the job
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        raise InvalidImage(slow_message(filename, seconds))
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        raise MemoryError()  # the kernel's out-of-memory killer is the one that sends it
    if not payload:
        raise InvalidImage(f"'{filename}' could not be decoded: its decoder stopped without an answer.")
    kind, value = pickle.loads(payload)  # noqa: S301 - our own child's answer, through our own pipe
    if kind == _INVALID:
        raise InvalidImage(value)
    if kind == _MEMORY:
        raise MemoryError()
    return value
