"""Answers to a connect package racing each other, sent as raw HTTP at once:
exactly three answers are ever checked, and a right one among them always
wins over wrong ones that finish first."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from healthvault import codec, methods
from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp
from healthvault.client import HealthVaultClient

from .localserver import Backend, RunningServer, start_server
from .test_hardening import create_package

RIGHT = "the right answer"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("pickup-race"), backend=backend)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(platform: RunningServer) -> Iterator[HealthVaultClient]:
    with platform.client() as c:
        c.create_session()
        yield c


def pick_up(client: HealthVaultClient, code: str, answer: str) -> bytes:
    """The bytes of a PickUpConnectPackage request (each one's msg-time its own)."""
    assert client.session is not None
    info = PickUp(identity_code=code, answer=answer)
    return methods.build_request(
        methods.PICK_UP_CONNECT_PACKAGE,
        info,
        session=client.session,
        record_id=client.record_id,
    )


def race(platform: RunningServer, bodies: list[bytes]) -> list[tuple[int, str]]:
    """Post every body at once (each on its own connection); their (status code, message)s."""
    ready = threading.Barrier(len(bodies))
    answers: list[tuple[int, str]] = [(-1, "")] * len(bodies)

    def send(n: int) -> None:
        with httpx.Client(timeout=120) as http:
            http.get(platform.url + "/health")  # connected before the race starts
            ready.wait()
            response = http.post(platform.url + "/wildcat.ashx", content=bodies[n])
        status = codec.read_response(response.content).status
        answers[n] = (int(status.code), status.error.message if status.error is not None else "")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return answers


def checked_wrong(answers: list[tuple[int, str]]) -> int:
    return sum(1 for code, message in answers if code != 0 and message.startswith("wrong answer"))


def test_a_right_answer_racing_two_wrong_ones_always_picks_up(platform: RunningServer, client: HealthVaultClient):
    for _ in range(6):
        code = create_package(client, RIGHT)
        bodies = [pick_up(client, code, a) for a in ("wrong one", RIGHT, "wrong two")]
        answers = race(platform, bodies)
        right = answers[1]
        assert right[0] == 0, answers  # picked up (running or done), never "locked" nor "already picked up"
        for code_, message in (answers[0], answers[2]):  # wrong, or too late: never a lock
            assert code_ != 0 and (message.startswith("wrong answer; ") or "already picked up" in message), answers
            assert "locked" not in message, answers
        again = codec.read_response(
            httpx.post(platform.url + "/wildcat.ashx", content=pick_up(client, code, RIGHT), timeout=60).content
        )
        assert again.status.code == 0, again.status.error  # the person who picked it up follows the job


def test_twenty_wrong_answers_at_once_check_exactly_three(platform: RunningServer, client: HealthVaultClient):
    for _ in range(3):
        code = create_package(client, RIGHT)
        answers = race(platform, [pick_up(client, code, f"wrong {n}") for n in range(20)])
        assert checked_wrong(answers) == 3, answers
        assert all(code != 0 for code, _ in answers)
        after = codec.read_response(
            httpx.post(platform.url + "/wildcat.ashx", content=pick_up(client, code, RIGHT), timeout=60).content
        )
        assert after.status.code != 0 and "locked" in after.status.error.message, after.status.error.message
