"""`python -m bench`: measure the sandbox against a bare floor server and Architect's sandbox.

One module per job:
    stats       percentiles and summaries of samples (pure functions)
    client      the measuring client: echo round trips, throughput, fan-out, connects, held sockets
    floor       the floor: a minimal echo server on aiohttp, the sandbox's own server library
    processes   start a server process, wait until it is ready, its memory, stop it and its children
    targets     how to start each server under test (sandbox, floor, Architect's sandbox)
    architect   installing Architect from npm and writing its equivalent echo app
    coldstart   import time and size of each deployed function package
    report      the terminal table, the targets met or missed, docs/benchmarks.json and docs/benchmarks.md
    chart       the latency distribution PNG
    run         the orchestration behind `make bench`
"""
