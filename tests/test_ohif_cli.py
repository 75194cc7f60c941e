"""`hvgen ohif fetch` and `hvgen serve --ohif` as a user meets them (in a
pseudo-terminal, default flags), and the decode budget of frames (503)."""

from __future__ import annotations

import stat
import tarfile
import threading
from pathlib import Path

import pytest

from hvgen_imaging import budget, framebytes
from hvgen_imaging.budget import MemoryBudget, OverBudget

from .dicomgen import pydicom_file
from .localserver import hvgen
from .terminal import assert_clean, hvgen_env, in_terminal
from .viewerdata import PASSWORD, sign_in


def fake_npm(folder: Path, *, fails: bool = False) -> Path:
    """An ``npm`` whose ``pack`` writes a tarball shaped like @ohif/app's (or fails as npm does offline)."""
    package = folder / "package" / "dist"
    package.mkdir(parents=True)
    (package / "index.html").write_text('<script src="/app.bundle.js"></script>')
    (package / "app-config.js").write_text("window.config = {};")
    (package / "app.bundle.js").write_text('__webpack_require__.p = "/";')
    tarball = folder / "ohif-app-3.13.2.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(folder / "package", arcname="package")
    npm = folder / "npm"
    if fails:
        body = "echo 'npm error code EAI_AGAIN' >&2; echo 'npm error request to https://registry.npmjs.org failed' >&2; exit 1"
    else:  # npm pack NAME --pack-destination DIR --silent
        body = f'cp {tarball} "$4/"'
    npm.write_text(f"#!/bin/sh\n{body}\n")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    return folder


def test_ohif_fetch_unpacks_dist(tmp_path: Path) -> None:
    tools = fake_npm(tmp_path / "tools")
    env = {**hvgen_env(tmp_path), "PATH": f"{tools}:/usr/bin:/bin"}
    run = in_terminal(["ohif", "fetch", str(tmp_path / "ohif")], env)
    assert_clean(run)
    assert run.code == 0, run.output
    dist = tmp_path / "ohif" / "dist"
    assert (dist / "index.html").is_file() and (dist / "app.bundle.js").is_file()
    assert f"hvgen serve --ohif {dist}" in run.output
    assert [p.name for p in (tmp_path / "ohif").iterdir()] == ["dist"]  # no tarball, no work folder left


def test_ohif_fetch_says_why_it_failed(tmp_path: Path) -> None:
    tools = fake_npm(tmp_path / "tools", fails=True)
    env = {**hvgen_env(tmp_path), "PATH": f"{tools}:/usr/bin:/bin"}
    run = in_terminal(["ohif", "fetch", str(tmp_path / "ohif")], env)
    assert_clean(run)
    assert run.code == 1
    assert "npm pack @ohif/app@3.13.2 failed: npm error request to https://registry.npmjs.org failed" in run.output
    assert not (tmp_path / "ohif" / "dist").exists()
    without = in_terminal(["ohif", "fetch", str(tmp_path / "ohif")], {**env, "PATH": "/nonexistent"})
    assert without.code == 1 and "npm is not installed" in without.output


def test_serve_refuses_a_folder_that_is_not_ohif(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = in_terminal(
        ["serve", "--data", str(tmp_path / "data"), "--ohif", str(tmp_path / "empty"), "--init-only"],
        hvgen_env(tmp_path),
    )
    assert_clean(run)
    assert run.code == 2
    assert "is not a built OHIF Viewer" in run.output and "hvgen ohif fetch" in run.output


def test_decoding_a_frame_over_the_budget_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressed frame is decoded only within the process's decode budget (the server answers 503)."""
    tight = MemoryBudget(total=1 << 30, slots=1, wait=0.2)
    monkeypatch.setattr(framebytes, "BUDGET", tight)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with tight.reserve(1):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        with open(pydicom_file("emri_small_jpeg_2k_lossless.dcm"), "rb") as f, framebytes.pixel_source(f) as source:
            with pytest.raises(OverBudget):
                b"".join(source.uncompressed(0))
            assert b"".join(source.stored_frame(0) for _ in [0])  # the frame as stored needs no decoding
    finally:
        release.set()
        holder.join()
    assert budget.BUDGET is not tight  # the process's own budget was left alone


def test_over_budget_is_503_with_retry_after() -> None:
    from hvgen_server.dicomweb.frames import problem

    answer = problem(OverBudget("busy"), "1.2.3")
    assert answer.status == 503 and answer.headers["Retry-After"]


def test_the_viewers_config_script_is_for_pages_of_this_server_only(new_server, tmp_path: Path) -> None:
    """``/ohif/app-config.js`` names the person's records: a page on another port of the
    same host (``Sec-Fetch-Site: same-site``, the session cookie sent) cannot load it."""
    dist = fake_npm(tmp_path / "tools") / "package" / "dist"
    server = new_server("--ohif", str(dist))
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    with sign_in(server.url) as browser:
        script = {"Sec-Fetch-Dest": "script", "Sec-Fetch-Mode": "no-cors"}
        own = browser.get("/ohif/app-config.js", headers={**script, "Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200 and "dataSources" in own.text, own.text
        assert own.headers["cross-origin-resource-policy"] == "same-origin"
        for site in ("same-site", "cross-site"):
            other = browser.get("/ohif/app-config.js", headers={**script, "Sec-Fetch-Site": site})
            assert other.status_code == 403 and "dataSources" not in other.text and "record" not in other.text
        bundle = browser.get("/ohif/app.bundle.js")
        assert bundle.status_code == 200 and bundle.headers["cross-origin-resource-policy"] == "same-origin"
