"""The visual report: built from a real evaluation run with successes and a provoked failure,
its links and images checked, and the page rendered in headless Chromium.

The browser test needs Chromium (`apt-get install chromium`). Where it is missing the test is
skipped with a reason that says how to run it, so `uv run pytest` passes on a machine with only
Python and uv; under CI (`CI=true`, which `.ci/run` sets and which installs Chromium) a missing
browser fails the test instead, so the check can never be skipped silently there.
"""

import functools
import html
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from experiments.experiment_runner import main as runner_main
from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.evaluation import evaluate, expert_batch_policy
from tinylidar_gym.report import build_report
from tinylidar_gym.report.build import _sample
from tinylidar_gym.report.plots import box_corners
from tinylidar_gym.report.sources import Episode
from tinylidar_gym.sim.config import EnvConfig, with_overrides

SEEDS = [2_000_000, 2_000_001, 2_000_002, 2_000_003]
CRASHING = {2_000_001}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A working directory like the pipeline's: models/m (with a training history) and an
    evaluation run of 'that model' (the expert, and a driver that steers into the wall on one
    seed) under runs/."""
    root = tmp_path_factory.mktemp("project")
    model = root / "models" / "m"
    model.mkdir(parents=True)
    atomic_write_json(model / "model.json", {"format_version": 1})
    epochs = [
        {"epoch": k, "train/epoch_loss": 1.0 / k, "val/mse": 0.1 / k, "val/nll": 2.0 / k}
        for k in (1, 2, 3)
    ]
    atomic_write_json(model / "history.json", {"best_epoch": 3, "epochs": epochs})

    env = with_overrides(EnvConfig(), lidar={"n_beams": 121})
    expert = expert_batch_policy(env)

    def policy(obs, venv):
        actions = np.array(expert(obs, venv), dtype=np.float32)
        for i, seed in enumerate(venv.episode_seeds):
            if seed in CRASHING:
                actions[i] = (1.0, 1.0)  # full left, full speed: into the wall
        return actions

    run = root / "runs" / "eval-m-test"
    evaluate(policy, SEEDS, run, env, "test", str(model), num_envs=1, progress=False)
    return root


def _links(page: Path) -> tuple[list[str], list[str]]:
    class Collect(HTMLParser):
        imgs: list[str] = []
        hrefs: list[str] = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "img":
                self.imgs.append(a["src"])
            if tag == "a":
                self.hrefs.append(a["href"])

    parser = Collect()
    parser.imgs, parser.hrefs = [], []
    parser.feed(page.read_text())
    return parser.imgs, parser.hrefs


@pytest.fixture(scope="module")
def report(project):
    run = project / "runs" / "eval-m-test"
    return run, build_report(run, progress=False)


def test_report_shows_every_episode_figure_and_recording(report):
    run, result = report
    assert result.out_dir == run / "report" and result.episodes == len(SEEDS)
    names = sorted(p.name for p in (result.out_dir / "img").iterdir())
    assert names == sorted(
        [
            "run-success_by_seed.png",
            "run-reasons.png",
            "run-failures.png",
            "run-trajectories.png",
            "model-m-learning_curves.png",
        ]
    )
    imgs, hrefs = _links(result.index)
    assert sorted(imgs) == sorted(f"img/{n}" for n in names)
    for src in imgs:
        assert (result.out_dir / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Every episode's recording is linked with a relative path that leads to it.
    mcaps = sorted(run.glob("test/seed_*/simulation.mcap"))
    assert len(mcaps) == len(SEEDS)
    linked = sorted((result.out_dir / h).resolve() for h in hrefs if h.endswith(".mcap"))
    assert linked == [p.resolve() for p in mcaps]
    assert all(not h.startswith("/") for h in hrefs + imgs)
    text = result.index.read_text()
    assert "Foxglove" in text
    # The provoked failure shows in the table and the facts.
    results = {
        int(p.parent.name[5:]): json.loads(p.read_text())
        for p in run.glob("test/seed_*/result.json")
    }
    assert [s for s, r in results.items() if not r["success"]] == sorted(CRASHING)
    assert results[2_000_001]["reason"] in text and "3/4 (75.0%)" in text
    meta = json.loads((result.out_dir / "report.json").read_text())
    assert meta["episodes"] == 4 and len(meta["images"]) == 5


def test_an_existing_report_or_foreign_folder_is_never_overwritten(report, tmp_path):
    run, result = report
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_report(run, progress=False)
    with pytest.raises(ValueError, match="would contain the run"):
        build_report(run, out_dir=run.parent, progress=False)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a report"):
        build_report(run, out_dir=foreign, overwrite=True, progress=False)
    assert (foreign / "keep.txt").read_text() == "mine"
    # The CLI replaces its own report when asked, leaving no temporary folder behind.
    out = tmp_path / "rep"
    argv = ["report", str(run), "--out", str(out), "--max-trajectories", "1", "--no-progress"]
    runner_main(argv)
    (out / "stale.txt").write_text("from the old report")
    runner_main([*argv, "--overwrite"])
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    assert len(list((out / "img").glob("*.png"))) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "rep"]


def test_a_pipeline_folder_gets_a_section_per_run_and_model(project, tmp_path):
    result = build_report(project, out_dir=tmp_path / "r", progress=False)
    text = result.index.read_text()
    assert "Episodes: eval-m-test" in text and "Training: m" in text
    model_only = build_report(project / "models" / "m", out_dir=tmp_path / "m", progress=False)
    assert [p.name for p in model_only.images] == ["model-run-learning_curves.png"]
    with pytest.raises(ValueError, match="no episodes"):
        build_report(tmp_path / "r" / "img", out_dir=tmp_path / "x", progress=False)


def test_trajectory_sample_takes_failures_first_then_spreads_successes():
    def ep(seed, ok):
        return Episode(Path(f"seed_{seed}"), {"seed": seed, "success": ok, "reason": "x"})

    episodes = [ep(s, s not in (3, 7)) for s in range(10)]
    assert [e.seed for e in _sample(episodes, 5)] == [3, 7, 0, 2, 6]
    assert [e.seed for e in _sample(episodes, 1)] == [3]
    assert _sample(episodes, 0) == []


def test_box_corners_follow_yaw():
    corners = box_corners(np.array([[1.0, 2.0, np.pi / 2, 2.0, 1.0]]))[0]
    # Length along +y after a quarter turn: corners at x = 1 +- 0.5, y = 2 +- 1.
    assert np.allclose(
        sorted(map(tuple, corners.round(9))), [(0.5, 1.0), (0.5, 3.0), (1.5, 1.0), (1.5, 3.0)]
    )


_CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({src: i.getAttribute("src"),
    loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth}));
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify(images);
  document.body.appendChild(out);
});
</script>"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _chromium(environ: Mapping[str, str] = os.environ, which=shutil.which) -> str:
    """Path of the headless browser; skips without one, but fails under CI (``CI`` set)."""
    found = which("chromium") or which("chromium-browser")
    if found:
        return found
    how = (
        "install it (Debian/Ubuntu: `sudo apt-get install chromium`) and run "
        "`uv run pytest tests/test_report.py`"
    )
    if environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"chromium is not installed, and CI requires the browser test: {how}.")
    pytest.skip(f"chromium is not installed; to render the report in a browser, {how}.")


def test_without_chromium_the_browser_test_skips_saying_how_to_run_it_except_under_ci():
    def none(name):
        return None

    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _chromium({}, none)
    with pytest.raises(pytest.skip.Exception):
        _chromium({"CI": "false"}, none)
    with pytest.raises(pytest.fail.Exception, match="CI requires"):
        _chromium({"CI": "true"}, none)
    assert _chromium({"CI": "true"}, {"chromium-browser": "/usr/bin/cb"}.get) == "/usr/bin/cb"


def test_every_image_loads_in_headless_chromium(report, project, tmp_path):
    browser = _chromium()
    run, result = report
    # A copy of the page with a script that writes which images loaded into the DOM.
    page = result.index.read_text().replace("</body>", _CHECK_SCRIPT + "</body>")
    (result.out_dir / "check.html").write_text(page)
    handler = functools.partial(_QuietHandler, directory=str(project))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rel = result.out_dir.relative_to(project).as_posix()
        url = f"http://127.0.0.1:{server.server_address[1]}/{rel}/check.html"
        cmd = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        # The MCAP links work when the folder is served.
        _, hrefs = _links(result.index)
        for href in (h for h in hrefs if h.endswith(".mcap")):
            with urllib.request.urlopen(urllib.parse.urljoin(url, href), timeout=10) as resp:
                assert resp.status == 200 and resp.read(5) == b"\x89MCAP"
    finally:
        server.shutdown()
        server.server_close()
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert found, f"the check script did not run; chromium printed:\n{dom[-2000:]}"
    images = json.loads(html.unescape(found.group(1)))
    assert len(images) == 5
    assert all(i["loaded"] and i["width"] > 300 for i in images), images
