"""Drive headless Chromium over the DevTools pipe (no websocket/playwright needed) through the
Foxglove views that check.sh screenshots.

    python3 shot.py URL OUT_DIR [--timeout 90]

Views, as a user would click through them (OUT_DIR/NN_*.png): 01 topic list, 02 the 3D
panel's settings as opened, 03 with /scan and /scene switched visible (Foxglove Studio 1.x hides
3D topics until switched on) at the first message, 04 at the end, 05 in the middle, 06 the middle
top-down (2D view), 06b the same zoomed out (the course), 07 the Problems tab. Also
OUT_DIR/page_text.txt (visible text of the views) and OUT_DIR/console.log (browser console).
Exit status 1 when a view was not reached, a topic or schema is missing, the Problems tab lists
anything or the 3D settings tree shows an error icon (how a missing transform shows up). The
PNGs still need a look: scan points, car frames, walls, obstacles.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 1600, 1000
TOPICS = ["/scan", "/tf", "/tf_static", "/scene", "/control/command", "/env/step"]
SCHEMAS = [
    "foxglove.LaserScan",
    "foxglove.FrameTransform",
    "foxglove.SceneUpdate",
    "tinylidar.ControlCommand",
    "tinylidar.EnvStep",
]


class Browser:
    def __init__(self, chromium: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="foxcheck-chrome-")
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-unsafe-swiftshader",
            f"--user-data-dir={self.profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "--remote-debugging-pipe",
            "about:blank",
        ]

        def fds() -> None:  # the pipe protocol: chromium reads fd 3, writes fd 4
            high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            args,
            preexec_fn=fds,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf, self._id, self.events = b"", 0, []
        self.session: str | None = None

    def _recv(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, browser_level: bool = False, **params: object) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params}
        if self.session and not browser_level:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._recv()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def attach_page(self) -> None:
        targets = self.call("Target.getTargets", browser_level=True)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call(
            "Target.attachToTarget", browser_level=True, targetId=page["targetId"], flatten=True
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )

    def js(self, expr: str) -> object:
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"js failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(
            base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        )

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def wait_text(self, needles: list[str], timeout: float) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            text = self.js("document.body ? document.body.innerText : ''") or ""
            if all(n in text for n in needles):
                return True
            time.sleep(0.5)
        return False

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# Locate things on the page by what a user sees (the bundle has few test ids).
FIND_BY_TEXT = """(text) => {
  const els = [...document.querySelectorAll('button, [role=tab], a, span, p, div')]
    .filter(e => e.innerText && e.innerText.trim() === text && e.offsetParent !== null);
  if (!els.length) return null;
  const r = els[els.length - 1].getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}"""
# The 3D panel's settings (gear) button: first icon button in the top-right of the 3D panel bar.
FIND_3D_GEAR = """() => {
  const bar = [...document.querySelectorAll('*')].find(e => e.childElementCount === 0 &&
     e.innerText && e.innerText.trim() === '3D' && e.getBoundingClientRect().y < 40);
  if (!bar) return null;
  const y0 = bar.getBoundingClientRect().y;
  const btns = [...document.querySelectorAll('button')].filter(b => {
    const r = b.getBoundingClientRect();
    return Math.abs(r.y - y0) < 20 && r.x > bar.getBoundingClientRect().x && r.width > 0; });
  if (!btns.length) return null;
  const r = btns[0].getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}"""
# The playback timeline: a wide element near the bottom edge (the scrubber track).
FIND_SCRUBBER = """() => {
  let best = null;
  for (const e of document.querySelectorAll('div')) {
    const r = e.getBoundingClientRect();
    if (r.width > innerWidth * 0.8 && r.height > 4 && r.height < 40 && r.y > innerHeight - 200
        && r.y < innerHeight - 40 && (!best || r.height < best.height)) best = r;
  }
  return best && [best.x, best.y + best.height / 2, best.width];
}"""


# The visibility checkbox on a row of the 3D panel's settings tree (topics are hidden by default).
FIND_ROW_TOGGLE = """(label) => {
  const t = [...document.querySelectorAll('*')].find(e => e.childElementCount === 0 &&
     e.textContent.trim() === label && e.getBoundingClientRect().x < 500);
  if (!t) return null;
  const tr = t.getBoundingClientRect(), y = tr.y + tr.height / 2;
  const box = [...document.querySelectorAll('input[type=checkbox]')].find(b => {
     const r = b.getBoundingClientRect(); return Math.abs(r.y + r.height / 2 - y) < 12; });
  if (!box) return null;
  const r = box.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2, box.checked];
}"""
# The input of a labelled field in the settings tree.
FIND_FIELD_INPUT = """(label) => {
  const t = [...document.querySelectorAll('*')].find(e => e.childElementCount === 0 &&
     e.textContent.trim() === label && e.getBoundingClientRect().x < 500);
  if (!t) return null;
  const tr = t.getBoundingClientRect(), y = tr.y + tr.height / 2;
  const inp = [...document.querySelectorAll('input')].find(b => {
     const r = b.getBoundingClientRect(); return Math.abs(r.y + r.height / 2 - y) < 14; });
  if (!inp) return null;
  const r = inp.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}"""
POINT_SIZE = 6
# Error/warning icons in the settings tree, with the row label they sit on (a topic whose frame
# has no transform to the display frame gets one; the Problems tab does not list it).
FIND_TREE_ERRORS = """() => [...document.querySelectorAll('svg[data-testid]')]
  .filter(s => /Error|Warning/.test(s.dataset.testid) && s.getBoundingClientRect().x < 500
               && s.getBoundingClientRect().width > 0)
  .map(s => { let e = s; for (let i = 0; i < 6 && e; i++) { e = e.parentElement;
      if (e && e.innerText && e.innerText.trim()) break; }
    const r = s.getBoundingClientRect();
    return [s.dataset.testid + ' on ' + (e ? e.innerText.trim().split('\\n')[0] : '?'),
            r.x + r.width / 2, r.y + r.height / 2]; })"""


class Session:
    """One look at a recording: the browser, where screenshots go, and what was found."""

    def __init__(self, browser: Browser, out: Path) -> None:
        self.b, self.out = browser, out
        self.problems: list[str] = []
        self.texts: list[str] = []

    def shot(self, name: str, text: bool = True) -> None:
        time.sleep(3)  # let the 3D panel draw
        self.b.screenshot(self.out / f"{name}.png")
        if text:
            self.texts.append(f"== {name} ==\n" + self.b.js("document.body.innerText"))

    def click_js(self, finder: str, *arg: str) -> list | None:
        pos = self.b.js(f"({finder})({', '.join(json.dumps(a) for a in arg)})")
        if pos:
            self.b.click(pos[0], pos[1])
        return pos

    def open_recording(self, url: str, timeout: float) -> None:
        """Load the page; the data source sidebar lists the topics with their schemas."""
        self.b.attach_page()
        self.b.call("Page.navigate", url=url)
        if not self.b.wait_text(TOPICS + SCHEMAS, timeout):
            self.problems.append("topic list never showed all expected topics/schemas")
        self.shot("01_topics")  # data source sidebar: topic list with schemas; 3D panel as opened

    def show_3d_topics(self) -> None:
        """Switch on /scan and /scene in the 3D panel, as a user would, with bigger points."""
        b = self.b
        if not self.click_js(FIND_3D_GEAR):
            self.problems.append("3D panel settings button not found")
        self.shot("02_3d_settings_default")
        for topic in ("/scan", "/scene"):
            pos = b.js(f"({FIND_ROW_TOGGLE})({json.dumps(topic)})")
            if pos is None:
                self.problems.append(f"{topic} not in the 3D panel's topic settings")
            elif not pos[2]:  # hidden by default in studio 1.x: switch it on, as a user would
                b.click(pos[0], pos[1])
        self.click_js(FIND_BY_TEXT, "Transforms (3)")  # expand the frame list, if it is there
        # Bigger scan points (default 2 px is hard to see in a screenshot): /scan > Point size.
        if self.click_js(FIND_BY_TEXT, "/scan"):
            time.sleep(1)
            if self.click_js(FIND_FIELD_INPUT, "Point size"):
                b.call(
                    "Input.dispatchKeyEvent",
                    type="keyDown",
                    key="a",
                    code="KeyA",
                    modifiers=2,
                    windowsVirtualKeyCode=65,
                )  # ctrl+a
                b.call("Input.dispatchKeyEvent", type="keyUp", key="a", code="KeyA", modifiers=2)
                b.call("Input.insertText", text=str(POINT_SIZE))
        self.shot("03_visible_start")

    def scrub_and_check_tree(self) -> None:
        """The end and the middle of the recording, then the settings tree's error icons."""
        b = self.b
        scrub = b.js(f"({FIND_SCRUBBER})()")
        if not scrub:
            self.problems.append("playback scrubber not found")
        else:
            x0, y, w = scrub
            b.click(x0 + w * 0.999, y)
            self.shot("04_end", text=False)
            b.click(x0 + w * 0.5, y)
            self.shot("05_mid")
        for label, x, y in b.js(f"({FIND_TREE_ERRORS})()") or []:
            b.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)  # show its tooltip
            time.sleep(1)
            tip = b.js(
                "[...document.querySelectorAll('[role=tooltip]')].map(t => t.innerText).join(' | ')"
            )
            self.problems.append(f"3D settings tree: {label}: {tip or '(no tooltip text)'}")
        if any(p.startswith("3D settings tree") for p in self.problems):
            self.shot("05b_error_tooltip", text=False)

    def top_down(self) -> None:
        """2D (top-down) view of the same moment, then zoomed out to see the course."""
        b = self.b
        if not self.click_js(FIND_BY_TEXT, "3D"):
            return
        canvas = b.js(
            "(() => { const c = [...document.querySelectorAll('canvas')]"
            ".sort((a, b) => b.width * b.height - a.width * a.height)[0];"
            " const r = c.getBoundingClientRect(); return [r.x + r.width / 2,"
            " r.y + r.height / 2]; })()"
        )
        self.shot("06_mid_topdown", text=False)
        for _ in range(22):
            b.call(
                "Input.dispatchMouseEvent",
                type="mouseWheel",
                x=canvas[0],
                y=canvas[1],
                deltaX=0,
                deltaY=1000,
            )
            time.sleep(0.05)
        self.shot("06b_mid_topdown_course", text=False)

    def problems_tab(self) -> None:
        """The Problems tab of the data source sidebar (first icon of the left bar)."""
        self.b.click(22, 25)
        time.sleep(1)
        if not self.click_js(FIND_BY_TEXT, "Problems"):
            self.problems.append("Problems tab not found")
        self.shot("07_problems")
        if "No problems found" not in self.texts[-1]:
            self.problems.append("the Problems tab lists problems (see 07_problems.png)")

    def write_logs(self) -> None:
        """The page text of every screenshot and the browser's console, beside them."""
        (self.out / "page_text.txt").write_text("\n\n".join(self.texts))
        with (self.out / "console.log").open("w") as f:
            for ev in self.b.events:
                m, p = ev.get("method", ""), ev.get("params", {})
                if m == "Runtime.consoleAPICalled":
                    vals = [a.get("value", a.get("description", "")) for a in p.get("args", [])]
                    f.write(f"[{p.get('type')}] {' '.join(map(str, vals))}\n")
                elif m == "Runtime.exceptionThrown":
                    d = p.get("exceptionDetails", {})
                    f.write(
                        f"[exception] {d.get('text')} "
                        f"{d.get('exception', {}).get('description', '')}\n"
                    )
                elif m == "Log.entryAdded":
                    e = p.get("entry", {})
                    f.write(f"[log:{e.get('level')}] {e.get('text')} {e.get('url', '')}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    args = parser.parse_args()
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    session = Session(Browser(args.chromium), out)
    try:
        session.open_recording(args.url, args.timeout)
        session.show_3d_topics()
        session.scrub_and_check_tree()
        session.top_down()
        session.problems_tab()
    finally:
        session.write_logs()
        session.b.close()
    for problem in session.problems:
        print(f"PROBLEM: {problem}")
    print(
        ("OK" if not session.problems else "PROBLEMS FOUND") + f": screenshots and page text in "
        f"{out} (look at the PNGs: scan points, car frames, walls and obstacles)"
    )
    return 0 if not session.problems else 1


if __name__ == "__main__":
    sys.exit(main())
