"""What ``tagstream demo`` shows of rollouts and review: a candidate rolled out while traffic flows, and the queue.

``demo_repository`` writes the repository the demo's Triton host serves: the committed one with a candidate,
version 2, beside version 1 (``copy``: an unchanged copy that passes every guardrail and goes to full;
``drill``: the fabric head scrambled, which the disagreement guardrail of fabric rolls back). ``DemoRollout``
starts the rollout with the quick plan once traffic has flowed for a while, through the operator API as a release
owner would, and renders the status panel of ``tagstream rollout status``. ``review_line`` says how many items
wait in the review console and how to sign in.
"""

from __future__ import annotations

import logging
import shutil
import threading
from enum import StrEnum
from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from model.drill import copy_candidate, drill_candidate
from model.tritonconfig import DEFAULT_REPOSITORY
from rollout.cli import render
from rollout.client import ApiError
from rollout.plan import plan_path
from tools.monitoring.live import scrape
from tools.stack import StackSettings
from tools.stack.clients import rollout_client
from tools.stack.settings import LOOPBACK

log = logging.getLogger(__name__)

CANDIDATE_VERSION = 2
DRILL_ATTRIBUTE = "fabric"
PLAN = "quick"


class DemoCandidate(StrEnum):
    COPY = "copy"
    DRILL = "drill"
    NONE = "none"


def demo_repository(state_dir: Path, candidate: DemoCandidate) -> Path:
    """A fresh copy of the committed repository in ``state_dir``, with the demo's candidate as version 2."""
    folder = state_dir / "demo-repository"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(DEFAULT_REPOSITORY, folder)
    if candidate is DemoCandidate.COPY:
        copy_candidate(folder, version=CANDIDATE_VERSION, source=1)
    elif candidate is DemoCandidate.DRILL:
        drill_candidate(folder, version=CANDIDATE_VERSION, source=1, attribute=DRILL_ATTRIBUTE)
    return folder


class DemoRollout:
    """Start the rollout of version 2 after ``after_s`` seconds (unless stopped first); render its status."""

    def __init__(self, settings: StackSettings, *, after_s: float, actor: str = "tagstream demo") -> None:
        self.client = rollout_client(settings)
        self.after_s, self.actor = after_s, actor
        self.note = (f"version {CANDIDATE_VERSION} will be rolled out with the {PLAN} plan after {after_s:.0f} s of "
                     "traffic")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-rollout", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        if self._stop.wait(self.after_s):
            return
        body = {"candidate": str(CANDIDATE_VERSION), "plan": plan_path(PLAN).read_text(), "plan_name": PLAN,
                "actor": self.actor}
        try:
            self.client.post("/start", body)
            self.note = "started: `tagstream rollout status --watch` and `tagstream rollout history` show it too"
        except ApiError as e:
            self.note = f"the rollout did not start: {e}"
            log.warning("%s", self.note)

    def panel(self) -> RenderableType:
        title = Text("rollout (tagstream rollout status)", style="bold underline")
        try:
            view = self.client.get()
        except ApiError as e:
            return Group(title, Text(f"{self.note}\ncontroller: {e}"))
        return Group(title, render(view), Text(self.note, style="dim"))


def review_line(settings: StackSettings, *, user: str, password: str) -> Text:
    """Items waiting in the review console, and how to sign in."""
    url = f"http://{LOOPBACK}:{settings.review_port}"
    depth = scrape(url).get("tagstream_review_queue_depth")
    waiting = "not answering yet" if not depth else f"{depth[0][1]:,.0f} items waiting"
    return Text(f"review console {url}: {waiting} (sign in as {user} / {password}; each decision becomes a label)",
                style="bold")
