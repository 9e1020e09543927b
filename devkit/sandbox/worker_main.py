"""One warm Lambda execution environment: load a handler once, then run the invocations sent to it.

Run by path (`python worker_main.py`), never imported by the kit. Protocol with devkit/sandbox/workers.py:
frames of a 4-byte big-endian length and a JSON document on the worker's stdin (requests) and stdout
(replies). The first reply is `{"ready": true}` or `{"init_error": {...}}`; then each request
`{"aws_request_id", "deadline_ms", "event"}` gets `{"result": ...}` or `{"error": {"errorType", "errorMessage", "stackTrace"}}`.
Everything the handler prints, to stdout or stderr, goes to stderr: the parent's log.
"""

import json
import os
import struct
import sys
import time
import traceback

HEADER = struct.Struct(">I")


def _open_control_channel():
    """Keep the pipes to the parent on private descriptors; fd 0 becomes /dev/null, fd 1 joins fd 2."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests, replies


def _read_exactly(stream, size):
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _receive(stream):
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    body = _read_exactly(stream, HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def _send(stream, message):
    body = json.dumps(message).encode()
    stream.write(HEADER.pack(len(body)) + body)


def _error(kind, exception):
    frames = traceback.format_tb(exception.__traceback__)
    return {"errorType": kind or type(exception).__name__, "errorMessage": str(exception), "stackTrace": frames}


def _report(error):
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
    if error["stackTrace"]:
        print("Traceback (most recent call last):\n" + "".join(error["stackTrace"]).rstrip(), file=sys.stderr)


def main():
    requests, replies = _open_control_channel()
    kit_dir = sys.path[0]  # this file's folder, which Python put first: the kit's helpers, not the function's
    import context as lambda_context
    import imports
    import loader

    sys.path.remove(kit_dir)
    del sys.modules["context"], sys.modules["imports"], sys.modules["loader"]

    # No bytecode is written next to the function's code, as on Lambda (its code is read-only): a
    # .pyc keyed by the source's mtime in whole seconds and its size hid an edit of the same size made
    # within the same second as the previous load, and hot reload served the old code.
    sys.dont_write_bytecode = True
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    if "DEVKIT_IMPORTABLE" in os.environ:  # only what Lambda will give this function (devkit/packages.py)
        imports.restrict(set(os.environ["DEVKIT_IMPORTABLE"].split(",")), task_root, os.environ["DEVKIT_REQUIREMENTS"])
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    try:
        handler = loader.load_handler(
            loader.Path(task_root, os.environ["DEVKIT_HANDLER_FILE"]),
            loader.Path(os.environ["DEVKIT_SHARED_DIR"]),
        )
    except Exception as exception:
        error = _error("Runtime.ImportModuleError", exception)
        _report(error)
        _send(replies, {"init_error": error})
        return 1
    _send(replies, {"ready": True})

    arn = lambda_context.function_arn(os.environ["AWS_REGION"], os.environ["DEVKIT_ACCOUNT_ID"], os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    while True:
        request = _receive(requests)
        if request is None:
            return 0
        context = lambda_context.LambdaContext(request["aws_request_id"], request["deadline_ms"], arn)
        reply = _invoke(handler, request["event"], context)
        sys.stdout.flush()
        replies.write(HEADER.pack(len(reply)) + reply)


def _invoke(handler, event, context) -> bytes:
    """Run the handler once; the encoded reply (a handler's failure is reported, not raised), with the
    CPU time the process used meanwhile (every thread's: `cpu`, seconds)."""
    started = time.process_time()
    try:
        result = handler(event, context)
    except Exception as exception:
        error = _error(None, exception)
    else:
        try:
            # `cpu` after the result, at a fixed width, so the sandbox knows the result's exact size from the frame's
            reply = json.dumps({"result": result}).encode()
            return reply[:-1] + b', "cpu": "%014.6f"}' % (time.process_time() - started)
        except (TypeError, ValueError) as exception:
            error = _error("Runtime.MarshalError", exception)
    _report(error)
    return json.dumps({"error": error, "cpu": time.process_time() - started}).encode()


if __name__ == "__main__":
    sys.exit(main())
