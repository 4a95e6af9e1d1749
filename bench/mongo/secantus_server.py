"""Runs SecantusDB (a MongoDB-wire server on WiredTiger, with transactions) in the
foreground until SIGTERM or SIGINT: `python secantus_server.py DATA_DIR PORT`.

Test use only: the product store's MongoDB tests run against it (TEST_MONGODB_URL)."""

import signal
import sys
import threading

from secantus import SecantusDBServer


def main() -> None:
    storage_path, port = sys.argv[1], int(sys.argv[2])
    server = SecantusDBServer(host="127.0.0.1", port=port, storage_path=storage_path)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"SecantusDB listening on {server.uri}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
