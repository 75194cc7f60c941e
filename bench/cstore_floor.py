"""How fast a sender can push one study by C-STORE, to four receivers, in
one run: hvgen (``hvgen serve --dicom-port``), Orthanc, a bare pynetdicom
AE whose handler only moves each received file into a folder and flushes it
to disk (what any receiver built on pynetdicom must do at least before it
may answer Success), and dcmtk's ``storescp`` (C++, writing files, no
index). The time is until ``storescu`` has its last answer, interleaved,
``--repeat`` times (the next receiver once hvgen's work after its answers,
the study's previews, is done), with the ratio to Orthanc: the bare AE is the floor of
the library hvgen's DICOM service is built on.

    .venv/bin/python bench/cstore_floor.py [--images 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt  # noqa: E402
from pynetdicom.transport import ThreadedAssociationServer  # noqa: E402

from bench.ingest import NODELAY, Hvgen, Orthanc, until_idle  # noqa: E402
from hvgen_imaging.associations import MAX_PDU, RECEIVE_BUFFER  # noqa: E402
from tests import dcmtk  # noqa: E402
from tests.dicomgen import make_study  # noqa: E402
from tests.localserver import EMBEDDED, free_port  # noqa: E402


def push(port: int, aet: str, folder: Path) -> float:
    """Seconds ``storescu`` takes to send every file of ``folder``."""
    storescu = dcmtk.tool("storescu")
    assert storescu is not None, "dcmtk's storescu is needed (apt-get install dcmtk)"
    started = time.perf_counter()
    done = subprocess.run(
        [storescu, "-aec", aet, "+sd", "+r", "127.0.0.1", str(port), str(folder)],
        capture_output=True,
        text=True,
        env=NODELAY,
    )
    if done.returncode != 0:
        raise RuntimeError(f"storescu to {aet}: {done.stderr[-500:]}")
    return time.perf_counter() - started


class _NoDelayServer(ThreadedAssociationServer):
    def process_request_thread(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        super().process_request_thread(request, client_address)


def bare_pynetdicom(folder: Path) -> tuple[int, Callable[[], None]]:
    """A pynetdicom AE receiving into files (as hvgen's listener is set up:
    chunked receiving, its PDU size and receive buffer, TCP_NODELAY) whose handler moves each
    file into ``folder`` and flushes it; its port and how to stop it."""
    _config.STORE_RECV_CHUNKED_DATASET = True
    _config.LOG_HANDLER_LEVEL = "none"
    folder.mkdir(parents=True, exist_ok=True)

    def on_store(event: Any) -> int:
        target = folder / Path(event.dataset_path).name
        os.replace(event.dataset_path, target)
        with open(target, "rb+") as f:
            os.fsync(f.fileno())
        return 0x0000

    ae = AE("BARE")
    ae.maximum_pdu_size = MAX_PDU
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    port = free_port()
    server = ae.make_server(
        ("127.0.0.1", port), evt_handlers=[(evt.EVT_C_STORE, on_store)], server_class=_NoDelayServer
    )
    ae._servers.append(server)  # (pynetdicom's shutdown takes it off that list)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return port, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    storescp = dcmtk.tool("storescp")
    assert storescp is not None, "dcmtk's storescp is needed (apt-get install dcmtk)"
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cstore-floor-") as tmp:
        base = Path(tmp)
        hvgen, orthanc = Hvgen(base / "hvgen", EMBEDDED), Orthanc(base / "orthanc")
        bare_port, stop_bare = bare_pynetdicom(base / "bare")
        scp_port = free_port()
        (base / "storescp").mkdir()
        scp = subprocess.Popen(
            [storescp, "-od", str(base / "storescp"), "-uf", str(scp_port)],
            env=NODELAY,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        receivers: list[tuple[str, int, str]] = [
            ("hvgen", hvgen.dicom_port, hvgen.aet),
            ("Orthanc", orthanc.dicom_port, orthanc.aet),
            ("pynetdicom, flush only", bare_port, "BARE"),
            ("dcmtk storescp", scp_port, "ANY"),
        ]
        try:
            time.sleep(1)  # storescp listening
            for rep in range(args.repeat):
                # a study of its own for each receiver and repetition (hvgen keeps what it stored)
                order = receivers if rep % 2 == 0 else list(reversed(receivers))
                for n, (name, port, aet) in enumerate(order):
                    folder = base / f"study-{rep}-{n}"
                    make_study(folder, series=1, images=args.images, size=512, seed=100 * rep + n)
                    times.setdefault(name, []).append(push(port, aet, folder))
                    if name == "hvgen":  # its previews, made after the answers, not beside the next receiver
                        until_idle(hvgen)
                print(f"repetition {rep + 1} of {args.repeat} done", flush=True)
        finally:  # every receiver stopped, whichever stop fails
            for stop in (scp.terminate, stop_bare, hvgen.stop, orthanc.stop):
                try:
                    stop()
                except Exception as exc:  # noqa: BLE001  (reported; the others are still stopped)
                    print(f"stopping a receiver: {exc}", file=sys.stderr)
            scp.wait(30)
    theirs = statistics.median(times["Orthanc"])
    print(f"\nC-STORE of {args.images} 512 x 512 x 16-bit images until storescu is done, median of {args.repeat}")
    print(f"{'receiver':26} {'seconds':>8}  {'runs':24} {'/Orthanc':>9}")
    for name, values in times.items():
        ours = statistics.median(values)
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:26} {ours:8.2f}  {runs:24} {ours / theirs:8.2f}x")


if __name__ == "__main__":
    main()
